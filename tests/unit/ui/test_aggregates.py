"""The live page's rolling figures: buckets, series, percentiles from the histograms, and their fixed memory."""

from __future__ import annotations

import random
import tracemalloc
from bisect import bisect_right
from typing import Any

import pytest

from gateway.config import UiConfig
from gateway.ui.aggregates import (
    BINS,
    LATENCY,
    ROW_BYTES,
    TTFT,
    UPPER_EDGES,
    Window,
    bin_edges,
    bin_of,
    percentile,
)

T0 = 1_800_000_000.0  # a bucket boundary for every bucket_s used here


def request(window: Window, now: float, route: str = "a", **given: Any) -> None:
    facts: dict[str, Any] = dict(failed=False, client_error=False, latency_s=0.1, ttft_s=None, input_tokens=10,
                                 output_tokens=20, cost_usd=0.001, cache=None)
    window.request(now, route, **{**facts, **given})


def test_bins_cover_every_duration_in_order() -> None:
    assert bin_of(0.0) == 0 and bin_of(0.0019) == 0 and bin_of(0.002) == 1
    assert bin_of(10_000.0) == BINS - 1
    previous = 0
    for ms in range(1, 100_000, 7):
        found = bin_of(ms / 1000)
        assert found >= previous
        low, high = bin_edges(found)
        assert low <= ms / 1000 and (ms / 1000 < high or found == BINS - 1)
        assert bisect_right(UPPER_EDGES, ms / 1000) == found  # what the request path uses instead
        previous = found


@pytest.mark.parametrize("q", [0.5, 0.95, 0.99])
def test_percentiles_are_within_a_bin_of_the_exact_ones(q: float) -> None:
    rng = random.Random(7)
    samples = [rng.lognormvariate(-1.0, 0.8) for _ in range(5000)]  # seconds, median ~0.37 s
    window = Window(900, 5, 8)
    for s in samples:
        request(window, T0, latency_s=s)
    row = window.buckets[window._index % window.size].rows["route:a"]
    exact = sorted(samples)[int(q * len(samples)) - 1]
    estimate = percentile(row, LATENCY, q)
    assert estimate is not None
    assert abs(estimate - exact) / exact < 0.1  # interpolation does far better than a bin's width (41%)
    assert percentile(row, TTFT, q) is None  # no stream: no time to first token


def test_a_request_counts_in_all_and_its_route_an_attempt_in_its_target() -> None:
    window = Window(60, 5, 8)
    request(window, T0, "a", latency_s=0.2, ttft_s=0.05, cache="hit")
    request(window, T0 + 1, "a", failed=True, latency_s=0.4, cache="miss")
    request(window, T0 + 2, "b", client_error=True)
    request(window, T0 + 3, "")  # refused before its route was known: `all` only
    window.attempt(T0 + 1, "p/m", failed=True, latency_s=None, ttft_s=None, input_tokens=0, output_tokens=0,
                   cost_usd=0.0)
    window.attempt(T0 + 1, "q/m", failed=False, latency_s=0.3, ttft_s=0.1, input_tokens=5, output_tokens=7,
                   cost_usd=0.5)
    got = window.summary(T0 + 4, 60)
    assert list(got) == ["all", "route:a", "route:b", "target:p/m", "target:q/m"]
    assert got["all"]["requests"] == 4 and got["route:a"]["requests"] == 2 and got["route:b"]["requests"] == 1
    assert got["route:a"]["error_rate"] == 0.5 and got["route:b"]["error_rate"] == 0.0  # a 4xx is not an error
    assert got["route:a"]["cache_hit_ratio"] == 0.5 and got["route:b"]["cache_hit_ratio"] is None
    assert got["route:a"]["ttft_p50_ms"] is not None and got["route:b"]["ttft_p50_ms"] is None
    assert got["target:p/m"]["error_rate"] == 1.0 and got["target:p/m"]["latency_p50_ms"] is None
    assert got["target:q/m"]["tokens_per_s"] > 0 and got["target:q/m"]["cost_per_hour_usd"] > 0


def test_points_are_per_bucket_rates_over_the_window_and_since_returns_the_newer_ones() -> None:
    window = Window(60, 5, 8)
    for i in range(10):  # 10 requests in the first bucket, 5 in the third
        request(window, T0 + i * 0.4)
    for i in range(5):
        request(window, T0 + 10 + i * 0.2, output_tokens=0, input_tokens=0, cost_usd=0.0)
    got = window.points(T0 + 14.9)
    assert got["start"][-3:] == [T0, T0 + 5, T0 + 10] and len(got["start"]) == 12
    everything = got["series"]["all"]
    assert everything["requests"][-3:] == [10, 0, 5]
    assert everything["rps"][-3:] == [2.0, 0.0, 1.02]  # 10 / 5 s; the open bucket: 5 / 4.9 s elapsed
    assert everything["error_rate"][-2] is None  # no traffic: nothing to show, not 0%
    assert everything["tokens_per_s"][-3] == 60.0 and everything["cost_per_hour_usd"][-3] == pytest.approx(7.2)
    newer = window.points(T0 + 14.9, since=T0 + 5)
    assert newer["start"] == [T0 + 5, T0 + 10] and newer["series"]["all"]["requests"] == [0, 5]


def test_old_buckets_leave_the_window() -> None:
    window = Window(60, 5, 8)
    request(window, T0)
    assert window.summary(T0 + 30, 60)["all"]["requests"] == 1
    request(window, T0 + 60)  # the same slot of the ring, a window later
    assert window.summary(T0 + 60, 60)["all"]["requests"] == 1
    assert window.points(T0 + 60)["series"]["all"]["requests"] == [0] * 11 + [1]
    assert window.summary(T0 + 200, 60) == {}


def test_series_beyond_max_series_count_together_until_others_age_out() -> None:
    window = Window(60, 5, 2)
    for name in "abc":
        request(window, T0, name)
    got = window.summary(T0, 60)
    assert got["all"]["requests"] == 3 and "route:c" not in got and got["route:(others)"]["requests"] == 1
    request(window, T0 + 120, "c")  # a and b have not been seen for a whole window: c takes a place
    assert window.summary(T0 + 120, 60)["route:c"]["requests"] == 1


def test_a_clock_that_steps_back_keeps_counting_in_the_newest_bucket() -> None:
    window = Window(60, 5, 8)
    request(window, T0 + 10)
    request(window, T0 + 3)
    assert window.summary(T0 + 10, 5)["all"]["requests"] == 2


def test_memory_at_the_defaults_is_fixed_and_under_10_mb_when_every_row_is_full() -> None:
    settings = UiConfig()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        window = Window(settings.window_s, settings.bucket_s, settings.max_series)
        routes = [f"route-{i}" for i in range(settings.max_series // 2)]
        targets = [f"p/m-{i}" for i in range(settings.max_series - len(routes))]
        for b in range(window.size):  # every bucket of the window holds every series it may keep apart
            now = T0 + b * settings.bucket_s
            for route in routes:
                request(window, now, route, ttft_s=0.2)
            for target in targets:
                window.attempt(now, target, failed=False, latency_s=0.3, ttft_s=0.1, input_tokens=1, output_tokens=1,
                               cost_usd=0.0)
        window.points(T0 + window.size * settings.bucket_s)  # the memoised chart points too
        used = tracemalloc.get_traced_memory()[0] - before
        # one more series gets no row of its own: it counts in the others' row, the cap holds
        request(window, T0 + (window.size - 1) * settings.bucket_s, "one-too-many")
        assert tracemalloc.get_traced_memory()[0] - before - used < 10_000
    finally:
        tracemalloc.stop()
    rows = window.size * settings.max_series + 1  # `all` is made when read; + the one others' row
    assert window.memory_bytes() == rows * ROW_BYTES
    assert used < 10 * 1024 * 1024, f"{used / 1e6:.1f} MB"
    print(f"window at the defaults, every row full: {used / 1e6:.2f} MB for {rows} rows")
