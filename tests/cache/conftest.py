"""Fixtures for the cache tests: both backends behind one parametrised fixture, Redis a real server."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class Backend:
    """A `[cache]` section for one backend; `toml(...)` adds keys."""

    name: str
    keys: str

    def toml(self, extra: str = "") -> str:
        return f"[cache]\n{self.keys}{extra}\n"


def redis_keys(url: str) -> str:
    prefix = f"test-{uuid.uuid4().hex[:12]}:"  # each test its own keys in the shared server
    return f'backend = "redis"\nredis_url = "{url}"\nkey_prefix = "{prefix}"\nredis_retry_s = 0\n'


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "redis":
        return Backend("redis", redis_keys(request.getfixturevalue("redis_url")))
    return Backend("memory", 'backend = "memory"\n')
