"""One parse of each stream chunk: the text chunks an `OpenAIStream` knows without parsing them (`TextChunk`), the
chunks it keeps for the stream's reader (`Kept`), and the entrances reading them from `sse.Frames`.

The fast ways are checked against the plain ones on the same input: an `OpenAIStream` that learns no text chunk
(`tries = 0`) parses and checks every chunk, as it always did; an entrance given plain bytes decodes and parses."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from typing import Any

import orjson

from gateway.entrances.messages import to_anthropic_events
from gateway.entrances.responses import to_response_events
from gateway.errors import UpstreamError
from gateway.providers.base import Kept
from gateway.providers.openai import OpenAIStream, TextChunk
from gateway.sse import DONE, Frames, SSEEvent, frame

BASE = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m", "system_fingerprint": "fp"}
PIECES = ["", "a", " hi", "é", "日本", '"', "\\", "\n", "\u2028", "\x00", '"content":"x"', "}", "null", "😀", "\\u0041"]


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {**BASE, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], **extra}


def _payloads(rng: random.Random) -> list[bytes]:
    """A random stream: mostly text chunks, spelt in several ways, with some that are not (and some broken)."""
    dumps = [orjson.dumps, lambda o: json.dumps(o).encode(), lambda o: json.dumps(o, ensure_ascii=False).encode()]
    spell = rng.choice(dumps)
    out = [spell(_chunk({"role": "assistant", "content": ""}))]
    for _ in range(rng.randint(1, 20)):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 3)))
        raw = spell(_chunk({"content": text}))
        kind = rng.random()
        if kind < 0.05:
            raw = raw[: rng.randint(0, len(raw))]
        elif kind < 0.1:
            raw = raw.replace(b'"content":', b'"content":"x","content":', 1)
        elif kind < 0.15:
            raw = raw.replace(b'"content":', b'"content":"x","content":', 1)
            raw = raw.replace(b'"content":"x",', b"", 1).replace(b'"delta":{', b'"delta":{"content":5,', 1)
        elif kind < 0.2:
            at = rng.randint(0, len(raw))
            raw = raw[:at] + rng.choice([b" ", b'"', b"\\", b"}", b",", b"\xff"]) + raw[at:]
        elif kind < 0.25:
            raw = spell(_chunk({"content": text}, obfuscation="x" * rng.randint(0, 4)))
        elif kind < 0.3:
            raw = spell(_chunk({"content": 5}))
        elif kind < 0.33:
            raw = spell(_chunk({"content": text}, usage={"prompt_tokens": 1, "completion_tokens": 2}))
        elif kind < 0.35:
            raw = spell(_chunk({"content": text}, error={"message": "broken"}))
        elif kind < 0.4:
            spell = rng.choice(dumps)
        out.append(raw)
    out.append(spell(_chunk({}, "stop")))
    out.append(b"[DONE]")
    return out


def _run(payloads: list[bytes], learn: bool) -> tuple[list[Any], OpenAIStream]:
    stream = OpenAIStream("p", strip_usage=True)
    if not learn:
        stream.tries = 0
    log: list[Any] = []
    for payload in payloads:
        try:
            log.append(stream.feed(SSEEvent(payload)))
        except UpstreamError as exc:
            log.append((type(exc).__name__, str(exc)))
            break
        facts = stream.facts
        log.append((facts.response_id, facts.response_model, list(facts.finish_reasons), facts.input_tokens,
                    facts.content_started, facts.malformed_events, list(facts.text), facts.tool_calls,
                    facts.several_choices, stream.finished))
    return log, stream


def test_text_chunks_known_without_a_parse_are_what_a_parse_makes_of_them() -> None:
    rng = random.Random(19)
    known = 0
    for _ in range(3000):
        payloads = _payloads(rng)
        plain, _ = _run(payloads, learn=False)
        fast, stream = _run(payloads, learn=True)
        assert fast == plain, payloads
        passed = [p for entry in fast if isinstance(entry, list) for p in entry]
        known += sum(isinstance(chunk, str) for chunk in stream.kept.chunks)
        taken = stream.kept.take(passed)
        assert taken is not None
        for kept, payload in zip(taken, passed, strict=True):
            parsed = orjson.loads(payload)
            if isinstance(kept, str):  # a text chunk, kept as its text: a chunk that says nothing else
                assert TextChunk.text_choice(parsed) is not None and "error" not in parsed
                assert parsed["choices"][0]["delta"]["content"] == kept
            else:
                assert kept == parsed
    assert known > 10000  # the fast way was taken, and often


def test_a_text_chunk_is_learnt_once_and_then_known() -> None:
    stream = OpenAIStream("p")
    stream.feed(SSEEvent(orjson.dumps(_chunk({"role": "assistant", "content": ""}))))
    assert stream.like is None  # not a text chunk: a role in its delta
    stream.feed(SSEEvent(orjson.dumps(_chunk({"content": "Hello"}))))
    assert stream.like is not None and stream.tries == 2
    assert stream.feed(SSEEvent(orjson.dumps(_chunk({"content": ' "world"'})))) == [orjson.dumps(_chunk(
        {"content": ' "world"'}))]
    assert stream.facts.text == ["Hello", ' "world"'] and stream.tries == 2
    assert stream.kept.chunks[-1] == ' "world"'


def test_a_duplicate_key_is_not_mistaken_for_the_text() -> None:
    # The text's spelling is found in the chunk, but the value that counts is the later duplicate: the probe sees it
    raw = orjson.dumps(_chunk({"content": "Hi"})).replace(b'"content":"Hi"', b'"content":"Hi","content":"Hi"')
    stream = OpenAIStream("p")
    stream.feed(SSEEvent(raw))
    assert stream.like is not None
    later = raw.replace(b'"content":"Hi","content":"Hi"', b'"content":"Hi","content":"Yo"')
    stream.feed(SSEEvent(later))
    assert stream.facts.text == ["Hi", "Yo"]
    first = orjson.dumps(_chunk({"content": "Hi"})).replace(b'"content":"Hi"', b'"content":"Hi","content":"Ho"')
    stream = OpenAIStream("p")
    stream.feed(SSEEvent(first))  # the text "Ho" is the last one: learnt at the right place
    stream.feed(SSEEvent(first.replace(b'"Ho"', b'"He"')))
    assert stream.facts.text == ["Ho", "He"]


def test_kept_chunks_answer_only_for_the_payloads_kept_first() -> None:
    kept = Kept()
    kept.payloads += [b"a", b"b", b"c"]
    kept.chunks += [1, 2, 3]
    assert kept.take([b"a"]) == [1]
    assert kept.take([b"b", b"c"], build=False) is None and kept.payloads == []
    kept.payloads.append(b"d")
    kept.chunks.append(4)
    assert kept.take([b"x"]) is None and kept.payloads == [] and kept.chunks == []  # out of step: of no use
    kept.payloads += [b"%d" % i for i in range(Kept.LIMIT + 5)]
    kept.chunks += list(range(Kept.LIMIT + 5))
    kept.bound()
    assert kept.payloads == [] and kept.chunks == []


async def _chunks(pieces: list[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


async def _drain(events: AsyncIterator[bytes]) -> bytes:
    return b"".join([event async for event in events])


def test_the_entrances_read_frames_as_they_read_the_bytes() -> None:
    rng = random.Random(3)
    for _ in range(300):
        stream = OpenAIStream("p")
        batches: list[list[bytes]] = []
        for payload in _payloads(rng)[:-1]:
            try:
                batch = stream.feed(SSEEvent(payload))
            except UpstreamError:
                break
            if batch and (not batches or rng.random() < 0.3):
                batches.append([])
            if batch:
                batches[-1] += batch
        framed = [Frames.of(batch, stream.kept.take(batch) or []) for batch in batches]
        assert all(piece == frame(batch) for piece, batch in zip(framed, batches, strict=True))
        plain = [bytes(piece) for piece in framed]
        tail = [DONE] if rng.random() < 0.8 else []
        for translate in (lambda c: to_anthropic_events(c),
                          lambda c: to_response_events(c, {"model": "m", "input": "x"}, "resp_1", 0)):
            assert asyncio.run(_drain(translate(_chunks([*framed, *tail])))) == asyncio.run(
                _drain(translate(_chunks([*plain, *tail]))))
