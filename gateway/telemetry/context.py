"""Trace context in the serving process: the client's trace continued, span ids made, sampling decided, and
the headers that carry an attempt's context upstream.

Spans themselves are built later by the telemetry process from these ids (records.py); what must happen
while the request runs is only what the client and the upstream see: W3C `traceparent`/`tracestate` in,
the attempt's `traceparent`/`tracestate` and the client's `baggage` out (`propagate_baggage = false` keeps
baggage from the upstream). Parsing, id generation and sampling are the OpenTelemetry SDK's own (its W3C
propagators, random id generator, and samplers as configured by `trace_sample_ratio` or `OTEL_TRACES_SAMPLER`).
"""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Decision, ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.trace import INVALID_SPAN_CONTEXT, SpanContext, SpanKind, get_current_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_EMPTY = Context()


@dataclass(slots=True)
class RequestState:
    """One request's trace identity and what the observer adds to it while the request runs."""

    trace_id: int
    span_id: int
    parent: SpanContext | None
    sampled: bool
    trace_state: str  # the W3C tracestate to send on ("" for none)
    baggage: Context | None = None  # the client's baggage, to send on upstream
    finished: float | None = None  # when the endpoint called request_finished
    link: tuple[int, int] | None = None  # coalesced: the (trace id, span id) this request waited for


# The default: every trace the client did not decide on is recorded (the SDK's own default sampler).
EVERY_TRACE = ParentBased(ALWAYS_ON)


def make_sampler(env_sampler: bool, ratio: float) -> Sampler:
    """OTEL_TRACES_SAMPLER when set (the SDK reads it), else parent-based on `trace_sample_ratio`."""
    if env_sampler:
        return TracerProvider(shutdown_on_exit=False).sampler
    return EVERY_TRACE if ratio >= 1 else ParentBased(TraceIdRatioBased(ratio))


class TraceContext:
    def __init__(self, sampler: Sampler, forward_baggage: bool) -> None:
        self.sampler = sampler
        self.forward_baggage = forward_baggage
        self.ids = RandomIdGenerator()
        self.propagator = TraceContextTextMapPropagator()
        self.baggage = W3CBaggagePropagator()

    def begin(self, traceparent: bytes | None, tracestate: bytes | None, baggage: bytes | None) -> RequestState:
        """A request's state: the client's trace continued when it sent one, else a new trace. (The headers
        come as the ASGI scope has them.)"""
        context, parent = _EMPTY, None
        if traceparent:
            context = self.propagator.extract({
                "traceparent": traceparent.decode("latin-1"),
                "tracestate": tracestate.decode("latin-1") if tracestate else "",
            })
            found = get_current_span(context).get_span_context()
            if found is not INVALID_SPAN_CONTEXT and found.is_valid:
                parent = found
        trace_id = parent.trace_id if parent is not None else self.ids.generate_trace_id()
        if parent is None and self.sampler is EVERY_TRACE:
            sampled, state = True, ""  # what ParentBased(ALWAYS_ON) answers for a root, without asking it
        else:
            result = self.sampler.should_sample(context, trace_id, "server", SpanKind.SERVER)
            sampled = result.decision is Decision.RECORD_AND_SAMPLE
            state = result.trace_state.to_header() if result.trace_state else ""
        return RequestState(
            trace_id, self.ids.generate_span_id(), parent, sampled, state,
            self.baggage.extract({"baggage": baggage.decode("latin-1")}) if baggage and self.forward_baggage else None,
        )

    def new_span_id(self) -> int:
        return self.ids.generate_span_id()

    def headers(self, state: RequestState, span_id: int) -> dict[str, str]:
        """What an upstream request carries: the attempt span's context (and the client's baggage).

        The traceparent is the W3C format written out: the propagator's inject wants a Context holding a
        span for each call, 7 us an attempt for one line of formatting; our ids are valid by construction,
        and the tracestate is the one the propagator parsed (or the sampler gave). (`to_bytes().hex()` takes
        half the time of a `:032x` format.)"""
        traceparent = f"00-{state.trace_id.to_bytes(16).hex()}-{span_id.to_bytes(8).hex()}-"
        carrier = {"traceparent": traceparent + ("01" if state.sampled else "00")}
        if state.trace_state:
            carrier["tracestate"] = state.trace_state
        if state.baggage is not None:
            self.baggage.inject(carrier, state.baggage)
        return carrier
