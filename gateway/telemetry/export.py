"""Exporter wrappers: an unreachable collector costs requests nothing and is said once.

The SDK's batch processors already keep export off the request path (a bounded queue, a worker thread).
What they do not do is keep quiet: every failed batch and every retry is a log line. These wrappers
count what could not be delivered (`ExportHealth.dropped`), log the first failure of an outage and its
end, and nothing in between; the SDK's own exporter loggers are turned down in `setup.py` accordingly.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from gateway.telemetry.protobuf import SpanEncoder
from gateway.telemetry.tally import TallyBook

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


class FastHttpSpanExporter(HttpSpanExporter):
    """The SDK's OTLP/HTTP span exporter (its client, retries, headers, TLS), encoding with `SpanEncoder`:
    the SDK's encoder is the largest single cost of tracing a request. Falls back to the SDK's own
    export if its internals (pinned in pyproject.toml) are not what this expects."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.encoder = SpanEncoder()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        client = getattr(self, "_client", None)
        if client is None or getattr(self, "_shutdown", True):
            return super().export(spans)
        result = client.export(self.encoder.encode(spans))
        return SpanExportResult.SUCCESS if result.success else SpanExportResult.FAILURE


class FastGrpcSpanExporter(GrpcSpanExporter):
    """The SDK's OTLP/gRPC span exporter, encoding with `SpanEncoder` (parsed back by upb, in C)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.encoder = SpanEncoder()

    def _translate_data(self, data: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
        request: ExportTraceServiceRequest = ExportTraceServiceRequest.FromString(self.encoder.encode(data))
        return request


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


class TalliedPeriodicReader(PeriodicExportingMetricReader):
    """The SDK's periodic OTLP reader, with the gateway's histograms (tally.py) added to each collection."""

    def __init__(self, exporter: MetricExporter, interval_ms: float | None, book: TallyBook) -> None:
        super().__init__(exporter, interval_ms)
        self.book = book

    def _receive_metrics(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> None:
        super()._receive_metrics(self.book.merge(metrics_data), timeout_millis, **kwargs)


class TalliedPrometheusReader(PrometheusMetricReader):
    """The OTel Prometheus reader (behind GET /metrics), with the gateway's histograms added."""

    def __init__(self, book: TallyBook, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.book = book

    def _receive_metrics(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> None:
        super()._receive_metrics(self.book.merge(metrics_data), timeout_millis, **kwargs)


def _count_points(data: MetricsData) -> int:
    return sum(
        len(metric.data.data_points)
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    )
