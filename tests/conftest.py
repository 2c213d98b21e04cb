"""Fixtures: real servers on loopback. The gateway is a real uvicorn server; upstreams are fakes that
speak the OpenAI wire format; clients are the official SDK (and httpx where bytes matter)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack

import openai
import pytest

from gateway.app import create_app
from gateway.config import parse_config
from tests.cache.redis_server import RedisServer, answers
from tests.fakes.openai_compat import FakeOpenAI
from tests.support import RunningServer, run_server

UPSTREAM_KEY = "sk-upstream-secret-0123456789"


@pytest.fixture
def fake() -> FakeOpenAI:
    return FakeOpenAI()


@pytest.fixture
def upstream(fake: FakeOpenAI) -> Iterator[RunningServer]:
    with run_server(fake.app) as server:
        yield server


def gateway_config(upstream_url: str, extra: str = "", provider: str = "") -> str:
    """A config with the fake upstream (`fake`), the built-in mock (`mock`) and routes to both."""
    return f"""
[server]
max_request_bytes = 65536
[[providers]]
name = "fake"
type = "openai"
base_url = "{upstream_url}"
api_key = "{UPSTREAM_KEY}"
timeout_s = 5
headers = {{ "x-extra" = "hello" }}
{provider}
[[providers]]
name = "mock"
type = "mock"
[[routes]]
model = "gpt-test"
  [[routes.targets]]
  provider = "fake"
  model = "upstream-model"
[[routes]]
model = "mock-model"
  [[routes.targets]]
  provider = "mock"
  model = "mock-upstream"
{extra}
"""


GatewayFactory = Callable[[str], RunningServer]


@pytest.fixture
def start_gateway() -> Iterator[GatewayFactory]:
    """Start a gateway on a config text; stopped at the end of the test."""
    with ExitStack() as stack:

        def start(text: str) -> RunningServer:
            return stack.enter_context(run_server(create_app(parse_config(text))))

        yield start


@pytest.fixture
def gateway(start_gateway: GatewayFactory, upstream: RunningServer) -> RunningServer:
    return start_gateway(gateway_config(upstream.url))


@pytest.fixture
def client(gateway: RunningServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key="client-key", max_retries=0) as sdk:
        yield sdk


@pytest.fixture
async def async_client(gateway: RunningServer) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key="client-key", max_retries=0) as sdk:
        yield sdk


def dead_first_route(dead_port: int, model: str = "two-targets") -> str:
    """TOML for a provider `dead` (nothing listens on `dead_port`) and a route `model` whose first target
    is that provider and whose second is the fake upstream: every request fails over once."""
    return f"""
[[providers]]
name = "dead"
type = "openai"
base_url = "http://127.0.0.1:{dead_port}"
[[routes]]
model = "{model}"
  [[routes.targets]]
  provider = "dead"
  model = "m"
  weight = 1000000
  [[routes.targets]]
  provider = "fake"
  model = "upstream-model"
  weight = 0.000001
"""


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
