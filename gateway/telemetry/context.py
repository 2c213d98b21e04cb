"""Trace context: the client's trace continued, and each attempt's context sent upstream.

Both go through the global propagator (`opentelemetry.propagate`: W3C trace context and baggage unless
`OTEL_PROPAGATORS` says otherwise), so B3 or Jaeger headers work where an operator set them. The client's
baggage goes on upstream with the attempt's context unless `propagate_baggage = false`.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field

from opentelemetry import baggage, propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span

# The request headers a propagator may read (lower case, as ASGI has them); any others are not looked at.
PROPAGATION_HEADERS = frozenset({b"traceparent", b"tracestate", b"baggage", b"b3", b"x-b3-traceid",
                                 b"x-b3-spanid", b"x-b3-sampled", b"x-b3-parentspanid", b"x-b3-flags",
                                 b"uber-trace-id"})


@dataclass(slots=True)
class RequestState:
    """One request's trace: its SERVER span (the gateway's, or the one an ASGI instrumentation made), the
    context its attempts start in, and what the request path adds while it runs. The live page reads
    `trace_id` and `sampled` (gateway/ui/recorder.py), the access log `trace_id` and `span_id`."""

    span: Span
    context: Context  # the SERVER span's context: the parent of every attempt
    upstream: Context  # the same, without the client's baggage when it must not go upstream
    trace_id: int
    span_id: int
    sampled: bool
    own: bool  # the gateway started the SERVER span (else an outer instrumentation did, and ends it)
    attached: object = None  # the token of the attempt span made current for the upstream call
    link: trace.SpanContext | None = None  # coalesced: the call this request waited for
    attempts: list[Span] = field(default_factory=list)


# The request the running task serves (set by the middleware; asyncio tasks it starts inherit it).
CURRENT: ContextVar[RequestState | None] = ContextVar("gateway_trace", default=None)


def state_of(exchange: object) -> RequestState | None:
    """The trace of the request an `Exchange` belongs to, noted on it (`handle`) the first time."""
    state = getattr(exchange, "handle", None)
    if isinstance(state, RequestState):
        return state
    state = CURRENT.get()
    if state is not None:
        exchange.handle = state  # type: ignore[attr-defined]
    return state


def extract(headers: Iterable[tuple[bytes, bytes]]) -> Context:
    """The client's trace context and baggage, as the global propagator reads them."""
    carrier = {name.decode("latin-1"): value.decode("latin-1") for name, value in headers
               if name in PROPAGATION_HEADERS}
    return propagate.extract(carrier, context=Context()) if carrier else Context()


def upstream_context(context: Context, forward_baggage: bool) -> Context:
    return context if forward_baggage else baggage.clear(context)


def inject(context: Context) -> dict[str, str]:
    """The headers that carry an attempt's context (its span, and the client's baggage) to the upstream."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=context)
    return carrier
