"""The standard SDK path: the gateway's spans and metrics are the process's OpenTelemetry, so it composes with
`opentelemetry-instrument` and other instrumentations, and the standard environment variables work."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, Sampler, TraceIdRatioBased

from gateway.app import create_app
from gateway.config import parse_config
from gateway.telemetry.setup import follows_parent
from tests.conftest import gateway_config
from tests.fakes.openai_compat import FakeOpenAI
from tests.fakes.otlp import FakeCollector, Span
from tests.support import RunningServer, run_server, serve
from tests.telemetry.conftest import TelemetryGatewayFactory, flush, telemetry_section

MESSAGES = [{"role": "user", "content": "Say hello"}]
AIOHTTP_INSTRUMENTED = importlib.util.find_spec("opentelemetry.instrumentation.aiohttp_client") is not None


def traceparent(header: str) -> tuple[str, str]:
    _, trace_id, span_id, _ = header.split("-")
    return trace_id, span_id


def wait_for(collector: FakeCollector, count: int, kind: str) -> list[Span]:
    deadline = time.monotonic() + 15
    while len(collector.spans(kind)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return collector.spans(kind)


def test_under_opentelemetry_instrument_one_server_span_and_the_upstream_in_the_trace(
    collector_server: RunningServer, collector: FakeCollector, upstream: RunningServer, fake: FakeOpenAI,
    tmp_path: Path,
) -> None:
    """`opentelemetry-instrument gateway serve`, the SDK set up by the distro from OTEL_* alone and the
    aiohttp client instrumented: the gateway records into those providers (its [telemetry] exports nothing),
    one SERVER span a request, its attempt under it, the instrumented HTTP call under the attempt, and the
    upstream's traceparent in that trace."""
    config = tmp_path / "gateway.toml"
    config.write_text(gateway_config(upstream.url))
    env = {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none",
           "OTEL_EXPORTER_OTLP_ENDPOINT": collector_server.url, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
           "OTEL_SERVICE_NAME": "instrumented-gateway", "OTEL_BSP_SCHEDULE_DELAY": "100",
           "GATEWAY_CONFIG": str(config)}  # (opentelemetry-instrument would take --config for one of its own)
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    with serve(cwd=tmp_path, env=env, launcher=[str(instrument)]) as (process, url):
        client = openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0)
        client.chat.completions.create(model="gpt-test", messages=MESSAGES)
        sent = fake.last.headers["traceparent"]
        list(client.chat.completions.create(model="gpt-test", messages=MESSAGES, stream=True))
        servers = wait_for(collector, 2, "SERVER")
        clients = wait_for(collector, 4 if AIOHTTP_INSTRUMENTED else 2, "CLIENT")
        process.terminate()
        output = process.communicate(timeout=10)[0]
    assert len(servers) == 2, [s.name for s in servers]  # one SERVER span a request, not two
    assert all(s.resource["service.name"] == "instrumented-gateway" for s in servers)  # the distro's resource
    [first] = [s for s in servers if s.attributes.get("gen_ai.request.stream") is not True]
    assert first.attributes["gateway.route"] == "gpt-test" and first.attributes["http.response.status_code"] == 200
    attempts = [c for c in clients if c.parent_span_id == first.span_id]
    [attempt] = attempts
    assert attempt.attributes["gen_ai.operation.name"] == "chat"
    assert attempt.attributes["gen_ai.usage.output_tokens"] > 0
    trace_id, parent = traceparent(sent)
    assert trace_id == first.trace_id  # the upstream's request belongs to this trace
    if AIOHTTP_INSTRUMENTED:  # the instrumented aiohttp call nests under the attempt and carries the context
        [http_call] = [c for c in clients if c.parent_span_id == attempt.span_id]
        assert parent == http_call.span_id
    else:
        assert parent == attempt.span_id
    assert "Traceback" not in output, output


def test_an_asgi_instrumentations_server_span_gets_the_gateways_attributes(
    collector_server: RunningServer, collector: FakeCollector, upstream: RunningServer, fake: FakeOpenAI,
) -> None:
    """The app wrapped in the ASGI instrumentation's middleware: its SERVER span serves the request and
    carries the gateway's facts; the gateway makes no second one, and its attempt spans nest under it."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = create_app(parse_config(gateway_config(upstream.url, extra=telemetry_section(collector_server.url))))
    with run_server(OpenTelemetryMiddleware(app, tracer_provider=provider)) as gateway:
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=0)
        client.chat.completions.create(model="gpt-test", messages=MESSAGES)
        assert app.state.telemetry.force_flush(10)
    assert collector.spans("SERVER") == []  # the gateway made none of its own
    [server] = [s for s in exporter.get_finished_spans() if s.kind.name == "SERVER"]
    assert server.attributes is not None
    assert server.attributes["gateway.route"] == "gpt-test" and server.attributes["gateway.attempts"] == 1
    assert "gen_ai.operation.name" not in server.attributes
    [attempt] = collector.spans("CLIENT")
    assert attempt.parent_span_id == f"{server.context.span_id:016x}"
    assert traceparent(fake.last.headers["traceparent"]) == (attempt.trace_id, attempt.span_id)


def test_otel_sdk_disabled_turns_telemetry_off(
    start_traced: TelemetryGatewayFactory, collector: FakeCollector, fake: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    gateway = start_traced()
    assert httpx.post(gateway.url + "/v1/chat/completions", json={"model": "gpt-test", "messages": MESSAGES}
                      ).status_code == 200
    assert gateway.server.config.app.state.telemetry is None
    assert "traceparent" not in fake.last.headers


def test_otel_traces_and_metrics_exporter_variables(
    start_traced: TelemetryGatewayFactory, collector: FakeCollector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OTEL_TRACES_EXPORTER=none keeps metrics; OTEL_METRICS_EXPORTER=none keeps spans."""
    body = {"model": "gpt-test", "messages": MESSAGES}
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    gateway = start_traced()
    assert httpx.post(gateway.url + "/v1/chat/completions", json=body).status_code == 200
    flush(gateway)
    assert collector.spans() == [] and "gateway.requests" in collector.metric_names()
    collector.reset()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    gateway = start_traced()
    assert httpx.post(gateway.url + "/v1/chat/completions", json=body).status_code == 200
    flush(gateway)
    assert [s.kind for s in collector.spans()] == ["CLIENT", "SERVER"] and collector.metric_names() == set()


def test_traces_false_is_metrics_only(
    start_traced: TelemetryGatewayFactory, collector: FakeCollector, fake: FakeOpenAI
) -> None:
    gateway = start_traced(telemetry="traces = false")
    assert httpx.post(gateway.url + "/v1/chat/completions", json={"model": "gpt-test", "messages": MESSAGES}
                      ).status_code == 200
    flush(gateway)
    assert collector.spans() == []
    assert "gen_ai.client.operation.duration" in collector.metric_names()
    assert "traceparent" not in fake.last.headers  # no trace context made up for the upstream


def test_otel_propagators_are_the_ones_used(upstream: RunningServer, collector_server: RunningServer,
                                           collector: FakeCollector, fake: FakeOpenAI) -> None:
    """OTEL_PROPAGATORS=tracecontext (no baggage propagator): the client's trace is continued and the client's
    baggage is not read, so none goes upstream (the SDK reads the variable when it is first imported, so this
    runs in a process of its own)."""
    script = f"""
import httpx
from gateway.app import create_app
from gateway.config import parse_config
from tests.conftest import gateway_config
from tests.support import run_server
from tests.telemetry.conftest import flush, telemetry_section
app = create_app(parse_config(gateway_config({upstream.url!r}, extra=telemetry_section({collector_server.url!r}))))
with run_server(app) as gateway:
    answer = httpx.post(gateway.url + "/v1/chat/completions",
                        json={{"model": "gpt-test", "messages": [{{"role": "user", "content": "hi"}}]}},
                        headers={{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                                  "baggage": "tenant=acme"}})
    assert answer.status_code == 200, answer.text
    flush(gateway)
"""
    for propagators, baggage in (("tracecontext", None), ("tracecontext,baggage", "tenant=acme")):
        fake.requests.clear()
        collector.reset()
        result = subprocess.run([sys.executable, "-c", script], env={**os.environ, "OTEL_PROPAGATORS": propagators},
                                capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2])
        assert result.returncode == 0, result.stderr
        assert fake.last.headers.get("baggage") == baggage, propagators
        assert traceparent(fake.last.headers["traceparent"])[0] == "0af7651916cd43dd8448eb211c80319c"
        [server] = collector.spans("SERVER")
        assert server.trace_id == "0af7651916cd43dd8448eb211c80319c" and server.parent_span_id == "b7ad6b7169203331"


@pytest.mark.parametrize(("sampler", "follows"), [
    (None, True),  # the SDK's default (OTEL_TRACES_SAMPLER unset): parent-based, always on
    (ParentBased(TraceIdRatioBased(0.1)), True),  # trace_sample_ratio = 0.1
    (ParentBased(ALWAYS_ON, local_parent_not_sampled=ALWAYS_ON), False),
    (ALWAYS_ON, False),
])
def test_an_attempt_under_an_unsampled_server_span_is_spanless_only_where_the_sampler_drops_it(
    sampler: Sampler | None, follows: bool, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An attempt whose SERVER span is not sampled gets no span of its own (the SERVER span's context goes
    upstream instead) only when the provider's sampler would drop it anyway; any other sampler still decides."""
    monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    assert follows_parent(TracerProvider(sampler=sampler, shutdown_on_exit=False)) is follows
