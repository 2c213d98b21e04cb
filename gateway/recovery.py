"""Resuming a stream that broke after text reached the client. Pure: chunks in, chunks out.

Two ways to continue on another target:

- prefill: the target gets the original request plus the text delivered so far as a trailing assistant
  message, and writes only the continuation;
- regeneration: the target answers the original request again; the text the client already has is
  skipped, and the answer goes on from there, provided the new answer starts with that text.

    >>> c = Continuation("chatcmpl-1", skip="Hello wor")
    >>> c.feed(b'{"id":"x","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"}}]}')
    []
    >>> c.feed(b'{"id":"x","choices":[{"index":0,"delta":{"content":" world!"}}]}')
    [b'{"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":"ld!"}}]}']
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.providers.base import Call


class Diverged(Exception):
    """The regenerated answer does not start with the text the client already has."""


def can_resume(call: Call, tool_calls: bool, several_choices: bool) -> bool:
    """Only a single text answer can be resumed: tool-call arguments and n > 1 cannot be stitched."""
    return call.operation in ("chat", "text_completion") and not tool_calls and not several_choices


def prefill_call(call: Call, delivered: str, extra: dict[str, Any]) -> Call | None:
    """The original request, asking the model to continue `delivered`; None when it cannot be expressed."""
    body = {**call.body, **extra}
    if call.operation == "chat":
        body["messages"] = [*call.body["messages"], {"role": "assistant", "content": delivered}]
    elif isinstance(call.body.get("prompt"), str):
        body["prompt"] = call.body["prompt"] + delivered
    else:
        return None
    return Call(call.operation, body, stream=True)


class Continuation:
    """Rewrites a recovery attempt's chunks so that the client's stream reads as one answer.

    Keeps the stream's original id, drops the second role announcement, and skips `skip` (the text the
    client already has, when regenerating). `forwarded` collects the text that went on to the client.
    """

    def __init__(self, stream_id: str | None, skip: str = "") -> None:
        self.stream_id = stream_id
        self.skip = skip
        self.forwarded: list[str] = []

    def feed(self, payload: bytes) -> list[bytes]:
        chunk = orjson.loads(payload)
        if self.stream_id:
            chunk["id"] = self.stream_id
        keep = bool(chunk.get("usage"))
        for choice in chunk.get("choices") or ():
            keep = self._choice(choice) or keep
        if not keep:
            return []
        return [orjson.dumps(chunk)]

    def _choice(self, choice: dict[str, Any]) -> bool:
        """Rewrite one choice in place; True when it still carries something for the client."""
        delta = choice.get("delta")
        holder, key = (delta, "content") if isinstance(delta, dict) else (choice, "text")
        if isinstance(delta, dict):
            delta.pop("role", None)
        text = holder.get(key)
        if isinstance(text, str) and text and self.skip:
            if self.skip.startswith(text):
                self.skip, text = self.skip[len(text) :], ""
            elif text.startswith(self.skip):
                self.skip, text = "", text[len(self.skip) :]
            else:
                raise Diverged
            holder[key] = text
        if choice.get("finish_reason") and self.skip:
            raise Diverged  # the new answer ended before it caught up with the old one
        if isinstance(text, str) and text:
            self.forwarded.append(text)
            return True
        return bool(choice.get("finish_reason")) or bool(isinstance(delta, dict) and delta.get("tool_calls"))
