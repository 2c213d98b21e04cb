"""The Responses entrance's translation: a Responses request -> a chat body, a chat answer or chat chunks -> a
`response` object or the Responses event stream. Pure; every object and event made here is validated with the
openai SDK's own types, and the events are fed to the SDK's stream accumulator. The e2e side is
tests/e2e/test_responses.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from openai import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from gateway.entrances.responses import input_messages, output_messages, to_chat, to_response, to_response_events
from gateway.errors import InvalidRequestError

EVENT = TypeAdapter(ResponseStreamEvent)
WEATHER = {"type": "function", "name": "weather", "description": "d",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": True}


def test_request_golden() -> None:
    body = {
        "model": "m", "instructions": "Be brief.", "temperature": 0.2, "top_p": 0.9, "max_output_tokens": 50,
        "parallel_tool_calls": False, "user": "u", "metadata": {"a": "b"}, "store": True, "stream": True,
        "reasoning": {"effort": "low"}, "tools": [WEATHER], "tool_choice": {"type": "function", "name": "weather"},
        "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": True}},
        "input": [
            {"role": "user", "content": "hi"},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "look"},
                {"type": "input_image", "image_url": "data:image/png;base64,AA==", "detail": "low"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok"}]},
            {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": '{"city":"Oslo"}'},
            {"type": "function_call", "call_id": "c2", "name": "weather", "arguments": '{"city":"Rome"}'},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
            {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "rain"}]},
        ],
    }
    history = [{"role": "user", "content": "before"}, {"role": "assistant", "content": "earlier"}]
    assert to_chat(body, history) == {
        "model": "m", "temperature": 0.2, "top_p": 0.9, "max_completion_tokens": 50, "parallel_tool_calls": False,
        "user": "u", "stream": True, "stream_options": {"include_usage": True}, "reasoning_effort": "low",
        "tools": [{"type": "function", "function": {"name": "weather", "description": "d",
                                                    "parameters": WEATHER["parameters"], "strict": True}}],
        "tool_choice": {"type": "function", "function": {"name": "weather"}},
        "response_format": {"type": "json_schema",
                            "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": True}},
        "messages": [
            {"role": "system", "content": "Be brief."},
            *history,
            {"role": "user", "content": "hi"},
            {"role": "user", "content": [{"type": "text", "text": "look"}, {
                "type": "image_url", "image_url": {"url": "data:image/png;base64,AA==", "detail": "low"}}]},
            {"role": "assistant", "content": "ok", "tool_calls": [  # a message and its calls are one chat turn
                {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Oslo"}'}},
                {"id": "c2", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Rome"}'}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            {"role": "tool", "tool_call_id": "c2", "content": "rain"},
        ],
    }


def test_a_string_input_and_json_object() -> None:
    body = {"model": "m", "input": "hi", "text": {"format": {"type": "json_object"}}}
    assert to_chat(body) == {"model": "m", "messages": [{"role": "user", "content": "hi"}],
                             "response_format": {"type": "json_object"}}
    assert to_chat(body) == to_chat(body)  # pure: a retry translates again to the same body
    assert "stream_options" not in to_chat({"model": "m", "input": "hi", "stream": False})


@pytest.mark.parametrize(("body", "param", "says"), [
    ({"model": "m"}, "input", "Field required"),
    ({"input": "hi"}, "model", "Field required"),
    ({"model": "m", "input": 5}, "input", "string or a list"),
    ({"model": "m", "input": "x", "tools": [{"type": "web_search"}]}, "tools[0].type", "web_search"),
    ({"model": "m", "input": "x", "tools": [{"type": "file_search", "vector_store_ids": []}]}, "tools[0].type",
     "file_search"),
    ({"model": "m", "input": "x", "tools": [{"type": "computer_use_preview"}]}, "tools[0].type", "computer_use"),
    ({"model": "m", "input": "x", "background": True}, "background", "background"),
    ({"model": "m", "input": "x", "conversation": "conv_1"}, "conversation", "conversations"),
    ({"model": "m", "input": "x", "truncation": "auto"}, "truncation", "disabled"),
    ({"model": "m", "input": "x", "include": ["file_search_call.results"]}, "include", "file_search_call"),
    ({"model": "m", "input": "x", "tool_choice": {"type": "web_search_preview"}}, "tool_choice", "web_search"),
    ({"model": "m", "input": "x", "text": {"format": {"type": "grammar"}}}, "text.format.type", "grammar"),
    ({"model": "m", "input": [{"type": "reasoning", "summary": []}]}, "input[0].type", "reasoning"),
    ({"model": "m", "input": [{"role": "robot", "content": "x"}]}, "input[0].role", "expected one of"),
    ({"model": "m", "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
     "input[0].content[0]", "input_file"),
    ({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
     "input[0].content[0].file_id", "file_id"),
    ({"model": "m", "input": [{"type": "function_call", "name": "w", "arguments": "{}"}]}, "input[0].call_id",
     "Field required"),
    ({"model": "m", "input": [{"role": "system", "content": [
        {"type": "input_image", "image_url": "http://i"}]}]}, "input[0].content", "text only"),
    ({"model": "m", "input": ["not an item"]}, "input[0]", "expected an object"),
    ({"model": "m", "input": "x", "instructions": 3}, "instructions", "string"),
])
def test_what_chat_cannot_carry_is_a_400_naming_it(body: dict[str, Any], param: str, says: str) -> None:
    with pytest.raises(InvalidRequestError) as raised:
        to_chat(body)
    assert raised.value.status == 400
    assert raised.value.param == param
    assert says in str(raised.value)


def test_a_completion_becomes_a_response_the_sdk_reads() -> None:
    completion = {
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "call_9", "type": "function",
                 "function": {"name": "weather", "arguments": '{"city":"Oslo"}'}}]}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
                  "prompt_tokens_details": {"cached_tokens": 4},
                  "completion_tokens_details": {"reasoning_tokens": 2}},
    }
    request = {"model": "m", "input": "hi", "tools": [WEATHER], "metadata": {"k": "v"}, "temperature": 0.5}
    raw = to_response(completion, request, "resp_abc", 1700000000)
    response = Response.model_validate(raw, strict=False)
    assert response.id == "resp_abc" and response.status == "completed" and response.created_at == 1700000000
    assert response.output_text == "Checking."
    call = response.output[1]
    assert call.type == "function_call" and call.call_id == "call_9" and call.arguments == '{"city":"Oslo"}'
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens) == (10, 5, 15)
    assert response.usage.input_tokens_details.cached_tokens == 4
    assert response.usage.output_tokens_details.reasoning_tokens == 2
    assert response.metadata == {"k": "v"} and response.temperature == 0.5 and response.tools[0].name == "weather"
    # the conversation kept for previous_response_id: the assistant turn with its text and tool call
    assert output_messages(raw) == [{"role": "assistant", "content": "Checking.", "tool_calls": [
        {"id": "call_9", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Oslo"}'}}]}]


def test_a_length_stop_is_incomplete() -> None:
    completion = {"choices": [{"message": {"content": "Once upon"}, "finish_reason": "length"}]}
    response = Response.model_validate(to_response(completion, {"model": "m", "input": "x"}, "resp_1", 0))
    assert response.status == "incomplete"
    assert response.incomplete_details is not None and response.incomplete_details.reason == "max_output_tokens"
    assert response.usage is None


def test_input_messages_are_this_turn_alone() -> None:
    assert input_messages({"input": "hi"}) == [{"role": "user", "content": "hi"}]
    assert input_messages({"input": [{"type": "function_call_output", "call_id": "c", "output": "x"}]}) == [
        {"role": "tool", "tool_call_id": "c", "content": "x"}]


# -- streams ----------------------------------------------------------------------------------------


def sse(*payloads: Any, done: bool = True) -> list[bytes]:
    out = [b"data: " + json.dumps(p).encode() + b"\n\n" for p in payloads]
    return out + ([b"data: [DONE]\n\n"] if done else [])


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, usage: Any = None) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {"id": "c", "object": "chat.completion.chunk", "choices": choices, "usage": usage}


async def replay(raw: list[bytes]) -> AsyncIterator[bytes]:
    for part in raw:
        yield part


def events_of(raw: list[bytes], request: dict[str, Any], kept: list[dict[str, Any]] | None = None,
              ) -> list[dict[str, Any]]:
    async def keep(response: dict[str, Any]) -> None:
        assert kept is not None
        kept.append(json.loads(json.dumps(response)))  # as it was when `done` ran: before the last event

    async def collect() -> bytes:
        done = keep if kept is not None else None
        return b"".join([e async for e in to_response_events(replay(raw), request, "resp_s1", 7, done)])

    out = []
    for block in asyncio.run(collect()).split(b"\n\n"):
        if block:
            name, data = block.split(b"\n", 1)
            event = json.loads(data.removeprefix(b"data: "))
            assert name == b"event: " + event["type"].encode()
            out.append(event)
    return out


def accumulate(events: list[dict[str, Any]], request: dict[str, Any]) -> Response:
    """What the openai SDK's `responses.stream` helper makes of these events: each must validate as a stream
    event, sequence numbers count up from 0, and the accumulated snapshot is the final response."""
    state = ResponseStreamState(input_tools=request.get("tools") or [], text_format=omit)
    for n, raw in enumerate(events):
        assert raw["sequence_number"] == n
        state.handle_event(EVENT.validate_python(raw))
    if events[-1]["type"] == "response.completed":
        assert state._completed_response is not None
        return state._completed_response
    return Response.model_validate(events[-1]["response"])


def test_a_text_stream_is_the_sequence_the_sdk_accumulates() -> None:
    request = {"model": "m", "input": "hi", "stream": True}
    kept: list[dict[str, Any]] = []
    events = events_of(sse(chunk({"role": "assistant", "content": ""}), chunk({"content": "Hel"}),
                           chunk({"content": "lo"}), chunk({}, "stop"),
                           chunk(None, usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5})),
                       request, kept)
    assert [e["type"] for e in events] == [
        "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta", "response.output_text.done",
        "response.content_part.done", "response.output_item.done", "response.completed"]
    final = accumulate(events, request)
    assert final.output_text == "Hello" and final.status == "completed"
    assert final.usage is not None and final.usage.total_tokens == 5
    assert kept == [events[-1]["response"]]  # `done` saw the finished response, once


def test_a_tool_call_stream() -> None:
    request = {"model": "m", "input": "weather?", "tools": [WEATHER], "stream": True}
    events = events_of(sse(
        chunk({"content": "Let me check."}),
        chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                               "function": {"name": "weather", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "call_2", "function": {"name": "weather", "arguments": "{}"}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]}),
        chunk({}, "tool_calls")), request)
    final = accumulate(events, request)
    assert final.output_text == "Let me check."
    calls = [item for item in final.output if item.type == "function_call"]
    assert [(c.call_id, c.name, c.arguments) for c in calls] == [
        ("call_1", "weather", '{"city":"Oslo"}'), ("call_2", "weather", "{}")]
    assert [e["type"] for e in events].count("response.function_call_arguments.done") == 2


def test_a_length_stop_ends_incomplete() -> None:
    request = {"model": "m", "input": "x", "stream": True}
    events = events_of(sse(chunk({"content": "Once"}), chunk({}, "length")), request)
    assert events[-1]["type"] == "response.incomplete"
    assert accumulate(events, request).incomplete_details.reason == "max_output_tokens"  # type: ignore[union-attr]


@pytest.mark.parametrize("raw", [
    sse(chunk({"content": "Hal"}), done=False),  # cut before [DONE]
    sse(chunk({"content": "Hal"}), {"error": {"message": "upstream died", "type": "server_error"}}),
    [b"data: " + json.dumps(chunk({"content": "Hal"})).encode() + b"\n\ndata: {not json\n\n"],
])
def test_a_broken_stream_ends_failed_never_completed(raw: list[bytes]) -> None:
    request = {"model": "m", "input": "x", "stream": True}
    kept: list[dict[str, Any]] = []
    events = events_of(raw, request, kept)
    kinds = [e["type"] for e in events]
    assert kinds[-1] == "response.failed" and "response.completed" not in kinds
    assert events[-1]["response"]["error"]["code"] == "server_error"
    assert kept == []  # a failed response is not stored
    for event in events:
        EVENT.validate_python(event)


def test_a_rate_limit_error_keeps_its_code() -> None:
    request = {"model": "m", "input": "x", "stream": True}
    raw = sse({"error": {"message": "slow down", "type": "rate_limit_error", "code": "rate_limit_exceeded"}})
    assert events_of(raw, request)[-1]["response"]["error"] == {"code": "rate_limit_exceeded",
                                                                "message": "slow down"}


def test_any_framing_of_the_chat_stream_is_read() -> None:
    request = {"model": "m", "input": "x", "stream": True}
    whole = b"".join(sse(chunk({"content": "Hel"}), chunk({"content": "lo"}), chunk({}, "stop")))
    end = whole.index(b"\n\n") + 2  # of the first event
    odd = [whole[:10], whole[10:end] + b": keep-alive\r\n\r\n" + whole[end:end + 20], whole[end + 20:]]
    assert events_of(odd, request) == events_of([whole], request)
    assert accumulate(events_of(odd, request), request).output_text == "Hello"
