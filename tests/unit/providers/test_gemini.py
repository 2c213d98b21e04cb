"""Golden request/response pairs for the Gemini translation (gateway/providers/gemini.py), per feature."""

from __future__ import annotations

import base64
import copy
import json
import struct
from typing import Any

import httpx
import orjson
import pytest

from gateway.config import ProviderConfig
from gateway.errors import UnsupportedFeatureError, UpstreamProtocolError, UpstreamStatusError, UpstreamStreamError
from gateway.providers.base import Call, build_provider
from gateway.providers.gemini import (
    GeminiProvider,
    GeminiStream,
    from_gemini_error,
    from_gemini_response,
    to_gemini_request,
)
from gateway.sse import SSEEvent

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                       "additionalProperties": False},
    },
}


def provider(**kw: Any) -> GeminiProvider:
    p = build_provider(ProviderConfig(name="g", type="gemini", api_key="AIza-test", **kw))
    assert isinstance(p, GeminiProvider)
    return p


# -- request ----------------------------------------------------------------------------------------


def test_urls_key_header_and_default_base_url() -> None:
    p = provider()
    chat = Call("chat", {"model": "x", "messages": [{"role": "user", "content": "hi"}]})
    request = p.to_request(chat, "gemini-2.0-flash")
    assert request.url == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent"
    assert request.headers["x-goog-api-key"] == "AIza-test"
    assert "authorization" not in request.headers
    stream = Call("chat", chat.body, stream=True)
    assert p.to_request(stream, "models/gemini-2.0-flash").url.endswith(
        "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse")
    assert provider(base_url="http://127.0.0.1:9/v1").to_request(chat, "m").url == (
        "http://127.0.0.1:9/v1/models/m:generateContent")


def test_messages_system_images_and_generation_config() -> None:
    body = {
        "model": "route",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ]},
            {"role": "assistant", "content": "A logo."},
            {"role": "user", "content": "Sure?"},
        ],
        "temperature": 0.5, "top_p": 0.9, "top_k": 40, "max_tokens": 100, "stop": ["END"], "n": 2, "seed": 7,
        "response_format": {"type": "json_schema", "json_schema": {"name": "a", "strict": True, "schema": {
            "type": "object", "properties": {"answer": {"type": "string"}}, "additionalProperties": False}}},
        "user": "u-1",
    }
    before = copy.deepcopy(body)
    assert to_gemini_request(body, "g") == {
        "contents": [
            {"role": "user", "parts": [{"text": "What is this?"},
                                       {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}]},
            {"role": "model", "parts": [{"text": "A logo."}]},
            {"role": "user", "parts": [{"text": "Sure?"}]},
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {
            "temperature": 0.5, "topP": 0.9, "topK": 40, "maxOutputTokens": 100, "candidateCount": 2, "seed": 7,
            "stopSequences": ["END"], "responseMimeType": "application/json",
            "responseSchema": {"type": "OBJECT", "properties": {"answer": {"type": "STRING"}}},
        },
    }
    assert body == before  # translation runs again on every attempt: the call is never changed


def test_tools_tool_choice_calls_and_results() -> None:
    body = {
        "model": "route",
        "messages": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
                {"id": "call_2", "type": "function",
                 "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}},
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'},
            {"role": "tool", "tool_call_id": "call_2", "content": "sunny"},
        ],
        "tools": [WEATHER],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    }
    assert to_gemini_request(body, "g") == {
        "contents": [
            {"role": "user", "parts": [{"text": "Weather in Paris and Rome?"}]},
            {"role": "model", "parts": [
                {"functionCall": {"id": "call_1", "name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"id": "call_2", "name": "get_weather", "args": {"city": "Rome"}}},
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"id": "call_1", "name": "get_weather", "response": {"temp": 21}}},
                {"functionResponse": {"id": "call_2", "name": "get_weather", "response": {"result": "sunny"}}},
            ]},
        ],
        "tools": [{"functionDeclarations": [{
            "name": "get_weather", "description": "Weather in a city",
            "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]},
        }]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}},
    }
    for choice, mode in (("auto", "AUTO"), ("none", "NONE"), ("required", "ANY")):
        request = to_gemini_request({**body, "tool_choice": choice}, "g")
        assert request["toolConfig"] == {"functionCallingConfig": {"mode": mode}}


def test_json_object_format() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}}
    assert to_gemini_request(body, "g")["generationConfig"] == {"responseMimeType": "application/json"}


@pytest.mark.parametrize(
    ("operation", "body", "stream", "feature"),
    [
        ("text_completion", {"model": "m", "prompt": "hi"}, False, "legacy completions"),
        ("chat", {"logprobs": True}, False, "logprobs"),
        ("chat", {"top_logprobs": 2}, False, "logprobs"),
        ("chat", {"logit_bias": {"1": 2}}, False, "logit_bias"),
        ("chat", {"n": 2}, True, "several choices (n > 1) in a stream"),
        ("chat", {"frobnicate": 1}, False, '"frobnicate"'),
        ("chat", {"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]}, False, "image URLs"),
        ("embeddings", {"model": "e", "input": [1, 2, 3]}, False, "token ids"),
    ],
)
def test_unsupported_features_are_a_400_naming_provider_and_feature(
    operation: Any, body: dict[str, Any], stream: bool, feature: str
) -> None:
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    full = body if operation == "embeddings" else {**chat, **body}
    with pytest.raises(UnsupportedFeatureError) as caught:
        provider().to_request(Call(operation, full, stream=stream), "gemini-2.0-flash")
    assert caught.value.status == 400
    assert "provider g (gemini) does not support" in caught.value.message
    assert feature in caught.value.message


def test_falsy_unsupported_keys_are_fine() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "logprobs": False, "n": 1,
            "parallel_tool_calls": True, "stream_options": {"include_usage": True}}
    assert to_gemini_request(body, "g", stream=True)["generationConfig"] == {"candidateCount": 1}


# -- response ---------------------------------------------------------------------------------------


def test_text_response_usage_and_finish() -> None:
    data = {
        "candidates": [{"content": {"parts": [{"text": "Hel"}, {"text": "lo"}], "role": "model"},
                        "finishReason": "MAX_TOKENS", "index": 0, "safetyRatings": []}],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 10,
                          "thoughtsTokenCount": 3, "cachedContentTokenCount": 4},
        "modelVersion": "gemini-2.5-flash", "responseId": "abc",
    }
    answer, facts = from_gemini_response(data)
    answer.pop("created")
    assert answer == {
        "id": "chatcmpl-abc", "object": "chat.completion", "model": "gemini-2.5-flash",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}, "logprobs": None,
                     "finish_reason": "length"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10,
                  "prompt_tokens_details": {"cached_tokens": 4}, "completion_tokens_details": {"reasoning_tokens": 3}},
    }
    assert (facts.response_id, facts.response_model, facts.finish_reasons) == ("chatcmpl-abc", "gemini-2.5-flash",
                                                                               ["length"])
    assert (facts.input_tokens, facts.output_tokens) == (5, 5)


@pytest.mark.parametrize(("reason", "expected"), [("STOP", "stop"), ("MAX_TOKENS", "length"),
                                                  ("SAFETY", "content_filter"), ("RECITATION", "content_filter"),
                                                  ("OTHER", "stop")])
def test_finish_reasons(reason: str, expected: str) -> None:
    data = {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": reason}]}
    assert from_gemini_response(data)[0]["choices"][0]["finish_reason"] == expected


def test_function_call_response() -> None:
    data = {"candidates": [{"content": {"role": "model", "parts": [
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
        {"functionCall": {"id": "g-2", "name": "get_weather", "args": {"city": "Rome"}}},
    ]}, "finishReason": "STOP"}], "responseId": "r1"}
    answer, facts = from_gemini_response(data)
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and facts.finish_reasons == ["tool_calls"]
    assert choice["message"]["content"] is None
    first, second = choice["message"]["tool_calls"]
    assert first["id"].startswith("call_") and first == from_gemini_response(data)[0]["choices"][0]["message"][
        "tool_calls"][0]  # stable ids
    assert first["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    assert second["id"] == "g-2" and second["type"] == "function"


def test_blocked_prompt_is_a_content_filter_answer() -> None:
    answer, facts = from_gemini_response({"promptFeedback": {"blockReason": "SAFETY"},
                                          "usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 3}})
    assert answer["choices"][0]["finish_reason"] == "content_filter"
    assert facts.input_tokens == 3


def test_from_response_through_provider_is_json() -> None:
    call = Call("chat", {"model": "m", "messages": []})
    answer = b'{"candidates":[{"content":{"parts":[{"text":"ok"}]},"finishReason":"STOP"}]}'
    reply = provider().from_response(call, answer)
    assert json.loads(reply.body)["choices"][0]["message"]["content"] == "ok"
    with pytest.raises(UpstreamProtocolError):
        provider().from_response(call, b"<html>")


# -- stream -----------------------------------------------------------------------------------------


def events(*payloads: Any) -> list[SSEEvent]:
    return [SSEEvent(orjson.dumps(p)) for p in payloads]


def run(stream: GeminiStream, items: list[SSEEvent]) -> list[dict[str, Any]]:
    out = [json.loads(b) for e in items for b in stream.feed(e)]
    for chunk in out:
        chunk.pop("created")
    return out


def test_text_stream_with_usage_when_asked() -> None:
    stream = GeminiStream("g", include_usage=True)
    base = {"modelVersion": "gemini-2.0-flash", "responseId": "s1"}
    chunks = run(stream, events(
        {"candidates": [{"content": {"parts": [{"text": "Hello"}], "role": "model"}, "index": 0}], **base},
        {"candidates": [{"content": {"parts": [{"text": " world"}], "role": "model"}, "finishReason": "STOP",
                         "index": 0}],
         "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5}, **base},
    ))
    head = {"id": "chatcmpl-s1", "object": "chat.completion.chunk", "model": "gemini-2.0-flash"}
    assert chunks == [
        {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                              "finish_reason": None}]},
        {**head, "choices": [{"index": 0, "delta": {"content": "Hello"}, "logprobs": None, "finish_reason": None}]},
        {**head, "choices": [{"index": 0, "delta": {"content": " world"}, "logprobs": None, "finish_reason": "stop"}]},
        {**head, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}},
    ]
    facts = stream.facts
    assert stream.finished and facts.text == ["Hello", " world"] and facts.content_started
    assert (facts.input_tokens, facts.output_tokens, facts.finish_reasons) == (3, 2, ["stop"])


def test_stream_without_include_usage_has_no_usage_chunk_but_facts_know() -> None:
    stream = GeminiStream("g", include_usage=False)
    chunks = run(stream, events({"candidates": [{"content": {"parts": [{"text": "Hi"}]}, "finishReason": "STOP"}],
                                 "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1}}))
    assert all("usage" not in c for c in chunks) and stream.facts.output_tokens == 1


def test_tool_call_stream() -> None:
    stream = GeminiStream("g", include_usage=False)
    chunks = run(stream, events({"candidates": [{"content": {"parts": [
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
        {"functionCall": {"id": "x2", "name": "get_time", "args": {}}},
    ]}, "finishReason": "STOP"}], "responseId": "t"}))
    delta = chunks[1]["choices"][0]["delta"]
    assert chunks[1]["choices"][0]["finish_reason"] == "tool_calls"
    assert [c["index"] for c in delta["tool_calls"]] == [0, 1]
    assert delta["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    assert delta["tool_calls"][1]["id"] == "x2" and delta["tool_calls"][1]["type"] == "function"
    assert stream.facts.tool_calls and stream.finished


def test_stream_error_event_and_malformed_events() -> None:
    stream = GeminiStream("g", include_usage=False)
    assert stream.feed(SSEEvent(b"{not json")) == [] and stream.facts.malformed_events == 1
    with pytest.raises(UpstreamStreamError, match="overloaded"):
        stream.feed(SSEEvent(b'{"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}'))
    for _ in range(2):
        stream.feed(SSEEvent(b"garbage"))
    with pytest.raises(UpstreamProtocolError):
        stream.feed(SSEEvent(b"garbage"))


def test_stream_that_never_finishes_is_not_finished() -> None:
    stream = GeminiStream("g", include_usage=False)
    stream.feed(SSEEvent(b'{"candidates": [{"content": {"parts": [{"text": "Hi"}]}}]}'))
    assert not stream.finished and not stream.facts.finish_reasons


# -- error ------------------------------------------------------------------------------------------


def google(status: int, name: str, message: str, details: list[dict[str, Any]] | None = None) -> bytes:
    return orjson.dumps({"error": {"code": status, "message": message, "status": name, "details": details or []}})


def test_rate_limit_is_retryable_with_retry_delay() -> None:
    body = google(429, "RESOURCE_EXHAUSTED", "Quota exceeded",
                  [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}])
    error = from_gemini_error(429, httpx.Headers(), body, "g")
    assert (error.status, error.type, error.code, error.retryable) == (429, "rate_limit_error", "resource_exhausted",
                                                                       True)
    assert error.retry_after == 7.0 and error.message == "Quota exceeded"


def test_unavailable_is_retryable_invalid_argument_is_not() -> None:
    unavailable = from_gemini_error(503, httpx.Headers(), google(503, "UNAVAILABLE", "overloaded"), "g")
    assert unavailable.retryable and unavailable.type == "server_error"
    invalid = from_gemini_error(400, httpx.Headers(), google(400, "INVALID_ARGUMENT", "bad"), "g")
    assert not invalid.retryable and invalid.type == "invalid_request_error"


def test_invalid_key_is_401_and_odd_bodies_still_make_an_error() -> None:
    body = google(400, "INVALID_ARGUMENT", "API key not valid.", [{"reason": "API_KEY_INVALID"}])
    assert from_gemini_error(400, httpx.Headers(), body, "g").status == 401
    listed = b"[" + google(500, "INTERNAL", "oops") + b"]"
    assert from_gemini_error(500, httpx.Headers(), listed, "g").message == "oops"
    plain = from_gemini_error(502, httpx.Headers({"retry-after": "2"}), b"Bad Gateway", "g")
    assert isinstance(plain, UpstreamStatusError) and "Bad Gateway" in plain.message and plain.retry_after == 2


# -- embeddings -------------------------------------------------------------------------------------


def test_embeddings_single_and_batch() -> None:
    p = provider()
    single = p.to_request(Call("embeddings", {"model": "e", "input": "hi", "dimensions": 4}), "text-embedding-004")
    assert single.url.endswith("/models/text-embedding-004:embedContent")
    assert json.loads(single.content) == {"model": "models/text-embedding-004", "content": {"parts": [{"text": "hi"}]},
                                          "outputDimensionality": 4}
    batch = p.to_request(Call("embeddings", {"model": "e", "input": ["a", "b"]}), "text-embedding-004")
    assert batch.url.endswith(":batchEmbedContents")
    assert json.loads(batch.content) == {"requests": [
        {"model": "models/text-embedding-004", "content": {"parts": [{"text": "a"}]}},
        {"model": "models/text-embedding-004", "content": {"parts": [{"text": "b"}]}},
    ]}


def test_embeddings_response_floats_and_base64() -> None:
    p = provider()
    call = Call("embeddings", {"model": "route", "input": ["a", "b"]})
    reply = p.from_response(call, b'{"embeddings": [{"values": [0.5, -1.0]}, {"values": [0.25, 0.0]}]}')
    assert json.loads(reply.body) == {"object": "list", "model": "route", "usage": {"prompt_tokens": 0,
                                                                                   "total_tokens": 0},
                                      "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -1.0]},
                                               {"object": "embedding", "index": 1, "embedding": [0.25, 0.0]}]}
    call64 = Call("embeddings", {"model": "route", "input": "a", "encoding_format": "base64"})
    encoded = json.loads(p.from_response(call64, b'{"embedding": {"values": [0.5, -1.0]}}').body)
    assert struct.unpack("<2f", base64.b64decode(encoded["data"][0]["embedding"])) == (0.5, -1.0)


def test_thought_signature_travels_in_the_tool_call_id_and_goes_back() -> None:
    data = {"candidates": [{"content": {"role": "model", "parts": [
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2ln+/="},
    ]}, "finishReason": "STOP"}], "responseId": "r"}
    [call] = from_gemini_response(data)[0]["choices"][0]["message"]["tool_calls"]
    assert call["id"].endswith("~ts~c2ln+/=")
    stream = GeminiStream("g", include_usage=False)
    streamed = run(stream, events(data))[1]["choices"][0]["delta"]["tool_calls"][0]
    assert streamed["id"] == call["id"]
    history = {"model": "m", "messages": [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "sunny"},
    ]}
    contents = to_gemini_request(history, "g")["contents"]
    plain_id = call["id"].split("~ts~")[0]
    assert contents[1]["parts"] == [{"functionCall": {"id": plain_id, "name": "get_weather", "args": {"city": "Paris"}},
                                     "thoughtSignature": "c2ln+/="}]
    assert contents[2]["parts"] == [{"functionResponse": {"id": plain_id, "name": "get_weather",
                                                          "response": {"result": "sunny"}}}]


@pytest.mark.parametrize("arguments", ["not json", "[1, 2]"])
def test_tool_call_arguments_must_be_an_object_for_gemini(arguments: str) -> None:
    body = {"model": "m", "messages": [{"role": "assistant", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": arguments}}]}]}
    with pytest.raises(UnsupportedFeatureError, match=r"provider g \(gemini\) does not support tool call arguments"):
        to_gemini_request(body, "g")
