"""Per-target health: requests in flight, latency average, recent errors, cooldown. No I/O.

A target cools down after `failure_threshold` consecutive failures, or at once on a 429 with
`Retry-After` (for as long as it asked, up to `cooldown_max_s`). When the cooldown ends it is half-open: one
request (the probe) goes through; success restores it, failure cools it again for twice as long, up to
`cooldown_max_s`. The cap is what bounds recovery: a target that is healthy again gets its probe, and with
it its traffic, at most `cooldown_max_s` after it recovered (plus the wait for the next request), however
long it was down. Defaults: 10 s, doubling to 20 s (README, "Routing and failover", says why).

    >>> clock = FakeClock()
    >>> health = Health(CooldownPolicy(failure_threshold=2, cooldown_s=10), clock)
    >>> health.failed("p/m"), health.failed("p/m")  # the cooldown each started
    (0.0, 10.0)
    >>> health.usable("p/m"), health.get("p/m").cooldown_until
    (False, 10.0)
    >>> clock.now = 11; health.usable("p/m")
    True

Latency ages with time as well as with samples. The average is an EWMA of the attempts' latencies (time
to first byte for streams): a new sample `x` taken `age` seconds after the previous one gives

    kept = (1 - latency_decay) * 0.5 ** (age / latency_half_life_s)
    average = kept * average + (1 - kept) * x

so a busy target's average moves by `latency_decay` per sample, and one measured long ago is mostly
replaced by its next sample. Between samples, the `latency` strategy ranks a target by its average faded
by the same factor (`latency(key)`), with the age counted from its last sample or its last attempt,
whichever is later: a target left alone because it was slow looks faster and faster until it is picked
once and measured again (a target never measured counts as fastest), that is after at most
`latency_half_life_s * log2(its average / the best average)` seconds. The attempt itself stops the fade,
so while it is in flight the other requests keep to the fast targets.

    >>> clock = FakeClock()
    >>> health = Health(CooldownPolicy(latency_decay=0.5, latency_half_life_s=10), clock)
    >>> health.succeeded("p/m", 0.4); clock.now = 10
    >>> health.latency("p/m")  # one half-life without a sample
    0.2
    >>> health.succeeded("p/m", 0.2); health.get("p/m").latency_s  # the old average kept at 0.5 * 0.5
    0.25

State is per process and keyed by the target's `provider/model`; it lives behind this small class so
that a shared store (Redis) can replace it for multi-replica deployments, and survives config reloads.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class CooldownPolicy:
    failure_threshold: int = 3
    cooldown_s: float = 10.0
    cooldown_max_s: float = 20.0  # bounds the doubling, never the first cooldown (see `failed`)
    latency_decay: float = 0.3
    latency_half_life_s: float = 30.0


@dataclass(slots=True)
class TargetHealth:
    in_flight: int = 0
    latency_s: float | None = None  # EWMA of latency (time to first byte for streams)
    first_token_s: float | None = None  # EWMA of streams' time to their first content (the automatic ttft limit)
    measured_at: float = 0.0  # when the last latency sample came
    attempted_at: float = 0.0  # when the last attempt began
    consecutive_failures: int = 0
    cooldown_until: float = 0.0
    cooldown_s: float = 0.0  # length of the current/last cooldown; 0 when healthy
    probing: bool = False  # a half-open probe is in flight
    recent: deque[bool] = field(default_factory=lambda: deque(maxlen=50))  # True = error


class FakeClock:
    """A clock for tests: `clock.now` is whatever the test sets."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Health:
    def __init__(self, policy: CooldownPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self.clock = clock
        # A target's state is made when first asked for. The methods on the request path index it
        # themselves rather than through `get`: a Python call less each, four a request (issue 19).
        self._targets: defaultdict[str, TargetHealth] = defaultdict(TargetHealth)

    def get(self, key: str) -> TargetHealth:
        return self._targets[key]

    def cooling(self, key: str) -> bool:
        return self.clock() < self.get(key).cooldown_until

    def cooling_for(self, key: str) -> float:
        """Seconds until the target's cooldown ends; 0 when it is not cooling."""
        return max(0.0, self.get(key).cooldown_until - self.clock())

    def usable(self, key: str) -> bool:
        """Healthy, or past its cooldown with no probe in flight yet."""
        state = self._targets[key]
        if state.cooldown_s == 0:
            return True
        return self.clock() >= state.cooldown_until and not state.probing

    def begin(self, key: str) -> TargetHealth:
        """An attempt on the target begins; its state, for the caller to read."""
        state = self._targets[key]
        now = self.clock()
        state.in_flight += 1
        state.attempted_at = now
        if state.cooldown_s and now >= state.cooldown_until:
            state.probing = True
        return state

    def end(self, key: str) -> None:
        state = self._targets[key]
        if state.in_flight > 0:  # (not max(): a call of it parses keyword arguments, issue 19)
            state.in_flight -= 1

    def succeeded(self, key: str, latency_s: float | None) -> None:
        state = self._targets[key]
        state.consecutive_failures = 0
        state.cooldown_s = state.cooldown_until = 0.0
        state.probing = False
        state.recent.append(False)
        if latency_s is not None:
            now = self.clock()
            previous = state.latency_s
            if previous is None:
                state.latency_s = latency_s
            else:
                kept = (1 - self.policy.latency_decay) * self._fade(now - state.measured_at)
                state.latency_s = kept * previous + (1 - kept) * latency_s
            state.measured_at = now

    def first_token(self, key: str, seconds: float) -> None:
        """A stream of this target reached its first content (text or a tool call) `seconds` after its request.
        Kept apart from `latency_s`: a reasoning model sends its first chunk at once and its first word after
        it has thought, and it is the word that the first-token limit waits for."""
        state = self._targets[key]
        previous = state.first_token_s
        decay = self.policy.latency_decay
        state.first_token_s = seconds if previous is None else (1 - decay) * previous + decay * seconds

    def latency(self, key: str) -> float | None:
        """The latency average as the `latency` strategy ranks it now: faded since the target's last sample
        or attempt (see the module docstring). None when never measured."""
        state = self._targets[key]
        if state.latency_s is None:
            return None
        return state.latency_s * self._fade(self.clock() - max(state.measured_at, state.attempted_at))

    def _fade(self, age: float) -> float:
        return 0.5 ** (age / self.policy.latency_half_life_s) if age > 0.0 else 1.0  # (no max(): see `end`)

    def failed(self, key: str, retry_after: float | None = None) -> float:
        """Record a failure; returns the cooldown it started (0 when the target stays in use)."""
        state = self._targets[key]
        state.consecutive_failures += 1
        state.recent.append(True)
        was_probe, state.probing = state.probing, False
        if not (was_probe or retry_after or state.consecutive_failures >= self.policy.failure_threshold):
            return 0.0
        cap = max(self.policy.cooldown_max_s, self.policy.cooldown_s)  # a cap below the base caps nothing
        if retry_after:
            # The provider said when it will take requests again: its word, within the cap. Longer than
            # our own guess would idle a target that is ready; shorter lets the request that got the 429
            # honour a short Retry-After on this target (dispatch retries only a target that is not cooling).
            length = min(retry_after, cap)
        elif was_probe and state.cooldown_s:
            length = min(state.cooldown_s * 2, cap)
        else:
            length = self.policy.cooldown_s
        # Failures of requests already in flight (or sent while every target was cooling) never shorten a
        # cooldown that is running; only a failed probe makes it longer.
        until = max(state.cooldown_until, self.clock() + length)
        state.cooldown_s = max(length, state.cooldown_s) if not was_probe else length
        state.cooldown_until = until
        return until - self.clock()

    def released(self, key: str) -> None:
        """The attempt ended without a verdict on the target (the client left): free a probe slot."""
        self.get(key).probing = False

    def keep_only(self, keys: Iterable[str]) -> None:
        """After a reload: forget targets that no longer exist, keep the rest as they are."""
        wanted = set(keys)
        for key in list(self._targets):
            if key not in wanted:
                del self._targets[key]

    def in_flight(self) -> dict[str, int]:
        """Requests in flight per target key. Safe to call from another thread (telemetry's shipper): one
        C-level copy of the table, then plain reads."""
        return {key: state.in_flight for key, state in list(self._targets.items())}

    def snapshot(self, key: str) -> dict[str, Any]:
        state = self._targets[key]
        now = self.clock()
        cooling = now < state.cooldown_until
        errors = sum(state.recent)
        return {
            "state": "cooling" if cooling else ("probing" if state.cooldown_s else "healthy"),
            "cooling_for_s": round(state.cooldown_until - now, 3) if cooling else 0.0,
            "in_flight": state.in_flight,
            "latency_ms": round(state.latency_s * 1000, 2) if state.latency_s is not None else None,
            "consecutive_failures": state.consecutive_failures,
            "recent_error_rate": round(errors / len(state.recent), 3) if state.recent else 0.0,
            "recent_requests": len(state.recent),
        }
