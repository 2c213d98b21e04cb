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
from gateway.telemetry.records import exchange_record

UNTRACED = frozenset({"/metrics", "/healthz", "/readyz"})
KNOWN_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE"})
OUTPUT_LIMIT = 1 << 20  # bytes of an answer kept for content capture
WANTED = frozenset({b"traceparent", b"tracestate", b"baggage", b"user-agent"})  # request headers read


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
        found: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in WANTED:
                found[name] = value
        traceparent, tracestate = found.get(b"traceparent"), found.get(b"tracestate")
        baggage, user_agent = found.get(b"baggage"), found.get(b"user-agent")
        state = spans.context.begin(
            None if traceparent is None else traceparent.decode("latin-1"),
            None if tracestate is None else tracestate.decode("latin-1"),
            None if baggage is None else baggage.decode("latin-1"),
        )
        output = bytearray() if spans.capture_output and state.sampled else None
        inner_send, content_type = send, ""
        if output is not None:  # content capture: keep the answer as it goes out

            async def send_and_keep(message: Message) -> None:
                nonlocal content_type
                if message["type"] == "http.response.start":
                    content_type = _content_type(message.get("headers", ()))
                elif message["type"] == "http.response.body" and len(output) < OUTPUT_LIMIT:
                    output.extend(message.get("body", b""))
                await send(message)

            inner_send = send_and_keep

        token = spans.current.set(state)
        failure: BaseException | None = None
        spans.active += 1
        try:
            await self.app(scope, receive, inner_send)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            spans.active -= 1
            spans.current.reset(token)
            facts = scope.get("state", {})  # the status (RequestIdMiddleware), the exchange (the endpoint)
            status = facts.get("status") or (500 if failure else 0)
            http = _http_record(scope, None if user_agent is None else user_agent.decode("latin-1"), status, failure)
            exchange = facts.get("exchange")
            spans.link.submit((  # a RequestRecord, as a plain tuple (records.py)
                started, time.monotonic(), _trace_record(state), http,
                None if exchange is None else exchange_record(
                    exchange, state.finished, state.link, state.sampled, spans.observer.capture_content),
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
