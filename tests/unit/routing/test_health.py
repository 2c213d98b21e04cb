"""The cooldown timeline of one target, on a clock the test moves (no sleeps)."""

from __future__ import annotations

import pytest

from gateway.routing.health import CooldownPolicy, FakeClock, Health

KEY = "p/m"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(100.0)


@pytest.fixture
def health(clock: FakeClock) -> Health:
    return Health(CooldownPolicy(failure_threshold=3, cooldown_s=10, cooldown_max_s=45), clock)


def fail_probe(health: Health, clock: FakeClock) -> float:
    """Let the cooldown end, send the probe, and fail it; returns the new cooldown."""
    clock.now = health.get(KEY).cooldown_until
    assert health.usable(KEY)
    health.begin(KEY)
    health.end(KEY)
    return health.failed(KEY)


def test_a_new_target_is_healthy(health: Health) -> None:
    assert health.usable(KEY) and not health.cooling(KEY)
    assert health.snapshot(KEY) == {
        "state": "healthy",
        "cooling_for_s": 0.0,
        "in_flight": 0,
        "latency_ms": None,
        "consecutive_failures": 0,
        "recent_error_rate": 0.0,
        "recent_requests": 0,
    }


def test_cools_after_threshold_consecutive_failures(health: Health, clock: FakeClock) -> None:
    assert health.failed(KEY) == 0.0
    assert health.failed(KEY) == 0.0
    assert health.usable(KEY)
    assert health.failed(KEY) == 10.0
    assert not health.usable(KEY) and health.cooling(KEY)
    assert health.get(KEY).cooldown_until == 110.0
    snapshot = health.snapshot(KEY)
    assert (snapshot["state"], snapshot["cooling_for_s"], snapshot["consecutive_failures"]) == ("cooling", 10.0, 3)
    clock.now = 109.999
    assert not health.usable(KEY)
    clock.now = 110.0
    assert health.usable(KEY) and not health.cooling(KEY)


def test_a_success_resets_the_failure_count(health: Health) -> None:
    health.failed(KEY)
    health.failed(KEY)
    health.succeeded(KEY, 0.1)
    health.failed(KEY)
    health.failed(KEY)
    assert health.usable(KEY)
    assert health.snapshot(KEY)["recent_error_rate"] == 0.8  # 4 errors out of 5 recent requests


def test_429_with_retry_after_cools_at_once(health: Health, clock: FakeClock) -> None:
    assert health.failed(KEY, retry_after=2.0) == 2.0  # as long as it asked, even below the policy's cooldown
    assert not health.usable(KEY)
    other = "q/m"
    assert health.failed(other, retry_after=30.0) == 30.0  # a longer Retry-After is honoured
    assert health.failed("r/m", retry_after=3600.0) == 45.0  # up to cooldown_max_s
    assert health.get(other).cooldown_until == clock.now + 30


def test_half_open_lets_a_single_probe_through(health: Health, clock: FakeClock) -> None:
    for _ in range(3):
        health.failed(KEY)
    clock.now = 110.0
    assert health.usable(KEY)
    health.begin(KEY)  # the probe
    assert not health.usable(KEY), "a second request must wait for the probe's verdict"
    assert health.snapshot(KEY)["state"] == "probing"
    clock.now = 111.0
    assert not health.usable(KEY)
    health.end(KEY)
    health.succeeded(KEY, 0.2)
    assert health.usable(KEY)
    assert health.get(KEY).cooldown_s == 0.0
    assert health.snapshot(KEY)["state"] == "healthy"
    assert health.failed(KEY) == 0.0, "restored: the threshold counts from zero again"


def test_failed_probes_double_the_cooldown_up_to_the_cap(health: Health, clock: FakeClock) -> None:
    for _ in range(3):
        health.failed(KEY)
    assert [fail_probe(health, clock) for _ in range(4)] == [20.0, 40.0, 45.0, 45.0]
    assert health.get(KEY).cooldown_until == clock.now + 45
    clock.now += 45
    health.begin(KEY)
    health.end(KEY)
    health.succeeded(KEY, None)
    assert health.usable(KEY)
    for _ in range(3):
        health.failed(KEY)
    assert health.get(KEY).cooldown_s == 10.0, "after a recovery the next cooldown starts from the base again"


def test_a_probe_released_without_verdict_frees_the_slot(health: Health, clock: FakeClock) -> None:
    health.failed(KEY, retry_after=1.0)
    clock.now += 10
    health.begin(KEY)
    assert not health.usable(KEY)
    health.end(KEY)
    health.released(KEY)  # the client left: no verdict on the target
    assert health.usable(KEY)
    assert health.get(KEY).cooldown_s == 1.0  # still half-open: the next request is the probe


def test_in_flight_counts(health: Health) -> None:
    health.begin(KEY)
    health.begin(KEY)
    assert health.snapshot(KEY)["in_flight"] == 2
    health.end(KEY)
    health.end(KEY)
    assert health.snapshot(KEY)["in_flight"] == 0


def test_latency_is_an_exponentially_weighted_average(clock: FakeClock) -> None:
    health = Health(CooldownPolicy(latency_decay=0.5), clock)
    health.succeeded(KEY, 0.4)
    assert health.get(KEY).latency_s == pytest.approx(0.4)
    health.succeeded(KEY, 0.2)
    assert health.get(KEY).latency_s == pytest.approx(0.3)
    health.succeeded(KEY, None)  # a success without a measurement leaves the average alone
    assert health.snapshot(KEY)["latency_ms"] == 300.0
    health.failed(KEY)
    assert health.get(KEY).latency_s == pytest.approx(0.3)


def test_recent_error_rate_is_over_a_window(health: Health) -> None:
    for _ in range(60):
        health.succeeded(KEY, None)
    for _ in range(10):
        health.failed(KEY)
        health.succeeded(KEY, None)  # keep it healthy
    snapshot = health.snapshot(KEY)
    assert snapshot["recent_requests"] == 50
    assert snapshot["recent_error_rate"] == 0.2


def test_keep_only_forgets_removed_targets(health: Health) -> None:
    health.failed(KEY, retry_after=5)
    health.begin("gone/m")
    health.keep_only([KEY])
    assert not health.usable(KEY)
    assert health.snapshot("gone/m")["in_flight"] == 0


def test_failures_while_cooling_never_shorten_nor_escalate_the_cooldown() -> None:
    from gateway.routing.health import CooldownPolicy, FakeClock, Health

    clock = FakeClock()
    health = Health(CooldownPolicy(failure_threshold=1, cooldown_s=10, cooldown_max_s=100), clock)
    health.failed("t")  # cools until 10
    clock.now = 5
    health.failed("t")  # a request that was in flight (or forced while all cooled) fails too
    health.failed("t")
    assert health.get("t").cooldown_until == 15  # from the latest failure, base length: no doubling burst
    clock.now = 16
    health.begin("t")  # the probe
    health.failed("t")
    assert health.get("t").cooldown_until == 16 + 20  # a failed probe doubles
