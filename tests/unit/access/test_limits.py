"""Limits and budgets: the pure helpers, and the Limiter driven against a real MemoryLimits on a moved clock."""

from __future__ import annotations

import doctest
import importlib
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.access.keys import Caller
from gateway.access.limits import KEEP_S, Admission, Limiter, Period, duration, estimate_tokens, period, rate_headers
from gateway.errors import BudgetExceededError, LimitsUnavailableError, RateLimitedError
from gateway.routing.table import Route
from gateway.state import Rate, RateState, Slot, StateUnavailableError, Usage, Verdict
from gateway.state.memory import MemoryLimits

NOON = datetime(2026, 12, 5, 12, 0, tzinfo=UTC).timestamp()  # wall clock of the Limiter: budget periods
BODY: dict[str, Any] = {"messages": [{"role": "user", "content": "x" * 384}]}  # 96 + 4 = 100 tokens


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class DownStore:
    """A store whose backend is unreachable, as RedisLimits is while Redis is down."""

    name = "down"

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def admit(self, rates: Sequence[Rate], slots: Sequence[Slot], lease: str,
                    budget: tuple[str, float] | None) -> Verdict:
        self.calls.append("admit")
        raise StateUnavailableError("Redis at redis://127.0.0.1:1/0 is unavailable")

    async def settle(self, corrections: Sequence[Rate], slots: Sequence[Slot], lease: str,
                     spend: tuple[str, Usage, float] | None) -> None:
        self.calls.append("settle")
        raise StateUnavailableError("Redis at redis://127.0.0.1:1/0 is unavailable")

    async def usage(self, ledgers: Sequence[str]) -> list[Usage]:
        raise StateUnavailableError("Redis at redis://127.0.0.1:1/0 is unavailable")

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...



def as_dict(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Raw (bytes) header pairs as a dict of str, to compare."""
    return {name.decode(): value.decode() for name, value in headers}

def route(model: str = "gpt-4o", **limits: int) -> Route:
    return Route(model, "weighted", (), **limits)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> Clock:
    return Clock(1000.0)


@pytest.fixture
def store(clock: Clock) -> MemoryLimits:
    return MemoryLimits(clock=clock)


@pytest.fixture
def limiter(store: MemoryLimits) -> Limiter:
    return Limiter(store, prefix="t:", clock=lambda: NOON)


# -- period, duration, estimate_tokens, rate_headers --------------------------------------------------------


def test_day_period() -> None:
    found = period("day", NOON)
    assert found == Period("day:2026-12-05", datetime(2026, 12, 5, tzinfo=UTC), datetime(2026, 12, 6, tzinfo=UTC))


def test_a_period_starts_exactly_at_midnight() -> None:
    midnight = datetime(2026, 12, 6, tzinfo=UTC).timestamp()
    assert period("day", midnight).id == "day:2026-12-06"
    assert period("day", midnight - 0.001).id == "day:2026-12-05"
    assert period("month", datetime(2027, 1, 1, tzinfo=UTC).timestamp()).id == "month:2027-01"


def test_month_period_and_the_year_end() -> None:
    assert period("month", NOON) == Period("month:2026-12", datetime(2026, 12, 1, tzinfo=UTC),
                                           datetime(2027, 1, 1, tzinfo=UTC))
    june = period("month", datetime(2026, 6, 30, 23, 59, tzinfo=UTC).timestamp())
    assert (june.id, june.end) == ("month:2026-06", datetime(2026, 7, 1, tzinfo=UTC))


def test_total_period_never_ends() -> None:
    assert period("total", NOON) == Period("total", None, None)


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0ms"), (0.02, "20ms"), (0.4994, "499ms"), (-1, "0ms"), (1, "1s"), (8.6412, "8.64s"), (30, "30s"),
    (60, "1m0s"), (360.4, "6m0s"), (3599, "59m59s"), (3600, "1h0m0s"), (90061, "25h1m1s"),
])
def test_duration_is_written_as_openai_does(seconds: float, text: str) -> None:
    assert duration(seconds) == text


@pytest.mark.parametrize(("operation", "body", "tokens"), [
    ("chat", {"messages": [{"role": "user", "content": "x" * 400}], "max_tokens": 50}, 154),
    ("chat", {"messages": [{"role": "user", "content": "abc"}]}, 1 + 4),
    ("chat", {"messages": [{"role": "user", "content": [{"type": "text", "text": "y" * 8}, {"type": "image"}]}]},
     2 + 4),
    ("chat", {"messages": [{"role": "assistant", "content": None,
                            "tool_calls": [{"function": {"name": "f", "arguments": "z" * 12}}]}]}, 3 + 4),
    ("chat", {"messages": [], "tools": [{"a": 1}]}, math.ceil(len(str([{"a": 1}])) / 4)),
    ("chat", {"messages": [{"content": "x" * 4}], "max_completion_tokens": 10, "max_tokens": 99, "n": 3}, 1 + 4 + 30),
    ("chat", {"messages": [{"content": "x" * 4}], "max_tokens": True, "n": 0}, 1 + 4),  # bools are not counts
    ("chat", {"messages": "not a list"}, 0),
    ("text_completion", {"prompt": "p" * 40}, 10 + 16),  # the legacy API's default of 16 output tokens
    ("text_completion", {"prompt": ["p" * 8, "q" * 8], "max_tokens": 5, "n": 2}, 4 + 10),
    ("embeddings", {"input": "e" * 10}, 3),
    ("embeddings", {"input": [[1, 2, 3], [4, 5]]}, 5),  # token arrays: 4 characters per token
    ("embeddings", {"input": [7, 8]}, 2),
    ("embeddings", {}, 0),
])
def test_estimate_tokens(operation: str, body: dict[str, Any], tokens: int) -> None:
    assert estimate_tokens(operation, body) == tokens


def test_rate_headers_show_the_tightest_limit_of_each_kind() -> None:
    rates = (Rate("k:a:rpm", 10, 60, 1), Rate("r:m:rpm", 100, 60, 1), Rate("k:a:tpm", 1000, 60, 50, tpm=True))
    states = (RateState(9, 6.0), RateState(5, 57.0), RateState(950, 3.0))
    assert as_dict(rate_headers(rates, states)) == {
        "x-ratelimit-limit-requests": "100", "x-ratelimit-remaining-requests": "5", "x-ratelimit-reset-requests": "57s",
        "x-ratelimit-limit-tokens": "1000", "x-ratelimit-remaining-tokens": "950", "x-ratelimit-reset-tokens": "3s",
    }


def test_rate_headers_without_rates_or_states_are_empty() -> None:
    assert rate_headers((), ()) == []
    assert rate_headers((Rate("k:a:rpm", 1, 60, 1),), ()) == []  # a budget refusal has no rate states


# -- the Limiter ----------------------------------------------------------------------------------------------


def test_applies_only_when_something_limits_the_request(limiter: Limiter) -> None:
    assert not limiter.applies(None, route())
    assert not limiter.applies(Caller("a"), route())
    assert limiter.applies(None, route(max_concurrent=1))
    assert limiter.applies(Caller("a", tpm=5), route())
    assert limiter.applies(Caller("a", budget_usd=0.0), route())


async def test_nothing_to_limit_asks_no_store_but_records_the_ledger(limiter: Limiter, store: MemoryLimits) -> None:
    admission = await limiter.admit(Caller("team a/b", budget_period="day"), route(), "chat", BODY)
    assert admission.ledger == "t:spend:day:2026-12-05:team%20a%2Fb"
    assert (admission.keep_s, admission.rates, admission.slots, as_dict(admission.headers)) == (
        KEEP_S["day"], (), (), {})
    assert store.tats == {} and store.slots == {}
    anonymous = await limiter.admit(None, route(), "chat", BODY)
    assert (anonymous.ledger, anonymous.keep_s, anonymous.rates, anonymous.settled) == (None, 0.0, (), False)


async def test_admission_carries_rate_headers(limiter: Limiter) -> None:
    admission = await limiter.admit(Caller("a", rpm=2, tpm=1000), route(), "chat", BODY)
    assert [r.key for r in admission.rates] == ["t:k:a:rpm", "t:k:a:tpm"]
    assert [r.cost for r in admission.rates] == [1, 100]
    assert as_dict(admission.headers) == {
        "x-ratelimit-limit-requests": "2", "x-ratelimit-remaining-requests": "1", "x-ratelimit-reset-requests": "30s",
        "x-ratelimit-limit-tokens": "1000", "x-ratelimit-remaining-tokens": "900", "x-ratelimit-reset-tokens": "6s",
    }


async def test_key_rpm_refusal(limiter: Limiter, clock: Clock) -> None:
    caller = Caller("a", rpm=2)
    await limiter.admit(caller, route(), "chat", BODY)
    await limiter.admit(caller, route(), "chat", BODY)
    with pytest.raises(RateLimitedError) as info:
        await limiter.admit(caller, route(), "chat", BODY)
    error = info.value
    assert type(error) is RateLimitedError
    assert (error.status, error.type, error.code, error.refusal) == (429, "requests", "rate_limit_exceeded", "rpm")
    assert error.message == "Rate limit reached for key a: 2 requests per minute (rpm). Try again in 30s."
    assert error.headers == {
        "retry-after": "30", "retry-after-ms": "30000",
        "x-ratelimit-limit-requests": "2", "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1m0s",
    }
    clock.now += 30  # one interval later, one more fits
    await limiter.admit(caller, route(), "chat", BODY)


async def test_route_rpm_is_shared_by_every_caller(limiter: Limiter) -> None:
    shared = route(rpm=2)
    await limiter.admit(Caller("a"), shared, "chat", BODY)
    await limiter.admit(None, shared, "chat", BODY)
    with pytest.raises(RateLimitedError) as info:
        await limiter.admit(Caller("b"), shared, "chat", BODY)
    assert info.value.message.startswith("Rate limit reached for model gpt-4o (all callers together): 2 requests")
    other = await limiter.admit(Caller("b"), route("claude", rpm=2), "chat", BODY)  # another route: its own limit
    assert other.rates[0].key == "t:r:claude:rpm"


async def test_a_refusal_by_the_route_takes_nothing_from_the_key(limiter: Limiter, store: MemoryLimits) -> None:
    caller = Caller("a", rpm=5, max_concurrent=3)
    await limiter.admit(caller, route("full", rpm=1), "chat", BODY)
    before = dict(store.tats)
    with pytest.raises(RateLimitedError):
        await limiter.admit(caller, route("full", rpm=1), "chat", BODY)
    assert store.tats == before
    assert {key: len(leases) for key, leases in store.slots.items()} == {"t:k:a:conc": 1}


async def test_tpm_refusal_counts_the_estimate(limiter: Limiter) -> None:
    caller = Caller("a", tpm=250)
    await limiter.admit(caller, route(), "chat", BODY)
    await limiter.admit(caller, route(), "chat", BODY)
    with pytest.raises(RateLimitedError) as info:
        await limiter.admit(caller, route(), "chat", BODY)
    error = info.value
    assert (error.type, error.refusal) == ("tokens", "tpm")
    assert error.message == "Rate limit reached for key a: 250 tokens per minute (tpm). Try again in 12s."
    assert error.headers["retry-after"] == "12" and error.headers["x-ratelimit-remaining-tokens"] == "50"


async def test_a_request_larger_than_the_tpm_is_refused_for_good(limiter: Limiter) -> None:
    with pytest.raises(RateLimitedError) as info:
        await limiter.admit(None, route(tpm=50), "chat", {**BODY, "max_tokens": 100})
    error = info.value
    assert error.message == ("Request too large for model gpt-4o (all callers together): about 200 tokens (prompt "
                             "and max_tokens) against a limit of 50 tokens per minute (tpm). Send a shorter prompt "
                             "or a lower max_tokens.")
    assert error.headers["x-should-retry"] == "false"
    assert "retry-after" not in error.headers


async def test_settle_corrects_the_token_estimate(limiter: Limiter, store: MemoryLimits, clock: Clock) -> None:
    caller = Caller("a", tpm=1000)
    admission = await limiter.admit(caller, route(), "chat", BODY)
    assert store.tats["t:k:a:tpm"] == pytest.approx(1000.0 + 100 * 0.06)
    await limiter.settle(admission, Usage(1, input_tokens=10, output_tokens=20))
    assert store.tats["t:k:a:tpm"] == pytest.approx(1000.0 + 30 * 0.06)  # 70 estimated tokens given back
    nxt = await limiter.admit(caller, route(), "chat", BODY)
    assert as_dict(nxt.headers)["x-ratelimit-remaining-tokens"] == "870"


async def test_settle_charges_tokens_beyond_the_estimate(limiter: Limiter, store: MemoryLimits) -> None:
    admission = await limiter.admit(None, route(tpm=1000, rpm=10), "chat", BODY)
    rpm_tat = store.tats["t:r:gpt-4o:rpm"]
    await limiter.settle(admission, Usage(1, input_tokens=300, output_tokens=200))
    assert store.tats["t:r:gpt-4o:tpm"] == pytest.approx(1000.0 + 500 * 0.06)
    assert store.tats["t:r:gpt-4o:rpm"] == rpm_tat  # requests are never corrected


async def test_max_concurrent(limiter: Limiter) -> None:
    caller = Caller("a", max_concurrent=2)
    first = await limiter.admit(caller, route(), "chat", BODY)
    await limiter.admit(caller, route(), "chat", BODY)
    with pytest.raises(RateLimitedError) as info:
        await limiter.admit(caller, route(), "chat", BODY)
    error = info.value
    assert (error.type, error.refusal) == ("requests", "max_concurrent")
    assert error.message == ("Too many calls in flight for key a: at most 2 at a time (max_concurrent). "
                             "Try again when one has finished.")
    assert error.headers == {"retry-after": "1", "retry-after-ms": "1000"}
    await limiter.settle(first, Usage())
    await limiter.admit(caller, route(), "chat", BODY)


async def test_settle_happens_once(limiter: Limiter, store: MemoryLimits) -> None:
    caller = Caller("a", max_concurrent=1)
    admission = await limiter.admit(caller, route(), "chat", BODY)
    await limiter.settle(admission, Usage(1, 10, 5, 0.25))
    await limiter.settle(admission, Usage(1, 10, 5, 0.25))
    assert admission.settled
    [(usage, found)] = await limiter.usage([("a", "month")])
    assert usage == Usage(1, 10, 5, 0.25)
    assert found.id == "month:2026-12"


async def test_usage_reads_each_key_in_its_own_period(limiter: Limiter) -> None:
    for name, kind, cost in (("a", "day", 0.5), ("a", "day", 0.25), ("b", "total", 2.0)):
        admission = await limiter.admit(Caller(name, budget_period=kind), route(), "chat", BODY)
        await limiter.settle(admission, Usage(1, 100, 10, cost))
    figures = await limiter.usage([("a", "day"), ("b", "total"), ("a", "month"), ("nobody", "day")])
    assert [(u, p.id) for u, p in figures] == [
        (Usage(2, 200, 20, 0.75), "day:2026-12-05"), (Usage(1, 100, 10, 2.0), "total"),
        (Usage(), "month:2026-12"), (Usage(), "day:2026-12-05"),
    ]


async def test_budget_refusal_for_a_month(limiter: Limiter) -> None:
    caller = Caller("a", budget_usd=1.0)
    admission = await limiter.admit(caller, route(), "chat", BODY)
    await limiter.settle(admission, Usage(1, 1000, 1000, 0.6))
    admission = await limiter.admit(caller, route(), "chat", BODY)  # 0.6 < 1.0: let in
    await limiter.settle(admission, Usage(1, 1000, 1000, 0.6))
    with pytest.raises(BudgetExceededError) as info:
        await limiter.admit(caller, route(), "chat", BODY)
    error = info.value
    wait = datetime(2027, 1, 1, tzinfo=UTC).timestamp() - NOON
    assert (error.status, error.type, error.code, error.refusal) == (429, "insufficient_quota", "budget_exceeded",
                                                                     "budget")
    assert error.message == ("Key a has spent $1.2000 of its $1.00 budget for this month; the budget resets at "
                             "2027-01-01T00:00:00Z (in 636h0m0s).")
    assert error.headers == {
        "retry-after": str(math.ceil(wait)), "retry-after-ms": str(math.ceil(wait * 1000)), "x-should-retry": "false",
        "x-gateway-budget-usd": "1", "x-gateway-spend-usd": "1.200000",
        "x-gateway-budget-reset": "2027-01-01T00:00:00Z",
    }


async def test_a_zero_budget_refuses_at_once_and_a_total_budget_never_resets(limiter: Limiter) -> None:
    with pytest.raises(BudgetExceededError) as info:
        await limiter.admit(Caller("z", budget_usd=0.0, budget_period="total"), route(), "chat", BODY)
    error = info.value
    assert error.message == ("Key z has spent $0.0000 of its $0.00 budget for this key (budget_period = total); "
                             "it does not reset: raise budget_usd in the config to allow more.")
    assert error.headers == {"x-should-retry": "false", "x-gateway-budget-usd": "0", "x-gateway-spend-usd": "0.000000"}


async def test_a_budget_refusal_takes_no_rate(limiter: Limiter, store: MemoryLimits) -> None:
    with pytest.raises(BudgetExceededError):
        await limiter.admit(Caller("z", rpm=5, budget_usd=0.0), route(rpm=5), "chat", BODY)
    assert store.tats == {}


async def test_the_day_budget_resets_the_next_day(store: MemoryLimits) -> None:
    wall = Clock(NOON)
    limiter = Limiter(store, clock=wall)
    caller = Caller("a", budget_usd=0.5, budget_period="day")
    admission = await limiter.admit(caller, route(), "chat", BODY)
    await limiter.settle(admission, Usage(1, 1, 1, 0.5))
    with pytest.raises(BudgetExceededError) as info:
        await limiter.admit(caller, route(), "chat", BODY)
    assert info.value.headers["retry-after"] == str(12 * 3600)
    assert info.value.message.endswith("the budget resets at 2026-12-06T00:00:00Z (in 12h0m0s).")
    wall.now += 12 * 3600
    admission = await limiter.admit(caller, route(), "chat", BODY)
    assert admission.ledger == "spend:day:2026-12-06:a"


async def test_backend_down_open_lets_calls_in_unlimited() -> None:
    down = DownStore()
    limiter = Limiter(down, on_backend_error="open", clock=lambda: NOON)
    admission = await limiter.admit(Caller("a", rpm=1, budget_usd=1.0), route(rpm=1), "chat", BODY)
    assert isinstance(admission, Admission)
    assert (admission.rates, admission.slots, as_dict(admission.headers)) == ((), (), {})
    assert admission.ledger == "spend:month:2026-12:a"  # spend is still recorded when the store is back
    await limiter.settle(admission, Usage(1, 1, 1, 0.1))  # the store's failure is not the caller's
    assert down.calls == ["admit", "settle"] and admission.settled


async def test_backend_down_closed_refuses_with_503() -> None:
    limiter = Limiter(DownStore(), on_backend_error="closed", clock=lambda: NOON)
    with pytest.raises(LimitsUnavailableError) as info:
        await limiter.admit(Caller("a", rpm=1), route(), "chat", BODY)
    error = info.value
    assert (error.status, error.code, error.refusal) == (503, "limits_unavailable", "limits_unavailable")
    assert error.headers == {"retry-after": "1"}
    assert 'on_backend_error = "closed"' in error.message


async def test_backend_down_does_not_matter_when_nothing_limits() -> None:
    down = DownStore()
    limiter = Limiter(down, on_backend_error="closed", clock=lambda: NOON)
    admission = await limiter.admit(Caller("a"), route(), "chat", BODY)
    assert admission.ledger == "spend:month:2026-12:a" and down.calls == []
    with pytest.raises(StateUnavailableError):
        await limiter.usage([("a", "month")])


# -- the docstrings' examples ----------------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["gateway.access.prices", "gateway.access.keys", "gateway.access.limits",
                                    "gateway.state"])
def test_docstring_examples_hold(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), verbose=False, report=False)
    assert result.attempted > 0
    assert result.failed == 0
