"""The stored responses' stores: MemoryResponses, and RedisResponses on a real redis-server (shared by
replicas, expiring with Redis' own TTL, failing fast with StateUnavailableError when Redis is gone)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from gateway.state import StateUnavailableError
from gateway.state.responses import MemoryResponses, ResponseStore, build_response_store
from tests.cache.redis_server import RedisServer

RECORD = {"response": {"id": "resp_1", "output": []}, "messages": [{"role": "user", "content": "hi"}]}


def redis_store(url: str, ttl_s: float = 60, errors: list[str] | None = None) -> ResponseStore:
    return build_response_store("redis", redis_url=url, prefix=f"test-{uuid.uuid4().hex[:12]}:", max_entries=10,
                                ttl_s=ttl_s, timeout_s=0.25,
                                on_error=errors.append if errors is not None else None)


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[ResponseStore]:
    made = redis_store(request.getfixturevalue("redis_url")) if request.param == "redis" else MemoryResponses(10, 60)
    try:
        yield made
    finally:
        await made.aclose()


async def test_a_record_belongs_to_its_owner(store: ResponseStore) -> None:
    await store.put("team-a", "resp_1", RECORD)
    assert await store.get("team-a", "resp_1") == RECORD
    assert await store.get("team-b", "resp_1") is None
    assert await store.get("team-a", "resp_2") is None
    assert await store.delete("team-b", "resp_1") is False  # another key cannot delete it either
    assert await store.delete("team-a", "resp_1") is True
    assert await store.get("team-a", "resp_1") is None
    assert await store.delete("team-a", "resp_1") is False


async def test_owner_and_id_cannot_be_confused(store: ResponseStore) -> None:
    await store.put("a:b", "c", RECORD)
    assert await store.get("a", "b:c") is None  # Redis keys quote both parts


async def test_a_record_is_a_copy(store: ResponseStore) -> None:
    record = {"response": {"id": "resp_1"}, "messages": []}
    await store.put("", "resp_1", record)
    record["messages"].append({"role": "user", "content": "later"})
    assert await store.get("", "resp_1") == {"response": {"id": "resp_1"}, "messages": []}


async def test_memory_is_bounded_and_expires() -> None:
    store = MemoryResponses(max_entries=2, ttl_s=0.2)
    for n in range(3):
        await store.put("", f"resp_{n}", RECORD)
    assert [await store.get("", f"resp_{n}") is not None for n in range(3)] == [False, True, True]
    await asyncio.sleep(0.3)
    assert await store.get("", "resp_2") is None


async def test_memory_is_bounded_in_bytes() -> None:
    store = MemoryResponses(max_entries=100, ttl_s=60, max_bytes=10_000)
    big = {"messages": [{"role": "user", "content": "x" * 3000}]}
    for n in range(5):
        await store.put("", f"resp_{n}", big)
    kept = [n for n in range(5) if await store.get("", f"resp_{n}") is not None]
    assert kept == [2, 3, 4]  # three records of ~3 KB fit in 10 KB; the oldest went first


async def test_redis_shares_records_between_replicas_and_expires_them(redis_url: str) -> None:
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    one, two = (build_response_store("redis", redis_url=redis_url, prefix=prefix, max_entries=1, ttl_s=0.3,
                                     timeout_s=0.25) for _ in range(2))
    try:
        await one.put("team-a", "resp_1", RECORD)
        assert await two.get("team-a", "resp_1") == RECORD  # another replica's store finds it
        await asyncio.sleep(0.5)
        assert await two.get("team-a", "resp_1") is None  # Redis expired it
    finally:
        await one.aclose()
        await two.aclose()


async def test_redis_down_fails_fast_and_recovers(redis_server: RedisServer) -> None:
    errors: list[str] = []
    store = redis_store(redis_server.url, errors=errors)
    try:
        await store.put("", "resp_1", RECORD)
        redis_server.kill()
        started = time.monotonic()
        with pytest.raises(StateUnavailableError):
            await store.get("", "resp_1")
        with pytest.raises(StateUnavailableError):
            await store.put("", "resp_2", RECORD)
        assert time.monotonic() - started < 2 and errors
        redis_server.start()  # the same port, empty
        deadline = time.monotonic() + 5
        while True:
            try:
                await store.put("", "resp_3", RECORD)
                break
            except StateUnavailableError:
                assert time.monotonic() < deadline, "the store did not come back"
                await asyncio.sleep(0.1)
        assert await store.get("", "resp_3") == RECORD
    finally:
        await store.aclose()


async def test_memory_expiry_counts_from_each_store() -> None:
    now = [100.0]
    store = MemoryResponses(max_entries=10, ttl_s=60, clock=lambda: now[0])
    await store.put("", "resp_a", RECORD)
    now[0] += 30
    await store.put("", "resp_b", RECORD)
    now[0] += 30  # resp_a's 60 s are up, resp_b has 30 left
    assert await store.get("", "resp_a") is None
    assert await store.get("", "resp_b") is not None
    assert not await store.delete("", "resp_a")  # gone already: not found, as the API says
    await store.put("", "resp_b", RECORD)  # stored again: its 60 s start again
    now[0] += 45
    assert await store.get("", "resp_b") is not None
    assert await store.delete("", "resp_b")
    assert await store.get("", "resp_b") is None
