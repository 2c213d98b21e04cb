"""The attempt loop: pick the targets to try, call them in order, fail over on retryable errors.

Reports every attempt to the `Observer`. Issue 4 brings the rest of routing (strategies, retries on
one target with backoff, cooldown, deadlines); it plugs in at `_candidates` and `_should_retry`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import TypeVar

from gateway.errors import UpstreamError, UpstreamStatusError
from gateway.events import Attempt, Exchange, Observer
from gateway.providers.base import Call, Provider, Reply, UpstreamStream
from gateway.routing.strategies import weighted_order
from gateway.routing.table import Route, RouteTable, Target

T = TypeVar("T")


class Dispatcher:
    def __init__(
        self,
        table: RouteTable,
        providers: Mapping[str, Provider],
        observer: Observer,
        rng: random.Random | None = None,
    ) -> None:
        self.table = table
        self.providers = providers
        self.observer = observer
        self.rng = rng or random.Random()

    async def complete(self, exchange: Exchange, route: Route, call: Call) -> tuple[Reply, Attempt]:
        reply, attempt = await self._run(exchange, route, lambda p, model, headers: p.complete(call, model, headers))
        attempt.facts = reply.facts
        attempt.finish("ok", status=200)
        self.observer.attempt_finished(exchange, attempt)
        return reply, attempt

    async def open_stream(self, exchange: Exchange, route: Route, call: Call) -> tuple[UpstreamStream, Attempt]:
        """Open a stream on the first target that answers; the caller finishes the attempt at its end."""
        stream, attempt = await self._run(
            exchange, route, lambda p, model, headers: p.open_stream(call, model, headers)
        )
        attempt.facts = stream.facts
        return stream, attempt

    async def _run(
        self, exchange: Exchange, route: Route, send: Callable[[Provider, str, dict[str, str] | None], Awaitable[T]]
    ) -> tuple[T, Attempt]:
        failures: list[tuple[Attempt, UpstreamError]] = []
        for route_now, target in self._candidates(route):
            provider = self.providers[target.provider]
            attempt = Attempt(
                len(exchange.attempts) + 1, route_now.model, provider.name, provider.type, target.model,
                *provider.address,
            )
            exchange.attempts.append(attempt)
            headers = self.observer.attempt_started(exchange, attempt)
            try:
                result = await send(provider, target.model, headers)
            except UpstreamError as exc:
                status = exc.status if isinstance(exc, UpstreamStatusError) else None
                attempt.finish("error", status=status, error=exc.kind)
                self.observer.attempt_finished(exchange, attempt)
                failures.append((attempt, exc))
                if not exc.retryable:
                    raise
                continue
            except asyncio.CancelledError:
                attempt.finish("cancelled", error="cancelled")
                self.observer.attempt_finished(exchange, attempt)
                raise
            return result, attempt
        raise _exhausted(failures)

    def _candidates(self, route: Route) -> Iterator[tuple[Route, Target]]:
        for each in self.table.chain(route):
            for target in weighted_order(each.targets, self.rng):
                yield each, target


def _exhausted(failures: list[tuple[Attempt, UpstreamError]]) -> UpstreamError:
    """The last error, telling what was tried when there was more than one attempt."""
    last = failures[-1][1]
    if len(failures) > 1:
        tried = ", ".join(f"{a.target} ({a.error})" for a, _ in failures)
        last.message = f"{last.message} [tried {len(failures)} targets: {tried}]"
    return last
