"""The fakes speak the real wire format: proven with the official openai SDK and raw httpx."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.fakes import (
    DEFAULT_REPLY,
    CutAfter,
    Fail,
    FakeOpenAI,
    Malformed,
    NoDone,
    Reply,
    ResetServer,
    Silent,
    SlowTokens,
    Stall,
)
from tests.support import RunningServer, closed_port, free_port, run_server

MESSAGES: list[Any] = [{"role": "user", "content": "Say hello please"}]
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
CHAT_BODY = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FakeOpenAI, RunningServer]]:
    fake = FakeOpenAI()
    with run_server(fake.app) as server:
        yield fake, server


@pytest.fixture
def fake(served: tuple[FakeOpenAI, RunningServer]) -> FakeOpenAI:
    served[0].reset()
    return served[0]


@pytest.fixture
def url(fake: FakeOpenAI, served: tuple[FakeOpenAI, RunningServer]) -> str:
    return served[1].url


@pytest.fixture
def client(url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=url + "/v1", api_key="sk-test", max_retries=0, timeout=5) as sdk:
        yield sdk


@pytest.fixture
def http(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=5) as session:
        yield session


def sse_lines(http: httpx.Client, body: dict[str, Any], path: str = "/v1/chat/completions") -> list[str]:
    with http.stream("POST", path, json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        return [line for line in response.iter_lines() if line]


# --------------------------------------------------------------------------- the SDK sees real OpenAI


def test_chat_non_stream(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert completion.id.startswith("chatcmpl-fake-")
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-4o-mini"
    assert completion.system_fingerprint
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == DEFAULT_REPLY
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens, completion.usage.total_tokens) == (
        3,
        5,
        8,
    )
    recorded = fake.last
    assert (recorded.method, recorded.path) == ("POST", "/v1/chat/completions")
    assert recorded.headers["authorization"] == "Bearer sk-test"
    assert recorded.json["messages"] == MESSAGES
    assert json.loads(recorded.body) == recorded.json


def test_reply_is_settable_and_scriptable(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.reply = "Custom words here"
    fake.enqueue(Reply("Just once"))
    first = client.chat.completions.create(model="m", messages=MESSAGES)
    second = client.chat.completions.create(model="m", messages=MESSAGES)
    short = client.chat.completions.create(model="m", messages=MESSAGES, max_tokens=2)
    assert first.choices[0].message.content == "Just once"
    assert second.choices[0].message.content == "Custom words here"
    assert (short.choices[0].message.content, short.choices[0].finish_reason) == ("Custom words", "length")
    assert [r.behaviour for r in fake.requests] == [Reply("Just once"), None, None]


def test_chat_stream(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.content == ""
    assert [c.choices[0].delta.content for c in chunks[1:-1]] == ["Hello", " from", " the", " fake", " upstream."]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == DEFAULT_REPLY
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.object == "chat.completion.chunk" and c.usage is None for c in chunks)
    assert len({c.id for c in chunks}) == 1


def test_chat_stream_usage_only_when_asked(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 8
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-2].choices[0].finish_reason == "stop"


def test_tools_non_stream(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="m", messages=MESSAGES, tools=[WEATHER_TOOL])
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.id
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]

    after_tool = [
        *MESSAGES,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    answer = client.chat.completions.create(model="m", messages=after_tool, tools=[WEATHER_TOOL])
    assert answer.choices[0].message.content == DEFAULT_REPLY


def test_tools_stream(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="m", messages=MESSAGES, tools=[WEATHER_TOOL], stream=True))
    deltas = [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or []]
    first = deltas[0]
    assert (first.index, first.type) == (0, "function")
    assert first.id and first.function is not None and first.function.name == "get_weather"
    pieces = [d.function.arguments for d in deltas[1:] if d.function and d.function.arguments]
    assert len(pieces) >= 2 and all(d.index == 0 and d.id is None for d in deltas[1:])
    assert json.loads("".join(pieces)) == {"city": "Paris"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_embeddings_base64_default_and_float(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    default = client.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta"])
    assert fake.last.json["encoding_format"] == "base64"  # the SDK's default
    as_float = client.embeddings.create(
        model="text-embedding-3-small", input=["alpha", "beta"], encoding_format="float"
    )
    assert [e.index for e in default.data] == [0, 1]
    assert [len(e.embedding) for e in default.data] == [8, 8]
    assert [e.embedding for e in default.data] == [e.embedding for e in as_float.data]
    assert default.data[0].embedding != default.data[1].embedding
    single = client.embeddings.create(model="text-embedding-3-small", input="alpha", dimensions=4)
    assert len(single.data) == 1 and len(single.data[0].embedding) == 4
    assert default.usage.prompt_tokens == 2 and default.model == "text-embedding-3-small"


def test_completions(client: openai.OpenAI) -> None:
    completion = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Once upon")
    assert completion.object == "text_completion"
    assert completion.choices[0].text == DEFAULT_REPLY
    assert completion.usage is not None and completion.usage.prompt_tokens == 2
    chunks = list(
        client.completions.create(
            model="gpt-3.5-turbo-instruct", prompt="Once upon", stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(c.choices[0].text for c in chunks if c.choices) == DEFAULT_REPLY
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5


def test_models_do_not_consume_behaviours(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.enqueue(Fail(503))
    assert "gpt-4o-mini" in [m.id for m in client.models.list()]
    assert fake.pending == 1


async def test_async_sdk_stream(url: str) -> None:
    async with openai.AsyncOpenAI(base_url=url + "/v1", api_key="sk-test", max_retries=0) as sdk:
        stream = await sdk.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == DEFAULT_REPLY


# --------------------------------------------------------------------------- scripted failures


def test_fail(fake: FakeOpenAI, http: httpx.Client, client: openai.OpenAI) -> None:
    fake.enqueue(Fail(429, retry_after="2"), Fail(502, body="<html>bad gateway</html>", headers={"x-why": "test"}))
    limited = http.post("/v1/chat/completions", json=CHAT_BODY)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "2"
    error = limited.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == "rate_limit_exceeded"
    html = http.post("/v1/chat/completions", json=CHAT_BODY)
    assert (html.status_code, html.text, html.headers["x-why"]) == (502, "<html>bad gateway</html>", "test")
    assert http.post("/v1/chat/completions", json=CHAT_BODY).status_code == 200  # queue empty: normal again

    fake.enqueue(Fail(429))
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model="m", messages=MESSAGES)
    assert raised.value.code == "rate_limit_exceeded"


def test_cut_after_breaks_the_connection(fake: FakeOpenAI, http: httpx.Client) -> None:
    fake.enqueue(CutAfter(chunks=2))
    seen: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError):
        with http.stream("POST", "/v1/chat/completions", json=CHAT_BODY) as response:
            seen.extend(line for line in response.iter_lines() if line)
    assert len(seen) == 3  # the role chunk and two content chunks
    assert "[DONE]" not in "".join(seen)

    fake.enqueue(CutAfter())
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/v1/chat/completions", json={**CHAT_BODY, "stream": False})
    assert http.post("/v1/chat/completions", json=CHAT_BODY).status_code == 200


def test_malformed_then_continues(fake: FakeOpenAI, http: httpx.Client) -> None:
    fake.enqueue(Malformed(after=1))
    lines = sse_lines(http, CHAT_BODY)
    assert lines[2] == "data: {not json"
    assert lines[-1] == "data: [DONE]"
    assert len(lines) == 9  # role, 5 words, the garbage, finish, [DONE]
    with pytest.raises(ValueError):
        json.loads(lines[2].removeprefix("data: "))


def test_no_done(fake: FakeOpenAI, http: httpx.Client) -> None:
    fake.enqueue(NoDone())
    lines = sse_lines(http, CHAT_BODY)
    assert "[DONE]" not in lines[-1]
    assert json.loads(lines[-1].removeprefix("data: "))["choices"][0]["finish_reason"] == "stop"


def test_stall_and_silent(fake: FakeOpenAI, http: httpx.Client) -> None:
    fake.enqueue(Stall(0.3))
    started = time.monotonic()
    assert http.post("/v1/chat/completions", json=CHAT_BODY).status_code == 200
    assert time.monotonic() - started >= 0.3

    fake.enqueue(Silent(after=1, seconds=3))
    seen: list[str] = []
    with pytest.raises(httpx.ReadTimeout):
        with http.stream("POST", "/v1/chat/completions", json=CHAT_BODY, timeout=0.3) as response:
            seen.extend(line for line in response.iter_lines() if line)
    assert len(seen) == 2
    assert fake.wait_for_disconnects(1, timeout=1.0)  # the silent stream noticed the client leaving


def test_slow_tokens_and_disconnect_counter(fake: FakeOpenAI, http: httpx.Client) -> None:
    assert sse_lines(http, CHAT_BODY)[-1] == "data: [DONE]"
    assert fake.disconnects == 0  # a finished stream is not a disconnect

    fake.reply = " ".join(f"w{i}" for i in range(200))
    fake.enqueue(SlowTokens(0.05))
    started = time.monotonic()
    with http.stream("POST", "/v1/chat/completions", json=CHAT_BODY) as response:
        lines = response.iter_lines()
        for _ in range(6):
            next(lines)
    assert time.monotonic() - started >= 0.1  # the events were paced
    assert fake.wait_for_disconnects(1, timeout=1.0)
    assert fake.disconnects == 1


def test_stall_counts_a_client_that_gives_up(fake: FakeOpenAI, http: httpx.Client) -> None:
    fake.enqueue(Stall(5))
    with pytest.raises(httpx.ReadTimeout):
        http.post("/v1/chat/completions", json=CHAT_BODY, timeout=0.2)
    assert fake.wait_for_disconnects(1, timeout=1.0)


@pytest.mark.parametrize("rst", [True, False])
def test_reset_server(rst: bool) -> None:
    with ResetServer(rst=rst) as reset, httpx.Client(timeout=2) as session:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
            session.post(reset.url + "/v1/chat/completions", json=CHAT_BODY)
        assert reset.connections == 1


def test_ports_and_startup_failure() -> None:
    assert free_port() > 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{closed_port()}/", timeout=2)

    async def broken_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.failed", "message": "boom"})

    with pytest.raises(RuntimeError, match="did not start"):
        with run_server(broken_app):
            pass
