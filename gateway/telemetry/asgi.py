"""The SERVER span's middleware: pure ASGI, one `RequestRecord` per request, sent after its last byte.

At the start it continues the client's trace (W3C `traceparent`/`tracestate`, and `baggage` for the
upstream) and leaves a `RequestState` in a context variable for the observer; at the end it hands the
request's record to the telemetry process, which builds the SERVER span (HTTP semantic conventions plus
the GenAI and gateway attributes of the `Exchange` the endpoint left at `scope["state"]["exchange"]`) and
the CLIENT spans of its attempts. For a stream the end is after its last byte. Health checks and
`/metrics` are not traced.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.telemetry.context import RequestState, TraceContext
from gateway.telemetry.link import TelemetryLink
from gateway.telemetry.observer import TelemetryObserver

UNTRACED = frozenset({"/metrics", "/healthz", "/readyz"})
KNOWN_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE"})
OUTPUT_LIMIT = 1 << 20  # bytes of an answer kept for content capture


class ServerSpans:
    """What the middleware needs; built by `setup.py`."""

    def __init__(
        self,
        context: TraceContext,
        observer: TelemetryObserver,
        link: TelemetryLink,
        current: ContextVar[RequestState | None],
        capture_output: bool,
    ) -> None:
        self.context, self.observer, self.link = context, observer, link
        self.current, self.capture_output = current, capture_output
        self.active = 0  # requests between their first and their last byte (Telemetry.force_flush waits)


class ServerSpanMiddleware:
    def __init__(self, app: ASGIApp, spans: ServerSpans) -> None:
        self.app = app
        self.spans = spans

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNTRACED:
            await self.app(scope, receive, send)
            return
        spans = self.spans
        started = time.monotonic()
        traceparent = tracestate = baggage = user_agent = None
        for name, value in scope["headers"]:
            if name == b"traceparent":
                traceparent = value.decode("latin-1")
            elif name == b"tracestate":
                tracestate = value.decode("latin-1")
            elif name == b"baggage":
                baggage = value.decode("latin-1")
            elif name == b"user-agent":
                user_agent = value.decode("latin-1")
        state = spans.context.begin(traceparent, tracestate, baggage)
        output = bytearray() if spans.capture_output and state.sampled else None
        content_type = ""

        async def send_and_keep(message: Message) -> None:  # content capture only: the answer as it goes out
            nonlocal content_type
            if message["type"] == "http.response.start":
                content_type = _content_type(message.get("headers", ()))
            elif output is not None and message["type"] == "http.response.body" and len(output) < OUTPUT_LIMIT:
                output.extend(message.get("body", b""))
            await send(message)

        token = spans.current.set(state)
        failure: BaseException | None = None
        spans.active += 1
        try:
            await self.app(scope, receive, send if output is None else send_and_keep)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            spans.active -= 1
            spans.current.reset(token)
            facts = scope.get("state", {})  # the status (RequestIdMiddleware), the exchange (the endpoint)
            status = facts.get("status") or (500 if failure else 0)
            http = _http_record(scope, user_agent, status, failure)
            exchange = facts.get("exchange")
            spans.link.submit((  # a RequestRecord, as a plain tuple (records.py)
                started, time.monotonic(), _trace_record(state), http,
                None if exchange is None else spans.observer.exchange_record(exchange, state),
                None if output is None else (bytes(output), content_type),
            ))


def _trace_record(state: RequestState) -> tuple[Any, ...]:
    """A `TraceRecord`, as a plain tuple."""
    parent = state.parent
    return (state.trace_id, state.span_id, 0 if parent is None else parent.span_id, parent is not None,
            state.sampled, state.trace_state)


def _http_record(scope: Scope, user_agent: str | None, status: int, failure: BaseException | None) -> tuple[Any, ...]:
    """An `HttpRecord`, as a plain tuple."""
    method = scope["method"] if scope["method"] in KNOWN_METHODS else "_OTHER"
    server = scope.get("server") or (None, None)
    client = scope.get("client")
    return (
        method, getattr(scope.get("route"), "path", None), scope["path"], scope.get("scheme", "http"),
        server[0], server[1], client[0] if client else None, scope.get("http_version"), user_agent, status,
        None if failure is None else type(failure).__qualname__,
        str(failure)[:1000] if isinstance(failure, Exception) else None,
    )


def _content_type(headers: Iterable[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name.lower() == b"content-type":
            return value.decode("latin-1").lower()
    return ""
