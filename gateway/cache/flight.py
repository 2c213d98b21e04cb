"""Single flight: concurrent identical misses make one upstream call and share its answer.

The first request for a key starts a `Flight`: a task of its own that makes the upstream call and
records what comes back. Every request for that key meanwhile, the first one included, subscribes and
reads the record: a stream's chunks as they arrive (`relay`), or the complete answer. The call runs on
its own task rather than on the first request's so that one client leaving never cuts the answer for
the others; when the last subscriber has left, the call is cancelled, as it would be without a cache.

Nothing waits forever: a subscriber waits only for its flight, and the flight ends when the upstream
call does, which the dispatcher bounds (the route's deadline, the stream idle timeout). A flight whose
call failed before answering hands every subscriber the same error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from enum import Enum
from typing import Any

import orjson

from gateway import sse
from gateway.cache import replay
from gateway.cache.store import Entry
from gateway.errors import GatewayError, UpstreamError
from gateway.events import Exchange

log = logging.getLogger("gateway.cache")


class State(Enum):
    WAITING = "waiting"  # the upstream call has not answered yet
    STREAMING = "streaming"  # a stream has started; `pieces` grows
    DONE = "done"  # answered: `body` is the complete answer, or None when the stream was cut
    FAILED = "failed"  # the call failed before answering: `error`
    ABANDONED = "abandoned"  # cancelled (every subscriber left, or shutdown) or broken by a bug


class Flight:
    """One upstream call for a key, and what it produced so far."""

    def __init__(self, key: str, leader: Exchange) -> None:
        self.key = key
        self.leader = leader  # the request whose Exchange the upstream call is recorded on
        self.state = State.WAITING
        self.provider = ""
        self.pieces: list[tuple[bytes, int]] | None = None  # a stream's payloads with their replay kind
        self.body: bytes | None = None
        self.entry: Entry | None = None  # when the answer came from the store (another replica's call)
        self.error: GatewayError | None = None
        self.reports = False  # the stream tells the observer itself when the leader's request finished
        self.usage: dict[str, Any] | None = None  # for subscribers that want usage the stream did not carry
        self.head: dict[str, Any] = {}
        self.completion = False
        self.subscribers = 0
        self.task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    @property
    def over(self) -> bool:
        return self.state not in (State.WAITING, State.STREAMING)

    # -- the producing side ---------------------------------------------------------------------------

    def start(self, provider: str, reports: bool) -> None:
        self.state, self.provider, self.reports, self.pieces = State.STREAMING, provider, reports, []
        self.notify()

    def finish(self, provider: str, body: bytes | None, entry: Entry | None = None) -> None:
        self.state, self.provider, self.body, self.entry = State.DONE, provider, body, entry
        self.notify()

    def fail(self, error: GatewayError) -> None:
        self.state, self.error = State.FAILED, error
        self.notify()

    def abandon(self) -> None:
        if not self.over:
            self.state = State.ABANDONED
            self.notify()

    def notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    # -- the subscribing side -------------------------------------------------------------------------

    async def wait(self, ready: Callable[[], bool]) -> None:
        while not ready():
            await self._changed.wait()  # each waiter has its own future: one cancelled waiter harms no other

    def outcome(self) -> None:
        """Raise what a subscriber should answer with when the flight has no answer for it."""
        if self.state is State.FAILED and self.error is not None:
            raise self.error.with_traceback(None)
        if self.state is State.ABANDONED:
            error = GatewayError("The identical request this one was waiting for was cancelled; send it again.")
            error.status, error.code = 503, "cache_flight_abandoned"
            raise error

    def complete_body(self) -> bytes:
        """The complete answer for a non-stream subscriber (the flight is over)."""
        self.outcome()
        if self.body is None:
            raise _cut(self.pieces[-1][0] if self.pieces and self.pieces[-1][1] == replay.ERROR else None)
        return self.body

    async def relay(self, include_usage: bool) -> AsyncGenerator[bytes, None]:
        """SSE bytes for one stream subscriber, from the first chunk, as they arrive."""
        await self.wait(lambda: self.state is not State.WAITING)
        if self.pieces is None:  # a complete answer, not a stream: replayed as one
            if self.body is not None:
                yield replay.to_sse(self.body, include_usage)
            else:  # it failed before answering (`ResponseCache.answer` sends that error instead)
                yield sse.encode(orjson.dumps(_cut(None).to_body()))
            return
        seen, saw_usage = 0, False
        while True:
            pieces, out = self.pieces, []
            while seen < len(pieces):
                payload, kind = pieces[seen]
                seen += 1
                if kind == replay.USAGE:
                    if not include_usage:
                        continue  # the leader asked for usage, this client did not
                    saw_usage = True
                elif kind == replay.DONE and include_usage and not saw_usage and self.usage is not None:
                    out.append(replay.usage_chunk(self.head, self.completion, self.usage))
                out.append(sse.encode(payload))
                if kind in (replay.DONE, replay.ERROR):
                    yield b"".join(out)
                    return
            if out:
                yield b"".join(out)
            if seen < len(pieces):
                continue  # more arrived while the client was written to
            if self.over:  # ended without [DONE] or an error event: never let it look complete
                yield sse.encode(orjson.dumps(_cut(None).to_body()))
                return
            await self._more(seen)

    async def _more(self, seen: int) -> None:
        await self.wait(lambda: self.over or len(self.pieces or ()) > seen)


class Flights:
    """The flights in progress, by key."""

    def __init__(self) -> None:
        self.active: dict[str, Flight] = {}

    def join(
        self, key: str, exchange: Exchange, fly: Callable[[Flight], Awaitable[None]], coalesce: bool = True
    ) -> tuple[Flight, bool]:
        """The flight for `key`, subscribed to; True when this request started it (the leader)."""
        flight = self.active.get(key) if coalesce else None
        if flight is not None and not flight.over:
            flight.subscribers += 1
            return flight, False
        flight = Flight(key, exchange)
        flight.subscribers = 1
        if coalesce:
            self.active[key] = flight
        flight.task = asyncio.get_running_loop().create_task(self._run(flight, fly))
        return flight, True

    def leave(self, flight: Flight) -> None:
        flight.subscribers -= 1
        if flight.subscribers <= 0 and not flight.over and flight.task is not None:
            self._forget(flight)  # a request arriving now starts afresh rather than join a cancelled call
            flight.task.cancel()

    async def _run(self, flight: Flight, fly: Callable[[Flight], Awaitable[None]]) -> None:
        try:
            await fly(flight)
        except asyncio.CancelledError:
            pass  # every subscriber left: nobody is waiting for this answer
        except Exception:
            log.exception("cache: the shared upstream call for a request failed unexpectedly")
            if not flight.over:
                flight.fail(GatewayError("The gateway hit an internal error; it has been logged."))
        finally:
            flight.abandon()
            self._forget(flight)

    def _forget(self, flight: Flight) -> None:
        if self.active.get(flight.key) is flight:
            del self.active[flight.key]


def _cut(payload: bytes | None) -> UpstreamError:
    """The error of a stream that was cut, for a subscriber that gets no stream (or lost it)."""
    error = UpstreamError("The upstream answer this request was waiting for was cut before it was complete.")
    try:
        detail = orjson.loads(payload)["error"] if payload is not None else None
    except (ValueError, KeyError, TypeError):
        detail = None
    if isinstance(detail, dict) and isinstance(detail.get("message"), str):
        error.message = detail["message"]
        if isinstance(detail.get("type"), str):
            error.type = detail["type"]
        if isinstance(detail.get("code"), str):
            error.code = detail["code"]
    return error
