"""uvicorn's httptools protocol with the limits a server facing hostile clients needs (`[server]` keys).

uvicorn bounds the silence between two requests on a kept-alive connection (`timeout_keep_alive`) and nothing
else: a connection that never sends a request, request headers dribbled a byte at a time, headers of any size
and a body sent one byte a second all hold a connection, its buffers and (for the body) a request task for as
long as the client likes. This protocol adds, per connection:

- `header_timeout_s`: a new connection must deliver its request line and headers by then, and so must each
  request after the first, counted from its first byte (a silent connection is closed; a slow head gets 408);
- `body_timeout_s`: the whole request body must have arrived this long after the headers (else 408);
- `max_header_bytes`: request line and headers larger than this get 431, counted as they arrive (a head that
  never ends is refused too) and the connection is closed;
- `max_connections`: connections beyond this many (per worker process) get 503 to their first request;
- `keepalive_timeout_s`: uvicorn's `timeout_keep_alive`, as a float.

Every refusal is a JSON body in OpenAI's error shape, as the gateway's own errors are, followed by a lingering
close (`_refuse_now`). The protocol reads the
limits from the uvicorn config it is given (`GatewayUvicornConfig`), which is what `--workers` pickles into
each worker process, so every worker applies the same limits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.config import ServerConfig


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    keepalive_timeout_s: float = 5.0
    max_header_bytes: int = 32768
    max_connections: int = 4096

    @classmethod
    def from_config(cls, server: ServerConfig) -> ConnectionLimits:
        return cls(server.header_timeout_s, server.body_timeout_s, server.keepalive_timeout_s,
                   server.max_header_bytes, server.max_connections)


class GatewayUvicornConfig(uvicorn.Config):
    """uvicorn's config, carrying the connection limits to the protocol (in every worker process too)."""

    def __init__(self, app: Any, *, limits: ConnectionLimits, **options: Any) -> None:
        options["http"] = GuardedHttpToolsProtocol  # httptools' parser, as `http="httptools"` would give
        super().__init__(app, **options)
        self.limits = limits


class _Refused(Exception):
    """Raised from a parser callback to stop parsing; `send_400_response` then answers with `status`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


LINGER_S = 2.0  # how long a refused connection's input is drained before it is closed regardless

_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large",
            503: b"Service Unavailable"}


def error_bytes(status: int, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 response with an OpenAI-shaped error body; the connection closes after it."""
    kind = "server_error" if status >= 500 else "invalid_request_error"
    body = orjson.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})
    return (b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
            % (status, _REASONS[status], len(body))) + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.limits: ConnectionLimits = getattr(config, "limits", None) or ConnectionLimits()
        self._max_head_bytes = self.limits.max_header_bytes
        self.timeout_keep_alive = self.limits.keepalive_timeout_s  # type: ignore[assignment]
        self._timer: asyncio.TimerHandle | None = None
        self._wanted: tuple[float, Callable[[], None]] | None = None  # a timer to arm once this read is parsed
        self._parsing = False
        self._head_bytes = 0  # the request line and the complete headers of the head being parsed
        self._head_read = 0  # the bytes of the reads that ended with the head still incomplete
        self._in_head = False
        self._refusal: _Refused | None = None
        self._lingering = False

    # -- timers -------------------------------------------------------------------------------------

    def _arm(self, seconds: float, expired: Callable[[], None]) -> None:
        """Start the timer, or, inside the parser's callbacks, the timer the parse ends up needing: a request
        that arrives whole in one read (most do) begins its head and its body and completes within the same
        `data_received`, and would arm a head timer and a body timer only to cancel both (issue 19). The
        deadline counts from the end of that parse, microseconds after the callback."""
        self._disarm()
        if self._parsing:
            self._wanted = (seconds, expired)
        else:
            self._timer = self.loop.call_later(seconds, expired)

    def _disarm(self) -> None:
        self._wanted = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _head_expired(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if not self._in_head:  # connected and never said anything: nothing to answer
            self.transport.close()
            return
        self._refuse_now(408, "request_timeout", "The request's headers did not arrive in time "
                         f"([server] header_timeout_s = {self.limits.header_timeout_s:g}).")

    def _body_expired(self) -> None:
        self._timer = None
        cycle = self.cycle
        if self.transport.is_closing():
            return
        if cycle is not None and not cycle.response_started:
            cycle.disconnected = True  # the handler reading the body sees the client gone; its answer is dropped
            cycle.message_event.set()
            self._refuse_now(408, "request_timeout", "The request body did not arrive in time "
                             f"([server] body_timeout_s = {self.limits.body_timeout_s:g}).")
        else:
            self.transport.close()

    def _refuse_now(self, status: int, code: str, message: str) -> None:
        """Answer with the refusal and close, lingering as nginx does (`lingering_close`). The client may still be
        sending (the rest of a huge head, a body): a socket closed with input unread makes the kernel reset the
        connection, and the reset can destroy the answer before the client reads it. So the answer goes out with
        a FIN behind it, what still arrives is read and dropped, and the connection closes when the client closes
        its side, or after `LINGER_S` at most."""
        self._disarm()
        transport = self.transport
        transport.write(error_bytes(status, code, message))
        if not transport.can_write_eof():
            transport.close()
            return
        self._lingering = True
        transport.write_eof()
        if self.flow is not None:
            self.flow.resume_reading()  # a body that filled uvicorn's buffer paused reading: drain it
        self._timer = self.loop.call_later(LINGER_S, transport.close)

    # -- connection ---------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self._refusal = _Refused(503, "too_many_connections", "The gateway has as many connections as it takes "
                                     f"([server] max_connections = {self.limits.max_connections}); try again.")
        self._arm(self.limits.header_timeout_s, self._head_expired)

    def data_received(self, data: bytes) -> None:
        if self._lingering:  # refused: the answer is sent, what the client still sends is dropped
            return
        self._parsing = True
        try:
            super().data_received(data)
        finally:
            self._parsing = False
            if self._wanted is not None:
                seconds, expired = self._wanted
                self._wanted = None
                self._timer = self.loop.call_later(seconds, expired)
            if self._in_head:
                self._count_unfinished_head(len(data))

    def _count_unfinished_head(self, size: int) -> None:
        """The parser hands over a URL or a header only once it is complete, so a head that never ends (one
        header value sent for ever) would otherwise grow until `header_timeout_s`: tens of megabytes a
        connection. So the reads that end with the head unfinished are counted too. Such a read is all head,
        except for the end of a previous request pipelined into the same read, which can only make the
        refusal come early for a client that pipelines large bodies (SDKs do not pipeline)."""
        self._head_read += size
        if self._head_read > self._max_head_bytes and not self._lingering:
            refusal = self._head_too_large()
            self._refuse_now(refusal.status, refusal.code, refusal.message)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        refusal = self._refusal or _Refused(400, "invalid_http", f"{msg} It is not valid HTTP/1.1.")
        self._refuse_now(refusal.status, refusal.code, refusal.message)

    # -- parser callbacks ---------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes, self._in_head = 0, True
        if self._timer is None and self._wanted is None:  # a later request on a kept-alive connection: its head
            # is timed from here
            self._arm(self.limits.header_timeout_s, self._head_expired)

    # (The byte count is inline in both callbacks, not a method they call: an SDK's request has 15-20 headers,
    # and a Python call per header was a measurable part of reading one, issue 19.)

    def on_url(self, url: bytes) -> None:
        self._head_bytes += len(url)
        if self._head_bytes > self._max_head_bytes:
            raise self._head_too_large()
        HttpToolsProtocol.on_url(self, url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value) + 4
        if self._head_bytes > self._max_head_bytes:
            raise self._head_too_large()
        HttpToolsProtocol.on_header(self, name, value)

    def _head_too_large(self) -> _Refused:
        self._refusal = _Refused(431, "request_header_fields_too_large", "The request line and headers are "
                                 f"larger than the gateway's limit of {self.limits.max_header_bytes} bytes "
                                 "([server] max_header_bytes).")
        return self._refusal

    def on_headers_complete(self) -> None:
        self._in_head, self._head_read = False, 0
        if self._refusal is not None:  # over max_connections: answered once the request is known
            raise self._refusal
        self._arm(self.limits.body_timeout_s, self._body_expired)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()
