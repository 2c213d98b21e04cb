"""Balancing strategies: the order in which to try a route's targets. Pure functions of health state.

The first target is the pick; the rest are the order to fail over in. Targets cooling down are left out
while any target is usable; when none is, the one that recovers soonest comes first.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from gateway.routing.health import Health
from gateway.routing.table import Target


class RoundRobin:
    """Smooth weighted round robin state (nginx's algorithm), per route."""

    def __init__(self) -> None:
        self._current: dict[str, dict[str, float]] = {}

    def pick(self, route: str, targets: Sequence[Target]) -> Target:
        current = self._current.setdefault(route, {})
        total = 0.0
        best: Target | None = None
        for target in targets:
            weight = current.get(target.key, 0.0) + target.weight
            current[target.key] = weight
            total += target.weight
            if best is None or weight > current[best.key]:
                best = target
        assert best is not None
        current[best.key] -= total
        return best


def order(
    route: str,
    strategy: str,
    targets: Sequence[Target],
    health: Health,
    rng: random.Random,
    round_robin: RoundRobin,
    explore: float = 0.05,
) -> list[Target]:
    if len(targets) == 1:
        return [targets[0]]  # whether it is usable or cooling, it is the only one to try
    usable = [t for t in targets if health.usable(t.key)]
    if not usable:
        return sorted(targets, key=lambda t: health.get(t.key).cooldown_until)
    if len(usable) == 1:
        return usable
    if strategy == "round_robin":
        first = round_robin.pick(route, usable)
        return [first, *weighted([t for t in usable if t is not first], rng)]
    if strategy == "least_busy":
        # Fewest in flight first; ties go by weight (a weighted random draw among equals).
        keys = {t.key: _draw(t, rng) for t in usable}
        return sorted(usable, key=lambda t: (health.get(t.key).in_flight, -keys[t.key]))
    if strategy == "latency":
        return by_latency(usable, health, rng, explore)
    return weighted(usable, rng)


def weighted(targets: Sequence[Target], rng: random.Random) -> list[Target]:
    """All targets, drawn without replacement with probability proportional to weight."""
    if len(targets) <= 1:
        return list(targets)
    keys = {t.key: _draw(t, rng) for t in targets}
    return sorted(targets, key=lambda t: keys[t.key], reverse=True)


def by_latency(targets: Sequence[Target], health: Health, rng: random.Random, explore: float) -> list[Target]:
    """Power of two choices on the latency average: draw two by weight, keep the faster.

    A target never measured counts as fastest, so new and recovered targets get measured. Averages fade
    with the time since the target's last sample or attempt (`Health.latency`), so a target left alone for
    being slow is tried again within a bounded time and, if it got faster, wins its traffic back; a share
    `explore` of requests also goes to a weighted random target, which notices it sooner on a busy route.
    """
    drawn = weighted(targets, rng)
    if rng.random() < explore:
        return drawn
    seen = {t.key: health.latency(t.key) for t in drawn}  # one reading each: the clock moves meanwhile

    def latency(t: Target) -> float:
        value = seen[t.key]
        return -1.0 if value is None else value

    first = min(drawn[:2], key=latency)
    rest = sorted((t for t in drawn if t is not first), key=latency)
    return [first, *rest]


def _draw(target: Target, rng: random.Random) -> float:
    # Efraimidis-Spirakis: u^(1/w) sorts a weighted draw without replacement in one pass.
    return float(rng.random() ** (1.0 / target.weight))
