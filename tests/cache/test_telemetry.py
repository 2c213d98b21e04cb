"""What the real cache shows in telemetry (OTEL.md §5), as exported over OTLP: a hit has no CLIENT span and
`gateway.cache.result=hit`; requests that waited for an identical one link to its upstream call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import GatewayFactory, gateway_config
from tests.fakes.openai_compat import FakeOpenAI, SlowTokens
from tests.fakes.otlp import FakeCollector, Span
from tests.support import RunningServer, run_server
from tests.telemetry.conftest import flush, telemetry_section

BODY = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def collector() -> FakeCollector:
    return FakeCollector()


@pytest.fixture
def gateway(
    collector: FakeCollector, upstream: RunningServer, start_gateway: GatewayFactory
) -> Iterator[RunningServer]:
    """A gateway with the memory cache, exporting to the in-process OTLP receiver."""
    with run_server(collector.app) as receiver:
        extra = telemetry_section(receiver.url) + '[cache]\nbackend = "memory"\n'
        yield start_gateway(gateway_config(upstream.url, extra=extra))


def server_spans(server: RunningServer, collector: FakeCollector, count: int) -> list[Span]:
    deadline = time.monotonic() + 5
    while len(found := collector.spans("SERVER")) < count and time.monotonic() < deadline:
        flush(server)
        time.sleep(0.02)
    return sorted(found, key=lambda s: s.start_ns)


def test_a_hit_has_no_client_span(gateway: RunningServer, collector: FakeCollector) -> None:
    for _ in range(2):
        httpx.post(gateway.url + "/v1/chat/completions", json=BODY)
    miss, hit = server_spans(gateway, collector, 2)
    assert miss.attributes["gateway.cache.result"] == "miss" and hit.attributes["gateway.cache.result"] == "hit"
    clients = collector.spans("CLIENT")
    assert len(clients) == 1 and clients[0].parent_span_id == miss.span_id
    assert hit.attributes["gateway.attempts"] == 0


async def test_waiting_requests_link_to_the_one_upstream_call(
    gateway: RunningServer, collector: FakeCollector, fake: FakeOpenAI
) -> None:
    fake.always = SlowTokens(0.02)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        await asyncio.gather(*[client.post("/v1/chat/completions", json={**BODY, "stream": True}) for _ in range(4)])
    spans = server_spans(gateway, collector, 4)
    clients = collector.spans("CLIENT")
    assert len(clients) == 1
    leader = [s for s in spans if s.span_id == clients[0].parent_span_id]
    followers = [s for s in spans if s.span_id != clients[0].parent_span_id]
    assert len(leader) == 1 and len(followers) == 3
    for follower in followers:
        assert follower.attributes["gateway.cache.result"] == "miss"
        assert follower.attributes.get("gateway.cache.coalesced") is True
        assert [link[1] for link in follower.links] == [clients[0].span_id]  # the leader's upstream call
