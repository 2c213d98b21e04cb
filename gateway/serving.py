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
close (`_refuse_now`). Each request's cycle is a `GatewayCycle`, which writes the response head as uvicorn does
for less than half the cost (response_head.py). The protocol reads the
limits from the uvicorn config it is given (`GatewayUvicornConfig`), which is what `--workers` pickles into
each worker process, so every worker applies the same limits.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sys
import time
import urllib.parse
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, cast

import httptools
import orjson
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.config import ServerConfig
from gateway.response_head import GatewayCycle, KnownHeaders
from gateway.watch import CONNECTION, Watcher

try:
    import fcntl
    import termios

    _FIONREAD: int | None = termios.FIONREAD
except ImportError:  # Windows
    _FIONREAD = None


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
        self.known_headers = KnownHeaders()  # every connection's (of this process): response_head.py

    def load(self) -> None:
        """uvicorn's, with its `ProxyHeadersMiddleware` (`proxy_headers`, on by default) in front only of the
        requests it changes: see `ForwardedHeaders`. (Run in each `--workers` process too.)"""
        proxy_headers, self.proxy_headers = self.proxy_headers, False
        try:
            super().load()
        finally:
            self.proxy_headers = proxy_headers
        if proxy_headers:
            self.loaded_app = ForwardedHeaders(self.loaded_app, self.forwarded_allow_ips)
        uvicorn_log = logging.getLogger("uvicorn.error")
        if _quiet_parse_errors not in uvicorn_log.filters:
            uvicorn_log.addFilter(_quiet_parse_errors)  # each is in `REFUSALS`' line instead


_FORWARDED = (b"x-forwarded-for", b"x-forwarded-proto")  # what ProxyHeadersMiddleware reads (names: lower case)


class ForwardedHeaders:
    """uvicorn's `ProxyHeadersMiddleware` for the requests that carry `X-Forwarded-For` or `X-Forwarded-Proto`:
    from a trusted proxy (loopback, or the addresses in `FORWARDED_ALLOW_IPS`, as uvicorn reads it), they give the
    request its real client address and scheme (the access log, telemetry, the admin endpoints' loopback rule);
    whether the peer is trusted is that middleware's own decision. A request with neither header goes straight to
    the app: the middleware would leave its scope as it is, after a coroutine of its own (a layer on every
    resumption of the request's task) and a trust lookup, 9.4K instructions a chat request (issue 19,
    bench/README.md, stop 29)."""

    def __init__(self, app: ASGIApp, trusted_hosts: list[str] | str) -> None:
        self.app = app
        self.proxy = cast(ASGIApp, ProxyHeadersMiddleware(cast(Any, app), trusted_hosts))  # (uvicorn's ASGI types)

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "lifespan":
            for name, _ in scope["headers"]:
                if name in _FORWARDED:
                    return self.proxy(scope, receive, send)
        return self.app(scope, receive, send)


class _Refused(Exception):
    """Raised from a parser callback to stop parsing; `send_400_response` then answers with `status`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


LINGER_S = 2.0  # how long a refused connection's input is drained before it is closed regardless
FIRST_REQUEST_AT_SHUTDOWN_S = 1.0  # how long a connection accepted just before shutdown has to send its request

_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large",
            503: b"Service Unavailable"}


def error_bytes(status: int, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 response with an OpenAI-shaped error body; the connection closes after it."""
    kind = "server_error" if status >= 500 else "invalid_request_error"
    body = orjson.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})
    return (b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
            % (status, _REASONS[status], len(body))) + body


_NO_TIMER, _HEAD, _BODY = 0, 1, 2  # what a connection's one timer bounds


class RefusalLog:
    """The refusals this protocol answers (400, 408, 431, 503 above), in the log without flooding it: the first
    at once, then one line every `every_s` at most, with how many came meanwhile and the last one's status,
    code and client. uvicorn alone logs "Invalid HTTP request received." for every unparsable request (and for a
    431 or a 503 as well, since those stop its parser): a client sending garbage on many connections wrote as
    many lines. That message is filtered out of uvicorn's logger where `GatewayUvicornConfig` serves."""

    def __init__(self, every_s: float = 60.0) -> None:
        self.every_s = every_s
        self.total = 0  # since the process started
        self._unlogged = 0
        self._logged_at = -math.inf

    def note(self, status: int, code: str, client: tuple[str, int] | None) -> None:
        self.total += 1
        self._unlogged += 1
        now = time.monotonic()
        if now - self._logged_at < self.every_s:
            return
        who = f"{client[0]}:{client[1]}" if client else "a client"
        if self.total == 1:
            _log.warning("refused a request at the connection: %d %s, from %s (further refusals: at most one "
                         "line every %g s)", status, code, who, self.every_s)
        else:
            _log.warning("refused %d request(s) at the connection since the last such line; the last: %d %s, "
                         "from %s", self._unlogged, status, code, who)
        self._unlogged, self._logged_at = 0, now


REFUSALS = RefusalLog()
_log = logging.getLogger("gateway.serving")


def _quiet_parse_errors(record: logging.LogRecord) -> bool:
    return record.msg != "Invalid HTTP request received."


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """The limits above on uvicorn's protocol. The parser's callbacks only note where the request is (in its
    head, in its body); once a read is parsed, `data_received` sets the one timer that state needs. Most
    requests arrive whole in one read and need none, so they cost no timer and no extra call (issue 19)."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.limits: ConnectionLimits = getattr(config, "limits", None) or ConnectionLimits()
        self._known_headers: KnownHeaders = getattr(config, "known_headers", None) or KnownHeaders()
        self._max_head_bytes = self.limits.max_header_bytes
        self.timeout_keep_alive = self.limits.keepalive_timeout_s  # type: ignore[assignment]
        self._timer: asyncio.TimerHandle | None = None
        self._timed = _NO_TIMER  # what `_timer` bounds
        self._timed_cycle: Any = None  # and in which request (uvicorn's cycle: a new one for each request)
        self._in_head = False  # a request line has begun, its headers are not complete
        self._in_body = False  # the headers are complete, the body is not
        self._read_size = 0  # the bytes of the read being parsed
        self._head_read = 0  # the bytes of the earlier reads that ended with the head unfinished
        self._refusal: _Refused | None = None
        self._lingering = False
        self._lost = False
        self._shutting_down = False  # the server is shutting down: this connection closes after its request
        self._watcher: Watcher | None = None  # the request waiting on its upstream, told if the client leaves
        # every request's scope["extensions"]: this connection, for watch.WatchClient
        self._extensions: dict[str, dict[object, object]] = {CONNECTION: {"connection": self}}

    # -- timers -------------------------------------------------------------------------------------

    def _after_read(self) -> None:
        """Set the timer for where the request stands now: its head must arrive within `header_timeout_s` (of
        the connection, for the first; of its first byte, for later ones), its body within `body_timeout_s` of
        its headers; a connection between requests is uvicorn's keep-alive timer's."""
        if self._lingering:
            return
        cycle = self.cycle
        if self._in_head:
            self._head_read += self._read_size
            if self._head_read > self._max_head_bytes:
                refusal = self._head_too_large()
                self._refuse_now(refusal.status, refusal.code, refusal.message)
                return
            timed = _HEAD
        elif self._in_body:
            timed = _BODY
        elif cycle is None:
            timed = _HEAD  # a new connection that has sent nothing but blank lines
        else:
            timed = _NO_TIMER
        if timed == self._timed and (timed == _NO_TIMER or cycle is self._timed_cycle):
            return  # the timer running is this request's
        if self._timer is not None:
            self._timer.cancel()
        self._arm(timed)

    def _arm(self, timed: int) -> None:
        self._timed, self._timed_cycle = timed, self.cycle
        if timed == _HEAD:
            self._timer = self.loop.call_later(self.limits.header_timeout_s, self._head_expired)
        elif timed == _BODY:
            self._timer = self.loop.call_later(self.limits.body_timeout_s, self._body_expired)
        else:
            self._timer = None

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timed = _NO_TIMER

    def _head_expired(self) -> None:
        self._timer, self._timed = None, _NO_TIMER
        if self.transport.is_closing():
            return
        if not self._in_head:  # connected and never said anything: nothing to answer
            self.transport.close()
            return
        self._refuse_now(408, "request_timeout", "The request's headers did not arrive in time "
                         f"([server] header_timeout_s = {self.limits.header_timeout_s:g}).")

    def _body_expired(self) -> None:
        self._timer, self._timed = None, _NO_TIMER
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
        REFUSALS.note(status, code, self.client)
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
        self._arm(_HEAD)

    def data_received(self, data: bytes) -> None:
        """uvicorn's (its keep-alive timer stopped, the parser fed, a parse error answered), in line rather than
        called (issue 19), with the refused connection's input dropped and the timer its request needs set."""
        if self._lingering:  # refused: the answer is sent, what the client still sends is dropped
            return
        self._read_size = len(data)
        if self.timeout_keep_alive_task is not None:  # (uvicorn's `_unset_keepalive_if_required`)
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)  # (filtered out: `_quiet_parse_errors`; REFUSALS says it)
            self.send_400_response(msg)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        finally:
            if self._in_head or self._in_body or self._timed:  # else: between requests, no timer: nothing to do
                self._after_read()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
        self._lost = True
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.client_left()

    def shutdown(self) -> None:
        """The server shuts down (SIGTERM, after `[server] drain_delay_s`). uvicorn lets a running request finish
        and closes every other connection at once. But a connection with no request running may have one on its
        way: accepted moments ago, its request not read yet; unread in the socket; or with its head half read.
        Closed then, the connection is reset with the request in it: a load balancer does not resend a POST it
        has sent (nginx answers 502), so a call nobody saw fails. Such a request is served instead, and the
        connection closes after it. One accepted just now, or with bytes unread, that has not begun a request
        within `FIRST_REQUEST_AT_SHUTDOWN_S` is closed then; one idle between requests, at once."""
        self._shutting_down = True
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.keep_alive = False  # uvicorn's: the request finishes, then the connection closes
        elif self._lingering or self._in_head or self.transport.is_closing():
            pass  # a refusal being sent closes by itself (`_refuse_now`); a head half read has its timer
        elif cycle is None or _unread(self.transport):
            self._disarm()
            self._timed, self._timed_cycle = _HEAD, cycle
            wait = min(FIRST_REQUEST_AT_SHUTDOWN_S, self.limits.header_timeout_s)
            self._timer = self.loop.call_later(wait, self._head_expired)
        else:
            self.transport.close()

    # -- the client watch (watch.WatchClient) -------------------------------------------------------

    def watch(self, watcher: Watcher) -> None:
        """Tell `watcher` (`client_left()`) when this connection is lost, until `unwatch`; at once when it is
        lost already. One request runs on a connection at a time, so one watcher at a time."""
        if self._lost:
            watcher.client_left()
        else:
            self._watcher = watcher

    def unwatch(self, watcher: Watcher) -> None:
        if self._watcher is watcher:
            self._watcher = None

    def send_400_response(self, msg: str) -> None:
        refusal = self._refusal or _Refused(400, "invalid_http", f"{msg} It is not valid HTTP/1.1.")
        self._refuse_now(refusal.status, refusal.code, refusal.message)

    # -- parser callbacks ---------------------------------------------------------------------------

    # (uvicorn's callbacks with ours in line rather than a call of uvicorn's each: issue 19; tests/unit/
    # test_response_head.py sends the same bytes to uvicorn's server and to ours)

    def on_message_begin(self) -> None:
        self.url = b""
        self.expect_100_continue = False
        self.headers = []
        self.scope = {  # type: ignore[typeddict-item]
            "type": "http",
            "asgi": {"version": self.asgi_version, "spec_version": "2.3"},
            "http_version": "1.1",
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,  # type: ignore[typeddict-item]
            "root_path": self.root_path,
            "headers": self.headers,
            "state": self.app_state.copy(),
            "extensions": self._extensions,
        }
        self._in_head = True

    def on_headers_complete(self) -> None:
        """`max_header_bytes`, checked here for a head that ended in this read. The parser hands over a URL or a
        header only once it is whole, so `_after_read` counts the reads that end with the head unfinished (a
        head that never ends would otherwise grow until `header_timeout_s`: tens of megabytes a connection).
        Only a head that may be over the limit is measured: counting each header as it came was a measurable
        part of reading an SDK's 15-20 (issue 19)."""
        self._in_head, self._in_body = False, True
        if self._head_read + self._read_size > self._max_head_bytes and self._head_size() > self._max_head_bytes:
            raise self._head_too_large()
        self._head_read = 0
        if self._refusal is not None:  # over max_connections: answered once the request is known
            raise self._refusal
        # What follows is uvicorn's `on_headers_complete` (the scope's method and path, the request's cycle, its
        # task started or queued behind the one running), with the cycle a `GatewayCycle`, which writes the
        # response head for less than half uvicorn's cost (response_head.py). Kept in step with uvicorn's:
        # tests/unit/test_response_head.py compares the two on the same requests.
        parser = self.parser
        scope = self.scope
        http_version = parser.get_http_version()
        scope["method"] = parser.get_method().decode("ascii")
        if http_version != "1.1":
            scope["http_version"] = http_version
        if parser.should_upgrade() and self._should_upgrade():
            return
        parsed_url = httptools.parse_url(self.url)
        raw_path = parsed_url.path
        path = raw_path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        scope["path"] = self.root_path + path
        scope["raw_path"] = self.root_path.encode("ascii") + raw_path
        scope["query_string"] = parsed_url.query or b""
        app: Any = self.app
        if self.limit_concurrency is not None and (
            len(self.connections) >= self.limit_concurrency or len(self.tasks) >= self.limit_concurrency
        ):
            app = service_unavailable
            self.logger.warning("Exceeded concurrency limit.")
        existing = self.cycle
        cycle = self.cycle = GatewayCycle(
            scope=scope, transport=self.transport, flow=self.flow, logger=self.logger,
            access_logger=self.access_logger, access_log=self.access_log,
            default_headers=self.server_state.default_headers, message_event=asyncio.Event(),
            expect_100_continue=self.expect_100_continue,
            keep_alive=http_version != "1.0" and parser.should_keep_alive(), on_response=self.on_response_complete)
        cycle.known = self._known_headers
        if self._shutting_down:  # a request that came after shutdown began: the last on this connection
            cycle.keep_alive = False
        if existing is None or existing.response_complete:
            self._start_asgi_task(cycle, app)
        else:  # pipelined: queued behind the request running
            self.flow.pause_reading()
            self.pipeline.appendleft((cycle, app))

    def on_message_complete(self) -> None:
        self._in_body = False
        cycle = self.cycle
        if (self.parser.should_upgrade() and self._should_upgrade()) or cycle.response_complete:
            return
        cycle.more_body = False
        cycle.message_event.set()

    def _head_size(self) -> int:
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    def _head_too_large(self) -> _Refused:
        self._refusal = _Refused(431, "request_header_fields_too_large", "The request line and headers are "
                                 f"larger than the gateway's limit of {self.limits.max_header_bytes} bytes "
                                 "([server] max_header_bytes).")
        return self._refusal


def _unread(transport: asyncio.BaseTransport) -> bool:
    """Whether bytes wait unread in the connection's socket (FIONREAD; False where that cannot be asked)."""
    sock = transport.get_extra_info("socket")
    if sock is None or _FIONREAD is None:
        return False
    try:
        return int.from_bytes(fcntl.ioctl(sock.fileno(), _FIONREAD, bytes(4)), sys.byteorder) > 0
    except (OSError, ValueError):
        return False
