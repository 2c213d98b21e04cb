"""The translators checked against the official SDKs' own types, not against fakes written by the same hands.

Every request the anthropic, gemini, azure and OpenAI-compatible translators build, for a matrix of OpenAI
requests, is validated in strict mode (pydantic, extra keys forbidden at every level) against
`anthropic.types.MessageCreateParams`, google-genai's models under the REST API's camelCase names, and
`openai.types.chat.CompletionCreateParams`; what the SDKs' types cannot say (id patterns, empty content,
sampling ranges per model family) is checked from the providers' API references. The parsers are fed
answers and stream events built with the SDKs' response models, with every finish/stop reason and with
null usage fields, and what they make must be a valid OpenAI `ChatCompletion` / `ChatCompletionChunk`.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from itertools import pairwise
from typing import Any, Literal, get_args

import anthropic.types as at
import openai
import pytest
from google.genai import types as gt
from openai.lib._parsing._completions import type_to_response_format_param
from openai.types.chat import ChatCompletion, ChatCompletionChunk, CompletionCreateParams
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic_core import SchemaValidator, ValidationError

from gateway.config import ProviderConfig
from gateway.errors import UnsupportedFeatureError, UpstreamProtocolError
from gateway.providers.anthropic import from_anthropic_response
from gateway.providers.base import Call, HttpProvider, build_provider
from gateway.providers.gemini import FAILED_REASONS, FINISH_REASONS, from_gemini_response
from gateway.sse import SSEEvent

# -- strict validators made from the SDKs' types ---------------------------------------------------------------


def strict(tp: Any) -> SchemaValidator:
    """A validator for an SDK's TypedDict params: extra keys are errors at every level, and `Iterable`
    fields (which pydantic checks lazily, i.e. never) are checked as lists."""

    def tighten(schema: Any) -> None:
        if isinstance(schema, dict):
            if schema.get("type") in ("typed-dict", "model-fields"):
                schema["extra_behavior"] = "forbid"
            if schema.get("type") == "generator":
                schema["type"] = "list"
            for value in schema.values():
                tighten(value)
        elif isinstance(schema, list):
            for value in schema:
                tighten(value)

    schema = copy.deepcopy(TypeAdapter(tp).core_schema)
    tighten(schema)
    return SchemaValidator(schema)  # type: ignore[arg-type]


ANTHROPIC_PARAMS = strict(at.MessageCreateParams)
OPENAI_PARAMS = strict(CompletionCreateParams)


class GeminiRequest(BaseModel):
    """v1beta `GenerateContentRequest` as the REST API spells it, made of google-genai's own models."""

    model_config = ConfigDict(extra="forbid", strict=True)
    contents: list[gt.Content]
    system_instruction: gt.Content | None = Field(None, alias="systemInstruction")
    tools: list[gt.Tool] | None = None
    tool_config: gt.ToolConfig | None = Field(None, alias="toolConfig")
    generation_config: gt.GenerationConfig | None = Field(None, alias="generationConfig")


def first_errors(exc: ValidationError) -> str:
    return "\n".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:8])


TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")  # Anthropic's tool_use / tool_result ids (API reference)
# Claude families that refuse temperature together with top_p: Opus 4.1, Sonnet/Haiku 4.5 and later
EXCLUSIVE_SAMPLING = {"claude-3-5-haiku-20241022": False, "claude-sonnet-4-20250514": False,
                      "claude-sonnet-4-5-20250929": True, "claude-opus-4-6": True}


def check_anthropic(body: dict[str, Any], model: str, version: str) -> None:
    body = copy.deepcopy(body)
    sampling = {k: body.pop(k) for k in ("temperature", "top_p", "top_k") if k in body}
    if version >= "2026-10-21":
        assert not sampling, f"anthropic-version {version} takes no sampling parameters: {sampling}"
    else:
        assert 0 <= sampling.get("temperature", 0) <= 1
        assert 0 <= sampling.get("top_p", 0) <= 1
        assert isinstance(sampling.get("top_k", 0), int)
        if EXCLUSIVE_SAMPLING[model]:
            assert not ("temperature" in sampling and "top_p" in sampling), sampling
    try:
        ANTHROPIC_PARAMS.validate_python(body, strict=True)
    except ValidationError as exc:  # the union's errors are many: the first few say enough
        pytest.fail(f"not a MessageCreateParams: {first_errors(exc)}\n{json.dumps(body)[:2000]}")
    roles = [m["role"] for m in body["messages"]]
    assert roles[0] == "user" and all(a != b for a, b in pairwise(roles)), roles
    for i, message in enumerate(body["messages"]):
        content = message["content"]
        assert content, f"messages.{i}: empty content"
        for block in content if isinstance(content, list) else ():
            assert block.get("type") != "text" or block["text"], f"messages.{i}: an empty text block"
            for key in ("id", "tool_use_id"):
                assert key not in block or TOOL_ID.match(block[key]), block[key]
    choice = body.get("tool_choice") or {}
    assert choice.get("type") != "none" or "disable_parallel_tool_use" not in choice


def check_gemini(content: bytes) -> GeminiRequest:
    try:
        request = GeminiRequest.model_validate_json(content, strict=True)
    except ValidationError as exc:
        pytest.fail(f"not a GenerateContentRequest: {first_errors(exc)}\n{content[:2000]!r}")
    for item in [*request.contents, *([request.system_instruction] if request.system_instruction else [])]:
        assert item.parts, "a content without parts"
        assert all(p.text is None or p.text for p in item.parts), "an empty text part"
    return request


def check_openai(body: dict[str, Any]) -> None:
    try:
        OPENAI_PARAMS.validate_python(body, strict=True)
    except ValidationError as exc:
        pytest.fail(f"not a CompletionCreateParams: {first_errors(exc)}\n{json.dumps(body)[:2000]}")


# -- a matrix of OpenAI requests -------------------------------------------------------------------------------


class Address(BaseModel):
    street: str
    city: str
    kind: Literal["home", "work"]


class Person(BaseModel):
    """What Instructor, Pydantic AI and the openai SDK's `parse` send: nested classes, Literals, Optionals."""

    name: str
    age: int | None
    role: Literal["admin"]
    addresses: list[Address]
    primary: Address | None


class Tree(BaseModel):
    label: str
    children: list[Tree]


PNG = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/"
       "PchI7wAAAABJRU5ErkJggg==")
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["C", "F"]}},
    "required": ["city"], "additionalProperties": False}, "strict": True}}
NO_ARGS = {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}}
USER = {"role": "user", "content": "What is the weather in Paris?"}
# a gateway Gemini id: Gemini's id, the mark, and a base64 thought signature (with +, / and =) inside
SIGNED_ID = "call_abc~ts~" + base64.b64encode(bytes(range(200, 256))).decode()
CALLED = [USER, {"role": "assistant", "content": None, "tool_calls": [
    {"id": SIGNED_ID, "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
    {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}}]},
    {"role": "tool", "tool_call_id": SIGNED_ID, "content": '{"temp": 21}'},
    {"role": "tool", "tool_call_id": "call_2", "content": "sunny"}]

REQUESTS: dict[str, dict[str, Any]] = {
    "text": {"messages": [USER]},
    "system": {"messages": [{"role": "system", "content": "Be brief."},
                            {"role": "developer", "content": [{"type": "text", "text": "Use metric units."}]}, USER]},
    "multi-turn": {"messages": [USER, {"role": "assistant", "content": "Sunny, 21 C."},
                                {"role": "user", "content": [{"type": "text", "text": "And tomorrow?"}]}]},
    "empty-assistant": {"messages": [USER, {"role": "assistant", "content": ""}, {"role": "user", "content": "Hm?"},
                                     {"role": "assistant", "content": [{"type": "text", "text": ""}]},
                                     {"role": "user", "content": "Well?"}, {"role": "assistant", "content": None}]},
    "prefill": {"messages": [USER, {"role": "assistant", "content": "It is sunny "}]},
    "image-data": {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": PNG}}]}]},
    "image-url": {"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}}]}]},
    "tools-auto": {"messages": [USER], "tools": [WEATHER, NO_ARGS], "tool_choice": "auto"},
    "tools-none-serial": {"messages": [USER], "tools": [WEATHER], "tool_choice": "none", "parallel_tool_calls": False},
    "tools-required-serial": {"messages": [USER], "tools": [WEATHER], "tool_choice": "required",
                              "parallel_tool_calls": False},
    "tools-named": {"messages": [USER], "tools": [WEATHER],
                    "tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
    "pydantic-tool": {"messages": [USER], "tools": [openai.pydantic_function_tool(Person),
                                                    openai.pydantic_function_tool(Tree)]},
    "tool-results": {"messages": CALLED, "tools": [WEATHER]},
    "response-format-nested": {"messages": [USER], "response_format": type_to_response_format_param(Person)},
    "response-format-recursive": {"messages": [USER], "response_format": type_to_response_format_param(Tree)},
    "json-object": {"messages": [USER], "response_format": {"type": "json_object"}},
    "stop": {"messages": [USER], "stop": "END", "max_completion_tokens": 64},
    "stops": {"messages": [USER], "stop": ["END", "STOP"], "max_tokens": 64, "user": "u-1"},
    "cold": {"messages": [USER], "temperature": 0, "top_p": 0},
    "hot": {"messages": [USER], "temperature": 2},
    "neutral": {"messages": [USER], "temperature": 1, "top_p": 1},
    "both": {"messages": [USER], "temperature": 0.3, "top_p": 0.9},
    "top-p-only": {"messages": [USER], "top_p": 0.5, "temperature": 1},
    "top-k": {"messages": [USER], "top_k": 40},
    "stream": {"messages": [USER], "stream": True, "stream_options": {"include_usage": True}},
}
SAMPLING = ("temperature", "top_p", "top_k")


def call(name: str) -> Call:
    body = {"model": "route", **copy.deepcopy(REQUESTS[name])}
    return Call("chat", body, stream=bool(body.get("stream")))


def provider(kind: str, **config: Any) -> HttpProvider:
    base = {"anthropic": None, "gemini": None}.get(kind, "https://res.openai.azure.com")
    return build_provider(ProviderConfig(name="p", type=kind, base_url=base, api_key="key-123456", **config))


# -- requests ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", sorted(EXCLUSIVE_SAMPLING))
@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_anthropic_requests_are_message_create_params(name: str, model: str) -> None:
    the_call = call(name)
    before = copy.deepcopy(the_call.body)
    request = provider("anthropic").to_request(the_call, model)
    check_anthropic(json.loads(request.content), model, "2023-06-01")
    assert the_call.body == before  # translation runs again on each attempt


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_anthropic_requests_for_api_version_2026_10_21(name: str) -> None:
    """The newest API version takes no temperature, top_p or top_k: neutral values are left out, real ones
    are a 400 naming the parameter, before anything is sent."""
    the_call, new = call(name), provider("anthropic", anthropic_version="2026-10-21")
    real = [k for k in SAMPLING if k in the_call.body and the_call.body[k] != {"temperature": 1, "top_p": 1}.get(k)]
    if real:
        with pytest.raises(UnsupportedFeatureError, match=f"'{real[0]}' with anthropic-version 2026-10-21") as info:
            new.to_request(the_call, "claude-opus-4-6")
        assert info.value.param == real[0] and info.value.status == 400
        return
    request = new.to_request(the_call, "claude-opus-4-6")
    assert request.headers["anthropic-version"] == "2026-10-21"
    check_anthropic(json.loads(request.content), "claude-opus-4-6", "2026-10-21")


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_gemini_requests_are_generate_content_requests(name: str) -> None:
    if name == "image-url":  # Gemini takes inline data only: a clear 400 before anything is sent
        with pytest.raises(UnsupportedFeatureError, match="image URLs"):
            provider("gemini").to_request(call(name), "gemini-2.5-flash")
        return
    request = provider("gemini").to_request(call(name), "gemini-2.5-flash")
    parsed = check_gemini(request.content)
    roles = [c.role for c in parsed.contents]
    assert roles[0] == "user" and all(a != b for a, b in pairwise(roles)), roles


@pytest.mark.parametrize("api_version", ["v1", "2025-04-01-preview"])
@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_azure_requests_are_completion_create_params(name: str, api_version: str) -> None:
    request = provider("azure", api_version=api_version).to_request(call(name), "gpt-5-prod")
    body = json.loads(request.content)
    check_openai(body)
    assert "top_k" not in body
    assert request.headers["api-key"] == "key-123456"


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_openai_requests_are_completion_create_params(name: str) -> None:
    body = json.loads(provider("openai").to_request(call(name), "gpt-4.1").content)
    check_openai(body)


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_mistral_requests(name: str) -> None:
    """Mistral's chat API is OpenAI's less a few names: max_tokens, random_seed, and no stream_options."""
    mistral = build_provider(ProviderConfig(name="m", type="openai", preset="mistral", api_key="k-123456"))
    body = json.loads(mistral.to_request(call(name), "mistral-large-latest").content)
    assert not {"max_completion_tokens", "stream_options", "seed", "top_k"} & set(body)
    check_openai({k: v for k, v in body.items() if k != "random_seed"} | {
        "messages": [{k: v for k, v in m.items() if k != "prefix"} for m in body["messages"]]})


# -- schemas: what Pydantic writes, as Gemini's Schema -----------------------------------------------------------


def test_a_nested_pydantic_model_is_inlined_for_gemini() -> None:
    request = check_gemini(provider("gemini").to_request(call("response-format-nested"), "g").content)
    assert request.generation_config is not None
    schema = request.generation_config.response_schema
    assert schema is not None and schema.properties is not None
    address = schema.properties["primary"]
    assert address.nullable and address.properties is not None
    assert address.properties["kind"].enum == ["home", "work"]
    assert schema.properties["role"].enum == ["admin"] and schema.properties["age"].nullable
    assert schema.properties["addresses"].items is not None
    assert schema.property_ordering == ["name", "age", "role", "addresses", "primary"]


def test_a_function_without_parameters_is_declared_without_any() -> None:
    request = check_gemini(provider("gemini").to_request(call("tools-auto"), "g").content)
    assert request.tools is not None and request.tools[0].function_declarations is not None
    weather, now = request.tools[0].function_declarations
    assert weather.parameters is not None and now.parameters is None


# -- answers built with the SDKs' response models ----------------------------------------------------------------

STOP_REASONS = {"end_turn": "stop", "max_tokens": "length", "stop_sequence": "stop", "tool_use": "tool_calls",
                "pause_turn": "stop", "refusal": "content_filter", "model_context_window_exceeded": "length"}


def test_every_anthropic_stop_reason_is_mapped() -> None:
    assert set(get_args(at.StopReason)) <= set(STOP_REASONS)  # a new one in a newer SDK fails here: map it


@pytest.mark.parametrize("stop_reason", sorted(STOP_REASONS))
def test_anthropic_messages_become_chat_completions(stop_reason: str) -> None:
    content: list[Any] = [at.TextBlock(type="text", text="Paris", citations=None)]
    if stop_reason == "tool_use":
        content.append(at.ToolUseBlock(type="tool_use", id="toolu_01", name="get_weather", input={"city": "Paris"}))
    message = at.Message(id="msg_01", type="message", role="assistant", model="claude-sonnet-4-5", content=content,
                         stop_reason=stop_reason, stop_sequence=None,  # type: ignore[arg-type]
                         usage=at.Usage(input_tokens=10, output_tokens=3, cache_read_input_tokens=None,
                                        cache_creation_input_tokens=None))
    chat = from_anthropic_response(message.model_dump(mode="json"))
    ChatCompletion.model_validate(chat)
    assert chat["choices"][0]["finish_reason"] == STOP_REASONS[stop_reason]
    assert chat["usage"]["prompt_tokens"] == 10 and chat["usage"]["completion_tokens"] == 3


def anthropic_events(*events: BaseModel) -> list[SSEEvent]:
    return [SSEEvent(data=e.model_dump_json().encode(), event=getattr(e, "type", None)) for e in events]


def test_an_anthropic_stream_with_null_usage_and_a_server_tool() -> None:
    start = at.Message(id="msg_01", type="message", role="assistant", model="claude-sonnet-4-5", content=[],
                       stop_reason=None, stop_sequence=None,
                       usage=at.Usage(input_tokens=25, output_tokens=1, cache_read_input_tokens=5))
    server = at.ServerToolUseBlock(type="server_tool_use", id="srvtoolu_01", name="web_search", input={})
    events = anthropic_events(
        at.RawMessageStartEvent(type="message_start", message=start),
        at.RawContentBlockStartEvent(type="content_block_start", index=0, content_block=server),
        at.RawContentBlockDeltaEvent(type="content_block_delta", index=0,
                                     delta=at.InputJSONDelta(type="input_json_delta", partial_json='{"query": "w')),
        at.RawContentBlockStopEvent(type="content_block_stop", index=0),
        at.RawContentBlockStartEvent(type="content_block_start", index=1,
                                     content_block=at.TextBlock(type="text", text="", citations=None)),
        at.RawContentBlockDeltaEvent(type="content_block_delta", index=1,
                                     delta=at.TextDelta(type="text_delta", text="Sunny.")),
        at.RawMessageDeltaEvent(type="message_delta", delta={"stop_reason": "end_turn", "stop_sequence": None},
                                usage=at.MessageDeltaUsage(output_tokens=12, input_tokens=None,
                                                           cache_read_input_tokens=None)),
        at.RawMessageStopEvent(type="message_stop"),
    )
    stream = provider("anthropic").stream_translator(
        Call("chat", {"messages": [USER], "stream_options": {"include_usage": True}}, stream=True))
    chunks = [json.loads(c) for e in events for c in stream.feed(e)]
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)
    text = "".join(ch["delta"].get("content") or "" for c in chunks for ch in c["choices"])
    assert text == "Sunny."  # the server tool's input is not the answer
    assert stream.finished and stream.facts.finish_reasons == ["stop"]
    assert chunks[-1]["usage"]["prompt_tokens"] == 30 and chunks[-1]["usage"]["completion_tokens"] == 12
    assert (stream.facts.input_tokens, stream.facts.output_tokens) == (30, 12)


GEMINI_FINISH = {
    "FINISH_REASON_UNSPECIFIED": "stop", "STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter",
    "RECITATION": "content_filter", "LANGUAGE": "content_filter", "OTHER": "stop", "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter", "SPII": "content_filter", "MALFORMED_FUNCTION_CALL": None,
    "IMAGE_SAFETY": "content_filter", "IMAGE_PROHIBITED_CONTENT": "content_filter", "IMAGE_OTHER": "stop",
    "NO_IMAGE": "stop", "IMAGE_RECITATION": "content_filter", "UNEXPECTED_TOOL_CALL": None,
    "TOO_MANY_TOOL_CALLS": None, "MISSING_THOUGHT_SIGNATURE": None, "MALFORMED_RESPONSE": None,
    "ESCALATION": "content_filter", "PUP_LIMITED_DISABLED": "content_filter", "CONTINUATION": "length",
    "MODEL_ARMOR": "content_filter",
}  # None: no answer at all, an error that may fail over


def test_every_gemini_finish_reason_is_mapped() -> None:
    assert {r.value for r in gt.FinishReason} <= set(GEMINI_FINISH)  # a new one in a newer SDK fails here: map it
    mapped = FINISH_REASONS.keys() | FAILED_REASONS
    assert mapped == set(GEMINI_FINISH)


def gemini_answer(reason: str, text: str = "Sunny.", usage: gt.GenerateContentResponseUsageMetadata | None = None,
                  ) -> dict[str, Any]:
    parts = [gt.Part(text=text)] if text else []
    failed = GEMINI_FINISH[reason] is None
    candidate = gt.Candidate(content=gt.Content(role="model", parts=parts), finish_reason=gt.FinishReason(reason),
                             index=0, finish_message="the call was not valid" if failed else None)
    response = gt.GenerateContentResponse(candidates=[candidate], model_version="gemini-2.5-flash",
                                          response_id="resp-1", usage_metadata=usage)
    data: dict[str, Any] = response.model_dump(mode="json", by_alias=True, exclude_none=True)
    return data


@pytest.mark.parametrize("reason", sorted(GEMINI_FINISH))
def test_gemini_answers_with_every_finish_reason(reason: str) -> None:
    data = gemini_answer(reason, text="" if GEMINI_FINISH[reason] is None else "Sunny.")
    if GEMINI_FINISH[reason] is None:
        with pytest.raises(UpstreamProtocolError, match=reason) as info:
            from_gemini_response(data, "g")
        assert info.value.retryable  # another target may do better
        return
    answer, facts = from_gemini_response(data, "g")
    ChatCompletion.model_validate(answer)
    assert answer["choices"][0]["finish_reason"] == GEMINI_FINISH[reason] == facts.finish_reasons[0]


@pytest.mark.parametrize("reason", ["STOP", "MAX_TOKENS", "IMAGE_RECITATION", "MALFORMED_FUNCTION_CALL",
                                    "MISSING_THOUGHT_SIGNATURE"])
def test_gemini_streams_with_finish_reasons(reason: str) -> None:
    stream = provider("gemini").stream_translator(Call("chat", {"messages": [USER]}, stream=True))
    first = gemini_answer("STOP", text="Sun")
    del first["candidates"][0]["finishReason"]
    stream.feed(SSEEvent(data=json.dumps(first).encode()))
    last = SSEEvent(data=json.dumps(gemini_answer(reason, text="")).encode())
    if GEMINI_FINISH[reason] is None:
        with pytest.raises(UpstreamProtocolError, match=reason):
            stream.feed(last)
        assert not stream.finished
        return
    for chunk in stream.feed(last):
        ChatCompletionChunk.model_validate(json.loads(chunk))
    assert stream.finished and stream.facts.finish_reasons == [GEMINI_FINISH[reason]]


def test_gemini_usage_with_null_fields() -> None:
    usage = gt.GenerateContentResponseUsageMetadata(prompt_token_count=7, candidates_token_count=None,
                                                    total_token_count=None, thoughts_token_count=None)
    data = gemini_answer("STOP", usage=usage)
    data["usageMetadata"].update(candidatesTokenCount=None, cachedContentTokenCount=None)  # as nulls on the wire
    answer, facts = from_gemini_response(data, "g")
    ChatCompletion.model_validate(answer)
    assert answer["usage"] == {"prompt_tokens": 7, "completion_tokens": 0, "total_tokens": 7}
    assert (facts.input_tokens, facts.output_tokens) == (7, 0)


def test_an_azure_stream_opening_with_the_prompt_filter_chunk() -> None:
    filtered = {"choices": [], "created": 0, "id": "", "model": "", "object": "",
                "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]}
    chunk = ChatCompletionChunk(id="chatcmpl-1", object="chat.completion.chunk", created=1, model="gpt-5-2025-08-07",
                                choices=[{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop"}])  # type: ignore[list-item]
    stream = provider("azure").stream_translator(Call("chat", {"messages": [USER]}, stream=True))
    for data in (json.dumps(filtered).encode(), chunk.model_dump_json().encode(), b"[DONE]"):
        stream.feed(SSEEvent(data=data))
    assert (stream.facts.response_id, stream.facts.response_model) == ("chatcmpl-1", "gpt-5-2025-08-07")


# -- the examples in the providers' API references ----------------------------------------------------------------


def test_the_anthropic_reference_message_example() -> None:
    example = {"id": "msg_013Zva2CMHLNnXjNJJKqJ2EF", "type": "message", "role": "assistant",
               "model": "claude-sonnet-4-5-20250929", "content": [{"type": "text", "text": "Hi! My name is Claude."}],
               "stop_reason": "end_turn", "stop_sequence": None, "usage": {"input_tokens": 2095, "output_tokens": 503}}
    at.Message.model_validate(example)  # the example is what the SDK reads
    chat = from_anthropic_response(example)
    ChatCompletion.model_validate(chat)
    assert chat["choices"][0]["message"]["content"] == "Hi! My name is Claude."
    assert chat["usage"]["total_tokens"] == 2598


def test_the_gemini_reference_response_example() -> None:
    example = {
        "candidates": [{"content": {"parts": [{"text": "AI learns patterns from data."}], "role": "model"},
                        "finishReason": "STOP", "avgLogprobs": -0.1, "index": 0}],
        "usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 6, "totalTokenCount": 254,
                          "thoughtsTokenCount": 240,
                          "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 8}]},
        "modelVersion": "gemini-2.5-flash", "responseId": "b2fTaL2XK8SbqtsP1Iq1sQ",
    }
    gt.GenerateContentResponse.model_validate_json(json.dumps(example), strict=True)  # as the SDK reads it
    answer, facts = from_gemini_response(example, "g")
    ChatCompletion.model_validate(answer)
    assert answer["usage"]["completion_tokens"] == 246 and answer["usage"]["total_tokens"] == 254
    assert facts.finish_reasons == ["stop"]
