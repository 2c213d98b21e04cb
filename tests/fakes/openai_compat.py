"""A fake OpenAI-compatible upstream that speaks the real wire format, with scriptable failures.

``FakeOpenAI().app`` is a Starlette app serving ``/v1/chat/completions``, ``/v1/completions``,
``/v1/embeddings`` and ``/v1/models``. Serve it with ``tests.support.run_server`` and point a client
(the openai SDK, httpx, or the gateway under test) at ``server.url + "/v1"``.

Behaviours queued with ``fake.enqueue(...)`` are consumed one per POST request, in order; with the queue
empty every request is answered normally. ``GET`` requests (``/v1/models``) never consume a behaviour,
so background health probes cannot eat a scripted failure. Stream-only behaviours (``Malformed``, ``NoDone``,
``SlowTokens``, ``Silent``) leave a non-stream request answered normally.

``fake.always`` is a behaviour applied to every POST request while the queue is empty (``Fail(503)`` for an
upstream that is down, ``Stall(0.05)`` for a slow one); ``None`` (default) answers normally.

Assistant prefill: when the last message of a chat request has role ``assistant``, the fake continues that
text: it answers with only what follows it in its reply, when its reply starts with it (otherwise it answers
with its whole reply). With ``fake.reject_prefill = True`` it answers such a request with a 400 instead, like
a server that does not accept a trailing assistant message.

``fake.disconnects`` counts responses the client abandoned before they finished: streams cut short by the
client, and ``Stall``-ed requests whose client gave up during the stall.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import logging
import re
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

DEFAULT_REPLY = "Hello from the fake upstream."
DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-3.5-turbo-instruct", "text-embedding-3-small")
DEFAULT_EMBEDDING_DIMENSIONS = 8
SYSTEM_FINGERPRINT = "fp_fake"
MALFORMED_EVENT = b"data: {not json\n\n"
DONE_EVENT = b"data: [DONE]\n\n"


# --------------------------------------------------------------------------- behaviours


@dataclass(frozen=True)
class Fail:
    """Answer with ``status`` and an OpenAI-shaped error body (or ``body``: a dict as JSON, a str as text/plain)."""

    status: int = 500
    body: dict[str, Any] | str | None = None
    retry_after: str | int | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Stall:
    """Send nothing for ``seconds``, then answer normally if the client is still there."""

    seconds: float


@dataclass(frozen=True)
class CutAfter:
    """Stream: send ``chunks`` content events, then abort the connection. Non-stream: headers + half the body, abort."""

    chunks: int = 0


@dataclass(frozen=True)
class Malformed:
    """Stream: send ``data: {not json`` (``count`` times) after ``after`` content events, then carry on normally."""

    after: int = 0
    count: int = 1


@dataclass(frozen=True)
class NoDone:
    """Stream: finish normally (finish_reason chunk, usage if asked) but close without ``data: [DONE]``."""


@dataclass(frozen=True)
class SlowTokens:
    """Stream: wait ``delay_s`` before every event after the first."""

    delay_s: float


@dataclass(frozen=True)
class Silent:
    """Stream: go silent for ``seconds`` after ``after`` content events, then carry on normally."""

    after: int = 0
    seconds: float = 5.0


@dataclass(frozen=True)
class Reply:
    """Answer normally, with this text (and no tool call), for this one request."""

    text: str


Behaviour = Fail | Stall | CutAfter | Malformed | NoDone | SlowTokens | Silent | Reply


@dataclass
class Recorded:
    """One request as the fake upstream received it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names; a repeated header keeps its last value
    json: Any  # the parsed body, or None when empty or not JSON
    body: bytes
    query: str = ""
    behaviour: Behaviour | None = None  # the scripted behaviour this request consumed (or `always`), if any
    received_at: float = field(default_factory=time.monotonic)  # when the fake read the request


# --------------------------------------------------------------------------- wire helpers


class AbortConnection(Exception):
    """Raised inside the ASGI app so that uvicorn drops the connection mid-response."""


class _HideAborts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, AbortConnection)


def _install_log_filter() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideAborts) for f in logger.filters):
        logger.addFilter(_HideAborts())


_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Invalid request.", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to access this resource.", "permission_error", None),
    404: ("The model does not exist or you do not have access to it.", "invalid_request_error", "model_not_found"),
    429: ("Rate limit reached. Please try again later.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request.", "server_error", None),
    502: ("Bad gateway.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}


def error_body(status: int, message: str | None = None, *, param: str | None = None) -> dict[str, Any]:
    """An OpenAI-shaped error body for ``status``."""
    default_message, kind, code = _ERRORS.get(
        status, (f"Upstream error {status}.", "invalid_request_error" if status < 500 else "server_error", None)
    )
    return {"error": {"message": message or default_message, "type": kind, "param": param, "code": code}}


def _error(status: int, message: str, *, param: str | None = None) -> Response:
    return JSONResponse(error_body(status, message, param=param), status_code=status)


def count_tokens(text: str) -> int:
    """The fake's tokenizer: whitespace-separated words."""
    return len(text.split())


def split_words(text: str) -> list[str]:
    """Split into stream pieces that keep their leading whitespace: ``"a b"`` -> ``["a", " b"]``."""
    pieces = re.findall(r"\s*\S+(?:\s+$)?", text)
    return pieces if pieces or not text else [text]


def _split_arguments(arguments: str) -> list[str]:
    size = max(1, min(4, len(arguments) // 2))
    return [arguments[i : i + size] for i in range(0, len(arguments), size)] or [""]


def _prefill(body: dict[str, Any]) -> str | None:
    """The text of a trailing assistant message (a prefill to continue), if the request ends with one."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return None
    if messages[-1].get("role") != "assistant" or messages[-1].get("tool_calls"):
        return None
    return _content_text(messages[-1].get("content"))


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def embedding_vector(text: str, dimensions: int) -> list[float]:
    """Deterministic float32-exact values in [-1, 1) derived from ``text``."""
    values = []
    for i in range(dimensions):
        raw = int.from_bytes(hashlib.sha256(f"{text}|{i}".encode()).digest()[:4], "little")
        values.append(struct.unpack("<f", struct.pack("<f", raw / 2**31 - 1.0))[0])
    return values


def _sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _cancel(task: asyncio.Future[Any]) -> None:
    if task.done():
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # we are being cancelled ourselves (e.g. server shutdown): don't swallow it
    except Exception:
        pass


class _EventStream:
    """An ASGI response sending SSE events, applying a streaming behaviour and noticing a departing client."""

    def __init__(
        self,
        fake: FakeOpenAI,
        *,
        head: list[bytes],
        body: list[bytes],
        tail: list[bytes],
        behaviour: Behaviour | None,
        headers: dict[str, str],
    ) -> None:
        self.fake, self.head, self.body, self.tail, self.behaviour = fake, head, body, tail, behaviour
        self.headers = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", **headers}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        streaming = asyncio.ensure_future(self._stream(send))
        watcher = asyncio.ensure_future(_wait_disconnect(receive))
        try:
            await asyncio.wait({streaming, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if streaming.done():
                try:
                    streaming.result()
                except OSError:  # the client left and the server noticed on send
                    self.fake._note_disconnect()
                return
            self.fake._note_disconnect()  # the client left before the stream finished
        finally:
            await _cancel(streaming)
            await _cancel(watcher)

    async def _stream(self, send: Send) -> None:
        behaviour = self.behaviour
        delay = behaviour.delay_s if isinstance(behaviour, SlowTokens) else 0.0
        sent = 0

        async def emit(data: bytes) -> None:
            nonlocal sent
            if delay and sent:
                await asyncio.sleep(delay)
            sent += 1
            await send({"type": "http.response.body", "body": data, "more_body": True})

        raw_headers = [(k.encode(), v.encode()) for k, v in self.headers.items()]
        await send({"type": "http.response.start", "status": 200, "headers": raw_headers})
        for event in self.head:
            await emit(event)
        for k in range(len(self.body) + 1):
            if isinstance(behaviour, CutAfter) and k == min(behaviour.chunks, len(self.body)):
                raise AbortConnection(f"CutAfter({behaviour.chunks})")
            if isinstance(behaviour, Malformed) and k == min(behaviour.after, len(self.body)):
                for _ in range(behaviour.count):
                    await emit(MALFORMED_EVENT)
            if isinstance(behaviour, Silent) and k == min(behaviour.after, len(self.body)):
                await asyncio.sleep(behaviour.seconds)
            if k < len(self.body):
                await emit(self.body[k])
        for event in self.tail:
            await emit(event)
        if not isinstance(behaviour, NoDone):
            await emit(DONE_EVENT)
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class _CutBody:
    """An ASGI response announcing the whole body, sending half of it, then dropping the connection."""

    def __init__(self, data: bytes, headers: dict[str, str]) -> None:
        self.data, self.headers = data, headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {"content-type": "application/json", "content-length": str(len(self.data)), **self.headers}
        raw_headers = [(k.encode(), v.encode()) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": 200, "headers": raw_headers})
        await send({"type": "http.response.body", "body": self.data[: len(self.data) // 2], "more_body": True})
        raise AbortConnection("CutAfter (non-stream)")


class _NoResponse:
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        return None


# --------------------------------------------------------------------------- the fake


Body = dict[str, Any]
Handler = Callable[[Request, Body, Behaviour | None, int], Awaitable[ASGIApp]]


class FakeOpenAI:
    """An OpenAI-compatible upstream for tests. Thread-safe enough to be read from the test's thread."""

    def __init__(
        self,
        *,
        reply: str = DEFAULT_REPLY,
        models: Iterable[str] = DEFAULT_MODELS,
        embedding_dimensions: int = DEFAULT_EMBEDDING_DIMENSIONS,
    ) -> None:
        self._initial_reply = reply
        self.reply = reply
        self.models = list(models)
        self.embedding_dimensions = embedding_dimensions
        self.tool_arguments: dict[str, Any] | None = None  # None: {"city": "Paris"} if the tool has "city", else {}
        self.always: Behaviour | None = None  # applied to every POST while the queue is empty
        self.reject_prefill = False  # True: a trailing assistant message is answered with a 400
        self.cached_tokens = 0  # > 0: chat usage says this many prompt tokens came from the prompt cache
        self.reasoning_tokens = 0  # > 0: and this many completion tokens were reasoning
        self.requests: list[Recorded] = []
        self.disconnects = 0
        self._queue: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        _install_log_filter()
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._endpoint(self._chat), methods=["POST"]),
                Route("/v1/completions", self._endpoint(self._completions), methods=["POST"]),
                Route("/v1/embeddings", self._endpoint(self._embeddings), methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/v1/models/{model:path}", self._model, methods=["GET"]),
                Route("/{path:path}", self._not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            ]
        )

    # ----------------------------------------------------------------- test-facing API

    def enqueue(self, *behaviours: Behaviour) -> None:
        """Script the next POST requests: one behaviour each, in order."""
        with self._lock:
            self._queue.extend(behaviours)

    @property
    def pending(self) -> int:
        """Behaviours not consumed yet."""
        return len(self._queue)

    @property
    def last(self) -> Recorded:
        """The most recent request (AssertionError if none)."""
        assert self.requests, "the fake upstream has received no request"
        return self.requests[-1]

    def requests_to(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    def reset(self) -> None:
        """Forget requests, queued behaviours and disconnects; restore the initial reply and tool arguments."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.disconnects = 0
            self.reply = self._initial_reply
            self.tool_arguments = None
            self.always = None
            self.reject_prefill = False
            self.cached_tokens = 0
            self.reasoning_tokens = 0

    def wait_for_disconnects(self, count: int = 1, timeout: float = 2.0) -> bool:
        """Block (in a sync test) until ``disconnects >= count``; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.disconnects < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    async def wait_for_disconnects_async(self, count: int = 1, timeout: float = 2.0) -> bool:
        """Like ``wait_for_disconnects`` without blocking the caller's event loop."""
        deadline = time.monotonic() + timeout
        while self.disconnects < count:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    # ----------------------------------------------------------------- plumbing

    def _note_disconnect(self) -> None:
        with self._lock:
            self.disconnects += 1

    def _next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    async def _record(self, request: Request, *, consume: bool) -> tuple[Recorded, Behaviour | None]:
        body = await request.body()
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        behaviour = None
        with self._lock:
            if consume and self._queue:
                behaviour = self._queue.popleft()
            elif consume:
                behaviour = self.always
        recorded = Recorded(
            method=request.method,
            path=request.url.path,
            headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.headers.raw},
            json=parsed,
            body=body,
            query=request.url.query,
            behaviour=behaviour,
        )
        self.requests.append(recorded)
        return recorded, behaviour

    def _endpoint(self, handler: Handler) -> Callable[[Request], Awaitable[ASGIApp]]:
        async def endpoint(request: Request) -> ASGIApp:
            recorded, behaviour = await self._record(request, consume=True)
            if isinstance(behaviour, Stall):
                watcher = asyncio.ensure_future(_wait_disconnect(request.receive))
                try:
                    done, _ = await asyncio.wait({watcher}, timeout=behaviour.seconds)
                finally:
                    await _cancel(watcher)
                if done:
                    self._note_disconnect()
                    return _NoResponse()
            if isinstance(behaviour, Fail):
                return self._fail(behaviour)
            if not isinstance(recorded.json, dict):
                return _error(400, "We could not parse the JSON body of your request.")
            model = recorded.json.get("model")
            if not isinstance(model, str) or not model:
                return _error(400, "you must provide a model parameter", param="model")
            return await handler(request, recorded.json, behaviour, self._next_id())

        return endpoint

    @staticmethod
    def _fail(fail: Fail) -> Response:
        headers = dict(fail.headers)
        if fail.retry_after is not None:
            headers["retry-after"] = str(fail.retry_after)
        if isinstance(fail.body, str):
            return Response(fail.body, status_code=fail.status, headers=headers, media_type="text/plain")
        body = fail.body if fail.body is not None else error_body(fail.status)
        return JSONResponse(body, status_code=fail.status, headers=headers)

    @staticmethod
    def _respond(payload: dict[str, Any], behaviour: Behaviour | None, headers: dict[str, str]) -> ASGIApp:
        if isinstance(behaviour, CutAfter):
            return _CutBody(json.dumps(payload).encode(), headers)
        return JSONResponse(payload, headers=headers)

    def _reply_pieces(self, body: dict[str, Any], behaviour: Behaviour | None) -> tuple[list[str], str]:
        text = behaviour.text if isinstance(behaviour, Reply) else self.reply
        prefill = _prefill(body)
        if prefill and text.startswith(prefill):
            text = text[len(prefill) :]  # continue the assistant's text: only what follows it
        pieces = split_words(text)
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        if isinstance(limit, int) and not isinstance(limit, bool) and 0 <= limit < len(pieces):
            return pieces[:limit], "length"
        return pieces, "stop"

    def _pick_tool(self, body: dict[str, Any], behaviour: Behaviour | None) -> dict[str, Any] | None:
        tools = body.get("tools")
        choice = body.get("tool_choice")
        if isinstance(behaviour, Reply) or not isinstance(tools, list) or not tools or choice == "none":
            return None
        functions = [t["function"] for t in tools if isinstance(t, dict) and isinstance(t.get("function"), dict)]
        if isinstance(choice, dict):
            wanted = (choice.get("function") or {}).get("name")
            return next((f for f in functions if f.get("name") == wanted), None)
        messages = body.get("messages")
        if choice != "required" and isinstance(messages, list) and messages and isinstance(messages[-1], dict):
            if messages[-1].get("role") == "tool":  # the tool already ran: answer in text
                return None
        return functions[0] if functions else None

    def _tool_arguments(self, function: dict[str, Any]) -> str:
        if self.tool_arguments is not None:
            return json.dumps(self.tool_arguments)
        properties = (function.get("parameters") or {}).get("properties") or {}
        return json.dumps({"city": "Paris"} if "city" in properties else {})

    @staticmethod
    def _headers(n: int) -> dict[str, str]:
        return {"x-request-id": f"req_fake_{n}", "openai-processing-ms": "1"}

    # ----------------------------------------------------------------- endpoints

    async def _chat(self, request: Request, body: Body, behaviour: Behaviour | None, n: int) -> ASGIApp:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return _error(400, "'messages' must be a non-empty array", param="messages")
        if self.reject_prefill and _prefill(body) is not None:
            return _error(400, "This model does not support a final assistant message (prefill).", param="messages")
        base = {
            "id": f"chatcmpl-fake-{n}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "system_fingerprint": SYSTEM_FINGERPRINT,
        }
        prompt_tokens = sum(count_tokens(_content_text(m.get("content"))) for m in messages if isinstance(m, dict))
        tool = self._pick_tool(body, behaviour)
        if tool is not None:
            arguments = self._tool_arguments(tool)
            name = str(tool.get("name", ""))
            call = {"id": f"call_fake_{n}", "type": "function", "function": {"name": name, "arguments": arguments}}
            message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None, "tool_calls": [call]}
            completion_tokens, finish = max(1, count_tokens(arguments)), "tool_calls"
        else:
            pieces, finish = self._reply_pieces(body, behaviour)
            content = "".join(pieces)
            message = {"role": "assistant", "content": content, "refusal": None}
            completion_tokens = count_tokens(content)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        if self.cached_tokens:  # the provider's prompt cache, as OpenAI reports it
            usage["prompt_tokens_details"] = {"cached_tokens": min(self.cached_tokens, prompt_tokens)}
        if self.reasoning_tokens:  # of completion_tokens, as OpenAI's reasoning models report them
            usage["completion_tokens_details"] = {"reasoning_tokens": self.reasoning_tokens}
        if body.get("stream") is not True:
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            payload = {**base, "choices": [choice], "usage": usage}
            return self._respond(payload, behaviour, self._headers(n))

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            extra = {"usage": None} if include_usage else {}
            return _sse({**base, "object": "chat.completion.chunk", "choices": [choice], **extra})

        if tool is not None:
            opening = {"index": 0, "id": call["id"], "type": "function", "function": {"name": name, "arguments": ""}}
            head = [chunk({"role": "assistant", "content": None, "refusal": None, "tool_calls": [opening]})]
            parts = [
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
                for piece in _split_arguments(arguments)
            ]
        else:
            head = [chunk({"role": "assistant", "content": "", "refusal": None})]
            parts = [chunk({"content": p}) for p in pieces]
        tail = [chunk({}, finish)]
        if include_usage:
            tail.append(_sse({**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}))
        return _EventStream(self, head=head, body=parts, tail=tail, behaviour=behaviour, headers=self._headers(n))

    async def _completions(self, request: Request, body: Body, behaviour: Behaviour | None, n: int) -> ASGIApp:
        prompt = body.get("prompt")
        if prompt is None:
            return _error(400, "'prompt' is a required property", param="prompt")
        prompts = prompt if isinstance(prompt, list) else [prompt]
        prompt_tokens = sum(len(p) if isinstance(p, list) else count_tokens(str(p)) for p in prompts)
        pieces, finish = self._reply_pieces(body, behaviour)
        text = "".join(pieces)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": count_tokens(text),
            "total_tokens": prompt_tokens + count_tokens(text),
        }
        base = {
            "id": f"cmpl-fake-{n}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": body["model"],
            "system_fingerprint": SYSTEM_FINGERPRINT,
        }
        if body.get("stream") is not True:
            choice = {"text": text, "index": 0, "logprobs": None, "finish_reason": finish}
            return self._respond({**base, "choices": [choice], "usage": usage}, behaviour, self._headers(n))

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(piece: str, finish_reason: str | None = None) -> bytes:
            extra = {"usage": None} if include_usage else {}
            choice = {"text": piece, "index": 0, "logprobs": None, "finish_reason": finish_reason}
            return _sse({**base, "choices": [choice], **extra})

        tail = [chunk("", finish)]
        if include_usage:
            tail.append(_sse({**base, "choices": [], "usage": usage}))
        parts = [chunk(p) for p in pieces]
        return _EventStream(self, head=[], body=parts, tail=tail, behaviour=behaviour, headers=self._headers(n))

    async def _embeddings(self, request: Request, body: Body, behaviour: Behaviour | None, n: int) -> ASGIApp:
        raw = body.get("input")
        if isinstance(raw, str) or (isinstance(raw, list) and raw and all(isinstance(t, int) for t in raw)):
            inputs: list[Any] = [raw]
        elif isinstance(raw, list) and raw:
            inputs = list(raw)
        else:
            return _error(400, "'input' must be a non-empty string or array", param="input")
        dimensions = body.get("dimensions") or self.embedding_dimensions
        encoding = body.get("encoding_format") or "float"
        if not isinstance(dimensions, int) or dimensions < 1:
            return _error(400, "'dimensions' must be a positive integer", param="dimensions")
        if encoding not in ("float", "base64"):
            return _error(400, "'encoding_format' must be 'float' or 'base64'", param="encoding_format")
        data = []
        for index, item in enumerate(inputs):
            vector = embedding_vector(json.dumps(item) if not isinstance(item, str) else item, dimensions)
            encoded: list[float] | str = vector
            if encoding == "base64":
                encoded = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(len(i) if isinstance(i, list) else count_tokens(str(i)) for i in inputs)
        payload = {
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        return self._respond(payload, behaviour, self._headers(n))

    def _model_object(self, model: str) -> dict[str, Any]:
        return {"id": model, "object": "model", "created": 1700000000, "owned_by": "fake-upstream"}

    async def _models(self, request: Request) -> Response:
        await self._record(request, consume=False)
        return JSONResponse({"object": "list", "data": [self._model_object(m) for m in self.models]})

    async def _model(self, request: Request) -> Response:
        await self._record(request, consume=False)
        model = request.path_params["model"]
        if model not in self.models:
            return _error(404, f"The model '{model}' does not exist", param="model")
        return JSONResponse(self._model_object(model))

    async def _not_found(self, request: Request) -> Response:
        await self._record(request, consume=False)
        return _error(404, f"Invalid URL ({request.method} {request.url.path})")


# --------------------------------------------------------------------------- connection reset


class ResetServer:
    """A raw TCP server on loopback that reads each request and then drops the connection without a response.

    With ``rst=True`` (default) the socket is closed with SO_LINGER 0, so the client sees a TCP reset;
    with ``rst=False`` it is closed cleanly (the client sees EOF before any response).
    """

    def __init__(self, *, host: str = "127.0.0.1", rst: bool = True) -> None:
        self.host, self.rst = host, rst
        self.connections = 0
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._sock is not None, "ResetServer is not running"
        return int(self._sock.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> ResetServer:
        self._sock = socket.create_server((self.host, 0))
        self._sock.settimeout(0.05)
        self._thread = threading.Thread(target=self._serve, name="reset-server", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._sock is not None:
            self._sock.close()

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                self._drop(conn)

    def _drop(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(2)
            data = b""
            while b"\r\n\r\n" not in data:
                more = conn.recv(65536)
                if not more:
                    break
                data += more
            head, _, rest = data.partition(b"\r\n\r\n")
            match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            remaining = int(match.group(1)) - len(rest) if match else 0
            while remaining > 0:
                more = conn.recv(min(remaining, 65536))
                if not more:
                    break
                remaining -= len(more)
            if self.rst:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        finally:
            self.connections += 1
