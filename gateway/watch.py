"""Ending a wait for the upstream when the client leaves (`WatchClient`): uvicorn does not cancel a handler
whose client disconnected."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from starlette.requests import Request

from gateway.errors import UpstreamError
from gateway.events import Exchange
from gateway.timers import Timer, Timers, current_task, for_loop

# scope["extensions"][CONNECTION]["connection"]: the gateway's serving protocol (gateway/serving.py), which tells
# a `Watcher` when its connection is lost
CONNECTION = "gateway.connection"
_NONE: dict[str, Any] = {}


class Watcher(Protocol):
    def client_left(self) -> None: ...


class Connection(Protocol):
    """What gateway/serving.py's protocol offers the request it serves (the extension above)."""

    loop: asyncio.AbstractEventLoop

    def watch(self, watcher: Watcher) -> None: ...

    def unwatch(self, watcher: Watcher) -> None: ...


class WatchClient:
    """`with WatchClient(request, exchange, timers):` around a wait for the upstream (its answer, or a stream's
    first content) ends that wait as soon as the client disconnects, rather than when the upstream answers:
    uvicorn does not cancel a handler whose client left. The wait is cancelled (its attempt ends as
    cancelled, `client_disconnected`, and no target is blamed) and `ClientGoneError` is raised instead.

    It watches only once the body has been read (reading it tells of a client that left before). Served by
    `gateway serve`, the connection itself says when it is lost (the `CONNECTION` extension): the watch is then
    a registration, no timer and no task. Under another ASGI server it waits, like EventStreamResponse's
    watcher, for `http.disconnect` on `receive()`, in a task started once the wait has lasted `WATCH_AFTER_S`
    (most answers come sooner, and then all it cost was a timer: gateway/timers.py). uvicorn answers every
    later `receive()` with `http.disconnect` again, so the response's own watcher still sees it. (The timer
    and its heap cost 13.8K instructions a chat request, 1.8%; the registration about 1K: issue 19.)"""

    WATCH_AFTER_S = 0.2

    def __init__(self, request: Request, exchange: Exchange, timers: list[Timers]) -> None:
        self.request, self.exchange, self.holder = request, exchange, timers
        self.waiting: asyncio.Task[Any] | None = None
        self.connection: Connection | None = None
        self.timers: Timers | None = None
        self.watcher: asyncio.Task[None] | None = None
        self.timer: Timer | None = None
        self.gone = False

    def __enter__(self) -> None:
        if not self.request._stream_consumed:
            return
        extension = self.request.scope.get("extensions", _NONE).get(CONNECTION)
        if extension is not None:
            connection: Connection = extension["connection"]
            # (given the loop: no getpid, see timers.for_loop)
            self.waiting = current_task(connection.loop)
            if self.waiting is not None:
                self.connection = connection
                connection.watch(self)
            return
        timers = self.timers = for_loop(self.holder)
        self.waiting = current_task(timers.loop)
        if self.waiting is not None:
            self.timer = timers.call_at(timers.loop.time() + self.WATCH_AFTER_S, self._start)

    def client_left(self) -> None:
        """The client is gone: end the wait."""
        self.request._is_disconnected = True  # Starlette's own note of it (Request.is_disconnected)
        self.gone = True
        self.exchange.error = "client_disconnected"  # tells the dispatcher why its attempt is cancelled
        if self.waiting is not None:
            self.waiting.cancel()

    def _start(self) -> None:
        if self.waiting is not None and self.timers is not None:
            self.watcher = self.timers.loop.create_task(self._watch())

    async def _watch(self) -> None:
        try:
            while (await self.request.receive())["type"] != "http.disconnect":
                pass  # (only an empty body message could come: the body was read)
        except Exception:  # a server whose receive() fails here: no watching, the request goes on
            return
        self.client_left()

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if self.connection is not None:
            self.connection.unwatch(self)
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
