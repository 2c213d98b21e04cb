"""Stitching a recovery attempt onto a cut stream: what is skipped, what goes on, when it diverges."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from gateway.providers.base import Call
from gateway.recovery import Continuation, Diverged, can_resume, prefill_call

CHAT = Call("chat", {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}, stream=True)


def chunk(content: str | None = None, *, role: bool = False, finish: str | None = None, **extra: Any) -> bytes:
    delta: dict[str, Any] = {"role": "assistant"} if role else {}
    if content is not None:
        delta["content"] = content
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return json.dumps({"id": "new-id", "object": "chat.completion.chunk", "choices": [choice], **extra}).encode()


def texts(outputs: list[bytes]) -> list[str]:
    return [json.loads(o)["choices"][0]["delta"].get("content", "") for o in outputs]


def feed_all(continuation: Continuation, payloads: list[bytes]) -> list[bytes]:
    return [out for payload in payloads for out in continuation.feed(payload)]


def test_regeneration_skips_what_the_client_has_across_chunk_boundaries() -> None:
    c = Continuation("old-id", skip="Hello wor")
    payloads = [chunk("", role=True), chunk("Hello"), chunk(" wo"), chunk("rld"), chunk("!"), chunk(finish="stop")]
    out = feed_all(c, payloads)
    assert texts(out) == ["ld", "!", ""]
    assert json.loads(out[-1])["choices"][0]["finish_reason"] == "stop"
    assert {json.loads(o)["id"] for o in out} == {"old-id"}  # the client's stream keeps one id
    assert c.forwarded == ["ld", "!"]
    assert c.skip == ""


def test_regeneration_on_an_exact_boundary() -> None:
    c = Continuation("old-id", skip="Hello")
    assert texts(feed_all(c, [chunk("Hello"), chunk(" there")])) == [" there"]


def test_a_different_regeneration_diverges() -> None:
    c = Continuation("old-id", skip="Hello world")
    assert c.feed(chunk("Hello")) == []
    with pytest.raises(Diverged):
        c.feed(chunk(" there"))


def test_a_regeneration_that_ends_before_catching_up_diverges() -> None:
    c = Continuation("old-id", skip="Hello world")
    c.feed(chunk("Hello"))
    with pytest.raises(Diverged):
        c.feed(chunk(finish="stop"))


def test_prefill_continuation_passes_everything_but_the_second_role() -> None:
    c = Continuation("old-id")
    out = feed_all(c, [chunk("", role=True), chunk(" world"), chunk(finish="length")])
    assert texts(out) == [" world", ""]
    assert all("role" not in json.loads(o)["choices"][0]["delta"] for o in out)


def test_usage_chunk_goes_on() -> None:
    c = Continuation("old-id", skip="x")
    usage = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    payload = json.dumps({"id": "n", "choices": [], "usage": usage}).encode()
    [out] = c.feed(payload)
    assert json.loads(out) == {"id": "old-id", "choices": [], "usage": usage}


def test_text_completion_chunks() -> None:
    c = Continuation("cmpl-1", skip="Once up")
    payloads = [json.dumps({"id": "n", "choices": [{"index": 0, "text": t, "finish_reason": f}]}).encode()
                for t, f in (("Once", None), (" upon", None), (" a time", None), ("", "stop"))]
    out = feed_all(c, payloads)
    assert [json.loads(o)["choices"][0]["text"] for o in out] == ["on", " a time", ""]


def test_prefill_call_appends_the_delivered_text_as_an_assistant_message() -> None:
    before = copy.deepcopy(CHAT.body)
    call = prefill_call(CHAT, "Hello wor", {"max_tokens": 5})
    assert call is not None and call.stream and call.operation == "chat"
    assert call.body["messages"] == [*before["messages"], {"role": "assistant", "content": "Hello wor"}]
    assert call.body["max_tokens"] == 5
    assert CHAT.body == before  # the client's call is never changed: it may be needed again


def test_prefill_call_for_text_completions() -> None:
    call = prefill_call(Call("text_completion", {"model": "m", "prompt": "Once"}, True), " upon", {})
    assert call is not None and call.body["prompt"] == "Once upon"
    assert prefill_call(Call("text_completion", {"model": "m", "prompt": ["a", "b"]}, True), "x", {}) is None


def test_only_a_single_text_answer_can_be_resumed() -> None:
    assert can_resume(CHAT, tool_calls=False, several_choices=False)
    assert not can_resume(CHAT, tool_calls=True, several_choices=False)
    assert not can_resume(CHAT, tool_calls=False, several_choices=True)
    assert not can_resume(Call("embeddings", {"model": "m", "input": "x"}), tool_calls=False, several_choices=False)
