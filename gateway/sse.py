"""Server-Sent Events: an incremental decoder and the encoder. Knows no provider.

    >>> decoder = SSEDecoder()
    >>> decoder.feed(b'event: ping\\ndata: {"a"')
    []
    >>> decoder.feed(b': 1}\\n\\ndata: [DONE]\\n\\n')
    [SSEEvent(data=b'{"a": 1}', event='ping'), SSEEvent(data=b'[DONE]', event=None)]

Bytes arrive in arbitrary pieces; an event is complete at the first blank line. Lines may end in
`\\n`, `\\r\\n` or `\\r` (the SSE spec allows all three). Comments (`: keep-alive`) are dropped; `id` and
`retry` are not used by any LLM API and are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class SSEEvent:
    data: bytes
    event: str | None = None


class SSEDecoder:
    __slots__ = ("_buffer", "_data", "_event")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[bytes] = []
        self._event: str | None = None

    @property
    def idle(self) -> bool:
        """Nothing held from earlier input: the next chunk starts a new event."""
        return not self._buffer and not self._data and self._event is None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        buffer = self._buffer + chunk
        if b"\r" not in buffer and not self._data and self._event is None:
            data = self._data_lines(buffer)
            if data is not None:
                return [SSEEvent(one) for one in data]
            return self._feed_fast(buffer)
        return self._feed_lines(buffer)

    def feed_data(self, chunk: bytes) -> list[bytes] | None:
        """The data of the events `chunk` completes when each is a lone `data: ` line (what OpenAI-style servers
        send): `feed` would give them as nameless events. Otherwise None, and nothing is taken: `feed` it."""
        buffer = self._buffer + chunk
        if b"\r" in buffer or self._data or self._event is not None:
            return None
        return self._data_lines(buffer)

    def _data_lines(self, buffer: bytes) -> list[bytes] | None:
        """`buffer` up to its last blank line as `data: <line>\n\n` events, cut at their separators (one split, a
        search for a newline in what is between them): their data, the rest held. None when it is not that."""
        end = buffer.rfind(b"\n\n")
        if end < 0:
            self._buffer = buffer  # no event complete yet
            return []
        if not buffer.startswith(b"data: "):
            return None
        data = buffer[6:end].split(b"\n\ndata: ")
        if b"\n" in b"".join(data):
            return None
        self._buffer = buffer[end + 2:]
        return data

    def _feed_fast(self, buffer: bytes) -> list[SSEEvent]:
        """Block by block while each is one `data: ` line; the general parser from the first that is not."""
        *blocks, rest = buffer.split(b"\n\n")
        events: list[SSEEvent] = []
        for i, block in enumerate(blocks):
            if block.startswith(b"data: ") and b"\n" not in block:
                events.append(SSEEvent(block[6:]))
            elif block:
                # Anything else (comments, event names, multi-line data): the general parser from here on.
                remainder = b"\n\n".join(blocks[i:]) + b"\n\n" + rest
                return events + self._feed_lines(remainder)
        self._buffer = rest
        return events

    def _feed_lines(self, buffer: bytes) -> list[SSEEvent]:
        hold = b""
        if b"\r" in buffer:
            # A "\r" at the very end may be the first half of "\r\n": decide when more arrives.
            if buffer.endswith(b"\r"):
                buffer, hold = buffer[:-1], b"\r"
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        events: list[SSEEvent] = []
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            self._line(buffer[start:end], events)
            start = end + 1
        self._buffer = buffer[start:] + hold
        return events

    def close(self) -> list[SSEEvent]:
        """End of input: an event not followed by a blank line is still delivered."""
        events: list[SSEEvent] = []
        if self._buffer:
            # line by line: the fast paths hold whole lines too (`event: x\ndata: y` with no blank line after it)
            buffer, self._buffer = self._buffer, b""
            events = self._feed_lines(buffer + b"\n")
            self._buffer = b""
        self._line(b"", events)
        return events

    def _line(self, line: bytes, events: list[SSEEvent]) -> None:
        if not line:
            if self._data:
                events.append(SSEEvent(b"\n".join(self._data), self._event))
            self._data = []
            self._event = None
            return
        if line[0] == 58:  # b":" starts a comment
            return
        field, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if field == b"data":
            self._data.append(value)
        elif field == b"event":
            self._event = value.decode("utf-8", "replace")


class Frames(bytes):
    """Events framed as `data: <payload>\n\n` each, whose payloads were parsed on the way (`parsed`, one per
    event, in order): a reader of such bytes (an entrance translating the gateway's own stream) takes those
    rather than decode and parse the payloads again. To anything else they are the bytes they are.

    An OpenAI chunk is in `parsed` as the dict it parses to, or as a str: the text of a chunk that says
    nothing else (choice 0's `delta.content`; no role, tool call, finish reason, usage or error), which
    comes after a chunk of the same stream given whole (see gateway/providers/base.py `Kept`)."""

    parsed: list[Any]

    @classmethod
    def of(cls, payloads: list[bytes], parsed: list[Any]) -> Frames:
        """`payloads` (not empty) framed, with `parsed[i]` what `payloads[i]` parses to."""
        frames = cls(frame(payloads))
        frames.parsed = parsed
        return frames


def frame(payloads: list[bytes]) -> bytes:
    """Payloads (not empty, none containing a newline) as `data:` events."""
    return b"data: " + b"\n\ndata: ".join(payloads) + b"\n\n"


def encode(data: bytes, event: str | None = None) -> bytes:
    """One event on the wire. `data` must not contain newlines (JSON from json.dumps never does)."""
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


DONE = b"data: [DONE]\n\n"
