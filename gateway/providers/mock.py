"""Provider `mock`: a built-in, offline, deterministic OpenAI-compatible model.

It is the `openai` provider with an in-process server behind httpx's transport seam, so a mock call
takes the same path through the gateway as a real one: request building, SSE decoding, error handling.
Same request, same answer; tokens are whitespace-separated words.
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
from typing import Any

import httpx

from gateway.config import ProviderConfig
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
        path = request.url.path
        if path.endswith("/embeddings"):
            return httpx.Response(200, json=self.embeddings(body))
        if path.endswith("/chat/completions"):
            kind = "chat"
        elif path.endswith("/completions"):
            kind = "text"
        else:
            return _error(404, f"the mock provider has no endpoint {path}")
        if body.get("stream"):
            headers = {"content-type": "text/event-stream"}
            return httpx.Response(200, headers=headers, content=self._sse(self.chunks(kind, body)))
        return httpx.Response(200, json=self.chat(body) if kind == "chat" else self.completion(body))

    # -- whole answers -------------------------------------------------------------------------------

    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        words, finish = _answer(body)
        message: dict[str, Any] = {"role": "assistant", "content": "".join(words), "refusal": None}
        if call := _tool_call(body):
            message = {"role": "assistant", "content": None, "tool_calls": [call]}
            finish, words = "tool_calls", [call["function"]["arguments"]]
        return {
            "id": f"chatcmpl-mock-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "mock"),
            "system_fingerprint": "fp_mock",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": _usage(body, len(words)),
        }

    def completion(self, body: dict[str, Any]) -> dict[str, Any]:
        words, finish = _answer(body)
        return {
            "id": f"cmpl-mock-{next(self._ids)}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": body.get("model", "mock"),
            "choices": [{"index": 0, "text": "".join(words), "logprobs": None, "finish_reason": finish}],
            "usage": _usage(body, len(words)),
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

    def chunks(self, kind: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        words, finish = _answer(body)
        base = {
            "id": f"{'chatcmpl' if kind == 'chat' else 'cmpl'}-mock-{next(self._ids)}",
            "object": "chat.completion.chunk" if kind == "chat" else "text_completion",
            "created": int(time.time()),
            "model": body.get("model", "mock"),
            "system_fingerprint": "fp_mock",
        }
        call = _tool_call(body) if kind == "chat" else None

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            if kind == "text":
                choice = {"index": 0, "text": delta.get("content", ""), "finish_reason": finish_reason}
            else:
                choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            return {**base, "choices": [choice]}

        if kind == "chat":
            yield chunk({"role": "assistant", "content": ""})
        if call:
            args = call["function"]["arguments"]
            first = {**call, "index": 0, "function": {"name": call["function"]["name"], "arguments": ""}}
            yield chunk({"tool_calls": [first]})
            for piece in (args[: len(args) // 2], args[len(args) // 2 :]):
                yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            finish, words = "tool_calls", [args]
        else:
            for word in words:
                yield chunk({"content": word})
        yield chunk({}, finish)
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            yield {**base, "choices": [], "usage": _usage(body, len(words))}

    async def _sse(self, chunks: Iterator[dict[str, Any]]) -> AsyncIterator[bytes]:
        for i, chunk in enumerate(chunks):
            if self.token_delay_s and i:
                await asyncio.sleep(self.token_delay_s)
            yield b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"
        yield b"data: [DONE]\n\n"


def _answer(body: dict[str, Any]) -> tuple[list[str], str]:
    """The reply as word tokens (each keeps its leading space), cut at max_tokens."""
    prompt = " ".join(_texts(body)).split()
    echo = " ".join(prompt[-12:]) or "nothing"
    text = f"This is the gateway's mock model ({body.get('model', 'mock')}). You said: {echo}"
    words = [w if i == 0 else " " + w for i, w in enumerate(text.split(" "))]
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(limit, int) and 0 < limit < len(words):
        return words[:limit], "length"
    return words, "stop"


def _texts(body: dict[str, Any]) -> Iterator[str]:
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        yield prompt
    elif isinstance(prompt, list):
        yield from (p for p in prompt if isinstance(p, str))
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            yield content
        elif isinstance(content, list):
            yield from (p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))


def _usage(body: dict[str, Any], completion_tokens: int) -> dict[str, int]:
    messages = body.get("messages")
    prompt_tokens = sum(len(t.split()) for t in _texts(body)) + 3 * len(messages if isinstance(messages, list) else [])
    total = prompt_tokens + completion_tokens
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": total}


def _tool_call(body: dict[str, Any]) -> dict[str, Any] | None:
    """When tools are offered (and not refused with tool_choice "none"), call the chosen or first one."""
    tools = [t for t in body.get("tools") or () if isinstance(t, dict) and isinstance(t.get("function"), dict)]
    choice = body.get("tool_choice")
    if not tools or choice == "none":
        return None
    tool = tools[0]
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        tool = next((t for t in tools if t["function"].get("name") == choice["function"].get("name")), tool)
    function = tool["function"]
    schema = function.get("parameters")
    schema = schema if isinstance(schema, dict) else {}
    properties = schema.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    arguments = {name: _example(spec) for name, spec in properties.items() if name in (schema.get("required") or ())}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:24]
    return {
        "id": f"call_{digest}",
        "type": "function",
        "function": {"name": function.get("name", "tool"), "arguments": json.dumps(arguments)},
    }


def _example(spec: Any) -> Any:
    kind = spec.get("type") if isinstance(spec, dict) else None
    if isinstance(spec, dict) and isinstance(spec.get("enum"), list) and spec["enum"]:
        return spec["enum"][0]
    return {"integer": 1, "number": 1.0, "boolean": True, "array": [], "object": {}}.get(str(kind), "example")


def _vector(text: str, dim: int) -> list[float]:
    seed = hashlib.sha256(text.encode()).digest()
    raw = [(seed[i % len(seed)] + 7 * i) % 256 / 127.5 - 1.0 for i in range(dim)]
    norm = sum(v * v for v in raw) ** 0.5 or 1.0
    return [v / norm for v in raw]


def _is_tokens(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, int) for v in value)


def _error(status: int, message: str) -> httpx.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}
    return httpx.Response(status, json=body)
