"""The mock provider, through the provider seam (build_provider) and at its in-process HTTP boundary."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from enum import Enum
from typing import Any, Literal

import httpx
import pydantic
import pytest

from gateway.config import ProviderConfig, parse_config
from gateway.dispatch import Control, Dispatcher
from gateway.errors import UpstreamStatusError
from gateway.events import Attempt, Exchange, Observer
from gateway.providers.base import Call, HttpProvider, build_provider
from gateway.providers.mock import MockServer
from gateway.providers.mock_checks import check
from gateway.providers.mock_json import instance
from gateway.routing.health import CooldownPolicy, FakeClock, Health
from gateway.routing.table import RouteTable

USER = [{"role": "user", "content": "What is the weather in Paris?"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}, "days": {"type": "integer"}},
            "required": ["city", "unit"],
        },
    },
}
CLOCK = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}


@pytest.fixture
async def mock() -> AsyncIterator[HttpProvider]:
    provider = build_provider(ProviderConfig(name="m", type="mock"))
    yield provider
    await provider.aclose()


async def chat(provider: HttpProvider, **body: Any) -> dict[str, Any]:
    reply = await provider.complete(Call("chat", {"model": "x", "messages": USER, **body}), "mock-1")
    data: dict[str, Any] = json.loads(reply.body)
    return data


async def stream(provider: HttpProvider, operation: str = "chat", **body: Any) -> list[dict[str, Any]]:
    fields = {"messages": USER} if operation == "chat" else {"prompt": "say something"}
    call = Call(operation, {"model": "x", **fields, **body, "stream": True}, stream=True)  # type: ignore[arg-type]
    opened = await provider.open_stream(call, "mock-1")
    return [json.loads(p) for batch in [b async for b in opened.chunks()] for p in batch]


async def raw(body: dict[str, Any], path: str = "/v1/chat/completions") -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.MockTransport(MockServer().handle)) as http:
        return await http.post("http://mock.test" + path, json=body)


def text_of(chunks: list[dict[str, Any]], index: int = 0) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks
                   if c["choices"] and c["choices"][0]["index"] == index)


# -- what already worked ------------------------------------------------------------------------------


async def test_deterministic_text_cut_at_max_tokens_and_usage(mock: HttpProvider) -> None:
    first, again = await chat(mock), await chat(mock)
    message = first["choices"][0]["message"]
    assert message["content"] == again["choices"][0]["message"]["content"]
    assert message["content"] == "This is the gateway's mock model (mock-1). You said: What is the weather in Paris?"
    assert first["model"] == "mock-1" and first["choices"][0]["finish_reason"] == "stop"
    assert first["usage"] == {"prompt_tokens": 9, "completion_tokens": 15, "total_tokens": 24}
    cut = await chat(mock, max_tokens=3)
    assert cut["choices"][0]["message"]["content"] == "This is the"
    assert cut["choices"][0]["finish_reason"] == "length" and cut["usage"]["completion_tokens"] == 3


async def test_stream_token_by_token_with_usage_when_asked(mock: HttpProvider) -> None:
    chunks = await stream(mock, stream_options={"include_usage": True})
    whole = (await chat(mock))["choices"][0]["message"]["content"]
    assert text_of(chunks) == whole
    assert len([c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]) == 15
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 15
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]][-1] == "stop"
    plain = await raw({"model": "x", "messages": USER, "stream": True})  # the provider itself asks for usage
    events = [line.removeprefix("data: ") for line in plain.text.split("\n\n") if line]
    assert events[-1] == "[DONE]" and not any("usage" in json.loads(e) for e in events[:-1])


async def test_token_delay_spaces_the_chunks() -> None:
    provider = build_provider(ProviderConfig(name="m", type="mock", token_delay_ms=20))
    call = Call("chat", {"model": "x", "messages": USER, "stream": True}, stream=True)
    opened = await provider.open_stream(call, "mock-1")
    batches = [b async for b in opened.chunks()]
    await provider.aclose()
    assert len(batches) >= 10  # one read per token: the delay keeps them apart
    assert opened.first_chunk_at is not None


async def test_legacy_completions_and_embeddings(mock: HttpProvider) -> None:
    reply = await mock.complete(Call("text_completion", {"model": "x", "prompt": "hello there", "n": 2}), "m")
    data = json.loads(reply.body)
    assert [c["index"] for c in data["choices"]] == [0, 1] and data["choices"][0]["text"].endswith("hello there")
    chunks = await stream(mock, "text_completion", n=2)
    assert {c["choices"][0]["index"] for c in chunks} == {0, 1}
    embedded = json.loads((await mock.complete(Call("embeddings", {"model": "e", "input": ["a", "b"]}), "e")).body)
    assert [len(d["embedding"]) for d in embedded["data"]] == [16, 16]


# -- 1. the tool loop ends ----------------------------------------------------------------------------


async def test_a_user_message_with_tools_offered_calls_the_first_tool(mock: HttpProvider) -> None:
    data = await chat(mock, tools=[WEATHER, CLOCK])
    choice = data["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["id"].startswith("call_") and call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "example", "unit": "c"}


async def test_the_tools_result_is_answered_with_text_that_uses_it(mock: HttpProvider) -> None:
    call = (await chat(mock, tools=[WEATHER]))["choices"][0]["message"]["tool_calls"][0]
    messages = [*USER, {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": call["id"], "content": '{"temp": 21}'}]
    data = await chat(mock, messages=messages, tools=[WEATHER])
    choice = data["choices"][0]
    assert choice["finish_reason"] == "stop" and "tool_calls" not in choice["message"]
    assert choice["message"]["content"] == 'The result of get_weather is: {"temp": 21}'
    chunks = await stream(mock, messages=messages, tools=[WEATHER])
    assert text_of(chunks) == choice["message"]["content"]


async def test_tool_choice_none_required_and_named(mock: HttpProvider) -> None:
    assert (await chat(mock, tools=[WEATHER], tool_choice="none"))["choices"][0]["finish_reason"] == "stop"
    get_time = {"type": "function", "function": {"name": "get_time"}}
    named = await chat(mock, tools=[WEATHER, CLOCK], tool_choice=get_time)
    assert named["choices"][0]["message"]["tool_calls"][0]["function"] == {"name": "get_time", "arguments": "{}"}
    after_tool = [*USER, {"role": "assistant", "content": "checking"},
                  {"role": "tool", "tool_call_id": "c", "content": "x"}]
    assert (await chat(mock, messages=after_tool, tools=[WEATHER]))["choices"][0]["finish_reason"] == "stop"
    required = await chat(mock, messages=after_tool, tools=[WEATHER], tool_choice="required")
    assert required["choices"][0]["finish_reason"] == "tool_calls"  # "required" means a call, as OpenAI does


async def test_a_streamed_tool_call_reassembles(mock: HttpProvider) -> None:
    chunks = await stream(mock, tools=[WEATHER])
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks if c["choices"][0]["delta"].get("tool_calls")]
    assert calls[0]["function"]["name"] == "get_weather" and calls[0]["id"].startswith("call_")
    arguments = "".join(c["function"]["arguments"] for c in calls)
    assert json.loads(arguments) == {"city": "example", "unit": "c"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


# -- 2. n choices ---------------------------------------------------------------------------------------


async def test_n_choices_and_usage_counting_them_all(mock: HttpProvider) -> None:
    data = await chat(mock, n=3)
    assert [c["index"] for c in data["choices"]] == [0, 1, 2]
    assert len({c["message"]["content"] for c in data["choices"]}) == 1
    assert data["usage"]["completion_tokens"] == 3 * 15 and data["usage"]["prompt_tokens"] == 9
    calls = (await chat(mock, n=2, tools=[WEATHER]))["choices"]
    assert len({c["message"]["tool_calls"][0]["id"] for c in calls}) == 2  # each call has its own id


async def test_n_choices_stream_interleaved(mock: HttpProvider) -> None:
    chunks = await stream(mock, n=3, stream_options={"include_usage": True})
    assert [c["choices"][0]["index"] for c in chunks[:6]] == [0, 1, 2, 0, 1, 2]
    whole = (await chat(mock))["choices"][0]["message"]["content"]
    assert [text_of(chunks, i) for i in range(3)] == [whole] * 3
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert finishes == ["stop"] * 3 and chunks[-1]["usage"]["completion_tokens"] == 45


# -- 3. response_format ---------------------------------------------------------------------------------


async def test_json_object_answers_a_json_object(mock: HttpProvider) -> None:
    data = await chat(mock, response_format={"type": "json_object"})
    content = json.loads(data["choices"][0]["message"]["content"])
    assert isinstance(content, dict) and "Paris" in content["answer"]
    chunks = await stream(mock, response_format={"type": "json_object"})
    assert json.loads(text_of(chunks)) == content


class Unit(Enum):
    C = "celsius"
    F = "fahrenheit"


class Day(pydantic.BaseModel):
    when: datetime
    high: float = pydantic.Field(gt=100)
    low: int = pydantic.Field(le=-5)
    unit: Unit


class Forecast(pydantic.BaseModel):
    city: str = pydantic.Field(min_length=12)
    kind: Literal["forecast"]
    days: list[Day] = pydantic.Field(min_length=2)
    note: str | None
    tags: tuple[str, int]
    child: Forecast | None = None


@pytest.mark.parametrize("stream_it", [False, True])
async def test_json_schema_answers_an_instance_of_the_schema(mock: HttpProvider, stream_it: bool) -> None:
    schema = Forecast.model_json_schema()
    response_format = {"type": "json_schema", "json_schema": {"name": "forecast", "schema": schema, "strict": False}}
    if stream_it:
        text = text_of(await stream(mock, response_format=response_format))
    else:
        text = (await chat(mock, response_format=response_format))["choices"][0]["message"]["content"]
    forecast = Forecast.model_validate_json(text)  # $ref, anyOf, enum, const, bounds, minLength, minItems, format
    assert len(forecast.days) == 2 and forecast.days[0].unit is Unit.C and forecast.note == "example"


def test_schema_instances_are_minimal_and_nested() -> None:
    schema = {
        "type": "object",
        "required": ["name", "tags", "address", "level", "ok", "score", "nothing"],
        "properties": {
            "name": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}},
            "address": {"$ref": "#/$defs/Address"},
            "level": {"type": ["null", "integer"], "minimum": 3, "maximum": 5},
            "ok": {"type": "boolean"},
            "score": {"allOf": [{"type": "number"}, {"exclusiveMaximum": 0}]},
            "nothing": {"type": "null"},
            "optional": {"type": "string"},
        },
        "$defs": {"Address": {"type": "object", "required": ["zip"],
                              "properties": {"zip": {"type": "string", "maxLength": 3}, "street": {}}}},
    }
    assert instance(schema) == {"name": "example", "tags": ["a"], "address": {"zip": "exa"}, "level": 4,
                                "ok": True, "score": -1.0, "nothing": None}
    tree = {"$ref": "#/$defs/Node", "$defs": {"Node": {"type": "object", "required": ["children"], "properties": {
        "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}}}}
    assert json.dumps(instance(tree)).count("children") == 5  # recursion stops


# -- 4. wrong requests: OpenAI's 400 ----------------------------------------------------------------------


@pytest.mark.parametrize(("body", "param", "code", "message"), [
    ({"temperature": "hot"}, "temperature", "invalid_type",
     "Invalid type for 'temperature': expected a decimal, but got a string instead."),
    ({"temperature": 2.5}, "temperature", "decimal_above_max_value",
     "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 2.5 instead."),
    ({"top_p": 1.5}, "top_p", "decimal_above_max_value",
     "Invalid 'top_p': decimal above maximum value. Expected a value <= 1, but got 1.5 instead."),
    ({"n": 0}, "n", "integer_below_min_value",
     "Invalid 'n': integer below minimum value. Expected a value >= 1, but got 0 instead."),
    ({"n": 129}, "n", "integer_above_max_value",
     "Invalid 'n': integer above maximum value. Expected a value <= 128, but got 129 instead."),
    ({"n": 1.5}, "n", "invalid_type", "Invalid type for 'n': expected an integer, but got a decimal instead."),
    ({"max_tokens": 0}, "max_tokens", "integer_below_min_value",
     "Invalid 'max_tokens': integer below minimum value. Expected a value >= 1, but got 0 instead."),
    ({"max_tokens": "10"}, "max_tokens", "invalid_type",
     "Invalid type for 'max_tokens': expected an integer, but got a string instead."),
    ({"seed": True}, "seed", "invalid_type",
     "Invalid type for 'seed': expected an integer, but got a boolean instead."),
    ({"stream": "yes"}, "stream", "invalid_type",
     "Invalid type for 'stream': expected a boolean, but got a string instead."),
    ({"messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role", "invalid_value",
     "Invalid value: 'robot'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and "
     "'developer'."),
    ({"response_format": {"type": "xml"}}, "response_format.type", "invalid_value",
     "Invalid value: 'xml'. Supported values are: 'text', 'json_object', and 'json_schema'."),
    ({"tool_choice": "required"}, "tool_choice", None,
     "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified."),
])
async def test_wrong_parameters_get_openais_400(body: dict[str, Any], param: str, code: str | None,
                                                message: str) -> None:
    response = await raw({"model": "x", "messages": USER, **body})
    assert response.status_code == 400
    assert response.json() == {"error": {"message": message, "type": "invalid_request_error", "param": param,
                                         "code": code}}


def test_what_openai_accepts_passes() -> None:
    check("chat", {"messages": USER, "temperature": 0, "top_p": 1, "n": 128, "max_tokens": 1, "seed": -3,
                   "stream": False, "frequency_penalty": -2, "tool_choice": "auto", "response_format": None,
                   "temperature_unknown_to_us": "anything"})
    check("text_completion", {"prompt": "x", "logprobs": 5})  # legacy logprobs is a number, not a boolean


async def test_the_mocks_400_is_an_upstream_400(mock: HttpProvider) -> None:
    with pytest.raises(UpstreamStatusError) as raised:
        await chat(mock, temperature="hot")
    error = raised.value
    assert (error.status, error.param, error.code, error.retryable) == (400, "temperature", "invalid_type", False)
    call = Call("chat", {"model": "x", "messages": USER, "stream": True, "n": 0}, stream=True)
    with pytest.raises(UpstreamStatusError) as raised:
        await mock.open_stream(call, "m")  # refused before the stream begins
    assert raised.value.status == 400 and raised.value.param == "n"


class Cooldowns(Observer):
    def __init__(self) -> None:
        self.cooldowns: list[str] = []

    def attempt_finished(self, exchange: Exchange, attempt: Attempt) -> None:
        pass

    def target_cooldown(self, route: str, target: str, seconds: float) -> None:
        self.cooldowns.append(target)


async def test_the_dispatcher_neither_fails_over_nor_cools_down_for_it() -> None:
    config = parse_config("""
[[providers]]
name = "a"
type = "mock"
[[providers]]
name = "b"
type = "mock"
[[routes]]
model = "m"
  [[routes.targets]]
  provider = "a"
  model = "a1"
  [[routes.targets]]
  provider = "b"
  model = "b1"
""")
    providers = {p.name: build_provider(p) for p in config.providers}
    health, observer = Health(CooldownPolicy(failure_threshold=2), FakeClock()), Cooldowns()
    dispatcher = Dispatcher(RouteTable(config), providers, observer, health, config.routing)
    route = dispatcher.table.get("m")
    assert route is not None
    bad = Call("chat", {"model": "m", "messages": USER, "temperature": "hot"})
    for _ in range(4):
        exchange = Exchange("req", "chat")
        with pytest.raises(UpstreamStatusError) as raised:
            await dispatcher.complete(exchange, route, bad, Control())
        assert raised.value.status == 400 and len(exchange.attempts) == 1
    assert observer.cooldowns == [] and all(health.usable(t.key) for t in route.targets)
    for provider in providers.values():
        await provider.aclose()
