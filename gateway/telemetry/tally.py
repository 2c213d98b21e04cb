"""Cheap instruments for the request path, aggregated here and handed to the SDK's readers as they collect.

Why not the SDK's synchronous instruments: each `add`/`record` cleans, sorts and hashes its attributes and
takes two locks, 6-10 µs a call on the machines we measure on; a request records about ten values, which
is several percent of the gateway's whole budget for a request. Here a record is a frozenset, a dict
lookup and a few additions (about 1 µs).

- `Tally` (counters, up-down counters) is reported through the SDK's observable instruments: standard API.
- `HistogramTally` keeps explicit-bucket histograms (cumulative); `TallyBook.merge` adds them, as SDK
  `Metric` data, to what a reader collected, through the readers' `_receive_metrics` hook (`export.py`).
  Exporters, OTLP and Prometheus, cannot tell them from the SDK's own.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.util.types import AttributeValue

Key = frozenset[tuple[str, AttributeValue]]


class Tally:
    """A counter summed in a dict, reported by an observable instrument's callback.

    Only the event loop's thread adds; the reader's thread copies the dict in one C-level step
    (`list(dict.items())` under the GIL), so no lock is needed.
    """

    __slots__ = ("totals",)

    def __init__(self) -> None:
        self.totals: dict[Key, int | float] = {}

    def add(self, amount: int | float, attributes: Mapping[str, AttributeValue]) -> None:
        key = frozenset(attributes.items())
        self.totals[key] = self.totals.get(key, 0) + amount

    def observe(self, options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(total, dict(key)) for key, total in list(self.totals.items())]


class _Point:
    __slots__ = ("buckets", "sum", "count", "min", "max")

    def __init__(self, buckets: list[int], value: float) -> None:
        self.buckets, self.sum, self.count, self.min, self.max = buckets, value, 1, value, value


class HistogramTally:
    """An explicit-bucket histogram per attribute set: bucket i counts values in (bounds[i-1], bounds[i]]."""

    def __init__(self, name: str, unit: str, description: str, bounds: Sequence[float]) -> None:
        self.name, self.unit, self.description = name, unit, description
        self.bounds = tuple(float(b) for b in bounds)
        self.points: dict[Key, _Point] = {}
        self.lock = threading.Lock()  # the reader's snapshot must see whole points

    def record(self, value: float, attributes: Mapping[str, AttributeValue]) -> None:
        key = frozenset(attributes.items())
        index = bisect_left(self.bounds, value)
        with self.lock:
            point = self.points.get(key)
            if point is None:
                buckets = [0] * (len(self.bounds) + 1)
                buckets[index] = 1
                self.points[key] = _Point(buckets, value)
                return
            point.buckets[index] += 1
            point.sum += value
            point.count += 1
            if value < point.min:
                point.min = value
            elif value > point.max:
                point.max = value

    def metric(self, start_ns: int, now_ns: int) -> Metric | None:
        with self.lock:
            snapshot = [(key, list(p.buckets), p.sum, p.count, p.min, p.max) for key, p in self.points.items()]
        if not snapshot:
            return None
        points = [
            HistogramDataPoint(dict(key), start_ns, now_ns, count, total, buckets, self.bounds, low, high)
            for key, buckets, total, count, low, high in snapshot
        ]
        return Metric(self.name, self.description, self.unit,
                      Histogram(points, AggregationTemporality.CUMULATIVE))


class TallyBook:
    """The histograms of one app, and how they join a reader's collection."""

    def __init__(self, scope: InstrumentationScope, resource: Resource) -> None:
        self.scope, self.resource = scope, resource
        self.histograms: list[HistogramTally] = []
        self.start_ns = time.time_ns()

    def histogram(self, name: str, unit: str, description: str, bounds: Sequence[float]) -> HistogramTally:
        tally = HistogramTally(name, unit, description, bounds)
        self.histograms.append(tally)
        return tally

    def merge(self, data: MetricsData) -> MetricsData:
        now = time.time_ns()
        extra = [m for h in self.histograms if (m := h.metric(self.start_ns, now)) is not None]
        if not extra:
            return data
        resources = list(data.resource_metrics)
        if not resources:
            scope = ScopeMetrics(self.scope, extra, self.scope.schema_url or "")
            return MetricsData([ResourceMetrics(self.resource, [scope], self.resource.schema_url)])
        first = resources[0]
        scopes = list(first.scope_metrics)
        for i, scope in enumerate(scopes):
            if scope.scope.name == self.scope.name:
                scopes[i] = ScopeMetrics(scope.scope, [*scope.metrics, *extra], scope.schema_url)
                break
        else:
            scopes.append(ScopeMetrics(self.scope, extra, self.scope.schema_url or ""))
        resources[0] = ResourceMetrics(first.resource, scopes, first.schema_url)
        return MetricsData(resources)
