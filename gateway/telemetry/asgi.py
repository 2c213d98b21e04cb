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
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from types import MappingProxyType
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
_NOTHING: Mapping[str, Any] = MappingProxyType({})


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
        state = spans.context.begin(found.get(b"traceparent"), found.get(b"tracestate"), found.get(b"baggage"))
        scope.setdefault("state", {})["trace"] = state  # trace and span ids for the access log
        # content capture keeps the answer as it goes out; without it, `send` is passed on untouched
        capture = _Capture(send) if spans.capture_output and state.sampled else None
        token = spans.current.set(state)
        spans.active += 1
        failure: BaseException | None = None
        try:
            await self.app(scope, receive, send if capture is None else capture.send)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            spans.active -= 1
            spans.current.reset(token)
            answer = None if capture is None else (bytes(capture.output), capture.content_type)
            spans.link.submit(self._record(scope, state, started, found.get(b"user-agent"), failure, answer))

    def _record(
        self, scope: Scope, state: RequestState, started: float, agent: bytes | None, failure: BaseException | None,
        answer: tuple[bytes, str] | None,
    ) -> tuple[Any, ...]:
        """A `RequestRecord` as plain tuples (records.py), with its `TraceRecord` and `HttpRecord`: the status
        comes from EntryMiddleware, the exchange from the endpoint, both in the scope's state."""
        facts = scope.get("state") or _NOTHING
        exchange = facts.get("exchange")
        parent = state.parent
        method = scope["method"]
        server = scope.get("server") or (None, None)
        client = scope.get("client")
        return (
            started, time.monotonic(),
            (state.trace_id, state.span_id, 0 if parent is None else parent.span_id, parent is not None,
             state.sampled, state.trace_state),
            (method if method in KNOWN_METHODS else "_OTHER", getattr(scope.get("route"), "path", None),
             scope["path"], scope.get("scheme", "http"), server[0], server[1], client[0] if client else None,
             scope.get("http_version"), None if agent is None else agent.decode("latin-1"),
             facts.get("status") or (500 if failure else 0), None if failure is None else type(failure).__qualname__,
             str(failure)[:1000] if isinstance(failure, Exception) else None, facts.get("refused")),
            None if exchange is None else exchange_record(
                exchange, state.finished, state.link, state.sampled, self.spans.capture_output),
            answer,
        )


class _Capture:
    """The answer as it goes out, for content capture: its content type and up to OUTPUT_LIMIT bytes."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.output = bytearray()
        self.content_type = ""

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.content_type = _content_type(message.get("headers", ()))
        elif message["type"] == "http.response.body" and len(self.output) < OUTPUT_LIMIT:
            self.output.extend(message.get("body", b""))
        await self._send(message)


def _content_type(headers: Iterable[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name.lower() == b"content-type":
            return value.decode("latin-1").lower()
    return ""
