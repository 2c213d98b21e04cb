"""MemoryLimits on a clock the test moves, and SpendFile: spend in a SQLite file shared by processes."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import pytest

from gateway.config import LimitsConfig
from gateway.state import Rate, Slot, Usage, build_limit_store
from gateway.state.memory import MemoryLimits, SpendFile

LEDGER = "spend:month:2026-12:alice"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def rows(path: Path) -> dict[str, tuple[int, int, int, float]]:
    db = sqlite3.connect(path)
    try:
        found = db.execute("SELECT ledger, requests, input_tokens, output_tokens, cost_usd FROM spend").fetchall()
    finally:
        db.close()
    return {row[0]: tuple(row[1:]) for row in found}


# -- MemoryLimits ------------------------------------------------------------------------------------------------


async def test_a_rate_refills_one_unit_per_interval() -> None:
    clock = Clock(500.0)
    store = MemoryLimits(clock=clock)
    rate = Rate("rpm", 2, 60, 1)
    assert (await store.admit([rate], [], "a", None)).refused is None
    assert (await store.admit([rate], [], "b", None)).refused is None
    verdict = await store.admit([rate], [], "c", None)
    assert verdict.refused == "rpm" and verdict.retry_after_s == pytest.approx(30.0)
    clock.now += 29.9
    assert (await store.admit([rate], [], "c", None)).refused == "rpm"
    clock.now += 0.1
    verdict = await store.admit([rate], [], "c", None)
    assert verdict.refused is None and verdict.rates[0].remaining == 0
    clock.now += 600  # long idle: a whole limit again, never more
    assert [(await store.admit([rate], [], "d", None)).refused for _ in range(3)] == [None, None, "rpm"]


async def test_refusal_states_and_the_stored_tat() -> None:
    clock = Clock(100.0)
    store = MemoryLimits(clock=clock)
    await store.admit([Rate("tpm", 100, 60, 80)], [], "a", None)
    assert store.tats == {"tpm": pytest.approx(148.0)}
    verdict = await store.admit([Rate("tpm", 100, 60, 30)], [], "b", None)
    assert verdict.refused == "tpm" and verdict.retry_after_s == pytest.approx(6.0)
    assert (verdict.rates[0].remaining, verdict.rates[0].reset_s) == (20, pytest.approx(48.0))
    assert store.tats == {"tpm": pytest.approx(148.0)}


async def test_settle_frees_only_its_own_lease() -> None:
    store = MemoryLimits()
    slot = Slot("conc", 5)
    for lease in ("a", "b", "c"):
        await store.admit([], [slot], lease, None)
    await store.settle([], [slot], "b", None)
    await store.settle([], [Slot("never-used", 1)], "a", None)
    assert store.slots == {"conc": {"a", "c"}}


async def test_budget_survives_a_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "spend.sqlite3")
    first = MemoryLimits(SpendFile(path, flush_s=60))
    await first.start()
    await first.settle([], [], "l", (LEDGER, Usage(1, 10, 5, 2.0), 0.0))
    await first.aclose()
    again = MemoryLimits(SpendFile(path, flush_s=60))
    await again.start()
    try:
        verdict = await again.admit([], [], "l", (LEDGER, 2.0))
        assert verdict.refused == "budget" and verdict.spent_usd == 2.0
        assert await again.usage([LEDGER]) == [Usage(1, 10, 5, 2.0)]
    finally:
        await again.aclose()


def test_build_limit_store_for_memory(tmp_path: Path) -> None:
    store = build_limit_store(LimitsConfig(spend_file=str(tmp_path / "s.db"), spend_flush_s=3))
    assert isinstance(store, MemoryLimits) and store.name == "memory"
    assert (store.spend.path, store.spend.flush_s) == (str(tmp_path / "s.db"), 3)
    unfiled = build_limit_store(LimitsConfig(spend_file=""))
    assert isinstance(unfiled, MemoryLimits) and unfiled.spend.path is None


# -- SpendFile ---------------------------------------------------------------------------------------------------


async def test_spend_file_keeps_totals_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "spend.sqlite3"
    first = SpendFile(str(path), flush_s=60)
    await first.start()
    first.add(LEDGER, Usage(1, 100, 10, 0.25))
    first.add(LEDGER, Usage(1, 50, 5, 0.5))
    first.add("spend:total:bob", Usage(2, 1, 1, 1.0))
    assert first.get(LEDGER) == Usage(2, 150, 15, 0.75)
    await first.aclose()  # the last increments are written at shutdown
    assert rows(path) == {LEDGER: (2, 150, 15, 0.75), "spend:total:bob": (2, 1, 1, 1.0)}
    second = SpendFile(str(path), flush_s=60)
    assert second.get(LEDGER) == Usage()
    await second.start()
    assert second.get(LEDGER) == Usage(2, 150, 15, 0.75) and second.cost(LEDGER) == 0.75
    second.add(LEDGER, Usage(1, 1, 1, 0.25))
    await second.aclose()
    assert rows(path)[LEDGER] == (3, 151, 16, 1.0)  # increments, not overwrites


async def test_two_instances_on_one_file_see_each_others_spend(tmp_path: Path) -> None:
    path = str(tmp_path / "shared" / "spend.sqlite3")  # its folder is made too
    one, two = SpendFile(path, flush_s=60), SpendFile(path, flush_s=60)
    await one.start()
    await two.start()
    try:
        one.add(LEDGER, Usage(1, 10, 1, 0.1))
        two.add(LEDGER, Usage(1, 20, 2, 0.2))
        await one.flush()
        assert one.get(LEDGER) == Usage(1, 10, 1, 0.1)
        await two.flush()
        assert two.get(LEDGER) == Usage(2, 30, 3, pytest.approx(0.3))
        assert one.cost(LEDGER) == pytest.approx(0.1)  # what a budget is checked against
        await one.flush()  # nothing of its own pending: it still reads the others' spend back
        assert one.get(LEDGER) == Usage(2, 30, 3, pytest.approx(0.3))
        assert one.cost(LEDGER) == pytest.approx(0.3) and one.cost("spend:day:nobody") == 0.0
        one.add(LEDGER, Usage(1, 0, 0, 0.7))
        assert one.get(LEDGER) == Usage(3, 30, 3, pytest.approx(1.0))  # pending counts at once
        assert one.cost(LEDGER) == pytest.approx(1.0)
    finally:
        await one.aclose()
        await two.aclose()
    assert rows(Path(path))[LEDGER][:3] == (3, 30, 3)


async def test_an_idle_flush_reads_the_file_only_when_another_process_wrote_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each flush used to read every total back even with nothing pending and nothing changed: SQLite opened
    once a second by an idle gateway. Now it reads only when the file or its WAL changed (or RECHECK_S passed)."""
    path = str(tmp_path / "spend.sqlite3")
    one, two = SpendFile(path, flush_s=60), SpendFile(path, flush_s=60)
    await one.start()
    await two.start()
    one.add(LEDGER, Usage(1, 10, 1, 0.1))
    await one.flush()  # writes: the file exists from here
    opened: list[str] = []
    connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: opened.append("x") or connect(*a, **k))
    try:
        for _ in range(3):
            await one.flush()  # idle, nobody else wrote: nothing read
        assert opened == []
        two.add(LEDGER, Usage(1, 20, 2, 0.2))
        await two.flush()  # another process writes
        assert len(opened) == 1
        await one.flush()  # and this one reads it back
        assert len(opened) == 2 and one.get(LEDGER) == Usage(2, 30, 3, pytest.approx(0.3))
        await one.flush()
        assert len(opened) == 2
        one._read_at -= SpendFile.RECHECK_S  # long idle: read again anyway
        await one.flush()
        assert len(opened) == 3
    finally:
        await one.aclose()
        await two.aclose()


async def test_the_flusher_writes_by_itself(tmp_path: Path) -> None:
    path = tmp_path / "spend.sqlite3"
    spend = SpendFile(str(path), flush_s=0.02)
    await spend.start()
    try:
        spend.add(LEDGER, Usage(1, 2, 3, 0.5))
        for _ in range(200):
            if path.exists() and not spend.pending and not spend.writing:
                break
            await asyncio.sleep(0.01)
        assert rows(path) == {LEDGER: (1, 2, 3, 0.5)}
        assert spend.get(LEDGER) == Usage(1, 2, 3, 0.5)  # counted once: now in the synced totals
    finally:
        await spend.aclose()
    assert rows(path) == {LEDGER: (1, 2, 3, 0.5)}


async def test_no_spend_never_creates_the_file(tmp_path: Path) -> None:
    path = tmp_path / "spend.sqlite3"
    spend = SpendFile(str(path), flush_s=0.01)
    store = MemoryLimits(spend)
    await store.start()
    await store.admit([Rate("rpm", 5, 60, 1)], [Slot("conc", 1)], "l", ("spend:day:x", 1.0))
    await asyncio.sleep(0.05)  # a few flusher rounds
    await spend.flush()
    await store.aclose()
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


async def test_an_unwritable_file_keeps_spend_in_memory_and_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.limits")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    path = blocker / "spend.sqlite3"
    spend = SpendFile(str(path), flush_s=60)
    await spend.start()
    spend.add(LEDGER, Usage(1, 10, 1, 0.5))
    await spend.flush()
    spend.add(LEDGER, Usage(1, 10, 1, 0.5))
    await spend.flush()
    assert spend.get(LEDGER) == Usage(2, 20, 2, 1.0)  # kept for the next write
    assert spend.cost(LEDGER) == 1.0
    assert not path.exists()
    warnings = [r.getMessage() for r in caplog.records if r.name == "gateway.limits"]
    assert len(warnings) == 1
    assert f"cannot write the spend file {path}" in warnings[0] and "kept in memory" in warnings[0]
    assert caplog.records[0].levelno == logging.WARNING

    blocker.unlink()  # the folder can be made now: the next write catches up and says so
    await spend.flush()
    await spend.aclose()
    assert rows(path) == {LEDGER: (2, 20, 2, 1.0)}
    assert spend.get(LEDGER) == Usage(2, 20, 2, 1.0)
    messages = [r.getMessage() for r in caplog.records if r.name == "gateway.limits"]
    assert len(messages) == 2 and messages[1] == f"limits: the spend file {path} is writable again"


async def test_an_unwritable_file_at_shutdown_warns_once_and_does_not_raise(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.limits")
    (tmp_path / "blocker").write_text("")
    spend = SpendFile(str(tmp_path / "blocker" / "spend.sqlite3"), flush_s=60)
    await spend.start()
    spend.add(LEDGER, Usage(1, 1, 1, 0.1))
    await spend.aclose()
    assert spend.get(LEDGER) == Usage(1, 1, 1, 0.1)
    assert len([r for r in caplog.records if r.name == "gateway.limits"]) == 1


async def test_a_corrupt_file_at_start_warns_and_keeps_counting(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.limits")
    path = tmp_path / "spend.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    spend = SpendFile(str(path), flush_s=60)
    await spend.start()
    spend.add(LEDGER, Usage(1, 1, 1, 0.1))
    await spend.aclose()
    assert spend.get(LEDGER) == Usage(1, 1, 1, 0.1)
    messages = [r.getMessage() for r in caplog.records if r.name == "gateway.limits"]
    assert len(messages) == 1 and "cannot write the spend file" in messages[0]


async def test_memory_only_spend_file() -> None:
    spend = SpendFile(None)
    await spend.start()
    spend.add(LEDGER, Usage(1, 1, 1, 0.1))
    await spend.flush()
    await spend.aclose()
    assert spend.get(LEDGER) == Usage(1, 1, 1, 0.1) and spend.synced == {}
