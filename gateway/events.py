"""What the request path reports, and to whom. No opentelemetry import here.

The dispatcher fills an `Attempt` per upstream call and an `Exchange` per client request and tells an
`Observer` as they start and end; telemetry turns that into spans and metrics. With telemetry off the
observer is `NoopObserver` and nothing else runs.

    >>> class Printer(NoopObserver):
    ...     def attempt_finished(self, exchange, attempt):
    ...         print(attempt.target, attempt.outcome, attempt.error)

Hooks are called on the request path: they must be quick and must never raise.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from gateway.providers.base import Facts


@dataclass(slots=True)
class Attempt:
    """One upstream call: which target, when, and how it ended."""

    number: int
    route: str
    provider: str
    provider_type: str
    model: str
    server_address: str = ""
    server_port: int = 0
    started: float = field(default_factory=time.monotonic)
    first_chunk_at: float | None = None
    backoff_s: float = 0.0  # waited before this attempt (backoff or Retry-After)
    ended: float | None = None
    outcome: str = "pending"  # "ok" | "error" | "cancelled"
    status: int | None = None  # the upstream's HTTP status, when it answered
    error: str | None = None  # low-cardinality kind: "429", "timeout", "connect_error", "client_disconnected"
    facts: Facts | None = None
    cost_usd: float | None = None  # tokens x the target's price, once the request finished (None: no price)
    handle: Any = None  # the observer's own per-attempt state (a span, say)

    @property
    def target(self) -> str:
        return f"{self.provider}/{self.model}"

    def finish(self, outcome: str, *, status: int | None = None, error: str | None = None) -> None:
        self.ended = time.monotonic()
        self.outcome, self.error = outcome, error
        if status is not None:
            self.status = status


@dataclass(slots=True)
class Exchange:
    """One client request from arrival to the last byte of the answer."""

    request_id: str
    operation: str
    route: str = ""
    stream: bool = False
    body: dict[str, Any] | None = None  # the client's JSON, for request parameters
    key_name: str | None = None
    cache: str | None = None  # "hit" | "miss" | "bypass" when a cache is configured
    started: float = field(default_factory=time.monotonic)
    attempts: list[Attempt] = field(default_factory=list)
    status: int = 0
    error: str | None = None
    admission: Any = None  # what the limits took for this request (gateway/access/limits.py)
    reported: bool = False  # request_finished was told (once: a flight may end after its first client left)
    usage: Any = None  # its tokens and cost once accounted (gateway.state.Usage)
    cost_usd: float | None = None  # what its upstream calls cost (None: no priced target answered)
    handle: Any = None

    @property
    def answered_by(self) -> Attempt | None:
        last = self.attempts[-1] if self.attempts else None
        return last if last is not None and last.outcome == "ok" else None


class Observer:
    """Base observer: every hook does nothing. Subclass and override what you need."""

    def attempt_started(self, exchange: Exchange, attempt: Attempt) -> dict[str, str] | None:
        """Called before an upstream call; may return headers to add to it (trace context)."""
        return None

    def first_chunk(self, exchange: Exchange, attempt: Attempt) -> None:
        """Called when the first chunk of a streamed answer arrives from upstream."""

    def attempt_finished(self, exchange: Exchange, attempt: Attempt) -> None:
        """Called once per attempt when it ended: answered, failed, or cancelled."""

    def request_finished(self, exchange: Exchange) -> None:
        """Called once per client request, after the last byte of the answer (or its error)."""

    def target_cooldown(self, route: str, target: str, seconds: float) -> None:
        """Called when a target (`provider/model`) starts cooling down after failures."""

    def request_coalesced(self, exchange: Exchange, leader: Exchange) -> None:
        """Called when a request waits for the identical upstream call of `leader` instead of its own
        (the response cache's single flight); its answer comes from the leader's attempts."""

    def cache_changed(self, backend: str, entries: int, size_bytes: int, evicted: int) -> None:
        """Called after the memory cache stored an entry: its size now, and how many entries were just
        evicted to stay within `max_entries` / `max_bytes` (expired ones are not counted)."""

    def cache_error(self, backend: str, error: str) -> None:
        """Called when a cache backend failed (Redis down or slow); the request went on as a miss."""

    def request_refused(self, reason: str, key_name: str | None, route: str | None) -> None:
        """Called when the gateway refused a request before any upstream call: `reason` is invalid_api_key,
        model_not_allowed, rpm, tpm, max_concurrent, budget or limits_unavailable."""

    def limits_error(self, backend: str, error: str) -> None:
        """Called when the limits' store failed (Redis down or slow); `[limits] on_backend_error` decided."""

    def responses_error(self, backend: str, error: str) -> None:
        """Called when the stored responses' store failed (Redis down or slow): a 503, or an answer not kept."""


NoopObserver = Observer


_HOOKS = ("attempt_started", "first_chunk", "attempt_finished", "request_finished", "target_cooldown",
          "request_coalesced", "cache_changed", "cache_error", "request_refused", "limits_error", "responses_error")


class Fanout(Observer):
    """Tells several observers, in order (telemetry, then the live page: gateway/ui/). A hook that only one of
    them overrides is that observer's own method, bound here once: no loop on the request path for it.

        >>> observer = Fanout(telemetry_observer, ui_recorder)
    """

    def __init__(self, *observers: Observer) -> None:
        self.observers = observers
        for name in _HOOKS:
            # an observer's own hook, or one it forwards to another (Accounting's): not the base's no-op
            told = [o for o in observers if getattr(getattr(o, name), "__func__", None) is not getattr(Observer, name)]
            if len(told) == 1:
                setattr(self, name, getattr(told[0], name))
            elif told:
                setattr(self, name, _each([getattr(o, name) for o in told]))


def _each(hooks: list[Any]) -> Any:
    def told(*args: Any) -> Any:
        merged: dict[str, str] | None = None
        for hook in hooks:
            headers = hook(*args)
            if headers:  # attempt_started: every observer's headers for the upstream call
                merged = {**(merged or {}), **headers}
        return merged

    return told
