"""Ending a wait for the upstream when the client leaves (`WatchClient`): uvicorn does not cancel a handler
whose client disconnected."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request

from gateway.errors import UpstreamError
from gateway.events import Exchange
from gateway.timers import Timer, Timers, for_loop


class WatchClient:
    """`with WatchClient(request, exchange, timers):` around a wait for the upstream (its answer, or a stream's
    first content) ends that wait as soon as the client disconnects, rather than when the upstream answers:
    uvicorn does not cancel a handler whose client left. The wait is cancelled (its attempt ends as
    cancelled, `client_disconnected`, and no target is blamed) and `ClientGoneError` is raised instead.

    Like EventStreamResponse's watcher, it waits for `http.disconnect` on `receive()`; it starts only once
    the body has been read, so it never takes a body message from the handler. uvicorn answers every later
    `receive()` with `http.disconnect` again, so the response's own watcher still sees it. The watching task
    starts only once the wait has lasted `WATCH_AFTER_S`: most answers come sooner, and then all it cost was
    a timer (gateway/timers.py; a task per request cost 6% of a request's instructions: callgrind on `gateway
    serve`)."""

    WATCH_AFTER_S = 0.2

    def __init__(self, request: Request, exchange: Exchange, timers: list[Timers]) -> None:
        self.request, self.exchange = request, exchange
        self.timers = for_loop(timers)
        self.waiting = asyncio.current_task(self.timers.loop)  # (given the loop: no getpid, see timers.for_loop)
        self.watcher: asyncio.Task[None] | None = None
        self.timer: Timer | None = None
        self.gone = False

    def __enter__(self) -> None:
        if self.request._stream_consumed and self.waiting is not None:
            timers = self.timers
            self.timer = timers.call_at(timers.loop.time() + self.WATCH_AFTER_S, self._start)

    def _start(self) -> None:
        if self.waiting is not None:
            self.watcher = self.timers.loop.create_task(self._watch(self.waiting))

    async def _watch(self, waiting: asyncio.Task[Any]) -> None:
        try:
            while (await self.request.receive())["type"] != "http.disconnect":
                pass  # (only an empty body message could come: the body was read)
        except Exception:  # a server whose receive() fails here: no watching, the request goes on
            return
        self.request._is_disconnected = True  # Starlette's own note of it (Request.is_disconnected)
        self.gone = True
        self.exchange.error = "client_disconnected"  # tells the dispatcher why its attempt is cancelled
        waiting.cancel()

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.watcher is not None:
            self.watcher.cancel()
        if self.gone and self.waiting is not None:
            self.waiting.uncancel()  # our own cancellation, not the server's
            if kind is not None:
                raise ClientGoneError("The client disconnected before the answer began.") from None


class ClientGoneError(UpstreamError):
    """The client left while the upstream was awaited. Nobody reads the answer (499, as nginx logs it); an
    UpstreamError for its `kind`, the `error.type` a stream whose client left gets too."""

    status = 499
    type = "client_disconnected"
    code = "client_disconnected"
    retryable = False

    @property
    def kind(self) -> str:
        return "client_disconnected"
