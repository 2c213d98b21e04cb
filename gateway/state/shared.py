"""`gateway serve --workers N` with the memory backend: one set of rate limits for every worker process.

Each worker decides with `MemoryLimits`' rules, but the numbers those rules read and write live in a small
memory-mapped file that the parent made (in /dev/shm when the system has it), under an exclusive `flock`
for the length of one decision: a key's `rpm` is the key's, not each worker's. (Spend needs none of this:
`SpendFile` is shared by the workers already, within a second.)

The file holds two open-addressing tables, found by an 8-byte BLAKE2b of the key (the same in every
process, unlike `hash()`):

    rates  RATE_CELLS x (key hash u64, TAT f64)          the GCRA state of each rpm/tpm limit
    slots  SLOT_CELLS x (key hash u64, WORKERS x (pid i32, calls i32))   calls in flight, per worker

Slots are counted per worker process, so that the calls of a worker that died (and that uvicorn replaced)
stop counting: when a limit looks full, the entries of processes that no longer exist are cleared and the
count taken again. Times are `time.monotonic()`, which every process on the machine shares. POSIX only
(`fcntl`); elsewhere each worker keeps its own limits, as the docs say.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import mmap
import os
import struct
from collections.abc import Iterator, MutableMapping
from typing import Any

from gateway.state import Slot, Usage, Verdict
from gateway.state.memory import MemoryLimits, SpendFile

RATE_CELLS = 8192
SLOT_CELLS = 1024
WORKERS = 64
_RATE = struct.Struct("<Qd")
_SLOT_HEAD = struct.Struct("<Q")
_WORKER = struct.Struct("<ii")
SLOT_SIZE = _SLOT_HEAD.size + WORKERS * _WORKER.size
SIZE = RATE_CELLS * _RATE.size + SLOT_CELLS * SLOT_SIZE


def create(directory: str | None = None) -> str:
    """Make the shared file (in the parent, before the workers start); returns its path."""
    directory = directory or ("/dev/shm" if os.path.isdir("/dev/shm") else None)
    import tempfile

    fd, path = tempfile.mkstemp(prefix="llm-gateway-limits-", dir=directory)
    with os.fdopen(fd, "wb") as file:
        file.truncate(SIZE)
    return path


class Table:
    """The mapped file: rate TATs and per-worker slot counts by key."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR)
        self.map = mmap.mmap(self.fd, SIZE)
        self.pid = os.getpid()
        self._hashes: dict[str, int] = {}

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def hash(self, key: str) -> int:
        found = self._hashes.get(key)
        if found is None:
            found = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little") or 1
            self._hashes[key] = found
        return found

    def rate_cell(self, key: str) -> int:
        """The offset of `key`'s rate cell (claimed if new; the table never fills with a config's keys)."""
        wanted = self.hash(key)
        start = wanted % RATE_CELLS
        for step in range(RATE_CELLS):
            offset = ((start + step) % RATE_CELLS) * _RATE.size
            held = _RATE.unpack_from(self.map, offset)[0]
            if held == wanted or held == 0:
                if held == 0:
                    _RATE.pack_into(self.map, offset, wanted, 0.0)
                return offset
        raise RuntimeError("the shared limits table is full")

    def slot_cell(self, key: str) -> int:
        wanted = self.hash(key)
        base = RATE_CELLS * _RATE.size
        start = wanted % SLOT_CELLS
        for step in range(SLOT_CELLS):
            offset = base + ((start + step) % SLOT_CELLS) * SLOT_SIZE
            held = _SLOT_HEAD.unpack_from(self.map, offset)[0]
            if held == wanted or held == 0:
                if held == 0:
                    _SLOT_HEAD.pack_into(self.map, offset, wanted)
                return offset
        raise RuntimeError("the shared slots table is full")

    def calls(self, key: str, *, sweep: bool = False) -> int:
        """Calls in flight on `key`, over every worker; `sweep`: first forget workers that are gone."""
        offset = self.slot_cell(key) + _SLOT_HEAD.size
        total = 0
        for i in range(WORKERS):
            pid, count = _WORKER.unpack_from(self.map, offset + i * _WORKER.size)
            if pid and sweep and pid != self.pid and not _alive(pid):
                _WORKER.pack_into(self.map, offset + i * _WORKER.size, 0, 0)
                continue
            total += count
        return total

    def add_call(self, key: str, delta: int) -> None:
        offset = self.slot_cell(key) + _SLOT_HEAD.size
        free = None
        for i in range(WORKERS):
            at = offset + i * _WORKER.size
            pid, count = _WORKER.unpack_from(self.map, at)
            if pid == self.pid:
                _WORKER.pack_into(self.map, at, pid, max(0, count + delta))
                return
            if pid == 0 and free is None:
                free = at
        if free is not None and delta > 0:
            _WORKER.pack_into(self.map, free, self.pid, delta)

    def close(self) -> None:
        self.map.close()
        os.close(self.fd)


class Tats(MutableMapping[str, float]):
    """`MemoryLimits.tats` over the shared table (only get and set are used, under the table's lock)."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def __getitem__(self, key: str) -> float:
        value: float = _RATE.unpack_from(self.table.map, self.table.rate_cell(key))[1]
        return value

    def __setitem__(self, key: str, value: float) -> None:
        _RATE.pack_into(self.table.map, self.table.rate_cell(key), self.table.hash(key), value)

    def __delitem__(self, key: str) -> None:
        self[key] = 0.0

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


class SharedLimits(MemoryLimits):
    """MemoryLimits whose rates and slots are the workers' shared table."""

    def __init__(self, path: str, spend: SpendFile | None = None, **kwargs: Any) -> None:
        super().__init__(spend, **kwargs)
        self.table = Table(path)
        self.tats = Tats(self.table)

    def decide(self, rates: Any, slots: Any, lease: str, budget: tuple[str, float] | None) -> Verdict:
        with self.table.locked():
            return super().decide(rates, slots, lease, budget)

    def record(self, corrections: Any, slots: Any, lease: str, spend: tuple[str, Usage, float] | None) -> None:
        with self.table.locked():
            super().record(corrections, slots, lease, spend)

    def full(self, slot: Slot) -> bool:
        return self.table.calls(slot.key) >= slot.limit and self.table.calls(slot.key, sweep=True) >= slot.limit

    def take(self, key: str, lease: str) -> None:
        self.table.add_call(key, 1)

    def give(self, key: str, lease: str) -> None:
        self.table.add_call(key, -1)

    async def aclose(self) -> None:
        await super().aclose()
        self.table.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

