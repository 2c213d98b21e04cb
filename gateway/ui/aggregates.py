"""Rolling figures for the live page: fixed size, in memory, fed one finished request (and its attempts) at a time.

    window = Window(window_s=900, bucket_s=5, max_series=32)
    window.request(now, "gpt-4o-mini", failed=False, client_error=False, latency_s=0.8, ttft_s=None,
                   input_tokens=12, output_tokens=40, cost_usd=0.00002, cache="miss")
    window.attempt(now, "openai-main/gpt-4o-mini", failed=False, latency_s=0.79, ttft_s=None, ...)
    window.points(since)       # per series, per bucket: req/s, error rate, p50/p95 latency and TTFT, ...
    window.summary(60)         # per series, over the last minute

A ring of `window_s / bucket_s` buckets; each keeps one row per series seen in it: `all` (every request),
`route:<model>` (the requests to a route, as the client saw them: failovers and fallbacks included) and
`target:<provider>/<model>` (the upstream attempts made to a target). At most `max_series` series are kept
apart at a time; a route or target beyond that counts in `all` only. A row is a flat `array('d')`: counters,
then two histograms (latency and time to first token) of BINS log-spaced bins, √2 apart from 2 ms to 65 s
and beyond. Percentiles are read from those bins, interpolated inside the bin they fall in: an estimate
within a bin's width (±19%; a few % in practice), for memory that does not grow with traffic. The memory is
at most buckets x (max_series + 1) rows of ROW_BYTES (0.6 KB) plus their chart points: 6.4 MB at the defaults
with every row full (tests/unit/ui/test_aggregates.py measures it), a few hundred KB for a small config.

A bucket that has closed never changes again, so its chart points are computed once, when first asked for.
The current bucket's rows are plain lists while it takes requests, made arrays when it closes: a `+=` on an
array's item costs twice one on a list's (it makes a float object, then unpacks it again), and a request makes
ten of them (issue 19: 5.6K instructions a request).
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from collections.abc import Iterable
from typing import Any, TypeAlias

BINS = 32
FIRST_S = 0.002  # bin 0 is [0, 2 ms); bin i is [2 ms x R^(i-1), 2 ms x R^i); the last one is open-ended
RATIO = math.sqrt(2.0)
_LOG_RATIO = math.log(RATIO)

# a row's fields
REQUESTS, ERRORS, CLIENT_ERRORS, INPUT_TOKENS, OUTPUT_TOKENS, COST, CACHE_HITS, CACHE_LOOKUPS = range(8)
LATENCY = 8  # first latency bin
TTFT = LATENCY + BINS  # first time-to-first-token bin
FIELDS = TTFT + BINS
ROW_BYTES = FIELDS * 8
_ZERO = [0.0] * FIELDS  # a new row of the current bucket: a copy of this
Row: TypeAlias = "list[float] | array[float]"  # a list in the current bucket, an array once it closed (see above)

ALL = "all"  # every request: the sum of the route series (and UNROUTED), made when read
ROUTE, TARGET = "route:", "target:"
UNROUTED = "route:"  # requests refused before their route was known: in `all` only
OTHER_ROUTES, OTHER_TARGETS = "route:(others)", "target:(others)"  # the series past max_series, together
METRICS = ("requests", "rps", "error_rate", "latency_p50_ms", "latency_p95_ms", "ttft_p50_ms", "ttft_p95_ms",
           "tokens_per_s", "cost_per_hour_usd", "cache_hit_ratio")
Point = tuple[Any, ...]  # one value per METRICS name


def bin_of(seconds: float) -> int:
    """The histogram bin a duration falls in."""
    if seconds < FIRST_S:
        return 0
    found = 1 + int(math.log(seconds / FIRST_S) / _LOG_RATIO)
    return found if found < BINS else BINS - 1


def bin_edges(index: int) -> tuple[float, float]:
    """A bin's lower and upper edge in seconds (the last bin's upper edge is its lower one: open-ended)."""
    if index == 0:
        return 0.0, FIRST_S
    low = FIRST_S * RATIO ** (index - 1)
    return (low, low) if index == BINS - 1 else (low, low * RATIO)


UPPER_EDGES = tuple(bin_edges(i)[1] for i in range(BINS - 1))  # bisect_right(UPPER_EDGES, s) == bin_of(s)


def percentile(row: Row, first: int, q: float) -> float | None:
    """The `q` quantile (0..1) of the histogram starting at `row[first]`, in seconds; None when it is empty."""
    counts = row[first:first + BINS]
    total = sum(counts)
    if not total:
        return None
    rank = q * total
    seen = 0.0
    for index, n in enumerate(counts):
        if n and seen + n >= rank:
            low, high = bin_edges(index)
            share = (rank - seen) / n
            if index == 0:
                return high * share
            return float(low * (high / low) ** share)  # geometric inside a log-spaced bin
        seen += n
    return bin_edges(BINS - 1)[0]


class _Bucket:
    __slots__ = ("index", "rows", "points")

    def __init__(self) -> None:
        self.index = -1  # bucket number (epoch seconds // bucket_s) it currently holds
        self.rows: dict[str, Row] = {}
        self.points: dict[str, Point] | None = None  # computed once the bucket has closed

    def reset(self, index: int) -> None:
        self.index = index
        self.rows = {}
        self.points = None


class Window:
    def __init__(self, window_s: int = 900, bucket_s: int = 5, max_series: int = 32) -> None:
        if window_s % bucket_s:
            raise ValueError("window_s must be a multiple of bucket_s")
        self.window_s, self.bucket_s, self.max_series = window_s, bucket_s, max_series
        self.size = window_s // bucket_s
        self.buckets = [_Bucket() for _ in range(self.size)]
        self.series: dict[str, int] = {}  # route and target series kept apart -> the last bucket they were in
        self._index = -1
        self._bucket = self.buckets[0]
        self._end = 0.0  # when the current bucket ends (epoch seconds): before it, no bucket number to work out
        self._forgot = -1  # the bucket in which series were last pruned (at most once a bucket)

    # -- the request path: called once per finished request and per attempt ---------------------------------
    # (Written for the request path's CPU: literal field numbers, one dict lookup per row, nothing else made.)

    def _at(self, now: float) -> _Bucket:
        """The bucket for a time at or past the current bucket's end (a clock stepping back: the newest)."""
        index = int(now // self.bucket_s)
        return self._bucket if index <= self._index else self._advance(index)

    def _advance(self, index: int) -> _Bucket:
        closed = self._bucket
        if closed.index == self._index:  # it closes: its rows as arrays, for the rest of the window
            closed.rows = {name: array("d", row) for name, row in closed.rows.items()}
        bucket = self.buckets[index % self.size]
        if bucket.index != index:
            bucket.reset(index)
        self._index, self._bucket = index, bucket
        self._end = (index + 1) * self.bucket_s
        return bucket

    def _new_row(self, rows: dict[str, Row], name: str, others: str | None) -> Row:
        """A series' row in the current bucket; past max_series, the row of `others` (routes or targets beyond
        the cap, together)."""
        if others is not None and name not in self.series:
            if len(self.series) >= self.max_series and not self._forget():
                row = rows.get(others)
                if row is None:
                    row = rows[others] = _ZERO[:]
                return row
        if others is not None:
            self.series[name] = self._index
        row = rows[name] = _ZERO[:]
        return row

    def _forget(self) -> bool:
        """Drop the series not seen within the window (once a bucket); True when that made room."""
        if self._forgot == self._index:
            return False
        self._forgot = self._index
        oldest = self._index - self.size
        for name in [n for n, last in self.series.items() if last <= oldest]:
            del self.series[name]
        return len(self.series) < self.max_series

    def request(
        self, now: float, route: str, failed: bool, client_error: bool, latency_s: float, ttft_s: float | None,
        input_tokens: int, output_tokens: int, cost_usd: float, cache: str | None,
    ) -> None:
        """One client request, in its route's series (`all` is the sum of the routes', made when read; a request
        refused before its route was known counts in `all` only)."""
        rows = (self._bucket if now < self._end else self._at(now)).rows  # (no int(now // bucket_s): 1.3K instructions)
        name = ROUTE + route if route else UNROUTED
        row = rows.get(name)
        if row is None:
            row = self._new_row(rows, name, OTHER_ROUTES if route else None)
        row[0] += 1.0  # REQUESTS
        if failed:
            row[1] += 1.0  # ERRORS
        elif client_error:
            row[2] += 1.0  # CLIENT_ERRORS
        if input_tokens or output_tokens:
            row[3] += input_tokens
            row[4] += output_tokens
            row[5] += cost_usd
        if cache is not None:
            if cache == "hit":
                row[6] += 1.0  # CACHE_HITS
                row[7] += 1.0  # CACHE_LOOKUPS
            elif cache == "miss":
                row[7] += 1.0
        row[LATENCY + bisect_right(UPPER_EDGES, latency_s)] += 1.0  # bin_of(), in C
        if ttft_s is not None:
            row[TTFT + bisect_right(UPPER_EDGES, ttft_s)] += 1.0

    def attempt(
        self, now: float, target: str, failed: bool, latency_s: float | None, ttft_s: float | None,
        input_tokens: int, output_tokens: int, cost_usd: float,
    ) -> None:
        """One upstream attempt, in its target's series. `latency_s`: None for an attempt that failed (a
        timeout's latency is its limit, not the target's speed)."""
        rows = (self._bucket if now < self._end else self._at(now)).rows
        name = TARGET + target
        row = rows.get(name)
        if row is None:
            row = self._new_row(rows, name, OTHER_TARGETS)
        row[0] += 1.0
        if failed:
            row[1] += 1.0
        if input_tokens or output_tokens:
            row[3] += input_tokens
            row[4] += output_tokens
            row[5] += cost_usd
        if latency_s is not None:
            row[LATENCY + bisect_right(UPPER_EDGES, latency_s)] += 1.0
        if ttft_s is not None:
            row[TTFT + bisect_right(UPPER_EDGES, ttft_s)] += 1.0

    # -- the page: called when it polls ---------------------------------------------------------------------

    def points(self, now: float, since: float = 0.0) -> dict[str, Any]:
        """Chart points of every bucket from `since` (epoch seconds; the bucket holding it included) to now:
        `start` (each bucket's start, epoch seconds) and, per series, one list per METRICS name aligned with it."""
        current = int(now // self.bucket_s)
        first = max(current - self.size + 1, int(since // self.bucket_s))
        starts: list[int] = []
        columns: dict[str, list[Point | None]] = {}
        for index in range(first, current + 1):
            bucket = self.buckets[index % self.size]
            position = len(starts)
            starts.append(index * self.bucket_s)
            if bucket.index != index:
                continue
            if index == current:
                elapsed = min(max(now - index * self.bucket_s, 1.0), float(self.bucket_s))
                found = {name: point(row, elapsed) for name, row in _with_all(bucket.rows).items()}
            else:
                if bucket.points is None:
                    bucket.points = {name: point(row, float(self.bucket_s))
                                     for name, row in _with_all(bucket.rows).items()}
                found = bucket.points
            for name, values in found.items():
                columns.setdefault(name, [None] * (current - first + 1))[position] = values
        series = {name: _columns(values) for name, values in sorted(columns.items(), key=lambda kv: _order(kv[0]))}
        return {"bucket_s": self.bucket_s, "window_s": self.window_s, "start": starts, "series": series}

    def summary(self, now: float, seconds: float) -> dict[str, dict[str, Any]]:
        """Each series over the last `seconds` (whole buckets, the current one included), as one point."""
        current = int(now // self.bucket_s)
        count = max(1, min(self.size, math.ceil(seconds / self.bucket_s)))
        merged: dict[str, Row] = {}
        for index in range(current - count + 1, current + 1):
            bucket = self.buckets[index % self.size]
            if bucket.index != index:
                continue
            for name, row in bucket.rows.items():
                total = merged.get(name)
                if total is None:
                    merged[name] = row[:]
                else:
                    _add(total, row)
        span = max(1.0, (count - 1) * self.bucket_s + min(max(now - current * self.bucket_s, 0.0), self.bucket_s))
        return {name: dict(zip(METRICS, point(row, span), strict=True))
                for name, row in sorted(_with_all(merged).items(), key=lambda kv: _order(kv[0]))}

    def memory_bytes(self) -> int:
        """What the rows take now (the arrays' payload; the dicts and points add about a fifth)."""
        return sum(len(b.rows) for b in self.buckets) * ROW_BYTES


def _add(total: Row, row: Row) -> None:
    for i, value in enumerate(row):
        if value:
            total[i] += value


def _with_all(rows: dict[str, Row]) -> dict[str, Row]:
    """The rows as shown: `all` (the routes' together, the unrouted requests too) first, then the others."""
    every = None
    shown = {}
    for name, row in rows.items():
        if name.startswith(ROUTE):
            if every is None:
                every = row[:]
            else:
                _add(every, row)
            if name == UNROUTED:
                continue
        shown[name] = row
    return shown if every is None else {ALL: every, **shown}


def point(row: Row, seconds: float) -> Point:
    """One chart point of a row that covers `seconds`; None where there is nothing to show."""
    requests = row[REQUESTS]
    lookups = row[CACHE_LOOKUPS]
    return (
        int(requests),
        round(requests / seconds, 3),
        round(row[ERRORS] / requests, 4) if requests else None,
        _ms(percentile(row, LATENCY, 0.5)),
        _ms(percentile(row, LATENCY, 0.95)),
        _ms(percentile(row, TTFT, 0.5)),
        _ms(percentile(row, TTFT, 0.95)),
        round((row[INPUT_TOKENS] + row[OUTPUT_TOKENS]) / seconds, 2),
        round(row[COST] / seconds * 3600, 6),
        round(row[CACHE_HITS] / lookups, 4) if lookups else None,
    )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _columns(values: Iterable[Point | None]) -> dict[str, list[Any]]:
    """Per-bucket points -> one list per metric; a bucket without the series has no traffic: 0 for the rates,
    null for what needs traffic to mean anything (ratios, percentiles)."""
    rows = [v if v is not None else (0, 0.0, None, None, None, None, None, 0.0, 0.0, None) for v in values]
    return {name: [row[i] for row in rows] for i, name in enumerate(METRICS)}


def _order(name: str) -> tuple[int, bool, str]:
    return (0 if name == ALL else 1 if name.startswith(ROUTE) else 2, name.endswith("(others)"), name)
