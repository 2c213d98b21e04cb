"""The Redis backend: one cache for several gateway replicas.

Entries go to Redis in `store.encode`'s compact form, with Redis' own expiry (`PX`). Every command is
bounded by `redis_timeout_s` and never retried: when Redis is slow or down the request is answered from
upstream as if the cache had missed, a warning is logged once per outage, `errors` counts the failures,
and Redis is left alone for `redis_retry_s` before the next command tries it again. The first command
that succeeds after an outage logs that the cache is back.

`lock`/`unlock` are a best-effort claim (`SET NX PX`) so that replicas receiving the same request at
once make one upstream call; a replica that finds the claim taken waits for the entry (see `flight`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from gateway.cache.store import Entry, decode, encode
from gateway.events import NoopObserver, Observer

log = logging.getLogger("gateway.cache")
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
        self.client = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),  # a miss now beats a hit later: no retries on the request path
            health_check_interval=0,
        )
        self.url, self.prefix, self.timeout_s, self.retry_s = url, prefix, timeout_s, retry_s
        self.observer = observer or NoopObserver()
        self.clock = clock
        self.errors = 0
        self.down = False
        self._resting_until = 0.0  # time.monotonic(): no command before then, after a failure
        self._tokens: dict[str, str] = {}  # key -> the token of the lock this process holds

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

        try:
            async with asyncio.timeout(max(5.0, 20 * self.timeout_s)):  # an admin call: longer than a lookup
                result = await purge()
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed("purge", exc)
            return None
        self._recovered()
        return result

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
        await self.client.aclose()

    # -- failure handling -----------------------------------------------------------------------------

    async def _run(self, command: str, call: Callable[[], Awaitable[T]], fallback: T) -> T:
        if self.down and time.monotonic() < self._resting_until:
            return fallback
        try:
            async with asyncio.timeout(self.timeout_s):
                result = await call()
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(command, exc)
            return fallback
        self._recovered()
        return result

    def _failed(self, command: str, exc: BaseException) -> None:
        self.errors += 1
        self._resting_until = time.monotonic() + self.retry_s
        kind = "timeout" if isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__ else "unavailable"
        if not self.down:
            self.down = True
            log.warning("cache: Redis at %s failed (%s on %s: %s); answering from upstream until it is back",
                        _safe(self.url), kind, command, type(exc).__name__)
        self.observer.cache_error(self.name, kind)

    def _recovered(self) -> None:
        if self.down:
            self.down = False
            log.warning("cache: Redis at %s is back; the cache is in use again", _safe(self.url))


def _safe(url: str) -> str:
    """The URL without a password, for logs."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}" if sep else url
