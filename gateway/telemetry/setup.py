"""Build the tracer and meter providers, exporters and the observer from `[telemetry]` and the OTEL_* env.

    telemetry = start_telemetry(config, version)        # None when telemetry is off: no wrappers at all
    telemetry.observer                                  # for the dispatcher and endpoints
    ServerSpanMiddleware(app, telemetry.server_spans)   # when telemetry.server_spans is not None
    await telemetry.shutdown()                          # flushes; bounded, even with the collector down

Providers are made per app, never installed as the process-wide globals: tests run several gateways in
one process, and a reload may build another. Environment variables win over the TOML for the OTLP
settings, as operators expect (`OTEL_EXPORTER_OTLP_[TRACES_|METRICS_]ENDPOINT`, `_PROTOCOL`, `_HEADERS`,
`_TIMEOUT`, `_COMPRESSION`, `OTEL_METRIC_EXPORT_INTERVAL`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
`OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import uuid
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any
from urllib.parse import unquote

from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.metrics import Meter, NoOpMeter
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import NoOpTracer, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.re import parse_env_headers
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from gateway.config import ConfigError, GatewayConfig, TelemetryConfig
from gateway.telemetry import semconv as sc
from gateway.telemetry.asgi import ServerSpans
from gateway.telemetry.console import ConsoleLineExporter
from gateway.telemetry.content import ContentCapture, capture_enabled, load_redactor
from gateway.telemetry.export import (
    CountingBatchSpanProcessor,
    ExportHealth,
    GuardedMetricExporter,
    GuardedSpanExporter,
)
from gateway.telemetry.observer import RequestState, TelemetryObserver

log = logging.getLogger("gateway.telemetry")

# The SDK logs every failed batch and every retry; ExportHealth says it once per outage instead.
_NOISY_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http",
    "opentelemetry.exporter.otlp.proto.grpc",
    "opentelemetry.exporter.otlp.common",
    "opentelemetry.sdk._shared_internal",
)
SHUTDOWN_TIMEOUT_S = 5.0
# The BatchSpanProcessor's sizes (OTEL_BSP_* override them; the schedule stays the SDK's 5 s). Two spans a
# request: the queue holds several seconds of a busy gateway while a slow collector holds up an export
# (the SDK's 2048 would be one second at 1,000 requests/s), and a batch is sent as soon as it is full
# (the SDK wakes its worker at max_export_batch_size), not only on the schedule.
BSP_MAX_QUEUE_SIZE = 8192
BSP_MAX_EXPORT_BATCH_SIZE = 512


class Telemetry:
    """Everything telemetry built for one app; `app.py` wires it in."""

    def __init__(
        self,
        observer: TelemetryObserver,
        server_spans: ServerSpans | None,
        tracer_provider: TracerProvider | None,
        meter_provider: MeterProvider | None,
        registry: Any,
        health: list[ExportHealth],
        aborts: list[SpanExporter | MetricExporter],
    ) -> None:
        self.observer = observer
        self.server_spans = server_spans
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.registry = registry  # prometheus_client registry behind /metrics, or None
        self.health = health
        self._aborts = aborts

    @property
    def dropped(self) -> int:
        """Spans and metric points that could not be delivered (collector down, queue full)."""
        return sum(h.dropped for h in self.health)

    async def metrics_endpoint(self, request: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        body = await run_in_threadpool(generate_latest, self.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    def force_flush(self, timeout_s: float = 10.0) -> bool:
        """Export everything recorded so far (blocking; for tests and the benchmark's hook)."""
        ok = True
        if self.tracer_provider is not None:
            ok = self.tracer_provider.force_flush(int(timeout_s * 1000)) and ok
        if self.meter_provider is not None:
            ok = self.meter_provider.force_flush(int(timeout_s * 1000)) and ok
        return ok

    async def shutdown(self, timeout_s: float = SHUTDOWN_TIMEOUT_S) -> None:
        """Flush and stop, on a thread of its own so a slow collector never holds the event loop or the
        process: after `timeout_s` whatever is unsent is dropped."""
        done: concurrent.futures.Future[None] = concurrent.futures.Future()

        def run() -> None:
            try:
                self._shutdown_blocking()
                done.set_result(None)
            except BaseException as exc:
                done.set_exception(exc)

        threading.Thread(target=run, name="telemetry-shutdown", daemon=True).start()
        try:
            await asyncio.wait_for(asyncio.wrap_future(done), timeout_s)
        except TimeoutError:
            self._abort()
            log.warning("telemetry: flushing at shutdown took over %.0f s; unsent data was dropped", timeout_s)
        except Exception:
            log.exception("telemetry: shutdown failed")
        if self.dropped:
            log.info("telemetry: %d spans/metric points could not be exported in this run", self.dropped)

    def _shutdown_blocking(self) -> None:
        if any(h.failing for h in self.health):
            self._abort()  # the collector is down: do not wait for retries that cannot succeed
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown(timeout_millis=SHUTDOWN_TIMEOUT_S * 1000)

    def _abort(self) -> None:
        for exporter in self._aborts:
            try:
                exporter.shutdown()
            except Exception:
                pass


def start_telemetry(
    config: GatewayConfig, version: str, env: Mapping[str, str] | None = None
) -> Telemetry | None:
    """Telemetry for `config`, or None when `[telemetry]` turns it off (exporter "none", no Prometheus)."""
    tc = config.telemetry
    if tc.exporter == "none" and not tc.prometheus:
        return None
    env = os.environ if env is None else env
    redactor = None
    if tc.redact:
        try:
            redactor = load_redactor(tc.redact)
        except ValueError as exc:
            raise ConfigError(config.source or "<config>", [f"telemetry.redact: {exc}"]) from None
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    resource = make_resource(tc, version, env)
    health: list[ExportHealth] = []
    aborts: list[SpanExporter | MetricExporter] = []

    tracer_provider: TracerProvider | None = None
    tracer: Tracer = NoOpTracer()
    if tc.exporter != "none":
        sampler = None  # None: the SDK reads OTEL_TRACES_SAMPLER / _ARG (default: parent-based, always on)
        if not env.get("OTEL_TRACES_SAMPLER") and tc.trace_sample_ratio < 1:
            sampler = ParentBased(TraceIdRatioBased(tc.trace_sample_ratio))
        tracer_provider = TracerProvider(resource=resource, sampler=sampler, shutdown_on_exit=False)
        if tc.exporter == "otlp":
            exporter = span_exporter(tc, env)
            traces = ExportHealth("spans", otlp_destination(tc, env, "traces"))
            health.append(traces)
            aborts.append(exporter)
            tracer_provider.add_span_processor(
                CountingBatchSpanProcessor(GuardedSpanExporter(exporter, traces), traces, **batch_options(env))
            )
        else:  # console: lines appear a fraction of a second after the request, printed off the request path
            tracer_provider.add_span_processor(BatchSpanProcessor(ConsoleLineExporter(), schedule_delay_millis=200))
        tracer = tracer_provider.get_tracer(sc.SCOPE, version, schema_url=sc.SCHEMA_URL)

    readers: list[MetricReader] = []
    if tc.exporter == "otlp" and tc.otlp_metrics:
        exporter_m = metric_exporter(tc, env)
        metrics = ExportHealth("metrics", otlp_destination(tc, env, "metrics"))
        health.append(metrics)
        aborts.append(exporter_m)
        interval = None if env.get("OTEL_METRIC_EXPORT_INTERVAL") else tc.metric_export_interval_ms
        readers.append(PeriodicExportingMetricReader(GuardedMetricExporter(exporter_m, metrics), interval))
    registry = None
    if tc.prometheus:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import CollectorRegistry

        registry = CollectorRegistry()  # this app's own: the module-level default is process-wide
        readers.append(PrometheusMetricReader(registry=registry))
    meter_provider: MeterProvider | None = None
    meter: Meter = NoOpMeter(sc.SCOPE)
    if readers:
        # No exemplars unless OTEL_METRICS_EXEMPLAR_FILTER asks for them: the default (trace_based) would only
        # look for a current span on every record, and the hooks run with none (parents are passed explicitly).
        exemplars = None if env.get("OTEL_METRICS_EXEMPLAR_FILTER") else AlwaysOffExemplarFilter()
        meter_provider = MeterProvider(metric_readers=readers, resource=resource, shutdown_on_exit=False,
                                       exemplar_filter=exemplars)
        meter = meter_provider.get_meter(sc.SCOPE, version, schema_url=sc.SCHEMA_URL)

    content = None
    if tracer_provider is not None and capture_enabled(tc.capture_content, env):
        content = ContentCapture(tc.content_max_chars, redactor, config.secrets())
    current: ContextVar[RequestState | None] = ContextVar("gateway_telemetry_request", default=None)
    observer = TelemetryObserver(
        tracer, meter, sc.Instruments.create(meter, sc.semconv_latest(env), enabled=meter_provider is not None),
        # Upstream gets the attempt's trace context only: the client's baggage is not sent on to providers.
        TraceContextTextMapPropagator(), current, content, tc.provider_names, tracing=tracer_provider is not None,
    )
    server_spans = None
    if tracer_provider is not None:
        inbound = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
        server_spans = ServerSpans(tracer, inbound, observer, current, capture_output=content is not None)
    return Telemetry(observer, server_spans, tracer_provider, meter_provider, registry, health, aborts)


def make_resource(tc: TelemetryConfig, version: str, env: Mapping[str, str]) -> Resource:
    """service.name and friends: the config, then OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME over it."""
    attributes: dict[str, str] = {
        "service.name": tc.service_name,
        "service.version": version,
        "service.instance.id": uuid.uuid4().hex,  # tells --workers processes apart
        **tc.resource_attributes,
    }
    for item in env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            attributes[key.strip()] = unquote(value.strip())
    if env.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = env["OTEL_SERVICE_NAME"]
    return Resource.create(attributes)


def _env(env: Mapping[str, str], signal: str, name: str) -> str | None:
    """OTEL_EXPORTER_OTLP_{SIGNAL}_{NAME}, else OTEL_EXPORTER_OTLP_{NAME}."""
    return env.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_{name}") or env.get(f"OTEL_EXPORTER_OTLP_{name}") or None


def otlp_protocol(tc: TelemetryConfig, env: Mapping[str, str], signal: str) -> str:
    protocol = _env(env, signal, "PROTOCOL") or tc.otlp_protocol
    if protocol not in ("http/protobuf", "grpc"):
        log.warning("telemetry: OTLP protocol %r is not supported; using %s", protocol, tc.otlp_protocol)
        protocol = tc.otlp_protocol
    return protocol


def otlp_destination(tc: TelemetryConfig, env: Mapping[str, str], signal: str) -> str:
    """The endpoint as the exporter takes it: http/protobuf wants the full `/v1/{signal}` URL."""
    specific = env.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
    if specific:
        return specific
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or tc.otlp_endpoint
    if otlp_protocol(tc, env, signal) == "grpc":
        return base
    return base.rstrip("/") + f"/v1/{signal}"


def otlp_headers(tc: TelemetryConfig, env: Mapping[str, str], signal: str) -> dict[str, str]:
    headers = dict(tc.otlp_headers)
    for name in ("OTEL_EXPORTER_OTLP_HEADERS", f"OTEL_EXPORTER_OTLP_{signal.upper()}_HEADERS"):
        if env.get(name):
            headers.update(parse_env_headers(env[name], liberal=True))
    return headers


def _exporter_options(tc: TelemetryConfig, env: Mapping[str, str], signal: str) -> dict[str, Any]:
    # None lets the SDK read the environment variable (it knows its units and spellings).
    return {
        "endpoint": otlp_destination(tc, env, signal),
        "headers": otlp_headers(tc, env, signal),
        "timeout": None if _env(env, signal, "TIMEOUT") else tc.otlp_timeout_s,
    }


def batch_options(env: Mapping[str, str]) -> dict[str, Any]:
    """BatchSpanProcessor sizes: ours, unless an OTEL_BSP_* size is set; then the SDK reads both (ours
    could contradict it: the batch may not exceed the queue)."""
    if env.get("OTEL_BSP_MAX_QUEUE_SIZE") or env.get("OTEL_BSP_MAX_EXPORT_BATCH_SIZE"):
        return {}
    return {"max_queue_size": BSP_MAX_QUEUE_SIZE, "max_export_batch_size": BSP_MAX_EXPORT_BATCH_SIZE}


def span_exporter(tc: TelemetryConfig, env: Mapping[str, str]) -> SpanExporter:
    """The SDK's own OTLP span exporter, http/protobuf or gRPC."""
    options = _exporter_options(tc, env, "traces")
    gzip = tc.otlp_compression == "gzip" and not _env(env, "traces", "COMPRESSION")
    if otlp_protocol(tc, env, "traces") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter

        return GrpcSpanExporter(compression=_grpc_compression(gzip), **options)
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(compression=Compression.Gzip if gzip else None, **options)


def metric_exporter(tc: TelemetryConfig, env: Mapping[str, str]) -> MetricExporter:
    options = _exporter_options(tc, env, "metrics")
    gzip = tc.otlp_compression == "gzip" and not _env(env, "metrics", "COMPRESSION")
    if otlp_protocol(tc, env, "metrics") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter

        return GrpcMetricExporter(compression=_grpc_compression(gzip), **options)
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    return OTLPMetricExporter(compression=Compression.Gzip if gzip else None, **options)


def _grpc_compression(gzip: bool) -> Any:
    if not gzip:
        return None
    import grpc  # type: ignore[import-untyped]

    return grpc.Compression.Gzip
