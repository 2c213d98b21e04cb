"""Exporter wrappers: an unreachable collector costs requests nothing and is said once.

The exporting itself is the libraries': fastotel's `OTLPSpanProcessor` for spans over OTLP/HTTP, else the
SDK's standard `OTLPSpanExporter` (http/protobuf or gRPC) behind its `BatchSpanProcessor`, and the SDK's
`OTLPMetricExporter` behind its `PeriodicExportingMetricReader`. What they do not do is say the right amount:
the SDK logs every failed batch and every retry, fastotel logs nothing and only counts. These thin wrappers
watch the results: they count what could not be delivered (`ExportHealth.dropped`), log the first failure of
an outage and its end, and nothing in between; the SDK's own exporter loggers are turned down accordingly.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

log = logging.getLogger("gateway.telemetry")


class ExportHealth:
    """Whether a signal's exporter is getting through, and how much it has dropped. Thread-safe."""

    def __init__(self, signal: str, destination: str) -> None:
        self.signal = signal
        self.destination = destination
        self.dropped = 0
        self.exported = 0
        self.failing = False
        self._lock = threading.Lock()

    def succeeded(self, count: int) -> None:
        with self._lock:
            self.exported += count
            if not self.failing:
                return
            self.failing = False
            dropped = self.dropped
        log.info("telemetry: %s export to %s works again (%d items dropped so far)",
                 self.signal, self.destination, dropped)

    def failed(self, count: int, reason: str = "") -> None:
        with self._lock:
            self.dropped += count
            if self.failing:
                return
            self.failing = True
        log.warning("telemetry: cannot export %s to %s%s; requests are not affected, the data is dropped "
                    "and counted (logged once until it works again)", self.signal, self.destination,
                    f" ({reason})" if reason else "")

    def queue_full(self) -> None:
        with self._lock:
            self.dropped += 1


class GuardedSpanExporter(SpanExporter):
    def __init__(self, inner: SpanExporter, health: ExportHealth) -> None:
        self.inner = inner
        self.health = health

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self.inner.export(spans)
        except Exception as exc:
            self.health.failed(len(spans), type(exc).__name__)
            return SpanExportResult.FAILURE
        if result is SpanExportResult.SUCCESS:
            self.health.succeeded(len(spans))
        else:
            self.health.failed(len(spans))
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class GuardedMetricExporter(MetricExporter):
    def __init__(self, inner: MetricExporter, health: ExportHealth) -> None:
        super().__init__(
            preferred_temporality=inner._preferred_temporality,
            preferred_aggregation=inner._preferred_aggregation,
        )
        self.inner = inner
        self.health = health

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        points = _count_points(metrics_data)
        try:
            result = self.inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        except Exception as exc:
            self.health.failed(points, type(exc).__name__)
            return MetricExportResult.FAILURE
        if result is MetricExportResult.SUCCESS:
            self.health.succeeded(points)
        else:
            self.health.failed(points)
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self.inner.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.inner.shutdown(timeout_millis=timeout_millis, **kwargs)


class CountingBatchSpanProcessor(BatchSpanProcessor):
    """A BatchSpanProcessor that counts the spans its full queue drops (the SDK only logs them)."""

    def __init__(self, exporter: SpanExporter, health: ExportHealth, **kwargs: Any) -> None:
        super().__init__(exporter, **kwargs)
        self.health = health
        # The queue lives in the SDK's private BatchProcessor; without it we simply do not count.
        inner = getattr(self, "_batch_processor", None)
        self._queue: Any = getattr(inner, "_queue", None)
        self._limit: int = getattr(inner, "_max_queue_size", 0)

    def on_end(self, span: ReadableSpan) -> None:
        if self._queue is not None and len(self._queue) >= self._limit:
            self.health.queue_full()
        super().on_end(span)


class WatchedSpanProcessor(SpanProcessor):
    """fastotel's `OTLPSpanProcessor` (batching, protobuf, gzip and HTTP in Rust, off the GIL), with its delivery
    counters turned into ExportHealth's lines: `check()` runs after a flush and now and then in between.

    Its counters (dropped, failed, rejected, retries) are read from its native half until fastotel makes them
    public (its issue #14); without them nothing is counted, and spans are still exported."""

    def __init__(self, inner: SpanProcessor, health: ExportHealth) -> None:
        self.inner = inner
        self.health = health
        self.handed = 0
        self._checked = (0, 0, 0)  # (handed, lost, retries) at the last check
        self.counting = True  # False once the counters turned out unreadable

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        self.handed += 1
        self.inner.on_end(span)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        done = self.inner.force_flush(timeout_millis)
        self.check(settled=done)
        return done

    def shutdown(self) -> None:
        self.inner.shutdown()
        self.check(settled=True)

    def check(self, settled: bool = False) -> None:
        """Spans lost since the last check are a failure; spans handed over with no loss and no retry since
        (or all settled by a flush) mean export works."""
        native = getattr(self.inner, "_native", None) if self.counting else None
        if native is None:
            return
        try:
            lost = int(native.dropped_spans()) + int(native.failed_spans()) + int(native.rejected_spans())
            retries = int(native.retries())
        except (AttributeError, TypeError, ValueError):  # a fastotel release changed them: stop reading them
            log.warning("telemetry: this fastotel release's delivery counters are not the ones known here; "
                        "spans are still exported, but lost ones are no longer counted or logged")
            self.counting = False
            return
        handed, last_lost, last_retries = self._checked
        self._checked = (self.handed, lost, retries)
        if lost > last_lost:
            self.health.failed(lost - last_lost)
        elif self.handed > handed and (settled or retries == last_retries):
            self.health.succeeded(self.handed - handed)


def _count_points(data: MetricsData) -> int:
    return sum(
        len(metric.data.data_points)
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    )
