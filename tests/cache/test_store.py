"""Both backends against the same cases (gateway/cache/memory.py, gateway/cache/redis.py, store.py)."""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import AsyncIterator

import pytest

from gateway.cache.memory import MemoryStore
from gateway.cache.redis import RedisStore
from gateway.cache.store import Entry, Store, decode, encode
from gateway.events import NoopObserver
from tests.cache.redis_server import RedisServer


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Recorder(NoopObserver):
    def __init__(self) -> None:
        self.changes: list[tuple[str, int, int, int]] = []
        self.errors: list[tuple[str, str]] = []

    def cache_changed(self, backend: str, entries: int, size_bytes: int, evicted: int) -> None:
        self.changes.append((backend, entries, size_bytes, evicted))

    def cache_error(self, backend: str, error: str) -> None:
        self.errors.append((backend, error))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, clock: Clock) -> AsyncIterator[Store]:
    if request.param == "memory":
        made: Store = MemoryStore(100, 1 << 20, clock=clock)
    else:
        url = request.getfixturevalue("redis_url")
        made = RedisStore(url, prefix=f"t{uuid.uuid4().hex[:8]}:", clock=clock)
    yield made
    await made.aclose()


def entry(clock: Clock, body: bytes = b'{"id":"x"}', ttl: float = 60.0) -> Entry:
    return Entry(body, "openai-main", clock.now, clock.now + ttl)


def prefixed(store: Store, key: str) -> str:
    return getattr(store, "prefix", "") + key


async def test_set_then_get(store: Store, clock: Clock) -> None:
    key = prefixed(store, "v1:route:*:abc")
    assert await store.get(key) is None
    stored = entry(clock, b'{"big": "' + b"x" * 5000 + b'"}')  # compressed on the way to Redis
    await store.set(key, stored)
    assert await store.get(key) == stored


async def test_entries_expire_on_the_clock(store: Store, clock: Clock) -> None:
    key = prefixed(store, "k")
    await store.set(key, entry(clock, ttl=10))
    clock.now += 9.5
    assert await store.get(key) is not None
    clock.now += 1
    assert await store.get(key) is None


async def test_expired_entry_is_not_stored(store: Store, clock: Clock) -> None:
    key = prefixed(store, "k")
    await store.set(key, Entry(b"{}", "p", clock.now - 20, clock.now - 10))
    assert await store.get(key) is None


async def test_purge_everything_or_one_prefix(store: Store, clock: Clock) -> None:
    keys = [prefixed(store, k) for k in ("v1:a:*:1", "v1:a:*:2", "v1:ab:*:1", "v1:b:*:1")]
    for key in keys:
        await store.set(key, entry(clock))
    assert await store.purge(prefixed(store, "v1:a:")) == 2
    assert [await store.get(k) is not None for k in keys] == [False, False, True, True]
    assert await store.purge(prefixed(store, "")) == 2
    assert all([await store.get(k) is None for k in keys])


def test_encoding_round_trips_and_rejects_other_formats() -> None:
    for body in (b"{}", b'{"text": "' + b"y" * 4000 + b'"}'):
        stored = Entry(body, "prov", 1.5, 2.5)
        data = encode(stored)
        assert decode(data) == stored
        assert len(data) < len(body) + 40
    assert decode(b"\x02" + encode(Entry(b"{}", "p", 1, 2))[1:]) is None
    assert decode(b"garbage") is None


async def test_memory_is_bounded_by_entries_and_bytes() -> None:
    clock, observer = Clock(), Recorder()
    by_count = MemoryStore(3, 1 << 20, observer=observer, clock=clock)
    for i in range(5):
        await by_count.set(f"k{i}", entry(clock))
    assert [await by_count.get(f"k{i}") is not None for i in range(5)] == [False, False, True, True, True]
    assert by_count.stats()["evictions"] == 2
    assert [c[3] for c in observer.changes] == [0, 0, 0, 1, 1]
    assert observer.changes[-1][:2] == ("memory", 3)

    body = b"z" * 400
    by_size = MemoryStore(100, 3 * Entry(body, "openai-main", 0, 1).size(), clock=clock)
    for i in range(4):
        await by_size.set(f"k{i}", entry(clock, body))
    assert by_size.stats()["entries"] == 3 and by_size.stats()["evictions"] == 1
    await by_size.set("huge", entry(clock, b"h" * 10_000))  # larger than the whole cache: not stored
    assert await by_size.get("huge") is None and by_size.stats()["entries"] == 3


async def test_expired_entries_are_not_counted_as_evictions() -> None:
    clock = Clock()
    store = MemoryStore(2, 1 << 20, clock=clock)
    await store.set("a", entry(clock, ttl=1))
    await store.set("b", entry(clock, ttl=1))
    clock.now += 5
    await store.set("c", entry(clock))
    await store.set("d", entry(clock))
    assert store.stats()["evictions"] == 0 and store.stats()["entries"] == 2


async def test_redis_lock_is_held_by_one_replica_at_a_time(redis_url: str) -> None:
    one, two = RedisStore(redis_url, prefix="lock:"), RedisStore(redis_url, prefix="lock:")
    key = f"lock:{uuid.uuid4().hex}"
    try:
        assert await one.lock(key, 5) is True
        assert await two.lock(key, 5) is False
        await two.unlock(key)  # not its lock: nothing happens
        assert await two.lock(key, 5) is False
        await one.unlock(key)
        assert await two.lock(key, 5) is True
        await two.unlock(key)
    finally:
        await one.aclose()
        await two.aclose()
    assert await MemoryStore(1, 100).lock("k", 5) is True


async def test_redis_down_is_a_miss_logged_once_and_it_comes_back(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    clock, observer = Clock(), Recorder()
    store = RedisStore(redis_server.url, retry_s=0, observer=observer, clock=clock)
    caplog.set_level(logging.WARNING, "gateway.cache")
    try:
        await store.set("k", entry(clock))
        assert await store.get("k") is not None
        redis_server.kill()
        for _ in range(3):
            assert await store.get("k") is None  # a miss, never an exception
            await store.set("k2", entry(clock))
        assert await store.lock("k", 5) is True  # no lock to be had: go upstream
        assert await store.purge("") is None
        assert store.errors >= 6 and store.down
        assert {e[0] for e in observer.errors} == {"redis"} and len(observer.errors) == store.errors
        warnings = [r for r in caplog.records if "failed" in r.getMessage()]
        assert len(warnings) == 1 and "answering from upstream" in warnings[0].getMessage()

        redis_server.start()  # same port, empty (no persistence)
        assert await store.get("k") is None
        assert not store.down
        await store.set("k", entry(clock))
        assert await store.get("k") is not None
        assert any("is back" in r.getMessage() for r in caplog.records)
    finally:
        await store.aclose()


async def test_redis_resting_after_a_failure_skips_commands(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url, retry_s=3600)
    try:
        redis_server.kill()
        assert await store.get("k") is None
        assert store.errors == 1
        assert await store.get("k") is None  # not even tried while it rests
        assert store.errors == 1
    finally:
        await store.aclose()


async def test_redis_slow_is_a_miss() -> None:
    """A server that accepts the connection and never answers: each command gives up after the timeout."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        clock = Clock()
        store = RedisStore(f"redis://127.0.0.1:{port}/0", timeout_s=0.05, retry_s=0, clock=clock)
        try:
            assert await store.get("k") is None
            await store.set("k", entry(clock))
            assert store.errors == 2 and store.stats()["up"] == 0
        finally:
            await store.aclose()
