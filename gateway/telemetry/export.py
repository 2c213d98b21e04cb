"""A collector that is down costs requests nothing and is said once.

The exporting is the libraries': the SDK's OTLP exporters behind its `BatchSpanProcessor` and
`PeriodicExportingMetricReader`, or fastotel's span processor. What they do not do is say the right amount:
the SDK logs every failed batch and every retry (its exporter loggers are turned down, exporters.py). The
results of each export go through `ExportHealth.watch`, which counts what could not be delivered, logs the
first failure of an outage and its end, and nothing in between. fastotel exports in Rust and exposes no
delivery results; with it, an outage is told by the metrics' exporter (same collector) and lost spans are
not counted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from opentelemetry.sdk.metrics.export import MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

log = logging.getLogger("gateway.telemetry")
R = TypeVar("R")


class ExportHealth:
    """Whether a signal's exporter is getting through, and how much it has dropped. Thread-safe."""

    def __init__(self, signal: str, destination: str) -> None:
        self.signal = signal
        self.destination = destination
        self.dropped = 0
        self.exported = 0
        self.failing = False
        self._lock = threading.Lock()

    def watch(self, count: int, export: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """Run one export of `count` items and note how it went (both SDK result enums have SUCCESS)."""
        try:
            result = export(*args, **kwargs)
        except Exception as exc:
            self.failed(count, type(exc).__name__)
            raise
        if getattr(result, "name", "") == "SUCCESS":
            self.succeeded(count)
        else:
            self.failed(count)
        return result

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


class GuardedSpanExporter(SpanExporter):
    def __init__(self, inner: SpanExporter, health: ExportHealth) -> None:
        self.inner = inner
        self.health = health

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            return self.health.watch(len(spans), self.inner.export, spans)
        except Exception:
            return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def count_points(data: MetricsData) -> int:
    return sum(
        len(metric.data.data_points)
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    )
