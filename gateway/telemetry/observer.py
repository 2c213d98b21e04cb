"""The request path's `Observer` when telemetry is on: ids and trace headers now, one record at the end.

Hooks run on the request path, so they do only what cannot wait: an attempt gets its span id and the
`traceparent` the upstream must see, in-flight counts move, a waiting request notes whose call it waits
for. Everything else (span attributes, metric points, OTLP) is made from the request's `RequestRecord` in
the telemetry process (records.py). The record is sent by the server-span middleware once the last byte
went out, or, with tracing off (Prometheus or OTLP metrics only), by `request_finished`.

Hooks never raise: a failure is logged once and dropped (telemetry never breaks the data path). They are
written for the request path's CPU: each Python call costs about a microsecond here, and they run for
every request (bench/README.md has the figures).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextvars import ContextVar

from gateway.events import Attempt, Exchange, Observer
from gateway.telemetry.context import RequestState, TraceContext
from gateway.telemetry.link import TelemetryLink
from gateway.telemetry.records import (
    Cooldown,
    InFlight,
    Refusal,
    StoreError,
    exchange_record,
)

log = logging.getLogger("gateway.telemetry")


class _Failures:
    """Telemetry never breaks the data path: a hook that fails is logged the first time, then dropped. (Each
    hook catches for itself: a decorator would be one more Python call per hook on every request.)"""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def failed(self, hook: str) -> None:
        if hook not in self.seen:
            self.seen.add(hook)
            log.exception("telemetry hook %s failed; it keeps running, further failures are not logged", hook)


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
        # Upstream requests in flight per target, for the gauge: the dispatcher's own count (routing's Health),
        # read by the link's shipper with each batch; app.py points it at the current gateway's.
        self.in_flight: Callable[[], dict[str, int]] | None = None
        self._sent: tuple[tuple[str, str, int], ...] = ()
        self._failures = _Failures()
        if metrics:
            link.snapshot = self.in_flight_snapshot

    # -- hooks ------------------------------------------------------------------------------------------

    def attempt_started(self, exchange: Exchange, attempt: Attempt) -> dict[str, str] | None:
        if self.context is None:
            return None
        try:
            state = exchange.handle if isinstance(exchange.handle, RequestState) else self.state(exchange)
            attempt.handle = span_id = self.context.new_span_id()
            return self.context.headers(state, span_id)
        except Exception:
            self._failures.failed("attempt_started")
            return None

    def request_finished(self, exchange: Exchange) -> None:
        try:
            now = time.monotonic()
            if self.context is not None:
                self.state(exchange).finished = now  # the middleware sends the record after the last byte
            elif self.metrics:
                # a RequestRecord without a trace, as a plain tuple (records.py)
                record = exchange_record(exchange, None, None, False, False)
                self.link.submit((exchange.started, now, None, None, record, None))
        except Exception:
            self._failures.failed("request_finished")

    def request_coalesced(self, exchange: Exchange, leader: Exchange) -> None:
        """A request that waits for an identical one's upstream call (the cache's single flight) has no CLIENT
        span of its own: its SERVER span will link to the leader's attempt (or to the leader's SERVER span)."""
        try:
            if self.context is None or not isinstance(leader.handle, RequestState):
                return
            span_id = leader.attempts[-1].handle if leader.attempts else None
            if not isinstance(span_id, int):
                span_id = leader.handle.span_id
            self.state(exchange).link = (leader.handle.trace_id, span_id)
        except Exception:
            self._failures.failed("request_coalesced")

    def target_cooldown(self, route: str, target: str, seconds: float) -> None:
        try:
            if self.metrics:
                self.link.submit(Cooldown(route, target, seconds, time.monotonic()))
        except Exception:
            self._failures.failed("target_cooldown")

    def request_refused(self, reason: str, key_name: str | None, route: str | None) -> None:
        try:
            if self.metrics:
                self.link.submit(Refusal(reason, key_name, route))
        except Exception:
            self._failures.failed("request_refused")

    def limits_error(self, backend: str, error: str) -> None:
        self._store_error("limits", backend, error)

    def responses_error(self, backend: str, error: str) -> None:
        self._store_error("responses", backend, error)

    def cache_error(self, backend: str, error: str) -> None:
        self._store_error("cache", backend, error)

    def _store_error(self, feature: str, backend: str, error: str) -> None:
        try:
            if self.metrics:
                self.link.submit(StoreError(feature, backend, error))
        except Exception:
            self._failures.failed(f"{feature}_error")

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

    def in_flight_snapshot(self) -> InFlight | None:
        """The in-flight counts, when they changed since the last batch (called by the link's shipper)."""
        if self.in_flight is None:
            return None
        counts = tuple((target, target.partition("/")[0], n) for target, n in sorted(self.in_flight().items()))
        if counts == self._sent:
            return None
        self._sent = counts
        return InFlight(counts)
