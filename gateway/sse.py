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
            return self._feed_fast(buffer)
        return self._feed_lines(buffer)

    def _feed_fast(self, buffer: bytes) -> list[SSEEvent]:
        """The common framing, `data: <one line>\n\n` per event, without walking line by line."""
        *blocks, rest = buffer.split(b"\n\n")
        # Every block one `data: ` line (what OpenAI-style servers send): the newlines are the separators' alone
        # and each separator is followed by `data: `. Three counts in C rather than a test per block in Python.
        end, n = len(buffer) - len(rest), len(blocks)
        if (n and buffer.count(b"\n", 0, end) == 2 * n and buffer.startswith(b"data: ")
                and buffer.count(b"\n\ndata: ", 0, end) == n - 1):
            self._buffer = rest
            return [SSEEvent(block[6:]) for block in blocks]
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
            self._line(self._buffer.rstrip(b"\r"), events)
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


def encode(data: bytes, event: str | None = None) -> bytes:
    """One event on the wire. `data` must not contain newlines (JSON from json.dumps never does)."""
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


DONE = b"data: [DONE]\n\n"
