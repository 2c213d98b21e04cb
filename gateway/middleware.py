"""Pure ASGI middleware (no BaseHTTPMiddleware: it breaks contextvars, where OpenTelemetry keeps context):
the way in (request ids, gateway keys, the access log)."""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, cast

from starlette.applications import Starlette
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import AuthenticationError
from gateway.events import Observer

if TYPE_CHECKING:
    from gateway.access.gate import Access
    from gateway.config import GatewayConfig

_access_log = logging.getLogger("gateway.access")
_SAFE_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")
_READ = frozenset((b"x-request-id", b"authorization", b"x-api-key"))  # the request headers read here
_CREDENTIALS = (b"authorization", b"x-api-key")


Reshape = Callable[[int, dict[str, Any]], dict[str, Any]]  # (status, OpenAI error body) -> another API's


class Answer(Protocol):
    """What a proxy path's handler returns: a Starlette `Response` or an `EventStreamResponse`."""

    status_code: int
    raw_headers: list[tuple[bytes, bytes]]

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]: ...


class Lane(NamedTuple):
    """A proxy path (`POST /v1/chat/completions`, ...) that EntryMiddleware calls straight: its `Route` (for
    `scope["route"]`, which telemetry reads for `http.route`) and its handler."""

    route: BaseRoute
    handler: Callable[[Request], Awaitable[Answer]]


ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]


class Current(Protocol):
    """What the middleware reads of the running config (`endpoints.Gateway`; a reload swaps it)."""

    access: Access
    config: GatewayConfig


class EntryMiddleware:
    """Every request's way in, in one pass over its headers:

    - an id: the client's `x-request-id` when it is sane, else a new one; echoed back on the answer;
    - with gateway keys configured, a `/v1/...` request needs a known key (`Authorization: Bearer` or
      `x-api-key`): the caller goes to `scope["state"]["caller"]` for the endpoint (allow-list, limits, the
      key's name on telemetry), and any other request gets 401 `invalid_api_key`, in OpenAI's shape or in the
      shape `reshape` gives for its path (Anthropic's on `/v1/messages`). Not `/healthz`, `/readyz`,
      `/metrics`; `/admin/...` has a key of its own;
    - the response's status at `scope["state"]["status"]` for the layers outside (telemetry);
    - with `[server] access_log = true`, the access log line once the request is over (`access_fields`);
    - while the gateway drains (SIGTERM came, `drain.draining`), `connection: close` on every answer: no
      kept-alive connection is left idle for the stop to close under a load balancer just sending on it (nginx
      does not retry a POST it has sent: the caller would get a 502);
    - the headers the proxy paths' handler reads (`lane_headers`), found in the same pass: the first value of
      each, decoded, at `scope["state"]["proxy_headers"]` (a second pass over an SDK's 16 headers cost about 6K
      instructions: issue 19).

    (One middleware rather than three: each pure-ASGI layer costs every request a few microseconds.)

    The proxy paths (`lanes`, POST only) go from here straight to their handler, as Starlette's router would
    call it, with the app's `errors` handlers for what it raises (its ExceptionMiddleware's, found the same
    way), and the request id put on the response itself. Everything else, and those paths with another method,
    goes on through Starlette's ExceptionMiddleware and router. On a chat call that skipped a regular
    expression per route tried, three `send` wrappers (one per layer) and two coroutine layers: about 4% of a
    request's instructions (issue 19, bench/README.md)."""

    def __init__(self, app: ASGIApp, current: Callable[[], Current], observer: Observer,
                 reshape: Mapping[str, Reshape] | None = None, lanes: Mapping[str, Lane] | None = None,
                 errors: Mapping[type[Exception], ErrorHandler] | None = None, *, drain: Draining,
                 lane_headers: frozenset[bytes] = frozenset()) -> None:
        self.app = app
        self.read = _READ | lane_headers
        self.drain = drain
        self.current = current
        self.observer = observer
        self.reshape = dict(reshape or {})
        self.lanes = dict(lanes or {})
        self.errors = {kind: handler for kind, handler in (errors or {}).items() if kind is not Exception}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        request_id = b""
        credentials: list[tuple[bytes, bytes]] = []
        found: dict[str, str] = {}
        read = self.read
        for name, value in scope["headers"]:
            if name in read:  # (one lookup a header rather than several comparisons: an SDK sends 15-20)
                if name == b"x-request-id":
                    request_id = value if _SAFE_ID.match(value) else b""
                elif name in _CREDENTIALS:
                    credentials.append((name, value))
                else:
                    key = name.decode("latin-1")
                    if key not in found:  # (the first, as Starlette's `Headers.get` gives it)
                        found[key] = value.decode("latin-1")
        state["proxy_headers"] = found
        if not request_id:
            # Unique, not secret: getrandbits avoids uuid4's os.urandom syscall on every request.
            request_id = b"%032x" % random.getrandbits(128)
        state["request_id"] = request_id.decode()
        current = self.current()
        app: ASGIApp = self.app
        lane = self.lanes.get(scope["path"]) if scope["method"] == "POST" else None
        if not current.access.open and scope["path"].startswith("/v1/"):
            caller = current.access.authenticate(credentials)
            if caller is None:
                app, lane = self._refuse, None
            else:
                state["caller"] = caller
        started = time.monotonic() if current.config.server.access_log else None
        try:
            if lane is None:
                await app(scope, receive, _with_id(send, request_id, state, self.drain))
                return
            # A proxy path's handler, called here as Starlette's router calls a route (`scope["route"]`, no path
            # parameters; in line, not in a coroutine of its own: issue 19). What it raises goes to the app's
            # handler for that exception, as ExceptionMiddleware would send it, and anything without one on to
            # the 500 (ServerErrorMiddleware's, or GatewayApp's).
            scope["route"], scope["path_params"] = lane.route, {}
            request = Request(scope, receive, send)
            try:
                answer = await lane.handler(request)
            except Exception as exc:
                handler = next((self.errors[k] for k in type(exc).__mro__ if k in self.errors), None)
                if handler is None:
                    raise
                answer = await handler(request, exc)
            answer.raw_headers.append((b"x-request-id", request_id))
            if self.drain.draining:
                answer.raw_headers.append(_CLOSE)
            state["status"] = answer.status_code
            await answer(scope, receive, send)
        finally:
            if started is not None:
                fields = access_fields(scope, time.monotonic() - started)
                _access_log.info("%s", access_line(fields), extra={"fields": fields})

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["state"]["refused"] = "invalid_api_key"
        self.observer.request_refused("invalid_api_key", None, None)
        error = AuthenticationError(
            "Missing or unknown gateway key. Send the key this gateway's operator gave you as "
            "`Authorization: Bearer <key>` or `x-api-key: <key>`.")
        body = error.to_body()
        if (reshape := self.reshape.get(scope["path"])) is not None:
            body = reshape(error.status, body)
        await JSONResponse(body, error.status, {"www-authenticate": "Bearer"})(scope, receive, send)


class GatewayApp(Starlette):
    """Starlette, handing a proxy path's request (`POST` to a lane) straight to `EntryMiddleware` when nothing
    sits between it and Starlette's `ServerErrorMiddleware` (no CORS, no tracing middleware: the defaults).
    `ServerErrorMiddleware` wraps `send` in a coroutine of its own for every message and adds a layer to every
    resumption of the request's task: 12.5K instructions a chat request, 1.6% (issue 19, bench/README.md).

    What it does for those requests is done here, with its handler (the app's for `Exception`): an exception
    nothing handled becomes that 500, in OpenAI's shape, unless the answer had begun (its status noted), and is
    raised on for the server to log. (One that an answer raises before its first message is sent also finds
    the answer begun: the server's own 500 goes out instead.) Every other request takes Starlette's way."""

    _front: EntryMiddleware | None = None  # the EntryMiddleware to call straight, once the stack is built
    _errors: ServerErrorMiddleware | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.middleware_stack is None:
            stack = self.middleware_stack = self.build_middleware_stack()
            if isinstance(stack, ServerErrorMiddleware) and isinstance(stack.app, EntryMiddleware):
                self._errors, self._front = stack, stack.app
        front = self._front
        if front is None or scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in front.lanes:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        try:
            await front(scope, receive, send)
        except Exception as exc:
            if "status" not in scope.get("state", {}) and self._errors is not None:  # the answer had not begun
                request = Request(scope)
                handler = cast(ErrorHandler | None, self._errors.handler)  # (the app's: async, app.py `unexpected`)
                response = await handler(request, exc) if handler is not None else self._errors.error_response(
                    request, exc)
                await response(scope, receive, send)
            raise


class Draining(Protocol):
    draining: bool


_CLOSE = (b"connection", b"close")


def _with_id(send: Send, request_id: bytes, state: dict[str, Any], drain: Draining) -> Send:
    """`send`, with the request id added to the response's headers (and `connection: close` while draining)
    and its status noted in `state`."""

    async def send_with_id(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [*message.get("headers", ()), (b"x-request-id", request_id)]
            if drain.draining:
                headers.append(_CLOSE)
            message["headers"] = headers
            state["status"] = message["status"]
        await send(message)

    return send_with_id


def access_fields(scope: Scope, seconds: float) -> dict[str, Any]:
    """What the access log says of one request (`[server] access_log = true`), read from what the endpoint
    and the middleware left in the request's state: the gateway key's name, never the key."""
    state = scope.get("state") or {}
    client = scope.get("client")
    fields: dict[str, Any] = {
        "request_id": state.get("request_id"), "client": f"{client[0]}:{client[1]}" if client else None,
        "method": scope["method"], "path": scope["path"], "status": state.get("status", 0),
        "latency_ms": round(seconds * 1000, 1),
    }
    trace = state.get("trace")  # the telemetry middleware's RequestState, with tracing on
    if trace is not None:
        fields["trace_id"], fields["span_id"] = f"{trace.trace_id:032x}", f"{trace.span_id:016x}"
    if (caller := state.get("caller")) is not None:
        fields["key"] = caller.name
    if refused := state.get("refused"):
        fields["refused"] = refused
    exchange = state.get("exchange")
    if exchange is not None:
        if exchange.route:
            fields["route"] = exchange.route
        if (answered := exchange.answered_by) is not None:
            fields["target"] = answered.target
            if answered.first_chunk_at is not None:
                fields["ttft_ms"] = round((answered.first_chunk_at - exchange.started) * 1000, 1)
        if exchange.usage is not None and (exchange.usage.input_tokens or exchange.usage.output_tokens):
            fields["input_tokens"], fields["output_tokens"] = exchange.usage.input_tokens, exchange.usage.output_tokens
        if exchange.cost_usd is not None:
            fields["cost_usd"] = round(exchange.cost_usd, 9)
        if exchange.cache:
            fields["cache"] = exchange.cache
        fields["attempts"] = len(exchange.attempts)
        if exchange.error:
            fields["error"] = exchange.error
    return fields


def access_line(fields: dict[str, Any]) -> str:
    """The access log's text line:

        127.0.0.1:50412 "POST /v1/chat/completions" 200 35ms key=team-a route=gpt-4o-mini
            target=openai-main/gpt-4o-mini ttft=21ms tokens=12/34 cost=$0.000022 cache=miss attempts=1 req=5f2c...

    (one line; wrapped here)."""
    parts = [fields["client"] or "-", f'"{fields["method"]} {fields["path"]}"', str(fields["status"]),
             f"{fields['latency_ms']:.0f}ms"]
    for name, label in (("key", "key"), ("refused", "refused"), ("route", "route"), ("target", "target")):
        if name in fields:
            parts.append(f"{label}={fields[name]}")
    if "ttft_ms" in fields:
        parts.append(f"ttft={fields['ttft_ms']:.0f}ms")
    if "output_tokens" in fields:
        parts.append(f"tokens={fields['input_tokens']}/{fields['output_tokens']}")
    if "cost_usd" in fields:
        parts.append(f"cost=${fields['cost_usd']:.6f}")
    for name in ("cache", "attempts", "error", "trace_id"):
        if name in fields:
            parts.append(f"{name}={fields[name]}")
    parts.append(f"req={fields['request_id'] or '-'}")
    return " ".join(parts)
