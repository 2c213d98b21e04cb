"""What the request path reports, and to whom. No opentelemetry import here.

The dispatcher fills an `Attempt` per upstream call and an `Exchange` per client request, then hands
them to an `Observer`; telemetry turns them into spans and metrics. With telemetry off the observer is
`NoopObserver` and nothing else runs.

    >>> class Printer:
    ...     def attempt_finished(self, exchange, attempt): print(attempt.target, attempt.outcome)
    ...     def request_finished(self, exchange): print(exchange.status)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

from gateway.providers.base import Facts


@dataclass(slots=True)
class Attempt:
    """One upstream call: which target, when, and how it ended."""

    number: int
    route: str
    provider: str
    provider_type: str
    model: str
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    outcome: str = "pending"  # "ok" | "error" | "cancelled"
    status: int | None = None
    error: str | None = None  # low-cardinality kind, e.g. "429", "timeout"
    facts: Facts | None = None

    @property
    def target(self) -> str:
        return f"{self.provider}/{self.model}"

    def finish(self, outcome: str, *, status: int | None = None, error: str | None = None) -> None:
        self.ended = time.monotonic()
        self.outcome, self.status, self.error = outcome, status, error


@dataclass(slots=True)
class Exchange:
    """One client request from arrival to the last byte of the answer."""

    request_id: str
    operation: str
    route: str
    stream: bool
    started: float = field(default_factory=time.monotonic)
    attempts: list[Attempt] = field(default_factory=list)
    status: int = 0
    error: str | None = None

    @property
    def answered_by(self) -> Attempt | None:
        last = self.attempts[-1] if self.attempts else None
        return last if last is not None and last.outcome == "ok" else None


class Observer(Protocol):
    def attempt_finished(self, exchange: Exchange, attempt: Attempt) -> None: ...

    def request_finished(self, exchange: Exchange) -> None: ...


class NoopObserver:
    def attempt_finished(self, exchange: Exchange, attempt: Attempt) -> None:
        pass

    def request_finished(self, exchange: Exchange) -> None:
        pass
