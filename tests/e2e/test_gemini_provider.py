"""The `gemini` provider end to end: the official openai SDK -> gateway -> fake Gemini API over loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Literal

import httpx
import openai
import pytest
from pydantic import BaseModel

from gateway.app import create_app
from gateway.config import parse_config
from tests.fakes.gemini import FakeGemini, google_error
from tests.fakes.openai_compat import CutAfter, Fail, FakeOpenAI, Malformed, Reply
from tests.support import RunningServer, run_server

KEY = "AIza-fake-key-0123456789"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Paris?"}]
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                   "additionalProperties": False},
}}]


class Stack:
    def __init__(self, gemini: FakeGemini, backup: FakeOpenAI, gateway: RunningServer) -> None:
        self.gemini, self.backup, self.gateway = gemini, backup, gateway
        self.client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="client", max_retries=0)


@pytest.fixture
def stack() -> Iterator[Stack]:
    gemini, backup = FakeGemini(), FakeOpenAI(reply="Hello from the backup.")
    with ExitStack() as exits:
        g = exits.enter_context(run_server(gemini.app))
        b = exits.enter_context(run_server(backup.app))
        config = f"""
[[providers]]
name = "gemini"
type = "gemini"
base_url = "{g.url}"
api_key = "{KEY}"
timeout_s = 5
[[providers]]
name = "backup"
type = "openai"
base_url = "{b.url}"
[[routes]]
model = "flash"
  [[routes.targets]]
  provider = "gemini"
  model = "gemini-2.0-flash"
[[routes]]
model = "flash-or-backup"
strategy = "round_robin"
retries_per_target = 0
  [[routes.targets]]
  provider = "gemini"
  model = "gemini-2.0-flash"
  [[routes.targets]]
  provider = "backup"
  model = "gpt-4o-mini"
[[routes]]
model = "flash-then-backup"
  [[routes.targets]]
  provider = "gemini"
  model = "gemini-2.0-flash"
  weight = 1000000
  [[routes.targets]]
  provider = "backup"
  model = "gpt-4o-mini"
  weight = 0.000001
[[routes]]
model = "embed"
  [[routes.targets]]
  provider = "gemini"
  model = "text-embedding-004"
"""
        gateway = exits.enter_context(run_server(create_app(parse_config(config))))
        s = Stack(gemini, backup, gateway)
        exits.callback(s.client.close)
        yield s


def test_chat(stack: Stack) -> None:
    raw = stack.client.chat.completions.with_raw_response.create(
        model="flash", messages=MESSAGES, temperature=0.3, max_tokens=50, stop=["END"])  # type: ignore[arg-type]
    completion = raw.parse()
    assert completion.choices[0].message.content == "Hello from the fake Gemini."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "gemini-2.0-flash"
    assert completion.usage is not None and completion.usage.prompt_tokens == 5 and completion.usage.completion_tokens
    assert raw.headers["x-gateway-provider"] == "gemini"
    seen = stack.gemini.last
    assert seen.path == "/v1beta/models/gemini-2.0-flash:generateContent"
    assert seen.headers["x-goog-api-key"] == KEY and "authorization" not in seen.headers
    assert seen.json == {
        "contents": [{"role": "user", "parts": [{"text": "Weather in Paris?"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"temperature": 0.3, "maxOutputTokens": 50, "stopSequences": ["END"]},
    }


def test_max_tokens_is_length(stack: Stack) -> None:
    completion = stack.client.chat.completions.create(model="flash", messages=MESSAGES, max_tokens=2)  # type: ignore[arg-type]
    assert completion.choices[0].finish_reason == "length"
    assert completion.choices[0].message.content == "Hello from"


def test_stream_with_usage(stack: Stack) -> None:
    chunks = list(stack.client.chat.completions.create(
        model="flash", messages=MESSAGES, stream=True, stream_options={"include_usage": True}))  # type: ignore[arg-type]
    assert stack.gemini.last.path.endswith(":streamGenerateContent") and stack.gemini.last.query == "alt=sse"
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the fake Gemini."
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 5
    assert len({c.id for c in chunks}) == 1


def test_stream_without_usage_and_done_framing(stack: Stack) -> None:
    body = {"model": "flash", "messages": MESSAGES, "stream": True}
    with httpx.stream("POST", stack.gateway.url + "/v1/chat/completions", json=body, timeout=5) as response:
        raw = b"".join(response.iter_bytes())
    events = [e for e in raw.split(b"\n\n") if e]
    assert events[-1] == b"data: [DONE]"
    payloads = [json.loads(e.removeprefix(b"data: ")) for e in events[:-1]]
    assert all(p["object"] == "chat.completion.chunk" and "usage" not in p for p in payloads)


def test_tools_non_stream_and_tool_result_round_trip(stack: Stack) -> None:
    completion = stack.client.chat.completions.create(model="flash", messages=MESSAGES, tools=TOOLS)  # type: ignore[arg-type]
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls or []
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    declaration = stack.gemini.last.json["tools"][0]["functionDeclarations"][0]
    assert "additionalProperties" not in declaration["parameters"]

    history = [*MESSAGES, choice.message.model_dump(exclude_none=True),
               {"role": "tool", "tool_call_id": call.id, "content": '{"temp": 21}'}]
    answer = stack.client.chat.completions.create(model="flash", messages=history, tools=TOOLS)  # type: ignore[arg-type]
    assert answer.choices[0].message.content == "Hello from the fake Gemini."
    contents = stack.gemini.last.json["contents"]
    assert contents[-2]["parts"][0]["functionCall"] == {"id": call.id, "name": "get_weather", "args": {"city": "Paris"}}
    assert contents[-1]["parts"][0]["functionResponse"]["response"] == {"temp": 21}


def test_tools_stream(stack: Stack) -> None:
    chunks = list(stack.client.chat.completions.create(
        model="flash", messages=MESSAGES, tools=TOOLS, tool_choice="required", stream=True))  # type: ignore[arg-type]
    calls = [t for c in chunks if c.choices for t in c.choices[0].delta.tool_calls or ()]
    assert len(calls) == 1 and calls[0].index == 0 and calls[0].id and calls[0].type == "function"
    assert calls[0].function is not None and calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments or "") == {"city": "Paris"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert stack.gemini.last.json["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}


def test_embeddings_single_batch_and_dimensions(stack: Stack) -> None:
    one = stack.client.embeddings.create(model="embed", input="hello")  # the SDK asks for base64 and decodes it
    assert len(one.data) == 1 and len(one.data[0].embedding) == 8
    assert stack.gemini.last.path.endswith("/text-embedding-004:embedContent")
    many = stack.client.embeddings.create(model="embed", input=["a", "b", "c"], dimensions=4, encoding_format="float")
    assert [len(d.embedding) for d in many.data] == [4, 4, 4] and [d.index for d in many.data] == [0, 1, 2]
    assert stack.gemini.last.path.endswith(":batchEmbedContents")
    assert stack.gemini.last.json["requests"][0]["outputDimensionality"] == 4


def test_unsupported_feature_is_a_400_and_never_sent(stack: Stack) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        stack.client.chat.completions.create(model="flash-or-backup", messages=MESSAGES, logprobs=True)  # type: ignore[arg-type]
    assert "provider gemini (gemini) does not support logprobs" in caught.value.message
    with pytest.raises(openai.BadRequestError, match="legacy completions"):
        stack.client.completions.create(model="flash", prompt="hi")
    assert stack.gemini.requests == []


def test_upstream_400_is_passed_through_without_failover(stack: Stack) -> None:
    stack.gemini.enqueue(Fail(400, google_error(400, "Invalid value at 'contents'")))
    with pytest.raises(openai.BadRequestError, match="Invalid value at 'contents'"):
        stack.client.chat.completions.create(model="flash", messages=MESSAGES)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [429, 503])
def test_429_and_503_fail_over_to_the_other_target(stack: Stack, status: int) -> None:
    stack.gemini.enqueue(*[Fail(status, google_error(status, retry_delay="0s"))] * 2)
    for _ in range(2):  # round robin: one of the two requests starts on Gemini
        raw = stack.client.chat.completions.with_raw_response.create(model="flash-or-backup", messages=MESSAGES)  # type: ignore[arg-type]
        assert raw.parse().choices[0].message.content == "Hello from the backup."
        assert raw.headers["x-gateway-provider"] == "backup"
    assert len(stack.gemini.requests) == 1


def test_rate_limit_reaches_the_client_as_429(stack: Stack) -> None:
    stack.gemini.enqueue(*[Fail(429, google_error(429, "Quota exceeded for quota metric"))] * 3)
    with pytest.raises(openai.RateLimitError, match="Quota exceeded"):
        stack.client.chat.completions.create(model="flash", messages=MESSAGES)  # type: ignore[arg-type]


def test_stream_cut_midway_ends_with_an_error_not_done(stack: Stack) -> None:
    stack.gemini.enqueue(CutAfter(2))
    body = {"model": "flash", "messages": MESSAGES, "stream": True}
    with httpx.stream("POST", stack.gateway.url + "/v1/chat/completions", json=body, timeout=5) as response:
        raw = b"".join(response.iter_bytes())
    assert b'"Hello"' in raw and b"[DONE]" not in raw and b'"error"' in raw


def test_malformed_event_is_skipped(stack: Stack) -> None:
    stack.gemini.enqueue(Malformed(after=1))
    chunks = list(stack.client.chat.completions.create(model="flash", messages=MESSAGES, stream=True))  # type: ignore[arg-type]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from the fake Gemini."


def test_stream_cut_midway_is_resumed_on_the_backup(stack: Stack) -> None:
    stack.gemini.enqueue(CutAfter(2))
    stack.backup.reply = "Hello from the fake Gemini."  # regeneration: the backup's answer starts the same way
    chunks = list(stack.client.chat.completions.create(
        model="flash-then-backup", messages=MESSAGES, stream=True))  # type: ignore[arg-type]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from the fake Gemini."
    assert len(stack.backup.requests) == 1


# -- what Pydantic-based clients send, and answers that are no answer (issue 20) ----------------------------------


class Address(BaseModel):
    city: str
    kind: Literal["home", "work"]


class Person(BaseModel):
    name: str
    nickname: str | None
    address: Address


def test_parse_with_a_nested_pydantic_model(stack: Stack) -> None:
    """What `client.chat.completions.parse` sends ($defs, $ref, const-like Literals, nullables) reaches Gemini
    as a `Schema` it takes."""
    answer = '{"name": "Ada", "nickname": null, "address": {"city": "Paris", "kind": "home"}}'
    stack.gemini.enqueue(Reply(answer))
    parsed = stack.client.chat.completions.parse(model="flash", messages=MESSAGES, response_format=Person)  # type: ignore[arg-type]
    assert parsed.choices[0].message.parsed == Person(name="Ada", nickname=None, address=Address(city="Paris",
                                                                                                kind="home"))
    schema = stack.gemini.last.json["generationConfig"]["responseSchema"]
    assert schema["properties"]["address"]["properties"]["kind"] == {"type": "STRING", "enum": ["home", "work"],
                                                                     "title": "Kind"}


def test_pydantic_function_tools(stack: Stack) -> None:
    completion = stack.client.chat.completions.create(model="flash", messages=MESSAGES,  # type: ignore[arg-type]
                                                      tools=[openai.pydantic_function_tool(Person)])
    assert completion.choices[0].finish_reason == "tool_calls"
    parameters = stack.gemini.last.json["tools"][0]["functionDeclarations"][0]["parameters"]
    assert parameters["properties"]["nickname"] == {"type": "STRING", "title": "Nickname", "nullable": True}


@pytest.mark.parametrize("stream", [False, True])
def test_a_malformed_function_call_fails_over(stack: Stack, stream: bool) -> None:
    stack.gemini.finish_reason = "MALFORMED_FUNCTION_CALL"
    raw = stack.client.chat.completions.with_raw_response.create(  # type: ignore[call-overload]
        model="flash-then-backup", messages=MESSAGES, tools=TOOLS, stream=stream)
    assert raw.headers["x-gateway-provider"] == "backup" and raw.headers["x-gateway-attempts"] == "2"
    if stream:
        calls = [t for c in raw.parse() if c.choices for t in c.choices[0].delta.tool_calls or ()]
    else:
        calls = raw.parse().choices[0].message.tool_calls or []
    assert calls and calls[0].function.name == "get_weather"  # the backup made the call Gemini could not


def test_a_malformed_function_call_without_another_target_is_a_502_saying_so(stack: Stack) -> None:
    stack.gemini.finish_reason = "MALFORMED_FUNCTION_CALL"
    with pytest.raises(openai.APIStatusError, match="MALFORMED_FUNCTION_CALL") as caught:
        stack.client.chat.completions.create(model="flash", messages=MESSAGES, tools=TOOLS)  # type: ignore[arg-type]
    assert caught.value.status_code == 502


def test_an_empty_assistant_message_is_left_out(stack: Stack) -> None:
    messages = [*MESSAGES, {"role": "assistant", "content": ""}, {"role": "user", "content": "Well?"}]
    stack.client.chat.completions.create(model="flash", messages=messages)  # type: ignore[arg-type]
    assert [c["role"] for c in stack.gemini.last.json["contents"]] == ["user"]
