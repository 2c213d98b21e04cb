"""Limits and budgets: the decision before a call, and its settlement after.

Per request, every limit that applies is asked at once (`LimitStore.admit`, one step, all or nothing):
the key's `rpm`, `tpm`, `max_concurrent` and budget, and the route's `rpm`, `tpm`, `max_concurrent`
(shared by every caller of the route). `tpm` counts an estimate before the call (the prompt's characters
/ 4, plus `max_tokens` or `max_completion_tokens` times `n`) and is corrected from the usage the upstream
reports once the call ended. A budget lets a call in while the key's spend in the period is below it
(spend is added after each call, so calls running at that moment may take it a little past the budget).

    admission = await limiter.admit(caller, route, "chat", body)   # raises RateLimitedError & co.
    ...the call... exchange's usage and cost known...
    await limiter.settle(admission, usage)                           # tokens corrected, slot freed, spend

Budget periods are calendar periods in UTC: `day`, `month`, or `total` (never resets).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

from gateway.access.keys import Caller
from gateway.errors import BudgetExceededError, LimitsUnavailableError, RateLimitedError
from gateway.routing.table import Route
from gateway.state import LimitStore, Rate, RateState, Slot, StateUnavailableError, Usage, Verdict

MINUTE = 60.0
KEEP_S = {"day": 40 * 86400.0, "month": 400 * 86400.0, "total": 0.0}  # how long Redis keeps a period's spend


_NO_HEADERS: tuple[tuple[bytes, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class Period:
    """One budget period: its id (part of the ledger's name), start and end (None for `total`)."""

    id: str
    start: datetime | None
    end: datetime | None


def period(kind: str, now: float) -> Period:
    """
    >>> period("month", 1796428800.0).id, period("day", 1796428800.0).end.isoformat()
    ('month:2026-12', '2026-12-06T00:00:00+00:00')
    """
    moment = datetime.fromtimestamp(now, UTC)
    if kind == "day":
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        return Period(f"day:{start:%Y-%m-%d}", start, start + timedelta(days=1))
    if kind == "month":
        start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
        return Period(f"month:{start:%Y-%m}", start, end)
    return Period("total", None, None)


class Admission:
    """A request let in: what it took, to give back or correct when it ends (`rates` and `slots`), where its
    spend goes (`ledger`, kept `keep_s` in Redis), and the x-ratelimit-* `headers` for its answer."""

    __slots__ = ("lease", "ledger", "keep_s", "rates", "slots", "tpm", "headers", "settled")

    def __init__(self, lease: str, ledger: str | None = None, keep_s: float = 0.0, rates: tuple[Rate, ...] = (),
                 slots: tuple[Slot, ...] = (), tpm: tuple[int, ...] = (),
                 headers: Sequence[tuple[bytes, bytes]] = _NO_HEADERS) -> None:
        self.lease, self.ledger, self.keep_s = lease, ledger, keep_s
        self.rates, self.slots, self.tpm = rates, slots, tpm  # tpm: which of `rates` count tokens
        self.headers = headers
        self.settled = False


@dataclass(frozen=True, slots=True)
class _Plan:
    """What limits one (caller, route) pair: made once per config, not per request."""

    rates: tuple[Rate, ...]  # rpm rates as they are (cost 1); tpm rates get the request's estimate as cost
    tpm: tuple[int, ...]  # which of `rates` count tokens
    slots: tuple[Slot, ...]
    asks: bool  # whether the store must be asked at all (any rate, slot or budget)


class Limiter:
    def __init__(
        self,
        store: LimitStore,
        *,
        prefix: str = "",
        on_backend_error: Literal["open", "closed"] = "open",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.prefix = prefix
        self.on_backend_error = on_backend_error
        self.clock = clock  # wall clock: budget periods
        self._plans: dict[tuple[str | None, str], _Plan] = {}
        # (key name, period kind) -> (start, end, ledger, period): made again only when the period changed
        self._ledgers: dict[tuple[str, str], tuple[float, float, str, Period]] = {}
        self._random = random.Random()
        # A store in this process decides and records synchronously (`decide`, `record`): the limiter calls
        # those directly, which saves a coroutine per request on the path the memory backend serves.
        self._decide = getattr(store, "decide", None)
        self._record = getattr(store, "record", None)

    def applies(self, caller: Caller | None, route: Route) -> bool:
        """Whether anything limits this request (if not, the store is never asked)."""
        if route.rpm is not None or route.tpm is not None or route.max_concurrent is not None:
            return True
        return caller is not None and (caller.limited or caller.budget_usd is not None)

    def ledger(self, name: str, kind: str, now: float | None = None) -> tuple[str, Period]:
        """The ledger of a key's spend in the period `now` is in (made once per period)."""
        now = self.clock() if now is None else now
        cached = self._ledgers.get((name, kind))
        if cached is not None and cached[0] <= now < cached[1]:
            return cached[2], cached[3]
        found = period(kind, now)
        ledger = f"{self.prefix}spend:{found.id}:{quote(name, safe='')}"
        start = -math.inf if found.start is None else found.start.timestamp()
        self._ledgers[(name, kind)] = (start, math.inf if found.end is None else found.end.timestamp(), ledger, found)
        return ledger, found

    async def admit(self, caller: Caller | None, route: Route, operation: str, body: Mapping[str, Any]) -> Admission:
        """Let the request in, or raise RateLimitedError / BudgetExceededError / LimitsUnavailableError."""
        plan = self._plans.get((caller.name if caller is not None else None, route.model)) or self._plan(caller, route)
        rates = plan.rates
        if plan.tpm:
            tokens = estimate_tokens(operation, body)
            costed = list(rates)
            for i in plan.tpm:
                rate = rates[i]
                costed[i] = Rate(rate.key, rate.limit, rate.period_s, tokens, True)
            rates = tuple(costed)
        lease = f"{self._random.getrandbits(64):016x}" if plan.slots else ""  # unique, not secret
        budget: tuple[str, float] | None = None
        ledger, found, keep = None, None, 0.0
        if caller is not None:
            ledger, found = self.ledger(caller.name, caller.budget_period)
            keep = KEEP_S[caller.budget_period]
            if caller.budget_usd is not None:
                budget = (ledger, caller.budget_usd)
        if not plan.asks:
            return Admission(lease, ledger, keep)  # spend recorded, nothing asked
        try:
            if self._decide is not None:  # a store in this process: no coroutine per request
                verdict = self._decide(rates, plan.slots, lease, budget)
            else:
                verdict = await self.store.admit(rates, plan.slots, lease, budget)
        except StateUnavailableError:
            if self.on_backend_error == "closed":
                raise LimitsUnavailableError(
                    "Limits cannot be checked right now (their store is unavailable), and this gateway refuses "
                    "calls meanwhile ([limits] on_backend_error = \"closed\"). Try again shortly."
                ) from None
            # open: let in, unlimited. The slots go along so that settling frees them, in case the store
            # did take them after all (a Redis that was slow, not down, runs the command late).
            return Admission(lease, ledger, keep, slots=plan.slots)
        if verdict.refused is not None:
            raise self._refusal(verdict, caller, route, rates, plan.slots, found)
        return Admission(lease, ledger, keep, rates, plan.slots, plan.tpm,
                         rate_headers(rates, verdict.rates) if rates else _NO_HEADERS)

    @property
    def local(self) -> bool:
        """Whether the store is in this process (settling then needs no await)."""
        return self._record is not None

    def settle_now(self, admission: Admission, usage: Usage) -> None:
        """`settle` for a store in this process, synchronously (Accounting does it as the request finishes)."""
        if self._record is not None and not admission.settled:
            admission.settled = True
            if admission.tpm or admission.slots:
                self._record(*self._settlement(admission, usage))
            elif admission.ledger is not None:
                self._record((), (), "", (admission.ledger, usage, admission.keep_s))

    async def settle(self, admission: Admission, usage: Usage) -> None:
        """The call ended: correct the token estimate, free the slots, add the spend. Once per admission."""
        if admission.settled:
            return
        admission.settled = True
        try:
            await self.store.settle(*self._settlement(admission, usage))
        except StateUnavailableError:
            pass  # counted and logged by the store's connection; those slots expire after lease_s

    def _settlement(
        self, admission: Admission, usage: Usage
    ) -> tuple[tuple[Rate, ...], tuple[Slot, ...], str, tuple[str, Usage, float] | None]:
        corrections: tuple[Rate, ...] = ()
        if admission.tpm:
            tokens = usage.input_tokens + usage.output_tokens
            corrections = tuple(Rate(r.key, r.limit, r.period_s, tokens - r.cost, True)
                                for r in (admission.rates[i] for i in admission.tpm) if tokens != r.cost)
        spend = None if admission.ledger is None else (admission.ledger, usage, admission.keep_s)
        return corrections, admission.slots, admission.lease, spend

    async def usage(self, callers: list[tuple[str, str]]) -> list[tuple[Usage, Period]]:
        """Each (key name, budget period)'s figures in its current period."""
        now = self.clock()
        ledgers = [self.ledger(name, kind, now) for name, kind in callers]
        figures = await self.store.usage([ledger for ledger, _ in ledgers])
        return [(usage, found) for usage, (_, found) in zip(figures, ledgers, strict=True)]

    # -- helpers ----------------------------------------------------------------------------------------

    def _plan(self, caller: Caller | None, route: Route) -> _Plan:
        rates: list[Rate] = []
        slots: list[Slot] = []
        owners: list[tuple[str, Caller | Route]] = [(f"r:{quote(route.model, safe='')}", route)]
        if caller is not None:
            owners.insert(0, (f"k:{quote(caller.name, safe='')}", caller))
        for scope, owner in owners:
            name = self.prefix + scope
            if owner.rpm is not None:
                rates.append(Rate(f"{name}:rpm", owner.rpm, MINUTE, 1))
            if owner.tpm is not None:
                rates.append(Rate(f"{name}:tpm", owner.tpm, MINUTE, 0, tpm=True))
            if owner.max_concurrent is not None:
                slots.append(Slot(f"{name}:conc", owner.max_concurrent))
        budget = caller is not None and caller.budget_usd is not None
        plan = _Plan(tuple(rates), tuple(i for i, r in enumerate(rates) if r.tpm), tuple(slots),
                     bool(rates or slots or budget))
        self._plans[(caller.name if caller is not None else None, route.model)] = plan
        return plan

    def _refusal(self, verdict: Verdict, caller: Caller | None, route: Route, rates: tuple[Rate, ...],
                 slots: tuple[Slot, ...], found: Period | None) -> RateLimitedError:
        if verdict.refused == "budget":
            assert caller is not None and caller.budget_usd is not None and found is not None
            return _over_budget(caller, verdict.spent_usd or 0.0, found, self.clock())
        refused = verdict.refused or ""
        who = f"key {caller.name}" if caller is not None and refused.startswith(f"{self.prefix}k:") \
            else f"model {route.model} (all callers together)"
        slot = next((s for s in slots if s.key == refused), None)
        if slot is not None:
            message = (f"Too many calls in flight for {who}: at most {slot.limit} at a time (max_concurrent). "
                       "Try again when one has finished.")
            error = RateLimitedError(message, type="requests", reason="max_concurrent", retry_after=1.0)
        else:
            rate = next(r for r in rates if r.key == refused)
            kind, unit = ("tpm", "tokens") if rate.tpm else ("rpm", "requests")
            wait = verdict.retry_after_s
            if wait is None and rate.tpm:
                message = (f"Request too large for {who}: about {int(rate.cost)} tokens (prompt and max_tokens) "
                           f"against a limit of {rate.limit} tokens per minute (tpm). Send a shorter prompt or a "
                           "lower max_tokens.")
            else:
                message = (f"Rate limit reached for {who}: {rate.limit} {unit} per minute ({kind}). "
                           f"Try again in {duration(wait or 0.0)}.")
            error = RateLimitedError(message, type=unit, reason=kind, retry_after=wait)
        error.headers.update((name.decode(), value.decode()) for name, value in rate_headers(rates, verdict.rates))
        return error


def _over_budget(caller: Caller, spent: float, found: Period, now: float) -> BudgetExceededError:
    budget = caller.budget_usd or 0.0
    message = (f"Key {caller.name} has spent ${spent:.4f} of its ${budget:.2f} budget for this "
               f"{caller.budget_period if caller.budget_period != 'total' else 'key (budget_period = total)'}")
    wait = None
    if found.end is not None:
        wait = max(0.0, found.end.timestamp() - now)
        message += f"; the budget resets at {found.end:%Y-%m-%dT%H:%M:%SZ} (in {duration(wait)})."
    else:
        message += "; it does not reset: raise budget_usd in the config to allow more."
    error = BudgetExceededError(message, retry_after=wait)
    error.headers.update({"x-gateway-budget-usd": f"{budget:g}", "x-gateway-spend-usd": f"{spent:.6f}"})
    if found.end is not None:
        error.headers["x-gateway-budget-reset"] = f"{found.end:%Y-%m-%dT%H:%M:%SZ}"
    return error


def rate_headers(rates: tuple[Rate, ...], states: tuple[RateState, ...]) -> list[tuple[bytes, bytes]]:
    """OpenAI's x-ratelimit-{limit,remaining,reset}-{requests,tokens}, of the tightest limit of each kind
    (the key's or the route's), as raw header pairs."""
    if len(rates) == 1 and states:  # one limit: the common case, no comparing
        unit = b"tokens" if rates[0].tpm else b"requests"
        return [(b"x-ratelimit-limit-" + unit, b"%d" % rates[0].limit),
                (b"x-ratelimit-remaining-" + unit, b"%d" % states[0].remaining),
                (b"x-ratelimit-reset-" + unit, duration(states[0].reset_s).encode())]
    requests: tuple[Rate, RateState] | None = None
    tokens: tuple[Rate, RateState] | None = None
    for rate, state in zip(rates, states, strict=False):
        if rate.tpm:
            if tokens is None or state.remaining * tokens[0].limit < tokens[1].remaining * rate.limit:
                tokens = (rate, state)
        elif requests is None or state.remaining * requests[0].limit < requests[1].remaining * rate.limit:
            requests = (rate, state)
    headers: list[tuple[bytes, bytes]] = []
    if requests is not None:
        headers += [(b"x-ratelimit-limit-requests", b"%d" % requests[0].limit),
                    (b"x-ratelimit-remaining-requests", b"%d" % requests[1].remaining),
                    (b"x-ratelimit-reset-requests", duration(requests[1].reset_s).encode())]
    if tokens is not None:
        headers += [(b"x-ratelimit-limit-tokens", b"%d" % tokens[0].limit),
                    (b"x-ratelimit-remaining-tokens", b"%d" % tokens[1].remaining),
                    (b"x-ratelimit-reset-tokens", duration(tokens[1].reset_s).encode())]
    return headers


def duration(seconds: float) -> str:
    """As OpenAI writes them: 20ms, 8.64s, 6m0s.

    >>> duration(0.02), duration(8.6412), duration(360.4), duration(7322)
    ('20ms', '8.64s', '6m0s', '2h2m2s')
    """
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    if seconds < 59.95:
        return f"{seconds:.3g}s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes}m{rest}s"


def estimate_tokens(operation: str, body: Mapping[str, Any]) -> int:
    """Tokens a request may use, before it is sent: its text's characters / 4 (about right for English and
    code in the usual tokenizers), 4 per message, plus the output it may ask for.

    >>> estimate_tokens("chat", {"messages": [{"role": "user", "content": "x" * 400}], "max_tokens": 50})
    154
    """
    chars, overhead = 0, 0
    if operation == "chat":
        messages = body.get("messages")
        for message in messages if isinstance(messages, list) else ():
            overhead += 4
            if isinstance(message, dict):
                chars += _chars(message.get("content"))
                for call in message.get("tool_calls") or ():
                    chars += _chars((call.get("function") or {}).get("arguments") if isinstance(call, dict) else None)
        chars += len(str(body["tools"])) if body.get("tools") else 0
    elif operation == "responses":  # sent natively: input items and instructions
        items = body.get("input")
        for item in items if isinstance(items, list) else [items]:
            overhead += 4
            content = item.get("content") or item.get("output") or item.get("arguments") if isinstance(item, dict) \
                else item
            chars += _chars(content if isinstance(content, list) else [content])
        chars += _chars([body.get("instructions")]) + (len(str(body["tools"])) if body.get("tools") else 0)
    else:
        chars = _chars(body.get("prompt" if operation == "text_completion" else "input"))
    output = body.get("max_completion_tokens") or body.get("max_tokens") or body.get("max_output_tokens")
    if not isinstance(output, int) or isinstance(output, bool):
        output = 16 if operation == "text_completion" else 0  # the legacy API's own default
    n = body.get("n")
    count = n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1
    return math.ceil(chars / 4) + overhead + output * count


def _chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        total = 0
        for part in value:
            if isinstance(part, str):
                total += len(part)
            elif isinstance(part, int):
                total += 4  # a token id
            elif isinstance(part, list):
                total += 4 * len(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                total += len(part["text"])
        return total
    return 0
