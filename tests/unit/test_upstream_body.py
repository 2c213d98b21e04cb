"""gateway/upstream.py's bounded body reading: decoded size limited by `max_response_bytes`, gzip decoded in
bounded steps (a gzip bomb never unpacks in one piece), several gzip members, and corrupt data as a 502."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.errors import UpstreamProtocolError
from gateway.upstream import iter_body, read_body

MB = 1024 * 1024


class Chunks(httpx.AsyncByteStream):
    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


def response(*chunks: bytes, encoding: str | None = None) -> httpx.Response:
    headers = {"content-encoding": encoding} if encoding else {}
    return httpx.Response(200, headers=headers, stream=Chunks(*chunks))


async def pieces(resp: httpx.Response, limit: int) -> list[bytes]:
    return [piece async for piece in iter_body(resp, limit, "p")]


def test_a_gzip_bomb_unpacks_in_small_steps_and_stops_at_the_limit() -> None:
    member = gzip.compress(bytes(MB), 9)
    bomb = member * 64  # 64 MB decoded from ~64 KB sent, in one network read
    seen: list[int] = []

    async def run() -> None:
        async for piece in iter_body(response(bomb, encoding="gzip"), 8 * MB, "p"):
            seen.append(len(piece))

    with pytest.raises(UpstreamProtocolError, match="max_response_bytes"):
        asyncio.run(run())
    assert max(seen) <= 64 * 1024 and sum(seen) <= 8 * MB


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "deflate"])
def test_compressed_bodies_decode_whole(encoding: str) -> None:
    body = b'{"text": "' + b"abc" * 100_000 + b'"}'
    packed = zlib.compress(body) if encoding == "deflate" else gzip.compress(body[:7]) + gzip.compress(body[7:])
    split = [packed[i:i + 1000] for i in range(0, len(packed), 1000)]
    assert asyncio.run(read_body(response(*split, encoding=encoding), MB, "p")) == body


def test_plain_bodies_count_too() -> None:
    assert asyncio.run(read_body(response(b"a" * 10, b"b" * 10), 20, "p")) == b"a" * 10 + b"b" * 10
    with pytest.raises(UpstreamProtocolError, match="more than 19 bytes"):
        asyncio.run(read_body(response(b"a" * 10, b"b" * 10), 19, "p"))


def test_corrupt_gzip_is_a_502() -> None:
    with pytest.raises(UpstreamProtocolError, match="does not decompress"):
        asyncio.run(pieces(response(b"\x1f\x8b\x08\x00garbage" * 10, encoding="gzip"), MB))
