"""Telemetry for one app, from `[telemetry]` and the OTEL_* environment, on the SDK's standard path.

    telemetry = start_telemetry(config, version)        # None when telemetry is off: no wrappers at all
    telemetry.observer                                  # for the dispatcher and endpoints
    ServerSpanMiddleware(app, telemetry.tracing)        # when telemetry.tracing is not None
    await telemetry.shutdown()                          # flushes; bounded, even with the collector down

A `TracerProvider` (exporters.py: fastotel's span processor or the SDK's) and a `MeterProvider` (the OTLP and
Prometheus readers) become the process's global providers unless some were set before (by
`opentelemetry-instrument`, say): then the gateway records into those, with their exporters and resource.
`OTEL_SDK_DISABLED`, `OTEL_TRACES_EXPORTER`, `OTEL_METRICS_EXPORTER`, `OTEL_TRACES_SAMPLER` and
`OTEL_METRIC_EXPORT_INTERVAL` work as the SDK defines them; `OTEL_PROPAGATORS` through context.py.
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
from gateway.telemetry.console import ConsoleLineExporter
from gateway.telemetry.content import ContentCapture, capture_enabled, load_redactor
from gateway.telemetry.exporters import (
    NOISY_LOGGERS,
    ExportHealth,
    make_resource,
    metric_exporter,
    otlp_destination,
    span_processor,
)
from gateway.telemetry.metrics import MetricRecorder
from gateway.telemetry.observer import TelemetryObserver
from gateway.telemetry.spans import Tracing

SHUTDOWN_TIMEOUT_S = 5.0
log = logging.getLogger("gateway.telemetry")
# Providers made here: a second app in the same process (tests) makes its own rather than take the first's.
_OURS: weakref.WeakSet[Any] = weakref.WeakSet()


def _kinds(env: Mapping[str, str], name: str, default: set[str]) -> set[str]:
    """OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER as a set of exporter names, else `default`."""
    value = env.get(name, "").strip()
    return ({part.strip().lower() for part in value.split(",")} if value else default) - {"none", ""}


def follows_parent(provider: Any) -> bool:
    """Whether the provider's sampler drops every span whose (local) parent is not sampled, as the SDK's default
    and `trace_sample_ratio`'s ParentBased samplers do: told by the sampler's public description."""
    sampler = getattr(provider, "sampler", None)
    if not isinstance(sampler, ParentBased):
        return False
    description: str = sampler.get_description()  # type: ignore[no-untyped-call]
    return "localParentNotSampled:AlwaysOffSampler" in description


class Telemetry:
    """Everything telemetry built for one app; `app.py` wires it in."""

    def __init__(self, tc: TelemetryConfig, version: str, env: Mapping[str, str], secrets: list[str]) -> None:
        for name in NOISY_LOGGERS:  # ExportHealth says an outage once instead
            logging.getLogger(name).setLevel(logging.CRITICAL)
        self.health: list[ExportHealth] = []
        self.owned: list[Any] = []  # providers made here: flushed and shut down with the app
        self.external: list[Any] = []  # the user's providers the gateway records into: flushed only
        self.registry: Any = None  # Prometheus, when /metrics is served
        names = dict(tc.provider_names)

        def provider_name(provider: str, provider_type: str) -> str:
            """gen_ai.provider.name: the configured override, else the well-known value for the type."""
            return names.get(provider) or sc.PROVIDER_NAMES.get(provider_type, provider_type)

        resource = make_resource(tc, version)
        self.tracing: Tracing | None = None
        tracer_provider = self._tracer_provider(
            tc, env, resource, _kinds(env, "OTEL_TRACES_EXPORTER", {str(tc.exporter)} if tc.traces else set()))
        if tracer_provider is not None:
            capture = capture_enabled(tc.capture_content, env)
            redactor = load_redactor(tc.redact) if tc.redact and capture else None
            content = ContentCapture(tc.content_max_chars, redactor, secrets) if capture else None
            tracer = tracer_provider.get_tracer(sc.SCOPE, version, schema_url=sc.SCHEMA_URL)
            self.tracing = Tracing(tracer, provider_name, content, secrets, tc.propagate_baggage,
                                   follows_parent(tracer_provider))
        metric_kinds = _kinds(env, "OTEL_METRICS_EXPORTER", {"otlp"} if tc.exporter == "otlp" and tc.otlp_metrics
                              else set())
        self.prometheus = tc.prometheus or "prometheus" in metric_kinds
        meter_provider = self._meter_provider(tc, env, resource, metric_kinds)
        self.recorder: MetricRecorder | None = None
        if meter_provider is not None:
            meter = meter_provider.get_meter(sc.SCOPE, version, schema_url=sc.SCHEMA_URL)
            self.recorder = MetricRecorder(meter, sc.Instruments.create(meter, sc.semconv_latest(env)), provider_name)
        self.observer = TelemetryObserver(self.tracing, self.recorder)
        # --workers N: every worker's metrics in one scrape (workers.py; it imports prometheus_client)
        self.workers_dir = os.environ.get("GATEWAY_METRICS_DIR") if self.prometheus else None
        self.publisher: Any = None
        if self.workers_dir:
            from gateway.telemetry import workers

            self.publisher = workers.Publisher(self.workers_dir, self._exposition)

    def _tracer_provider(self, tc: TelemetryConfig, env: Mapping[str, str], resource: Any, kinds: set[str]) -> Any:
        current = trace.get_tracer_provider()
        if not isinstance(current, trace.ProxyTracerProvider) and current not in _OURS:
            log.info("telemetry: spans go to the TracerProvider already set in this process")
            self.external.append(current)
            return current
        processors: list[SpanProcessor] = []
        for kind in sorted(kinds):
            if kind == "otlp":
                self.health.append(ExportHealth("spans", otlp_destination(tc, env, "traces")))
                processors.append(span_processor(tc, env, self.health[-1]))
            elif kind == "console":  # the TOML's: a line a request; OTEL_TRACES_EXPORTER=console: the SDK's JSON
                console = ConsoleLineExporter() if tc.exporter == "console" else ConsoleSpanExporter()
                processors.append(BatchSpanProcessor(console, schedule_delay_millis=200))
            else:
                log.warning("telemetry: span exporter %r is unknown here (otlp, console, none); ignored", kind)
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

    def _meter_provider(self, tc: TelemetryConfig, env: Mapping[str, str], resource: Any, kinds: set[str]) -> Any:
        """With Prometheus always the gateway's own: /metrics reads its reader."""
        current = metrics.get_meter_provider()
        if isinstance(current, MeterProvider) and current not in _OURS and not self.prometheus:
            log.info("telemetry: metrics go to the MeterProvider already set in this process")
            self.external.append(current)
            return current
        readers: list[MetricReader] = []
        if "otlp" in kinds:
            self.health.append(ExportHealth("metrics", otlp_destination(tc, env, "metrics")))
            interval = None if env.get("OTEL_METRIC_EXPORT_INTERVAL") else tc.metric_export_interval_ms
            readers.append(PeriodicExportingMetricReader(metric_exporter(tc, env, self.health[-1]), interval))
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

    @property
    def metrics(self) -> bool:
        return self.recorder is not None

    @property
    def dropped(self) -> int:
        """Spans and metric points that could not be delivered (collector down or refusing)."""
        return sum(h.dropped for h in self.health)

    def _exposition(self) -> bytes | None:
        from prometheus_client import generate_latest

        return None if self.registry is None else generate_latest(self.registry)

    async def metrics_endpoint(self, request: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        body = await asyncio.to_thread(self._exposition) or b""
        if self.workers_dir:
            from gateway.telemetry import workers

            body = await asyncio.to_thread(workers.merged, body, self.workers_dir)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    def force_flush(self, timeout_s: float = 10.0) -> bool:
        """Export everything answered so far (blocking; for tests and the benchmark). Spans end just after a
        request's last byte went out, so this first waits (a little) for those."""
        deadline = time.monotonic() + min(timeout_s, 2.0)
        while self.tracing is not None and self.tracing.active and time.monotonic() < deadline:
            time.sleep(0.005)
        flushes = [getattr(p, "force_flush", None) for p in self.owned + self.external]
        return all([flush(int(timeout_s * 1000)) for flush in flushes if flush is not None])

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
                    provider.shutdown()
                except Exception:
                    log.exception("telemetry: shutdown failed")
            for provider in self.external:
                if hasattr(provider, "force_flush"):
                    provider.force_flush(int(timeout_s * 1000))

        worker = threading.Thread(target=run, name="telemetry-shutdown", daemon=True)
        worker.start()
        worker.join(0.5 if failing else timeout_s)  # a collector that is down: do not wait for its retries
        if worker.is_alive():
            log.warning("telemetry: flushing at shutdown took too long (collector down?); unsent data was dropped")
        if self.dropped:
            log.info("telemetry: %d spans/metric points could not be exported in this run", self.dropped)


def start_telemetry(config: GatewayConfig, version: str, env: Mapping[str, str] | None = None) -> Telemetry | None:
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
    return None if telemetry.tracing is None and telemetry.recorder is None else telemetry
