"""Streams into answers and back: what lets a streamed and a non-streamed request share one entry.

`Assembler` reads the chunks of a stream, exactly as they went to the client, and builds the answer a
non-stream request would have received (`chat.completion` or `text_completion`: text, tool calls,
refusal, logprobs, finish reasons, usage, model and id). `to_sse` does the reverse for a hit that asks
for a stream: well-formed chunks (role, content, tool calls, finish reason, usage only when the client
asked with `stream_options.include_usage`), then `[DONE]`.

    >>> assembler = Assembler()
    >>> for chunk in (b'{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",'
    ...               b'"choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"}}]}',
    ...               b'{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",'
    ...               b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}'):
    ...     _ = assembler.feed(chunk)
    >>> orjson.loads(assembler.body())["choices"][0]["message"]["content"]
    'Hi'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway import sse

CHUNK = 0  # a payload with choices
USAGE = 1  # a usage-only payload (no choices): shown only to clients that asked for usage
DONE = 2  # `[DONE]`
ERROR = 3  # an error event: the stream was cut


def wants_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


@dataclass(slots=True)
class _Tool:
    id: str | None = None
    type: str = "function"
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Choice:
    role: str = "assistant"
    text: list[str] = field(default_factory=list)
    refusal: list[str] = field(default_factory=list)
    tools: dict[int, _Tool] = field(default_factory=dict)
    finish_reason: str | None = None
    logprobs: dict[str, Any] | None = None


class Assembler:
    """One stream's chunks, in order, into the equivalent non-stream answer."""

    def __init__(self) -> None:
        self.head: dict[str, Any] = {}
        self.choices: dict[int, _Choice] = {}
        self.usage: dict[str, Any] | None = None
        self.completion = False  # text completions (`/v1/completions`) rather than chat

    def feed(self, payload: bytes) -> int:
        """Read one `data:` payload; returns its kind (CHUNK, USAGE, DONE or ERROR)."""
        if payload == b"[DONE]":
            return DONE
        try:
            chunk = orjson.loads(payload)
        except ValueError:
            return CHUNK  # the relay never forwards unparsable events; nothing to learn from one
        if not isinstance(chunk, dict):
            return CHUNK
        if "error" in chunk:
            return ERROR
        if not self.head:
            self.completion = chunk.get("object") == "text_completion"
            self.head = _head(chunk)
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            if isinstance(choice, dict):
                self._choice(choice)
        return CHUNK if choices else USAGE

    def _choice(self, choice: dict[str, Any]) -> None:
        index = choice.get("index", 0)
        state = self.choices.setdefault(index if isinstance(index, int) else 0, _Choice())
        delta = choice.get("delta") if not self.completion else {"content": choice.get("text")}
        if isinstance(delta, dict):
            if isinstance(delta.get("role"), str):
                state.role = delta["role"]
            if isinstance(delta.get("content"), str):
                state.text.append(delta["content"])
            if isinstance(delta.get("refusal"), str):
                state.refusal.append(delta["refusal"])
            for call in delta.get("tool_calls") or ():
                if isinstance(call, dict):
                    _tool(state, call)
        if isinstance(choice.get("finish_reason"), str):
            state.finish_reason = choice["finish_reason"]
        if isinstance(choice.get("logprobs"), dict):
            state.logprobs = _merge_logprobs(state.logprobs, choice["logprobs"])

    def body(self, usage: dict[str, Any] | None = None) -> bytes:
        """The non-stream answer; `usage` stands in when the stream carried none (it was not asked for)."""
        answer = {"id": self.head.get("id"), "object": "text_completion" if self.completion else "chat.completion"}
        answer.update(self.head)  # `object` second, as OpenAI writes it
        answer["choices"] = [self._render(i, c) for i, c in sorted(self.choices.items())]
        if (usage := self.usage or usage) is not None:
            answer["usage"] = usage
        return orjson.dumps(answer)

    def _render(self, index: int, choice: _Choice) -> dict[str, Any]:
        if self.completion:
            return {"text": "".join(choice.text), "index": index, "logprobs": choice.logprobs,
                    "finish_reason": choice.finish_reason}
        text = "".join(choice.text)
        message: dict[str, Any] = {
            "role": choice.role,
            "content": text if text or not choice.tools else None,  # null beside tool calls, as OpenAI has it
            "refusal": "".join(choice.refusal) if choice.refusal else None,
        }
        if choice.tools:
            message["tool_calls"] = [
                {"id": t.id, "type": t.type, "function": {"name": t.name, "arguments": "".join(t.arguments)}}
                for _, t in sorted(choice.tools.items())
            ]
        return {"index": index, "message": message, "logprobs": choice.logprobs, "finish_reason": choice.finish_reason}


def _tool(state: _Choice, call: dict[str, Any]) -> None:
    index = call.get("index", len(state.tools))
    tool = state.tools.setdefault(index if isinstance(index, int) else 0, _Tool())
    if isinstance(call.get("id"), str):
        tool.id = call["id"]
    if isinstance(call.get("type"), str):
        tool.type = call["type"]
    function = call.get("function")
    if isinstance(function, dict):
        if isinstance(function.get("name"), str):
            tool.name += function["name"]
        if isinstance(function.get("arguments"), str):
            tool.arguments.append(function["arguments"])


def _merge_logprobs(seen: dict[str, Any] | None, more: dict[str, Any]) -> dict[str, Any]:
    """Chat (`content`, `refusal`) and legacy completion (`tokens`, `token_logprobs`, ...) lists concatenate."""
    merged = dict(seen or {})
    for key, value in more.items():
        if isinstance(value, list) and isinstance(merged.get(key), list):
            merged[key] = merged[key] + value
        elif key not in merged or merged[key] is None:
            merged[key] = value
    return merged


# -- answers as streams ---------------------------------------------------------------------------------


def to_sse(body: bytes, include_usage: bool) -> bytes:
    """A stored answer as the SSE stream the client asked for, `[DONE]` included."""
    answer = orjson.loads(body)
    completion = answer.get("object") == "text_completion"
    head = {"id": answer.get("id"), "object": "text_completion" if completion else "chat.completion.chunk"}
    head.update(_head(answer))
    if include_usage:
        head["usage"] = None  # as OpenAI does: every chunk has the key, the last one the numbers
    chunks: list[dict[str, Any]] = []
    for choice in answer.get("choices") or ():
        pieces = _completion_pieces(choice) if completion else _chat_pieces(choice)
        chunks += [{**head, "choices": [piece]} for piece in pieces]
    if include_usage and isinstance(answer.get("usage"), dict):
        chunks.append({**head, "choices": [], "usage": answer["usage"]})
    return b"".join(sse.encode(orjson.dumps(chunk)) for chunk in chunks) + sse.DONE


def usage_chunk(head: dict[str, Any], completion: bool, usage: dict[str, Any]) -> bytes:
    """The last chunk of a stream for a client that asked for usage, as an SSE event."""
    chunk = {**head, "object": "text_completion" if completion else "chat.completion.chunk", "choices": [],
             "usage": usage}
    return sse.encode(orjson.dumps(chunk))


def _head(source: dict[str, Any]) -> dict[str, Any]:
    return {k: source[k] for k in ("id", "created", "model", "system_fingerprint", "service_tier")
            if source.get(k) is not None}


def _chat_pieces(choice: dict[str, Any]) -> list[dict[str, Any]]:
    index = choice.get("index", 0)
    message = choice.get("message") or {}
    opening = "" if message.get("content") is not None or not message.get("tool_calls") else None
    deltas: list[dict[str, Any]] = [{"role": message.get("role", "assistant"), "content": opening}]
    if message.get("content"):
        deltas.append({"content": message["content"]})
    if message.get("refusal"):
        deltas.append({"refusal": message["refusal"]})
    if message.get("tool_calls"):
        deltas.append({"tool_calls": [{"index": i, **call} for i, call in enumerate(message["tool_calls"])]})
    pieces = [{"index": index, "delta": delta, "logprobs": None, "finish_reason": None} for delta in deltas]
    if choice.get("logprobs") is not None:
        pieces[-1]["logprobs"] = choice["logprobs"]
    pieces.append({"index": index, "delta": {}, "logprobs": None, "finish_reason": choice.get("finish_reason")})
    return pieces


def _completion_pieces(choice: dict[str, Any]) -> list[dict[str, Any]]:
    index = choice.get("index", 0)
    return [
        {"text": choice.get("text", ""), "index": index, "logprobs": choice.get("logprobs"), "finish_reason": None},
        {"text": "", "index": index, "logprobs": None, "finish_reason": choice.get("finish_reason")},
    ]
