from __future__ import annotations

import pytest

from gateway.sse import DONE, SSEDecoder, SSEEvent, encode

STREAM = (
    b": keep-alive\n\n"
    b'data: {"a": 1}\n\n'
    b"event: message_start\r\n"
    b'data: {"b":\r\n'
    b"data: 2}\r\n\r\n"
    b"id: 7\rretry: 100\rdata: [DONE]\r\r"
)
EXPECTED = [SSEEvent(b'{"a": 1}'), SSEEvent(b'{"b":\n2}', "message_start"), SSEEvent(b"[DONE]")]


def test_whole_stream() -> None:
    decoder = SSEDecoder()
    # The last "\r" could still be the start of "\r\n": that blank line is confirmed by more bytes or the end.
    assert decoder.feed(STREAM) + decoder.close() == EXPECTED


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 13])
def test_any_split_gives_the_same_events(size: int) -> None:
    decoder = SSEDecoder()
    events = []
    for i in range(0, len(STREAM), size):
        events += decoder.feed(STREAM[i : i + size])
    events += decoder.close()
    assert events == EXPECTED


def test_event_without_blank_line_is_delivered_on_close() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: last") == []
    assert decoder.close() == [SSEEvent(b"last")]


def test_field_without_space_and_empty_data() -> None:
    assert SSEDecoder().feed(b"data:x\n\ndata\n\n") == [SSEEvent(b"x"), SSEEvent(b"")]


def test_encode_round_trips() -> None:
    wire = encode(b'{"x":1}') + encode(b"{}", "ping") + DONE
    assert SSEDecoder().feed(wire) == [SSEEvent(b'{"x":1}'), SSEEvent(b"{}", "ping"), SSEEvent(b"[DONE]")]
