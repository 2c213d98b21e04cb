"""The Redis backend: one cache for several gateway replicas.

Entries go to Redis in `store.encode`'s compact form, with Redis' own expiry (`PX`). Every command follows
`state.redis.RedisConnection`'s rules (bounded by `redis_timeout_s`, never retried, a warning once per
outage, Redis left alone for `redis_retry_s` after a failure): when Redis is slow or down the request is
answered from upstream as if the cache had missed, and `errors` counts the failures.

`lock`/`unlock` are a best-effort claim (`SET NX PX`) so that replicas receiving the same request at
once make one upstream call; a replica that finds the claim taken waits for the entry (see `flight`).
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from gateway.cache.store import Entry, decode, encode
from gateway.events import NoopObserver, Observer
from gateway.state import StateUnavailableError
from gateway.state.redis import RedisConnection

T = TypeVar("T")

# Delete the lock only if it is still ours: it may have expired and been taken by another replica.
_UNLOCK = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
_GLOB = str.maketrans({c: "\\" + c for c in "*?[]\\"})


class RedisStore:
    name = "redis"

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "",
        timeout_s: float = 0.25,
        retry_s: float = 1.0,
        observer: Observer | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.observer = observer or NoopObserver()
        self.connection = RedisConnection(
            url, feature="cache", meanwhile="answering from upstream", back="the cache is in use again",
            timeout_s=timeout_s, retry_s=retry_s, on_error=lambda kind: self.observer.cache_error(self.name, kind),
        )
        self.client = self.connection.client
        self.url, self.prefix, self.timeout_s, self.retry_s = url, prefix, timeout_s, retry_s
        self.clock = clock
        self._tokens: dict[str, str] = {}  # key -> the token of the lock this process holds

    @property
    def errors(self) -> int:
        return self.connection.errors

    @property
    def down(self) -> bool:
        return self.connection.down

    async def get(self, key: str) -> Entry | None:
        data = await self._run("get", lambda: self.client.get(key), None)
        entry = decode(data) if isinstance(data, bytes) else None
        if entry is None or entry.expires_at <= self.clock():
            return None  # Redis expires it too; the clock check keeps both backends on one clock
        return entry

    async def set(self, key: str, entry: Entry) -> None:
        ttl_ms = math.ceil((entry.expires_at - self.clock()) * 1000)
        if ttl_ms > 0:
            await self._run("set", lambda: self.client.set(key, encode(entry), px=ttl_ms), None)

    async def purge(self, prefix: str) -> int | None:
        """Every key under `prefix` (SCAN, then UNLINK in batches); None when Redis could not be reached."""

        async def purge() -> int:
            removed = 0
            batch: list[bytes] = []
            async for key in self.client.scan_iter(match=prefix.translate(_GLOB) + "*", count=500):
                batch.append(key)
                if len(batch) >= 500:
                    removed += await self.client.unlink(*batch)
                    batch = []
            if batch:
                removed += await self.client.unlink(*batch)
            return removed

        try:  # an admin call: longer than a lookup
            return await self.connection.run("purge", purge, timeout_s=max(5.0, 20 * self.timeout_s))
        except StateUnavailableError:
            return None

    async def lock(self, key: str, seconds: float) -> bool:
        if seconds <= 0:
            return True
        token = secrets.token_hex(8)
        unusable: bool | str | bytes | None = True  # Redis down: go upstream, as without a lock
        claimed = await self._run(
            "lock", lambda: self.client.set(key + ":lock", token, nx=True, px=max(1, int(seconds * 1000))), unusable
        )
        if claimed is True:
            self._tokens[key] = token
        return claimed is not None  # taken by another replica: None; Redis unusable: the fallback, True

    async def unlock(self, key: str) -> None:
        token = self._tokens.pop(key, None)
        if token is not None:
            await self._run("unlock", lambda: self.client.eval(_UNLOCK, 1, key + ":lock", token), None)

    def stats(self) -> dict[str, int | str]:
        return {"backend": self.name, "errors": self.errors, "up": int(not self.down)}

    async def aclose(self) -> None:
        await self.connection.aclose()

    async def _run(self, command: str, call: Callable[[], Awaitable[T]], fallback: T) -> T:
        """Redis slow or down: the fallback (a miss), never a failed request (RedisConnection logs it)."""
        try:
            return await self.connection.run(command, call)
        except StateUnavailableError:
            return fallback
