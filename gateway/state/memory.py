"""Limits and spend in this process; spend also in a small SQLite file.

Rates and slots are plain dicts, decided synchronously (no await: nothing can interleave). Spend is added in
memory at once and written to `spend_file` every `flush_s` by a thread, never on the request path: the
rows hold running totals per (key, period), written as increments (`requests = requests + ?`), so several
processes (`gateway serve --workers N`) can share one file. After each write the totals are read back, so
each process also sees the others' spend within `flush_s`. At shutdown the last increments are written.
A process that is killed loses at most `flush_s` of spend.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, MutableMapping, Sequence
from pathlib import Path

from gateway.state import Rate, RateState, Slot, Usage, Verdict, corrected, gcra

log = logging.getLogger("gateway.limits")


class MemoryLimits:
    """`admit` and `settle` are `decide` and `record`, which the limiter calls directly (no I/O here)."""

    name = "memory"

    def __init__(self, spend: SpendFile | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.tats: MutableMapping[str, float] = {}
        self.slots: dict[str, set[str]] = {}
        self.spend = spend or SpendFile(None)

    async def admit(self, rates: Sequence[Rate], slots: Sequence[Slot], lease: str,
                    budget: tuple[str, float] | None) -> Verdict:
        return self.decide(rates, slots, lease, budget)

    def decide(self, rates: Sequence[Rate], slots: Sequence[Slot], lease: str,
               budget: tuple[str, float] | None) -> Verdict:
        spent = None
        if budget is not None:
            spent = self.spend.cost(budget[0])
            if spent >= budget[1]:
                return Verdict("budget", (), spent_usd=spent)
        now, tats = self.clock(), self.tats
        states: list[RateState] = []
        refused: str | None = None
        for rate in rates:
            ok, _, state = gcra(tats.get(rate.key, 0.0), now, rate)
            states.append(state)
            if not ok and refused is None:
                refused = rate.key
        if refused is not None:
            waits = [s.retry_after_s for s in states if s.retry_after_s]
            never = any(s.retry_after_s is None for s in states)
            return Verdict(refused, tuple(states), None if never else max(waits, default=0.0), spent)
        for slot in slots:
            if self.full(slot):
                return Verdict(slot.key, tuple(states), 1.0, spent)
        for rate, state in zip(rates, states, strict=True):
            tats[rate.key] = now + state.reset_s  # the new TAT: reset_s is how far ahead of now it is
        for slot in slots:
            self.take(slot.key, lease)
        return Verdict(None, tuple(states), None, spent)

    async def settle(self, corrections: Sequence[Rate], slots: Sequence[Slot], lease: str,
                     spend: tuple[str, Usage, float] | None) -> None:
        self.record(corrections, slots, lease, spend)

    def record(self, corrections: Sequence[Rate], slots: Sequence[Slot], lease: str,
               spend: tuple[str, Usage, float] | None) -> None:
        now = self.clock()
        for rate in corrections:
            self.tats[rate.key] = corrected(self.tats.get(rate.key, 0.0), now, rate)
        for slot in slots:
            self.give(slot.key, lease)
        if spend is not None:
            self.spend.add(spend[0], spend[1])

    # -- slots (gateway/state/shared.py keeps them across worker processes instead) ------------------------

    def full(self, slot: Slot) -> bool:
        return len(self.slots.get(slot.key, ())) >= slot.limit

    def take(self, key: str, lease: str) -> None:
        self.slots.setdefault(key, set()).add(lease)

    def give(self, key: str, lease: str) -> None:
        self.slots.get(key, set()).discard(lease)

    async def usage(self, ledgers: Sequence[str]) -> list[Usage]:
        return [self.spend.get(ledger) for ledger in ledgers]

    async def start(self) -> None:
        await self.spend.start()

    async def aclose(self) -> None:
        await self.spend.aclose()


class SpendFile:
    """Spend per ledger ("name|period"): what the file said at the last sync (`synced`), plus this process's
    increments since (`pending`, and `writing` while a thread writes them). `path` None: memory only.
    Increments are kept as plain lists and each ledger's total cost as a float: added on every request."""

    RECHECK_S = 10.0  # read the totals back at least this often, even when the file looks unchanged

    def __init__(self, path: str | None, flush_s: float = 1.0) -> None:
        self.path = path
        self.flush_s = flush_s
        self.synced: dict[str, Usage] = {}
        self.pending: dict[str, list[float]] = {}  # ledger -> [requests, input, output, cost]
        self.writing: dict[str, list[float]] = {}
        self.costs: dict[str, float] = {}  # ledger -> total cost: synced + writing + pending
        self._lock = threading.Lock()  # one writer at a time: the flusher, or the final write at shutdown
        self._task: asyncio.Task[None] | None = None
        self._failed = False
        self._seen: tuple[tuple[int, int], ...] = ()  # the file (and its WAL) as the last read left it
        self._read_at = -math.inf

    def cost(self, ledger: str) -> float:
        return self.costs.get(ledger, 0.0)

    def get(self, ledger: str) -> Usage:
        total = [float(n) for n in self.synced.get(ledger, _ZERO)]
        for extra in (self.writing.get(ledger), self.pending.get(ledger)):
            if extra is not None:
                total = [a + b for a, b in zip(total, extra, strict=True)]
        return Usage(int(total[0]), int(total[1]), int(total[2]), total[3])

    def add(self, ledger: str, usage: Usage) -> None:
        found = self.pending.get(ledger)
        if found is None:
            self.pending[ledger] = [usage[0], usage[1], usage[2], usage[3]]
        else:
            found[0] += usage[0]
            found[1] += usage[1]
            found[2] += usage[2]
            found[3] += usage[3]
        self.costs[ledger] = self.costs.get(ledger, 0.0) + usage[3]

    async def start(self) -> None:
        """Read the file's totals (it is made at the first spend: an open gateway writes no file)."""
        if self.path and self._task is None:
            if Path(self.path).exists():
                try:
                    self.synced = self._sync({})
                except (sqlite3.Error, OSError) as exc:
                    self._report(exc)
                self._recount()
            self._task = asyncio.get_running_loop().create_task(self._flush_forever())

    async def flush(self) -> None:
        """Write what is pending (in a thread) and read every total back."""
        if not self.path or self.writing:  # no file, or a write still under way
            return
        if not self.pending and (not Path(self.path).exists() or self._unchanged()):
            return
        self.writing, self.pending = self.pending, {}
        try:
            self.synced = await asyncio.to_thread(self._sync, self.writing)
        except (sqlite3.Error, OSError) as exc:
            for ledger, figures in self.writing.items():  # kept, and tried again at the next flush
                found = self.pending.setdefault(ledger, [0, 0, 0, 0.0])
                for i, value in enumerate(figures):
                    found[i] += value
            self._report(exc)
        finally:
            self.writing = {}
            self._recount()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.path and self.pending:
            await self.flush()

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.flush_s)
            await self.flush()

    def _unchanged(self) -> bool:
        """Nothing to read back: no process wrote the file since this one last read it (the file and its WAL
        look the same), and that was less than `RECHECK_S` ago. An idle gateway then does not read every total
        once a second (about 0.7M instructions each time, measured), and still sees another worker's spend
        within `flush_s` of its write."""
        return self._signature() == self._seen and time.monotonic() - self._read_at < self.RECHECK_S

    def _signature(self) -> tuple[tuple[int, int], ...]:
        assert self.path is not None
        found = []
        for name in (self.path, self.path + "-wal"):
            try:
                stat = os.stat(name)
            except OSError:
                continue
            found.append((stat.st_mtime_ns, stat.st_size))
        return tuple(found)

    def _recount(self) -> None:
        costs = {ledger: usage.cost_usd for ledger, usage in self.synced.items()}
        for ledger, figures in self.pending.items():
            costs[ledger] = costs.get(ledger, 0.0) + figures[3]
        self.costs = costs

    def _sync(self, increments: dict[str, list[float]]) -> dict[str, Usage]:
        assert self.path is not None
        with self._lock:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=5)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("CREATE TABLE IF NOT EXISTS spend (ledger TEXT PRIMARY KEY, requests INTEGER NOT NULL, "
                           "input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cost_usd REAL NOT NULL, "
                           "updated REAL NOT NULL)")
                with db:
                    db.executemany(
                        "INSERT INTO spend VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(ledger) DO UPDATE SET "
                        "requests = requests + excluded.requests, input_tokens = input_tokens + excluded.input_tokens,"
                        " output_tokens = output_tokens + excluded.output_tokens,"
                        " cost_usd = cost_usd + excluded.cost_usd, updated = excluded.updated",
                        [(k, int(u[0]), int(u[1]), int(u[2]), u[3], time.time()) for k, u in increments.items()],
                    )
                rows = db.execute("SELECT ledger, requests, input_tokens, output_tokens, cost_usd FROM spend")
                totals = {row[0]: Usage(*row[1:]) for row in rows}
            finally:
                db.close()
            self._seen, self._read_at = self._signature(), time.monotonic()
        if self._failed:
            self._failed = False
            log.warning("limits: the spend file %s is writable again", self.path)
        return totals

    def _report(self, exc: BaseException) -> None:
        if not self._failed:
            self._failed = True
            log.warning("limits: cannot write the spend file %s (%s: %s); spend is kept in memory and written "
                        "when the file can be written again", self.path, type(exc).__name__, exc)


_ZERO = Usage()
