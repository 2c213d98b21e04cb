"""The request path's `Observer`, turned into spans and metrics.

One CLIENT span per upstream attempt, a child of the request's SERVER span (made by `asgi.py`), named
`{gen_ai.operation.name} {gen_ai.request.model}`; its context goes upstream as `traceparent`. A stream's
attempt span stays open until the stream ends. Parents are passed explicitly: the server-span middleware
leaves a `RequestState` in a context variable, and the first hook that sees an `Exchange` keeps it in
`exchange.handle`; nothing relies on OpenTelemetry's "current span" between hooks.

Hooks run on the request path, so they only set attributes, record into the SDK's instruments and start
or end spans (export is batched on another thread), and they never raise: a failure is logged once and
dropped. What keeps them cheap:
- metric attribute sets are bounded (targets, routes, statuses, error kinds): each distinct one is built
  once and the same dict handed to the SDK every time (`AttemptSets`, `RequestSets`); the SDK copies what
  it keeps, and nothing here mutates a dict once it is remembered;
- a CLIENT span starts with the few attributes a sampler may look at; the rest (request parameters,
  content) are only built when `span.is_recording()`, so an unsampled request pays for none of it;
- with no metric reader (`instruments.enabled` False) or no tracer provider (`tracing` False), that side
  is skipped altogether.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, set_span_in_context
from opentelemetry.util.types import AttributeValue

from gateway.events import Attempt, Exchange, Observer
from gateway.telemetry import semconv as sc
from gateway.telemetry.content import ContentCapture, OutputCollector

log = logging.getLogger("gateway.telemetry")

Attributes = dict[str, AttributeValue]
AttributeSet = Mapping[str, AttributeValue]  # a remembered set: shared, never mutated
F = TypeVar("F", bound=Callable[..., Any])
V = TypeVar("V")
MEMO_LIMIT = 1024  # distinct sets remembered per memo; past that it starts over (costs memory, never data)


def remember(memo: dict[Hashable, V], key: Hashable, value: V) -> V:
    if len(memo) >= MEMO_LIMIT:
        memo.clear()
    memo[key] = value
    return value


class AttemptSets:
    """The attributes of one target as seen by one operation (route, provider, model, upstream address):
    the CLIENT span's name and fixed attributes, and every metric attribute set its attempts record with,
    each made on first use."""

    __slots__ = ("name", "start", "fixed", "active", "target", "provider_name", "_base", "_metric", "_outcome",
                 "_tokens", "_route", "_provider")

    def __init__(self, operation: str, attempt: Attempt, provider_name: str) -> None:
        target = attempt.target
        self.target, self.provider_name = target, provider_name
        self.name = f"{operation} {attempt.model}"
        # What a sampler may look at goes in at the span's start; the rest only onto a recording span.
        self.start: AttributeSet = {
            sc.OPERATION: operation, sc.PROVIDER_NAME: provider_name, sc.REQUEST_MODEL: attempt.model,
        }
        fixed: Attributes = {sc.ROUTE: attempt.route, sc.TARGET: target, sc.PROVIDER: attempt.provider}
        base: Attributes = {
            sc.OPERATION: operation, sc.PROVIDER_NAME: provider_name, sc.REQUEST_MODEL: attempt.model,
            sc.PROVIDER: attempt.provider,
        }
        if attempt.server_address:
            fixed[sc.SERVER_ADDRESS] = base[sc.SERVER_ADDRESS] = attempt.server_address
            fixed[sc.SERVER_PORT] = base[sc.SERVER_PORT] = attempt.server_port
        self.fixed: AttributeSet = fixed
        self.active: AttributeSet = {sc.TARGET: target, sc.PROVIDER: attempt.provider}
        self._route, self._provider = attempt.route, attempt.provider
        self._base: AttributeSet = base
        self._metric: dict[Hashable, AttributeSet] = {}
        self._outcome: dict[Hashable, AttributeSet] = {}
        self._tokens: dict[Hashable, AttributeSet] = {}

    def metric(self, response_model: str | None, name: str | None = None, value: AttributeValue = None) -> AttributeSet:
        """The GenAI client metrics' set: operation, provider, model, address, the response model when the
        upstream named one, and one more attribute (`name`=`value`: token type, modality, error type)."""
        key = (response_model or None, name, value)
        found = self._metric.get(key)
        if found is None:
            made = dict(self._base)
            if response_model:
                made[sc.RESPONSE_MODEL] = response_model
            if name is not None and value is not None:
                made[name] = value
            found = remember(self._metric, key, made)
        return found

    def outcome(self, outcome: str, error: str | None) -> AttributeSet:
        key = (outcome, error)
        found = self._outcome.get(key)
        if found is None:
            made: Attributes = {
                sc.ROUTE: self._route, sc.TARGET: self.target, sc.PROVIDER: self._provider,
                sc.ATTEMPT_OUTCOME: outcome,
            }
            if error is not None:
                made[sc.ERROR_TYPE] = error
            found = remember(self._outcome, key, made)
        return found

    def tokens(self, kind: str, key_name: str | None) -> AttributeSet:
        key = (kind, key_name)
        found = self._tokens.get(key)
        if found is None:
            made: Attributes = {sc.ROUTE: self._route, sc.PROVIDER: self._provider, sc.TOKEN_TYPE: kind}
            if key_name:
                made[sc.KEY_NAME] = key_name
            found = remember(self._tokens, key, made)
        return found


class RequestSets:
    """The metric attribute sets of a client request, by what it was (route, provider, cache, status...)."""

    __slots__ = ("common", "duration", "requests", "lookup")

    def __init__(self, exchange: Exchange, last: Attempt | None, provider_name: str | None) -> None:
        common: Attributes = {sc.OPERATION: exchange.operation}
        if exchange.route:
            common[sc.ROUTE] = exchange.route
            common[sc.REQUEST_MODEL] = exchange.route
        if last is not None and provider_name is not None:
            common[sc.PROVIDER_NAME] = provider_name
            common[sc.PROVIDER] = last.provider
        self.common: AttributeSet = common  # time to first token, time per output token
        duration = dict(common)
        self.lookup: AttributeSet | None = None
        if exchange.cache:
            duration[sc.CACHE_RESULT] = exchange.cache
            self.lookup = {sc.CACHE_RESULT: exchange.cache, sc.ROUTE: exchange.route}
        if exchange.error is not None:
            duration[sc.ERROR_TYPE] = exchange.error
        self.duration: AttributeSet = duration
        counted: Attributes = {sc.HTTP_STATUS: exchange.status, sc.OPERATION: exchange.operation}
        for name in (sc.ROUTE, sc.PROVIDER, sc.CACHE_RESULT, sc.ERROR_TYPE):
            if name in duration:
                counted[name] = duration[name]
        if exchange.key_name:
            counted[sc.KEY_NAME] = exchange.key_name
        self.requests: AttributeSet = counted


@dataclass(slots=True)
class RequestState:
    """Telemetry's per-request state: the SERVER span and what the CLIENT spans need from it."""

    server_span: Span | None = None
    context: Context = field(default_factory=Context)  # the parent of every CLIENT span
    output: OutputCollector | None = None  # the answer as sent, when content is captured
    deferred: list[tuple[Attempt, Span]] = field(default_factory=list)  # CLIENT spans awaiting the output
    parameters: Attributes | None = None  # request parameters, read once from the body
    inputs: dict[str, str] | None = None  # content attributes of the request, made once


def _never_raise(method: F) -> F:
    """Telemetry never breaks the data path: log the first failure of each hook, drop the rest."""
    failed = False

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal failed
        try:
            return method(*args, **kwargs)
        except Exception:
            if not failed:
                failed = True
                log.exception("telemetry hook %s failed; it keeps running, further failures are not logged",
                              method.__name__)
            return None

    return wrapper  # type: ignore[return-value]


def wall_ns(monotonic: float) -> int:
    """A `time.monotonic()` reading as a span timestamp (ns since the epoch)."""
    return time.time_ns() - int((time.monotonic() - monotonic) * 1e9)


class TelemetryObserver(Observer):
    def __init__(
        self,
        tracer: Tracer,
        meter: Meter,
        instruments: sc.Instruments,
        propagator: TextMapPropagator,
        current: ContextVar[RequestState | None],
        content: ContentCapture | None = None,
        provider_names: Mapping[str, str] | None = None,
        *,
        tracing: bool = True,
    ) -> None:
        self.tracer = tracer
        self.instruments = instruments
        self.metrics = instruments.enabled  # False: no reader; nothing is recorded, so nothing is built
        self.tracing = tracing  # False: no tracer provider (Prometheus only); no spans, no trace context
        self.propagator = propagator
        self.current = current
        self.content = content
        self.provider_names = dict(provider_names or {})
        self.cooling: dict[tuple[str, str], float] = {}  # (route, target) -> monotonic end of its cooldown
        self._attempt_sets: dict[Hashable, AttemptSets] = {}
        self._request_sets: dict[Hashable, RequestSets] = {}
        if self.metrics:
            meter.create_observable_gauge(
                sc.COOLING_DOWN, [self._observe_cooling], "{target}", "1 while a target is cooling down, else 0."
            )

    # -- hooks ------------------------------------------------------------------------------------------

    @_never_raise
    def attempt_started(self, exchange: Exchange, attempt: Attempt) -> dict[str, str] | None:
        state = self.state(exchange)
        sets = self.attempt_sets(exchange, attempt)
        previous = exchange.attempts[-2] if len(exchange.attempts) > 1 else None
        reason = (previous.error or "error") if previous is not None and previous.outcome != "ok" else None
        if reason is not None and previous is not None:
            if self.metrics:
                self.instruments.failovers.add(1, {
                    sc.ROUTE: exchange.route, sc.FROM_TARGET: previous.target, sc.TO_TARGET: sets.target,
                    sc.ERROR_TYPE: reason,
                })
            if state.server_span is not None and state.server_span.is_recording():
                state.server_span.add_event(sc.FAILOVER_EVENT, {
                    sc.FROM_TARGET: previous.target, sc.TO_TARGET: sets.target, sc.ERROR_TYPE: reason,
                })
        if self.metrics:
            self.instruments.active.add(1, sets.active)
        if not self.tracing:
            return None
        span = self.tracer.start_span(sets.name, state.context, SpanKind.CLIENT, sets.start)
        attempt.handle = span
        if span.is_recording():
            attributes: Attributes = dict(sets.fixed)
            attributes[sc.ATTEMPT] = attempt.number
            if exchange.stream:
                attributes[sc.REQUEST_STREAM] = True
            if exchange.cache:
                attributes[sc.CACHE_RESULT] = exchange.cache
            if exchange.key_name:
                attributes[sc.KEY_NAME] = exchange.key_name
            if attempt.backoff_s > 0:
                attributes[sc.BACKOFF] = attempt.backoff_s
            if reason is not None:
                attributes[sc.FAILOVER_REASON] = reason
            attributes.update(self.parameters(state, exchange, sets.provider_name))
            span.set_attributes(attributes)
            if self.content is not None and exchange.body is not None:
                if state.inputs is None:
                    state.inputs = self.content.input_attributes(exchange.operation, exchange.body)
                span.set_attributes(state.inputs)
        headers: dict[str, str] = {}
        self.propagator.inject(headers, set_span_in_context(span))
        return headers or None

    @_never_raise
    def first_chunk(self, exchange: Exchange, attempt: Attempt) -> None:
        if attempt.first_chunk_at is None:
            return
        ttfc = attempt.first_chunk_at - attempt.started
        span = attempt.handle
        if isinstance(span, Span) and span.is_recording():
            span.set_attribute(sc.TIME_TO_FIRST_CHUNK, ttfc)
            span.add_event(sc.FIRST_CHUNK_EVENT, {sc.TIME_TO_FIRST_CHUNK: ttfc})
        state = self.state(exchange)
        if state.server_span is not None and state.server_span.is_recording():
            since_arrival = attempt.first_chunk_at - exchange.started
            state.server_span.add_event(sc.FIRST_CHUNK_EVENT, {sc.TIME_TO_FIRST_CHUNK: since_arrival})

    @_never_raise
    def attempt_finished(self, exchange: Exchange, attempt: Attempt) -> None:
        ended = attempt.ended if attempt.ended is not None else time.monotonic()
        failed = attempt.outcome != "ok"
        error = (attempt.error or "_OTHER") if failed else None
        if self.metrics:
            sets = self.attempt_sets(exchange, attempt)
            facts = attempt.facts
            response_model = facts.response_model if facts is not None else None
            ins = self.instruments
            if exchange.stream and attempt.first_chunk_at is not None:
                ins.client_ttfc.record(attempt.first_chunk_at - attempt.started, sets.metric(response_model))
            self.record_tokens(exchange, attempt, sets, response_model)
            duration = ins.inference_duration if exchange.operation in sc.INFERENCE_OPERATIONS else ins.client_duration
            duration.record(ended - attempt.started, sets.metric(response_model, sc.ERROR_TYPE, error))
            ins.attempts.add(1, sets.outcome(attempt.outcome, error))
            ins.active.add(-1, sets.active)
        span = attempt.handle
        if isinstance(span, Span):
            self.end_attempt_span(exchange, attempt, span, error)

    @_never_raise
    def request_finished(self, exchange: Exchange) -> None:
        self.state(exchange)
        if not self.metrics:
            return
        now = time.monotonic()
        sets = self.request_sets(exchange)
        ins = self.instruments
        answered = exchange.answered_by
        if exchange.error is None and answered is not None and answered.first_chunk_at is not None:
            first = answered.first_chunk_at - exchange.started
            ins.server_ttft.record(first, sets.common)
            tokens = answered.facts.output_tokens if answered.facts is not None else None
            if tokens is not None and tokens > 1:
                ins.server_tpot.record((now - answered.first_chunk_at) / (tokens - 1), sets.common)
        if sets.lookup is not None:
            ins.cache_lookups.add(1, sets.lookup)
        ins.server_duration.record(now - exchange.started, sets.duration)
        ins.requests.add(1, sets.requests)

    @_never_raise
    def request_coalesced(self, exchange: Exchange, leader: Exchange) -> None:
        """A request that waits for an identical one's upstream call (single flight) has no CLIENT span of
        its own: its SERVER span links to the leader's attempt (or to the leader's SERVER span)."""
        span = self.state(exchange).server_span
        if span is None or not span.is_recording():
            return
        target = leader.attempts[-1].handle if leader.attempts else None
        if not isinstance(target, Span) and isinstance(leader.handle, RequestState):
            target = leader.handle.server_span  # (never bind the leader's state from this request's context)
        if isinstance(target, Span):
            span.add_link(target.get_span_context(), {sc.COALESCED: True})
        span.set_attribute(sc.COALESCED, True)

    @_never_raise
    def target_cooldown(self, route: str, target: str, seconds: float) -> None:
        if not self.metrics:
            return
        self.cooling[(route, target)] = time.monotonic() + seconds
        self.instruments.cooldowns.add(1, {sc.ROUTE: route, sc.TARGET: target})

    # -- helpers --------------------------------------------------------------------------------------

    def state(self, exchange: Exchange) -> RequestState:
        state = exchange.handle
        if not isinstance(state, RequestState):
            state = self.current.get() or RequestState()
            exchange.handle = state
        return state

    def provider_name(self, attempt: Attempt) -> str:
        """gen_ai.provider.name: the configured override, else the well-known value for the type."""
        return self.provider_names.get(attempt.provider) or sc.PROVIDER_NAMES.get(
            attempt.provider_type, attempt.provider_type
        )

    def attempt_sets(self, exchange: Exchange, attempt: Attempt) -> AttemptSets:
        key = (exchange.operation, attempt.route, attempt.provider, attempt.provider_type, attempt.model,
               attempt.server_address, attempt.server_port)
        found = self._attempt_sets.get(key)
        if found is None:
            found = remember(self._attempt_sets, key,
                             AttemptSets(exchange.operation, attempt, self.provider_name(attempt)))
        return found

    def request_sets(self, exchange: Exchange) -> RequestSets:
        last = exchange.attempts[-1] if exchange.attempts else None
        key = (exchange.operation, exchange.route, exchange.cache, exchange.error, exchange.status,
               exchange.key_name, None if last is None else (last.provider, last.provider_type))
        found = self._request_sets.get(key)
        if found is None:
            provider_name = self.provider_name(last) if last is not None else None
            found = remember(self._request_sets, key, RequestSets(exchange, last, provider_name))
        return found

    def parameters(self, state: RequestState, exchange: Exchange, provider_name: str) -> Attributes:
        if state.parameters is None:
            state.parameters = request_parameters(exchange.operation, exchange.body or {})
        if provider_name != "openai" or exchange.operation != "chat":
            return state.parameters
        extra: Attributes = {sc.OPENAI_API_TYPE: "chat_completions"}
        tier = (exchange.body or {}).get("service_tier")
        if isinstance(tier, str) and tier != "auto":
            extra[sc.OPENAI_REQUEST_SERVICE_TIER] = tier
        return {**state.parameters, **extra}

    def record_tokens(
        self, exchange: Exchange, attempt: Attempt, sets: AttemptSets, response_model: str | None
    ) -> None:
        facts = attempt.facts
        if facts is None:
            return
        ins = self.instruments
        for kind, count in (("input", facts.input_tokens), ("output", facts.output_tokens)):
            if count is None:
                continue
            if ins.token_usage is not None:
                ins.token_usage.record(count, sets.metric(response_model, sc.TOKEN_TYPE, kind))
            else:
                counter, histogram = (
                    (ins.usage_input, ins.operation_input) if kind == "input"
                    else (ins.usage_output, ins.operation_output)
                )
                if counter is not None and histogram is not None:
                    counter.add(count, sets.metric(response_model, sc.TOKEN_MODALITY, "text"))
                    histogram.record(count, sets.metric(response_model))
            ins.tokens.add(count, sets.tokens(kind, exchange.key_name))

    def end_attempt_span(self, exchange: Exchange, attempt: Attempt, span: Span, error: str | None) -> None:
        if span.is_recording():
            facts = attempt.facts
            attributes: Attributes = {}
            if attempt.status is not None:
                attributes[sc.HTTP_STATUS] = attempt.status
            if facts is not None:
                if facts.response_id:
                    attributes[sc.RESPONSE_ID] = facts.response_id
                if facts.response_model:
                    attributes[sc.RESPONSE_MODEL] = facts.response_model
                reasons = list(facts.finish_reasons)
                if not reasons and error is not None and exchange.stream and attempt.first_chunk_at is not None:
                    reasons = ["error"]  # a stream cut before its choice finished
                if reasons:
                    attributes[sc.FINISH_REASONS] = reasons
                if facts.input_tokens is not None:
                    attributes[sc.INPUT_TOKENS] = facts.input_tokens
                if facts.output_tokens is not None:
                    attributes[sc.OUTPUT_TOKENS] = facts.output_tokens
            span.set_attributes(attributes)
            if error is not None:
                span.set_attribute(sc.ERROR_TYPE, error)
                span.set_status(Status(StatusCode.ERROR, describe(error)))
        end = wall_ns(attempt.ended) if attempt.ended is not None else None
        state = self.state(exchange)
        if self.content is not None and state.server_span is not None and span.is_recording():
            state.deferred.append((attempt, span))  # ended by finish_server_span, with the output
        else:
            span.end(end)

    def finish_server_span(self, state: RequestState, exchange: Exchange | None) -> None:
        """Called by the middleware once the answer is sent: the SERVER span's GenAI and gateway attributes,
        the output content, and the CLIENT spans that waited for it."""
        span = state.server_span
        outputs: dict[str, str] = {}
        if self.content is not None and state.output is not None:
            outputs = self.content.output_attributes(state.output.messages())
        for attempt, client in state.deferred:
            if exchange is not None and attempt is exchange.attempts[-1]:
                client.set_attributes(outputs)
            client.end(wall_ns(attempt.ended) if attempt.ended is not None else None)
        state.deferred.clear()
        if span is None or not span.is_recording() or exchange is None:
            return
        span.set_attributes(server_attributes(exchange, self.provider_name))
        if state.inputs:
            span.set_attributes(state.inputs)
        span.set_attributes(outputs)

    def _observe_cooling(self, options: CallbackOptions) -> Iterable[Observation]:
        now = time.monotonic()
        for (route, target), until in list(self.cooling.items()):
            yield Observation(1 if until > now else 0, {sc.ROUTE: route, sc.TARGET: target})


def server_attributes(exchange: Exchange, provider_name: Callable[[Attempt], str]) -> Attributes:
    """What the SERVER span says about the client-facing GenAI call (OTEL.md §1.3)."""
    attributes: Attributes = {
        sc.OPERATION: exchange.operation,
        sc.ATTEMPTS: len(exchange.attempts),
        sc.REQUEST_ID: exchange.request_id,
    }
    if exchange.route:
        attributes[sc.ROUTE] = exchange.route
        attributes[sc.REQUEST_MODEL] = exchange.route
    if exchange.stream:
        attributes[sc.REQUEST_STREAM] = True
    if exchange.key_name:
        attributes[sc.KEY_NAME] = exchange.key_name
    if exchange.cache:
        attributes[sc.CACHE_RESULT] = exchange.cache
    last = exchange.attempts[-1] if exchange.attempts else None
    if last is not None:
        attributes[sc.PROVIDER_NAME] = provider_name(last)
        attributes[sc.PROVIDER] = last.provider
        attributes[sc.TARGET] = last.target
        attributes[sc.FALLBACK_USED] = last.route != exchange.route
        facts = last.facts
        if facts is not None:
            if facts.response_id:
                attributes[sc.RESPONSE_ID] = facts.response_id
            if facts.response_model:
                attributes[sc.RESPONSE_MODEL] = facts.response_model
            if facts.finish_reasons:
                attributes[sc.FINISH_REASONS] = list(facts.finish_reasons)
        if last.first_chunk_at is not None:
            attributes[sc.TIME_TO_FIRST_CHUNK] = last.first_chunk_at - exchange.started
    inputs = [a.facts.input_tokens for a in exchange.attempts if a.facts and a.facts.input_tokens is not None]
    outputs = [a.facts.output_tokens for a in exchange.attempts if a.facts and a.facts.output_tokens is not None]
    if inputs:
        attributes[sc.INPUT_TOKENS] = sum(inputs)
    if outputs:
        attributes[sc.OUTPUT_TOKENS] = sum(outputs)
    return attributes


def request_parameters(operation: str, body: Mapping[str, Any]) -> Attributes:
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
    return attributes


def describe(error: str) -> str:
    """A span status description for an `error.type` value; never a message that could carry a secret."""
    if error.isdigit():
        return f"upstream answered HTTP {error}"
    return error.replace("_", " ")
