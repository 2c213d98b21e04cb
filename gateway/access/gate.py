"""The gateway's door: who calls (keys), what they may ask for (allow-lists, limits, budgets), what it cost.

For one request, in this order (the endpoint and the access middleware call these):

    caller = access.authenticate(scope["headers"])      # None with keys configured: 401 (middleware.py)
    access.check_model(caller, route)                    # 403 when the key may not ask for it
    exchange.admission = await access.admit(caller, route, call)   # 429 / 503 (when anything limits it)
    ...the call...
    observer.request_finished(exchange)                  # Accounting: cost on the exchange and its attempts;
                                                         # a memory store is settled there and then
    await access.settle(exchange)                        # Redis: tokens corrected, slots freed, spend recorded

With no `[[keys]]` the gateway is open: every call is let in with no key name; route limits still apply.
"""

from __future__ import annotations

from collections.abc import Coroutine, Iterable
from datetime import datetime
from typing import Any

from gateway.access.keys import Caller, KeyRing
from gateway.access.limits import Admission, Limiter
from gateway.access.prices import PriceBook
from gateway.errors import ModelNotAllowedError
from gateway.events import Exchange, Observer
from gateway.providers.base import Call
from gateway.routing.table import Route
from gateway.state import Usage


class Access:
    def __init__(self, keys: KeyRing, prices: PriceBook, limiter: Limiter, callers: list[Caller]) -> None:
        self.keys = keys
        self.prices = prices
        self.limiter = limiter
        self.callers = callers  # every configured key, for the usage report
        self.open = keys.open  # no keys: every call is let in (a reload builds a new Access)

    def authenticate(self, headers: Iterable[tuple[bytes, bytes]]) -> Caller | None:
        return self.keys.authenticate(headers)

    def check_model(self, caller: Caller | None, route: Route) -> None:
        if caller is not None and not caller.allows(route.model):
            raise ModelNotAllowedError(
                f'The key "{caller.name}" may not call the model "{route.model}". '
                "Ask the gateway's operator to add it to the key's models.", param="model")

    def admit(self, caller: Caller | None, route: Route, call: Call) -> Coroutine[Any, Any, Admission] | None:
        """The limits' decision to await when something limits or accounts this request (a key, or a route
        with limits); None when nothing does. It raises RateLimitedError & co. when the request is refused."""
        if caller is not None or self.limiter.applies(caller, route):
            return self.limiter.admit(caller, route, call.operation, call.body)
        return None

    def account(self, exchange: Exchange) -> Usage:
        """What the request used and cost, from its attempts' usage and the answering targets' prices; the
        cost goes on the exchange and on each attempt that reported usage (an unpriced target adds none)."""
        if exchange.usage is not None:
            return exchange.usage  # type: ignore[no-any-return]
        input_tokens = output_tokens = 0
        cost: float | None = None
        for attempt in exchange.attempts:
            facts = attempt.facts
            if facts is None or (facts.input_tokens is None and facts.output_tokens is None):
                continue
            used_in, used_out = facts.input_tokens or 0, facts.output_tokens or 0
            input_tokens, output_tokens = input_tokens + used_in, output_tokens + used_out
            price = self.prices.get(attempt.route, attempt.provider, attempt.model)
            if price is not None:
                attempt.cost_usd = price.cost(used_in, used_out, facts.cached_input_tokens or 0)
                cost = (cost or 0.0) + attempt.cost_usd
        exchange.cost_usd = cost
        exchange.usage = Usage(1, input_tokens, output_tokens, cost or 0.0)
        return exchange.usage  # type: ignore[no-any-return]

    def finish(self, exchange: Exchange) -> None:
        """The request is over: its cost on the exchange, and with a store in this process, settled now."""
        usage = self.account(exchange)
        if exchange.admission is not None:
            self.limiter.settle_now(exchange.admission, usage)

    async def settle(self, exchange: Exchange) -> None:
        """Settle the request's admission (with Redis: a round trip), unless `finish` already did."""
        admission: Admission | None = exchange.admission
        if admission is not None and not admission.settled:
            await self.limiter.settle(admission, self.account(exchange))

    async def usage_report(self) -> dict[str, Any]:
        """`GET /admin/usage`: each key's figures in its current budget period."""
        figures = await self.limiter.usage([(c.name, c.budget_period) for c in self.callers])
        keys: dict[str, Any] = {}
        for caller, (usage, found) in zip(self.callers, figures, strict=True):
            keys[caller.name] = {
                "requests": usage.requests, "input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
                "cost_usd": round(usage.cost_usd, 9), "budget_usd": caller.budget_usd,
                "budget_remaining_usd": None if caller.budget_usd is None
                else round(max(0.0, caller.budget_usd - usage.cost_usd), 9),
                "budget_period": caller.budget_period, "period": found.id,
                "period_start": _iso(found.start), "resets_at": _iso(found.end),
            }
        return {"keys": keys, "backend": self.limiter.store.name}


class Accounting(Observer):
    """Puts each request's cost on its exchange before the observers after it (telemetry) are told it
    finished. Every other hook is the next observer's own method: nothing more on the request path."""

    def __init__(self, access: Access, then: Observer) -> None:
        self.access = access
        self.then = then
        self.attempt_started = then.attempt_started  # type: ignore[method-assign]
        self.first_chunk = then.first_chunk  # type: ignore[method-assign]
        self.attempt_finished = then.attempt_finished  # type: ignore[method-assign]
        self.target_cooldown = then.target_cooldown  # type: ignore[method-assign]
        self.request_coalesced = then.request_coalesced  # type: ignore[method-assign]
        self.cache_changed = then.cache_changed  # type: ignore[method-assign]
        self.cache_error = then.cache_error  # type: ignore[method-assign]
        self.request_refused = then.request_refused  # type: ignore[method-assign]
        self.limits_error = then.limits_error  # type: ignore[method-assign]
        self.responses_error = then.responses_error  # type: ignore[method-assign]

    def request_finished(self, exchange: Exchange) -> None:
        if exchange.reported:  # a shared upstream call that outlived its first client: it was reported then
            return
        exchange.reported = True
        self.access.finish(exchange)
        self.then.request_finished(exchange)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else f"{moment:%Y-%m-%dT%H:%M:%SZ}"
