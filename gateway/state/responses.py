"""Stored responses (the Responses API's `store`): each response the gateway gave, kept for `previous_response_id`,
`GET /v1/responses/{id}` and `DELETE /v1/responses/{id}`.

A record belongs to the gateway key that made it (`owner`, its name; "" on an open gateway): the store is
keyed by owner and id, so another key finds nothing (404), as if the id did not exist. In memory: a bounded
first-in-first-out cache (cachetools) per process, each record with its expiry. In Redis: one string per record
with Redis' own expiry, shared by every replica; a Redis that is down or slow raises `StateUnavailableError` (the
endpoint answers a clear 503).

    >>> store = MemoryResponses(max_entries=10, ttl_s=60, max_bytes=1 << 20)
    >>> asyncio.run(store.put("team-a", "resp_1", {"response": {"id": "resp_1"}}))
    >>> asyncio.run(store.get("team-a", "resp_1")), asyncio.run(store.get("team-b", "resp_1"))
    ({'response': {'id': 'resp_1'}}, None)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import quote

import orjson
from cachetools import FIFOCache

from gateway.state.redis import RedisConnection


class ResponseStore(Protocol):
    name: str

    async def put(self, owner: str, response_id: str, record: dict[str, Any] | bytes) -> None:
        """Keep `record`: an object, or one already serialized (JSON bytes of an object)."""

    async def get(self, owner: str, response_id: str) -> dict[str, Any] | None: ...

    async def delete(self, owner: str, response_id: str) -> bool: ...

    async def aclose(self) -> None: ...


class MemoryResponses:
    """Every record lives `ttl_s` from when it was stored, so the oldest stored is the first to expire: a FIFO cache
    bounded in bytes drops the oldest first, as a TTL cache would, and a record found past its expiry is gone
    (it counts against the bound until newer records push it out, or it is found). `cachetools.TTLCache` kept
    a second order for the expiries and cost about 35K instructions a store once full, against about 18K here
    (issue 19, bench/README.md, stop 28)."""

    name = "memory"

    def __init__(self, max_entries: int, ttl_s: float, max_bytes: int = 64 << 20,
                 clock: Callable[[], float] = time.monotonic) -> None:
        # One bound for both limits: an entry weighs its size, but at least an even share of `max_bytes`, so
        # there are never more than `max_entries` and never more than `max_bytes` of records. The oldest go first.
        share = max(1, max_bytes // max_entries)
        self.ttl_s, self.clock = ttl_s, clock
        self.records: FIFOCache[tuple[str, str], tuple[float, bytes]] = FIFOCache(
            max_bytes, getsizeof=lambda entry: size if (size := len(entry[1])) > share else share)  # (not max(): 1K)

    async def put(self, owner: str, response_id: str, record: dict[str, Any] | bytes) -> None:
        # serialized: a copy, later changes to `record` stay out
        value = record if isinstance(record, bytes) else orjson.dumps(record)
        self.records[(owner, response_id)] = (self.clock() + self.ttl_s, value)

    async def get(self, owner: str, response_id: str) -> dict[str, Any] | None:
        key = (owner, response_id)
        found = self.records.get(key)
        if found is None:
            return None
        if found[0] <= self.clock():
            del self.records[key]  # expired
            return None
        return dict(orjson.loads(found[1]))

    async def delete(self, owner: str, response_id: str) -> bool:
        found = self.records.pop((owner, response_id), None)
        return found is not None and found[0] > self.clock()

    async def aclose(self) -> None:
        return None


class RedisResponses:
    name = "redis"

    def __init__(self, connection: RedisConnection, *, prefix: str, ttl_s: float) -> None:
        self.connection = connection
        self.prefix = prefix
        self.ttl_ms = max(1, int(ttl_s * 1000))

    def _key(self, owner: str, response_id: str) -> str:
        return f"{self.prefix}{quote(owner, safe='')}:{quote(response_id, safe='')}"

    async def put(self, owner: str, response_id: str, record: dict[str, Any] | bytes) -> None:
        key, value = self._key(owner, response_id), record if isinstance(record, bytes) else orjson.dumps(record)
        await self.connection.run("put", lambda: self.connection.client.set(key, value, px=self.ttl_ms))

    async def get(self, owner: str, response_id: str) -> dict[str, Any] | None:
        key = self._key(owner, response_id)
        found = await self.connection.run("get", lambda: self.connection.client.get(key))
        return None if found is None else dict(orjson.loads(found))

    async def delete(self, owner: str, response_id: str) -> bool:
        key = self._key(owner, response_id)
        return bool(await self.connection.run("delete", lambda: self.connection.client.delete(key)))

    async def aclose(self) -> None:
        await self.connection.aclose()


def build_response_store(backend: str, *, redis_url: str, prefix: str, max_entries: int, ttl_s: float,
                         timeout_s: float, on_error: Any = None, max_bytes: int = 64 << 20) -> ResponseStore:
    if backend == "redis":
        connection = RedisConnection(
            redis_url, feature="responses", meanwhile="stored responses are unavailable (503)",
            back="stored responses are served again", timeout_s=timeout_s, retry_s=1.0,
            on_error=on_error or (lambda kind: None),
        )
        return RedisResponses(connection, prefix=prefix, ttl_s=ttl_s)
    return MemoryResponses(max_entries, ttl_s, max_bytes)
