from __future__ import annotations

import random

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


def test_lines_held_at_the_end_are_read_line_by_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"a": 1}\n\nevent: message_stop\ndata: {}') == [SSEEvent(b'{"a": 1}')]
    assert decoder.close() == [SSEEvent(b"{}", "message_stop")]
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\n") == []
    assert decoder.close() == [SSEEvent(b"x")]


def test_field_without_space_and_empty_data() -> None:
    assert SSEDecoder().feed(b"data:x\n\ndata\n\n") == [SSEEvent(b"x"), SSEEvent(b"")]


def test_encode_round_trips() -> None:
    wire = encode(b'{"x":1}') + encode(b"{}", "ping") + DONE
    assert SSEDecoder().feed(wire) == [SSEEvent(b'{"x":1}'), SSEEvent(b"{}", "ping"), SSEEvent(b"[DONE]")]


def test_feed_data_gives_what_feed_gives_or_takes_nothing() -> None:
    """`feed` and `feed_data` (the data of lone `data:` lines, no events made) against the line-by-line parser alone
    (`_feed_lines`), on random streams cut at random."""
    rng = random.Random(7)
    pieces = [b"data: ", b"data:", b"event: x\n", b": c\n", b"\n", b"\n\n", b"\r", b"\r\n", b"a", b"{}", b" ",
              b"data: [DONE]\n\n", b"id: 1\n", b"data: x\n\n", b"data: y\ndata: z\n\n", b"\n\n\n", b"dat", b"a: "]
    taken = 0
    for _ in range(20000):
        if rng.random() < 0.5:
            stream = b"".join(b"data: " + bytes(rng.choice(b'ab {}"') for _ in range(rng.randint(0, 5))) + b"\n\n"
                              for _ in range(rng.randint(0, 8)))
            at = rng.randint(0, len(stream))
            stream = stream[:at] + (rng.choice(pieces) if rng.random() < 0.3 else b"") + stream[at:]
        else:
            stream = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 20)))
        cuts = sorted(rng.randint(0, len(stream)) for _ in range(rng.randint(0, 4)))
        parts = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        plain, fast = SSEDecoder(), SSEDecoder()
        expected: list[tuple[bytes, str | None]] = []
        got: list[tuple[bytes, str | None]] = []
        for part in parts:
            expected += [(e.data, e.event) for e in plain._feed_lines(plain._buffer + part)]
            data = fast.feed_data(part) if rng.random() < 0.7 else None
            if data is not None:
                taken += 1
                got += [(one, None) for one in data]
            else:
                got += [(e.data, e.event) for e in fast.feed(part)]
        expected += [(e.data, e.event) for e in plain.close()]
        got += [(e.data, e.event) for e in fast.close()]
        assert got == expected, parts
    assert taken > 5000
