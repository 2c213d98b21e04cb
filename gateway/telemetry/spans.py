"""Spans: one SERVER span per request, one CLIENT span per upstream attempt, made with the SDK's tracer.

    SERVER  POST /v1/chat/completions     HTTP conventions; gateway.route/target/attempts/cache.result/key.name,
     |                                    gateway.usage.* (the request's totals); failover and first-chunk
     |                                    events; a link to the call a coalesced request waited for
     +- CLIENT  chat gpt-4o-mini           attempt 1: error.type=429, status ERROR
     +- CLIENT  chat mock-gpt-4o-mini      attempt 2: gen_ai.* request parameters, response id/model, finish
                                          reasons, usage, time to first chunk, server.address/port ...

The middleware starts the SERVER span when a request arrives and makes it current, so that anything else
instrumented in the process (an HTTP client, a logging bridge) sees it; when an ASGI instrumentation
already made a SERVER span for the request (`opentelemetry-instrument`), the gateway's attributes go on
that one instead and no second is made. An attempt's CLIENT span starts before its upstream call (its
context is in the call's `traceparent`). Attributes are set, and the spans ended, once the answer's last
byte went out: the facts are complete then, and a span is built in one go. The GenAI attributes (operation,
model, usage, content) are the CLIENT spans' only: a backend that counts LLM calls (Phoenix) counts each once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import scrub
from gateway.events import Attempt, Exchange
from gateway.telemetry import semconv as sc
from gateway.telemetry.content import ContentCapture, OutputCollector
from gateway.telemetry.context import CURRENT, RequestState, extract, upstream_context

Attributes = dict[str, AttributeValue]
ProviderName = Callable[[str, str], str]
UNTRACED = frozenset({"/metrics", "/healthz", "/readyz"})
KNOWN_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE"})
OUTPUT_LIMIT = 1 << 20  # bytes of an answer kept for content capture
_NOTHING: Mapping[str, Any] = {}


class Clock:
    """`time.monotonic()` readings (what the request path keeps) as span timestamps, ns since the epoch."""

    def __init__(self) -> None:
        self.offset = time.time_ns() - int(time.monotonic() * 1e9)

    def ns(self, monotonic: float) -> int:
        return self.offset + int(monotonic * 1e9)


class Tracing:
    """What the middleware and the observer share: the tracer, and how spans are filled in."""

    def __init__(self, tracer: Tracer, provider_name: ProviderName, content: ContentCapture | None,
                 secrets: list[str], forward_baggage: bool, follow_parent: bool = False) -> None:
        self.tracer = tracer
        self.provider_name = provider_name
        self.content = content
        self.secrets = secrets
        self.forward_baggage = forward_baggage
        # The sampler drops every span whose parent is not sampled (`follows_parent`): an attempt under an
        # unsampled SERVER span then gets no span at all (the SDK would make a non-recording one, ~50K
        # instructions) and the SERVER span's context goes upstream in its place.
        self.follow_parent = follow_parent
        self.clock = Clock()
        self.active = 0  # requests between their first and their last byte (Telemetry.force_flush waits)
        self._static: dict[tuple[Any, ...], Attributes] = {}  # CLIENT attributes per target, made once

    def begin(self, scope: Scope) -> RequestState:
        """The request's SERVER span: the one an outer ASGI instrumentation made, else a new one continuing
        the client's trace."""
        current = trace.get_current_span()
        span: Span
        if isinstance(current, ReadableSpan) and current.kind is SpanKind.SERVER and current.is_recording():
            span, context, own = current, otel_context.get_current(), False
        else:
            context = extract(scope["headers"])
            span = self.tracer.start_span(scope["method"], context, SpanKind.SERVER,
                                          start_time=self.clock.ns(time.monotonic()))
            own = True
        context = trace.set_span_in_context(span, context)
        found = span.get_span_context()
        return RequestState(span, context, upstream_context(context, self.forward_baggage), found.trace_id,
                            found.span_id, found.trace_flags.sampled, own)

    def attempt(self, state: RequestState, exchange: Exchange, attempt: Attempt) -> Span | None:
        """The attempt's CLIENT span, started; None when the sampler would not record it anyway."""
        if self.follow_parent and not state.sampled:
            return None
        span = self.tracer.start_span(f"{exchange.operation} {attempt.model}", state.context, SpanKind.CLIENT,
                                      start_time=self.clock.ns(attempt.started))
        state.attempts.append(span)
        return span

    def finish(self, scope: Scope, state: RequestState, failure: BaseException | None,
               answer: tuple[bytes, str] | None) -> None:
        """Fill in and end the request's spans (after its last byte)."""
        if not state.attempts and not state.span.is_recording():
            if state.own:
                state.span.end()  # a non-recording span: nothing to fill in
            return
        facts = scope.get("state") or _NOTHING
        exchange: Exchange | None = facts.get("exchange")
        now = self.clock.ns(time.monotonic())  # one clock for all of a trace's times
        inputs: Mapping[str, str] = {}
        outputs: Mapping[str, str] = {}
        if self.content is not None and exchange is not None and state.sampled:
            if exchange.body and exchange.operation in ("chat", "text_completion"):
                inputs = self.content.input_attributes(exchange.operation, exchange.body)
            if answer is not None:
                collector = OutputCollector(len(answer[0]) + 1)
                collector.feed(*answer)
                outputs = self.content.output_attributes(collector.messages())
        if exchange is not None:
            previous: Attempt | None = None
            for attempt, span in zip(exchange.attempts, state.attempts, strict=False):
                if span.is_recording():
                    last = attempt is exchange.attempts[-1]
                    self.client_span(span, exchange, attempt, previous, inputs, outputs if last else _NOTHING)
                    span.end(self.clock.ns(attempt.ended) if attempt.ended is not None else now)
                previous = attempt
        span = state.span
        if span.is_recording():
            self.server_span(span, scope, facts, exchange, state, failure)
        if state.own:
            span.end(now)

    # -- CLIENT: one upstream attempt -------------------------------------------------------------------

    def client_span(self, span: Span, exchange: Exchange, attempt: Attempt, previous: Attempt | None,
                    inputs: Mapping[str, str], outputs: Mapping[str, str]) -> None:
        a = dict(self.static_attributes(exchange.operation, attempt))
        provider_name = a[sc.PROVIDER_NAME]
        a[sc.ATTEMPT] = attempt.number
        if exchange.stream:
            a[sc.REQUEST_STREAM] = True
        if exchange.cache:
            a[sc.CACHE_RESULT] = exchange.cache
        if exchange.key_name:
            a[sc.KEY_NAME] = exchange.key_name
        if attempt.backoff_s > 0:
            a[sc.BACKOFF] = attempt.backoff_s
        if previous is not None and previous.outcome != "ok":
            a[sc.FAILOVER_REASON] = previous.error or "error"
        if exchange.body:
            request_parameters(a, exchange.operation, exchange.body, str(provider_name))
        a.update(inputs)
        if attempt.status is not None:
            a[sc.HTTP_STATUS] = attempt.status
        facts = attempt.facts
        if facts is not None:
            if facts.response_id:
                a[sc.RESPONSE_ID] = facts.response_id
            if facts.response_model:
                a[sc.RESPONSE_MODEL] = facts.response_model
            if facts.input_tokens is not None:
                a[sc.INPUT_TOKENS] = facts.input_tokens
            if facts.output_tokens is not None:
                a[sc.OUTPUT_TOKENS] = facts.output_tokens
            if facts.cached_input_tokens:
                a[sc.CACHE_READ_TOKENS] = facts.cached_input_tokens
            if facts.cache_creation_input_tokens:
                a[sc.CACHE_CREATION_TOKENS] = facts.cache_creation_input_tokens
            if facts.reasoning_output_tokens:
                a[sc.REASONING_TOKENS] = facts.reasoning_output_tokens
        if attempt.cost_usd is not None:
            a[sc.COST] = attempt.cost_usd
        error = (attempt.error or "_OTHER") if attempt.outcome != "ok" else None
        reasons = list(facts.finish_reasons) if facts is not None else []
        if not reasons and error is not None and exchange.stream and attempt.first_chunk_at is not None:
            reasons = ["error"]  # a stream cut before its choice finished
        if reasons:
            a[sc.FINISH_REASONS] = reasons
        if attempt.first_chunk_at is not None:
            ttfc = attempt.first_chunk_at - attempt.started
            a[sc.TIME_TO_FIRST_CHUNK] = ttfc
            span.add_event(sc.FIRST_CHUNK_EVENT, {sc.TIME_TO_FIRST_CHUNK: ttfc}, self.clock.ns(attempt.first_chunk_at))
        a.update(outputs)
        if error is not None:
            a[sc.ERROR_TYPE] = error
            span.set_status(Status(StatusCode.ERROR, describe(error)))
        span.set_attributes(a)

    def static_attributes(self, operation: str, attempt: Attempt) -> Attributes:
        """What every CLIENT span of one operation on one target carries (a shared dict: copy before adding)."""
        key = (operation, attempt.route, attempt.provider, attempt.provider_type, attempt.model,
               attempt.server_address, attempt.server_port)
        found = self._static.get(key)
        if found is None:
            found = {
                sc.OPERATION: operation, sc.PROVIDER_NAME: self.provider_name(attempt.provider, attempt.provider_type),
                sc.REQUEST_MODEL: attempt.model, sc.ROUTE: attempt.route, sc.TARGET: attempt.target,
                sc.PROVIDER: attempt.provider,
            }
            if attempt.server_address:
                found[sc.SERVER_ADDRESS], found[sc.SERVER_PORT] = attempt.server_address, attempt.server_port
            if len(self._static) >= 1024:  # bounded by the config's targets; a reload may add more
                self._static.clear()
            self._static[key] = found
        return found

    # -- SERVER: the client's request -------------------------------------------------------------------

    def server_span(self, span: Span, scope: Scope, facts: Mapping[str, Any], exchange: Exchange | None,
                    state: RequestState, failure: BaseException | None) -> None:
        method = scope["method"] if scope["method"] in KNOWN_METHODS else "_OTHER"
        route = getattr(scope.get("route"), "path", None)
        status = facts.get("status") or (500 if failure else 0)
        a: Attributes = {}
        if state.own:  # an outer instrumentation sets the HTTP attributes of its own span
            span.update_name(f"{method} {route}" if route else method)
            a = {sc.HTTP_METHOD: method, sc.URL_PATH: scope["path"], sc.URL_SCHEME: scope.get("scheme", "http")}
            server = scope.get("server")
            if server:
                a[sc.SERVER_ADDRESS] = server[0]
                if server[1] is not None:
                    a[sc.SERVER_PORT] = server[1]
            client = scope.get("client")
            if client:
                a[sc.CLIENT_ADDRESS] = client[0]
            if scope.get("http_version"):
                a[sc.PROTOCOL_VERSION] = scope["http_version"]
            agent = _header(scope["headers"], b"user-agent")
            if agent:
                a[sc.USER_AGENT] = agent
            if route:
                a[sc.HTTP_ROUTE] = route
            if status:
                a[sc.HTTP_STATUS] = status
        if facts.get("refused"):
            a[sc.REFUSED] = facts["refused"]
        if exchange is not None:
            self.exchange_attributes(a, span, exchange)
            if state.link is not None:
                a[sc.COALESCED] = True
                span.add_link(state.link, {sc.COALESCED: True})
        error = type(failure).__qualname__ if failure is not None else None
        if error is None and status >= 500:
            error = str(status)
        elif error is None and exchange is not None and (status < 400 or status == 499):
            error = exchange.error  # a stream that broke, or a client that left (499: before the answer began)
        if failure is not None:
            span.add_event("exception", {
                "exception.type": type(failure).__qualname__,
                "exception.message": scrub(str(failure)[:1000], self.secrets) if isinstance(failure, Exception)
                else "",
            })
        if error:
            a[sc.ERROR_TYPE] = error
            span.set_status(Status(StatusCode.ERROR, error))
        span.set_attributes(a)

    def exchange_attributes(self, a: Attributes, span: Span, exchange: Exchange) -> None:
        """What the SERVER span says about the client's request: the gateway's facts (the model asked for is
        `gateway.route`, the token totals `gateway.usage.*`). No `gen_ai.request.model`, usage or content: with
        them Phoenix takes the SERVER span for one more LLM call (and with usage, counts its tokens twice).
        Events: `gateway.failover` where an attempt replaced a failed one, `gateway.first_chunk`."""
        a[sc.ATTEMPTS] = len(exchange.attempts)
        a[sc.REQUEST_ID] = exchange.request_id
        if exchange.route:
            a[sc.ROUTE] = exchange.route
        if exchange.stream:
            a[sc.REQUEST_STREAM] = True
        if exchange.key_name:
            a[sc.KEY_NAME] = exchange.key_name
        if exchange.cache:
            a[sc.CACHE_RESULT] = exchange.cache
        if exchange.cost_usd is not None:
            a[sc.COST] = exchange.cost_usd
        inputs = outputs = 0
        counted = False
        previous: Attempt | None = None
        for attempt in exchange.attempts:
            facts = attempt.facts
            if facts is not None and (facts.input_tokens is not None or facts.output_tokens is not None):
                counted = True
                inputs += facts.input_tokens or 0
                outputs += facts.output_tokens or 0
            if previous is not None and previous.outcome != "ok":
                span.add_event(sc.FAILOVER_EVENT, {
                    sc.FROM_TARGET: previous.target, sc.TO_TARGET: attempt.target,
                    sc.ERROR_TYPE: previous.error or "error",
                }, self.clock.ns(attempt.started))
            if attempt.first_chunk_at is not None:
                since = attempt.first_chunk_at - exchange.started
                span.add_event(sc.FIRST_CHUNK_EVENT, {sc.TIME_TO_FIRST_CHUNK: since},
                               self.clock.ns(attempt.first_chunk_at))
            previous = attempt
        if counted:
            a[sc.TOTAL_INPUT_TOKENS], a[sc.TOTAL_OUTPUT_TOKENS] = inputs, outputs
        if exchange.attempts:
            last = exchange.attempts[-1]
            a[sc.PROVIDER] = last.provider
            a[sc.TARGET] = last.target
            a[sc.FALLBACK_USED] = last.route != exchange.route
            if last.first_chunk_at is not None:
                a[sc.TIME_TO_FIRST_CHUNK] = last.first_chunk_at - exchange.started


class ServerSpanMiddleware:
    """Pure ASGI: the request's SERVER span from its first byte to its last (health checks and /metrics are
    not traced). The endpoint leaves its `Exchange` at `scope["state"]["exchange"]`, EntryMiddleware the
    status at `scope["state"]["status"]`."""

    def __init__(self, app: ASGIApp, tracing: Tracing) -> None:
        self.app = app
        self.tracing = tracing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNTRACED:
            await self.app(scope, receive, send)
            return
        tracing = self.tracing
        state = tracing.begin(scope)
        scope.setdefault("state", {})["trace"] = state  # for the observer, the access log and the live page
        # Content capture keeps the answer as it goes out. An outer instrumentation's span ends with the
        # answer's last message, so the gateway's attributes go on it just before. Otherwise `send` is
        # passed on untouched.
        capture = _Capture(send, tracing, scope, state) if (
            tracing.content is not None and state.sampled) or not state.own else None
        token = otel_context.attach(state.context)
        current = CURRENT.set(state)
        tracing.active += 1
        failure: BaseException | None = None
        try:
            await self.app(scope, receive, send if capture is None else capture.send)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            tracing.active -= 1
            CURRENT.reset(current)
            otel_context.detach(token)
            if capture is None:
                tracing.finish(scope, state, failure, None)
            elif not capture.finished:
                capture.finish(failure)


_PARAMETER_KEYS = frozenset({key for key, _, _ in sc.NUMERIC_PARAMETERS} | {"stop", "n", "response_format"})


def request_parameters(a: Attributes, operation: str, body: Mapping[str, Any], provider_name: str) -> None:
    """The GenAI request attributes for the parameters the client set (none invented)."""
    if not _PARAMETER_KEYS.isdisjoint(body):  # most bodies set one or two of them, or none
        for key, name, kind in sc.NUMERIC_PARAMETERS:  # in order: max_completion_tokens wins over max_tokens
            if key not in body:
                continue
            value = body[key]
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if kind is int and isinstance(value, float) and not value.is_integer():
                    continue
                a[name] = kind(value)
        stop = body.get("stop")
        if isinstance(stop, str):
            a[sc.STOP_SEQUENCES] = [stop]
        elif isinstance(stop, list) and stop and all(isinstance(s, str) for s in stop):
            a[sc.STOP_SEQUENCES] = list(stop)
        n = body.get("n")
        if isinstance(n, int) and not isinstance(n, bool) and n != 1:
            a[sc.CHOICE_COUNT] = n
        response_format = body.get("response_format")
        kind_of = response_format.get("type") if isinstance(response_format, dict) else None
        if kind_of in ("json_object", "json_schema"):
            a[sc.OUTPUT_TYPE] = "json"
        elif kind_of == "text":
            a[sc.OUTPUT_TYPE] = "text"
    if operation == "embeddings":
        if isinstance(body.get("encoding_format"), str):
            a[sc.ENCODING_FORMATS] = [body["encoding_format"]]
        dimensions = body.get("dimensions")
        if isinstance(dimensions, int) and not isinstance(dimensions, bool):
            a[sc.DIMENSION_COUNT] = dimensions
    if provider_name == "openai" and operation == "chat":
        a[sc.OPENAI_API_TYPE] = "chat_completions"
        tier = body.get("service_tier")
        if isinstance(tier, str) and tier != "auto":
            a[sc.OPENAI_REQUEST_SERVICE_TIER] = tier


def describe(error: str) -> str:
    """A span status description for an `error.type` value; never a message that could carry a secret."""
    if error.isdigit():
        return f"upstream answered HTTP {error}"
    return error.replace("_", " ")


class _Capture:
    """The answer as it goes out: its content type and up to OUTPUT_LIMIT bytes (content capture), and the
    spans finished just before its last message (an outer instrumentation's span ends with it)."""

    def __init__(self, send: Send, tracing: Tracing, scope: Scope, state: RequestState) -> None:
        self._send = send
        self.tracing, self.scope, self.state = tracing, scope, state
        self.keep = tracing.content is not None and state.sampled
        self.output = bytearray()
        self.content_type = ""
        self.finished = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.content_type = (_header(message.get("headers", ()), b"content-type") or "").lower()
        elif message["type"] == "http.response.body":
            if self.keep and len(self.output) < OUTPUT_LIMIT:
                self.output.extend(message.get("body", b""))
            if not self.state.own and not message.get("more_body", False):
                self.finish(None)
        await self._send(message)

    def finish(self, failure: BaseException | None) -> None:
        self.finished = True
        self.tracing.finish(self.scope, self.state, failure,
                            (bytes(self.output), self.content_type) if self.keep else None)


def _header(headers: Iterable[tuple[bytes, bytes]], wanted: bytes) -> str | None:
    for name, value in headers:
        if name.lower() == wanted:
            return value.decode("latin-1")
    return None
