"""The /v1/messages entrance's translation: Anthropic request -> OpenAI chat body, OpenAI answers and
chunks -> Anthropic message and events. Pure; the e2e side is tests/e2e/test_messages.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic.types as at
import pytest
from pydantic import TypeAdapter

from gateway.config import ProviderConfig
from gateway.entrances.messages import to_anthropic_error, to_anthropic_events, to_anthropic_message, to_openai_chat
from gateway.errors import InvalidRequestError
from gateway.providers.base import Call, build_provider
from tests.unit.providers.test_official_types import OPENAI_PARAMS


def test_request_golden() -> None:
    body = {
        "model": "m", "max_tokens": 9, "system": [{"type": "text", "text": "Be brief."}], "stop_sequences": ["x"],
        "temperature": 0.1, "stream": True, "metadata": {"user_id": "u"},
        "tools": [{"name": "w", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [{"type": "text", "text": "let me see"},
                                              {"type": "tool_use", "id": "t1", "name": "w", "input": {"a": 1}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"},
                                         {"type": "image", "source": {"type": "url", "url": "http://i/x.png"}},
                                         {"type": "text", "text": "and?"}]},
        ],
    }
    assert to_openai_chat(body) == {
        "model": "m", "max_tokens": 9, "stop": ["x"], "temperature": 0.1, "stream": True,
        "stream_options": {"include_usage": True}, "user": "u",
        "tools": [{"type": "function", "function": {"name": "w", "description": "", "parameters": {"type": "object"}}}],
        "tool_choice": "required", "parallel_tool_calls": False,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "let me see", "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "w", "arguments": '{"a":1}'}}]},
            {"role": "tool", "tool_call_id": "t1", "content": "ok"},
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://i/x.png"}},
                                         {"type": "text", "text": "and?"}]},
        ],
    }


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
    ({"model": "m", "max_tokens": 1, "messages": [{"role": "system", "content": "x"}]}, "messages.0.role"),
    ({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": [{"type": "document"}]}]},
     "messages.0.content"),
    ({"model": "m", "max_tokens": 1, "messages": [{"role": "assistant", "content": [1]}]}, "messages"),
    ({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}], "tools": ["w"]}, "messages"),
])
def test_request_errors_name_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        to_openai_chat(body)
    assert caught.value.param == param


def test_message_golden() -> None:
    chat = {"id": "c1", "model": "m", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": "hm", "tool_calls": [
            {"id": "t", "type": "function", "function": {"name": "w", "arguments": '{"a":1}'}}]}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 4}}}
    assert to_anthropic_message(chat) == {
        "id": "c1", "type": "message", "role": "assistant", "model": "m", "stop_reason": "tool_use",
        "stop_sequence": None, "content": [{"type": "text", "text": "hm"},
                                           {"type": "tool_use", "id": "t", "name": "w", "input": {"a": 1}}],
        "usage": {"input_tokens": 6, "output_tokens": 3, "cache_read_input_tokens": 4,
                  "cache_creation_input_tokens": 0},
    }


@pytest.mark.parametrize(("status", "kind"), [(400, "invalid_request_error"), (404, "not_found_error"),
                                              (429, "rate_limit_error"), (502, "api_error"), (529, "overloaded_error")])
def test_error_shape(status: int, kind: str) -> None:
    body = to_anthropic_error(status, {"error": {"message": "m", "type": "whatever"}})
    assert body == {"type": "error", "error": {"type": kind, "message": "m"}}


def sse(*payloads: Any) -> list[bytes]:
    return [b"data: " + (p if isinstance(p, bytes) else json.dumps(p).encode()) + b"\n\n" for p in payloads]


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


async def events_of(frames: list[bytes]) -> list[tuple[str, dict[str, Any]]]:
    async def source() -> AsyncIterator[bytes]:
        yield b"".join(frames[:2])  # several frames in one read, and one frame split over two reads
        for frame in frames[2:]:
            yield frame[:5]
            yield frame[5:]

    out = b"".join([e async for e in to_anthropic_events(source())])
    parsed = []
    for block in out.decode().strip().split("\n\n"):
        event, data = block.split("\n")
        parsed.append((event.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return parsed


async def test_stream_golden() -> None:
    frames = sse(
        chunk({"role": "assistant", "content": ""}), chunk({"content": "Hi"}),
        chunk({"tool_calls": [{"index": 0, "id": "t", "type": "function", "function": {"name": "w"}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a"'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]}),
        chunk({}, "tool_calls"), {"id": "c1", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}},
        b"[DONE]",
    )
    events = await events_of(frames)
    assert [e for e, _ in events] == [
        "message_start", "ping", "content_block_start", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "message_delta", "message_stop",
    ]
    assert all(data["type"] == kind for kind, data in events)
    assert events[0][1]["message"]["id"] == "c1"
    assert events[3][1] == {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}
    assert events[5][1]["content_block"] == {"type": "tool_use", "id": "t", "name": "w", "input": {}}
    assert events[7][1]["index"] == 1 and events[7][1]["delta"] == {"type": "input_json_delta", "partial_json": ":1}"}
    assert events[9][1]["delta"]["stop_reason"] == "tool_use" and events[9][1]["usage"]["output_tokens"] == 2


async def test_stream_error_becomes_an_error_event() -> None:
    frames = sse(chunk({"role": "assistant", "content": ""}), chunk({"content": "Hi"}),
                 {"error": {"message": "cut", "type": "upstream_error", "code": None, "param": None}})
    events = await events_of(frames)
    assert events[-1] == ("error", {"type": "error", "error": {"type": "api_error", "message": "cut"}})
    assert "message_stop" not in [e for e, _ in events]


# -- against the official SDKs' types (issue 20) ---------------------------------------------------------------


def test_top_k_is_kept_for_providers_that_take_it_and_never_reaches_an_openai_server() -> None:
    chat = to_openai_chat({"model": "m", "max_tokens": 9, "top_k": 40, "temperature": 0.5,
                           "messages": [{"role": "user", "content": "hi"}]})
    assert chat["top_k"] == 40  # the anthropic and gemini providers send it on
    openai_server = build_provider(ProviderConfig(name="o", type="openai", base_url="https://api.openai.com/v1"))
    sent = json.loads(openai_server.to_request(Call("chat", chat), "gpt-4.1").content)
    OPENAI_PARAMS.validate_python(sent, strict=True)  # a CompletionCreateParams, without top_k
    assert "top_k" not in sent and sent["temperature"] == 0.5


async def test_replies_and_events_are_the_anthropic_sdks_own() -> None:
    message = to_anthropic_message({"id": "c1", "model": "m", "choices": [{"index": 0, "finish_reason": "length",
                                    "message": {"role": "assistant", "content": "Hi"}}],
                                    "usage": {"prompt_tokens": 5, "completion_tokens": 1}})
    at.Message.model_validate(message, strict=True)
    frames = sse(chunk({"role": "assistant", "content": ""}), chunk({"content": "Hi"}), chunk({}, "stop"),
                 {"id": "c1", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}}, b"[DONE]")
    adapter: TypeAdapter[Any] = TypeAdapter(at.RawMessageStreamEvent)
    for _, data in (e for e in await events_of(frames) if e[0] != "ping"):
        adapter.validate_python(data, strict=True)
