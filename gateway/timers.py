"""Timers for the request path: many of them, nearly all cancelled before they fire, on one loop timer.

Every attempt is bounded by a deadline and every wait for an upstream arms a short watch (endpoints.py); both
are cancelled, almost always, microseconds to seconds later. Each `asyncio.timeout` cost about 28K instructions
(callgrind: 9K for uvloop's timer, which allocates and starts a libuv timer and closes it again, the rest the
Python around it), 3% of a whole chat request (issue 19). `Timers` keeps the pending ones in a heap and the loop
timer armed at the earliest: a timer later than that one (the usual case, when the same delay is asked again
and again) is one `heappush`. A cancelled timer is only marked; the heap is rebuilt without the marked ones when
they outnumber the pending ones, so it stays within twice the timers pending (+64). A timer fires when the loop
timer that covers it does, as uvloop's own would. An entry lets go of its callback (or its task) as it is
cancelled or ended: the heap keeps it until the next rebuild, and a first version that kept the request's task
that long kept the last hundred requests' objects alive under load (9-22% more CPU per request at 16
connections, though fewer instructions at one).

`Timers.deadline(seconds)` is `asyncio.timeout(seconds)` as a plain `with`: the task inside is cancelled when
the time is up, and the block raises `TimeoutError` for that cancellation only (the same `uncancel` accounting).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import sys
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

_EARLY_S = 0.001  # a libuv timer rounds to milliseconds: what is due this close is due

# `asyncio.current_task(loop)`. On Python 3.11 that function is Python around a lookup in the C module's table of
# each loop's running task; here it is the lookup itself, without the function's frame (1.4K instructions a call,
# two a chat request: the attempt's deadline and the client watch; issue 19). From 3.12 on the function is C.
_RUNNING: dict[asyncio.AbstractEventLoop, asyncio.Task[Any]] | None = (
    getattr(asyncio.tasks, "_current_tasks", None) if sys.version_info < (3, 12) else None)
current_task: Callable[[asyncio.AbstractEventLoop], asyncio.Task[Any] | None] = (
    _RUNNING.get if _RUNNING is not None else asyncio.current_task)


def _nothing() -> None:
    return None


_NOTHING: Callable[[], object] = _nothing


class Timer:
    __slots__ = ("timers", "fn", "done")

    def __init__(self, timers: Timers, fn: Callable[[], object]) -> None:
        self.timers, self.fn = timers, fn
        self.done = False

    def fire(self) -> None:
        self.fn()

    def release(self) -> None:
        self.fn = _NOTHING

    def cancel(self) -> None:
        self.timers.cancel(self)


class Timers:
    """One event loop's timers (`for_loop`)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.thread = threading.get_ident()  # the loop's (`for_loop`)
        self._heap: list[tuple[float, int, Timer | Deadline]] = []
        self._order = itertools.count()  # ties fire in the order they were set
        self._pending = 0
        self._handle: asyncio.TimerHandle | None = None
        self._armed_at = math.inf

    def call_at(self, when: float, fn: Callable[[], object]) -> Timer:
        """Call `fn` at loop time `when`, unless `cancel`led before."""
        timer = Timer(self, fn)
        self._add(when, timer)
        return timer

    def _add(self, when: float, timer: Timer | Deadline) -> None:
        heap = self._heap
        heapq.heappush(heap, (when, next(self._order), timer))
        self._pending += 1
        if when < self._armed_at:
            self._arm(when)
        elif len(heap) > 2 * self._pending + 64:
            self._heap = [item for item in heap if not item[2].done]
            heapq.heapify(self._heap)

    def cancel(self, timer: Timer | Deadline) -> None:
        if not timer.done:
            timer.done = True
            timer.release()  # the heap keeps the entry until it is rebuilt: not what the entry refers to
            self._pending -= 1

    def deadline(self, seconds: float) -> Deadline:
        return Deadline(self, seconds)

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self.loop.call_at(when, self._fire)
        self._armed_at = when

    def _fire(self) -> None:
        self._handle, self._armed_at = None, math.inf
        heap = self._heap
        due = self.loop.time() + _EARLY_S
        try:
            while heap and (heap[0][2].done or heap[0][0] <= due):
                _, _, timer = heapq.heappop(heap)
                if not timer.done:
                    timer.done = True
                    self._pending -= 1
                    timer.fire()  # (what it raises goes to the loop's exception handler, as a callback's does)
        finally:
            if heap:
                self._arm(heap[0][0])


class Deadline:
    """`with timers.deadline(seconds):` bounds the block as `async with asyncio.timeout(seconds):` would. It is its
    own timer in the heap."""

    __slots__ = ("timers", "seconds", "task", "cancelling", "expired", "done")
    task: asyncio.Task[Any] | None

    def __init__(self, timers: Timers, seconds: float) -> None:
        self.timers, self.seconds = timers, seconds
        self.expired = self.done = False

    def __enter__(self) -> Deadline:
        timers = self.timers
        loop = timers.loop
        task = current_task(loop)
        if task is None:
            raise RuntimeError("a deadline bounds a task: use it inside one")
        self.task, self.cancelling = task, task.cancelling()
        timers._add(loop.time() + self.seconds, self)
        return self

    def fire(self) -> None:
        if self.task is not None:
            self.expired = True
            self.task.cancel()

    def release(self) -> None:
        pass  # (`__exit__` lets go of the task)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if not self.done:  # (`Timers.cancel`, in line: this runs for every attempt)
            self.done = True
            self.timers._pending -= 1
        task, self.task = self.task, None
        if self.expired and task is not None and task.uncancel() <= self.cancelling and kind is asyncio.CancelledError:
            raise TimeoutError from error


def for_loop(holder: list[Timers]) -> Timers:
    """The running loop's `Timers`, kept in `holder` (one per owner: the dispatcher, the endpoints); made anew
    when the loop is another one (tests run several).

    Told without `asyncio.get_running_loop()`, which on Python 3.11 makes a `getpid` system call every time (it
    checks for a fork): the loop the holder's timers were made on is running, in this thread, so it is the
    running loop (a thread runs one loop at a time)."""
    if holder:
        timers = holder[0]
        if timers.thread == threading.get_ident() and timers.loop.is_running():
            return timers
    holder[:] = [Timers(asyncio.get_running_loop())]
    return holder[0]
