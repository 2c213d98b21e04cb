"""State that limits and spend keep: rate counters, concurrency slots and per-key spend, behind one protocol.

`MemoryLimits` (memory.py) keeps them in this process (spend also in a SQLite file, so it survives a
restart); `RedisLimits` (redis.py) keeps them in Redis, where every replica sees the same counters. Both take
a request's whole decision in one step (one Lua script, one round trip, for Redis):

    verdict = await store.admit(rates, slots, lease, budget)   # every limit passes, or nothing is taken
    ...the call...
    await store.settle(corrections, slots, lease, spend)       # tokens corrected, slots freed, spend added

Rates are GCRA (the generic cell rate algorithm): per limit one number, the "theoretical arrival time"
(TAT). `limit` units per `period_s` means one unit every `period_s / limit` seconds, with bursts of up to
`limit` units at once. A request costing `cost` units moves the TAT `cost` intervals on and is refused when
that would put it more than one period ahead of now. `gcra()` is the rule; redis.py's script is the same
rule in Lua.

    >>> rate = Rate("k", limit=2, period_s=60, cost=1)
    >>> ok, tat, state = gcra(0.0, 100.0, rate)
    >>> ok, tat, state.remaining, state.reset_s
    (True, 130.0, 1, 30.0)
    >>> ok, tat, state = gcra(tat, 100.0, rate)
    >>> ok, state.remaining
    (True, 0)
    >>> ok, _, state = gcra(tat, 100.0, rate)
    >>> ok, state.retry_after_s
    (False, 30.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:
    from gateway.config import LimitsConfig

EPSILON = 1e-9  # float slack: exactly `limit` requests fit in a burst


# NamedTuples, not frozen dataclasses: one of each is made per request, and a frozen dataclass's __init__
# costs several times a tuple's.


class Rate(NamedTuple):
    """One GCRA limit on `key`: `limit` units per `period_s`; this request takes `cost` units (negative in a
    correction: tokens given back). `tpm`: the units are tokens, estimated before the call."""

    key: str
    limit: int
    period_s: float
    cost: float
    tpm: bool = False


class Slot(NamedTuple):
    """A limit on calls in flight on `key`."""

    key: str
    limit: int


class RateState(NamedTuple):
    """After a decision: units left now, seconds until the limit is whole again, and for a refusal how long
    until this request would fit (None: never, it is larger than the limit)."""

    remaining: int
    reset_s: float
    retry_after_s: float | None = 0.0


class Verdict(NamedTuple):
    refused: str | None  # None: let in; else the key of the Rate or Slot that refused, or "budget"
    rates: tuple[RateState, ...]  # one per Rate asked about, in order
    retry_after_s: float | None = None  # for a refusal by rates: when all of them would let it in
    spent_usd: float | None = None  # with a budget: the spend in the period so far


class Usage(NamedTuple):
    """One gateway key's figures in one budget period (`plus` adds two; `+` would join the tuples)."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    def plus(self, other: Usage) -> Usage:
        return Usage(self.requests + other.requests, self.input_tokens + other.input_tokens,
                     self.output_tokens + other.output_tokens, self.cost_usd + other.cost_usd)


class LimitStore(Protocol):
    """Where rate counters, slots and spend live. `ledger` names one key's spend in one period."""

    name: str

    async def admit(self, rates: Sequence[Rate], slots: Sequence[Slot], lease: str,
                    budget: tuple[str, float] | None) -> Verdict:
        """Take every rate and slot, or none: refused when a rate is exhausted, a slot full, or the spend
        in `budget` (ledger, USD) has reached it. Raises `StateUnavailableError` when the store cannot answer."""
        ...

    async def settle(self, corrections: Sequence[Rate], slots: Sequence[Slot], lease: str,
                     spend: tuple[str, Usage, float] | None) -> None:
        """After the call: move rates by `cost` (token estimate corrected), free the slots, and add the
        usage to the ledger (ledger, usage, seconds to keep it; 0: for ever)."""
        ...

    async def usage(self, ledgers: Sequence[str]) -> list[Usage]:
        """The figures of these ledgers. Raises `StateUnavailableError` when the store cannot answer."""
        ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


class StateUnavailableError(Exception):
    """The store could not be reached or did not answer in time (Redis down). `unsent`: the command certainly did
    not run (the store was resting after a failure, or refused the connection); after a timeout, or a connection
    lost mid-command, it may have."""

    def __init__(self, message: str, *, unsent: bool = False) -> None:
        super().__init__(message)
        self.unsent = unsent


def gcra(tat: float, now: float, rate: Rate) -> tuple[bool, float, RateState]:
    """One GCRA decision: (let in, the new TAT to store, the limit's state). (Written without max(): on Python
    3.11 each call of it parses keyword arguments, about 1K instructions, and this runs per limit per request.)"""
    interval = rate.period_s / rate.limit
    base = tat if tat > now else now
    new = base + rate.cost * interval
    over = new - now - rate.period_s
    if over > EPSILON:
        retry = None if rate.cost > rate.limit else over
        room = (rate.period_s - (base - now)) / interval + EPSILON
        whole = math.floor(room)
        return False, tat, RateState(whole if whole > 0 else 0, base - now, retry)
    whole = math.floor((rate.period_s - (new - now)) / interval + EPSILON)
    return True, new, RateState(whole if whole > 0 else 0, new - now)


def corrected(tat: float, now: float, rate: Rate) -> float:
    """The TAT after `rate.cost` more units (fewer when negative), never before now: a limit is never more
    than whole. (No max(): see `gcra`.)"""
    new = (tat if tat > now else now) + rate.cost * rate.period_s / rate.limit
    return new if new > now else now



def build_limit_store(config: LimitsConfig, on_error: Callable[[str], None] = lambda kind: None) -> LimitStore:
    """The store `[limits]` describes. `on_error(kind)` hears of each failed Redis call."""
    if config.backend == "redis":
        from gateway.state.redis import RedisConnection, RedisLimits  # imports the redis client only when used

        meanwhile = "letting calls in without limits" if config.on_backend_error == "open" else "refusing calls"
        connection = RedisConnection(
            config.redis_url, feature="limits", meanwhile=f"{meanwhile} (on_backend_error = "
            f'"{config.on_backend_error}")', back="limits and budgets are enforced again",
            timeout_s=config.redis_timeout_s, retry_s=config.redis_retry_s, on_error=on_error,
        )
        return RedisLimits(connection, lease_s=config.lease_s)
    from gateway.state.memory import MemoryLimits, SpendFile

    return MemoryLimits(SpendFile(config.spend_file or None, config.spend_flush_s))
