"""Anthropic translation, golden pairs: OpenAI request -> Messages request, message -> chat.completion,
stream events -> chunks, error bodies -> our errors. Pure functions only; no server."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from gateway.config import ConfigError, ProviderConfig, parse_config
from gateway.errors import UnsupportedFeatureError, UpstreamProtocolError, UpstreamStreamError
from gateway.providers.anthropic import (
    AnthropicProvider,
    AnthropicStream,
    from_anthropic_error,
    from_anthropic_id,
    to_anthropic_id,
    to_anthropic_request,
)
from gateway.providers.anthropic_models import claude_version
from gateway.providers.base import Call
from gateway.sse import SSEEvent

CONFIG = ProviderConfig(name="claude", type="anthropic", base_url="https://api.anthropic.com", api_key="sk-ant-1")
PROVIDER = AnthropicProvider(CONFIG)
USER = [{"role": "user", "content": "x"}]
CITY = {"type": "object", "properties": {"city": {"type": "string"}}}
WEATHER = {"type": "function", "function": {"name": "weather", "description": "Weather in a city", "parameters": CITY}}


def translate(body: dict[str, Any], stream: bool = False, model: str = "claude-x") -> dict[str, Any]:
    return to_anthropic_request(body, model, 4096, stream=stream)


def test_request_url_headers_and_body() -> None:
    call = Call("chat", {"model": "c", "messages": [{"role": "user", "content": "hi"}]})
    request = PROVIDER.to_request(call, "claude-x")
    assert request.url == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == "sk-ant-1"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request.headers
    assert json.loads(request.content) == {"model": "claude-x", "max_tokens": 4096,
                                           "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}
    with_v1 = AnthropicProvider(CONFIG.model_copy(update={"base_url": "http://h:1/v1/"}))
    assert with_v1.to_request(call, "m").url == "http://h:1/v1/messages"
    default = AnthropicProvider(ProviderConfig(name="c", type="anthropic"))
    assert default.to_request(call, "m").url == "https://api.anthropic.com/v1/messages"
    assert default.address == ("api.anthropic.com", 443)


def test_system_history_parameters() -> None:
    body = {
        "model": "c", "temperature": 0.2, "top_p": 0.9, "stop": "END", "max_completion_tokens": 50, "max_tokens": 9,
        "user": "u1", "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Be kind."}]},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "bye"},
        ],
    }
    assert translate(body, model="claude-3-5-haiku-20241022") == {  # a model that takes temperature with top_p
        "model": "claude-3-5-haiku-20241022", "max_tokens": 50, "system": "Be brief.\n\nBe kind.", "temperature": 0.2,
        "top_p": 0.9,
        "stop_sequences": ["END"], "metadata": {"user_id": "u1"},
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "hello"}]},
            {"role": "user", "content": [{"type": "text", "text": "bye"}]},
        ],
    }
    assert translate({**body, "stop": ["a", "b"]}, stream=True)["stop_sequences"] == ["a", "b"]
    assert translate(body, stream=True)["stream"] is True


def test_images_as_base64_and_url() -> None:
    content = [{"type": "text", "text": "what?"},
               {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}},
               {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}}]
    out = translate({"model": "c", "messages": [{"role": "user", "content": content}]})
    assert out["messages"][0]["content"] == [
        {"type": "text", "text": "what?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


def test_tools_parallel_calls_and_results() -> None:
    body = {
        "model": "c", "tools": [WEATHER], "tool_choice": "required", "parallel_tool_calls": False,
        "messages": [
            {"role": "user", "content": "weather in Paris and Rome?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}},
                {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Rome"}'}},
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "rain"}]},
            {"role": "user", "content": "thanks"},
        ],
    }
    out = translate(body)
    assert out["tools"] == [{"name": "weather", "description": "Weather in a city",
                             "input_schema": WEATHER["function"]["parameters"]}]
    assert out["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert out["messages"][1] == {"role": "assistant", "content": [
        {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_2", "name": "weather", "input": {"city": "Rome"}},
    ]}
    assert out["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"},
        {"type": "tool_result", "tool_use_id": "call_2", "content": "rain"},
        {"type": "text", "text": "thanks"},
    ]}


@pytest.mark.parametrize(("choice", "expected"), [
    ("auto", {"type": "auto"}), ("none", {"type": "none"}), ("required", {"type": "any"}),
    ({"type": "function", "function": {"name": "weather"}}, {"type": "tool", "name": "weather"}),
])
def test_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    body = {"model": "c", "tools": [WEATHER], "tool_choice": choice, "messages": [{"role": "user", "content": "x"}]}
    assert translate(body)["tool_choice"] == expected


def test_response_format_is_a_forced_tool() -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    body = {"model": "c", "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}}
    out = translate(body)
    assert out["tools"] == [{"name": "json_response", "description": "Answer with this JSON.", "input_schema": schema}]
    assert out["tool_choice"] == {"type": "tool", "name": "json_response"}
    message = {"id": "msg_1", "model": "claude-x", "stop_reason": "tool_use", "usage": {"input_tokens": 1},
               "content": [{"type": "tool_use", "id": "t", "name": "json_response", "input": {"answer": "yes"}}]}
    reply = PROVIDER.from_response(Call("chat", body), json.dumps(message).encode())
    choice = json.loads(reply.body)["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": '{"answer":"yes"}'}
    assert choice["finish_reason"] == "stop"


def test_trailing_assistant_is_a_prefill_without_trailing_space() -> None:
    out = translate({"model": "c", "messages": [{"role": "user", "content": "x"},
                                                 {"role": "assistant", "content": "Once upon "}]})
    assert out["messages"][-1] == {"role": "assistant", "content": [{"type": "text", "text": "Once upon"}]}
    assert ProviderConfig(name="a", type="anthropic", base_url="http://h").prefill is True
    assert ProviderConfig(name="a", type="anthropic", base_url="http://h", prefill=False).prefill is False
    assert ProviderConfig(name="o", type="openai", base_url="http://h").prefill is False


@pytest.mark.parametrize(("operation", "body", "named"), [
    ("embeddings", {"model": "c", "input": "x"}, "embeddings"),
    ("text_completion", {"model": "c", "prompt": "x"}, "legacy completions"),
    ("chat", {"model": "c", "n": 2, "messages": [{"role": "user", "content": "x"}]}, "'n'"),
    ("chat", {"model": "c", "logprobs": True, "messages": [{"role": "user", "content": "x"}]}, "'logprobs'"),
    ("chat", {"model": "c", "messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}, "input_audio"),
])
def test_unsupported_features_are_named(operation: Any, body: dict[str, Any], named: str) -> None:
    with pytest.raises(UnsupportedFeatureError) as caught:
        PROVIDER.to_request(Call(operation, body), "claude-x")
    assert caught.value.status == 400
    assert "provider claude" in caught.value.message and named in caught.value.message


def test_harmless_defaults_pass() -> None:
    body = {"model": "c", "n": 1, "logprobs": False, "frequency_penalty": 0, "messages": USER}
    PROVIDER.to_request(Call("chat", body), "claude-x")


def test_response_with_text_tool_calls_and_cache_usage() -> None:
    message = {
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-x", "stop_reason": "tool_use",
        "content": [{"type": "text", "text": "Let me look."},
                    {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}}],
        "usage": {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 100,
                  "cache_creation_input_tokens": 20},
    }
    reply = PROVIDER.from_response(Call("chat", {}), json.dumps(message).encode())
    chat = json.loads(reply.body)
    assert chat["id"] == "msg_01" and chat["object"] == "chat.completion" and chat["model"] == "claude-x"
    assert chat["choices"][0]["message"] == {
        "role": "assistant", "content": "Let me look.",
        "tool_calls": [{"id": "toolu_1", "type": "function",
                        "function": {"name": "weather", "arguments": '{"city":"Paris"}'}}],
    }
    assert chat["choices"][0]["finish_reason"] == "tool_calls"
    assert chat["usage"] == {"prompt_tokens": 130, "completion_tokens": 5, "total_tokens": 135,
                             "prompt_tokens_details": {"cached_tokens": 100, "cache_creation_tokens": 20}}
    assert (reply.facts.input_tokens, reply.facts.output_tokens, reply.facts.finish_reasons) == (130, 5, ["tool_calls"])


@pytest.mark.parametrize(("stop", "finish"), [("end_turn", "stop"), ("stop_sequence", "stop"),
                                              ("max_tokens", "length"), ("tool_use", "tool_calls")])
def test_finish_reasons(stop: str, finish: str) -> None:
    message = {"id": "m", "model": "c", "stop_reason": stop, "content": [{"type": "text", "text": "x"}], "usage": {}}
    reply = PROVIDER.from_response(Call("chat", {}), json.dumps(message).encode())
    assert json.loads(reply.body)["choices"][0]["finish_reason"] == finish


def events(*items: dict[str, Any]) -> list[SSEEvent]:
    return [SSEEvent(json.dumps(item).encode(), item["type"]) for item in items]


STREAM = events(
    {"type": "message_start", "message": {"id": "msg_9", "model": "claude-x", "content": [],
                                          "usage": {"input_tokens": 7, "output_tokens": 1,
                                                    "cache_read_input_tokens": 3}}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "ping"},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1,
     "content_block": {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"ci'}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": 'ty":"P"}'}},
    {"type": "content_block_stop", "index": 1},
    {"type": "content_block_start", "index": 2,
     "content_block": {"type": "tool_use", "id": "toolu_2", "name": "weather", "input": {}}},
    {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "{}"}},
    {"type": "content_block_stop", "index": 2},
    {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 12}},
    {"type": "message_stop"},
)


def test_stream_sequence_to_chunks() -> None:
    stream = AnthropicStream("claude", include_usage=True)
    chunks = [json.loads(c) for e in STREAM for c in stream.feed(e)]
    deltas = [c["choices"][0]["delta"] if c["choices"] else None for c in chunks]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"content": "Hi"},
        {"tool_calls": [{"index": 0, "id": "toolu_1", "type": "function", "function": {"name": "weather",
                                                                                        "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": 'ty":"P"}'}}]},
        {"tool_calls": [{"index": 1, "id": "toolu_2", "type": "function", "function": {"name": "weather",
                                                                                        "arguments": ""}}]},
        {"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]},
        {},
        None,
    ]
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["prompt_tokens"] == 10 and chunks[-1]["usage"]["completion_tokens"] == 12
    assert {c["id"] for c in chunks} == {"msg_9"} and {c["object"] for c in chunks} == {"chat.completion.chunk"}
    facts = stream.facts
    assert stream.finished and facts.tool_calls and facts.content_started and facts.text == ["Hi"]
    assert (facts.response_model, facts.input_tokens, facts.output_tokens) == ("claude-x", 10, 12)


def test_stream_without_usage_request_sends_no_usage_chunk() -> None:
    stream = AnthropicStream("claude")
    chunks = [json.loads(c) for e in STREAM for c in stream.feed(e)]
    assert all(c["choices"] for c in chunks) and stream.finished


@pytest.mark.parametrize(("kind", "retryable"), [("overloaded_error", True), ("api_error", True),
                                                 ("rate_limit_error", True), ("invalid_request_error", False)])
def test_stream_error_event(kind: str, retryable: bool) -> None:
    stream = AnthropicStream("claude")
    with pytest.raises(UpstreamStreamError) as caught:
        stream.feed(events({"type": "error", "error": {"type": kind, "message": "Overloaded"}})[0])
    assert caught.value.retryable is retryable and "Overloaded" in caught.value.message


@pytest.mark.parametrize(("status", "kind", "retryable"), [
    (400, "invalid_request_error", False), (401, "authentication_error", False), (403, "permission_error", False),
    (404, "not_found_error", False), (413, "request_too_large", False), (429, "rate_limit_error", True),
    (500, "api_error", True), (529, "overloaded_error", True),
])
def test_error_bodies(status: int, kind: str, retryable: bool) -> None:
    body = json.dumps({"type": "error", "error": {"type": kind, "message": "nope"}}).encode()
    error = from_anthropic_error(status, httpx.Headers({"retry-after": "3"}), body, "claude")
    assert (error.status, error.type, error.message, error.retryable, error.retry_after) == (
        status, kind, "nope", retryable, 3.0)


def test_config_keys() -> None:
    config = parse_config('[[providers]]\nname = "c"\ntype = "anthropic"\nbase_url = "http://h"\n'
                          'anthropic_version = "2024-01-01"\nmax_tokens_default = 99\n'
                          '[[routes]]\nmodel = "x"\n[[routes.targets]]\nprovider = "c"\nmodel = "y"\n')
    provider = AnthropicProvider(config.providers[0])
    request = provider.to_request(Call("chat", {"model": "x", "messages": [{"role": "user", "content": "x"}]}), "y")
    assert request.headers["anthropic-version"] == "2024-01-01" and json.loads(request.content)["max_tokens"] == 99


def test_prefill_whitespace_is_not_repeated() -> None:
    call = Call("chat", {"model": "c", "stream": True, "messages": [{"role": "user", "content": "x"},
                                                                    {"role": "assistant", "content": "Once upon "}]})
    stream = PROVIDER.stream_translator(call)
    pieces = events(
        {"type": "message_start", "message": {"id": "m", "model": "c", "usage": {}}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " "}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " a"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " time"}},
    )
    for event in pieces:
        stream.feed(event)
    assert stream.facts.text == ["a", " time"]
    message = {"id": "m", "model": "c", "stop_reason": "end_turn", "content": [{"type": "text", "text": " a time"}]}
    reply = PROVIDER.from_response(call, json.dumps(message).encode())
    assert json.loads(reply.body)["choices"][0]["message"]["content"] == "a time"


def test_garbled_answers_are_protocol_errors() -> None:
    stream = AnthropicStream("claude")
    for data in (b"{not json", b'{"type": "content_block_delta", "delta": "x"}', b"[1]"):
        assert stream.feed(SSEEvent(data)) == []
    assert stream.facts.malformed_events == 3
    with pytest.raises(UpstreamProtocolError):
        stream.feed(SSEEvent(b"nope"))
    with pytest.raises(UpstreamProtocolError):
        PROVIDER.from_response(Call("chat", {}), b'{"content": ["text"]}')
    with pytest.raises(UpstreamProtocolError):
        PROVIDER.from_response(Call("chat", {}), b"<html>")


# -- issue 20: what each model and API version accepts ---------------------------------------------------------


@pytest.mark.parametrize(("model", "version"), [
    ("claude-3-haiku-20240307", (3, 0)), ("claude-3-5-sonnet-20241022", (3, 5)), ("claude-3-7-sonnet-latest", (3, 7)),
    ("claude-sonnet-4-20250514", (4, 0)), ("claude-opus-4-0", (4, 0)), ("claude-opus-4-1-20250805", (4, 1)),
    ("claude-sonnet-4-5", (4, 5)), ("claude-haiku-4-5-20251001", (4, 5)), ("claude-opus-4-6", (4, 6)),
    ("anthropic.claude-3-5-haiku-20241022-v1:0", (3, 5)), ("claude-sonnet-4-5@20250929", (4, 5)),
    ("claude-sonnet-5", (5, 0)), ("my-proxy-alias", None),
])
def test_claude_versions_are_read_from_model_names(model: str, version: tuple[int, int] | None) -> None:
    assert claude_version(model) == version


@pytest.mark.parametrize(("model", "body", "sent"), [
    # older families take both, with OpenAI's 0-2 temperature clamped to Anthropic's 0-1
    ("claude-3-5-haiku-20241022", {"temperature": 2, "top_p": 0.5, "top_k": 5},
     {"temperature": 1, "top_p": 0.5, "top_k": 5}),
    ("claude-sonnet-4-20250514", {"temperature": 0.7, "top_p": 0.9}, {"temperature": 0.7, "top_p": 0.9}),
    # Opus 4.1, Sonnet/Haiku 4.5 and later: one of the pair; a neutral one goes, else temperature stays
    ("claude-opus-4-1-20250805", {"temperature": 0.7, "top_p": 0.9}, {"temperature": 0.7}),
    ("claude-haiku-4-5", {"temperature": 1, "top_p": 0.9}, {"top_p": 0.9}),
    ("claude-sonnet-4-5", {"temperature": 1.5, "top_p": 1}, {"temperature": 1}),
    ("my-proxy-alias", {"temperature": 0, "top_p": 0.2}, {"temperature": 0}),  # unknown: the newest rules
    ("claude-opus-4-6", {"top_p": 0.3, "top_k": 0}, {"top_p": 0.3, "top_k": 0}),
])
def test_sampling_parameters_per_model_family(model: str, body: dict[str, Any], sent: dict[str, Any]) -> None:
    out = to_anthropic_request({"messages": USER, **body}, model, 10)
    assert {k: out[k] for k in ("temperature", "top_p", "top_k") if k in out} == sent


@pytest.mark.parametrize(("body", "param"), [
    ({"temperature": 2.5}, "temperature"), ({"temperature": -1}, "temperature"),
    ({"temperature": "hot"}, "temperature"), ({"temperature": True}, "temperature"),
    ({"top_p": 1.5}, "top_p"), ({"top_k": -1}, "top_k"), ({"top_k": 2.5}, "top_k"),
])
def test_sampling_parameters_out_of_range_are_a_400_naming_them(body: dict[str, Any], param: str) -> None:
    with pytest.raises(UnsupportedFeatureError) as caught:
        PROVIDER.to_request(Call("chat", {"messages": USER, **body}), "claude-3-5-haiku-20241022")
    assert caught.value.status == 400 and caught.value.param == param and f"'{param}'" in caught.value.message


def test_api_version_2026_10_21_takes_no_sampling_parameters() -> None:
    new = AnthropicProvider(CONFIG.model_copy(update={"anthropic_version": "2026-10-21"}))
    neutral = json.loads(new.to_request(Call("chat", {"messages": USER, "temperature": 1, "top_p": 1}), "m").content)
    assert not {"temperature", "top_p", "top_k"} & set(neutral)
    for name, value in (("temperature", 0.2), ("top_p", 0.9), ("top_k", 40)):
        with pytest.raises(UnsupportedFeatureError) as caught:
            new.to_request(Call("chat", {"messages": USER, name: value}), "claude-opus-4-6")
        assert caught.value.param == name and "anthropic-version 2026-10-21" in caught.value.message


@pytest.mark.parametrize("version", ["2023-6-1", "latest", ""])
def test_a_malformed_anthropic_version_is_a_config_problem(version: str) -> None:
    with pytest.raises(ValueError, match="anthropic_version\n.*must be a dated version"):
        ProviderConfig(name="a", type="anthropic", anthropic_version=version)


@pytest.mark.parametrize(("model", "accepted"), [
    ("claude-3-7-sonnet-20250219", True), ("claude-sonnet-4-5", True), ("claude-opus-4-5-20251101", True),
    ("claude-opus-4-6", False), ("claude-sonnet-4-6", False), ("claude-sonnet-5", False), ("my-proxy-alias", False),
])
def test_prefill_by_model_family(model: str, accepted: bool) -> None:
    assert PROVIDER.accepts_prefill(model) is accepted


def test_prefill_models_in_the_config_come_first() -> None:
    config = parse_config('[[providers]]\nname = "c"\ntype = "anthropic"\n'
                          'prefill_models = { "claude-opus-4-6*" = true, "claude-3-*" = false, "my-*" = true }\n'
                          '[[routes]]\nmodel = "x"\n[[routes.targets]]\nprovider = "c"\nmodel = "y"\n')
    provider = AnthropicProvider(config.providers[0])
    assert provider.accepts_prefill("claude-opus-4-6-20260101") and provider.accepts_prefill("my-alias")
    assert not provider.accepts_prefill("claude-3-5-haiku-20241022")
    assert provider.accepts_prefill("claude-sonnet-4-5") and not provider.accepts_prefill("claude-sonnet-4-6")


def test_prefill_models_must_map_globs_to_booleans() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config('[[providers]]\nname = "c"\ntype = "anthropic"\nprefill_models = { "claude-*" = "yes" }\n'
                     '[[routes]]\nmodel = "x"\n[[routes.targets]]\nprovider = "c"\nmodel = "y"\n')
    assert any(p.startswith("providers[0].prefill_models") for p in caught.value.problems), caught.value.problems


# -- issue 20: ids, tool choice, empty turns, stop reasons, stream details -------------------------------------


@pytest.mark.parametrize("call_id", ["toolu_01A09q90qw90lq917835lq9", "call_abc-123", "call_x~ts~CiQB+/Zr==",
                                     "gwid_looks_like_ours", "ид", "a b"])
def test_tool_call_ids_are_mapped_reversibly(call_id: str) -> None:
    sent = to_anthropic_id(call_id)
    assert re.fullmatch(r"[a-zA-Z0-9_-]+", sent) and from_anthropic_id(sent) == call_id
    assert (sent == call_id) is (re.fullmatch(r"[a-zA-Z0-9_-]+", call_id) is not None
                                 and not call_id.startswith("gwid_"))


def test_gemini_ids_reach_anthropic_as_valid_ids_in_call_and_result() -> None:
    signed = "call_1~ts~CiQBVKhc7+Zr/Y2x9Q=="
    body = {"messages": [*USER, {"role": "assistant", "content": None, "tool_calls": [
        {"id": signed, "type": "function", "function": {"name": "weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": signed, "content": "sunny"}], "tools": [WEATHER]}
    out = translate(body)
    used, answered = out["messages"][1]["content"][0]["id"], out["messages"][2]["content"][0]["tool_use_id"]
    assert used == answered and re.fullmatch(r"[a-zA-Z0-9_-]+", used) and from_anthropic_id(used) == signed


def test_a_tool_call_without_an_id_is_a_400() -> None:
    body = {"messages": [*USER, {"role": "assistant", "tool_calls": [
        {"type": "function", "function": {"name": "weather", "arguments": "{}"}}]}]}
    with pytest.raises(UnsupportedFeatureError, match="without an id"):
        PROVIDER.to_request(Call("chat", body), "claude-x")


@pytest.mark.parametrize(("choice", "expected"), [
    ("none", {"type": "none"}), ("auto", {"type": "auto", "disable_parallel_tool_use": True}),
    ("required", {"type": "any", "disable_parallel_tool_use": True}),
    (None, {"type": "auto", "disable_parallel_tool_use": True}),
])
def test_parallel_tool_calls_false(choice: Any, expected: dict[str, Any]) -> None:
    body = {"messages": USER, "tools": [WEATHER], "tool_choice": choice, "parallel_tool_calls": False}
    assert translate(body)["tool_choice"] == expected


def test_empty_assistant_messages_are_left_out() -> None:
    body = {"messages": [*USER, {"role": "assistant", "content": ""}, {"role": "user", "content": "y"},
                         {"role": "assistant", "content": [{"type": "text", "text": ""}]},
                         {"role": "user", "content": "z"}, {"role": "assistant", "content": "  "}]}
    assert translate(body)["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "x"}, {"type": "text", "text": "y"}, {"type": "text", "text": "z"}]}]


def test_context_window_exceeded_is_length() -> None:
    message = {"id": "m", "model": "c", "stop_reason": "model_context_window_exceeded", "usage": {},
               "content": [{"type": "text", "text": "x"}]}
    reply = PROVIDER.from_response(Call("chat", {}), json.dumps(message).encode())
    assert json.loads(reply.body)["choices"][0]["finish_reason"] == "length"
    stream = AnthropicStream("claude")
    stream.feed(events({"type": "message_delta", "delta": {"stop_reason": "model_context_window_exceeded"},
                        "usage": {"output_tokens": 1}})[0])
    assert stream.facts.finish_reasons == ["length"]


def test_null_usage_in_message_delta_keeps_the_prompt_tokens() -> None:
    stream = AnthropicStream("claude", include_usage=True)
    chunks = [json.loads(c) for e in events(
        {"type": "message_start", "message": {"id": "m", "model": "c",
                                              "usage": {"input_tokens": 20, "output_tokens": 1}}},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
         "usage": {"input_tokens": None, "cache_read_input_tokens": None, "output_tokens": 9}},
        {"type": "message_stop"},
    ) for c in stream.feed(e)]
    assert chunks[-1]["usage"]["prompt_tokens"] == 20 and chunks[-1]["usage"]["completion_tokens"] == 9
    assert (stream.facts.input_tokens, stream.facts.output_tokens) == (20, 9)


def test_a_server_tool_input_is_not_answer_text_but_the_json_tool_input_is() -> None:
    stream = AnthropicStream("claude", json_tool=True)
    chunks = [json.loads(c) for e in events(
        {"type": "message_start", "message": {"id": "m", "model": "c", "usage": {}}},
        {"type": "content_block_start", "index": 0,
         "content_block": {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": '{"q":1}'}},
        {"type": "content_block_start", "index": 1,
         "content_block": {"type": "tool_use", "id": "toolu_1", "name": "json_response", "input": {}}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"a":2}'}},
    ) for c in stream.feed(e)]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == '{"a":2}'
