"""Request records -> the SDK's spans (telemetry process): one SERVER span per request, one CLIENT span per
upstream attempt, handed to the span processor (batched OTLP or the console line) as the SDK's own
`ReadableSpan`s, with the ids, times and sampling decision the serving process made while the request ran.

    SERVER  POST /v1/chat/completions     HTTP conventions; gen_ai.* of the call the client made, as answered;
     |                                    gateway.route/target/attempts/cache.result/key.name; failover and
     |                                    first-chunk events; a link to the call a coalesced request waited for
     +- CLIENT  chat gpt-4o-mini           attempt 1: error.type=429, status ERROR
     +- CLIENT  chat mock-gpt-4o-mini      attempt 2: gen_ai.* request parameters, response id/model, finish
                                          reasons, usage, time to first chunk (event too), server.address/port,
                                          gateway.attempt, gateway.failover.reason ...
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import AttributeValue

from gateway.errors import scrub
from gateway.telemetry import semconv as sc
from gateway.telemetry.content import ContentCapture, OutputCollector
from gateway.telemetry.records import AttemptRecord, ExchangeRecord, HttpRecord, RequestRecord, TraceRecord

Attributes = dict[str, AttributeValue]
ProviderName = Callable[[str, str], str]
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_UNSET = Status(StatusCode.UNSET)


class Clock:
    """`time.monotonic()` readings (shared by the two processes) as span timestamps, ns since the epoch."""

    def __init__(self) -> None:
        self.wall, self.monotonic = time.time_ns(), time.monotonic()

    def ns(self, monotonic: float) -> int:
        return self.wall - int((self.monotonic - monotonic) * 1e9)


class SpanMaker:
    def __init__(
        self,
        processor: SpanProcessor,
        resource: Resource,
        scope: InstrumentationScope,
        provider_name: ProviderName,
        content: ContentCapture | None,
        secrets: Sequence[str],
    ) -> None:
        self.processor, self.resource, self.scope = processor, resource, scope
        self.provider_name = provider_name
        self.content = content
        self.secrets = list(secrets)

    def request(self, record: RequestRecord) -> None:
        trace, http = record.trace, record.http
        if trace is None or http is None or not trace.sampled:
            return
        clock = Clock()
        state = TraceState.from_header([trace.trace_state]) if trace.trace_state else None
        server = SpanContext(trace.trace_id, trace.span_id, False, _SAMPLED, state)
        exchange = record.exchange
        inputs: Mapping[str, str] = {}
        outputs: Mapping[str, str] = {}
        if self.content is not None and exchange is not None:
            if exchange.content:
                inputs = self.content.input_attributes(exchange.operation, exchange.content)
            if record.output is not None:
                collector = OutputCollector(len(record.output[0]) + 1)
                collector.feed(record.output[0], record.output[1])
                outputs = self.content.output_attributes(collector.messages())
        if exchange is not None:
            previous: AttemptRecord | None = None
            for attempt in exchange.attempts:
                last = attempt is exchange.attempts[-1]
                self.processor.on_end(self.client_span(
                    exchange, attempt, previous, server, clock, inputs, outputs if last else {}))
                previous = attempt
        self.processor.on_end(self.server_span(record, trace, http, server, clock, {**inputs, **outputs}))

    # -- CLIENT: one upstream attempt -------------------------------------------------------------------

    def client_span(
        self,
        exchange: ExchangeRecord,
        attempt: AttemptRecord,
        previous: AttemptRecord | None,
        parent: SpanContext,
        clock: Clock,
        inputs: Mapping[str, str],
        outputs: Mapping[str, str],
    ) -> ReadableSpan:
        provider_name = self.provider_name(attempt.provider, attempt.provider_type)
        a: Attributes = {
            sc.OPERATION: exchange.operation, sc.PROVIDER_NAME: provider_name, sc.REQUEST_MODEL: attempt.model,
            sc.ROUTE: attempt.route, sc.TARGET: attempt.target, sc.PROVIDER: attempt.provider,
            sc.ATTEMPT: attempt.number,
        }
        if attempt.server_address:
            a[sc.SERVER_ADDRESS], a[sc.SERVER_PORT] = attempt.server_address, attempt.server_port
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
        a.update(request_parameters(exchange.operation, exchange.parameters, provider_name))
        a.update(inputs)
        if attempt.status is not None:
            a[sc.HTTP_STATUS] = attempt.status
        if attempt.response_id:
            a[sc.RESPONSE_ID] = attempt.response_id
        if attempt.response_model:
            a[sc.RESPONSE_MODEL] = attempt.response_model
        if attempt.cost_usd is not None:
            a[sc.COST] = attempt.cost_usd
        error = (attempt.error or "_OTHER") if attempt.outcome != "ok" else None
        reasons = list(attempt.finish_reasons)
        if not reasons and error is not None and exchange.stream and attempt.first_chunk_at is not None:
            reasons = ["error"]  # a stream cut before its choice finished
        if reasons:
            a[sc.FINISH_REASONS] = reasons
        if attempt.input_tokens is not None:
            a[sc.INPUT_TOKENS] = attempt.input_tokens
        if attempt.output_tokens is not None:
            a[sc.OUTPUT_TOKENS] = attempt.output_tokens
        if attempt.cached_input_tokens:
            a[sc.CACHE_READ_TOKENS] = attempt.cached_input_tokens
        if attempt.cache_creation_input_tokens:
            a[sc.CACHE_CREATION_TOKENS] = attempt.cache_creation_input_tokens
        if attempt.reasoning_output_tokens:
            a[sc.REASONING_TOKENS] = attempt.reasoning_output_tokens
        events: list[Event] = []
        if attempt.first_chunk_at is not None:
            ttfc = attempt.first_chunk_at - attempt.started
            a[sc.TIME_TO_FIRST_CHUNK] = ttfc
            events.append(Event(sc.FIRST_CHUNK_EVENT, {sc.TIME_TO_FIRST_CHUNK: ttfc},
                                clock.ns(attempt.first_chunk_at)))
        a.update(outputs)
        status = _UNSET
        if error is not None:
            a[sc.ERROR_TYPE] = error
            status = Status(StatusCode.ERROR, describe(error))
        ended = attempt.ended if attempt.ended is not None else attempt.started
        return ReadableSpan(
            f"{exchange.operation} {attempt.model}",
            SpanContext(parent.trace_id, attempt.span_id, False, _SAMPLED, parent.trace_state), parent,
            self.resource, a, events, kind=SpanKind.CLIENT, status=status, start_time=clock.ns(attempt.started),
            end_time=clock.ns(ended), instrumentation_scope=self.scope,
        )

    # -- SERVER: the client's request -------------------------------------------------------------------

    def server_span(
        self,
        record: RequestRecord,
        trace: TraceRecord,
        http: HttpRecord,
        context: SpanContext,
        clock: Clock,
        content: Mapping[str, str],
    ) -> ReadableSpan:
        a: Attributes = {sc.HTTP_METHOD: http.method, sc.URL_PATH: http.path, sc.URL_SCHEME: http.scheme}
        if http.server_address:
            a[sc.SERVER_ADDRESS] = http.server_address
            if http.server_port is not None:
                a[sc.SERVER_PORT] = http.server_port
        if http.client_address:
            a[sc.CLIENT_ADDRESS] = http.client_address
        if http.protocol_version:
            a[sc.PROTOCOL_VERSION] = http.protocol_version
        if http.user_agent:
            a[sc.USER_AGENT] = http.user_agent
        if http.route:
            a[sc.HTTP_ROUTE] = http.route
        if http.status:
            a[sc.HTTP_STATUS] = http.status
        if http.refused:
            a[sc.REFUSED] = http.refused
        exchange = record.exchange
        events: list[Event] = []
        links: list[Link] = []
        if exchange is not None:
            a.update(self.exchange_attributes(exchange, record.started))
            events = self.exchange_events(exchange, record.started, clock)
            if exchange.link is not None:
                a[sc.COALESCED] = True
                links.append(Link(SpanContext(exchange.link[0], exchange.link[1], False, _SAMPLED),
                                  {sc.COALESCED: True}))
        a.update(content)
        error = http.failure
        if error is None and http.status >= 500:
            error = str(http.status)
        elif error is None and exchange is not None and (http.status < 400 or http.status == 499):
            error = exchange.error  # a stream that broke, or a client that left (499: before the answer began)
        if http.failure is not None:
            events.append(Event("exception", {
                "exception.type": http.failure,
                "exception.message": scrub(http.failure_message or "", self.secrets),
            }, clock.ns(record.ended)))
        status = _UNSET
        if error:
            a[sc.ERROR_TYPE] = error
            status = Status(StatusCode.ERROR, error)
        parent = None
        if trace.parent_span_id:
            parent = SpanContext(trace.trace_id, trace.parent_span_id, trace.parent_remote, _SAMPLED,
                                 context.trace_state)
        return ReadableSpan(
            f"{http.method} {http.route}" if http.route else http.method, context, parent, self.resource, a,
            events, links, SpanKind.SERVER, status=status, start_time=clock.ns(record.started),
            end_time=clock.ns(record.ended), instrumentation_scope=self.scope,
        )

    def exchange_attributes(self, exchange: ExchangeRecord, arrived: float) -> Attributes:
        """What the SERVER span says about the client's request (OTEL.md §1.3): the gateway's facts, and the
        model asked for. No `gen_ai.operation.name`, no `gen_ai.usage.*`, no response facts: those are the
        CLIENT spans', one per LLM call, and a tracing backend that saw them here too (Phoenix does) would
        count each call twice. The request's token totals are `gateway.usage.*`."""
        a: Attributes = {sc.ATTEMPTS: len(exchange.attempts), sc.REQUEST_ID: exchange.request_id}
        if exchange.route:
            a[sc.ROUTE] = a[sc.REQUEST_MODEL] = exchange.route
        if exchange.stream:
            a[sc.REQUEST_STREAM] = True
        if exchange.key_name:
            a[sc.KEY_NAME] = exchange.key_name
        if exchange.cache:
            a[sc.CACHE_RESULT] = exchange.cache
        if exchange.cost_usd is not None:
            a[sc.COST] = exchange.cost_usd
        if exchange.attempts:
            last = exchange.attempts[-1]
            a[sc.PROVIDER] = last.provider
            a[sc.TARGET] = last.target
            a[sc.FALLBACK_USED] = last.route != exchange.route
            if last.first_chunk_at is not None:
                a[sc.TIME_TO_FIRST_CHUNK] = last.first_chunk_at - arrived
        inputs = [t.input_tokens for t in exchange.attempts if t.input_tokens is not None]
        outputs = [t.output_tokens for t in exchange.attempts if t.output_tokens is not None]
        if inputs:
            a[sc.TOTAL_INPUT_TOKENS] = sum(inputs)
        if outputs:
            a[sc.TOTAL_OUTPUT_TOKENS] = sum(outputs)
        return a

    def exchange_events(self, exchange: ExchangeRecord, arrived: float, clock: Clock) -> list[Event]:
        """A `gateway.failover` event where an attempt replaced a failed one; `gateway.first_chunk` when the
        answer's first chunk arrived (time since the request did)."""
        events: list[Event] = []
        previous: AttemptRecord | None = None
        for attempt in exchange.attempts:
            if previous is not None and previous.outcome != "ok":
                events.append(Event(sc.FAILOVER_EVENT, {
                    sc.FROM_TARGET: previous.target, sc.TO_TARGET: attempt.target,
                    sc.ERROR_TYPE: previous.error or "error",
                }, clock.ns(attempt.started)))
            if attempt.first_chunk_at is not None:
                events.append(Event(sc.FIRST_CHUNK_EVENT, {sc.TIME_TO_FIRST_CHUNK: attempt.first_chunk_at - arrived},
                                    clock.ns(attempt.first_chunk_at)))
            previous = attempt
        return events


def request_parameters(operation: str, body: Mapping[str, Any], provider_name: str) -> Attributes:
    """The GenAI request attributes for the parameters the client set (none invented)."""
    attributes: Attributes = {}
    for key, name, kind in sc.NUMERIC_PARAMETERS:
        value = body.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            if kind is int and isinstance(value, float) and not value.is_integer():
                continue
            attributes[name] = kind(value)
    stop = body.get("stop")
    if isinstance(stop, str):
        attributes[sc.STOP_SEQUENCES] = [stop]
    elif isinstance(stop, list) and stop and all(isinstance(s, str) for s in stop):
        attributes[sc.STOP_SEQUENCES] = list(stop)
    n = body.get("n")
    if isinstance(n, int) and not isinstance(n, bool) and n != 1:
        attributes[sc.CHOICE_COUNT] = n
    response_format = body.get("response_format")
    kind_of = response_format.get("type") if isinstance(response_format, dict) else None
    if kind_of in ("json_object", "json_schema"):
        attributes[sc.OUTPUT_TYPE] = "json"
    elif kind_of == "text":
        attributes[sc.OUTPUT_TYPE] = "text"
    if operation == "embeddings":
        if isinstance(body.get("encoding_format"), str):
            attributes[sc.ENCODING_FORMATS] = [body["encoding_format"]]
        dimensions = body.get("dimensions")
        if isinstance(dimensions, int) and not isinstance(dimensions, bool):
            attributes[sc.DIMENSION_COUNT] = dimensions
    if provider_name == "openai" and operation == "chat":
        attributes[sc.OPENAI_API_TYPE] = "chat_completions"
        tier = body.get("service_tier")
        if isinstance(tier, str) and tier != "auto":
            attributes[sc.OPENAI_REQUEST_SERVICE_TIER] = tier
    return attributes


def describe(error: str) -> str:
    """A span status description for an `error.type` value; never a message that could carry a secret."""
    if error.isdigit():
        return f"upstream answered HTTP {error}"
    return error.replace("_", " ")
