"""A fake Anthropic Messages API (`POST /v1/messages`) speaking the documented wire format, scriptable.

``FakeAnthropic().app`` serves ``/v1/messages``; point the gateway's provider (``type = "anthropic"``) at
``server.url``. It checks what the real API checks first (``x-api-key``, ``anthropic-version``,
``max_tokens``, alternating roles) and answers in Anthropic's shapes: a ``message`` object, or the stream
``message_start``, ``content_block_start``, ``ping``, ``content_block_delta`` (``text_delta``,
``input_json_delta``), ``content_block_stop``, ``message_delta``, ``message_stop``.

Behaviours queued with ``fake.enqueue(...)`` are consumed one per request:
``Fail(status, error_type)`` answers with an Anthropic error body (``Retry-After`` optional);
``StreamError(after, error_type)`` sends an ``error`` event after ``after`` text deltas;
``Cut(after)`` drops the connection after ``after`` text deltas.

Tools: when the request has tools and its last user turn holds no ``tool_result``, the fake calls the tool
that ``tool_choice`` names (or the first; every tool, up to ``parallel``, when ``parallel > 1``) with
arguments filled from the input schema; otherwise it answers with ``reply``. A trailing assistant turn is
continued (prefill): only the rest of ``reply`` is sent when ``reply`` starts with it, unless
``fake.reject_prefill`` is set: then it is a 400, as Claude 4.6 and later answer. It also refuses what the
real API refuses and the SDK's types cannot say: tool ids outside ``^[a-zA-Z0-9_-]+$``, empty content or
text blocks, a temperature above 1, and ``disable_parallel_tool_use`` on the ``none`` tool choice.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections import deque
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tests.fakes.openai_compat import AbortConnection, Recorded, _install_log_filter, split_words

DEFAULT_REPLY = "Hello from the fake Anthropic."
VERSION = "2023-06-01"
PREFILL_REFUSED = ("This model does not support assistant message prefill. "
                   "The conversation must end with a user message.")
TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")


@dataclass(frozen=True)
class Fail:
    status: int = 500
    error_type: str = "api_error"
    message: str = "Internal server error"
    retry_after: int | None = None


@dataclass(frozen=True)
class StreamError:
    after: int = 0
    error_type: str = "overloaded_error"
    message: str = "Overloaded"


@dataclass(frozen=True)
class Cut:
    after: int = 0


Behaviour = Fail | StreamError | Cut


def error_body(error_type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}, "request_id": "req_fake"}


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()


def _sample(schema: Any) -> Any:
    """A value matching a (simple) JSON schema."""
    if not isinstance(schema, dict):
        return "x"
    kind = schema.get("type")
    if kind == "object":
        return {k: _sample(v) for k, v in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [_sample(schema.get("items"))]
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return True
    return "Paris" if schema.get("enum") is None else schema["enum"][0]


class FakeAnthropic:
    def __init__(self, *, reply: str = DEFAULT_REPLY, api_key: str | None = None) -> None:
        self.reply = reply
        self.api_key = api_key  # when set, other keys (x-api-key or bearer) get a 401 authentication_error
        self.parallel = 1  # how many tools one answer calls at most
        self.cache_read_tokens = 0
        self.cache_creation_tokens = 0
        self.reject_prefill = False  # True: a trailing assistant message is a 400, as on Claude 4.6 and later
        self.requests: list[Recorded] = []
        self._queue: deque[Behaviour] = deque()
        self._ids = itertools.count(1)
        _install_log_filter()
        self.app = Starlette(routes=[Route("/v1/messages", self._messages, methods=["POST"])])

    def enqueue(self, *behaviours: Behaviour) -> None:
        self._queue.extend(behaviours)

    @property
    def last(self) -> Recorded:
        assert self.requests, "the fake Anthropic has received no request"
        return self.requests[-1]

    # ----------------------------------------------------------------- the endpoint

    async def _messages(self, request: Request) -> Response | _Stream:
        raw = await request.body()
        body = json.loads(raw) if raw else None
        behaviour = self._queue.popleft() if self._queue else None
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(Recorded("POST", request.url.path, headers, body, raw, behaviour=behaviour))
        if isinstance(behaviour, Fail):
            extra = {"retry-after": str(behaviour.retry_after)} if behaviour.retry_after is not None else {}
            return JSONResponse(error_body(behaviour.error_type, behaviour.message), behaviour.status, extra)
        if problem := self._check(headers, body):
            status, kind, message = problem
            return JSONResponse(error_body(kind, message), status)
        assert isinstance(body, dict)
        message = self._answer(body)
        if body.get("stream"):
            return _Stream(_events(message), behaviour)
        return JSONResponse(message, headers={"request-id": "req_fake"})

    def _check(self, headers: dict[str, str], body: Any) -> tuple[int, str, str] | None:
        bearer = headers.get("authorization", "").removeprefix("Bearer ")  # newer SDKs send the key this way
        if self.api_key is not None and self.api_key not in (headers.get("x-api-key"), bearer):
            return 401, "authentication_error", "invalid x-api-key"
        if "anthropic-version" not in headers:
            return 400, "invalid_request_error", "anthropic-version: header is required"
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return 400, "invalid_request_error", "model: Field required"
        if not isinstance(body.get("max_tokens"), int):
            return 400, "invalid_request_error", "max_tokens: Field required"
        roles = [m.get("role") for m in body.get("messages") or ()]
        if not roles or any(a == b for a, b in itertools.pairwise(roles)) or set(roles) - {"user", "assistant"}:
            return 400, "invalid_request_error", "messages: roles must alternate between user and assistant"
        last = body["messages"][-1]
        if last["role"] == "assistant" and _text(last["content"]) != _text(last["content"]).rstrip():
            return 400, "invalid_request_error", "final assistant content cannot end with trailing whitespace"
        if last["role"] == "assistant" and self.reject_prefill:
            return 400, "invalid_request_error", PREFILL_REFUSED
        return _content_problem(body)

    def _answer(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = body["messages"]
        content: list[dict[str, Any]] = []
        stop_reason, stop_sequence = "end_turn", None
        tools = self._tools_to_call(body)
        if tools:
            content = [{"type": "tool_use", "id": f"toolu_{next(self._ids):04d}", "name": t["name"],
                        "input": _sample(t.get("input_schema"))} for t in tools]
            stop_reason = "tool_use"
        else:
            text = self.reply
            last = messages[-1]
            if last["role"] == "assistant":  # prefill: continue it
                prefix = _text(last["content"])
                text = text[len(prefix):] if text.startswith(prefix) else text
            for sequence in body.get("stop_sequences") or ():
                if sequence in text:
                    text, stop_reason, stop_sequence = text[: text.index(sequence)], "stop_sequence", sequence
            words = split_words(text)
            if len(words) > body["max_tokens"]:
                text, stop_reason = "".join(words[: body["max_tokens"]]), "max_tokens"
            content = [{"type": "text", "text": text}]
        prompt = sum(len(_text(m["content"]).split()) for m in messages) + len(str(body.get("system", "")).split())
        output = sum(len(b.get("text", "").split()) or 1 for b in content)
        return {
            "id": f"msg_fake{next(self._ids):04d}", "type": "message", "role": "assistant", "model": body["model"],
            "content": content, "stop_reason": stop_reason, "stop_sequence": stop_sequence,
            "usage": {"input_tokens": prompt, "output_tokens": output,
                      "cache_creation_input_tokens": self.cache_creation_tokens,
                      "cache_read_input_tokens": self.cache_read_tokens},
        }

    def _tools_to_call(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        tools = body.get("tools") or []
        choice = body.get("tool_choice") or {"type": "auto"}
        last = body["messages"][-1]
        answered = isinstance(last["content"], list) and any(b.get("type") == "tool_result" for b in last["content"])
        if not tools or choice["type"] == "none" or last["role"] != "user" or answered:
            return []
        if choice["type"] == "tool":
            return [t for t in tools if t["name"] == choice["name"]][:1]
        return tools[: 1 if choice.get("disable_parallel_tool_use") else self.parallel]


def _content_problem(body: dict[str, Any]) -> tuple[int, str, str] | None:
    """What the real API refuses beyond the shapes the SDK's types describe."""
    if isinstance(body.get("temperature"), int | float) and not 0 <= body["temperature"] <= 1:
        return 400, "invalid_request_error", "temperature: range: 0..1"
    if (body.get("tool_choice") or {}).get("type") == "none" and "disable_parallel_tool_use" in body["tool_choice"]:
        return 400, "invalid_request_error", "tool_choice.none.disable_parallel_tool_use: Extra inputs are not " \
                                             "permitted"
    for i, message in enumerate(body["messages"]):
        content = message.get("content")
        if not content:
            return 400, "invalid_request_error", f"messages.{i}: all messages must have non-empty content"
        for block in content if isinstance(content, list) else ():
            if block.get("type") == "text" and not block.get("text"):
                return 400, "invalid_request_error", f"messages.{i}: text content blocks must be non-empty"
            for key in ("id", "tool_use_id"):
                if key in block and not TOOL_ID.match(str(block[key])):
                    return 400, "invalid_request_error", f"messages.{i}.content.{key}: String should match " \
                                                         "pattern '^[a-zA-Z0-9_-]+$'"
    return None


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return " ".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")


def _events(message: dict[str, Any]) -> list[tuple[bool, bytes]]:
    """The documented event sequence for `message`; the flag marks text deltas (where behaviours apply)."""
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": {**message["usage"], "output_tokens": 1}}
    events = [(False, _event("message_start", {"message": start}))]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            events.append((False, _event("content_block_start", {"index": index,
                                                                 "content_block": {"type": "text", "text": ""}})))
            if index == 0:
                events.append((False, _event("ping", {})))
            for piece in split_words(block["text"]):
                delta = {"type": "text_delta", "text": piece}
                events.append((True, _event("content_block_delta", {"index": index, "delta": delta})))
        else:
            opened = {**block, "input": {}}
            events.append((False, _event("content_block_start", {"index": index, "content_block": opened})))
            arguments = json.dumps(block["input"])
            for i in range(0, len(arguments), 7):
                delta = {"type": "input_json_delta", "partial_json": arguments[i : i + 7]}
                events.append((False, _event("content_block_delta", {"index": index, "delta": delta})))
        events.append((False, _event("content_block_stop", {"index": index})))
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]}
    events.append((False, _event("message_delta", {"delta": delta,
                                                   "usage": {"output_tokens": message["usage"]["output_tokens"]}})))
    events.append((False, _event("message_stop", {})))
    return events


class _Stream:
    def __init__(self, events: list[tuple[bool, bytes]], behaviour: Behaviour | None) -> None:
        self.events, self.behaviour = events, behaviour

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"request-id", b"req_fake")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        texts = 0
        behaviour = self.behaviour
        for is_text, data in self.events:
            if is_text and isinstance(behaviour, StreamError | Cut) and texts == behaviour.after:
                if isinstance(behaviour, Cut):
                    raise AbortConnection(f"Cut({behaviour.after})")
                error = error_body(behaviour.error_type, behaviour.message)
                await send({"type": "http.response.body", "body": _event("error", {"error": error["error"]}),
                            "more_body": False})
                return
            texts += is_text
            await send({"type": "http.response.body", "body": data, "more_body": True})
            await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
