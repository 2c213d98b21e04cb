"""The cache's policy and its lookup/store/coalesce cycle (gateway/cache/__init__.py), on both backends,
with an injected clock; the HTTP side is in test_e2e.py."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest

from gateway.cache import Cached, ResponseCache, Upstream, build_cache
from gateway.config import CacheConfig, ConfigError, RetryConfig, RouteConfig, TargetConfig, parse_config
from gateway.errors import InvalidRequestError, UpstreamStatusError
from gateway.events import Exchange, NoopObserver
from gateway.providers.base import Call
from gateway.routing.table import Route
from tests.cache.test_store import Clock

BODY: dict[str, Any] = {"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}
ANSWER = b'{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[]}'
Make = Callable[..., ResponseCache]


def route(**keys: Any) -> Route:
    config = RouteConfig(model="gpt", targets=[TargetConfig(provider="p", model="m")], **keys)
    return Route.from_config(config, {}, RetryConfig())


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory", "redis"])
async def make(request: pytest.FixtureRequest, clock: Clock) -> AsyncIterator[Make]:
    made: list[ResponseCache] = []
    extra = {}
    if request.param == "redis":
        extra = {"redis_url": request.getfixturevalue("redis_url"), "key_prefix": f"u{uuid.uuid4().hex[:8]}:"}

    def factory(**keys: Any) -> ResponseCache:
        cache = build_cache(CacheConfig(backend=request.param, **{**extra, **keys}), NoopObserver(), clock=clock)
        assert cache is not None
        made.append(cache)
        return cache

    yield factory
    for cache in made:
        await cache.aclose()


class Upstreams:
    """Counts upstream calls; answers ANSWER (or raises `fail`) after `gate` opens."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail: Exception | None = None
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self) -> Upstream:
        self.calls += 1
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return Upstream("openai-main", body=ANSWER)


Call_ = Callable[[], Awaitable[Upstream]]


async def ask(cache: ResponseCache, upstream: Call_, *, headers: dict[str, str] | None = None,
              body: dict[str, Any] | None = None, on: Route | None = None) -> Cached | None:
    exchange = Exchange("r", "chat")
    body = body or BODY
    ticket = cache.ticket(exchange, on or route(), Call("chat", body, stream=body.get("stream") is True), headers or {})
    if ticket is None:
        assert exchange.cache == "bypass"
        return None
    cached = await cache.answer(ticket, upstream)
    assert exchange.cache == cached.result
    return cached


async def joined(cache: ResponseCache, count: int) -> None:
    """Until `count` requests wait on the flight: each looks the key up first, Redis round trips included, so
    a fixed pause is a race on a busy machine."""
    for _ in range(500):
        if sum(flight.subscribers for flight in cache.flights.active.values()) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} requests did not join one flight within 5 s")


async def result(cache: ResponseCache, upstream: Call_, **how: Any) -> str:
    cached = await ask(cache, upstream, **how)
    return "bypass" if cached is None else cached.result


async def test_miss_then_hit_with_its_age(make: Make, clock: Clock) -> None:
    cache, upstream = make(), Upstreams()
    first = await ask(cache, upstream)
    assert first is not None and first.result == "miss" and first.body == ANSWER
    assert first.headers == {"x-gateway-cache": "miss", "x-gateway-provider": "openai-main"}
    clock.now += 42.7
    second = await ask(cache, upstream)
    assert second is not None and second.result == "hit" and second.body == ANSWER
    assert second.headers["age"] == "42" and upstream.calls == 1


async def test_ttl_expiry_on_the_injected_clock(make: Make, clock: Clock) -> None:
    cache, upstream = make(ttl_s=30), Upstreams()
    await ask(cache, upstream)
    clock.now += 29
    assert await result(cache, upstream) == "hit"
    clock.now += 2
    assert await result(cache, upstream) == "miss"
    assert upstream.calls == 2


async def test_per_route_ttl_and_per_request_ttl(make: Make, clock: Clock) -> None:
    cache, upstream = make(ttl_s=600), Upstreams()
    short = route(cache_ttl_s=5)
    await ask(cache, upstream, on=short)
    clock.now += 6
    assert await result(cache, upstream, on=short) == "miss"
    other = {**BODY, "messages": [{"role": "user", "content": "other"}]}
    await ask(cache, upstream, body=other, headers={"x-gateway-cache-ttl": "1"})
    clock.now += 2
    assert await result(cache, upstream, body=other) == "miss"
    third = {**BODY, "messages": [{"role": "user", "content": "third"}]}
    await ask(cache, upstream, body=third, headers={"x-gateway-cache-ttl": "0"})  # 0: not stored
    assert await result(cache, upstream, body=third) == "miss"
    assert upstream.calls == 6


async def test_bad_ttl_header_is_a_400(make: Make) -> None:
    for value in ("soon", "-1", "inf", "nan"):
        with pytest.raises(InvalidRequestError) as caught:
            await ask(make(), Upstreams(), headers={"x-gateway-cache-ttl": value})
        assert caught.value.param == "x-gateway-cache-ttl"


async def test_no_cache_refreshes_and_no_store_bypasses(make: Make, clock: Clock) -> None:
    cache, upstream = make(), Upstreams()
    await ask(cache, upstream)
    clock.now += 10
    refreshed = await ask(cache, upstream, headers={"cache-control": "no-cache"})
    assert refreshed is not None and refreshed.result == "miss" and upstream.calls == 2
    hit = await ask(cache, upstream)
    assert hit is not None and hit.headers["age"] == "0"  # the refreshed entry
    assert await ask(cache, upstream, headers={"cache-control": "no-store, max-age=0"}) is None
    fresh = {**BODY, "messages": [{"role": "user", "content": "fresh"}]}
    assert await ask(cache, upstream, body=fresh, headers={"cache-control": "No-Store"}) is None


async def test_route_off_and_pinned_requests_bypass(make: Make) -> None:
    cache = make()
    assert await ask(cache, Upstreams(), on=route(cache=False)) is None
    exchange = Exchange("r", "chat")
    assert cache.ticket(exchange, route(), Call("chat", BODY), {}, pinned=True) is None
    assert exchange.cache == "bypass"


async def test_deterministic_only(make: Make) -> None:
    cache = make(deterministic_only=True)
    assert await ask(cache, Upstreams()) is None
    assert await ask(cache, Upstreams(), body={**BODY, "temperature": 0}) is not None
    assert await ask(cache, Upstreams(), body={**BODY, "temperature": 0.9, "seed": 3}) is not None


async def test_failures_are_not_stored_and_reach_every_waiter(make: Make) -> None:
    cache, upstream = make(), Upstreams()
    upstream.fail, upstream.gate = UpstreamStatusError(500, "boom", provider="p"), asyncio.Event()
    waiting = [asyncio.ensure_future(ask(cache, upstream)) for _ in range(5)]
    await joined(cache, 5)
    upstream.gate.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, UpstreamStatusError) for r in results) and upstream.calls == 1
    upstream.fail = None
    assert await result(cache, upstream) == "miss"
    assert upstream.calls == 2


async def test_concurrent_misses_make_one_call(make: Make) -> None:
    cache, upstream = make(), Upstreams()
    upstream.gate = asyncio.Event()
    waiting = [asyncio.ensure_future(ask(cache, upstream)) for _ in range(20)]
    await joined(cache, 20)
    upstream.gate.set()
    results = await asyncio.gather(*waiting)
    assert upstream.calls == 1 and all(r is not None and r.body == ANSWER for r in results)
    assert cache.stats()["in_flight"] == 0


async def test_large_answers_are_not_stored(make: Make) -> None:
    cache, upstream = make(max_entry_bytes=10), Upstreams()
    await ask(cache, upstream)
    assert await result(cache, upstream) == "miss"


async def test_purge_all_or_one_route(make: Make) -> None:
    cache, upstream = make(), Upstreams()
    other = Route("other", "weighted", route().targets)
    await ask(cache, upstream)
    await ask(cache, upstream, on=other)
    assert await cache.purge("other") == 1
    assert await result(cache, upstream) == "hit"
    assert await cache.purge() == 1
    assert await result(cache, upstream) == "miss"


async def test_a_streamed_answer_is_stored_once_complete(make: Make) -> None:
    cache = make()
    chunks = [
        b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
        b'"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]}\n\n',
        b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
        b'"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n',
    ]

    async def events() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    async def upstream() -> Upstream:
        return Upstream("p", events=events(), reports=True)

    streamed = await ask(cache, upstream, body={**BODY, "stream": True})
    assert streamed is not None and streamed.events is not None
    assert b"".join([c async for c in streamed.events]) == b"".join(chunks)
    plain = await ask(cache, Upstreams())
    assert plain is not None and plain.result == "hit"
    assert orjson.loads(plain.body)["choices"][0]["message"]["content"] == "Hi"


ROUTES = ('[[providers]]\nname = "m"\ntype = "mock"\n[[routes]]\nmodel = "x"\n{route}'
          '[[routes.targets]]\nprovider = "m"\nmodel = "y"\n')


def test_cache_config() -> None:
    assert parse_config(ROUTES.format(route="")).cache.backend == "none"  # no [cache] section: no cache
    config = parse_config("[cache]\nttl_s = 5\n" + ROUTES.format(route="cache = false\ncache_ttl_s = 9\n"))
    assert config.cache.backend == "memory" and config.routes[0].cache is False
    assert Route.from_config(config.routes[0], {}, RetryConfig()).cache_ttl_s == 9
    text = '[cache]\nbackend = "redis"\nredis_url = "http://h:6379"\nttl_s = 0\n' + ROUTES.format(
        route="cache_ttl_s = -1\n")
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert {p.split(":")[0] for p in caught.value.problems} == {"cache.redis_url", "cache.ttl_s",
                                                                 "routes[0].cache_ttl_s"}
