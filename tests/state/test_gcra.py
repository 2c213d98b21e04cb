"""The GCRA rule on plain numbers, then the LimitStore contract: the same assertions on MemoryLimits and on
RedisLimits against a real Redis (the `store` fixture), each test in its own key space."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from gateway.state import EPSILON, LimitStore, Rate, RateState, Slot, Usage, corrected, gcra

NOW = 1000.0


# -- gcra() and corrected() -------------------------------------------------------------------------------------


def test_each_unit_moves_the_tat_one_interval() -> None:
    rate = Rate("k", limit=2, period_s=60, cost=1)
    ok, tat, state = gcra(0.0, NOW, rate)
    assert (ok, tat, state) == (True, NOW + 30, RateState(remaining=1, reset_s=30.0, retry_after_s=0.0))
    ok, tat, state = gcra(tat, NOW, rate)
    assert (ok, tat, state) == (True, NOW + 60, RateState(0, 60.0, 0.0))


@pytest.mark.parametrize(("limit", "period_s"), [(1, 60), (3, 60), (7, 60), (60, 60), (1000, 60), (3, 1.0), (9, 0.7)])
def test_exactly_limit_units_fit_in_a_burst(limit: int, period_s: float) -> None:
    rate = Rate("k", limit, period_s, 1)
    tat, remaining = 0.0, []
    for _ in range(limit):
        ok, tat, state = gcra(tat, NOW, rate)
        assert ok
        remaining.append(state.remaining)
    assert remaining == list(range(limit - 1, -1, -1))
    ok, after, state = gcra(tat, NOW, rate)
    assert not ok and after == tat  # a refusal stores nothing new
    assert state.retry_after_s == pytest.approx(period_s / limit)
    assert state.remaining == 0 and state.reset_s == pytest.approx(period_s)


def test_a_refused_request_fits_exactly_after_its_retry_after() -> None:
    rate = Rate("k", 10, 60, 4)
    tat = NOW + 50  # 50 s of the minute used: 1 unit and a bit left
    ok, _, state = gcra(tat, NOW, rate)
    assert not ok and state.retry_after_s == pytest.approx(14.0)  # 50 + 4 x 6 - 60
    assert state.remaining == 1 and state.reset_s == 50.0
    assert state.retry_after_s is not None
    assert not gcra(tat, NOW + state.retry_after_s - 0.01, rate)[0]
    assert gcra(tat, NOW + state.retry_after_s, rate)[0]


def test_a_cost_larger_than_the_limit_never_fits() -> None:
    ok, tat, state = gcra(0.0, NOW, Rate("k", 10, 60, 11))
    assert (ok, tat, state.retry_after_s, state.remaining) == (False, 0.0, None, 10)
    assert gcra(0.0, NOW, Rate("k", 10, 60, 10))[0]  # the whole limit at once fits


def test_a_tat_in_the_past_is_a_whole_limit() -> None:
    ok, tat, state = gcra(NOW - 500, NOW, Rate("k", 4, 60, 1))
    assert (ok, tat, state.remaining) == (True, NOW + 15, 3)


def test_the_float_slack_is_tiny() -> None:
    assert EPSILON < 1e-6
    assert not gcra(NOW + 60 + 1e-6, NOW, Rate("k", 4, 60, 0.0))[0]  # a microsecond over is over


def test_corrected_moves_the_tat_up_and_down_but_never_before_now() -> None:
    rate = Rate("k", 100, 60, 10)  # 0.6 s a unit
    assert corrected(NOW + 6, NOW, rate) == pytest.approx(NOW + 12)  # debt
    assert corrected(NOW + 6, NOW, Rate("k", 100, 60, -5)) == pytest.approx(NOW + 3)  # refund
    assert corrected(NOW + 6, NOW, Rate("k", 100, 60, -500)) == NOW  # never more than whole
    assert corrected(0.0, NOW, Rate("k", 100, 60, -5)) == NOW
    assert corrected(0.0, NOW, rate) == pytest.approx(NOW + 6)  # a TAT in the past counts from now


# -- the LimitStore contract, on both stores --------------------------------------------------------------------


async def test_exactly_limit_requests_of_a_burst_pass(store: LimitStore, key: Callable[[str], str]) -> None:
    rate = Rate(key("rpm"), 3, 60, 1)
    remaining = []
    for i in range(3):
        verdict = await store.admit([rate], [], f"lease-{i}", None)
        assert verdict.refused is None
        remaining.append(verdict.rates[0].remaining)
    assert remaining == [2, 1, 0]
    verdict = await store.admit([rate], [], "lease-3", None)
    assert verdict.refused == rate.key
    assert verdict.retry_after_s == pytest.approx(20.0, abs=1.0)
    assert verdict.rates[0].remaining == 0 and verdict.rates[0].reset_s == pytest.approx(60.0, abs=1.0)


async def test_each_rate_reports_its_own_state(store: LimitStore, key: Callable[[str], str]) -> None:
    rates = [Rate(key("rpm"), 10, 60, 1), Rate(key("tpm"), 1000, 60, 250)]
    verdict = await store.admit(rates, [], "l", None)
    assert verdict.refused is None and verdict.spent_usd is None
    assert [s.remaining for s in verdict.rates] == [9, 750]
    assert [s.reset_s for s in verdict.rates] == [pytest.approx(6.0, abs=0.01), pytest.approx(15.0, abs=0.01)]


async def test_a_refusal_by_one_rate_takes_nothing(store: LimitStore, key: Callable[[str], str]) -> None:
    roomy, tight, slot = Rate(key("roomy"), 3, 60, 1), Rate(key("tight"), 1, 60, 1), Slot(key("conc"), 1)
    assert (await store.admit([tight], [], "first", None)).refused is None
    verdict = await store.admit([roomy, tight], [slot], "second", None)
    assert verdict.refused == tight.key and len(verdict.rates) == 2
    for i in range(3):  # roomy still has all 3
        assert (await store.admit([roomy], [], f"r{i}", None)).refused is None
    assert (await store.admit([roomy], [], "r3", None)).refused == roomy.key
    assert (await store.admit([], [slot], "third", None)).refused is None  # and the slot was not taken


async def test_a_refusal_by_a_slot_takes_no_rate(store: LimitStore, key: Callable[[str], str]) -> None:
    rate, slot = Rate(key("rpm"), 2, 60, 1), Slot(key("conc"), 1)
    assert (await store.admit([], [slot], "busy", None)).refused is None
    for i in range(3):
        verdict = await store.admit([rate], [slot], f"l{i}", None)
        assert verdict.refused == slot.key and verdict.retry_after_s == 1.0
    assert (await store.admit([rate], [], "a", None)).refused is None
    assert (await store.admit([rate], [], "b", None)).refused is None
    assert (await store.admit([rate], [], "c", None)).refused == rate.key


async def test_the_longest_wait_of_several_refusals_is_reported(store: LimitStore, key: Callable[[str], str]) -> None:
    fast, slow = Rate(key("fast"), 60, 60, 1), Rate(key("slow"), 2, 60, 1)  # 1 s and 30 s a unit
    for i in range(2):
        await store.admit([Rate(fast.key, 60, 60, 30), slow], [], f"l{i}", None)
    verdict = await store.admit([fast, slow], [], "x", None)
    assert verdict.refused == fast.key  # the first refusal is named
    assert verdict.retry_after_s == pytest.approx(30.0, abs=1.0)  # the wait until both let it in


async def test_a_cost_larger_than_the_limit_is_refused_for_good(store: LimitStore, key: Callable[[str], str]) -> None:
    too_big, fine = Rate(key("tpm"), 100, 60, 101), Rate(key("rpm"), 10, 60, 1)
    verdict = await store.admit([fine, too_big], [], "l", None)
    assert verdict.refused == too_big.key and verdict.retry_after_s is None
    assert (await store.admit([Rate(too_big.key, 100, 60, 100)], [], "l", None)).refused is None  # nothing taken


async def test_settle_debt_moves_the_tat_up(store: LimitStore, key: Callable[[str], str]) -> None:
    rate = Rate(key("tpm"), 10, 60, 1)  # 6 s a unit
    assert (await store.admit([rate], [], "l", None)).refused is None
    await store.settle([Rate(rate.key, 10, 60, 9)], [], "l", None)  # it used 10 units, not 1
    verdict = await store.admit([rate], [], "m", None)
    assert verdict.refused == rate.key and verdict.retry_after_s == pytest.approx(6.0, abs=1.0)


async def test_settle_refund_moves_the_tat_down(store: LimitStore, key: Callable[[str], str]) -> None:
    rate = Rate(key("tpm"), 10, 60, 10)
    assert (await store.admit([rate], [], "l", None)).refused is None
    assert (await store.admit([Rate(rate.key, 10, 60, 1)], [], "m", None)).refused == rate.key
    await store.settle([Rate(rate.key, 10, 60, -4)], [], "l", None)  # it used 6 units, not 10
    verdict = await store.admit([Rate(rate.key, 10, 60, 4)], [], "n", None)
    assert verdict.refused is None and verdict.rates[0].remaining == 0


async def test_a_refund_never_makes_more_than_a_whole_limit(store: LimitStore, key: Callable[[str], str]) -> None:
    rate = Rate(key("tpm"), 10, 60, 2)
    await store.admit([rate], [], "l", None)
    await store.settle([Rate(rate.key, 10, 60, -1000)], [], "l", None)
    await store.settle([Rate(key("fresh"), 10, 60, -1000)], [], "l", None)  # a key never seen
    for name in ("tpm", "fresh"):
        verdict = await store.admit([Rate(key(name), 10, 60, 10)], [], "m", None)
        assert verdict.refused is None and verdict.rates[0].remaining == 0
        assert (await store.admit([Rate(key(name), 10, 60, 1)], [], "n", None)).refused == key(name)


async def test_slots_up_to_the_limit_and_release(store: LimitStore, key: Callable[[str], str]) -> None:
    slot = Slot(key("conc"), 2)
    assert (await store.admit([], [slot], "a", None)).refused is None
    assert (await store.admit([], [slot], "b", None)).refused is None
    verdict = await store.admit([], [slot], "c", None)
    assert verdict.refused == slot.key and verdict.retry_after_s == 1.0 and verdict.rates == ()
    await store.settle([], [slot], "unknown-lease", None)  # harmless: frees nothing
    assert (await store.admit([], [slot], "c", None)).refused == slot.key
    await store.settle([], [slot], "a", None)
    assert (await store.admit([], [slot], "c", None)).refused is None
    assert (await store.admit([], [slot], "d", None)).refused == slot.key


async def test_slots_of_different_keys_are_apart(store: LimitStore, key: Callable[[str], str]) -> None:
    one, other = Slot(key("one"), 1), Slot(key("other"), 1)
    assert (await store.admit([], [one], "a", None)).refused is None
    assert (await store.admit([], [other], "a", None)).refused is None
    assert (await store.admit([], [one, other], "b", None)).refused == one.key


async def test_budget(store: LimitStore, key: Callable[[str], str]) -> None:
    ledger = key("spend:month:2026-12:alice")
    verdict = await store.admit([], [], "l", (ledger, 1.0))
    assert verdict.refused is None and verdict.spent_usd == 0.0
    await store.settle([], [], "l", (ledger, Usage(1, 100, 50, 0.6), 0.0))
    verdict = await store.admit([], [], "l", (ledger, 1.0))
    assert verdict.refused is None and verdict.spent_usd == pytest.approx(0.6)
    await store.settle([], [], "l", (ledger, Usage(1, 100, 50, 0.4), 0.0))
    verdict = await store.admit([Rate(key("rpm"), 5, 60, 1)], [Slot(key("conc"), 5)], "l", (ledger, 1.0))
    assert verdict.refused == "budget" and verdict.spent_usd == pytest.approx(1.0) and verdict.rates == ()
    assert (await store.admit([], [], "l", (ledger, 1.5))).refused is None  # a larger budget lets it in


async def test_a_budget_refusal_takes_no_rate_or_slot(store: LimitStore, key: Callable[[str], str]) -> None:
    rate, slot = Rate(key("rpm"), 1, 60, 1), Slot(key("conc"), 1)
    assert (await store.admit([rate], [slot], "l", (key("ledger"), 0.0))).refused == "budget"
    assert (await store.admit([rate], [slot], "l", None)).refused is None


async def test_usage_sums_each_ledger(store: LimitStore, key: Callable[[str], str]) -> None:
    a, b = key("spend:day:a"), key("spend:day:b")
    await store.settle([], [], "1", (a, Usage(1, 100, 10, 0.001), 86400.0))
    await store.settle([], [], "2", (a, Usage(1, 200, 20, 0.002), 86400.0))
    await store.settle([], [], "3", (b, Usage(1, 7, 3, 0.5), 0.0))
    usage = await store.usage([a, b, key("spend:day:nobody")])
    assert [(u.requests, u.input_tokens, u.output_tokens) for u in usage] == [(2, 300, 30), (1, 7, 3), (0, 0, 0)]
    assert [u.cost_usd for u in usage] == [pytest.approx(0.003), pytest.approx(0.5), 0.0]
    assert await store.usage([]) == []


async def test_concurrent_admits_take_exactly_the_limit(store: LimitStore, key: Callable[[str], str]) -> None:
    rate, slot = Rate(key("rpm"), 5, 60, 1), Slot(key("conc"), 3)
    rated = await asyncio.gather(*(store.admit([rate], [], f"r{i}", None) for i in range(20)))
    assert sum(v.refused is None for v in rated) == 5
    slotted = await asyncio.gather(*(store.admit([], [slot], f"s{i}", None) for i in range(10)))
    assert sum(v.refused is None for v in slotted) == 3
