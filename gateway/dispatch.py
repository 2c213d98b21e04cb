"""The attempt loop: pick targets, call them, classify failures, back off, fail over.

For one request: each target of the route once, in the strategy's order, moving on at once when one
fails with a connection error, a timeout, 408, 409, 429 or 5xx; then, while the budget lasts, each of
them that is not cooling down again after a backoff (full jitter) or the `Retry-After` it asked for, if
short (a target that timed out, or hung up without answering, is not tried again); then the route's
fallback routes the same way. A route whose targets are all cooling down is passed over while a later
route has a usable target (only when none has is the soonest to recover tried). Any other 4xx goes back
to the client at once, except a prompt too long
for the model, which goes to the route's `context_window_fallbacks`. Every attempt is recorded on the
`Exchange` and reported to the `Observer`; every outcome updates the targets' health.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from gateway.config import RetryConfig, RoutingConfig
from gateway.errors import (
    RETRYABLE_STATUSES,
    InvalidRequestError,
    UnsupportedFeatureError,
    UpstreamError,
    UpstreamStatusError,
    UpstreamTimeoutError,
)
from gateway.events import Attempt, Exchange, Observer
from gateway.providers.base import Call, Provider, Reply, UpstreamStream
from gateway.routing.health import Health, TargetHealth
from gateway.routing.strategies import RoundRobin, order
from gateway.routing.table import Route, RouteTable, Target
from gateway.timers import Deadline, Timers, for_loop

T = TypeVar("T")
Send = Callable[[Provider, Target, "dict[str, str] | None", RetryConfig], Awaitable[T]]


@dataclass(frozen=True, slots=True)
class Control:
    """Per-request overrides, from documented request headers (see endpoints.control_from_headers)."""

    pin: str | None = None  # only this target: "provider" or "provider/model"
    timeout_s: float | None = None  # a shorter deadline than the route's
    fallbacks: bool = True  # False: never leave the requested route


@dataclass(slots=True)
class StartedStream:
    """An upstream stream that has produced its first content; `held` is what was read to see that."""

    stream: UpstreamStream
    chunks: AsyncGenerator[list[bytes], None]
    held: list[bytes]


@dataclass(slots=True)
class Outcome(Generic[T]):
    result: T
    attempt: Attempt
    target: Target


@dataclass(slots=True)
class _Plan:
    """One request's budget and what happened so far."""

    exchange: Exchange
    deadline: float
    max_attempts: int
    exclude: frozenset[str] = frozenset()
    routes: tuple[Route, ...] = ()  # the route and its fallbacks, as the request began
    pin: str | None = None
    _candidates: frozenset[str] | None = None
    failures: list[tuple[Attempt, UpstreamError]] = field(default_factory=list)
    errors: dict[str, UpstreamError] = field(default_factory=dict)
    timed_out: set[str] = field(default_factory=set)

    @property
    def candidates(self) -> frozenset[str]:
        """Every target the request may reach (its route's, its fallbacks'). Only a stream's first-token limit
        reads it (`Dispatcher._settings`), and only once its target has a measured time to first token: most
        requests never do, so it is worked out then, not for every request."""
        if self._candidates is None:
            self._candidates = frozenset(t.key for r in self.routes for t in _targets(r, self.exclude, self.pin))
        return self._candidates

    @property
    def last(self) -> UpstreamError | None:
        return self.failures[-1][1] if self.failures else None

    def exhausted(self) -> UpstreamError:
        """The last error, telling what was tried when there was more than one attempt."""
        if not self.failures:
            return UpstreamError("no target of this route could be tried within the request's budget")
        last = self.failures[-1][1]
        if len(self.failures) > 1:
            tried = ", ".join(f"{a.target} ({a.error})" for a, _ in self.failures)
            last.message = f"{last.message} [tried {len(self.failures)} attempts: {tried}]"
        return last


class Dispatcher:
    def __init__(
        self,
        table: RouteTable,
        providers: Mapping[str, Provider],
        observer: Observer,
        health: Health,
        routing: RoutingConfig,
        *,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.table = table
        self.providers = providers
        self.observer = observer
        self.health = health
        self.routing = routing
        self.rng = rng or random.Random()
        self.sleep = sleep
        self.clock = clock
        self.round_robin = RoundRobin()
        self._timers: list[Timers] = []  # the attempts' deadlines (gateway/timers.py)

    # (complete and open_stream hand back `run`'s coroutine, and their `send` the provider's: no coroutine of
    # their own, see endpoints.Endpoints.chat)

    def complete(
        self, exchange: Exchange, route: Route, call: Call, control: Control
    ) -> Coroutine[Any, Any, Outcome[Reply]]:
        def send(
            provider: Provider, target: Target, headers: dict[str, str] | None, _: RetryConfig
        ) -> Awaitable[Reply]:
            return provider.complete(call, target.model, headers)

        return self.run(exchange, route, control, send)

    def open_stream(
        self, exchange: Exchange, route: Route, call: Call, control: Control
    ) -> Coroutine[Any, Any, Outcome[StartedStream]]:
        def send(
            provider: Provider, target: Target, headers: dict[str, str] | None, settings: RetryConfig
        ) -> Awaitable[StartedStream]:
            return self.start_stream(provider, call, target, headers, settings)

        return self.run(exchange, route, control, send)

    # -- the loop -------------------------------------------------------------------------------------

    async def run(
        self,
        exchange: Exchange,
        route: Route,
        control: Control,
        send: Send[T],
        *,
        exclude: frozenset[str] = frozenset(),
        max_attempts: int | None = None,
    ) -> Outcome[T]:
        if control.pin is not None and not any(control.pin in (t.provider, t.key) for t in route.targets):
            raise InvalidRequestError(
                f'x-gateway-target "{control.pin}" is not a target of model "{route.model}" '
                f"(its targets: {', '.join(t.key for t in route.targets)})",
                param="x-gateway-target",
            )
        # (the request path's min() and max() are written out: each call of the builtins parses keyword
        # arguments, about 1K instructions a call on Python 3.11, issue 19)
        limit = control.timeout_s or math.inf
        deadline = self.clock() + (limit if limit < route.retry.deadline_s else route.retry.deadline_s)
        plan = _Plan(exchange, deadline, max_attempts or route.retry.max_attempts, exclude)
        queue = [route]
        if route.fallbacks and control.fallbacks and control.pin is None:
            queue += self.table.fallbacks(route, route.fallbacks)
        plan.routes, plan.pin = tuple(queue), control.pin  # (a context-window fallback may replace `queue`'s rest)
        i = 0
        while i < len(queue):
            current = queue[i]
            i += 1
            later = queue[i:]  # empty for a route without fallbacks: then nothing to pass over to, no check
            usable = self._usable
            if later and not usable(plan, current, control) and any(usable(plan, r, control) for r in later):
                continue  # all its targets are cooling: a fallback that can answer goes first (cooldown = skipped)
            outcome = await self._run_route(plan, current, control, send)
            if outcome is not None:
                return outcome
            last = plan.last
            if isinstance(last, UpstreamStatusError) and last.reason == "context_window":
                if not control.fallbacks:
                    break
                queue[i:] = self.table.fallbacks(current, current.context_window_fallbacks)
        raise plan.exhausted()

    def _usable(self, plan: _Plan, route: Route, control: Control) -> bool:
        return any(self.health.usable(t.key) for t in _targets(route, plan.exclude, control.pin))

    async def _run_route(self, plan: _Plan, route: Route, control: Control, send: Send[T]) -> Outcome[T] | None:
        targets = _targets(route, plan.exclude, control.pin)
        tried: list[Target] = []
        strategy_order = order(
            route.model, route.strategy, targets, self.health, self.rng, self.round_robin, self.routing.explore
        )
        for target in strategy_order:
            if not self._budget_left(plan):
                return None
            outcome = await self._attempt(plan, route, target, send, backoff=0.0)
            if outcome is not None or _context_window(plan.last):
                return outcome
            tried.append(target)
        for round_ in range(route.retry.retries_per_target):
            for target in tried:
                delay = self._delay(plan.errors[target.key], route.retry, round_)
                if target.key in plan.timed_out or delay is None or not self._budget_left(plan, delay):
                    continue
                if self.health.cooling_for(target.key) > delay:
                    continue  # its failures cooled it (a failed probe, say): the other requests skip it, so do we
                await self.sleep(delay)
                if not self.health.usable(target.key):
                    continue  # cooled meanwhile by other requests, or another request is probing it
                outcome = await self._attempt(plan, route, target, send, backoff=delay)
                if outcome is not None or _context_window(plan.last):
                    return outcome
        return None

    async def _attempt(
        self, plan: _Plan, route: Route, target: Target, send: Send[T], *, backoff: float
    ) -> Outcome[T] | None:
        """One upstream call. Returns None when it failed in a way that lets the request go on elsewhere."""
        exchange, key = plan.exchange, target.key
        provider = self.providers[target.provider]
        attempt = Attempt(
            len(exchange.attempts) + 1, route.model, provider.name, provider.type, target.model, *provider.address
        )
        attempt.backoff_s = backoff
        exchange.attempts.append(attempt)
        headers = self.observer.attempt_started(exchange, attempt)
        # The whole attempt (until the first content, for a stream) is bounded here, once.
        started = self.clock()  # latency on the dispatcher's clock, like the deadline (Attempt's are wall times)
        left, limit = plan.deadline - started, route.retry.attempt_timeout_s or provider.timeout_s
        timeout = left if left < limit else limit
        health = self.health.begin(key)
        settings = self._settings(plan, route, target, health)
        try:
            with Deadline(for_loop(self._timers), timeout if timeout > 0.0 else 0.0):  # (`Timers.deadline`, in line)
                result = await send(provider, target, headers, settings)
        except (UpstreamError, TimeoutError) as caught:
            self.health.end(key)
            error = caught if isinstance(caught, UpstreamError) else _timed_out(provider.name, timeout)
            self._failed(plan, attempt, target, error)
            if error.retryable or _context_window(error):
                return None
            raise error from None
        except UnsupportedFeatureError:
            # The target's provider cannot do what the request asks: the client's 400, not the target's failure.
            self.health.end(key)
            self.health.released(key)
            attempt.finish("error", status=400, error="unsupported_feature")
            self.observer.attempt_finished(exchange, attempt)
            raise
        except BaseException:
            # Cancelled: the client left (the endpoint marks the exchange before it cancels), or the server
            # stops. No verdict on the target either way.
            self.health.end(key)
            self.health.released(key)
            gone = exchange.error == "client_disconnected"
            attempt.finish("cancelled", error="client_disconnected" if gone else "cancelled")
            self.observer.attempt_finished(exchange, attempt)
            raise
        if isinstance(result, StartedStream):
            # The stream stays in flight until its last byte; its latency is the time to first byte.
            attempt.facts = result.stream.facts
            attempt.first_chunk_at = result.stream.first_chunk_at
            first = attempt.first_chunk_at
            self.health.succeeded(key, first - attempt.started if first is not None else self.clock() - started)
            if result.stream.facts.content_started:
                self.health.first_token(key, self.clock() - started)
            self.observer.first_chunk(exchange, attempt)
        else:
            self.health.end(key)
            self.health.succeeded(key, self.clock() - started)
            attempt.facts = getattr(result, "facts", None)
            attempt.finish("ok", status=200)
            self.observer.attempt_finished(exchange, attempt)
        return Outcome(result, attempt, target)

    def _failed(self, plan: _Plan, attempt: Attempt, target: Target, error: UpstreamError) -> None:
        status = error.status if isinstance(error, UpstreamStatusError) else None
        attempt.finish("error", status=status, error=error.kind)
        self.observer.attempt_finished(plan.exchange, attempt)
        plan.failures.append((attempt, error))
        plan.errors[target.key] = error
        if isinstance(error, UpstreamTimeoutError):
            plan.timed_out.add(target.key)  # it did not answer: not tried again for this request
        if error.retryable and _transient(error):
            cooldown = self.health.failed(target.key, error.retry_after if status == 429 else None)
            if cooldown:
                self.observer.target_cooldown(attempt.route, target.key, cooldown)
        else:
            self.health.released(target.key)  # the client's error says nothing of the target: free a probe slot

    def _settings(self, plan: _Plan, route: Route, target: Target, health: TargetHealth) -> RetryConfig:
        """The route's settings, with the first-token limit this attempt gets when `ttft_timeout_s` is unset:
        `ttft_auto_factor` times the target's own time to first token, at least `ttft_auto_min_s`.

        A fixed default cannot serve both ends: a stall on a fast model should go to the fallback within
        seconds, while a reasoning model shows its first token only after it has thought, often a minute. Each
        target's average time to first content on streams (successes only, so a stall never raises its own
        limit) says what is normal for it. The limit applies only when the request has another target to go
        to: cutting the last one helps nobody. A target with no stream measured yet gets none beyond the
        attempt timeout.
        """
        settings = route.retry
        if settings.ttft_timeout_s is not None:
            return settings
        measured = health.first_token_s
        if measured is None or len(plan.exchange.attempts) >= plan.max_attempts:
            return settings
        if not any(key != target.key and key not in plan.errors for key in plan.candidates):
            return settings
        ttft = max(settings.ttft_auto_min_s, settings.ttft_auto_factor * measured)
        return settings.model_copy(update={"ttft_timeout_s": ttft})

    def _budget_left(self, plan: _Plan, delay: float = 0.0) -> bool:
        return len(plan.exchange.attempts) < plan.max_attempts and self.clock() + delay < plan.deadline

    def _delay(self, error: UpstreamError, settings: RetryConfig, round_: int) -> float | None:
        """How long to wait before trying a target again; None when it asked for longer than we wait."""
        if not _transient(error):
            return None  # a 4xx moved on from (a rejected prefill, say) would come back the same
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= settings.retry_after_max_s else None
        return self.rng.uniform(0, min(settings.backoff_max_s, settings.backoff_base_s * 2**round_))

    # -- streams --------------------------------------------------------------------------------------

    async def start_stream(
        self, provider: Provider, call: Call, target: Target, headers: dict[str, str] | None, settings: RetryConfig
    ) -> StartedStream:
        """Open a stream and read it up to its first content: until then, a failure can still go elsewhere
        without the client noticing. `ttft_timeout_s` counts from the request: an upstream that never sends
        its headers is as late as one that never sends a token."""
        ttft = settings.ttft_timeout_s
        if ttft is None:  # the common case: no timer at all
            return await self._first_content(provider, call, target, headers, settings)
        try:
            with for_loop(self._timers).deadline(ttft):
                return await self._first_content(provider, call, target, headers, settings)
        except TimeoutError:
            raise _no_first_token(provider.name, ttft) from None

    async def _first_content(
        self, provider: Provider, call: Call, target: Target, headers: dict[str, str] | None, settings: RetryConfig
    ) -> StartedStream:
        stream = await provider.open_stream(call, target.model, headers, settings.stream_idle_timeout_s)
        chunks = stream.chunks()
        held: list[bytes] = []
        try:
            while not stream.facts.content_started:
                batch = await next_chunk(chunks)
                if batch is None:
                    break
                held += batch
        except BaseException:
            await chunks.aclose()
            raise
        return StartedStream(stream, chunks, held)

    def finish_stream(self, exchange: Exchange, attempt: Attempt, target: Target, error: UpstreamError | None) -> None:
        """The end of a stream that had started: health and observer learn how it went."""
        self.health.end(target.key)
        if error is None:
            attempt.finish("ok", status=200)
        else:
            attempt.finish("error", error=error.kind)
            if error.retryable:
                cooldown = self.health.failed(target.key)
                if cooldown:
                    self.observer.target_cooldown(attempt.route, target.key, cooldown)
        self.observer.attempt_finished(exchange, attempt)

    def cancel_stream(self, exchange: Exchange, attempt: Attempt, target: Target) -> None:
        self.health.end(target.key)
        self.health.released(target.key)
        attempt.finish("cancelled", error="client_disconnected")
        self.observer.attempt_finished(exchange, attempt)


async def next_chunk(chunks: AsyncGenerator[list[bytes], None]) -> list[bytes] | None:
    """The next batch of payloads, or None at the end. (A silence past the stream's idle limit raises
    UpstreamTimeoutError: it is the upstream request's read timeout, see HttpProvider._send.)"""
    try:
        return await anext(chunks)
    except StopAsyncIteration:
        return None



def _targets(route: Route, exclude: frozenset[str], pin: str | None) -> Sequence[Target]:
    if not exclude and pin is None:
        return route.targets  # (most requests: no list made)
    return [t for t in route.targets if t.key not in exclude and pin in (None, t.provider, t.key)]


def _transient(error: UpstreamError) -> bool:
    """A failure of the target (connection, timeout, 408/409/429/5xx), not a 4xx about the request itself."""
    return not isinstance(error, UpstreamStatusError) or error.status in RETRYABLE_STATUSES or error.status >= 500


def _context_window(error: UpstreamError | None) -> bool:
    return isinstance(error, UpstreamStatusError) and error.reason == "context_window"


def _no_first_token(provider: str, ttft: float | None) -> UpstreamTimeoutError:
    message = f"provider {provider} sent no first token within ttft_timeout_s={ttft}"
    return UpstreamTimeoutError(message, provider=provider)


def _timed_out(provider: str, timeout: float) -> UpstreamTimeoutError:
    return UpstreamTimeoutError(f"provider {provider} did not answer within {timeout:.1f} s", provider=provider)
