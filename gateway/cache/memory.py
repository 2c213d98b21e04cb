"""The memory backend: entries in this process, bounded by count and by total bytes, each with its TTL.

cachetools' `TLRUCache` rather than `TTLCache`, because lifetimes differ per entry (per route, per
request header); it evicts the least recently used entry once either bound is reached.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from cachetools import Cache, TLRUCache

from gateway.cache.store import Entry
from gateway.events import NoopObserver, Observer


def _expires(key: str, entry: Entry, now: float) -> float:
    return entry.expires_at


class _Bounded(TLRUCache[str, Entry]):
    """Bounded by bytes (cachetools' `maxsize` with `getsizeof`) and by entry count; counts evictions."""

    def __init__(self, max_entries: int, max_bytes: int, clock: Callable[[], float]) -> None:
        super().__init__(max_bytes, _expires, timer=clock, getsizeof=Entry.size)
        self.max_entries = max_entries
        self.evictions = 0

    def __setitem__(self, key: str, value: Entry, *args: Any) -> None:
        super().__setitem__(key, value)  # (which has just dropped the expired entries)
        while self.count() > self.max_entries:
            self.popitem()

    def count(self) -> int:
        """The entries held, expired ones included until the next write drops them: `len()` would first
        look for expired entries again (cachetools' timed caches do on every `len` and `currsize`)."""
        return Cache.__len__(self)

    def size(self) -> int:
        """The bytes held, counted as `count` is."""
        return int(Cache.currsize.fget(self))  # type: ignore[attr-defined]

    def popitem(self) -> tuple[str, Entry]:
        item = super().popitem()  # cachetools calls this only to make room: expiry goes another way
        self.evictions += 1
        return item


class MemoryStore:
    name = "memory"

    def __init__(
        self,
        max_entries: int,
        max_bytes: int,
        *,
        observer: Observer | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.entries = _Bounded(max_entries, max_bytes, clock)
        self.observer = observer or NoopObserver()

    async def get(self, key: str) -> Entry | None:
        return self.entries.get(key)

    async def set(self, key: str, entry: Entry) -> None:
        entries = self.entries
        if entry.size() > entries.maxsize:
            return
        before = entries.evictions
        entries[key] = entry
        self.observer.cache_changed(self.name, entries.count(), entries.size(), entries.evictions - before)

    async def purge(self, prefix: str) -> int:
        doomed = [key for key in list(self.entries.keys()) if key.startswith(prefix)]
        for key in doomed:
            self.entries.pop(key, None)
        return len(doomed)

    async def lock(self, key: str, seconds: float) -> bool:
        return True  # one process: its flights already make one call per key

    async def unlock(self, key: str) -> None:
        return None

    def stats(self) -> dict[str, int | str]:
        entries = self.entries
        entries.expire()
        return {"backend": self.name, "entries": len(entries), "bytes": int(entries.currsize),
                "max_entries": entries.max_entries, "max_bytes": int(entries.maxsize), "evictions": entries.evictions}

    async def aclose(self) -> None:
        return None
