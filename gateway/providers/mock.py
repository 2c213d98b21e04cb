"""Provider `mock`: a built-in, offline, deterministic OpenAI-compatible model.

It is the `openai` provider with an in-process server behind httpx's transport seam, so a mock call
takes the same path through the gateway as a real one: request building, SSE decoding, error handling.
Same request, same answer; tokens are space-separated words. It behaves like OpenAI's API where a
client would notice:

- tools: a user's message is answered with a call of the first (or the chosen) tool; the tool's result
  with text that uses it and finish_reason "stop", so an agent's loop ends. tool_choice "none" never
  calls, "required" and a named function always do.
- `n` choices (stream and not), usage counting them all; `stream_options.include_usage`.
- `response_format` json_object answers a JSON object, json_schema a minimal instance of the schema
  (mock_json.py).
- parameters of the wrong type or out of range, and unknown message roles, get OpenAI's 400 (same message,
  param and code) before anything is generated. It is an upstream 400 like any other: it goes back to the
  client as is, with no failover and no cooldown (dispatch.py).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import struct
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from gateway.config import ProviderConfig
from gateway.providers.mock_checks import Rejected, check, function_name, tools_offered
from gateway.providers.mock_json import instance
from gateway.providers.openai import OpenAIProvider
from gateway.upstream import Upstream

MOCK_URL = "http://mock.gateway.invalid/v1"


class MockProvider(OpenAIProvider):
    type = "mock"

    def __init__(self, config: ProviderConfig, upstream: Upstream | None = None) -> None:
        config = config.model_copy(update={"base_url": config.base_url or MOCK_URL})
        server = MockServer(config.token_delay_ms / 1000, config.embedding_dim)
        super().__init__(config, upstream or Upstream(config, httpx.MockTransport(server.handle)))


class MockServer:
    """Answers OpenAI's chat, completions and embeddings endpoints like a real server would."""

    def __init__(self, token_delay_s: float = 0.0, embedding_dim: int = 16) -> None:
        self.token_delay_s = token_delay_s
        self.embedding_dim = embedding_dim
        self._ids = itertools.count(1)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        try:
            body = json.loads(await request.aread())
        except ValueError:
            return _error(400, "the request body is not valid JSON")
        if not isinstance(body, dict):
            return _error(400, "the request body must be a JSON object")
        path = request.url.path
        if path.endswith("/embeddings"):
            return httpx.Response(200, json=self.embeddings(body))
        if path.endswith("/chat/completions"):
            kind = "chat"
        elif path.endswith("/completions"):
            kind = "text"
        else:
            return _error(404, f"the mock provider has no endpoint {path}")
        try:
            check(kind, body)
        except Rejected as exc:
            return _error(400, exc.message, exc.param, exc.code)
        if body.get("stream"):
            headers = {"content-type": "text/event-stream"}
            return httpx.Response(200, headers=headers, content=self._sse(self.chunks(kind, body)))
        return httpx.Response(200, json=self.chat(body) if kind == "chat" else self.completion(body))

    # -- whole answers -------------------------------------------------------------------------------

    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        choices = answer("chat", body)
        return {
            "id": f"chatcmpl-mock-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "mock"),
            "system_fingerprint": "fp_mock",
            "choices": [
                {"index": i, "message": c.message(), "logprobs": None, "finish_reason": c.finish}
                for i, c in enumerate(choices)
            ],
            "usage": _usage(body, choices),
        }

    def completion(self, body: dict[str, Any]) -> dict[str, Any]:
        choices = answer("text", body)
        return {
            "id": f"cmpl-mock-{next(self._ids)}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": body.get("model", "mock"),
            "choices": [
                {"index": i, "text": "".join(c.tokens), "logprobs": None, "finish_reason": c.finish}
                for i, c in enumerate(choices)
            ],
            "usage": _usage(body, choices),
        }

    def embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) or _is_tokens(inputs) else list(inputs or [])
        dimensions = body.get("dimensions")
        dim = dimensions if isinstance(dimensions, int) and dimensions > 0 else self.embedding_dim
        data = []
        for i, text in enumerate(texts):
            vector = _vector(json.dumps(text), dim)
            value: Any = vector
            if body.get("encoding_format") == "base64":
                value = base64.b64encode(struct.pack(f"<{dim}f", *vector)).decode()
            data.append({"object": "embedding", "index": i, "embedding": value})
        tokens = sum(len(str(t).split()) for t in texts)
        return {
            "object": "list",
            "data": data,
            "model": body.get("model", "mock"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    # -- streams -------------------------------------------------------------------------------------

    def chunks(self, kind: str, body: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """The stream, one list of chunks per token: with n choices, one chunk per choice (as OpenAI
        interleaves them), each naming its choice's index."""
        choices = answer(kind, body)
        base = {
            "id": f"{'chatcmpl' if kind == 'chat' else 'cmpl'}-mock-{next(self._ids)}",
            "object": "chat.completion.chunk" if kind == "chat" else "text_completion",
            "created": int(time.time()),
            "model": body.get("model", "mock"),
            "system_fingerprint": "fp_mock",
        }
        options = body.get("stream_options")
        with_usage = isinstance(options, dict) and options.get("include_usage") is True
        if with_usage:
            base["usage"] = None  # OpenAI's chunks carry `"usage": null` until the last one
        for step in itertools.zip_longest(*(c.deltas(kind) for c in choices)):
            yield [{**base, "choices": [_stream_choice(kind, i, d)]} for i, d in enumerate(step) if d is not None]
        if with_usage:
            yield [{**base, "choices": [], "usage": _usage(body, choices)}]

    async def _sse(self, steps: Iterator[list[dict[str, Any]]]) -> AsyncIterator[bytes]:
        for i, step in enumerate(steps):
            if self.token_delay_s and i:
                await asyncio.sleep(self.token_delay_s)
            yield b"".join(b"data: " + json.dumps(c, separators=(",", ":")).encode() + b"\n\n" for c in step)
        yield b"data: [DONE]\n\n"


@dataclass(slots=True)
class Choice:
    """One choice of an answer: text tokens (each but the first with its leading space), or a tool call."""

    tokens: list[str]
    finish: str
    call: dict[str, Any] | None = None

    @property
    def completion_tokens(self) -> int:
        return len(_tokens(self.call["function"]["arguments"])) if self.call else len(self.tokens)

    def message(self) -> dict[str, Any]:
        if self.call:
            return {"role": "assistant", "content": None, "tool_calls": [self.call], "refusal": None}
        return {"role": "assistant", "content": "".join(self.tokens), "refusal": None}

    def deltas(self, kind: str) -> Iterator[tuple[dict[str, Any], str | None]]:
        """(delta, finish_reason) pairs, as a stream sends them."""
        if kind == "chat":
            yield {"role": "assistant", "content": ""}, None
        if self.call:
            name, args = self.call["function"]["name"], self.call["function"]["arguments"]
            yield {"tool_calls": [{**self.call, "index": 0, "function": {"name": name, "arguments": ""}}]}, None
            for piece in (args[: len(args) // 2], args[len(args) // 2 :]):
                yield {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}, None
        else:
            for token in self.tokens:
                yield {"content": token}, None
        yield {}, self.finish


def answer(kind: str, body: dict[str, Any]) -> list[Choice]:
    """The `n` choices; identical but for tool call ids, so the mock stays deterministic."""
    n = body.get("n")
    return [_choice(kind, body, i) for i in range(int(n) if n is not None else 1)]


def _choice(kind: str, body: dict[str, Any], index: int) -> Choice:
    if kind == "chat" and (call := _tool_call(body, index)):
        return Choice([], "tool_calls", call)
    tokens = _tokens(_content(kind, body))
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(limit, int | float) and not isinstance(limit, bool) and 0 < limit < len(tokens):
        return Choice(tokens[: int(limit)], "length")
    return Choice(tokens, "stop")


def _content(kind: str, body: dict[str, Any]) -> str:
    messages = body.get("messages") if kind == "chat" else None
    text = (_tool_results(messages) if isinstance(messages, list) else None) or _echo(body)
    fmt = body.get("response_format") if kind == "chat" else None
    fmt = fmt if isinstance(fmt, dict) else {}
    if fmt.get("type") == "json_schema":
        schema = fmt["json_schema"].get("schema") if isinstance(fmt.get("json_schema"), dict) else None
        return json.dumps(instance(schema if isinstance(schema, dict) and schema else {"type": "object"}))
    if fmt.get("type") == "json_object":
        return json.dumps({"answer": text})
    return text


def _echo(body: dict[str, Any]) -> str:
    prompt = " ".join(_texts(body)).split()
    echo = " ".join(prompt[-12:]) or "nothing"
    return f"This is the gateway's mock model ({body.get('model', 'mock')}). You said: {echo}"


def _tool_results(messages: list[Any]) -> str | None:
    """When the conversation ends with tool results, a reply that uses them (one line per tool)."""
    results = list(itertools.takewhile(lambda m: _role(m) in ("tool", "function"), reversed(messages)))
    if not results:
        return None
    names = {call.get("id"): function_name(call) for m in messages if _role(m) == "assistant"
             for call in m.get("tool_calls") or () if isinstance(call, dict)}
    lines = []
    for result in reversed(results):
        name = result.get("name") or names.get(result.get("tool_call_id")) or "the tool"
        lines.append(f"The result of {name} is: {_text(result.get('content'))}")
    return "\n".join(lines)


def _tool_call(body: dict[str, Any], index: int) -> dict[str, Any] | None:
    """Call a tool when the user just spoke (tool_choice "auto"), or always when a call is required."""
    tools = tools_offered(body)
    choice = body.get("tool_choice") or "auto"
    if not tools or choice == "none":
        return None
    named = function_name(choice)
    messages = body.get("messages")
    if choice == "auto" and not (isinstance(messages, list) and messages and _role(messages[-1]) == "user"):
        return None
    function = next((t for t in tools if t.get("name") == named), tools[0])
    schema = function.get("parameters")
    arguments = instance(schema) if isinstance(schema, dict) and schema else {}
    digest = hashlib.sha256(json.dumps([body, index], sort_keys=True).encode()).hexdigest()[:24]
    return {
        "id": f"call_{digest}",
        "type": "function",
        "function": {"name": function.get("name", "tool"),
                     "arguments": json.dumps(arguments if isinstance(arguments, dict) else {})},
    }


def _stream_choice(kind: str, index: int, step: tuple[dict[str, Any], str | None]) -> dict[str, Any]:
    delta, finish = step
    if kind == "text":
        return {"index": index, "text": delta.get("content", ""), "logprobs": None, "finish_reason": finish}
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}


def _tokens(text: str) -> list[str]:
    """Space-separated words, each but the first keeping its leading space: they join back to `text`."""
    return [w if i == 0 else " " + w for i, w in enumerate(text.split(" "))]


def _texts(body: dict[str, Any]) -> Iterator[str]:
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        yield prompt
    elif isinstance(prompt, list):
        yield from (p for p in prompt if isinstance(p, str))
    for message in body.get("messages") or ():
        if isinstance(message, dict) and (text := _text(message.get("content"))):
            yield text


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _role(message: Any) -> Any:
    return message.get("role") if isinstance(message, dict) else None


def _usage(body: dict[str, Any], choices: list[Choice]) -> dict[str, int]:
    messages = body.get("messages")
    prompt_tokens = sum(len(t.split()) for t in _texts(body)) + 3 * len(messages if isinstance(messages, list) else [])
    completion_tokens = sum(c.completion_tokens for c in choices)
    total = prompt_tokens + completion_tokens
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": total}


# -- embeddings and errors ----------------------------------------------------------------------------


def _vector(text: str, dim: int) -> list[float]:
    seed = hashlib.sha256(text.encode()).digest()
    raw = [(seed[i % len(seed)] + 7 * i) % 256 / 127.5 - 1.0 for i in range(dim)]
    norm = sum(v * v for v in raw) ** 0.5 or 1.0
    return [v / norm for v in raw]


def _is_tokens(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, int) for v in value)


def _error(status: int, message: str, param: str | None = None, code: str | None = None) -> httpx.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}
    return httpx.Response(status, json=body)
