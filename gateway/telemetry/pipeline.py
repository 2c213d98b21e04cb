"""The telemetry process's work: records in, the OpenTelemetry SDK's spans and metrics out.

Spans go to fastotel's OTLP/HTTP span processor (the SDK exporter's encoding and behaviour, done in Rust off
the GIL: a quarter of the CPU), or to the SDK's `BatchSpanProcessor` in front of its OTLP exporter (gRPC, or
`span_exporter = "sdk"`), or to the console line. Metrics are the SDK's: the `MeterProvider` with its
periodic OTLP reader and the Prometheus reader, the instruments with the spec's bucket boundaries. The
wrappers of export.py only count what could not be delivered and say so once per outage.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from opentelemetry.metrics import Meter
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from gateway.config import TelemetryConfig
from gateway.telemetry import semconv as sc
from gateway.telemetry.console import ConsoleLineExporter
from gateway.telemetry.content import ContentCapture, load_redactor
from gateway.telemetry.export import (
    CountingBatchSpanProcessor,
    ExportHealth,
    GuardedMetricExporter,
    GuardedSpanExporter,
    WatchedSpanProcessor,
)
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
from gateway.telemetry.records import (
    Call,
    Cooldown,
    InFlight,
    Refusal,
    RequestRecord,
    Start,
    StoreError,
)
from gateway.telemetry.spans import SpanMaker

log = logging.getLogger("gateway.telemetry")
CHECK_INTERVAL_S = 2.0


class Pipeline:
    def __init__(self, start: Start, env: Mapping[str, str]) -> None:
        tc = TelemetryConfig.model_validate(start.telemetry)
        for name in NOISY_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
        resource = make_resource(tc, start.version, env)
        scope = InstrumentationScope(sc.SCOPE, start.version, sc.SCHEMA_URL)
        self.health: list[ExportHealth] = []
        self._aborts: list[SpanExporter | MetricExporter] = []
        self.watched: WatchedSpanProcessor | None = None
        self._next_check = 0.0
        names = dict(tc.provider_names)

        def provider_name(provider: str, provider_type: str) -> str:
            """gen_ai.provider.name: the configured override, else the well-known value for the type."""
            return names.get(provider) or sc.PROVIDER_NAMES.get(provider_type, provider_type)

        self.processor = self._span_processor(tc, env)
        self.spans: SpanMaker | None = None
        if self.processor is not None:
            redactor = load_redactor(tc.redact) if tc.redact and start.capture_content else None
            content = ContentCapture(tc.content_max_chars, redactor, list(start.secrets)) if start.capture_content \
                else None
            self.spans = SpanMaker(self.processor, resource, scope, provider_name, content, start.secrets)

        readers = self._metric_readers(tc, env)
        self.meter_provider: MeterProvider | None = None
        self.metrics: MetricRecorder | None = None
        if readers:
            # No exemplars unless OTEL_METRICS_EXEMPLAR_FILTER asks: there is no current span to take them from.
            exemplars = None if env.get("OTEL_METRICS_EXEMPLAR_FILTER") else AlwaysOffExemplarFilter()
            self.meter_provider = MeterProvider(metric_readers=readers, resource=resource, shutdown_on_exit=False,
                                                exemplar_filter=exemplars)
            meter: Meter = self.meter_provider.get_meter(sc.SCOPE, start.version, schema_url=sc.SCHEMA_URL)
            instruments = sc.Instruments.create(meter, sc.semconv_latest(env))
            self.metrics = MetricRecorder(meter, instruments, provider_name)

    def _span_processor(self, tc: TelemetryConfig, env: Mapping[str, str]) -> SpanProcessor | None:
        if tc.exporter == "otlp":
            health = ExportHealth("spans", otlp_destination(tc, env, "traces"))
            self.health.append(health)
            native = native_span_processor(tc, env)
            if native is not None:
                self.watched = WatchedSpanProcessor(native, health)
                return self.watched
            exporter = span_exporter(tc, env)
            self._aborts.append(exporter)
            return CountingBatchSpanProcessor(GuardedSpanExporter(exporter, health), health, **batch_options(env))
        if tc.exporter == "console":  # lines appear a fraction of a second after the request
            return BatchSpanProcessor(ConsoleLineExporter(), schedule_delay_millis=200)
        return None

    def _metric_readers(self, tc: TelemetryConfig, env: Mapping[str, str]) -> list[MetricReader]:
        readers: list[MetricReader] = []
        if tc.exporter == "otlp" and tc.otlp_metrics:
            exporter = metric_exporter(tc, env)
            health = ExportHealth("metrics", otlp_destination(tc, env, "metrics"))
            self.health.append(health)
            self._aborts.append(exporter)
            interval = None if env.get("OTEL_METRIC_EXPORT_INTERVAL") else tc.metric_export_interval_ms
            readers.append(PeriodicExportingMetricReader(GuardedMetricExporter(exporter, health), interval))
        self.registry: Any = None
        if tc.prometheus:
            from opentelemetry.exporter.prometheus import PrometheusMetricReader
            from prometheus_client import CollectorRegistry

            self.registry = CollectorRegistry()
            readers.append(PrometheusMetricReader(registry=self.registry))
        return readers

    # -- records ------------------------------------------------------------------------------------------

    def tick(self) -> None:
        """Now and then (the process calls this after each batch): fastotel's delivery counters."""
        if self.watched is not None and (now := time.monotonic()) >= self._next_check:
            self._next_check = now + CHECK_INTERVAL_S
            self.watched.check()

    def handle(self, item: Any) -> None:
        if isinstance(item, RequestRecord):
            if self.metrics is not None:
                self.metrics.request(item)
            if self.spans is not None:
                self.spans.request(item)
        elif self.metrics is None:
            return
        elif isinstance(item, InFlight):
            self.metrics.set_in_flight(item)
        elif isinstance(item, Cooldown):
            self.metrics.cooldown(item)
        elif isinstance(item, Refusal):
            self.metrics.refusal(item)
        elif isinstance(item, StoreError):
            self.metrics.store_error(item)

    # -- calls --------------------------------------------------------------------------------------------

    def answer(self, call: Call) -> Any:
        if call.kind == "flush":
            return self.flush(call.timeout_s)
        if call.kind == "scrape":
            from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

            return (CONTENT_TYPE_LATEST, generate_latest(self.registry)) if self.registry is not None else None
        if call.kind == "stats":
            return {"dropped": sum(h.dropped for h in self.health), "exported": sum(h.exported for h in self.health)}
        if call.kind == "stop":
            self.stop(call.timeout_s)
            return True
        raise ValueError(f"unknown call {call.kind!r}")

    def flush(self, timeout_s: float) -> bool:
        ok = True
        if self.processor is not None:
            ok = self.processor.force_flush(int(timeout_s * 1000)) and ok
        if self.meter_provider is not None:
            ok = self.meter_provider.force_flush(int(timeout_s * 1000)) and ok
        return ok

    def stop(self, timeout_s: float) -> None:
        """Flush and shut down, for at most `timeout_s`: after that whatever is unsent is dropped."""
        done: concurrent.futures.Future[None] = concurrent.futures.Future()

        def run() -> None:
            try:
                if any(h.failing for h in self.health):
                    self._abort()  # the collector is down: do not wait for retries that cannot succeed
                if self.processor is not None:
                    self.processor.shutdown()
                if self.meter_provider is not None:
                    self.meter_provider.shutdown(timeout_millis=timeout_s * 1000)
                done.set_result(None)
            except BaseException as exc:
                done.set_exception(exc)

        threading.Thread(target=run, name="telemetry-shutdown", daemon=True).start()
        try:
            done.result(timeout_s)
        except concurrent.futures.TimeoutError:
            self._abort()
            log.warning("telemetry: flushing at shutdown took over %.0f s; unsent data was dropped", timeout_s)
        except Exception:
            log.exception("telemetry: shutdown failed")
        dropped = sum(h.dropped for h in self.health)
        if dropped:
            log.info("telemetry: %d spans/metric points could not be exported in this run", dropped)

    def _abort(self) -> None:
        for exporter in self._aborts:
            try:
                exporter.shutdown()
            except Exception:
                pass
