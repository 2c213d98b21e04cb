"""Streams assembled into answers, answers replayed as streams (gateway/cache/replay.py)."""

from __future__ import annotations

import json
from typing import Any

import orjson

from gateway.cache.replay import DONE, ERROR, USAGE, Assembler, to_sse

HEAD = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 7, "model": "m", "system_fingerprint": "fp"}


def chunk(*choices: dict[str, Any], **extra: Any) -> bytes:
    return orjson.dumps({**HEAD, "choices": list(choices), **extra})


def delta(index: int = 0, finish: str | None = None, **fields: Any) -> dict[str, Any]:
    return {"index": index, "delta": fields, "logprobs": None, "finish_reason": finish}


def assemble(*payloads: bytes) -> dict[str, Any]:
    assembler = Assembler()
    for payload in payloads:
        assembler.feed(payload)
    return json.loads(assembler.body())


def events(sse: bytes) -> list[Any]:
    assert sse.endswith(b"data: [DONE]\n\n")
    blocks = sse.decode().split("\n\n")
    assert blocks[-1] == "" and all(b.startswith("data: ") for b in blocks[:-1])
    return [json.loads(b[6:]) for b in blocks[:-2]]


def test_text_stream_becomes_a_chat_completion() -> None:
    answer = assemble(
        chunk(delta(role="assistant", content="")),
        chunk(delta(content="Hello")),
        chunk(delta(content=" world")),
        chunk(delta(finish="stop")),
        chunk(usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}),
    )
    assert answer == {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 7, "model": "m", "system_fingerprint": "fp",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello world", "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


def test_tool_calls_and_several_choices_are_assembled() -> None:
    opening = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "weather", "arguments": ""}}
    answer = assemble(
        chunk(delta(role="assistant", content=None, tool_calls=[opening]), delta(1, role="assistant", content="")),
        chunk(delta(tool_calls=[{"index": 0, "function": {"arguments": '{"city":'}}]), delta(1, content="B")),
        chunk(delta(tool_calls=[{"index": 0, "function": {"arguments": '"Paris"}'}}])),
        chunk(delta(finish="tool_calls"), delta(1, finish="stop")),
    )
    first, second = answer["choices"]
    assert first["message"] == {
        "role": "assistant", "content": None, "refusal": None,
        "tool_calls": [{"id": "call_1", "type": "function",
                        "function": {"name": "weather", "arguments": '{"city":"Paris"}'}}],
    }
    assert first["finish_reason"] == "tool_calls"
    assert second["message"]["content"] == "B" and second["index"] == 1
    assert "usage" not in answer


def test_usage_stands_in_when_the_stream_had_none() -> None:
    assembler = Assembler()
    assembler.feed(chunk(delta(content="x", finish="stop")))
    usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    assert json.loads(assembler.body(usage))["usage"] == usage


def test_kinds() -> None:
    assembler = Assembler()
    assert assembler.feed(chunk(usage={"prompt_tokens": 1})) == USAGE
    assert assembler.feed(b"[DONE]") == DONE
    assert assembler.feed(b'{"error": {"message": "cut"}}') == ERROR


def test_logprobs_are_concatenated() -> None:
    a = {"content": [{"token": "a", "logprob": -0.1}], "refusal": None}
    b = {"content": [{"token": "b", "logprob": -0.2}], "refusal": None}
    answer = assemble(
        chunk({**delta(content="a"), "logprobs": a}),
        chunk({**delta(content="b", finish="stop"), "logprobs": b}),
    )
    assert [t["token"] for t in answer["choices"][0]["logprobs"]["content"]] == ["a", "b"]


def test_chat_answer_replays_as_well_formed_chunks() -> None:
    body = orjson.dumps({
        "id": "chatcmpl-9", "object": "chat.completion", "created": 5, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi there", "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4},
    })
    chunks = events(to_sse(body, include_usage=False))
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == "chatcmpl-9" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert not any("usage" in c for c in chunks)
    with_usage = events(to_sse(body, include_usage=True))
    assert with_usage[-1]["choices"] == [] and with_usage[-1]["usage"]["total_tokens"] == 4
    assert all(c["usage"] is None for c in with_usage[:-1])  # as OpenAI sends them
    # Round trip: the replayed stream assembles into the stored answer.
    assert assemble(*[orjson.dumps(c) for c in with_usage]) == json.loads(body)


def test_tool_call_answer_round_trips() -> None:
    message = {"role": "assistant", "content": None, "refusal": None,
               "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    body = orjson.dumps({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
                         "choices": [{"index": 0, "message": message, "logprobs": None,
                                      "finish_reason": "tool_calls"}]})
    replayed = events(to_sse(body, include_usage=False))
    assert replayed[1]["choices"][0]["delta"]["tool_calls"][0]["index"] == 0
    assert assemble(*[orjson.dumps(c) for c in replayed]) == json.loads(body)


def test_text_completion_round_trips() -> None:
    body = orjson.dumps({"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m",
                         "choices": [{"text": "once upon", "index": 0, "logprobs": None, "finish_reason": "length"}],
                         "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}})
    replayed = events(to_sse(body, include_usage=True))
    assert {c["object"] for c in replayed} == {"text_completion"}
    assert replayed[0]["choices"][0]["text"] == "once upon"
    assert assemble(*[orjson.dumps(c) for c in replayed]) == json.loads(body)
