"""Export: OTLP over HTTP and gRPC, the standard environment variables, the console line, a collector that
is down (requests do not notice; it is logged once), shutdown, and telemetry off meaning nothing at all."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from gateway.access.gate import Accounting
from gateway.app import create_app
from gateway.config import ConfigError, parse_config
from gateway.events import Observer
from gateway.telemetry import ServerSpanMiddleware
from gateway.telemetry.exporters import batch_options
from gateway.ui.recorder import Recorder
from tests.conftest import UPSTREAM_KEY, GatewayFactory, dead_first_route, gateway_config
from tests.fakes.openai_compat import Fail, FakeOpenAI
from tests.fakes.otlp import FakeCollector
from tests.support import RunningServer, closed_port, run_server
from tests.telemetry.conftest import TelemetryGatewayFactory, flush, telemetry_of, telemetry_section

MESSAGES = [{"role": "user", "content": "Say hello"}]
BODY = {"model": "gpt-test", "messages": MESSAGES}


def chat(gateway: RunningServer, **extra: object) -> httpx.Response:
    return httpx.post(gateway.url + "/v1/chat/completions", json={**BODY, **extra}, timeout=10)


def test_grpc_export(upstream: RunningServer, collector: FakeCollector) -> None:
    with collector.serve_grpc() as port:
        config = gateway_config(upstream.url, extra=telemetry_section(
            f"http://127.0.0.1:{port}", 'otlp_protocol = "grpc"\notlp_compression = "gzip"'))
        with run_server(create_app(parse_config(config))) as gateway:
            assert chat(gateway).status_code == 200
            flush(gateway)
        assert [s.kind for s in collector.spans()] == ["CLIENT", "SERVER"]
        assert "gen_ai.client.operation.duration" in collector.metric_names()


def test_standard_environment_variables_win(
    collector_server: RunningServer, upstream: RunningServer, start_gateway: GatewayFactory,
    collector: FakeCollector, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector_server.url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-collector-token=from-env")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "gateway-from-env")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test,team=llm%20ops")
    # The TOML points somewhere dead; the environment, as operators expect, overrides it.
    gateway = start_gateway(gateway_config(upstream.url, extra=telemetry_section(
        f"http://127.0.0.1:{closed_port()}", 'otlp_compression = "gzip"\n'
        'otlp_headers = { "x-collector-token" = "from-toml", "x-other" = "kept" }\n'
        'resource_attributes = { "team" = "from-toml", "region" = "eu" }')))
    assert chat(gateway).status_code == 200
    flush(gateway)
    [server] = collector.spans("SERVER")
    assert server.resource["service.name"] == "gateway-from-env"
    assert server.resource["deployment.environment.name"] == "test"
    assert server.resource["team"] == "llm ops" and server.resource["region"] == "eu"
    assert server.resource["service.version"] and server.resource["service.instance.id"]
    sent = collector.headers[0]
    assert sent["x-collector-token"] == "from-env" and sent["x-other"] == "kept"
    assert sent["content-encoding"] == "gzip"  # and the receiver decoded it


def test_console_exporter_prints_one_line_per_request(
    start_gateway: GatewayFactory, upstream: RunningServer, fake: FakeOpenAI, capfd: pytest.CaptureFixture[str]
) -> None:
    dead = closed_port()
    gateway = start_gateway(gateway_config(upstream.url, extra=f"""
[telemetry]
exporter = "console"
{dead_first_route(dead)}
"""))
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=0)
    client.chat.completions.create(model="gpt-test", messages=MESSAGES)
    list(client.chat.completions.create(model="gpt-test", messages=MESSAGES, stream=True))
    client.chat.completions.create(model="two-targets", messages=MESSAGES)
    fake.enqueue(Fail(400))
    assert chat(gateway).status_code == 400
    time.sleep(0.05)  # the stream's span ends just after its last byte
    flush(gateway)
    lines = [line for line in capfd.readouterr().out.splitlines() if "/v1/" in line]
    assert len(lines) == 4, lines
    plain, stream, failover, bad = lines
    assert "POST /v1/chat/completions gpt-test -> fake/upstream-model 200 " in plain
    assert "tokens=2/5" in plain and "attempts=1" in plain and "ms" in plain and "req=" in plain
    assert "ttft=" not in plain and " stream " not in plain
    assert "ttft=" in stream and " stream " in stream and "tokens=2/5" in stream
    assert "two-targets -> fake/upstream-model 200" in failover
    assert "attempts=2" in failover and "failover(dead/m: connect_error)" in failover
    assert " 400 " in bad
    assert not telemetry_of(gateway).metrics


@pytest.mark.parametrize("exporter", ["fastotel", "sdk"])
def test_unreachable_collector_costs_requests_nothing_and_is_logged_once(
    upstream: RunningServer, caplog: pytest.LogCaptureFixture, exporter: str
) -> None:
    """With the SDK's span exporter lost spans are counted; fastotel tells no delivery results, so there the
    outage is told by the metrics' exporter (same collector) and only metric points are counted."""
    caplog.set_level(logging.INFO, logger="gateway.telemetry")
    config = gateway_config(upstream.url, extra=telemetry_section(
        f"http://127.0.0.1:{closed_port()}",
        f'otlp_timeout_s = 0.5\nmetric_export_interval_ms = 100\nspan_exporter = "{exporter}"'))
    server = run_server(create_app(parse_config(config)))
    gateway = server.__enter__()
    try:
        with httpx.Client(base_url=gateway.url, timeout=5) as http:
            started = time.monotonic()
            statuses = [http.post("/v1/chat/completions", json=BODY).status_code for _ in range(40)]
            elapsed = time.monotonic() - started
        assert statuses == [200] * 40
        assert elapsed < 4, elapsed  # a few ms each: no request waits for the exporter
        telemetry = telemetry_of(gateway)
        telemetry.force_flush(2)
        # 2 spans per request and metric points (SDK), or metric points (fastotel), counted
        assert telemetry.dropped >= (80 if exporter == "sdk" else 1)
    finally:
        started = time.monotonic()
        server.__exit__(None, None, None)  # the lifespan's shutdown does not wait for a collector that is down
        assert time.monotonic() - started < 4
    failures = [r for r in caplog.records if "cannot export" in r.getMessage()]
    assert 1 <= len(failures) <= 2  # once for spans, once for metrics; never once per request or batch
    assert not [r for r in caplog.records if r.name.startswith("opentelemetry") and r.levelno >= logging.WARNING]


def test_collector_in_trouble_then_back(
    traced: RunningServer, collector: FakeCollector, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.telemetry")
    collector.status = 400  # not retryable: fails fast
    assert chat(traced).status_code == 200
    flush(traced)
    assert collector.spans() == [] and telemetry_of(traced).dropped >= 2
    collector.status = 200
    assert chat(traced).status_code == 200
    flush(traced)
    assert len(collector.spans("SERVER")) == 1
    messages = [r.getMessage() for r in caplog.records]
    assert any("works again" in m for m in messages)


def test_concurrent_load_with_console_exporter(
    start_gateway: GatewayFactory, upstream: RunningServer, capfd: pytest.CaptureFixture[str]
) -> None:
    gateway = start_gateway(gateway_config(upstream.url, extra='[telemetry]\nexporter = "console"\n'))

    def burst(_: int) -> list[int]:
        with httpx.Client(base_url=gateway.url, timeout=10) as http:
            return [http.post("/v1/chat/completions", json=BODY).status_code for _ in range(25)]

    with ThreadPoolExecutor(4) as pool:
        statuses = [s for batch in pool.map(burst, range(4)) for s in batch]
    assert statuses == [200] * 100
    flush(gateway)
    assert len([line for line in capfd.readouterr().out.splitlines() if "/v1/chat" in line]) == 100


def test_no_secret_is_ever_exported(
    start_traced: TelemetryGatewayFactory, collector: FakeCollector, fake: FakeOpenAI
) -> None:
    gateway = start_traced(telemetry='capture_content = true\notlp_headers = { "x-api-key" = "collector-secret" }')
    fake.enqueue(Fail(401, {"error": {"message": f"Incorrect API key provided: {UPSTREAM_KEY}.",
                                      "type": "invalid_request_error", "code": "invalid_api_key"}}))
    assert chat(gateway).status_code == 401
    assert chat(gateway, messages=[{"role": "user", "content": f"my key is {UPSTREAM_KEY}"}]).status_code == 200
    flush(gateway)
    assert collector.raw
    for body in collector.raw:
        assert UPSTREAM_KEY.encode() not in body
        assert b"collector-secret" not in body
    assert collector.headers[0]["x-api-key"] == "collector-secret"  # sent to the collector, not in the data
    inputs = [s.attributes.get("gen_ai.input.messages", "") for s in collector.spans("CLIENT")]
    assert any("my key is ***" in text for text in inputs)


@pytest.mark.parametrize("ui", [True, False])
def test_telemetry_off_means_no_wrappers_at_all(upstream: RunningServer, ui: bool) -> None:
    app = create_app(parse_config(gateway_config(upstream.url, extra="" if ui else "[ui]\nenabled = false\n")))
    assert app.state.telemetry is None
    state = app.state
    current = state.reloader.gateway if hasattr(state, "reloader") else state.gateway
    # Accounting (cost, gateway/access/gate.py) in front of the live page's recorder (gateway/ui/), or of the
    # base class, whose every hook is a no-op: nothing of telemetry's
    assert isinstance(current.observer, Accounting)
    assert type(current.observer.then) is (Recorder if ui else Observer)
    assert not any(m.cls is ServerSpanMiddleware for m in app.user_middleware)
    with run_server(app) as gateway:
        assert chat(gateway).status_code == 200
        assert httpx.get(gateway.url + "/metrics").status_code == 404


def test_prometheus_only_records_metrics_without_spans(upstream: RunningServer, fake: FakeOpenAI) -> None:
    app = create_app(parse_config(gateway_config(upstream.url, extra="[telemetry]\nprometheus = true\n")))
    assert app.state.telemetry.tracing is None
    assert not any(m.cls is ServerSpanMiddleware for m in app.user_middleware)
    with run_server(app) as gateway:
        assert chat(gateway).status_code == 200
        scrape = httpx.get(gateway.url + "/metrics")
    assert "traceparent" not in fake.last.headers  # no tracing: no trace context is made up for the upstream
    assert scrape.status_code == 200 and scrape.headers["content-type"].startswith("text/plain")
    text = scrape.text
    assert 'gen_ai_client_operation_duration_seconds_bucket{' in text
    assert 'le="81.92"' in text
    assert "gen_ai_client_token_usage_bucket{" in text and 'gen_ai_token_type="output"' in text
    assert 'gateway_requests_total{' in text and 'gateway_route="gpt-test"' in text
    assert "gen_ai_system" not in text


def test_span_batches_are_sized_for_a_busy_gateway_unless_the_environment_says() -> None:
    assert batch_options({}) == {"max_queue_size": 8192, "max_export_batch_size": 512}
    assert batch_options({"OTEL_BSP_MAX_QUEUE_SIZE": "256"}) == {}  # the SDK reads both: no contradiction
    assert batch_options({"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "64"}) == {}


def test_a_redact_hook_that_cannot_be_imported_is_a_config_error(upstream: RunningServer) -> None:
    config = parse_config(gateway_config(upstream.url, extra='[telemetry]\nexporter = "console"\n'
                                         'capture_content = true\nredact = "no_such_module:redact"\n'))
    with pytest.raises(ConfigError) as info:
        create_app(config)
    assert info.value.problems[0].startswith("telemetry.redact: cannot import module")
    with pytest.raises(ConfigError) as bad:
        parse_config(gateway_config(upstream.url, extra='[telemetry]\nredact = "not a hook"\n'))
    assert bad.value.problems[0].startswith("telemetry.redact:")
