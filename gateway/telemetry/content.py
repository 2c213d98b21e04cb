"""Prompt and completion content on spans: off by default, capped in size, through a redaction hook.

The shapes are the GenAI conventions' `gen-ai-input-messages.json` / `gen-ai-output-messages.json`:
`[{"role": "user", "parts": [{"type": "text", "content": "..."}]}]`, serialised as JSON strings because span
attributes cannot hold structures. Input comes from the client's request body; output from the answer the
gateway sent to the client (JSON or SSE), read by the server-span middleware, so it is the same for every
provider behind the gateway.

The redaction hook (`[telemetry] redact = "module:function"`) receives each value before it is capped:

    def redact(attribute: str, value: list[dict]) -> list[dict] | None:
        '''`attribute` is e.g. "gen_ai.input.messages"; return the value to record, or None for nothing.'''

A hook that raises records nothing for that value (it fails closed) and is logged once. Secrets from the
config (provider and gateway keys) are removed from captured content in any case.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from gateway.errors import scrub
from gateway.telemetry import semconv

log = logging.getLogger("gateway.telemetry")

Redactor = Callable[[str, list[dict[str, Any]]], list[dict[str, Any]] | None]
CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_ON = {"true", "1", "yes", "span_only", "span_and_event"}
_OFF = {"false", "0", "no", "no_content", "event_only"}
_TRUNCATED = "...[truncated]"


def capture_enabled(configured: bool, env: Mapping[str, str]) -> bool:
    """The config's `capture_content`, unless the contrib variable says otherwise (both spellings).

    EVENT_ONLY means no content on spans: the gateway emits no content events."""
    value = env.get(CAPTURE_ENV, "").strip().lower()
    if value in _ON:
        return True
    if value in _OFF:
        return False
    return configured


def load_redactor(spec: str) -> Redactor:
    """`"package.module:function"` -> the function. Raises ValueError with a readable reason."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f'expected "module:function", got "{spec}"')
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f'cannot import module "{module_name}": {exc}') from None
    function = getattr(module, attr, None)
    if not callable(function):
        raise ValueError(f'module "{module_name}" has no function "{attr}"')
    redactor: Redactor = function
    return redactor


class ContentCapture:
    """Turns request bodies and answers into the content attributes, redacted and capped."""

    def __init__(self, max_chars: int, redactor: Redactor | None, secrets: list[str]) -> None:
        self.max_chars = max_chars
        self.redactor = redactor
        self.secrets = secrets
        self._hook_failed = False

    def input_attributes(self, operation: str, body: Mapping[str, Any]) -> dict[str, str]:
        """gen_ai.input.messages and gen_ai.tool.definitions of a request. A chat request's system and developer
        messages are part of its history, so they stay in gen_ai.input.messages where they were (the spec keeps
        gen_ai.system_instructions for instructions given apart from the history)."""
        attributes: dict[str, str] = {}
        if operation == "chat":
            messages = body.get("messages")
            self._put(attributes, semconv.INPUT_MESSAGES, _messages(messages if isinstance(messages, list) else []))
            tools = body.get("tools")
            if isinstance(tools, list) and tools:
                self._put(attributes, semconv.TOOL_DEFINITIONS, [_tool(t) for t in tools if isinstance(t, dict)])
        elif operation == "text_completion":
            prompt = body.get("prompt")
            prompts = prompt if isinstance(prompt, list) else [prompt]
            parts = [_text(p) for p in prompts if isinstance(p, str)]
            self._put(attributes, semconv.INPUT_MESSAGES, [{"role": "user", "parts": parts}] if parts else [])
        return attributes

    def output_attributes(self, messages: list[dict[str, Any]]) -> dict[str, str]:
        attributes: dict[str, str] = {}
        self._put(attributes, semconv.OUTPUT_MESSAGES, messages)
        return attributes

    def _put(self, attributes: dict[str, str], name: str, value: list[dict[str, Any]]) -> None:
        if not value:
            return
        if self.redactor is not None:
            try:
                redacted = self.redactor(name, value)
            except Exception as exc:  # fail closed: record nothing rather than unredacted text
                if not self._hook_failed:
                    self._hook_failed = True
                    log.error("the telemetry redact hook raised %s; content it was given is not recorded "
                              "(logged once)", type(exc).__name__)
                return
            if not redacted:
                return
            value = redacted
        text = json.dumps(_cap(value, self.max_chars), ensure_ascii=False, separators=(",", ":"))
        if len(text) > 4 * self.max_chars:  # many messages: keep the latest ones, they say the most
            kept = list(value)
            while len(kept) > 1 and len(text) > 4 * self.max_chars:
                kept.pop(0)
                text = json.dumps(_cap(kept, self.max_chars), ensure_ascii=False, separators=(",", ":"))
        attributes[name] = scrub(text, self.secrets)


def _cap(value: Any, limit: int) -> Any:
    """Every string inside `value` cut to `limit` characters; the JSON structure is kept."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + _TRUNCATED
    if isinstance(value, list):
        return [_cap(v, limit) for v in value]
    if isinstance(value, dict):
        return {k: _cap(v, limit) for k, v in value.items()}
    return value


def _text(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [_text(content)] if content else []
    parts: list[dict[str, Any]] = []
    for item in content if isinstance(content, list) else []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "text" and isinstance(item.get("text"), str):
            parts.append(_text(item["text"]))
        elif isinstance(item.get("type"), str):  # images, audio, files: say what it was, not the bytes
            parts.append({"type": "generic", "content_type": item["type"]})
    return parts


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's `{"type": "function", "function": {"name", ...}}` as the conventions' flat tool definition."""
    function = tool.get("function")
    if isinstance(function, dict):
        return {"type": tool.get("type") or "function",
                **{k: function[k] for k in ("name", "description", "parameters") if k in function}}
    return tool


def _messages(messages: list[Any]) -> list[dict[str, Any]]:
    """Chat messages in the conventions' shape, in order; a developer message is a system one."""
    others: list[dict[str, Any]] = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = "system" if message.get("role") == "developer" else message.get("role")
        parts = _parts(message.get("content"))
        for call in message.get("tool_calls") or ():
            if isinstance(call, dict) and isinstance(call.get("function"), dict):
                parts.append(_tool_call(call.get("id"), call["function"]))
        if role == "tool":
            parts = [{"type": "tool_call_response", "id": message.get("tool_call_id"),
                      "response": message.get("content")}]
        others.append({"role": role, "parts": parts})
    return others


def _tool_call(call_id: Any, function: dict[str, Any]) -> dict[str, Any]:
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            pass
    return {"type": "tool_call", "id": call_id, "name": function.get("name"), "arguments": arguments}


class OutputCollector:
    """Reads the answer the gateway sends to the client, JSON or SSE, into output messages.

    Fed the body bytes as they go out (only when content capture is on); `messages()` at the end."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit = limit_bytes
        self.buffer = bytearray()
        self.stream = False
        self.choices: dict[int, dict[str, Any]] = {}
        self._pending = b""

    def feed(self, data: bytes, content_type: str) -> None:
        if content_type.startswith("text/event-stream"):
            self.stream = True
            self._feed_sse(data)
        elif len(self.buffer) < self.limit:
            self.buffer += data

    def _feed_sse(self, data: bytes) -> None:
        lines = (self._pending + data).split(b"\n")
        self._pending = lines.pop()
        for line in lines:
            if line.startswith(b"data:") and line[5:].strip() not in (b"", b"[DONE]"):
                try:
                    chunk = json.loads(line[5:])
                except ValueError:
                    continue
                if isinstance(chunk, dict):
                    for choice in chunk.get("choices") or ():
                        if isinstance(choice, dict):
                            self._add_delta(choice)

    def _add_delta(self, choice: dict[str, Any]) -> None:
        index = choice.get("index", 0)
        state = self.choices.setdefault(index if isinstance(index, int) else 0,
                                        {"text": [], "tools": {}, "finish": None})
        if sum(len(t) for t in state["text"]) > self.limit:
            return
        delta = choice.get("delta")
        text = delta.get("content") if isinstance(delta, dict) else choice.get("text")
        if isinstance(text, str):
            state["text"].append(text)
        for call in (delta.get("tool_calls") if isinstance(delta, dict) else None) or ():
            if not isinstance(call, dict):
                continue
            slot = state["tools"].setdefault(call.get("index", 0), {"id": None, "name": None, "arguments": []})
            function: dict[str, Any] = call["function"] if isinstance(call.get("function"), dict) else {}
            slot["id"] = call.get("id") or slot["id"]
            slot["name"] = function.get("name") or slot["name"]
            if isinstance(function.get("arguments"), str):
                slot["arguments"].append(function["arguments"])
        if isinstance(choice.get("finish_reason"), str):
            state["finish"] = choice["finish_reason"]

    def messages(self) -> list[dict[str, Any]]:
        if self.stream:
            return [self._streamed(i, self.choices[i]) for i in sorted(self.choices)]
        try:
            body = json.loads(bytes(self.buffer))
        except ValueError:
            return []
        out: list[dict[str, Any]] = []
        for choice in body.get("choices") or () if isinstance(body, dict) else ():
            if not isinstance(choice, dict):
                continue
            message: dict[str, Any] = choice["message"] if isinstance(choice.get("message"), dict) else {}
            parts = _parts(message.get("content")) if message else _parts(choice.get("text"))
            for call in message.get("tool_calls") or ():
                if isinstance(call, dict) and isinstance(call.get("function"), dict):
                    parts.append(_tool_call(call.get("id"), call["function"]))
            out.append({"role": message.get("role", "assistant"), "parts": parts,
                        "finish_reason": choice.get("finish_reason") or "error"})
        return out

    @staticmethod
    def _streamed(index: int, state: dict[str, Any]) -> dict[str, Any]:
        parts = _parts("".join(state["text"]))
        for _, slot in sorted(state["tools"].items()):
            function = {"name": slot["name"], "arguments": "".join(slot["arguments"])}
            parts.append(_tool_call(slot["id"], function))
        # A choice whose stream ended without a finish reason was cut: the conventions say "error".
        return {"role": "assistant", "parts": parts, "finish_reason": state["finish"] or "error"}
