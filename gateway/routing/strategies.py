"""Balancing strategies: pure functions from a route's targets to the order in which to try them."""

from __future__ import annotations

import random
from collections.abc import Sequence

from gateway.routing.table import Target


def weighted_order(targets: Sequence[Target], rng: random.Random) -> list[Target]:
    """All targets, drawn without replacement with probability proportional to weight.

    The first is a weighted random pick; the rest are the order to fail over in.
    """
    if len(targets) == 1:
        return [targets[0]]
    # Efraimidis-Spirakis: sort by u^(1/w), which draws by weight without replacement in one pass.
    return sorted(targets, key=lambda t: rng.random() ** (1.0 / t.weight), reverse=True)
