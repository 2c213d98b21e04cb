"""Redis: the connection every Redis-backed feature shares the failure rules of, and limits in Redis.

`RedisConnection` bounds every command by `timeout_s` and never retries it: a Redis that is slow or down
is a failure at once (`StateUnavailableError`), logged once per outage, reported through `on_error`, and
left alone for `retry_s` before a command tries it again; the first command that works after an outage
logs that it is back. The response cache (cache/redis.py) and the limits below use it.

`RedisLimits` takes a request's whole decision, and later its settlement, in one Lua script each: one
round trip, atomic, so every replica enforces one limit and one budget per key. Rates are GCRA (the rule
of `gateway.state.gcra`, in microseconds of Redis' own clock, so replicas' clocks do not matter); slots are
a sorted set of leases that expire after `lease_s` (a replica that dies mid-call frees its slots then);
spend is a hash per key and budget period.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from gateway.state import Rate, RateState, Slot, StateUnavailableError, Usage, Verdict

T = TypeVar("T")

# Times are microseconds since EPOCH (2025-01-01), not since 1970: a double then still resolves a hundredth
# of a microsecond, so "remaining" comes out whole even when an interval is no whole number of microseconds.
EPOCH = 1735689600

# KEYS: rates, slots, [ledger]. ARGV: #rates, #slots, lease, lease_ms, budget ("" for none),
# then (limit, period_us, cost) per rate, then limit per slot.
# Returns {refused ("" when let in), spent, wait_us (-1: never), (remaining, reset_us) per rate}.
ADMIT = """
local nr, ns = tonumber(ARGV[1]), tonumber(ARGV[2])
local lease, lease_ms, budget = ARGV[3], tonumber(ARGV[4]), ARGV[5]
local spent = ''
if budget ~= '' then
  spent = redis.call('HGET', KEYS[nr + ns + 1], 'cost_usd') or '0'
  if tonumber(spent) >= tonumber(budget) then return {'budget', spent, 0} end
end
local t = redis.call('TIME')
local now = (tonumber(t[1]) - EPOCH) * 1000000 + tonumber(t[2])
local out = {'', spent, 0}
local tats = {}
local refused, wait = '', 0
for i = 1, nr do
  local at = 5 + 3 * (i - 1)
  local limit, period, cost = tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2]), tonumber(ARGV[at + 3])
  local interval = period / limit
  local base = math.max(tonumber(redis.call('GET', KEYS[i]) or '0'), now)
  local new = base + cost * interval
  local over = new - now - period
  if over > 0.5 then
    if refused == '' then refused = KEYS[i] end
    if cost > limit or wait < 0 then wait = -1 else wait = math.max(wait, over) end
    new = base
  else
    tats[i] = new
  end
  out[#out + 1] = math.floor((period - (new - now)) / interval + 1e-6)
  out[#out + 1] = math.floor(new - now)
end
if refused == '' then
  for j = 1, ns do
    local key = KEYS[nr + j]
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    if redis.call('ZCARD', key) >= tonumber(ARGV[5 + 3 * nr + j]) then
      refused, wait = key, 1000000
      break
    end
  end
end
if refused ~= '' then
  out[1], out[3] = refused, math.floor(wait)
  return out
end
for i = 1, nr do
  redis.call('SET', KEYS[i], string.format('%.0f', tats[i]), 'PX', math.ceil((tats[i] - now) / 1000) + 1)
end
for j = 1, ns do
  redis.call('ZADD', KEYS[nr + j], now + lease_ms * 1000, lease)
  redis.call('PEXPIRE', KEYS[nr + j], lease_ms)
end
return out
"""

# KEYS: corrected rates, slots, [ledger]. ARGV: #rates, #slots, lease, then (limit, period_us, cost) per
# rate, then with a ledger: requests, input tokens, output tokens, cost (USD), seconds to keep it (0: ever).
SETTLE = """
local nr, ns, lease = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local t = redis.call('TIME')
local now = (tonumber(t[1]) - EPOCH) * 1000000 + tonumber(t[2])
for i = 1, nr do
  local at = 3 + 3 * (i - 1)
  local limit, period, cost = tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2]), tonumber(ARGV[at + 3])
  local tat = math.max(tonumber(redis.call('GET', KEYS[i]) or '0'), now)
  local new = math.max(tat + cost * period / limit, now)
  if new > now then
    redis.call('SET', KEYS[i], string.format('%.0f', new), 'PX', math.ceil((new - now) / 1000) + 1)
  else
    redis.call('DEL', KEYS[i])
  end
end
for j = 1, ns do
  redis.call('ZREM', KEYS[nr + j], lease)
end
if #KEYS > nr + ns then
  local key, at = KEYS[nr + ns + 1], 3 + 3 * nr
  redis.call('HINCRBY', key, 'requests', ARGV[at + 1])
  redis.call('HINCRBY', key, 'input_tokens', ARGV[at + 2])
  redis.call('HINCRBY', key, 'output_tokens', ARGV[at + 3])
  redis.call('HINCRBYFLOAT', key, 'cost_usd', ARGV[at + 4])
  if tonumber(ARGV[at + 5]) > 0 then redis.call('EXPIRE', key, ARGV[at + 5]) end
end
return 1
"""

USAGE_FIELDS = ("requests", "input_tokens", "output_tokens", "cost_usd")


class RedisConnection:
    """One Redis client with the gateway's failure rules (see the module's docstring)."""

    def __init__(
        self,
        url: str,
        *,
        feature: str,
        meanwhile: str,
        back: str,
        timeout_s: float = 0.25,
        retry_s: float = 1.0,
        on_error: Callable[[str], None] = lambda kind: None,
    ) -> None:
        self.client = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),  # an answer now beats a better one later: no retries on the request path
            health_check_interval=0,
        )
        self.url, self.feature, self.meanwhile, self.back = url, feature, meanwhile, back
        self.timeout_s, self.retry_s = timeout_s, retry_s
        self.on_error = on_error
        self.errors = 0
        self.down = False
        self._resting_until = 0.0  # time.monotonic(): no command before then, after a failure

    async def run(self, command: str, call: Callable[[], Awaitable[T]], timeout_s: float | None = None) -> T:
        """`call()` within the timeout; raises StateUnavailableError when Redis is down, slow or resting."""
        if self.down and time.monotonic() < self._resting_until:
            raise StateUnavailableError(f"Redis at {safe_url(self.url)} is unavailable", unsent=True)
        try:
            async with asyncio.timeout(timeout_s or self.timeout_s):
                result = await call()
        except (RedisError, OSError, TimeoutError) as exc:
            self.failed(command, exc)
            refused = isinstance(exc, ConnectionRefusedError) or isinstance(exc.__cause__, ConnectionRefusedError)
            raise StateUnavailableError(f"Redis at {safe_url(self.url)} is unavailable", unsent=refused) from None
        self.recovered()
        return result

    def failed(self, command: str, exc: BaseException) -> None:
        self.errors += 1
        self._resting_until = time.monotonic() + self.retry_s
        kind = "timeout" if isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__ else "unavailable"
        if not self.down:
            self.down = True
            logging.getLogger(f"gateway.{self.feature}").warning(
                "%s: Redis at %s failed (%s on %s: %s); %s until it is back", self.feature, safe_url(self.url),
                kind, command, type(exc).__name__, self.meanwhile)
        self.on_error(kind)

    def recovered(self) -> None:
        if self.down:
            self.down = False
            logging.getLogger(f"gateway.{self.feature}").warning(
                "%s: Redis at %s is back; %s", self.feature, safe_url(self.url), self.back)

    async def aclose(self) -> None:
        await self.client.aclose()


class RedisLimits:
    name = "redis"

    def __init__(self, connection: RedisConnection, *, lease_s: float = 600.0) -> None:
        self.connection = connection
        self.lease_ms = max(1, int(lease_s * 1000))
        self._admit = connection.client.register_script(ADMIT.replace("EPOCH", str(EPOCH)))
        self._settle = connection.client.register_script(SETTLE.replace("EPOCH", str(EPOCH)))
        # Spend that never reached Redis (down): ledger -> (usage, seconds to keep it), added once it answers.
        self.held: dict[str, tuple[Usage, float]] = {}

    async def admit(self, rates: Sequence[Rate], slots: Sequence[Slot], lease: str,
                    budget: tuple[str, float] | None) -> Verdict:
        if self.held and budget is not None:
            await self.write_held()  # before the budget is read: what was spent during the outage counts
        keys = [r.key for r in rates] + [s.key for s in slots] + ([budget[0]] if budget else [])
        args: list[Any] = [len(rates), len(slots), lease, self.lease_ms, "" if budget is None else repr(budget[1])]
        for rate in rates:
            args += [rate.limit, _us(rate.period_s), repr(float(rate.cost))]
        args += [slot.limit for slot in slots]
        reply = await self.connection.run("admit", lambda: self._admit(keys=keys, args=args))
        refused, spent, wait = _text(reply[0]), _text(reply[1]), int(reply[2])
        numbers = [int(n) for n in reply[3:]]
        states = tuple(RateState(numbers[i], numbers[i + 1] / 1e6) for i in range(0, len(numbers), 2))
        return Verdict(refused or None, states, None if wait < 0 else wait / 1e6, float(spent) if spent else None)

    async def settle(self, corrections: Sequence[Rate], slots: Sequence[Slot], lease: str,
                     spend: tuple[str, Usage, float] | None) -> None:
        keys = [r.key for r in corrections] + [s.key for s in slots] + ([spend[0]] if spend else [])
        args: list[Any] = [len(corrections), len(slots), lease]
        for rate in corrections:
            args += [rate.limit, _us(rate.period_s), repr(float(rate.cost))]
        if spend is not None:
            args += _ledger_args(spend[1], spend[2])
        await self._settle_once(keys, args, spend)
        if self.held:
            await self.write_held()

    async def _settle_once(self, keys: list[str], args: list[Any], spend: tuple[str, Usage, float] | None) -> None:
        try:
            await self.connection.run("settle", lambda: self._settle(keys=keys, args=args))
        except StateUnavailableError as exc:
            # The slots expire after lease_s and a token correction is lost, but the spend is held here when
            # Redis certainly did not record it. Not after a timeout: it may have, and adding it twice would be
            # as wrong as losing it.
            if exc.unsent and spend is not None:
                self._hold(*spend)
            raise

    def held_spend(self) -> Usage:
        """All the spend held through an outage, not yet in Redis (for /admin/status)."""
        total = Usage()
        for usage, _ in self.held.values():
            total = total.plus(usage)
        return total

    def _hold(self, ledger: str, usage: Usage, keep_s: float) -> None:
        held = self.held.get(ledger)
        self.held[ledger] = (usage if held is None else held[0].plus(usage), keep_s)

    async def write_held(self) -> None:
        """Add the spend held through an outage, each ledger once: what certainly did not reach Redis stays
        held, what may have (a timeout) is not held again. Tried by the next admission with a budget, the next
        settlement, `usage` and `aclose` while anything is held."""
        held, self.held = self.held, {}
        for ledger, (usage, keep_s) in held.items():
            try:
                # (held again when unsent)
                await self._settle_once([ledger], [0, 0, "", *_ledger_args(usage, keep_s)], (ledger, usage, keep_s))
            except StateUnavailableError:
                pass

    async def usage(self, ledgers: Sequence[str]) -> list[Usage]:
        if self.held:
            await self.write_held()

        async def read() -> list[Any]:
            async with self.connection.client.pipeline(transaction=False) as pipe:
                for ledger in ledgers:
                    pipe.hmget(ledger, USAGE_FIELDS)
                return list(await pipe.execute())

        rows = await self.connection.run("usage", read, timeout_s=max(1.0, 4 * self.connection.timeout_s))
        return [Usage(int(r[0] or 0), int(r[1] or 0), int(r[2] or 0), float(r[3] or 0)) for r in rows]

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        if self.held:
            await self.write_held()  # the last chance: what Redis still does not take is lost (logged)
            for ledger, (usage, _) in self.held.items():
                logging.getLogger("gateway.limits").warning(
                    "limits: Redis is unavailable at shutdown; spend of %.6f USD (%d requests) on ledger %s is "
                    "lost", usage.cost_usd, usage.requests, ledger)
        await self.connection.aclose()


def safe_url(url: str) -> str:
    """The URL without a password, for logs."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}" if sep else url


def _ledger_args(usage: Usage, keep_s: float) -> list[Any]:
    """SETTLE's arguments for a ledger: the usage to add, and how long Redis keeps it."""
    return [usage.requests, usage.input_tokens, usage.output_tokens, f"{usage.cost_usd:.12f}", int(keep_s)]


def _us(seconds: float) -> int:
    return int(seconds * 1_000_000)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
