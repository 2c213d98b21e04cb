"""Metrics as exported over OTLP: the GenAI names, units and recommended buckets (v1.41 by default, the
newer names behind OTEL_SEMCONV_STABILITY_OPT_IN), and the gateway's own counters."""

from __future__ import annotations

import httpx
import openai
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.config import parse_config
from gateway.events import Attempt, Exchange
from gateway.telemetry import ServerSpanMiddleware, start_telemetry
from gateway.telemetry import semconv as sc
from gateway.telemetry.metrics import MEMO_LIMIT, AttemptSets
from tests.conftest import dead_first_route
from tests.fakes.openai_compat import Fail, FakeOpenAI
from tests.fakes.otlp import FakeCollector, Metric
from tests.support import RunningServer, closed_port, run_server
from tests.telemetry.conftest import TelemetryGatewayFactory, flush, telemetry_section

MESSAGES = [{"role": "user", "content": "Say hello"}]


def traffic(gateway: RunningServer) -> None:
    """One of each: non-stream, stream, failover."""
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=0)
    client.chat.completions.create(model="gpt-test", messages=MESSAGES)
    list(client.chat.completions.create(model="gpt-test", messages=MESSAGES, stream=True))
    client.chat.completions.create(model="two-targets", messages=MESSAGES)


def histogram(collector: FakeCollector, name: str, unit: str, buckets: tuple[float, ...]) -> Metric:
    metric = collector.metric(name)
    assert (metric.kind, metric.unit) == ("histogram", unit), name
    assert metric.points, name
    for point in metric.points:
        assert point.bounds == list(buckets), name  # the spec's advisory boundaries arrived as sent
    assert metric.schema_url == sc.SCHEMA_URL and metric.scope == "gateway"
    return metric


def total(metric: Metric, **attributes: object) -> float:
    return sum((p.value if p.value is not None else p.count) for p in metric.matching(**attributes))


@pytest.fixture
def measured(start_traced: TelemetryGatewayFactory, collector: FakeCollector) -> RunningServer:
    gateway = start_traced(extra=dead_first_route(closed_port()))
    traffic(gateway)
    flush(gateway)
    return gateway


def test_genai_client_metrics_per_attempt(measured: RunningServer, collector: FakeCollector) -> None:
    duration = histogram(collector, "gen_ai.client.operation.duration", "s", sc.DURATION_BUCKETS)
    ok = duration.matching(gen_ai__operation__name="chat", gen_ai__provider__name="openai",
                           gen_ai__request__model="upstream-model", gen_ai__response__model="upstream-model")
    assert sum(p.count for p in ok if "error.type" not in p.attributes) == 3
    [failed] = duration.matching(error__type="connect_error")
    assert failed.count == 1 and failed.attributes["gen_ai.request.model"] == "m"
    assert all({"server.address", "server.port"} <= set(p.attributes) for p in duration.points)

    usage = histogram(collector, "gen_ai.client.token.usage", "{token}", sc.TOKEN_BUCKETS)
    assert {p.attributes["gen_ai.token.type"] for p in usage.points} == {"input", "output"}
    assert total(usage, gen_ai__token__type="output") == 3  # three answered attempts, streams included
    assert sum(p.sum for p in usage.matching(gen_ai__token__type="output")) == 15

    ttfc = histogram(collector, "gen_ai.client.operation.time_to_first_chunk", "s", sc.DURATION_BUCKETS)
    assert total(ttfc) == 1  # streams only
    # once per stream, at the mean interval of its chunks after the first (a role chunk, 5 words, the finish
    # chunk): per chunk, the SDK's records would cost more than the relay (metrics.py)
    tpoc = histogram(collector, "gen_ai.client.operation.time_per_output_chunk", "s", sc.DURATION_BUCKETS)
    assert total(tpoc) == 1 and 0 < sum(p.sum for p in tpoc.points) < 1


def test_genai_server_metrics_per_request(measured: RunningServer, collector: FakeCollector) -> None:
    duration = histogram(collector, "gen_ai.server.request.duration", "s", sc.DURATION_BUCKETS)
    assert total(duration, gateway__route="gpt-test") == 2 and total(duration, gateway__route="two-targets") == 1
    assert all(p.attributes["gen_ai.provider.name"] == "openai" for p in duration.points)
    ttft = histogram(collector, "gen_ai.server.time_to_first_token", "s", sc.TTFT_BUCKETS)
    tpot = histogram(collector, "gen_ai.server.time_per_output_token", "s", sc.TPOT_BUCKETS)
    assert total(ttft) == total(tpot) == 1
    assert ttft.points[0].attributes["gateway.route"] == "gpt-test"
    for point in (*duration.points, *ttft.points):  # the answering attempt's model and server, as the spec asks
        assert point.attributes["gen_ai.response.model"] == "upstream-model"
        assert point.attributes["server.address"] == "127.0.0.1" and point.attributes["server.port"] > 0


def test_gateway_metrics(measured: RunningServer, collector: FakeCollector) -> None:
    requests = collector.metric("gateway.requests")
    assert (requests.kind, requests.unit, requests.monotonic) == ("sum", "{request}", True)
    assert total(requests, gateway__route="gpt-test", gateway__provider="fake", http__response__status_code=200) == 2
    attempts = collector.metric("gateway.upstream.attempts")
    assert total(attempts, gateway__target="dead/m", gateway__attempt__outcome="error",
                 error__type="connect_error") == 1
    assert total(attempts, gateway__attempt__outcome="ok") == 3
    failovers = collector.metric("gateway.failovers")
    [failover] = failovers.points
    assert failover.value == 1 and failover.attributes == {
        "gateway.route": "two-targets", "gateway.from_target": "dead/m",
        "gateway.to_target": "fake/upstream-model", "error.type": "connect_error"}
    active = collector.metric("gateway.upstream.active_requests")
    assert (active.kind, active.monotonic) == ("sum", False)
    assert {p.attributes["gateway.target"]: p.value for p in active.points} == {
        "fake/upstream-model": 0, "dead/m": 0}  # all finished
    tokens = collector.metric("gateway.tokens")
    assert total(tokens, gen_ai__token__type="output") == 15
    names = collector.metric_names()
    assert not any("gen_ai.system" in n for n in names)
    assert "gen_ai.client.inference.duration" not in names  # the newer names only behind the opt-in


def test_cooldowns_are_counted_and_shown_as_state(
    start_traced: TelemetryGatewayFactory, collector: FakeCollector
) -> None:
    gateway = start_traced(extra=dead_first_route(closed_port()) + """
[routing]
failure_threshold = 1
cooldown_s = 60
""")
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=0)
    client.chat.completions.create(model="two-targets", messages=MESSAGES)
    flush(gateway)
    cooldowns = collector.metric("gateway.target.cooldowns")
    assert total(cooldowns, gateway__target="dead/m") == 1
    cooling = collector.metric("gateway.target.cooling_down")
    assert cooling.kind == "gauge"
    assert total(cooling, gateway__target="dead/m", gateway__route="two-targets") == 1


def test_semconv_opt_in_uses_the_newest_names(
    start_traced: TelemetryGatewayFactory, collector: FakeCollector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http, gen_ai_latest_experimental")
    gateway = start_traced()
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=0)
    client.chat.completions.create(model="gpt-test", messages=MESSAGES)
    list(client.chat.completions.create(model="gpt-test", messages=MESSAGES, stream=True))
    client.embeddings.create(model="gpt-test", input="hello")
    flush(gateway)
    names = collector.metric_names()
    histogram(collector, "gen_ai.client.inference.duration", "s", sc.DURATION_BUCKETS)
    histogram(collector, "gen_ai.client.inference.time_to_first_chunk", "s", sc.DURATION_BUCKETS)
    histogram(collector, "gen_ai.client.inference.operation.output_tokens", "{token}", sc.TOKEN_BUCKETS)
    usage = collector.metric("gen_ai.client.inference.usage.input_tokens")
    assert usage.kind == "sum" and usage.unit == "{token}"
    assert all(p.attributes["gen_ai.token.modality"] == "text" for p in usage.points)
    assert "gen_ai.client.token.usage" not in names
    assert "gen_ai.client.operation.time_to_first_chunk" not in names
    # The old duration name stays for operations that are not inference (embeddings).
    old = collector.metric("gen_ai.client.operation.duration")
    assert {p.attributes["gen_ai.operation.name"] for p in old.points} == {"embeddings"}
    assert "gen_ai.server.request.duration" in names  # unchanged in the new repository


def cache_hit_app() -> Starlette:
    """A stand-in endpoint that answers from a cache, as the cache will: no upstream attempt at all."""

    async def answer(request: Request) -> Response:
        exchange = Exchange("req-1", "chat", route="gpt-test", stream=False, cache="hit",
                            body={"model": "gpt-test", "messages": MESSAGES}, status=200)
        request.scope["state"]["exchange"] = exchange
        request.app.state.observer.request_finished(exchange)
        return JSONResponse({"id": "cached"}, headers={"x-gateway-cache": "hit"})

    return Starlette(routes=[Route("/v1/chat/completions", answer, methods=["POST"])])


def test_cache_hit_has_no_client_span_and_no_token_metrics(
    collector: FakeCollector, collector_server: RunningServer
) -> None:
    config = parse_config(telemetry_section(collector_server.url) + """
[[providers]]
name = "m"
type = "mock"
[[routes]]
model = "gpt-test"
  [[routes.targets]]
  provider = "m"
  model = "x"
""")
    telemetry = start_telemetry(config, "test")
    assert telemetry is not None and telemetry.tracing is not None
    app = cache_hit_app()
    app.state.observer = telemetry.observer
    try:
        with run_server(ServerSpanMiddleware(app, telemetry.tracing)) as server:
            assert httpx.post(server.url + "/v1/chat/completions", json={}).headers["x-gateway-cache"] == "hit"
        telemetry.force_flush()
    finally:
        telemetry.close()
    [span] = collector.spans()
    assert span.kind == "SERVER"
    assert span.attributes["gateway.cache.result"] == "hit" and span.attributes["gateway.attempts"] == 0
    assert span.attributes["gateway.route"] == "gpt-test" and "gen_ai.request.model" not in span.attributes
    lookups = collector.metric("gateway.cache.lookups")
    assert [(p.attributes, p.value) for p in lookups.points] == [
        ({"gateway.cache.result": "hit", "gateway.route": "gpt-test"}, 1)]
    names = collector.metric_names()
    assert not any(n.startswith("gen_ai.client.") for n in names)  # nothing was spent upstream
    assert "gateway.tokens" not in names
    duration = collector.metric("gen_ai.server.request.duration")
    assert duration.points[0].attributes["gateway.cache.result"] == "hit"


def test_a_coalesced_request_links_to_the_leaders_attempt(
    collector: FakeCollector, collector_server: RunningServer
) -> None:
    """Single flight: the waiting request's SERVER span links to the CLIENT span of the leader's call."""
    config = parse_config(telemetry_section(collector_server.url) + """
[[providers]]
name = "m"
type = "mock"
[[routes]]
model = "gpt-test"
  [[routes.targets]]
  provider = "m"
  model = "x"
""")
    telemetry = start_telemetry(config, "test")
    assert telemetry is not None and telemetry.tracing is not None
    observer = telemetry.observer
    leaders: list[tuple[Exchange, Attempt]] = []

    async def answer(request: Request) -> Response:
        exchange = Exchange(request.headers["x-request-id"], "chat", route="gpt-test", cache="miss",
                            body={"model": "gpt-test", "messages": MESSAGES}, status=200)
        request.scope["state"]["exchange"] = exchange
        if not leaders:  # the first request calls upstream ...
            attempt = Attempt(1, "gpt-test", "m", "mock", "x")
            exchange.attempts.append(attempt)
            observer.attempt_started(exchange, attempt)
            leaders.append((exchange, attempt))
        else:  # ... the second waits for it
            observer.request_coalesced(exchange, leaders[0][0])
            leader, attempt = leaders[0]
            attempt.finish("ok", status=200)
            observer.attempt_finished(leader, attempt)
        observer.request_finished(exchange)
        return JSONResponse({})

    app = Starlette(routes=[Route("/v1/chat/completions", answer, methods=["POST"])])
    try:
        with run_server(ServerSpanMiddleware(app, telemetry.tracing)) as server:
            for request_id in ("leader", "waiter"):
                httpx.post(server.url + "/v1/chat/completions", json={}, headers={"x-request-id": request_id})
        telemetry.force_flush()
    finally:
        telemetry.close()
    [client] = collector.spans("CLIENT")
    waiter = next(s for s in collector.spans("SERVER") if s.attributes["gateway.request_id"] == "waiter")
    assert waiter.links == [(client.trace_id, client.span_id, {"gateway.cache.coalesced": True})]
    assert waiter.attributes["gateway.cache.coalesced"] is True and waiter.attributes["gateway.attempts"] == 0


def test_attribute_sets_are_reused_but_never_mixed(
    start_traced: TelemetryGatewayFactory, collector: FakeCollector, fake: FakeOpenAI
) -> None:
    """The observer hands the SDK the same attribute dict for the same combination (a 400 and a 200 on one
    target are two); repeated requests add up on their own points, and no set picks up another's keys."""
    gateway = start_traced()
    statuses = []
    for failing in (True, False, True, False, False):
        if failing:
            fake.enqueue(Fail(400))
        statuses.append(httpx.post(gateway.url + "/v1/chat/completions",
                                   json={"model": "gpt-test", "messages": MESSAGES}).status_code)
    assert statuses == [400, 200, 400, 200, 200]
    flush(gateway)
    duration = collector.metric("gen_ai.client.operation.duration")
    assert {p.attributes.get("error.type"): p.count for p in duration.points} == {"400": 2, None: 3}
    usage = collector.metric("gen_ai.client.token.usage")
    assert {p.attributes["gen_ai.token.type"]: p.count for p in usage.points} == {"input": 3, "output": 3}
    assert not any("error.type" in p.attributes for p in usage.points)
    attempts = collector.metric("gateway.upstream.attempts")
    assert {(p.attributes["gateway.attempt.outcome"], p.attributes.get("error.type")): p.value
            for p in attempts.points} == {("error", "400"): 2, ("ok", None): 3}
    requests = collector.metric("gateway.requests")
    assert {p.attributes["http.response.status_code"]: p.value for p in requests.points} == {400: 2, 200: 3}
    server = collector.metric("gen_ai.server.request.duration")
    assert total(server) == 5


def test_unsampled_requests_are_still_measured(
    start_traced: TelemetryGatewayFactory, collector: FakeCollector, fake: FakeOpenAI
) -> None:
    """trace_sample_ratio = 0: no span is recorded or exported, every metric still is, and the upstream
    still gets the (unsampled) trace context."""
    gateway = start_traced(telemetry="trace_sample_ratio = 0.0")
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=0)
    client.chat.completions.create(model="gpt-test", messages=MESSAGES)
    list(client.chat.completions.create(model="gpt-test", messages=MESSAGES, stream=True))
    flush(gateway)
    assert collector.spans() == []
    assert total(collector.metric("gateway.requests")) == 2
    assert total(collector.metric("gen_ai.client.operation.duration")) == 2
    assert total(collector.metric("gen_ai.server.time_to_first_token")) == 1
    flags = fake.last.headers["traceparent"].split("-")[3]
    assert not int(flags, 16) & 1


def test_delta_temporality_is_honoured(
    start_traced: TelemetryGatewayFactory, collector: FakeCollector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK's instruments follow OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE, histograms included."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
    gateway = start_traced()
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=0)
    client.chat.completions.create(model="gpt-test", messages=MESSAGES)
    client.chat.completions.create(model="gpt-test", messages=MESSAGES)
    flush(gateway)
    assert total(collector.metric("gen_ai.client.operation.duration")) == 2
    client.chat.completions.create(model="gpt-test", messages=MESSAGES)
    flush(gateway)
    assert total(collector.metric("gen_ai.client.operation.duration")) == 1  # only what came since
    assert total(collector.metric("gateway.requests")) == 1


def test_remembered_attribute_sets_start_over_past_their_limit() -> None:
    """An unexpected spread (say, an upstream naming a new response model each time) costs memory only up to
    the limit, and every set stays right."""
    sets = AttemptSets("chat", Attempt(1, "r", "p", "openai", "m", "api.example", 443), "openai")
    for i in range(MEMO_LIMIT + 5):
        made = sets.metric(f"model-{i}", sc.ERROR_TYPE, "429")
        assert made[sc.RESPONSE_MODEL] == f"model-{i}" and made[sc.ERROR_TYPE] == "429"
    assert sets.metric(None) == {
        sc.OPERATION: "chat", sc.PROVIDER_NAME: "openai", sc.REQUEST_MODEL: "m", sc.PROVIDER: "p",
        sc.SERVER_ADDRESS: "api.example", sc.SERVER_PORT: 443}
    assert sets.metric(None) is sets.metric(None)  # made once, handed out again
