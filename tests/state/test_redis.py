"""RedisLimits against a real redis-server: what only Redis does (lease expiry, key lifetimes, replicas
sharing one limit) and the failure rules of RedisConnection when Redis is killed, frozen and restarted."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Callable

import pytest

from gateway.access.keys import Caller
from gateway.access.limits import Limiter
from gateway.config import LimitsConfig
from gateway.errors import LimitsUnavailableError
from gateway.routing.table import Route
from gateway.state import Rate, Slot, StateUnavailableError, Usage, build_limit_store, gcra
from gateway.state.redis import RedisLimits, safe_url
from tests.cache.redis_server import RedisServer
from tests.state.conftest import connect

BODY = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
async def limits(redis_url: str) -> AsyncIterator[RedisLimits]:
    store = RedisLimits(connect(redis_url), lease_s=0.2)
    try:
        yield store
    finally:
        await store.aclose()


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "gateway.limits" and r.levelno == logging.WARNING]


async def test_a_lease_expires_after_lease_s(limits: RedisLimits, key: Callable[[str], str]) -> None:
    slot = Slot(key("conc"), 1)
    assert (await limits.admit([], [slot], "crashed-replica", None)).refused is None
    assert (await limits.admit([], [slot], "b", None)).refused == slot.key
    await asyncio.sleep(0.3)  # the replica holding the slot never settled
    assert (await limits.admit([], [slot], "b", None)).refused is None
    assert 0 < await limits.connection.client.pttl(slot.key) <= 200


async def test_keys_live_only_as_long_as_they_matter(limits: RedisLimits, key: Callable[[str], str]) -> None:
    client = limits.connection.client
    await limits.admit([Rate(key("rpm"), 60, 60, 1), Rate(key("tpm"), 1000, 60, 500)], [], "l", None)
    assert 0 < await client.pttl(key("rpm")) <= 1001
    assert 29000 < await client.pttl(key("tpm")) <= 30001
    await limits.settle([Rate(key("tpm"), 1000, 60, -1000)], [], "l", None)  # a whole refund: nothing to keep
    assert await client.exists(key("tpm")) == 0
    await limits.settle([], [], "l", (key("day"), Usage(1, 2, 3, 0.5), 40 * 86400.0))
    await limits.settle([], [], "l", (key("total"), Usage(1, 2, 3, 0.5), 0.0))
    assert 40 * 86400 - 5 < await client.ttl(key("day")) <= 40 * 86400
    assert await client.ttl(key("total")) == -1  # kept for ever
    assert await client.hgetall(key("total")) == {b"requests": b"1", b"input_tokens": b"2", b"output_tokens": b"3",
                                                 b"cost_usd": b"0.5"}


async def test_two_replicas_share_one_limit_and_one_budget(redis_url: str, key: Callable[[str], str]) -> None:
    one, two = RedisLimits(connect(redis_url)), RedisLimits(connect(redis_url))
    try:
        rate, ledger = Rate(key("rpm"), 3, 60, 1), key("spend")
        results = [await (one if i % 2 else two).admit([rate], [], str(i), None) for i in range(4)]
        assert [v.refused for v in results] == [None, None, None, rate.key]
        await one.settle([], [], "0", (ledger, Usage(1, 1, 1, 1.0), 0.0))
        verdict = await two.admit([], [], "x", (ledger, 1.0))
        assert verdict.refused == "budget" and verdict.spent_usd == 1.0
    finally:
        await one.aclose()
        await two.aclose()


async def test_a_limiter_writes_only_under_its_prefix(limits: RedisLimits, key: Callable[[str], str]) -> None:
    limiter = Limiter(limits, prefix=key(""))
    caller = Caller("team a", rpm=5, tpm=100, max_concurrent=2, budget_usd=10.0)
    admission = await limiter.admit(caller, Route("gpt-4o", "weighted", (), rpm=10), "chat", BODY)
    assert (b"x-ratelimit-limit-requests", b"5") in admission.headers
    await limiter.settle(admission, Usage(1, 3, 4, 0.01))
    found = sorted(k.decode() for k in await limits.connection.client.keys(key("*")))
    month = limiter.ledger("team a", "month")[0]
    assert found == sorted([key("k:team%20a:rpm"), key("k:team%20a:tpm"), key("r:gpt-4o:rpm"), month])
    [(usage, _)] = await limiter.usage([("team a", "month")])
    assert usage == Usage(1, 3, 4, 0.01)


@pytest.mark.parametrize("limit", [9, 11])
async def test_remaining_agrees_with_gcra_when_the_interval_is_no_whole_microsecond(
    limits: RedisLimits, key: Callable[[str], str], limit: int
) -> None:
    rate = Rate(key("rpm"), limit, 60, 1)
    expected = gcra(0.0, 1000.0, rate)[2].remaining
    assert expected == limit - 1
    verdict = await limits.admit([rate], [], "a", None)
    assert verdict.refused is None and verdict.rates[0].remaining == expected


async def test_killed_redis_fails_fast_logs_once_and_recovers_by_itself(
    redis_server: RedisServer, key: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.limits")
    errors: list[str] = []
    store = RedisLimits(connect(redis_server.url, errors, timeout_s=0.25, retry_s=0))
    rate = Rate(key("rpm"), 10, 60, 1)
    try:
        assert (await store.admit([rate], [], "a", None)).refused is None
        redis_server.kill()
        for call in (store.admit([rate], [], "b", None), store.settle([rate], [], "b", None), store.usage(["x"])):
            started = time.monotonic()
            with pytest.raises(StateUnavailableError, match=r"Redis at redis://127\.0\.0\.1:\d+/0 is unavailable"):
                await call
            assert time.monotonic() - started < 1.0
        assert errors == ["unavailable"] * 3 and store.connection.errors == 3 and store.connection.down
        [warning] = warnings(caplog)
        assert warning.startswith(f"limits: Redis at {redis_server.url} failed (unavailable on admit: ")
        assert warning.endswith("letting calls in until it is back")

        redis_server.start()  # the same port, empty
        verdict = await store.admit([rate], [], "c", None)
        assert verdict.refused is None and verdict.rates[0].remaining == 9
        assert not store.connection.down
        assert warnings(caplog)[1:] == [f"limits: Redis at {redis_server.url} is back; limits are enforced again"]
        await store.admit([rate], [], "d", None)
        assert len(warnings(caplog)) == 2 and errors == ["unavailable"] * 3
    finally:
        await store.aclose()


async def test_frozen_redis_times_out_within_the_timeout(
    redis_server: RedisServer, key: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.limits")
    errors: list[str] = []
    store = RedisLimits(connect(redis_server.url, errors, timeout_s=0.2, retry_s=0))
    slot = Slot(key("conc"), 5)
    assert redis_server.proc is not None
    try:
        assert (await store.admit([], [slot], "a", None)).refused is None
        os.kill(redis_server.proc.pid, signal.SIGSTOP)  # alive but silent, as an overloaded server
        try:
            started = time.monotonic()
            with pytest.raises(StateUnavailableError):
                await store.admit([], [slot], "b", None)
            assert 0.15 < time.monotonic() - started < 0.7
            assert errors == ["timeout"]
            assert "(timeout on admit: " in warnings(caplog)[0]
        finally:
            os.kill(redis_server.proc.pid, signal.SIGCONT)
        await store.settle([], [slot], "a", None)  # answers again, and no stale reply is read as this one's
        assert (await store.usage([key("nobody")])) == [Usage()]
        # "b" was sent before the timeout: Redis ran it when it woke, so the slot is held until lease_s
        assert await store.connection.client.zrange(slot.key, 0, -1) == [b"b"]
    finally:
        await store.aclose()


async def test_a_slot_taken_by_a_timed_out_admit_is_freed_by_settle(
    redis_server: RedisServer, key: Callable[[str], str]
) -> None:
    store = RedisLimits(connect(redis_server.url, timeout_s=0.2), lease_s=600)
    limiter = Limiter(store, prefix=key(""), on_backend_error="open")
    caller, model = Caller("a", max_concurrent=1), Route("m", "weighted", ())
    assert redis_server.proc is not None
    try:
        await limiter.admit(Caller("warm-up", max_concurrent=1), model, "chat", BODY)  # connected, script loaded
        os.kill(redis_server.proc.pid, signal.SIGSTOP)
        try:
            admission = await limiter.admit(caller, model, "chat", BODY)  # timed out: let in, unlimited
        finally:
            os.kill(redis_server.proc.pid, signal.SIGCONT)
        await limiter.settle(admission, Usage(1, 1, 1, 0.0))  # the call ended
        await limiter.admit(caller, model, "chat", BODY)  # so one call may be in flight again
    finally:
        await store.aclose()


async def test_after_a_failure_redis_is_left_alone_for_retry_s(
    redis_server: RedisServer, key: Callable[[str], str]
) -> None:
    errors: list[str] = []
    store = RedisLimits(connect(redis_server.url, errors, retry_s=30))
    try:
        redis_server.kill()
        with pytest.raises(StateUnavailableError):
            await store.admit([Rate(key("rpm"), 1, 60, 1)], [], "a", None)
        redis_server.start()
        with pytest.raises(StateUnavailableError):  # not even tried: resting
            await store.admit([Rate(key("rpm"), 1, 60, 1)], [], "a", None)
        assert errors == ["unavailable"] and store.connection.errors == 1
        store.connection._resting_until = 0.0  # as if retry_s had passed
        assert (await store.admit([Rate(key("rpm"), 1, 60, 1)], [], "a", None)).refused is None
    finally:
        await store.aclose()


@pytest.mark.parametrize(("mode", "expect_error"), [("open", False), ("closed", True)])
async def test_limiter_on_backend_error_with_redis_down(
    redis_server: RedisServer, key: Callable[[str], str], mode: str, expect_error: bool
) -> None:
    store = RedisLimits(connect(redis_server.url))
    limiter = Limiter(store, prefix=key(""), on_backend_error=mode)  # type: ignore[arg-type]
    caller = Caller("a", rpm=1)
    try:
        await limiter.admit(caller, Route("m", "weighted", ()), "chat", BODY)
        redis_server.kill()
        if expect_error:
            with pytest.raises(LimitsUnavailableError):
                await limiter.admit(caller, Route("m", "weighted", ()), "chat", BODY)
        else:  # over its rpm, but nobody can tell: let in
            admission = await limiter.admit(caller, Route("m", "weighted", ()), "chat", BODY)
            assert admission.rates == () and not admission.headers
            await limiter.settle(admission, Usage(1, 1, 1, 0.1))  # fails quietly
            assert admission.settled
    finally:
        await store.aclose()


async def test_build_limit_store_for_redis(redis_url: str) -> None:
    heard: list[str] = []
    config = LimitsConfig(backend="redis", redis_url=redis_url, redis_timeout_s=0.5, redis_retry_s=2,
                          lease_s=7, on_backend_error="closed")
    store = build_limit_store(config, heard.append)
    try:
        assert isinstance(store, RedisLimits) and store.name == "redis"
        assert store.lease_ms == 7000
        connection = store.connection
        assert (connection.url, connection.timeout_s, connection.retry_s) == (redis_url, 0.5, 2)
        assert connection.meanwhile == 'refusing calls (on_backend_error = "closed")'
        connection.on_error("timeout")
        assert heard == ["timeout"]
        assert (await store.usage(["no-such-ledger"])) == [Usage()]
    finally:
        await store.aclose()


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://user:s3cret@cache.internal:6379/0", "redis://cache.internal:6379/0"),
    ("rediss://:s3cret@host/1", "rediss://host/1"),
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ("unix:///run/redis.sock", "unix:///run/redis.sock"),
    ("not a url", "not a url"),
])
def test_safe_url_leaves_the_password_out(url: str, shown: str) -> None:
    assert safe_url(url) == shown
