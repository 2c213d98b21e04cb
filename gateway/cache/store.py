"""What the cache keeps, and the small protocol its backends implement.

An `Entry` is one answer in its non-stream OpenAI form (a streamed answer is assembled first, see
`replay`), with who answered and when. Backends store entries by key with a lifetime; they never raise
on the request path: a backend that cannot answer (Redis down or slow) reports a miss and the request
goes upstream. `encode`/`decode` give the compact form a networked backend sends over the wire.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Protocol

FORMAT = 1  # the first byte of an encoded entry; decode() ignores anything else
COMPRESS_FROM = 1024  # bodies at least this long are stored zlib-compressed
_HEAD = struct.Struct(">BBddB")  # format, flags, stored_at, expires_at, provider length
_ZLIB = 1


@dataclass(frozen=True, slots=True)
class Entry:
    body: bytes  # the answer as a non-stream OpenAI JSON body
    provider: str  # the provider that answered it
    stored_at: float  # on the cache's clock (seconds): gives the `age` of a hit
    expires_at: float

    def size(self) -> int:
        """Bytes it takes, roughly: what the memory backend's `max_bytes` counts."""
        return len(self.body) + len(self.provider) + 96


class Store(Protocol):
    """A cache backend. Every method is safe to call on the request path: failures are misses."""

    name: str

    async def get(self, key: str) -> Entry | None: ...

    async def set(self, key: str, entry: Entry) -> None:
        """Keep `entry` until its `expires_at`."""

    async def purge(self, prefix: str) -> int | None:
        """Remove every entry whose key starts with `prefix`; how many, or None when the backend is down."""

    async def lock(self, key: str, seconds: float) -> bool:
        """Claim the upstream call for `key` across replicas, for at most `seconds` (best effort):
        False when another replica holds it. A backend without replicas always says True."""

    async def unlock(self, key: str) -> None: ...

    def stats(self) -> dict[str, int | str]: ...

    async def aclose(self) -> None: ...


def encode(entry: Entry) -> bytes:
    body, flags = entry.body, 0
    if len(body) >= COMPRESS_FROM:
        body, flags = zlib.compress(body, 1), _ZLIB  # JSON shrinks 3-5x at the fastest level
    provider = entry.provider.encode()[:255]
    return _HEAD.pack(FORMAT, flags, entry.stored_at, entry.expires_at, len(provider)) + provider + body


def decode(data: bytes) -> Entry | None:
    """The entry, or None for bytes in another format (an older gateway's, or garbage)."""
    try:
        version, flags, stored_at, expires_at, length = _HEAD.unpack_from(data)
        if version != FORMAT:
            return None
        start = _HEAD.size + length
        body = data[start:]
        if flags & _ZLIB:
            body = zlib.decompress(body)
        return Entry(body, data[_HEAD.size : start].decode(), stored_at, expires_at)
    except (struct.error, zlib.error, UnicodeDecodeError):
        return None
