"""The workers' shared limits table (gateway/state/shared.py): two SharedLimits on one file stand for two
worker processes; a slot held by a process that died stops counting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.state import Rate, Slot, Usage
from gateway.state import shared as shared_module
from gateway.state.shared import SharedLimits, Table

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX only (fcntl)")


@pytest.fixture
def path(tmp_path: Path) -> str:
    return shared_module.create(str(tmp_path))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_two_workers_share_one_rpm(path: str) -> None:
    clock = Clock()
    a, b = SharedLimits(path, clock=clock), SharedLimits(path, clock=clock)
    rate = Rate("k:team:rpm", 3, 60, 1)
    decisions = [(a if i % 2 else b).decide((rate,), (), "", None).refused for i in range(5)]
    assert decisions == [None, None, None, "k:team:rpm", "k:team:rpm"]
    clock.now += 20  # one request's worth comes back
    assert a.decide((rate,), (), "", None).refused is None
    assert b.decide((rate,), (), "", None).refused == "k:team:rpm"


def test_token_corrections_are_shared_too(path: str) -> None:
    clock = Clock()
    a, b = SharedLimits(path, clock=clock), SharedLimits(path, clock=clock)
    rate = Rate("k:team:tpm", 100, 60, 10, True)
    assert a.decide((rate,), (), "", None).refused is None
    a.record((Rate("k:team:tpm", 100, 60, 85, True),), (), "", None)  # it used 95, not 10
    assert b.decide((rate,), (), "", None).refused == "k:team:tpm"  # 95 + 10 > 100, seen by the other worker


def test_slots_count_every_workers_calls(path: str) -> None:
    a, b = SharedLimits(path), SharedLimits(path)
    slot = Slot("k:team:conc", 2)
    assert a.decide((), (slot,), "l1", None).refused is None
    assert b.decide((), (slot,), "l2", None).refused is None
    assert a.decide((), (slot,), "l3", None).refused == "k:team:conc"
    b.record((), (slot,), "l2", None)
    assert a.decide((), (slot,), "l3", None).refused is None


def test_a_slot_of_a_process_that_died_stops_counting(path: str) -> None:
    slot = Slot("k:team:conc", 1)
    code = (f"from gateway.state.shared import SharedLimits\nfrom gateway.state import Slot\n"
            f"SharedLimits({path!r}).decide((), (Slot('k:team:conc', 1),), 'x', None)\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)  # takes the slot, then exits
    worker = SharedLimits(path)
    assert worker.table.calls("k:team:conc") == 1  # still counted...
    assert worker.decide((), (slot,), "mine", None).refused is None  # ...until a full limit looks closer
    assert worker.table.calls("k:team:conc") == 1  # now only this process's call


def test_the_table_survives_many_keys_and_spend_goes_to_the_spend_file(path: str, tmp_path: Path) -> None:
    table = Table(path)
    offsets = {table.rate_cell(f"k:{i}:rpm") for i in range(2000)}
    assert len(offsets) == 2000  # every key its own cell
    limits = SharedLimits(path)
    limits.record((), (), "", ("spend:month:2026-12:team", Usage(1, 10, 5, 0.5), 0))
    assert limits.spend.get("spend:month:2026-12:team") == Usage(1, 10, 5, 0.5)
    assert os.path.getsize(path) == shared_module.SIZE
