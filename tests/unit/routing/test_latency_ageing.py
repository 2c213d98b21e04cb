"""Latency averages age with time (routing/health.py): a target left alone for being slow is measured again
within a bounded time and, when it got fast, wins its traffic back, without relying on exploration."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest

from gateway.routing.health import CooldownPolicy, FakeClock, Health
from gateway.routing.strategies import RoundRobin, order
from gateway.routing.table import Target

A, B = Target("a", "m"), Target("b", "m")
HALF_LIFE = 30.0


def make(clock: FakeClock, half_life: float = HALF_LIFE) -> Health:
    return Health(CooldownPolicy(latency_decay=0.3, latency_half_life_s=half_life), clock)


class Traffic:
    """One request a second on a latency route of A and B, without exploration: each pick is answered in
    its target's current latency, which feeds the average."""

    def __init__(self, health: Health, clock: FakeClock) -> None:
        self.health, self.clock = health, clock
        self.rng, self.rr = random.Random(3), RoundRobin()
        self.latency = {"a": 2.0, "b": 0.2}

    def run(self, seconds: int) -> list[str]:
        picks = []
        for _ in range(seconds):
            self.clock.now += 1
            first = order("r", "latency", [A, B], self.health, self.rng, self.rr, explore=0.0)[0]
            self.health.begin(first.key)
            self.health.succeeded(first.key, self.latency[first.provider])
            self.health.end(first.key)
            picks.append(first.provider)
        return picks


def test_a_target_that_got_fast_again_wins_its_traffic_back_within_a_bounded_time() -> None:
    clock = FakeClock()
    traffic = Traffic(make(clock), clock)
    slow_phase = traffic.run(600)
    assert Counter(slow_phase[10:])["b"] > 570  # a is slow: it has next to nothing
    for _ in range(200):  # the worst moment to recover: just after a was measured (slow) again
        if traffic.run(1) == ["a"]:
            break
    traffic.latency["a"] = 0.05  # a recovered, and is now faster than b
    fast_phase = traffic.run(300)
    # faded by half every HALF_LIFE seconds, a's stale 2 s average drops below b's 0.2 s after
    # HALF_LIFE * log2(2.0 / 0.2) seconds (~100 s): then a is measured again, and keeps the traffic
    bound = math.ceil(HALF_LIFE * math.log2(2.0 / 0.2)) + 1
    assert "a" in fast_phase[:bound]
    back = fast_phase.index("a")
    after = Counter(fast_phase[back:])
    # all of it but b's own re-measurements, one per HALF_LIFE * log2(0.2 / 0.05) s (60 s)
    assert after["b"] <= math.ceil((300 - back) / 60), after


def test_without_ageing_nothing_but_exploration_would_bring_it_back() -> None:
    clock = FakeClock()
    traffic = Traffic(make(clock, half_life=1e12), clock)
    traffic.run(600)
    traffic.latency["a"] = 0.05
    assert "a" not in traffic.run(300)


def test_a_target_that_stays_slow_is_measured_again_only_once_per_fade() -> None:
    clock = FakeClock()
    traffic = Traffic(make(clock), clock)
    picks = traffic.run(1000)[10:]
    # one re-measurement about every HALF_LIFE * log2(2.0 / 0.2) s (~100 s), no more
    assert 5 <= Counter(picks)["a"] <= 12


def test_an_old_average_weighs_less_in_the_next_sample() -> None:
    clock = FakeClock()
    health = Health(CooldownPolicy(latency_decay=0.5, latency_half_life_s=10), clock)
    health.succeeded(A.key, 0.4)
    health.succeeded(A.key, 0.2)  # at once: the plain EWMA
    assert health.get(A.key).latency_s == pytest.approx(0.3)
    clock.now = 20  # two half-lives later the old average keeps 0.5 * 0.25 of the weight
    health.succeeded(A.key, 0.1)
    assert health.get(A.key).latency_s == pytest.approx(0.125 * 0.3 + 0.875 * 0.1)


def test_the_ranked_average_fades_until_the_target_is_tried() -> None:
    clock = FakeClock()
    health = make(clock)
    health.succeeded(A.key, 0.8)
    assert health.latency(A.key) == pytest.approx(0.8)
    clock.now = HALF_LIFE
    assert health.latency(A.key) == pytest.approx(0.4)
    assert health.get(A.key).latency_s == pytest.approx(0.8)  # the average itself (as /admin/status shows it)
    health.begin(A.key)  # an attempt stops the fade: the other requests do not all follow it meanwhile
    assert health.latency(A.key) == pytest.approx(0.8)
    assert health.latency(B.key) is None  # never measured


def test_concurrent_requests_do_not_all_rush_to_a_faded_target() -> None:
    clock = FakeClock()
    health = make(clock)
    health.succeeded(A.key, 2.0)
    health.succeeded(B.key, 0.2)
    clock.now = 200  # b busy meanwhile; a has faded below b
    health.get(B.key).measured_at = clock.now
    rng, rr = random.Random(0), RoundRobin()
    first = order("r", "latency", [A, B], health, rng, rr, explore=0.0)[0]
    assert first is A
    health.begin(A.key)  # its attempt is in flight
    assert [order("r", "latency", [A, B], health, rng, rr, explore=0.0)[0] for _ in range(20)] == [B] * 20
