"""The OpenAI surface through the gateway, with the official SDK as the client."""

from __future__ import annotations

import base64
import json
import struct

import httpx
import openai
import pytest

from tests.conftest import UPSTREAM_KEY
from tests.fakes.openai_compat import FakeOpenAI
from tests.support import RunningServer

MESSAGES = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]


def test_chat_reaches_upstream_faithfully(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-test",
        messages=MESSAGES,
        temperature=0.25,
        extra_body={"brand_new_parameter": {"nested": [1, 2.5, None]}, "seed": 7},
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == fake.reply
    assert completion.model == "upstream-model"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    assert raw.headers["x-gateway-provider"] == "fake"
    assert raw.headers["x-gateway-attempts"] == "1"
    assert len(raw.headers["x-request-id"]) >= 16

    [seen] = fake.requests
    assert seen.path == "/v1/chat/completions"
    assert seen.json == {
        "model": "upstream-model",
        "messages": MESSAGES,
        "temperature": 0.25,
        "brand_new_parameter": {"nested": [1, 2.5, None]},
        "seed": 7,
    }
    assert seen.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert seen.headers["x-extra"] == "hello"
    assert "client-key" not in json.dumps(seen.headers)


async def test_async_stream_relays_every_chunk(async_client: openai.AsyncOpenAI, fake: FakeOpenAI) -> None:
    stream = await async_client.chat.completions.create(model="gpt-test", messages=MESSAGES, stream=True)
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == fake.reply
    assert chunks[-1].choices[0].finish_reason == "stop"
    # The gateway asked the upstream for usage (to account for the stream) and removed that chunk again.
    assert all(c.usage is None for c in chunks)
    sent = fake.requests[0].json
    assert sent is not None and sent["stream"] is True and sent["stream_options"] == {"include_usage": True}


def test_stream_usage_can_be_turned_off(start_gateway, upstream: RunningServer, fake: FakeOpenAI) -> None:
    from tests.conftest import gateway_config

    gateway = start_gateway(gateway_config(upstream.url, provider="stream_usage = false"))
    body = {"model": "gpt-test", "messages": MESSAGES, "stream": True}
    assert httpx.post(gateway.url + "/v1/chat/completions", json=body).status_code == 200
    assert fake.requests[0].json == {**body, "model": "upstream-model"}


def test_stream_include_usage_is_honoured(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-test",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_stream_wire_format_keeps_done(gateway: RunningServer) -> None:
    body = {"model": "gpt-test", "messages": MESSAGES, "stream": True}
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-gateway-provider"] == "fake"
        text = response.read().decode()
    events = [e for e in text.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    assert json.loads(events[0][6:])["object"] == "chat.completion.chunk"


def test_tools_non_stream_and_stream(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="gpt-test", messages=MESSAGES, tools=TOOLS)
    [call] = completion.choices[0].message.tool_calls or []
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert completion.choices[0].finish_reason == "tool_calls"

    stream = client.chat.completions.create(model="gpt-test", messages=MESSAGES, tools=TOOLS, stream=True)
    arguments, names = "", []
    for chunk in stream:
        for delta in (c.delta for c in chunk.choices):
            for tool in delta.tool_calls or []:
                names += [tool.function.name] if tool.function and tool.function.name else []
                arguments += (tool.function.arguments or "") if tool.function else ""
    assert names == ["get_weather"]
    assert json.loads(arguments) == {"city": "Paris"}


@pytest.mark.parametrize("encoding", ["base64", "float"])
def test_embeddings(client: openai.OpenAI, fake: FakeOpenAI, gateway: RunningServer, encoding: str) -> None:
    result = client.embeddings.create(
        model="gpt-test",
        input=["first text", "second text"],
        encoding_format=encoding,
    )
    assert [d.index for d in result.data] == [0, 1]
    assert len(result.data[0].embedding) == len(result.data[1].embedding) > 0
    assert fake.requests[-1].path == "/v1/embeddings"
    assert fake.requests[-1].json is not None and fake.requests[-1].json["model"] == "upstream-model"


def test_completions_non_stream_and_stream(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    completion = client.completions.create(model="gpt-test", prompt="Say hello")
    assert completion.choices[0].text == fake.reply
    streamed = "".join(c.choices[0].text for c in client.completions.create(model="gpt-test", prompt="x", stream=True)
                       if c.choices)
    assert streamed == fake.reply
    assert fake.requests[-1].path == "/v1/completions"


def test_models_lists_route_names(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["gpt-test", "mock-model"]


def test_health_and_readiness(gateway: RunningServer) -> None:
    assert httpx.get(gateway.url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(gateway.url + "/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_client_request_id_is_echoed(gateway: RunningServer) -> None:
    response = httpx.get(gateway.url + "/v1/models", headers={"x-request-id": "trace-me-123"})
    assert response.headers["x-request-id"] == "trace-me-123"
    odd = httpx.get(gateway.url + "/v1/models", headers={"x-request-id": "bad id\twith spaces"})
    assert odd.headers["x-request-id"] != "bad id\twith spaces"


def test_base_url_without_v1(start_gateway, upstream: RunningServer, fake: FakeOpenAI) -> None:
    from tests.conftest import gateway_config

    gateway = start_gateway(gateway_config(upstream.url.rstrip("/")))  # no /v1
    other = start_gateway(gateway_config(upstream.url + "/v1/"))  # with /v1 and a slash
    for server in (gateway, other):
        response = httpx.post(server.url + "/v1/chat/completions", json={"model": "gpt-test", "messages": MESSAGES})
        assert response.status_code == 200
    assert [r.path for r in fake.requests] == ["/v1/chat/completions", "/v1/chat/completions"]


class TestMockProvider:
    def test_chat_is_deterministic_with_usage(self, client: openai.OpenAI) -> None:
        first = client.chat.completions.create(model="mock-model", messages=MESSAGES)
        second = client.chat.completions.create(model="mock-model", messages=MESSAGES)
        assert first.choices[0].message.content == second.choices[0].message.content
        assert "weather in Paris" in (first.choices[0].message.content or "")
        assert first.id != second.id and first.id.startswith("chatcmpl-")
        assert first.created > 0 and first.model == "mock-upstream"
        assert first.usage is not None and first.usage.completion_tokens == len((first.choices[0].message.content
                                                                                  or "").split())
        assert first.choices[0].finish_reason == "stop"

    def test_stream_and_max_tokens(self, client: openai.OpenAI) -> None:
        whole = client.chat.completions.create(model="mock-model", messages=MESSAGES)
        chunks = list(client.chat.completions.create(
            model="mock-model", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        ))
        streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert streamed == whole.choices[0].message.content
        assert chunks[-1].usage is not None
        short = client.chat.completions.create(model="mock-model", messages=MESSAGES, max_tokens=3)
        assert short.choices[0].finish_reason == "length"
        assert len((short.choices[0].message.content or "").split()) == 3

    def test_tool_call_when_tools_are_offered(self, client: openai.OpenAI) -> None:
        completion = client.chat.completions.create(model="mock-model", messages=MESSAGES, tools=TOOLS)
        [call] = completion.choices[0].message.tool_calls or []
        assert call.function.name == "get_weather"
        assert json.loads(call.function.arguments) == {"city": "example"}

    def test_embeddings_fixed_dimension(self, client: openai.OpenAI, gateway: RunningServer) -> None:
        result = client.embeddings.create(model="mock-model", input="hello")
        assert len(result.data[0].embedding) == 16
        again = client.embeddings.create(model="mock-model", input="hello")
        assert again.data[0].embedding == result.data[0].embedding
        raw = httpx.post(gateway.url + "/v1/embeddings",
                         json={"model": "mock-model", "input": "hello", "encoding_format": "base64", "dimensions": 4})
        vector = struct.unpack("<4f", base64.b64decode(raw.json()["data"][0]["embedding"]))
        assert len(vector) == 4
