"""Fixtures for the cache tests: both backends behind one parametrised fixture, Redis a real server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.cache.redis_server import RedisServer, answers


@dataclass(frozen=True)
class Backend:
    """A `[cache]` section for one backend; `toml(...)` adds keys."""

    name: str
    keys: str

    def toml(self, extra: str = "") -> str:
        return f"[cache]\n{self.keys}{extra}\n"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis of the test run's own (a redis-server on a free port); else one already on 6379; else skip."""
    if RedisServer.available():
        server = RedisServer().start()
        try:
            yield server.url
        finally:
            server.stop()
    elif answers(6379):
        yield "redis://127.0.0.1:6379/0"
    else:
        pytest.skip("no redis-server: apt-get install redis-server")


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A Redis of this test's own, for tests that kill it."""
    if not RedisServer.available():
        pytest.skip("no redis-server binary: apt-get install redis-server")
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


def redis_keys(url: str) -> str:
    prefix = f"test-{uuid.uuid4().hex[:12]}:"  # each test its own keys in the shared server
    return f'backend = "redis"\nredis_url = "{url}"\nkey_prefix = "{prefix}"\nredis_retry_s = 0\n'


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "redis":
        return Backend("redis", redis_keys(request.getfixturevalue("redis_url")))
    return Backend("memory", 'backend = "memory"\n')
