"""The response cache through the whole gateway over loopback, memory and Redis backends alike: headers,
streams replayed to the openai SDK, coalescing of concurrent misses, control headers, purge, Redis dying."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from gateway.app import create_app
from gateway.config import load_config
from tests.cache.conftest import Backend, redis_keys
from tests.cache.redis_server import RedisServer
from tests.conftest import GatewayFactory, gateway_config
from tests.fakes.openai_compat import CutAfter, Fail, FakeOpenAI, SlowTokens, Stall
from tests.support import RunningServer, run_server

CHAT = "/v1/chat/completions"
BODY: dict[str, Any] = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
STREAM: dict[str, Any] = {**BODY, "stream": True}
Start = Callable[..., RunningServer]


@pytest.fixture
def start(start_gateway: GatewayFactory, upstream: RunningServer, backend: Backend) -> Start:
    """A gateway in front of the fake upstream with the backend's [cache] (plus `cache` keys, `extra` TOML)."""

    def started(cache: str = "", extra: str = "") -> RunningServer:
        return start_gateway(gateway_config(upstream.url, extra=backend.toml(cache) + extra))

    return started


def post(gateway: RunningServer, body: dict[str, Any], path: str = CHAT, **headers: str) -> httpx.Response:
    return httpx.post(gateway.url + path, json=body, headers=headers, timeout=10)


def chunks(response: httpx.Response) -> list[Any]:
    events = [e for e in response.text.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events), events
    assert events[-1] == "data: [DONE]"
    return [json.loads(e[6:]) for e in events[:-1]]


def upstream_calls(fake: FakeOpenAI) -> int:
    return len([r for r in fake.requests if r.method == "POST"])


def test_miss_then_hit_with_headers(start: Start, fake: FakeOpenAI) -> None:
    gateway = start()
    first = post(gateway, BODY)
    assert first.status_code == 200 and first.headers["x-gateway-cache"] == "miss"
    assert first.headers["x-gateway-attempts"] == "1" and "age" not in first.headers
    second = post(gateway, {**BODY, "user": "someone", "temperature": 1.0})
    third = post(gateway, {**BODY, "temperature": 1})
    assert second.headers["x-gateway-cache"] == "miss"  # temperature is part of the identity, `user` is not
    assert third.headers["x-gateway-cache"] == "hit" and third.json() == second.json()
    assert third.headers["age"] == "0" and third.headers["x-gateway-provider"] == "fake"
    assert third.headers["x-gateway-attempts"] == "0"
    assert upstream_calls(fake) == 2


def test_no_cache_section_means_bypass(start_gateway: GatewayFactory, upstream: RunningServer) -> None:
    gateway = start_gateway(gateway_config(upstream.url))
    for _ in range(2):
        response = post(gateway, BODY)
        assert response.headers["x-gateway-cache"] == "bypass"
    failed = post(gateway, {**BODY, "model": "nope"})
    assert failed.status_code == 404 and failed.headers.get("x-gateway-cache") == "bypass"


def test_control_headers_and_route_switch(start: Start, fake: FakeOpenAI) -> None:
    gateway = start(extra='[[routes]]\nmodel = "uncached"\ncache = false\n'
                          '  [[routes.targets]]\n  provider = "fake"\n  model = "m"\n')
    post(gateway, BODY)
    assert post(gateway, BODY, **{"cache-control": "no-store"}).headers["x-gateway-cache"] == "bypass"
    assert post(gateway, BODY, **{"cache-control": "no-cache"}).headers["x-gateway-cache"] == "miss"
    assert post(gateway, BODY).headers["x-gateway-cache"] == "hit"
    assert post(gateway, BODY, **{"x-gateway-target": "fake"}).headers["x-gateway-cache"] == "bypass"
    uncached = {**BODY, "model": "uncached"}
    assert [post(gateway, uncached).headers["x-gateway-cache"] for _ in range(2)] == ["bypass", "bypass"]
    bad = post(gateway, BODY, **{"x-gateway-cache-ttl": "soon"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "x-gateway-cache-ttl"
    assert upstream_calls(fake) == 6


def test_openai_sdk_reads_a_replayed_stream(start: Start, fake: FakeOpenAI) -> None:
    gateway = start()
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=0) as sdk:
        plain = sdk.chat.completions.create(model="gpt-test", messages=BODY["messages"])
        stream = sdk.chat.completions.create(model="gpt-test", messages=BODY["messages"], stream=True,
                                             stream_options={"include_usage": True})
        received = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in received if c.choices)
    assert text == plain.choices[0].message.content == fake.reply
    assert [c.choices[0].finish_reason for c in received if c.choices][-1] == "stop"
    assert received[-1].choices == [] and received[-1].usage == plain.usage
    assert {c.id for c in received} == {plain.id}
    assert upstream_calls(fake) == 1


def test_a_stream_is_stored_and_answers_both_kinds(start: Start, fake: FakeOpenAI) -> None:
    gateway = start()
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    body = {**STREAM, "tools": tools}
    first = post(gateway, body)
    assert first.headers["x-gateway-cache"] == "miss"
    original = chunks(first)
    assert all(c.get("usage") is None for c in original)  # the gateway asked upstream for usage, not the client
    again = post(gateway, {**body, "stream_options": {"include_usage": True}})
    assert again.headers["x-gateway-cache"] == "hit" and again.headers["content-type"].startswith("text/event-stream")
    replayed = chunks(again)
    assert replayed[-1]["usage"]["completion_tokens"] > 0  # kept from the upstream's usage chunk
    call = replayed[1]["choices"][0]["delta"]["tool_calls"][0]
    assert call["function"] == {"name": "weather", "arguments": '{"city": "Paris"}'}
    plain = post(gateway, {**body, "stream": False})
    assert plain.headers["x-gateway-cache"] == "hit"
    answer = plain.json()
    assert answer["object"] == "chat.completion" and answer["choices"][0]["finish_reason"] == "tool_calls"
    assert answer["choices"][0]["message"]["tool_calls"][0]["id"] == original[0]["choices"][0]["delta"][
        "tool_calls"][0]["id"]
    assert upstream_calls(fake) == 1


def test_completions_and_embeddings_are_cached(start: Start, fake: FakeOpenAI) -> None:
    gateway = start()
    completion = {"model": "gpt-test", "prompt": "Once upon", "max_tokens": 3}
    first = post(gateway, completion, "/v1/completions")
    streamed = post(gateway, {**completion, "stream": True}, "/v1/completions")
    assert streamed.headers["x-gateway-cache"] == "hit"
    assert "".join(c["choices"][0]["text"] for c in chunks(streamed)) == first.json()["choices"][0]["text"]
    embedding = {"model": "gpt-test", "input": ["a", "b"]}
    vectors = post(gateway, embedding, "/v1/embeddings")
    again = post(gateway, embedding, "/v1/embeddings")
    assert again.headers["x-gateway-cache"] == "hit" and again.content == vectors.content
    # The same body on another endpoint is another request.
    assert post(gateway, {**completion, "input": "x"}, "/v1/embeddings").headers["x-gateway-cache"] == "miss"
    assert upstream_calls(fake) == 3


def test_failed_cut_and_refused_answers_are_never_stored(start: Start, fake: FakeOpenAI) -> None:
    gateway = start()
    fake.enqueue(Fail(400))
    assert post(gateway, BODY).status_code == 400
    assert post(gateway, BODY).headers["x-gateway-cache"] == "miss"  # the 400 was not stored
    other = {**STREAM, "messages": [{"role": "user", "content": "cut me"}]}
    fake.enqueue(CutAfter(2))
    cut = post(gateway, other)
    assert cut.status_code == 200 and "[DONE]" not in cut.text and '"error"' in cut.text
    whole = post(gateway, other)
    assert whole.headers["x-gateway-cache"] == "miss" and chunks(whole)
    assert post(gateway, other).headers["x-gateway-cache"] == "hit"
    assert upstream_calls(fake) == 4


@pytest.mark.parametrize("stream", [False, True])
async def test_fifty_concurrent_identical_requests_reach_the_upstream_once(
    start: Start, fake: FakeOpenAI, stream: bool
) -> None:
    gateway = start()
    fake.always = SlowTokens(0.02) if stream else Stall(0.3)
    async with openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=0) as sdk:

        async def one(i: int) -> str:
            if not stream:
                reply = await sdk.chat.completions.create(model="gpt-test", messages=BODY["messages"])
                return reply.choices[0].message.content or ""
            usage = {"include_usage": True} if i % 2 else None  # the leader's choice is not everyone's
            parts = []
            async for chunk in await sdk.chat.completions.create(
                model="gpt-test", messages=BODY["messages"], stream=True, stream_options=usage  # type: ignore[arg-type]
            ):
                assert (chunk.usage is not None) == (not chunk.choices)
                if chunk.usage is not None:
                    assert i % 2, "usage for a client that did not ask for it"
                parts += [c.delta.content or "" for c in chunk.choices]
            return "".join(parts)

        answers = await asyncio.gather(*[one(i) for i in range(50)])
    assert answers == [fake.reply] * 50
    assert upstream_calls(fake) == 1


async def test_followers_get_the_leaders_error(start: Start, fake: FakeOpenAI) -> None:
    gateway = start(extra="[routing]\nattempt_timeout_s = 0.3\nretries_per_target = 0\n")
    fake.always = Stall(2)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        responses = await asyncio.gather(*[client.post(CHAT, json=BODY) for _ in range(10)])
    assert {r.status_code for r in responses} == {504}
    assert len({r.content for r in responses}) == 1  # the one error, to everyone
    assert upstream_calls(fake) == 1
    fake.always = None
    assert post(gateway, BODY).headers["x-gateway-cache"] == "miss"  # the error was not stored


async def test_a_leaving_leader_does_not_cut_the_followers(start: Start, fake: FakeOpenAI) -> None:
    gateway = start()
    fake.reply = " ".join(f"w{i}" for i in range(30))
    fake.always = SlowTokens(0.02)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        async with client.stream("POST", CHAT, json=STREAM) as leader:
            lines = leader.aiter_lines()
            while not (await anext(lines)).startswith("data: "):
                pass
            followers = [asyncio.ensure_future(client.post(CHAT, json=STREAM)) for _ in range(3)]
            await asyncio.sleep(0.1)  # the followers have joined
        # The leader's client is gone; the followers still get the whole answer, from the first chunk.
        for follower in await asyncio.gather(*followers):
            text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks(follower) if c["choices"])
            assert text == fake.reply
    assert upstream_calls(fake) == 1 and fake.disconnects == 0
    assert post(gateway, BODY).headers["x-gateway-cache"] == "hit"


async def test_the_last_client_leaving_cancels_the_upstream_call(start: Start, fake: FakeOpenAI) -> None:
    gateway = start()
    fake.reply = " ".join(["word"] * 200)
    fake.always = SlowTokens(0.05)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        async with client.stream("POST", CHAT, json=STREAM) as response:
            lines = response.aiter_lines()
            while not (await anext(lines)).startswith("data: "):
                pass
    assert await fake.wait_for_disconnects_async(1, timeout=5)
    fake.always = None
    assert post(gateway, BODY).headers["x-gateway-cache"] == "miss"  # nothing half-done was stored


def test_purge_all_or_one_route(start: Start, fake: FakeOpenAI) -> None:
    gateway = start(extra='[admin]\nkey = "admin-secret"\n')
    mock = {**BODY, "model": "mock-model"}
    post(gateway, BODY)
    post(gateway, mock)
    purge = gateway.url + "/admin/cache/purge"
    assert httpx.post(purge, json={"route": "gpt-test"}).status_code == 401
    auth = {"authorization": "Bearer admin-secret"}
    done = httpx.post(purge, json={"route": "gpt-test"}, headers=auth)
    assert done.status_code == 200 and done.json() == {"status": "purged", "removed": 1, "route": "gpt-test"}
    assert post(gateway, BODY).headers["x-gateway-cache"] == "miss"
    assert post(gateway, mock).headers["x-gateway-cache"] == "hit"
    assert httpx.post(purge, headers=auth).json()["removed"] == 2
    assert post(gateway, mock).headers["x-gateway-cache"] == "miss"
    status = httpx.get(gateway.url + "/admin/status", headers=auth).json()["cache"]
    assert status["backend"] in ("memory", "redis")
    assert httpx.post(purge, json={"route": 3}, headers=auth).status_code == 400
    unknown = httpx.post(purge, json={"route": "gpt-tset"}, headers=auth)  # a typo purges nothing, and says so
    assert unknown.status_code == 404 and '"gpt-tset"' in unknown.json()["error"]["message"]


def test_redis_killed_mid_run_and_back(
    start_gateway: GatewayFactory, upstream: RunningServer, fake: FakeOpenAI, redis_server: RedisServer
) -> None:
    gateway = start_gateway(gateway_config(upstream.url, extra=f"[cache]\n{redis_keys(redis_server.url)}"))
    assert post(gateway, BODY).headers["x-gateway-cache"] == "miss"
    assert post(gateway, BODY).headers["x-gateway-cache"] == "hit"
    redis_server.kill()
    for body in (BODY, STREAM, BODY):  # every request is answered, from upstream
        response = post(gateway, body)
        assert response.status_code == 200 and response.headers["x-gateway-cache"] == "miss"
    assert upstream_calls(fake) == 4
    redis_server.start()  # back, on the same port, empty
    assert post(gateway, BODY).headers["x-gateway-cache"] == "miss"
    assert post(gateway, BODY).headers["x-gateway-cache"] == "hit"
    assert upstream_calls(fake) == 5


async def test_replicas_share_entries_and_one_upstream_call(
    start_gateway: GatewayFactory, upstream: RunningServer, fake: FakeOpenAI, redis_url: str
) -> None:
    cache = f"[cache]\n{redis_keys(redis_url)}"
    one, two = (start_gateway(gateway_config(upstream.url, extra=cache)) for _ in range(2))
    assert post(one, BODY).headers["x-gateway-cache"] == "miss"
    assert post(two, BODY).headers["x-gateway-cache"] == "hit"
    fake.always = SlowTokens(0.02)
    async with httpx.AsyncClient(timeout=10) as client:
        responses = await asyncio.gather(
            *[client.post(gateway.url + CHAT, json=STREAM | {"seed": 1}) for gateway in (one, two, one, two)]
        )
    assert all(r.status_code == 200 and chunks(r) for r in responses)
    assert upstream_calls(fake) == 2  # the replica that found the lock taken waited for the other's answer


def test_a_reload_keeps_the_cache_unless_its_section_changed(
    upstream: RunningServer, fake: FakeOpenAI, backend: Backend, tmp_path: Path
) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(gateway_config(upstream.url, extra=backend.toml()))
    with run_server(create_app(load_config(path)[0])) as gateway:
        post(gateway, BODY)
        reload = gateway.url + "/admin/reload"
        path.write_text(gateway_config(upstream.url, extra=backend.toml() + "[routing]\nmax_attempts = 2\n"))
        assert httpx.post(reload).json()["status"] == "reloaded"
        assert post(gateway, BODY).headers["x-gateway-cache"] == "hit"  # same [cache]: same entries
        path.write_text(gateway_config(upstream.url, extra=backend.toml("ttl_s = 60\n")))
        assert httpx.post(reload).json()["status"] == "reloaded"
        after = post(gateway, BODY).headers["x-gateway-cache"]
        assert after == ("miss" if backend.name == "memory" else "hit")  # a new memory cache; Redis keeps its
