"""`POST /v1/messages`: the Anthropic Messages API as an entrance, so the anthropic SDK can use the gateway.

The request is translated to an OpenAI chat body and goes down the ordinary chat path (routing, cache,
telemetry: `Endpoints.chat_from`); the answer, JSON or SSE, is translated back. Translation here is pure,
the handler is thin, and it works whatever provider answers, because it only ever sees OpenAI's format.

    >>> to_openai_chat({"model": "m", "max_tokens": 5, "system": "Be brief.",
    ...                 "messages": [{"role": "user", "content": "hi"}]})["messages"][0]
    {'role': 'system', 'content': 'Be brief.'}
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request

from gateway.endpoints import Answer, Endpoints, JSONAnswer, answer_data
from gateway.errors import InvalidRequestError
from gateway.eventstream import EventStreamResponse
from gateway.sse import Frames, SSEDecoder

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 529: "overloaded_error"}
# `top_k` is not an OpenAI parameter, yet it goes on: the anthropic and gemini providers send it, and the
# OpenAI-type ones leave it out except for the servers that take it (see gateway/providers/openai.py).
RENAMED = {"max_tokens": "max_tokens", "temperature": "temperature", "top_p": "top_p", "top_k": "top_k",
           "stop_sequences": "stop", "stream": "stream"}


class MessagesEntrance:
    def __init__(self, endpoints: Endpoints) -> None:
        self.endpoints = endpoints

    async def messages(self, request: Request) -> Answer:
        answer = await self.endpoints.chat_from(request, to_openai_chat)
        if isinstance(answer, EventStreamResponse):
            events = EventStreamResponse(to_anthropic_events(answer.chunks), {}, status_code=answer.status_code)
            events.raw_headers = answer.raw_headers
            return events
        data = answer_data(answer)
        body = to_anthropic_message(data) if answer.status_code == 200 else to_anthropic_error(answer.status_code, data)
        # the answer's headers but its body's two, as they were (not decoded, encoded again)
        kept = [h for h in answer.raw_headers if h[0] not in (b"content-length", b"content-type")]
        return JSONAnswer(orjson.dumps(body), kept, status_code=answer.status_code)


# -- request: Anthropic -> OpenAI -------------------------------------------------------------------


def to_openai_chat(body: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic Messages request as an OpenAI chat body. Raises InvalidRequestError naming the field."""
    try:
        return _to_openai_chat(body)
    except (AttributeError, KeyError, TypeError) as exc:  # a block or tool that is not an object, say
        raise InvalidRequestError(f"The request does not follow the Messages API ({type(exc).__name__}: {exc}).",
                                  param="messages") from None


def _to_openai_chat(body: dict[str, Any]) -> dict[str, Any]:
    for name in ("model", "messages", "max_tokens"):
        if name not in body:
            raise InvalidRequestError(f"{name}: Field required", param=name)
    if not isinstance(body["messages"], list) or not body["messages"]:
        raise InvalidRequestError("messages: expected a non-empty list", param="messages")
    if isinstance(body.get("thinking"), dict) and body["thinking"].get("type") == "enabled":
        raise InvalidRequestError("thinking: extended thinking is not supported by this gateway", param="thinking")
    out: dict[str, Any] = {theirs: body[ours] for ours, theirs in RENAMED.items() if ours in body}
    out["model"] = body["model"]
    if out.get("stream") is True:
        out["stream_options"] = {"include_usage": True}  # message_delta reports the output tokens
    messages: list[dict[str, Any]] = []
    if body.get("system"):
        messages.append({"role": "system", "content": _text(body["system"])})
    for i, message in enumerate(body["messages"]):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise InvalidRequestError(f"messages.{i}.role: expected user or assistant", param=f"messages.{i}.role")
        messages += _assistant(message) if message["role"] == "assistant" else _user(message, i)
    out["messages"] = messages
    out.update(_tools(body))
    fmt = (body.get("output_config") or {}).get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":  # structured outputs
        out["response_format"] = {"type": "json_schema", "json_schema": {"name": "output", "schema": fmt.get("schema")}}
    user = (body.get("metadata") or {}).get("user_id")
    if isinstance(user, str):
        out["user"] = user
    return out


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


def _user(message: dict[str, Any], i: int) -> list[dict[str, Any]]:
    """Tool results become `tool` messages (OpenAI's way), ahead of the turn's own text and images."""
    content = message.get("content")
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in content if isinstance(content, list) else ():
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "tool_result":
            results.append({"role": "tool", "tool_call_id": block.get("tool_use_id"),
                            "content": _text(block.get("content"))})
        elif kind == "text":
            parts.append({"type": "text", "text": block.get("text", "")})
        elif kind == "image":
            parts.append({"type": "image_url", "image_url": {"url": _image_url(block.get("source") or {})}})
        else:
            raise InvalidRequestError(f"messages.{i}.content: blocks of type '{kind}' are not supported by this "
                                      "gateway", param=f"messages.{i}.content")
    return results + ([{"role": "user", "content": parts}] if parts else [])


def _image_url(source: dict[str, Any]) -> str:
    if source.get("type") == "base64":
        return f"data:{source.get('media_type')};base64,{source.get('data')}"
    return str(source.get("url", ""))


def _assistant(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    out: dict[str, Any] = {"role": "assistant", "content": _text(content) or None}
    calls = [{"id": b.get("id"), "type": "function",
              "function": {"name": b.get("name"), "arguments": orjson.dumps(b.get("input") or {}).decode()}}
             for b in (content if isinstance(content, list) else ()) if b.get("type") == "tool_use"]
    if calls:
        out["tool_calls"] = calls
    elif out["content"] is None:
        out["content"] = ""
    return [out]


def _tools(body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if body.get("tools"):
        out["tools"] = [{"type": "function", "function": {
            "name": t.get("name"), "description": t.get("description", ""),
            "parameters": t.get("input_schema") or {"type": "object"}}} for t in body["tools"]]
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind == "tool":
            out["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
        elif kind in ("auto", "any", "none"):
            out["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}[kind]
        if choice.get("disable_parallel_tool_use") is True:
            out["parallel_tool_calls"] = False
    return out


# -- response: OpenAI -> Anthropic ------------------------------------------------------------------


def to_anthropic_message(data: dict[str, Any]) -> dict[str, Any]:
    choice = (data.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    if message.get("content"):
        content.append({"type": "text", "text": message["content"]})
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        content.append({"type": "tool_use", "id": call.get("id"), "name": function.get("name"),
                        "input": _arguments(function.get("arguments"))})
    return {
        "id": data.get("id"), "type": "message", "role": "assistant", "model": data.get("model"),
        "content": content, "stop_reason": STOP_REASONS.get(choice.get("finish_reason"), "end_turn"),
        "stop_sequence": None, "usage": to_anthropic_usage(data.get("usage")),
    }


def to_anthropic_usage(usage: Any) -> dict[str, Any]:
    usage = usage if isinstance(usage, dict) else {}
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    written = (usage.get("prompt_tokens_details") or {}).get("cache_creation_tokens") or 0
    uncached = (usage.get("prompt_tokens") or 0) - cached - written  # (no max(): a call of it parses keywords)
    return {"input_tokens": uncached if uncached > 0 else 0,
            "output_tokens": usage.get("completion_tokens") or 0,
            "cache_read_input_tokens": cached, "cache_creation_input_tokens": written}


def to_anthropic_error(status: int, data: Any) -> dict[str, Any]:
    error = data.get("error") if isinstance(data, dict) else None
    error = error if isinstance(error, dict) else {}
    kind = ERROR_TYPES.get(status)
    if kind is None and status >= 500:
        kind = error.get("type") if error.get("type") in ("overloaded_error", "timeout_error") else "api_error"
    message = error.get("message") or f"HTTP {status}"
    return {"type": "error", "error": {"type": kind or "invalid_request_error", "message": message}}


def _arguments(arguments: Any) -> Any:
    try:
        return orjson.loads(arguments or "{}")
    except ValueError:
        return {}


async def to_anthropic_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The gateway's OpenAI SSE (chunks, an error event, `[DONE]`) as Anthropic's event sequence."""
    decoder, state = SSEDecoder(), EventState()
    try:
        async for raw in chunks:
            if type(raw) is Frames and decoder.idle:  # chunks parsed already (the gateway's own stream)
                out = b"".join([state.feed_chunk(chunk) for chunk in raw.parsed])
            else:
                out = b"".join([state.feed(event.data) for event in decoder.feed(raw)])
            if out:
                yield out
            if state.done:
                return
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()


class EventState:
    """One stream's translation state: which content block is open, tool index -> block index, usage."""

    def __init__(self) -> None:
        self.started = False
        self.done = False
        self.open: int | None = None  # the content block currently open
        self.blocks = 0
        self.text_block: int | None = None
        self.tool_blocks: dict[int, int] = {}
        self.stop_reason = "end_turn"
        self.usage: dict[str, Any] = {}

    def feed(self, data: bytes) -> bytes:
        if data == b"[DONE]":
            self.done = True
            return self._close() + _event("message_delta", {
                "delta": {"stop_reason": self.stop_reason, "stop_sequence": None},
                "usage": to_anthropic_usage(self.usage)}) + _event("message_stop", {})
        return self.feed_chunk(orjson.loads(data))

    def feed_chunk(self, chunk: Any) -> bytes:
        """One chunk's events, from the chunk parsed (or its text alone: a text chunk, see `sse.Frames`)."""
        if type(chunk) is str:
            return self._text(chunk) if chunk else b""
        if "error" in chunk:
            self.done = True
            return _event("error", {"error": to_anthropic_error(502, chunk)["error"]})
        out = b"" if self.started else self._start(chunk)
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) == 0:
                out += self._choice(choice)
        return out

    def _start(self, chunk: dict[str, Any]) -> bytes:
        self.started = True
        message: dict[str, Any] = {
            "id": chunk.get("id"), "type": "message", "role": "assistant", "model": chunk.get("model"),
            "content": [], "stop_reason": None, "stop_sequence": None, "usage": to_anthropic_usage(None),
        }
        return _event("message_start", {"message": message}) + _event("ping", {})

    def _choice(self, choice: dict[str, Any]) -> bytes:
        delta = choice.get("delta") or {}
        out = b""
        if text := delta.get("content"):
            out += self._text(text)
        for call in delta.get("tool_calls") or ():
            out += self._tool(call)
        if choice.get("finish_reason"):
            self.stop_reason = STOP_REASONS.get(choice["finish_reason"], "end_turn")
        return out

    def _text(self, text: Any) -> bytes:
        out = b""
        if self.text_block is None or self.open != self.text_block:
            out += self._open({"type": "text", "text": ""})
            self.text_block = self.open
        # _event("content_block_delta", {"index": ..., "delta": {"type": "text_delta", "text": text}}), the
        # same bytes written directly: most events of a stream are these
        return out + b"%b%b%b%b}}\n\n" % (_TEXT_DELTA, str(self.open).encode(), _TEXT_DELTA_MIDDLE, orjson.dumps(text))

    def _tool(self, call: dict[str, Any]) -> bytes:
        out = b""
        function = call.get("function") or {}
        index = call.get("index", 0)
        if index not in self.tool_blocks:
            out += self._open({"type": "tool_use", "id": call.get("id"), "name": function.get("name"), "input": {}})
            self.tool_blocks[index] = self.blocks - 1
        if function.get("arguments"):
            delta = {"type": "input_json_delta", "partial_json": function["arguments"]}
            out += _event("content_block_delta", {"index": self.tool_blocks[index], "delta": delta})
        return out

    def _open(self, block: dict[str, Any]) -> bytes:
        out = self._close()
        self.open = self.blocks
        self.blocks += 1
        return out + _event("content_block_start", {"index": self.open, "content_block": block})

    def _close(self) -> bytes:
        if self.open is None:
            return b""
        out = _event("content_block_stop", {"index": self.open})
        self.open = None
        return out


_TEXT_DELTA = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
_TEXT_DELTA_MIDDLE = b',"delta":{"type":"text_delta","text":'


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **data}) + b"\n\n"
