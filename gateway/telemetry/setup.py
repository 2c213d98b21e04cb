"""Telemetry for one app, from `[telemetry]` and the OTEL_* environment, on the SDK's standard path.

    telemetry = start_telemetry(config, version)        # None when telemetry is off: no wrappers at all
    telemetry.observer                                  # for the dispatcher and endpoints
    ServerSpanMiddleware(app, telemetry.tracing)        # when telemetry.tracing is not None
    await telemetry.shutdown()                          # flushes; bounded, even with the collector down

Spans and metrics are made in the serving process by the OpenTelemetry SDK: a `TracerProvider` with fastotel's
OTLP/HTTP span processor (the SDK's `BatchSpanProcessor` for gRPC, `span_exporter = "sdk"`, or where fastotel
is not installed), a `MeterProvider` with the OTLP and Prometheus readers. They become the process's global
providers unless some were set before (by `opentelemetry-instrument`, say): then the gateway uses those, and
their exporters and resource. The standard environment variables work as the SDK defines them:
`OTEL_SDK_DISABLED`, `OTEL_TRACES_EXPORTER`, `OTEL_METRICS_EXPORTER`, `OTEL_PROPAGATORS`, `OTEL_TRACES_SAMPLER`,
the `OTEL_EXPORTER_OTLP_*` family, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_*`,
`OTEL_METRIC_EXPORT_INTERVAL`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import weakref
from collections.abc import Mapping
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from starlette.requests import Request
from starlette.responses import Response

from gateway.config import ConfigError, GatewayConfig, TelemetryConfig
from gateway.telemetry import semconv as sc
from gateway.telemetry import workers
from gateway.telemetry.console import ConsoleLineExporter
from gateway.telemetry.content import ContentCapture, capture_enabled, load_redactor
from gateway.telemetry.export import ExportHealth, GuardedSpanExporter
from gateway.telemetry.exporters import (
    NOISY_LOGGERS,
    batch_options,
    make_resource,
    metric_exporter,
    native_span_processor,
    otlp_destination,
    span_exporter,
)
from gateway.telemetry.metrics import MetricRecorder
from gateway.telemetry.observer import TelemetryObserver
from gateway.telemetry.spans import Tracing

SHUTDOWN_TIMEOUT_S = 5.0
log = logging.getLogger("gateway.telemetry")
# Providers this module made: a second app in the same process (tests, a reload) makes its own rather than
# take the first one's as the user's.
_OURS: weakref.WeakSet[Any] = weakref.WeakSet()


def _exporters(env: Mapping[str, str], name: str) -> set[str] | None:
    """OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER as a set of names, None when not set."""
    value = env.get(name, "").strip()
    return {part.strip().lower() for part in value.split(",") if part.strip()} if value else None


class Telemetry:
    """Everything telemetry built for one app; `app.py` wires it in."""

    def __init__(self, tc: TelemetryConfig, version: str, env: Mapping[str, str], secrets: list[str]) -> None:
        for name in NOISY_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
        self.health: list[ExportHealth] = []
        self.owned: list[Any] = []  # the providers made here: flushed and shut down with the app
        self.external: list[Any] = []  # the user's providers the gateway records into: flushed, not shut down
        self.registry: Any = None  # Prometheus, when /metrics is served
        names = dict(tc.provider_names)

        def provider_name(provider: str, provider_type: str) -> str:
            """gen_ai.provider.name: the configured override, else the well-known value for the type."""
            return names.get(provider) or sc.PROVIDER_NAMES.get(provider_type, provider_type)

        resource = make_resource(tc, version, env)
        traces = _exporters(env, "OTEL_TRACES_EXPORTER")
        span_kinds: set[str] = traces - {"none"} if traces is not None else (
            {str(tc.exporter)} - {"none"} if tc.traces else set())
        self.tracing: Tracing | None = None
        tracer_provider = self._tracer_provider(tc, env, resource, span_kinds)
        if tracer_provider is not None:
            capture = capture_enabled(tc.capture_content, env)
            redactor = load_redactor(tc.redact) if tc.redact and capture else None
            content = ContentCapture(tc.content_max_chars, redactor, secrets) if capture else None
            tracer = tracer_provider.get_tracer(sc.SCOPE, version, schema_url=sc.SCHEMA_URL)
            self.tracing = Tracing(tracer, provider_name, content, secrets, tc.propagate_baggage)

        wanted = _exporters(env, "OTEL_METRICS_EXPORTER")
        metric_kinds = wanted - {"none"} if wanted is not None else (
            {"otlp"} if tc.exporter == "otlp" and tc.otlp_metrics else set())
        self.prometheus = tc.prometheus or "prometheus" in metric_kinds
        meter_provider = self._meter_provider(tc, env, resource, metric_kinds)
        self.recorder: MetricRecorder | None = None
        if meter_provider is not None:
            meter = meter_provider.get_meter(sc.SCOPE, version, schema_url=sc.SCHEMA_URL)
            self.recorder = MetricRecorder(meter, sc.Instruments.create(meter, sc.semconv_latest(env)), provider_name)
        self.observer = TelemetryObserver(self.tracing, self.recorder)
        # --workers N: every worker's metrics in one scrape (gateway/telemetry/workers.py)
        self.workers_dir = os.environ.get(workers.DIR_ENV) if self.prometheus else None
        self.publisher = workers.Publisher(self.workers_dir, self._exposition) if self.workers_dir else None

    # -- providers --------------------------------------------------------------------------------------

    def _tracer_provider(self, tc: TelemetryConfig, env: Mapping[str, str], resource: Any,
                         kinds: set[str]) -> Any:
        """The global TracerProvider someone else set, else ours (registered as the global if none is)."""
        current = trace.get_tracer_provider()
        if not isinstance(current, trace.ProxyTracerProvider) and current not in _OURS:
            log.info("telemetry: spans go to the TracerProvider already set in this process")
            self.external.append(current)
            return current
        processors = [p for p in (self._span_processor(tc, env, kind) for kind in sorted(kinds)) if p is not None]
        if not processors:
            return None
        sampler = None  # the SDK's: OTEL_TRACES_SAMPLER, else parent-based always-on
        if not env.get("OTEL_TRACES_SAMPLER") and tc.trace_sample_ratio < 1:
            sampler = ParentBased(TraceIdRatioBased(tc.trace_sample_ratio))
        provider = TracerProvider(sampler=sampler, resource=resource, shutdown_on_exit=False)
        for processor in processors:
            provider.add_span_processor(processor)
        self._own(provider)
        if isinstance(current, trace.ProxyTracerProvider):
            trace.set_tracer_provider(provider)
        return provider

    def _span_processor(self, tc: TelemetryConfig, env: Mapping[str, str], kind: str) -> SpanProcessor | None:
        if kind == "otlp":
            health = ExportHealth("spans", otlp_destination(tc, env, "traces"))
            self.health.append(health)
            native = native_span_processor(tc, env)
            if native is not None:
                return native
            return BatchSpanProcessor(GuardedSpanExporter(span_exporter(tc, env), health), **batch_options(env))
        if kind == "console":  # the TOML's: a line a request; OTEL_TRACES_EXPORTER=console: the SDK's JSON
            exporter = ConsoleLineExporter() if tc.exporter == "console" else ConsoleSpanExporter()
            return BatchSpanProcessor(exporter, schedule_delay_millis=200)
        log.warning("telemetry: span exporter %r is not one the gateway knows (otlp, console, none); ignored", kind)
        return None

    def _meter_provider(self, tc: TelemetryConfig, env: Mapping[str, str], resource: Any,
                        kinds: set[str]) -> Any:
        """The global MeterProvider someone else set, else ours (registered as the global if none is). With
        Prometheus the gateway's own: /metrics reads its reader."""
        current = metrics.get_meter_provider()
        if isinstance(current, MeterProvider) and current not in _OURS and not self.prometheus:
            log.info("telemetry: metrics go to the MeterProvider already set in this process")
            self.external.append(current)
            return current
        readers: list[MetricReader] = []
        if "otlp" in kinds:
            health = ExportHealth("metrics", otlp_destination(tc, env, "metrics"))
            self.health.append(health)
            interval = None if env.get("OTEL_METRIC_EXPORT_INTERVAL") else tc.metric_export_interval_ms
            readers.append(PeriodicExportingMetricReader(metric_exporter(tc, env, health), interval))
        if "console" in kinds:
            readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter()))
        if self.prometheus:
            from opentelemetry.exporter.prometheus import PrometheusMetricReader
            from prometheus_client import CollectorRegistry

            self.registry = CollectorRegistry()
            readers.append(PrometheusMetricReader(registry=self.registry))
        if not readers:
            return None
        # No exemplars unless OTEL_METRICS_EXEMPLAR_FILTER asks: each costs a look at the current span.
        exemplars = None if env.get("OTEL_METRICS_EXEMPLAR_FILTER") else AlwaysOffExemplarFilter()
        provider = MeterProvider(metric_readers=readers, resource=resource, shutdown_on_exit=False,
                                 exemplar_filter=exemplars)
        self._own(provider)
        if not isinstance(current, MeterProvider):
            metrics.set_meter_provider(provider)
        return provider

    def _own(self, provider: Any) -> None:
        _OURS.add(provider)
        self.owned.append(provider)

    # -- what the app and tests use ---------------------------------------------------------------------

    @property
    def metrics(self) -> bool:
        return self.recorder is not None

    @property
    def dropped(self) -> int:
        """Spans and metric points that could not be delivered (collector down or refusing)."""
        return sum(h.dropped for h in self.health)

    def _exposition(self) -> bytes | None:
        if self.registry is None:
            return None
        from prometheus_client import generate_latest

        return generate_latest(self.registry)

    async def metrics_endpoint(self, request: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        body = await asyncio.to_thread(self._exposition) or b""
        if self.workers_dir:
            body = await asyncio.to_thread(workers.merged, body, self.workers_dir)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    def force_flush(self, timeout_s: float = 10.0) -> bool:
        """Export everything answered so far (blocking; for tests and the benchmark). Spans are ended just
        after a request's last byte went out, so this first waits (a little) for those."""
        deadline = time.monotonic() + min(timeout_s, 2.0)
        while self.tracing is not None and self.tracing.active and time.monotonic() < deadline:
            time.sleep(0.005)
        ok = True
        for provider in self.owned + self.external:
            flush = getattr(provider, "force_flush", None)
            ok = bool(flush(int(timeout_s * 1000))) and ok if flush is not None else ok
        return ok

    async def shutdown(self, timeout_s: float = SHUTDOWN_TIMEOUT_S) -> None:
        """Flush and stop, off the event loop; bounded even with the collector down."""
        await asyncio.to_thread(self.close, timeout_s)

    def close(self, timeout_s: float = SHUTDOWN_TIMEOUT_S) -> None:
        if self.publisher is not None:
            self.publisher.stop()
        failing = any(h.failing for h in self.health)

        def run() -> None:
            for provider in self.owned:
                try:
                    if isinstance(provider, MeterProvider):
                        provider.shutdown(timeout_millis=200 if failing else timeout_s * 1000)
                    else:
                        provider.shutdown()
                except Exception:
                    log.exception("telemetry: shutdown failed")
            for provider in self.external:
                flush = getattr(provider, "force_flush", None)
                if flush is not None:
                    flush(int(timeout_s * 1000))

        worker = threading.Thread(target=run, name="telemetry-shutdown", daemon=True)
        worker.start()
        worker.join(0.5 if failing else timeout_s)  # a collector that is down: do not wait for its retries
        if worker.is_alive():
            log.warning("telemetry: flushing at shutdown took too long (collector down?); unsent data was dropped")
        if self.dropped:
            log.info("telemetry: %d spans/metric points could not be exported in this run", self.dropped)


def start_telemetry(
    config: GatewayConfig, version: str, env: Mapping[str, str] | None = None
) -> Telemetry | None:
    """Telemetry for `config`, or None when it is off (nothing to export, or OTEL_SDK_DISABLED)."""
    tc = config.telemetry
    environment = os.environ if env is None else env
    if environment.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        log.info("telemetry: OTEL_SDK_DISABLED is set, so the gateway makes no spans or metrics")
        return None
    if tc.redact:
        try:
            load_redactor(tc.redact)  # here, so that a bad hook is a config error and not a log line
        except ValueError as exc:
            raise ConfigError(config.source or "<config>", [f"telemetry.redact: {exc}"]) from None
    telemetry = Telemetry(tc, version, environment, list(config.secrets()))
    if telemetry.tracing is None and telemetry.recorder is None:
        return None
    return telemetry
