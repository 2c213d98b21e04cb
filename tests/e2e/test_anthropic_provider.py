"""The openai SDK through a real gateway to a fake Anthropic Messages API (tests/fakes/anthropic.py):
chat, streams, tools, images, system, honest 400s, Anthropic errors and failover on `overloaded_error`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import openai
import pytest

from gateway.app import create_app
from gateway.config import parse_config
from tests.fakes import openai_compat
from tests.fakes.anthropic import Cut, Fail, FakeAnthropic, StreamError
from tests.fakes.openai_compat import FakeOpenAI
from tests.support import run_server

KEY = "sk-ant-fake-0123456789"
WEATHER: Any = {"type": "function", "function": {
    "name": "weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
USER: Any = [{"role": "user", "content": "hi"}]


class Setup:
    def __init__(self, stack: ExitStack) -> None:
        self.main, self.busy = FakeAnthropic(api_key=KEY), FakeAnthropic(api_key=KEY)
        main, busy = stack.enter_context(run_server(self.main.app)), stack.enter_context(run_server(self.busy.app))
        self.openai = FakeOpenAI()
        oa = stack.enter_context(run_server(self.openai.app))
        text = f"""
[routing]
backoff_base_s = 0.01
cooldown_s = 0.01
failure_threshold = 100
[[providers]]
name = "claude"
type = "anthropic"
base_url = "{main.url}"
api_key = "{KEY}"
[[providers]]
name = "claude-busy"
type = "anthropic"
base_url = "{busy.url}/v1"
api_key = "{KEY}"
[[providers]]
name = "claude-2026"
type = "anthropic"
base_url = "{main.url}"
api_key = "{KEY}"
anthropic_version = "2026-10-21"
[[providers]]
name = "oa"
type = "openai"
base_url = "{oa.url}/v1"
[[routes]]
model = "mixed"
fallbacks = ["claude"]
retries_per_target = 0
  [[routes.targets]]
  provider = "oa"
  model = "gpt-x"
[[routes]]
model = "claude"
  [[routes.targets]]
  provider = "claude"
  model = "claude-sonnet-4-5"
[[routes]]
model = "claude-2026"
  [[routes.targets]]
  provider = "claude-2026"
  model = "claude-opus-4-6"
[[routes]]
model = "newest"
  [[routes.targets]]
  provider = "claude"
  model = "claude-opus-4-6"
[[routes]]
model = "busy-then-newest"
fallbacks = ["newest"]
retries_per_target = 0
  [[routes.targets]]
  provider = "claude-busy"
  model = "claude-haiku-4-5"
[[routes]]
model = "busy"
fallbacks = ["claude"]
retries_per_target = 0
  [[routes.targets]]
  provider = "claude-busy"
  model = "claude-haiku-4-5"
"""
        self.gateway = stack.enter_context(run_server(create_app(parse_config(text))))
        self.client = openai.OpenAI(base_url=self.gateway.url + "/v1", api_key="k", max_retries=0)

    def reset(self) -> None:
        for fake in (self.main, self.busy):
            fake.requests.clear()
            fake._queue.clear()
            fake.parallel = 1
            fake.reject_prefill = False
        self.openai.reset()


@pytest.fixture(scope="module")
def setup() -> Iterator[Setup]:
    with ExitStack() as stack:
        yield Setup(stack)


@pytest.fixture
def s(setup: Setup) -> Setup:
    setup.reset()
    return setup


def test_chat_with_system_and_history(s: Setup) -> None:
    s.main.cache_read_tokens = 4
    messages: Any = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"},
                     {"role": "assistant", "content": "hello"}, {"role": "user", "content": "again"}]
    answer = s.client.chat.completions.create(model="claude", messages=messages, temperature=0.5, stop=["zzz"])
    s.main.cache_read_tokens = 0
    assert answer.choices[0].message.content == "Hello from the fake Anthropic."
    assert answer.choices[0].finish_reason == "stop" and answer.model == "claude-sonnet-4-5"
    assert answer.usage is not None and answer.usage.prompt_tokens_details is not None
    assert answer.usage.prompt_tokens_details.cached_tokens == 4
    sent = s.main.last
    assert sent.path == "/v1/messages" and sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.json["system"] == "Be brief."
    assert [m["role"] for m in sent.json["messages"]] == ["user", "assistant", "user"]
    assert sent.json["temperature"] == 0.5 and sent.json["stop_sequences"] == ["zzz"]
    assert sent.json["max_tokens"] == 4096


def test_stream_with_usage(s: Setup) -> None:
    stream = s.client.chat.completions.create(model="claude", messages=USER, stream=True,
                                              stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the fake Anthropic."
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5


def test_stream_bytes_end_with_done(s: Setup) -> None:
    with httpx.stream("POST", s.gateway.url + "/v1/chat/completions", timeout=5,
                      json={"model": "claude", "messages": USER, "stream": True}) as response:
        body = response.read()
    assert response.status_code == 200 and body.endswith(b"data: [DONE]\n\n")
    assert b"usage" not in body  # not asked for


@pytest.mark.parametrize("stream", [False, True])
def test_parallel_tool_calls(s: Setup, stream: bool) -> None:
    s.main.parallel = 2
    tools: Any = [WEATHER, {"type": "function", "function": {"name": "time", "parameters": {"type": "object"}}}]
    if stream:
        calls: dict[int, dict[str, str]] = {}
        finish = None
        for chunk in s.client.chat.completions.create(model="claude", messages=USER, tools=tools, stream=True):
            for delta in chunk.choices[0].delta.tool_calls or ():
                call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                call["id"] += delta.id or ""
                call["name"] += (delta.function and delta.function.name) or ""
                call["arguments"] += (delta.function and delta.function.arguments) or ""
            finish = chunk.choices[0].finish_reason or finish
        got = [(c["name"], json.loads(c["arguments"])) for c in calls.values()]
        assert all(c["id"].startswith("toolu_") for c in calls.values())
    else:
        answer = s.client.chat.completions.create(model="claude", messages=USER, tools=tools)
        finish = answer.choices[0].finish_reason
        got = [(t.function.name, json.loads(t.function.arguments)) for t in answer.choices[0].message.tool_calls or ()
               if t.type == "function"]
    assert got == [("weather", {"city": "Paris"}), ("time", {})] and finish == "tool_calls"


def test_tool_results_go_back_as_one_user_turn(s: Setup) -> None:
    messages: Any = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}},
            {"id": "toolu_2", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Rome"}'}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "rain"},
    ]
    answer = s.client.chat.completions.create(model="claude", messages=messages, tools=[WEATHER], tool_choice="auto")
    assert answer.choices[0].message.content == "Hello from the fake Anthropic."
    turns = s.main.last.json["messages"]
    assert [b["type"] for b in turns[1]["content"]] == ["tool_use", "tool_use"]
    assert turns[2]["content"] == [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                                   {"type": "tool_result", "tool_use_id": "toolu_2", "content": "rain"}]


def test_images(s: Setup) -> None:
    content: Any = [{"type": "text", "text": "what is it?"},
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]
    s.client.chat.completions.create(model="claude", messages=[{"role": "user", "content": content}])
    sources = [b["source"] for b in s.main.last.json["messages"][0]["content"] if b["type"] == "image"]
    assert sources == [{"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"},
                       {"type": "url", "url": "https://example.com/a.png"}]


@pytest.mark.parametrize("stream", [False, True])
def test_response_format_json_schema(s: Setup, stream: bool) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    fmt: Any = {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}
    if stream:
        chunks = list(s.client.chat.completions.create(model="claude", messages=USER, response_format=fmt, stream=True))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert not any(c.choices[0].delta.tool_calls for c in chunks if c.choices)
    else:
        text = s.client.chat.completions.create(model="claude", messages=USER, response_format=fmt)
        text = text.choices[0].message.content or ""
    assert json.loads(text) == {"answer": "Paris"}
    assert s.main.last.json["tool_choice"] == {"type": "tool", "name": "json_response"}


def test_max_tokens_maps_to_length(s: Setup) -> None:
    answer = s.client.chat.completions.create(model="claude", messages=USER, max_tokens=2)
    assert answer.choices[0].message.content == "Hello from" and answer.choices[0].finish_reason == "length"


@pytest.mark.parametrize(("path", "body", "feature"), [
    ("/v1/embeddings", {"model": "claude", "input": "x"}, "embeddings"),
    ("/v1/completions", {"model": "claude", "prompt": "x"}, "legacy completions"),
    ("/v1/chat/completions", {"model": "claude", "messages": USER, "n": 3}, "'n'"),
    ("/v1/chat/completions", {"model": "claude", "messages": USER, "logprobs": True}, "'logprobs'"),
])
def test_unsupported_features_are_a_clear_400(s: Setup, path: str, body: dict[str, Any], feature: str) -> None:
    response = httpx.post(s.gateway.url + path, json=body, timeout=5)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "unsupported_feature"
    assert "provider claude" in error["message"] and feature in error["message"]
    assert response.headers["x-gateway-attempts"] == "1" and not s.main.requests


@pytest.mark.parametrize(("status", "kind", "sdk_error"), [
    (400, "invalid_request_error", openai.BadRequestError),
    (401, "authentication_error", openai.AuthenticationError),
    (404, "not_found_error", openai.NotFoundError),
])
def test_client_errors_pass_through(s: Setup, status: int, kind: str, sdk_error: type[Exception]) -> None:
    s.main.enqueue(Fail(status, kind, "no way"))
    with pytest.raises(sdk_error) as caught:
        s.client.chat.completions.create(model="claude", messages=USER)
    assert "no way" in str(caught.value) and len(s.main.requests) == 1


@pytest.mark.parametrize("failure", [Fail(529, "overloaded_error", "Overloaded"), Fail(429, "rate_limit_error")])
def test_overloaded_and_rate_limited_fail_over(s: Setup, failure: Fail) -> None:
    s.busy.enqueue(failure)
    response = s.client.chat.completions.with_raw_response.create(model="busy", messages=USER)
    assert response.headers["x-gateway-provider"] == "claude" and response.headers["x-gateway-attempts"] == "2"
    assert response.parse().choices[0].message.content == "Hello from the fake Anthropic."


def test_overloaded_alone_is_the_clients_error(s: Setup) -> None:
    s.busy.enqueue(Fail(529, "overloaded_error", "Overloaded"))
    response = httpx.post(s.gateway.url + "/v1/chat/completions", timeout=5, headers={"x-gateway-fallbacks": "off"},
                          json={"model": "busy", "messages": USER})
    assert response.status_code == 529 and response.json()["error"]["type"] == "overloaded_error"


def test_stream_overloaded_event_before_content_fails_over(s: Setup) -> None:
    s.busy.enqueue(StreamError(after=0))
    chunks = list(s.client.chat.completions.create(model="busy", messages=USER, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello from the fake Anthropic."
    assert len(s.busy.requests) == 1 and len(s.main.requests) == 1


def test_stream_cut_mid_answer_is_resumed_by_prefill(s: Setup) -> None:
    s.busy.enqueue(Cut(after=2))
    chunks = list(s.client.chat.completions.create(model="busy", messages=USER, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello from the fake Anthropic."
    prefill = {"role": "assistant", "content": [{"type": "text", "text": "Hello from"}]}
    assert s.main.last.json["messages"][-1] == prefill


def test_a_cut_stream_is_regenerated_on_a_model_that_refuses_prefill(s: Setup) -> None:
    """Claude 4.6 and later refuse an assistant prefill: the gateway does not send one (issue 20, item 3)."""
    s.busy.enqueue(Cut(after=2))
    chunks = list(s.client.chat.completions.create(model="busy-then-newest", messages=USER, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello from the fake Anthropic."
    assert len(s.main.requests) == 1 and s.main.last.json["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert s.main.last.json["model"] == "claude-opus-4-6"


def test_a_refused_prefill_is_regenerated_on_the_same_target(s: Setup) -> None:
    """The table can be wrong (or the model changed): a prefill refused with a 400 falls back to
    regenerate-and-splice on the same target, and the client still gets the whole answer once."""
    s.main.reject_prefill = True
    s.busy.enqueue(Cut(after=2))
    chunks = list(s.client.chat.completions.create(model="busy", messages=USER, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello from the fake Anthropic."
    first, second = s.main.requests
    assert first.json["messages"][-1] == {"role": "assistant", "content": [{"type": "text", "text": "Hello from"}]}
    assert second.json["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]


def test_stream_error_event_after_content_without_resume_ends_with_an_error(s: Setup) -> None:
    s.main.enqueue(StreamError(after=2, error_type="invalid_request_error", message="bad"))
    with httpx.stream("POST", s.gateway.url + "/v1/chat/completions", timeout=5,
                      json={"model": "claude", "messages": USER, "stream": True}) as response:
        body = response.read()
    assert b"[DONE]" not in body and b'"error"' in body and b"bad" in body


def test_openai_stream_cut_is_continued_on_anthropic(s: Setup) -> None:
    s.openai.enqueue(openai_compat.CutAfter(2))
    chunks = list(s.client.chat.completions.create(model="mixed", messages=USER, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello from the fake Anthropic."
    assert s.main.last.json["messages"][-1]["content"] == [{"type": "text", "text": "Hello from"}]


def test_a_resume_anthropic_cannot_do_ends_the_stream_with_an_error(s: Setup) -> None:
    s.openai.enqueue(openai_compat.CutAfter(2))
    with httpx.stream("POST", s.gateway.url + "/v1/chat/completions", timeout=5,
                      json={"model": "mixed", "messages": USER, "stream": True, "seed": 7}) as response:
        body = response.read()
    assert response.status_code == 200 and b"[DONE]" not in body
    assert b'"error"' in body and b'"content":"Hello"' in body and not s.main.requests


# -- requests as the real API takes them (issue 20) --------------------------------------------------------------


def test_sampling_parameters_are_sent_as_the_model_takes_them(s: Setup) -> None:
    answer = s.client.chat.completions.create(model="claude", messages=USER, temperature=1.6, top_p=0.9)
    assert answer.choices[0].message.content == "Hello from the fake Anthropic."
    sent = s.main.last.json
    assert sent["temperature"] == 1 and "top_p" not in sent  # Sonnet 4.5 takes one of the pair, 0-1


def test_sampling_parameters_on_api_version_2026_10_21_are_a_clear_400(s: Setup) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        s.client.chat.completions.create(model="claude-2026", messages=USER, temperature=0.2)
    error = caught.value.body
    assert isinstance(error, dict) and error["param"] == "temperature"
    assert "anthropic-version 2026-10-21" in error["message"] and not s.main.requests
    s.client.chat.completions.create(model="claude-2026", messages=USER, temperature=1)  # neutral: left out
    assert s.main.last.headers["anthropic-version"] == "2026-10-21" and "temperature" not in s.main.last.json


def test_a_conversation_with_gemini_tool_call_ids_goes_to_anthropic(s: Setup) -> None:
    """The gateway's Gemini ids carry a base64 thought signature (`~`, `+`, `/`, `=`): a conversation that
    fails over from a Gemini target must still be one Anthropic takes."""
    signed = "call_7f3a~ts~CiQBVKhc7+Zr/Y2x9Q8WmZ1Xy0P0/Zr=="
    messages: Any = [*USER, {"role": "assistant", "content": "", "tool_calls": [
        {"id": signed, "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": signed, "content": "sunny"}, {"role": "assistant", "content": ""},
        {"role": "user", "content": "and so?"}]
    answer = s.client.chat.completions.create(model="claude", messages=messages, tools=[WEATHER],
                                              tool_choice="none", parallel_tool_calls=False)
    assert answer.choices[0].message.content == "Hello from the fake Anthropic."
    sent = s.main.last.json
    assert sent["tool_choice"] == {"type": "none"}
    used, answered = sent["messages"][1]["content"][0]["id"], sent["messages"][2]["content"][0]["tool_use_id"]
    assert used == answered and used != signed
