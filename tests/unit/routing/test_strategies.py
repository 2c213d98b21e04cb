"""Each strategy's order, and its distribution over thousands of picks with a seeded rng."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

import pytest

from gateway.routing.health import CooldownPolicy, FakeClock, Health
from gateway.routing.strategies import RoundRobin, order
from gateway.routing.table import Target

A, B, C = Target("a", "m", 5), Target("b", "m", 1), Target("c", "m", 1)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def health(clock: FakeClock) -> Health:
    return Health(CooldownPolicy(failure_threshold=1, cooldown_s=10), clock)


def chi_square(counts: Counter[str], expected: dict[str, float]) -> float:
    return sum((counts[k] - e) ** 2 / e for k, e in expected.items())


def firsts(strategy: str, targets: Sequence[Target], health: Health, n: int, *, explore: float = 0.05,
           seed: int = 1) -> Counter[str]:
    rng, rr = random.Random(seed), RoundRobin()
    return Counter(order("r", strategy, targets, health, rng, rr, explore)[0].provider for _ in range(n))


def test_weighted_picks_in_proportion_to_weight(health: Health) -> None:
    targets = [Target("a", "m", 1), Target("b", "m", 2), Target("c", "m", 5)]
    counts = firsts("weighted", targets, health, 8000)
    # 2 degrees of freedom: 13.8 is the p = 0.001 critical value
    assert chi_square(counts, {"a": 1000, "b": 2000, "c": 5000}) < 13.8, counts


def test_weighted_order_holds_every_target_once(health: Health) -> None:
    rng = random.Random(3)
    for _ in range(100):
        ordered = order("r", "weighted", [A, B, C], health, rng, RoundRobin())
        assert sorted(t.provider for t in ordered) == ["a", "b", "c"]


def test_round_robin_is_smooth_weighted(health: Health) -> None:
    rng, rr = random.Random(0), RoundRobin()
    picks = "".join(order("r", "round_robin", [A, B, C], health, rng, rr)[0].provider for _ in range(14))
    assert picks == "aabacaa" * 2  # nginx's smooth weighted round robin: never five a's in a row
    counts = Counter(order("r", "round_robin", [A, B, C], health, rng, rr)[0].provider for _ in range(700))
    assert counts == {"a": 500, "b": 100, "c": 100}


def test_round_robin_keeps_state_per_route(health: Health) -> None:
    rng, rr = random.Random(0), RoundRobin()
    first = [order("x", "round_robin", [A, B], health, rng, rr)[0].provider for _ in range(3)]
    other = [order("y", "round_robin", [B, C], health, rng, rr)[0].provider for _ in range(2)]
    assert first == ["a", "a", "a"] and other == ["b", "c"]


def test_round_robin_failover_order_holds_the_other_targets(health: Health) -> None:
    ordered = order("r", "round_robin", [A, B, C], health, random.Random(0), RoundRobin())
    assert ordered[0] is A and sorted(t.provider for t in ordered[1:]) == ["b", "c"]


def test_round_robin_skips_a_cooling_target(health: Health) -> None:
    health.failed(A.key)
    rng, rr = random.Random(0), RoundRobin()
    picks = Counter(order("r", "round_robin", [A, B, C], health, rng, rr)[0].provider for _ in range(10))
    assert picks == {"b": 5, "c": 5}


def test_least_busy_prefers_fewest_in_flight(health: Health) -> None:
    for _ in range(2):
        health.begin(A.key)
    health.begin(C.key)
    ordered = order("r", "least_busy", [A, B, C], health, random.Random(0), RoundRobin())
    assert [t.provider for t in ordered] == ["b", "c", "a"]
    health.end(A.key)
    health.end(A.key)
    ordered = order("r", "least_busy", [A, B, C], health, random.Random(0), RoundRobin())
    assert ordered[-1] is C


def test_least_busy_breaks_ties_by_weight(health: Health) -> None:
    targets = [Target("a", "m", 3), Target("b", "m", 1)]
    counts = firsts("least_busy", targets, health, 4000)
    assert chi_square(counts, {"a": 3000, "b": 1000}) < 10.8, counts  # 1 d.o.f., p = 0.001


def test_latency_tries_an_unmeasured_target_first(health: Health) -> None:
    fast, new = Target("fast", "m"), Target("new", "m")
    health.succeeded(fast.key, 0.001)
    health.succeeded("other/m", 0.001)
    assert firsts("latency", [fast, new], health, 200, explore=0.0) == {"new": 200}
    # of three, it wins whenever it is one of the two drawn: 2 times in 3
    counts = firsts("latency", [fast, Target("other", "m"), new], health, 3000, explore=0.0)
    assert 1850 <= counts["new"] <= 2150, counts


def test_latency_prefers_the_fast_target_but_still_explores(health: Health) -> None:
    targets = [Target("fast", "m"), Target("slow", "m")]
    health.succeeded("fast/m", 0.01)
    health.succeeded("slow/m", 0.5)
    counts = firsts("latency", targets, health, 4000, explore=0.05)
    # the slow one comes first only when exploring (5%) and drawn first (1 in 2): about 100 of 4000
    assert 40 <= counts["slow"] <= 200, counts
    assert firsts("latency", targets, health, 500, explore=0.0) == {"fast": 500}


def test_latency_is_power_of_two_choices(health: Health) -> None:
    targets = [Target("fast", "m"), Target("mid", "m"), Target("slow", "m")]
    for target, latency in zip(targets, (0.01, 0.1, 1.0), strict=True):
        health.succeeded(target.key, latency)
    counts = firsts("latency", targets, health, 6000, explore=0.0)
    # two drawn at random, the faster kept: the slowest never wins, the middle one wins against it (1 in 3)
    assert counts["slow"] == 0
    assert chi_square(counts, {"fast": 4000, "mid": 2000}) < 10.8, counts


def test_latency_gives_traffic_back_to_a_target_that_recovered(clock: FakeClock) -> None:
    """A simulation: each pick is answered in the target's current latency, which feeds the average."""
    health = Health(CooldownPolicy(latency_decay=0.3), clock)
    a, b = Target("a", "m"), Target("b", "m")
    rng, rr = random.Random(7), RoundRobin()
    latency = {"a": 0.05, "b": 0.5}

    def run(n: int) -> Counter[str]:
        picks: Counter[str] = Counter()
        for _ in range(n):
            first = order("r", "latency", [a, b], health, rng, rr, 0.1)[0]
            health.succeeded(first.key, latency[first.provider])
            picks[first.provider] += 1
        return picks

    warm = run(400)
    assert 5 <= warm["b"] <= 50, warm  # slow: only the exploration share (about 5%)
    latency["b"] = 0.01  # b recovered and is now faster than a
    run(400)  # exploration measures it again, and its stale average comes down
    recovered = run(200)
    assert recovered["b"] >= 180, recovered  # it has the traffic back (all but a's exploration share)


def test_all_cooling_puts_the_soonest_to_recover_first(health: Health, clock: FakeClock) -> None:
    health.failed(A.key, retry_after=19)
    health.failed(B.key, retry_after=5)  # cools as long as it asked
    health.failed(C.key, retry_after=12)
    for strategy in ("weighted", "round_robin", "least_busy", "latency"):
        ordered = order("r", strategy, [A, B, C], health, random.Random(0), RoundRobin())
        assert [t.provider for t in ordered] == ["b", "c", "a"], strategy


def test_cooling_and_probing_targets_are_left_out_while_another_is_usable(
    health: Health, clock: FakeClock
) -> None:
    health.failed(A.key)
    health.failed(B.key)
    clock.now = 10  # both half-open; the probe of B is in flight
    health.begin(B.key)
    for strategy in ("weighted", "round_robin", "least_busy", "latency"):
        ordered = order("r", strategy, [A, B, C], health, random.Random(0), RoundRobin())
        assert sorted(t.provider for t in ordered) == ["a", "c"], strategy
