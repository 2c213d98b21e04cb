"""Limits and budgets through the whole gateway (memory backend): rpm, tpm, max_concurrent per key and per
route under concurrent load, OpenAI's x-ratelimit-* and Retry-After headers, budgets reached and rolled over
(a clock the test moves), spend in `/admin/usage`, and spend surviving a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from gateway.app import create_app
from gateway.config import parse_config
from tests.conftest import gateway_config
from tests.fakes.openai_compat import FakeOpenAI, Reply, SlowTokens, Stall
from tests.support import RunningServer, run_server

KEY = "sk-gw-limited-key-0123456789"
OTHER = "sk-gw-other-key-9876543210"
ADMIN = "admin-key-for-limits-tests"
USER: Any = [{"role": "user", "content": "hi"}]
# The fake upstream answers "hi" with 1 prompt token and "Hello from the fake upstream." (5 tokens); at these
# prices ($1000 / $2000 per million) a call costs 0.001 + 0.010 = $0.011.
PRICES = "input_usd_per_mtok = 1000\noutput_usd_per_mtok = 2000\n"
CALL_USD = 0.011


class Clock:
    """The wall clock of budget periods, moved by the test."""

    def __init__(self, now: float = 1796428800.0) -> None:  # 2026-12-05T00:00:00Z
        self.now = now

    def __call__(self) -> float:
        return self.now


def limits_config(upstream_url: str, spend_file: Path, key: str = "", route: str = "", extra: str = "") -> str:
    text = gateway_config(upstream_url, extra=f"""
[limits]
spend_file = "{spend_file}"
[admin]
key = "{ADMIN}"
[[keys]]
name = "limited"
key = "{KEY}"
{key}
[[keys]]
name = "other"
key = "{OTHER}"
{extra}
""")
    text = text.replace('model = "upstream-model"\n', f'model = "upstream-model"\n{PRICES}', 1)
    return text.replace('[[routes]]\nmodel = "gpt-test"\n', f'[[routes]]\nmodel = "gpt-test"\n{route}\n', 1)


@pytest.fixture
def servers() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def start(stack: ExitStack, text: str, clock: Clock | None = None) -> RunningServer:
    app = create_app(parse_config(text), clock=clock or Clock())
    return stack.enter_context(run_server(app))


@pytest.fixture
async def aclient() -> AsyncIterator[Any]:
    clients: list[openai.AsyncOpenAI] = []

    def make(server: RunningServer, key: str = KEY) -> openai.AsyncOpenAI:
        clients.append(client := openai.AsyncOpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0))
        return client

    yield make
    for client in clients:
        await client.close()


def post(server: RunningServer, key: str = KEY, **body: Any) -> httpx.Response:
    return httpx.post(server.url + "/v1/chat/completions", json={"model": "gpt-test", "messages": USER, **body},
                      headers={"authorization": f"Bearer {key}"}, timeout=10)


def usage(server: RunningServer) -> dict[str, Any]:
    response = httpx.get(server.url + "/admin/usage", headers={"authorization": f"Bearer {ADMIN}"})
    assert response.status_code == 200, response.text
    keys: dict[str, Any] = response.json()["keys"]
    return keys


async def burst(client: openai.AsyncOpenAI, count: int, **body: Any) -> list[Any]:
    async def one() -> Any:
        try:
            return await client.chat.completions.with_raw_response.create(
                model=body.pop("model", "gpt-test"), messages=USER, **body)
        except openai.APIStatusError as exc:
            return exc

    return list(await asyncio.gather(*(one() for _ in range(count))))


# -- rpm -------------------------------------------------------------------------------------------------


async def test_exactly_rpm_of_a_concurrent_burst_pass(
    servers: ExitStack, upstream: RunningServer, fake: FakeOpenAI, tmp_path: Path, aclient: Any
) -> None:
    server = start(servers, limits_config(upstream.url, tmp_path / "spend", key="rpm = 5"))
    results = await burst(aclient(server), 20)
    passed = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, openai.RateLimitError)]
    assert (len(passed), len(refused)) == (5, 15)
    assert len(fake.requests) == 5  # a refused call never reaches the provider
    for error in refused:
        assert error.status_code == 429 and error.code == "rate_limit_exceeded"
        assert error.body["type"] == "requests"  # type: ignore[index]
        assert "limited" in error.message and "5 requests per minute (rpm)" in error.message
        assert 1 <= int(error.response.headers["retry-after"]) <= 12  # the next slot: one per 12 s
        assert error.response.headers["x-ratelimit-remaining-requests"] == "0"
        assert error.response.headers["x-ratelimit-limit-requests"] == "5"
    remaining = sorted(int(r.headers["x-ratelimit-remaining-requests"]) for r in passed)
    assert remaining == [0, 1, 2, 3, 4]
    assert all(r.headers["x-ratelimit-limit-requests"] == "5" and r.headers["x-ratelimit-reset-requests"].endswith("s")
               for r in passed)
    # another key is not limited by this one's rpm, and gets no rate-limit headers
    other = await aclient(server, OTHER).chat.completions.with_raw_response.create(model="gpt-test", messages=USER)
    assert "x-ratelimit-limit-requests" not in other.headers


async def test_a_routes_rpm_is_shared_by_every_caller(
    servers: ExitStack, upstream: RunningServer, tmp_path: Path, aclient: Any
) -> None:
    server = start(servers, limits_config(upstream.url, tmp_path / "spend", route="rpm = 3"))
    first = await burst(aclient(server, KEY), 2)
    second = await burst(aclient(server, OTHER), 2)
    assert sum(not isinstance(r, Exception) for r in first + second) == 3
    [refused] = [r for r in first + second if isinstance(r, Exception)]
    assert isinstance(refused, openai.RateLimitError) and "model gpt-test (all callers together)" in refused.message
    # other routes are not limited by it
    assert post(server, model="mock-model").status_code == 200


# -- max_concurrent ------------------------------------------------------------------------------------


async def test_max_concurrent_refuses_calls_beyond_the_slots_and_frees_them_at_the_end(
    servers: ExitStack, upstream: RunningServer, fake: FakeOpenAI, tmp_path: Path, aclient: Any
) -> None:
    server = start(servers, limits_config(upstream.url, tmp_path / "spend", key="max_concurrent = 3"))
    fake.always = Stall(0.5)
    results = await burst(aclient(server), 10)
    assert sum(not isinstance(r, Exception) for r in results) == 3
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == 7 and all(isinstance(r, openai.RateLimitError) for r in refused)
    assert all("max_concurrent" in r.message and r.response.headers["retry-after"] == "1" for r in refused)
    fake.always = None
    assert len(await burst(aclient(server), 3)) == 3
    assert all(not isinstance(r, Exception) for r in await burst(aclient(server), 3))  # every slot was freed


async def test_a_stream_holds_its_slot_until_it_ends_or_its_client_leaves(
    servers: ExitStack, upstream: RunningServer, fake: FakeOpenAI, tmp_path: Path
) -> None:
    server = start(servers, limits_config(upstream.url, tmp_path / "spend", key="max_concurrent = 1"))
    body = {"model": "gpt-test", "messages": USER, "stream": True}
    headers = {"authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=10) as http:
        fake.enqueue(SlowTokens(0.2))
        async with http.stream("POST", "/v1/chat/completions", json=body) as first:
            assert first.status_code == 200
            lines = first.aiter_lines()  # held: an abandoned line iterator, once collected, closes the stream
            assert (await anext(lines)).startswith("data: ")  # the stream is under way
            busy = await http.post("/v1/chat/completions", json=body)
            assert busy.status_code == 429 and busy.json()["error"]["code"] == "rate_limit_exceeded"
        # the client left mid-stream: the slot comes back
        for _ in range(50):
            if (again := await http.post("/v1/chat/completions", json={**body, "stream": False})).status_code == 200:
                break
            await asyncio.sleep(0.05)
        assert again.status_code == 200
        async with http.stream("POST", "/v1/chat/completions", json=body) as whole:
            text = (await whole.aread()).decode()
        assert text.rstrip().endswith("data: [DONE]")
        assert (await http.post("/v1/chat/completions", json=body)).status_code == 200  # freed at its end


# -- tpm -------------------------------------------------------------------------------------------------


async def test_tpm_counts_the_estimate_then_the_real_usage(
    servers: ExitStack, upstream: RunningServer, fake: FakeOpenAI, tmp_path: Path
) -> None:
    server = start(servers, limits_config(upstream.url, tmp_path / "spend", key="tpm = 50"))
    long_reply = " ".join(["word"] * 40)  # 40 completion tokens, where the estimate saw none coming
    fake.enqueue(Reply(long_reply), Reply(long_reply))
    first = post(server)
    assert first.status_code == 200 and first.headers["x-ratelimit-limit-tokens"] == "50"
    assert int(first.headers["x-ratelimit-remaining-tokens"]) == 45  # "hi": 1 token + 4 per message
    assert post(server).status_code == 200  # 41 used + 5 estimated still fits the minute
    third = post(server)  # 82 used: over the minute's 50 until it drains
    assert third.status_code == 429 and third.json()["error"]["type"] == "tokens"
    assert "50 tokens per minute (tpm)" in third.json()["error"]["message"]
    assert 1 <= int(third.headers["retry-after"]) <= 60
    assert len(fake.requests) == 2


async def test_a_request_larger_than_the_tpm_is_refused_for_good(
    servers: ExitStack, upstream: RunningServer, fake: FakeOpenAI, tmp_path: Path
) -> None:
    server = start(servers, limits_config(upstream.url, tmp_path / "spend", key="tpm = 100"))
    response = post(server, max_tokens=500)
    assert response.status_code == 429 and "retry-after" not in response.headers
    assert response.headers["x-should-retry"] == "false"  # the SDKs would be refused again
    assert "Request too large" in response.json()["error"]["message"]
    assert fake.requests == [] and post(server, max_tokens=50).status_code == 200


# -- budgets and spend -----------------------------------------------------------------------------------


def test_a_budget_lets_calls_in_while_below_it_and_the_period_rolls_over(
    servers: ExitStack, upstream: RunningServer, fake: FakeOpenAI, tmp_path: Path
) -> None:
    clock = Clock()
    text = limits_config(upstream.url, tmp_path / "spend", key='budget_usd = 0.03\nbudget_period = "day"')
    server = start(servers, text, clock)
    assert [post(server).status_code for _ in range(3)] == [200, 200, 200]  # 0, 0.011, 0.022 < 0.03
    refused = post(server)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "budget_exceeded" and error["type"] == "insufficient_quota"
    assert "$0.0330 of its $0.03 budget" in error["message"] and "2026-12-06T00:00:00Z" in error["message"]
    assert refused.headers["x-should-retry"] == "false" and refused.headers["retry-after"] == "86400"
    assert refused.headers["x-gateway-budget-reset"] == "2026-12-06T00:00:00Z"
    assert float(refused.headers["x-gateway-spend-usd"]) == pytest.approx(3 * CALL_USD)
    assert len(fake.requests) == 3
    assert post(server, OTHER).status_code == 200  # another key's budget is its own
    figures = usage(server)["limited"]
    assert figures["requests"] == 3 and figures["input_tokens"] == 3 and figures["output_tokens"] == 15
    assert figures["cost_usd"] == pytest.approx(3 * CALL_USD) and figures["budget_usd"] == 0.03
    assert figures["budget_remaining_usd"] == 0 and figures["resets_at"] == "2026-12-06T00:00:00Z"
    assert figures["period"] == "day:2026-12-05" and figures["budget_period"] == "day"
    clock.now += 86400  # the next day
    assert post(server).status_code == 200
    assert usage(server)["limited"]["requests"] == 1 and usage(server)["limited"]["period"] == "day:2026-12-06"


async def test_streams_and_cache_hits_are_accounted(
    servers: ExitStack, upstream: RunningServer, tmp_path: Path, aclient: Any
) -> None:
    text = limits_config(upstream.url, tmp_path / "spend", key="budget_usd = 10", extra='[cache]\nbackend = "memory"')
    server = start(servers, text)
    client = aclient(server)
    chunks = [c async for c in await client.chat.completions.create(model="gpt-test", messages=USER, stream=True)]
    assert chunks and usage(server)["limited"]["cost_usd"] == pytest.approx(CALL_USD)
    hit = await client.chat.completions.with_raw_response.create(model="gpt-test", messages=USER)
    assert hit.headers["x-gateway-cache"] == "hit"
    figures = usage(server)["limited"]  # a hit is a request, but no upstream tokens and no cost
    assert (figures["requests"], figures["output_tokens"]) == (2, 5)
    assert figures["cost_usd"] == pytest.approx(CALL_USD)


def test_spend_survives_a_restart(upstream: RunningServer, fake: FakeOpenAI, tmp_path: Path) -> None:
    text = limits_config(upstream.url, tmp_path / "state" / "spend.sqlite3", key="budget_usd = 0.03")
    with ExitStack() as stack:
        server = start(stack, text)
        assert [post(server).status_code for _ in range(2)] == [200, 200]
    assert (tmp_path / "state" / "spend.sqlite3").is_file()
    with ExitStack() as stack:
        server = start(stack, text)
        figures = usage(server)["limited"]
        assert figures["requests"] == 2 and figures["cost_usd"] == pytest.approx(2 * CALL_USD)
        assert [post(server).status_code for _ in range(2)] == [200, 429]  # the budget counts the old spend


def test_an_open_gateway_writes_no_spend_file(upstream: RunningServer, tmp_path: Path) -> None:
    text = gateway_config(upstream.url, extra=f'[limits]\nspend_file = "{tmp_path / "spend"}"\n')
    with run_server(create_app(parse_config(text))) as server:
        assert post(server).status_code == 200
    assert not (tmp_path / "spend").exists()


def test_usage_needs_the_admin_key_and_lists_every_key(servers: ExitStack, upstream: RunningServer,
                                                        tmp_path: Path) -> None:
    server = start(servers, limits_config(upstream.url, tmp_path / "spend"))
    assert httpx.get(server.url + "/admin/usage").status_code == 401
    assert post(server, OTHER).status_code == 200
    keys = usage(server)
    assert set(keys) == {"limited", "other"}
    assert keys["limited"]["requests"] == 0 and keys["limited"]["budget_usd"] is None
    assert keys["other"]["requests"] == 1 and keys["other"]["cost_usd"] == pytest.approx(CALL_USD)
    assert keys["other"]["budget_period"] == "month" and keys["other"]["resets_at"] == "2027-01-01T00:00:00Z"


def test_the_anthropic_sdk_sees_its_own_rate_limit_error(
    servers: ExitStack, upstream: RunningServer, tmp_path: Path
) -> None:
    server = start(servers, limits_config(upstream.url, tmp_path / "spend", key="rpm = 1"))
    with anthropic.Anthropic(base_url=server.url, api_key=KEY, max_retries=0) as client:
        raw = client.messages.with_raw_response.create(model="gpt-test", max_tokens=20, messages=USER)
        assert raw.headers["x-ratelimit-remaining-requests"] == "0"
        with pytest.raises(anthropic.RateLimitError) as info:
            client.messages.create(model="gpt-test", max_tokens=20, messages=USER)
    assert info.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert "1 requests per minute (rpm)" in info.value.body["error"]["message"]  # type: ignore[index]
    assert int(info.value.response.headers["retry-after"]) >= 1
