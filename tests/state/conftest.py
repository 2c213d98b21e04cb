"""The limit stores behind one parametrised fixture: MemoryLimits, and RedisLimits on a real redis-server
(`redis_url` and `redis_server` come from tests/conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from gateway.state import LimitStore
from gateway.state.memory import MemoryLimits
from gateway.state.redis import RedisConnection, RedisLimits


def connect(url: str, errors: list[str] | None = None, *, timeout_s: float = 0.25,
            retry_s: float = 0.0) -> RedisConnection:
    return RedisConnection(url, feature="limits", meanwhile="letting calls in", back="limits are enforced again",
                           timeout_s=timeout_s, retry_s=retry_s,
                           on_error=(errors.append if errors is not None else lambda kind: None))


@pytest.fixture
def key() -> Callable[[str], str]:
    """Names in this test's own key space (the Redis server is shared by the whole run)."""
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    return lambda name: prefix + name


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[LimitStore]:
    made: LimitStore
    if request.param == "redis":
        made = RedisLimits(connect(request.getfixturevalue("redis_url")), lease_s=60)
    else:
        made = MemoryLimits()
    await made.start()
    try:
        yield made
    finally:
        await made.aclose()
