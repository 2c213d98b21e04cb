"""The response cache: identical requests answered from a store, concurrent identical misses coalesced.

For one request the endpoint asks for a `Ticket` (None: the cache does not apply, `x-gateway-cache:
bypass`), then for the `answer`, handing over how to make the upstream call should one be needed:

    ticket = cache.ticket(exchange, route, call, request.headers)
    cached = await cache.answer(ticket, upstream)     # a hit, or the one shared upstream call
    # cached.body (JSON bytes) or cached.events (SSE bytes), cached.headers

The pieces: `keys` (identity), `store` with its backends `memory` and `redis`, `flight` (coalescing)
and `replay` (streams to answers and back). Only finished, complete answers are stored: an upstream
error, a stream that was cut or ended with an error event, never.

Control, per request: `Cache-Control: no-cache` (skip the read, store the fresh answer), `no-store`
(neither), `x-gateway-cache-ttl: SECONDS` (this answer's lifetime; 0: do not store). Per route:
`cache = false`, `cache_ttl_s`. Requests pinned to a target (`x-gateway-target`) bypass the cache:
they are for looking at one target.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.cache import replay
from gateway.cache.flight import Flight, Flights, State
from gateway.cache.keys import Identity, deterministic
from gateway.cache.memory import MemoryStore
from gateway.cache.store import Entry, Store
from gateway.config import CacheConfig
from gateway.errors import GatewayError, InvalidRequestError
from gateway.events import Exchange, Observer
from gateway.providers.base import Call, Facts
from gateway.routing.table import Route
from gateway.sse import SSEDecoder

TTL_HEADER = "x-gateway-cache-ttl"


@dataclass(slots=True)
class Ticket:
    """One request's way through the cache."""

    key: str
    exchange: Exchange
    read: bool  # False for `Cache-Control: no-cache`
    ttl_s: float  # the stored answer's lifetime; 0: not stored
    stream: bool
    include_usage: bool


@dataclass(slots=True)
class Upstream:
    """One upstream answer, as the request path hands it to the cache: complete, or a started stream
    (SSE bytes as the client would get them)."""

    provider: str
    body: bytes | None = None
    events: AsyncIterator[bytes] | None = None
    facts: Callable[[], Facts | None] = lambda: None  # a stream's usage when it did not carry it
    reports: bool = False  # the stream tells the observer itself when the request finished


class Relay:
    """The SSE bytes of one cached or shared answer; `on_end` runs once when it is over, however it ends."""

    def __init__(self, chunks: AsyncGenerator[bytes, None], close: Callable[[], None]) -> None:
        self.chunks = chunks
        self.close = close
        self.on_end: Callable[[], None] | None = None
        self._ended = False

    def __aiter__(self) -> Relay:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await anext(self.chunks)
        except BaseException:
            self._end()
            raise

    async def aclose(self) -> None:
        try:
            await self.chunks.aclose()
        finally:
            self._end()

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            self.close()
            if self.on_end is not None:
                self.on_end()


@dataclass(slots=True)
class Cached:
    """What the endpoint sends: `body` (JSON) for a non-stream request, `events` (SSE) for a stream."""

    result: str  # "hit" | "miss"
    provider: str
    body: bytes = b""
    events: Relay | None = None
    age: float | None = None
    headers: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.headers = {"x-gateway-cache": self.result}
        if self.provider:
            self.headers["x-gateway-provider"] = self.provider
        if self.age is not None:
            self.headers["age"] = str(int(self.age))


class ResponseCache:
    def __init__(
        self,
        config: CacheConfig,
        store: Store,
        observer: Observer,
        *,
        clock: Callable[[], float] = time.time,
        poll_s: float = 0.05,
    ) -> None:
        self.config = config
        self.store = store
        self.observer = observer
        self.clock = clock
        self.poll_s = poll_s  # how often a replica that found the lock taken looks for the entry
        self.identity = Identity(config.key_prefix, frozenset(config.ignore_fields), config.shared)
        self.flights = Flights()

    def ticket(
        self, exchange: Exchange, route: Route, call: Call, headers: Mapping[str, str], *, pinned: bool = False
    ) -> Ticket | None:
        """How this request uses the cache; None (and `exchange.cache = "bypass"`) when it does not."""
        directives = _directives(headers.get("cache-control"))
        ttl = _ttl(headers.get(TTL_HEADER))
        if (
            not route.cache
            or pinned
            or "no-store" in directives
            or (self.config.deterministic_only and not deterministic(call.operation, call.body))
            or (call.stream and call.operation == "responses")  # a native Responses stream: the cache keeps chat's
        ):
            exchange.cache = "bypass"
            return None
        if ttl is None:
            ttl = route.cache_ttl_s or self.config.ttl_s
        key = self.identity.key(route.model, call.operation, call.body, exchange.key_name, route.cache_shared)
        read = "no-cache" not in directives
        return Ticket(key, exchange, read, ttl, call.stream, call.stream and replay.wants_usage(call.body))

    async def answer(self, ticket: Ticket, upstream: Callable[[], Awaitable[Upstream]]) -> Cached:
        """A hit, or the answer of the one upstream call that identical concurrent misses share.
        Raises the upstream call's `GatewayError` when it failed before answering."""
        exchange = ticket.exchange
        if ticket.read and (entry := await self.store.get(ticket.key)) is not None:
            exchange.cache = "hit"
            return self._replay(ticket, entry)
        exchange.cache = "miss"
        flight, leader = self.flights.join(
            ticket.key, exchange, lambda f: self._fly(ticket, f, upstream), self.config.coalesce
        )
        try:
            await flight.wait(lambda: flight.state is not State.WAITING and (ticket.stream or flight.over))
            if not leader:  # now that the leader's attempt exists, for a span link to it
                self.observer.request_coalesced(exchange, flight.leader)
            flight.outcome()
            if flight.entry is not None:
                exchange.cache = "hit"  # another replica's answer, stored while this one waited for it
            age = None if flight.entry is None else max(0.0, self.clock() - flight.entry.stored_at)
            if not ticket.stream:
                body = flight.complete_body()
                self.flights.leave(flight)
                return Cached(exchange.cache, flight.provider, body, age=age)
        except BaseException:
            self.flights.leave(flight)
            raise
        reported = leader and flight.reports

        def close() -> None:
            self.flights.leave(flight)
            if not reported:
                self.observer.request_finished(exchange)

        events = Relay(flight.relay(ticket.include_usage), close)
        return Cached(exchange.cache, flight.provider, events=events, age=age)

    async def purge(self, route: str | None = None) -> int | None:
        """Remove every entry, or one route's; how many (None: the backend could not be reached)."""
        prefix = self.identity.route_prefix(route) if route is not None else self.config.key_prefix
        return await self.store.purge(prefix)

    def stats(self) -> dict[str, int | str]:
        return {**self.store.stats(), "in_flight": len(self.flights.active)}

    async def aclose(self) -> None:
        await self.store.aclose()  # flights in progress end with their requests; their stores become misses

    # -- a hit ----------------------------------------------------------------------------------------

    def _replay(self, ticket: Ticket, entry: Entry) -> Cached:
        age = max(0.0, self.clock() - entry.stored_at)
        if not ticket.stream:
            return Cached("hit", entry.provider, entry.body, age=age)
        exchange = ticket.exchange
        stream = _once(replay.to_sse(entry.body, ticket.include_usage))
        events = Relay(stream, lambda: self.observer.request_finished(exchange))
        return Cached("hit", entry.provider, events=events, age=age)

    # -- a miss: the one upstream call ----------------------------------------------------------------

    async def _fly(self, ticket: Ticket, flight: Flight, upstream: Callable[[], Awaitable[Upstream]]) -> None:
        """Make the call (or take another replica's answer) and store a complete answer before the flight
        ends: whoever asks once it has ended finds the entry."""
        began = self.clock()
        locked = await self.store.lock(ticket.key, self.config.lock_wait_s)
        try:
            if not locked:
                entry, locked = await self._wait_for_replica(ticket.key, began)
                if entry is not None:
                    flight.finish(entry.provider, entry.body, entry)
                    return
            source = await upstream()
            if source.events is None:
                body = source.body
            else:
                body = await self._record(flight, source)
            if body is not None:
                await self._store(ticket, source.provider, body)
        except GatewayError as exc:
            flight.fail(exc)
            return
        finally:
            if locked:
                await self.store.unlock(ticket.key)
        flight.finish(source.provider, body)

    async def _record(self, flight: Flight, source: Upstream) -> bytes | None:
        """Relay a started stream to the flight's subscribers; the assembled answer if it ended normally."""
        assert source.events is not None
        flight.start(source.provider, source.reports)
        pieces = flight.pieces
        assert pieces is not None
        assembler, decoder, kind = replay.Assembler(), SSEDecoder(), replay.CHUNK
        try:
            async for data in source.events:
                for event in decoder.feed(data):
                    kind = assembler.feed(event.data)
                    if kind == replay.DONE:
                        flight.usage = assembler.usage or _usage(source.facts())
                        flight.head, flight.completion = assembler.head, assembler.completion
                    pieces.append((event.data, kind))
                flight.notify()
        finally:
            if (aclose := getattr(source.events, "aclose", None)) is not None:
                await aclose()  # the stream's own cleanup (closing the upstream response) runs now
        return assembler.body(flight.usage) if kind == replay.DONE else None

    async def _store(self, ticket: Ticket, provider: str, body: bytes) -> None:
        if ticket.ttl_s <= 0 or len(body) > self.config.max_entry_bytes:
            return
        now = self.clock()
        await self.store.set(ticket.key, Entry(body, provider, now, now + ticket.ttl_s))

    async def _wait_for_replica(self, key: str, since: float) -> tuple[Entry | None, bool]:
        """Another replica holds the lock for this call: wait a short while for the answer it stores, or
        for the lock (it gave up, or finished without storing). (entry, whether we hold the lock now)."""
        deadline = time.monotonic() + self.config.lock_wait_s
        while time.monotonic() < deadline:
            await asyncio.sleep(self.poll_s)
            entry = await self.store.get(key)
            if entry is not None and entry.stored_at >= since:  # not the entry a no-cache request skipped
                return entry, False
            if await self.store.lock(key, self.config.lock_wait_s):
                return None, True
        return None, False


def build_cache(
    config: CacheConfig, observer: Observer, *, clock: Callable[[], float] = time.time
) -> ResponseCache | None:
    """The cache `[cache]` describes; None for `backend = "none"`."""
    store: Store
    if config.backend == "none":
        return None
    if config.backend == "redis":
        from gateway.cache.redis import RedisStore  # imports the redis client only when it is used

        store = RedisStore(config.redis_url, prefix=config.key_prefix, timeout_s=config.redis_timeout_s,
                           retry_s=config.redis_retry_s, observer=observer, clock=clock)
    else:
        store = MemoryStore(config.max_entries, config.max_bytes, observer=observer, clock=clock)
    return ResponseCache(config, store, observer, clock=clock)


async def _once(data: bytes) -> AsyncGenerator[bytes, None]:
    yield data


def _directives(value: str | None) -> frozenset[str]:
    if not value:
        return frozenset()
    return frozenset(part.split("=", 1)[0].strip().lower() for part in value.split(","))


def _ttl(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds < math.inf:
        raise InvalidRequestError(f"{TTL_HEADER} must be a number of seconds (0: do not store)", param=TTL_HEADER)
    return seconds


def _usage(facts: Facts | None) -> dict[str, Any] | None:
    if facts is None or facts.input_tokens is None or facts.output_tokens is None:
        return None
    total = facts.input_tokens + facts.output_tokens
    return {"prompt_tokens": facts.input_tokens, "completion_tokens": facts.output_tokens, "total_tokens": total}
