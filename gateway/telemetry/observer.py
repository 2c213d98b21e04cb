"""The request path's `Observer` when telemetry is on: ids and trace headers now, one record at the end.

Hooks run on the request path, so they do only what cannot wait: an attempt gets its span id and the
`traceparent` the upstream must see, in-flight counts move, a waiting request notes whose call it waits
for. Everything else (span attributes, metric points, OTLP) is made from the request's `RequestRecord` in
the telemetry process (records.py). The record is sent by the server-span middleware once the last byte
went out, or, with tracing off (Prometheus or OTLP metrics only), by `request_finished`.

Hooks never raise: a failure is logged once and dropped (telemetry never breaks the data path).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

from gateway.events import Exchange, Observer
from gateway.telemetry.context import RequestState, TraceContext
from gateway.telemetry.link import TelemetryLink
from gateway.telemetry.records import Cooldown, InFlight, exchange_record

log = logging.getLogger("gateway.telemetry")
F = TypeVar("F", bound=Callable[..., Any])


def _never_raise(method: F) -> F:
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


class TelemetryObserver(Observer):
    def __init__(
        self,
        link: TelemetryLink,
        current: ContextVar[RequestState | None],
        context: TraceContext | None,
        *,
        metrics: bool,
        capture_content: bool = False,
    ) -> None:
        self.link = link
        self.current = current  # set by the server-span middleware for the request it runs
        self.context = context  # None: no tracing, so no trace context is made up for the upstream
        self.metrics = metrics
        self.capture_content = capture_content
        self.in_flight: dict[str, int] = {}  # target -> upstream requests in flight
        self._providers: dict[str, str] = {}  # target -> provider
        self._sent: tuple[tuple[str, str, int], ...] = ()
        if metrics:
            link.snapshot = self.in_flight_snapshot

    # -- hooks ------------------------------------------------------------------------------------------

    @_never_raise
    def attempt_started(self, exchange: Exchange, attempt: Any) -> dict[str, str] | None:
        target = attempt.target
        self.in_flight[target] = self.in_flight.get(target, 0) + 1
        self._providers[target] = attempt.provider
        if self.context is None:
            return None
        state = self.state(exchange)
        attempt.handle = span_id = self.context.new_span_id()
        return self.context.headers(state, span_id)

    @_never_raise
    def attempt_finished(self, exchange: Exchange, attempt: Any) -> None:
        target = attempt.target
        self.in_flight[target] = self.in_flight.get(target, 1) - 1

    @_never_raise
    def request_finished(self, exchange: Exchange) -> None:
        now = time.monotonic()
        if self.context is not None:
            self.state(exchange).finished = now  # the middleware sends the record after the last byte
        elif self.metrics:
            # a RequestRecord without a trace, as a plain tuple (records.py)
            self.link.submit((exchange.started, now, None, None, self.exchange_record(exchange, None), None))

    @_never_raise
    def request_coalesced(self, exchange: Exchange, leader: Exchange) -> None:
        """A request that waits for an identical one's upstream call (the cache's single flight) has no CLIENT
        span of its own: its SERVER span will link to the leader's attempt (or to the leader's SERVER span)."""
        if self.context is None or not isinstance(leader.handle, RequestState):
            return
        span_id = leader.attempts[-1].handle if leader.attempts else None
        if not isinstance(span_id, int):
            span_id = leader.handle.span_id
        self.state(exchange).link = (leader.handle.trace_id, span_id)

    @_never_raise
    def target_cooldown(self, route: str, target: str, seconds: float) -> None:
        if self.metrics:
            self.link.submit(Cooldown(route, target, seconds, time.monotonic()))

    # -- helpers ----------------------------------------------------------------------------------------

    def state(self, exchange: Exchange) -> RequestState:
        state = exchange.handle
        if not isinstance(state, RequestState):
            state = self.current.get()
            if state is None:  # called outside a request the middleware saw: a trace of its own
                assert self.context is not None
                state = self.context.begin(None, None, None)
            exchange.handle = state
        return state

    def exchange_record(self, exchange: Exchange, state: RequestState | None) -> tuple[Any, ...]:
        if state is None:
            return exchange_record(exchange, None, None, False, False)
        return exchange_record(exchange, state.finished, state.link, state.sampled, self.capture_content)

    def in_flight_snapshot(self) -> InFlight | None:
        """The in-flight counts, when they changed since the last batch (called by the link's shipper)."""
        counts = tuple((target, self._providers.get(target, ""), n) for target, n in list(self.in_flight.items()))
        if counts == self._sent:
            return None
        self._sent = counts
        return InFlight(counts)
