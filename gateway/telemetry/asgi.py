"""The SERVER span: pure ASGI middleware, one span per request, HTTP semantic conventions.

It continues the client's trace (W3C `traceparent`/`tracestate`, and `baggage` into the context), leaves
a `RequestState` for the observer in a context variable, and ends the span when the app returns, which
for a stream is after its last byte. The endpoint leaves the `Exchange` at `scope["state"]["exchange"]`;
the GenAI and gateway attributes come from it. Health checks and `/metrics` are not traced.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import ContextVar

from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, TextMapPropagator
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer, set_span_in_context
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.telemetry import semconv as sc
from gateway.telemetry.content import OutputCollector
from gateway.telemetry.observer import Attributes, RequestState, TelemetryObserver

UNTRACED = frozenset({"/metrics", "/healthz", "/readyz"})
KNOWN_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE"})
OUTPUT_LIMIT = 1 << 20  # bytes of an answer read for content capture


class _ScopeHeaders(Getter[Scope]):
    def get(self, carrier: Scope, key: str) -> list[str] | None:
        wanted = key.lower().encode("latin-1")
        values = [v.decode("latin-1") for k, v in carrier["headers"] if k == wanted]
        return values or None

    def keys(self, carrier: Scope) -> list[str]:
        return [k.decode("latin-1") for k, _ in carrier["headers"]]


_HEADERS = _ScopeHeaders()


class ServerSpans:
    """What the middleware needs; built by `setup.py`."""

    def __init__(
        self,
        tracer: Tracer,
        propagator: TextMapPropagator,
        observer: TelemetryObserver,
        current: ContextVar[RequestState | None],
        capture_output: bool,
    ) -> None:
        self.tracer, self.propagator, self.observer = tracer, propagator, observer
        self.current, self.capture_output = current, capture_output


class ServerSpanMiddleware:
    def __init__(self, app: ASGIApp, spans: ServerSpans) -> None:
        self.app = app
        self.spans = spans

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNTRACED:
            await self.app(scope, receive, send)
            return
        spans = self.spans
        parent = spans.propagator.extract(scope, Context(), _HEADERS)
        method = scope["method"] if scope["method"] in KNOWN_METHODS else "_OTHER"
        span = spans.tracer.start_span(method, parent, SpanKind.SERVER, _request_attributes(scope, method))
        state = RequestState(server_span=span, context=set_span_in_context(span, parent))
        if spans.capture_output and span.is_recording():
            state.output = OutputCollector(OUTPUT_LIMIT)
        output = state.output
        status = 0
        content_type = ""

        async def send_and_watch(message: Message) -> None:
            nonlocal status, content_type
            if message["type"] == "http.response.start":
                status = message["status"]
                if output is not None:
                    content_type = _content_type(message.get("headers", ()))
            elif output is not None and message["type"] == "http.response.body":
                output.feed(message.get("body", b""), content_type)
            await send(message)

        token = spans.current.set(state)
        failure: str | None = None
        try:
            await self.app(scope, receive, send_and_watch)
        except BaseException as exc:
            failure = type(exc).__qualname__
            if isinstance(exc, Exception) and span.is_recording():
                span.record_exception(exc)
            raise
        finally:
            spans.current.reset(token)
            self._finish(scope, state, method, status or (500 if failure else 0), failure)

    def _finish(self, scope: Scope, state: RequestState, method: str, status: int, failure: str | None) -> None:
        span = state.server_span
        assert span is not None
        try:
            exchange = scope.get("state", {}).get("exchange")
            self.spans.observer.finish_server_span(state, exchange)  # (also ends CLIENT spans it held back)
            if not span.is_recording():
                return  # not sampled: nothing below would be kept
            attributes: Attributes = {}
            route = getattr(scope.get("route"), "path", None)
            if route:
                span.update_name(f"{method} {route}")
                attributes[sc.HTTP_ROUTE] = route
            request_id = scope.get("state", {}).get("request_id")
            if request_id:
                attributes[sc.REQUEST_ID] = request_id
            if status:
                attributes[sc.HTTP_STATUS] = status
            error = failure
            if error is None and status >= 500:
                error = str(status)
            elif error is None and status < 400:  # a stream that broke, or whose client left, after its 200
                error = getattr(exchange, "error", None)
            if error:
                attributes[sc.ERROR_TYPE] = error
            span.set_attributes(attributes)
            if error:
                span.set_status(Status(StatusCode.ERROR, error))
        finally:
            span.end()


def _request_attributes(scope: Scope, method: str) -> Attributes:
    attributes: Attributes = {
        sc.HTTP_METHOD: method,
        sc.URL_PATH: scope["path"],
        sc.URL_SCHEME: scope.get("scheme", "http"),
    }
    server = scope.get("server")
    if server and server[0] is not None:
        attributes[sc.SERVER_ADDRESS] = server[0]
        if server[1] is not None:
            attributes[sc.SERVER_PORT] = server[1]
    client = scope.get("client")
    if client:
        attributes[sc.CLIENT_ADDRESS] = client[0]
    if scope.get("http_version"):
        attributes[sc.PROTOCOL_VERSION] = scope["http_version"]
    for name, value in scope["headers"]:
        if name == b"user-agent":
            attributes[sc.USER_AGENT] = value.decode("latin-1")
            break
    return attributes


def _content_type(headers: Iterable[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name.lower() == b"content-type":
            return value.decode("latin-1").lower()
    return ""
