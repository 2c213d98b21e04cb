"""`[limits] backend = "redis"`: two real `gateway serve` processes on one real Redis enforce one rpm, one
max_concurrent and one budget per key; a Redis outage follows `on_backend_error`, is logged once and counted
in a metric, and enforcement comes back by itself with Redis."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.config import parse_config
from tests.cache.redis_server import RedisServer
from tests.conftest import gateway_config
from tests.fakes.openai_compat import FakeOpenAI, Stall
from tests.support import RunningServer, run_server, serve

KEY = "sk-gw-fleet-key-0123456789"
ADMIN = "admin-key-for-the-fleet"
USER: Any = [{"role": "user", "content": "hi"}]
CALL_USD = 0.011  # "hi" -> "Hello from the fake upstream." at $1000 / $2000 per million tokens


def fleet_config(upstream_url: str, redis_url: str, key: str, limits: str = "") -> str:
    text = gateway_config(upstream_url, extra=f"""
[limits]
backend = "redis"
redis_url = "{redis_url}"
key_prefix = "test-{uuid.uuid4().hex[:12]}:"
redis_retry_s = 0
{limits}
[admin]
key = "{ADMIN}"
[[keys]]
name = "fleet"
key = "{KEY}"
{key}
""")
    return text.replace('model = "upstream-model"\n', 'model = "upstream-model"\ninput_usd_per_mtok = 1000\n'
                        'output_usd_per_mtok = 2000\n', 1)


@pytest.fixture
def replicas(upstream: RunningServer, redis_url: str, tmp_path: Path) -> Iterator[Any]:
    """Start two `gateway serve` processes on one config; yields a function of the [[keys]] extra lines."""
    with ExitStack() as stack:

        def start(key: str) -> list[str]:
            path = tmp_path / "gateway.toml"
            path.write_text(fleet_config(upstream.url, redis_url, key))
            return [stack.enter_context(serve("--config", str(path), cwd=tmp_path))[1] for _ in range(2)]

        yield start


def post(url: str, **body: Any) -> httpx.Response:
    return httpx.post(url + "/v1/chat/completions", json={"model": "gpt-test", "messages": USER, **body},
                      headers={"authorization": f"Bearer {KEY}"}, timeout=10)


def test_two_replicas_share_one_rpm(replicas: Any, fake: FakeOpenAI) -> None:
    a, b = replicas("rpm = 4")
    statuses = [post(url).status_code for url in [a, b] * 5]
    assert statuses.count(200) == 4 and statuses.count(429) == 6
    assert len(fake.requests) == 4


async def test_two_replicas_share_one_max_concurrent(replicas: Any, fake: FakeOpenAI) -> None:
    a, b = replicas("max_concurrent = 2")
    fake.always = Stall(0.6)
    async with httpx.AsyncClient(headers={"authorization": f"Bearer {KEY}"}, timeout=10) as http:
        body = {"model": "gpt-test", "messages": USER}
        results = await asyncio.gather(*(http.post(url + "/v1/chat/completions", json=body) for url in [a, b] * 4))
    assert sorted(r.status_code for r in results) == [200, 200] + [429] * 6


def test_two_replicas_share_one_budget(replicas: Any, fake: FakeOpenAI) -> None:
    a, b = replicas("budget_usd = 0.03")
    assert [post(url).status_code for url in (a, b, a)] == [200, 200, 200]
    refused = post(b)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "budget_exceeded"
    assert post(a).status_code == 429 and len(fake.requests) == 3
    for url in (a, b):  # both replicas report the same figures
        figures = httpx.get(url + "/admin/usage", headers={"x-api-key": ADMIN}).json()
        assert figures["backend"] == "redis"
        assert figures["keys"]["fleet"]["requests"] == 3
        assert figures["keys"]["fleet"]["cost_usd"] == pytest.approx(3 * CALL_USD)


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    if not RedisServer.available():
        pytest.skip("no redis-server binary: apt-get install redis-server")
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_a_redis_outage_follows_on_backend_error_and_recovers_by_itself(
    upstream: RunningServer, own_redis: RedisServer, fake: FakeOpenAI, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    text = fleet_config(upstream.url, own_redis.url, "rpm = 2",
                        f'on_backend_error = "{mode}"\nredis_timeout_s = 0.2\n[telemetry]\nprometheus = true')
    with run_server(create_app(parse_config(text))) as server, caplog.at_level(logging.WARNING):
        url = server.url
        assert [post(url).status_code for _ in range(3)] == [200, 200, 429]
        own_redis.kill()
        started = time.monotonic()
        during = [post(url) for _ in range(4)]
        assert time.monotonic() - started < 4  # never hangs: each call gives up after redis_timeout_s
        if mode == "open":
            assert [r.status_code for r in during] == [200] * 4  # let in, unlimited
        else:
            assert [r.status_code for r in during] == [503] * 4
            error = during[0].json()["error"]
            assert error["code"] == "limits_unavailable" and 'on_backend_error = "closed"' in error["message"]
            assert during[0].headers["retry-after"] == "1"
        warnings = [r.getMessage() for r in caplog.records if r.name == "gateway.limits"]
        assert len([w for w in warnings if "failed" in w]) == 1  # logged once per outage
        scrape = httpx.get(url + "/metrics").text
        assert 'gateway_limits_errors_total{' in scrape
        own_redis.start()  # the same port, empty: counters start over
        assert [post(url).status_code for _ in range(3)] == [200, 200, 429]  # enforced again
        assert any("is back" in r.getMessage() for r in caplog.records if r.name == "gateway.limits")


def test_spend_made_while_redis_is_down_is_added_once_it_is_back(
    upstream: RunningServer, own_redis: RedisServer, fake: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    """Calls let in during an outage (`on_backend_error = "open"`) still cost money: their spend is held in the
    gateway and added to the key's ledger when Redis answers again, before the next call's budget is read. (Redis
    comes back empty here, as a crashed one without persistence does: what it held before is its own loss.)"""
    text = fleet_config(upstream.url, own_redis.url, f"budget_usd = {2.5 * CALL_USD}",
                        'on_backend_error = "open"\nredis_timeout_s = 0.2')
    with run_server(create_app(parse_config(text))) as server, caplog.at_level(logging.WARNING):
        url = server.url
        assert post(url).status_code == 200  # the pool has a connection when Redis dies
        own_redis.kill()
        assert [post(url).status_code for _ in range(3)] == [200] * 3  # let in, unlimited
        status = httpx.get(url + "/admin/status", headers={"x-api-key": ADMIN}).json()["limits"]
        assert status["backend"] == "redis" and status["spend_held"]["requests"] == 3
        assert status["spend_held"]["cost_usd"] == pytest.approx(3 * CALL_USD)
        own_redis.start()  # the same port, empty
        refused = post(url)
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "budget_exceeded"
        figures = httpx.get(url + "/admin/usage", headers={"x-api-key": ADMIN}).json()["keys"]["fleet"]
        status = httpx.get(url + "/admin/status", headers={"x-api-key": ADMIN}).json()["limits"]
    assert figures["requests"] == 3 and figures["cost_usd"] == pytest.approx(3 * CALL_USD)
    assert status["spend_held"] == {"requests": 0, "cost_usd": 0.0}  # all written


def test_spend_still_held_at_shutdown_is_named_in_the_log(
    upstream: RunningServer, own_redis: RedisServer, fake: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    text = fleet_config(upstream.url, own_redis.url, "budget_usd = 10", 'redis_timeout_s = 0.2')
    with caplog.at_level(logging.WARNING):
        with run_server(create_app(parse_config(text))) as server:
            own_redis.kill()
            assert [post(server.url).status_code for _ in range(2)] == [200] * 2
        lost = [r.getMessage() for r in caplog.records if "is lost" in r.getMessage()]
    assert len(lost) == 1 and f"{2 * CALL_USD:.6f} USD (2 requests)" in lost[0] and lost[0].endswith(":fleet is lost")
