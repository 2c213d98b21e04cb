"""The request path's `Observer` when telemetry is on.

An attempt gets its CLIENT span before the upstream call, made current for the call (so an instrumented
HTTP client nests under it) and carried in the call's `traceparent`; spans are filled in and ended by the
middleware after the last byte (spans.py). Under a SERVER span that is not sampled, with a sampler that drops
the children of such spans, an attempt gets none: the SERVER span's context goes upstream instead. Metric
points are recorded once a request finished (metrics.py). Hooks never raise: a failure is logged once and
dropped (telemetry never breaks the data path).
"""

from __future__ import annotations

import logging
import time

from opentelemetry import context as otel_context
from opentelemetry import trace

from gateway.events import Attempt, Exchange, Observer
from gateway.telemetry.context import RequestState, inject, state_of
from gateway.telemetry.metrics import MetricRecorder
from gateway.telemetry.spans import Tracing

log = logging.getLogger("gateway.telemetry")


class TelemetryObserver(Observer):
    def __init__(self, tracing: Tracing | None, metrics: MetricRecorder | None) -> None:
        self.tracing = tracing  # None: no spans, and no trace context made up for the upstream
        self.recorder = metrics
        self.metrics = metrics is not None
        self._failed: set[str] = set()

    def _failure(self, hook: str) -> None:
        if hook not in self._failed:
            self._failed.add(hook)
            log.exception("telemetry hook %s failed; it keeps running, further failures are not logged", hook)

    def attempt_started(self, exchange: Exchange, attempt: Attempt) -> dict[str, str] | None:
        tracing = self.tracing
        if tracing is None:
            return None
        try:
            state = state_of(exchange)
            if state is None:
                return None  # not a request the middleware saw (none is, today)
            span = tracing.attempt(state, exchange, attempt)
            if span is None:  # not recorded: the SERVER span (current already) is the upstream's parent
                return inject(state.upstream)
            attempt.handle = span
            context = trace.set_span_in_context(span, state.context)
            state.attached = otel_context.attach(context)
            upstream = context if state.upstream is state.context else trace.set_span_in_context(span, state.upstream)
            return inject(upstream)
        except Exception:
            self._failure("attempt_started")
            return None

    def first_chunk(self, exchange: Exchange, attempt: Attempt) -> None:
        self._detach(exchange)

    def attempt_finished(self, exchange: Exchange, attempt: Attempt) -> None:
        self._detach(exchange)

    def _detach(self, exchange: Exchange) -> None:
        """The attempt's span stops being current once its call returned (in the task that made it current)."""
        state = exchange.handle
        if isinstance(state, RequestState) and state.attached is not None:
            token, state.attached = state.attached, None
            otel_context.detach(token)  # type: ignore[arg-type]

    def request_finished(self, exchange: Exchange) -> None:
        try:
            if self.tracing is not None:
                state_of(exchange)  # noted on the exchange for the observers after this one (the live page)
            if self.recorder is not None:
                self.recorder.request(exchange, time.monotonic())
        except Exception:
            self._failure("request_finished")

    def request_coalesced(self, exchange: Exchange, leader: Exchange) -> None:
        """A request that waits for an identical one's upstream call (the cache's single flight) has no CLIENT
        span of its own: its SERVER span links to the leader's attempt (or to the leader's SERVER span)."""
        try:
            state, theirs = state_of(exchange), leader.handle
            if state is not None and isinstance(theirs, RequestState):
                span = theirs.attempts[-1] if theirs.attempts else theirs.span
                state.link = span.get_span_context()
        except Exception:
            self._failure("request_coalesced")

    def target_cooldown(self, route: str, target: str, seconds: float) -> None:
        if self.recorder is not None:
            self.recorder.cooldown(route, target, seconds)

    def request_refused(self, reason: str, key_name: str | None, route: str | None) -> None:
        if self.recorder is not None:
            self.recorder.refusal(reason, key_name, route)

    def limits_error(self, backend: str, error: str) -> None:
        if self.recorder is not None:
            self.recorder.store_error("limits", backend, error)

    def responses_error(self, backend: str, error: str) -> None:
        if self.recorder is not None:
            self.recorder.store_error("responses", backend, error)

    def cache_error(self, backend: str, error: str) -> None:
        if self.recorder is not None:
            self.recorder.store_error("cache", backend, error)
