"""Streams that fail: before the first content (the client never notices), and in the middle (continued on
the next target by prefill or regeneration, or ended with an error event that names what went wrong).

Bytes matter here, so most clients are plain httpx reading the SSE events; the SDK checks compatibility.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.cluster import Cluster, route, target_status
from tests.fakes.openai_compat import (
    CutAfter,
    Fail,
    FakeOpenAI,
    Malformed,
    NoDone,
    Silent,
    SlowTokens,
    Stall,
)
from tests.support import RunningServer

REPLY = "The quick brown fox jumps over the lazy dog."
MESSAGES: list[Any] = [{"role": "user", "content": "Tell me about the fox."}]
BODY: dict[str, Any] = {"model": "chat", "messages": MESSAGES, "stream": True}
# round robin with a heavier first target: the first attempt always goes to "a"
TWO = route("chat", "a/ma*2", "b/mb", strategy="round_robin")
THREE = route("chat", "a/ma*3", "b/mb*2", "c/mc", strategy="round_robin")


class Streamed:
    """A streamed answer as the client read it: headers, the data of each event, and the text."""

    def __init__(self, response: httpx.Response, events: list[str]) -> None:
        self.status = response.status_code
        self.headers = response.headers
        self.events = events
        self.chunks = [json.loads(e) for e in events if e != "[DONE]"]
        self.text = "".join(_text(c) for c in self.chunks)

    @property
    def done(self) -> bool:
        return bool(self.events) and self.events[-1] == "[DONE]"

    @property
    def error(self) -> dict[str, Any] | None:
        errors = [c["error"] for c in self.chunks if "error" in c]
        assert len(errors) <= 1 and (not errors or "error" in self.chunks[-1]), "an error event ends the stream"
        return errors[0] if errors else None

    @property
    def finish_reasons(self) -> list[str]:
        return [ch["finish_reason"] for c in self.chunks for ch in c.get("choices", []) if ch.get("finish_reason")]


def _text(chunk: dict[str, Any]) -> str:
    out = ""
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta")
        out += (delta.get("content") or "") if isinstance(delta, dict) else (choice.get("text") or "")
    return out


def stream(gateway: RunningServer, body: dict[str, Any] | None = None, path: str = "/v1/chat/completions",
           timeout: float = 5) -> Streamed:
    with httpx.stream("POST", gateway.url + path, json=body or BODY, timeout=timeout) as response:
        raw = response.read().decode()
    events = []
    for block in raw.split("\n\n"):
        lines = [line[6:] for line in block.split("\n") if line.startswith("data: ")]
        if lines:
            events.append("\n".join(lines))
    return Streamed(response, events)


def assert_whole(answer: Streamed, text: str = REPLY) -> None:
    """One complete answer: the whole text exactly once, one role, one finish, one id, then [DONE]."""
    assert answer.status == 200
    assert answer.error is None, answer.error
    assert answer.text == text
    assert answer.done
    assert answer.finish_reasons == ["stop"]
    roles = [ch for c in answer.chunks for ch in c.get("choices", []) if "role" in (ch.get("delta") or {})]
    assert len(roles) <= 1
    assert len({c["id"] for c in answer.chunks}) == 1


def assert_cut(answer: Streamed, *, mentions: str) -> dict[str, Any]:
    """A cut answer that does not look complete: an error event last, no finish reason, no [DONE]."""
    assert answer.status == 200
    assert not answer.done and answer.finish_reasons == []
    error = answer.error
    assert error is not None and mentions in error["message"], error
    assert "could not be resumed" in error["message"]
    return error


def fakes(cluster: Cluster, *names: str, reply: str = REPLY, **providers: str) -> list[FakeOpenAI]:
    return [cluster.fake(name, reply=reply, provider=providers.get(name, "")) for name in names]


def last_message(fake: FakeOpenAI) -> dict[str, Any]:
    message: dict[str, Any] = fake.last.json["messages"][-1]
    return message


# -- the fake's prefill, which these tests rely on -----------------------------------------------------------


def test_the_fake_continues_a_prefill(cluster: Cluster) -> None:
    [a] = fakes(cluster, "a")
    url = cluster.servers[0].url + "/v1/chat/completions"
    prefill = [*MESSAGES, {"role": "assistant", "content": "The quick brown"}]
    continued = httpx.post(url, json={"model": "m", "messages": prefill}).json()
    assert continued["choices"][0]["message"]["content"] == " fox jumps over the lazy dog."
    other = [*MESSAGES, {"role": "assistant", "content": "Something else"}]
    assert httpx.post(url, json={"model": "m", "messages": other}).json()["choices"][0]["message"]["content"] == REPLY
    a.reject_prefill = True
    assert httpx.post(url, json={"model": "m", "messages": prefill}).status_code == 400
    assert httpx.post(url, json={"model": "m", "messages": MESSAGES}).status_code == 200


# -- before the first content: the client does not notice -----------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [Fail(503), Fail(429, retry_after=1), CutAfter(0), Stall(10), Silent(after=0, seconds=10), SlowTokens(10)],
    ids=["503", "429", "cut-before-content", "no-headers", "silent-after-headers", "slow-first-token"],
)
def test_a_failure_before_the_first_content_fails_over_unnoticed(cluster: Cluster, failure: Any) -> None:
    a, b = fakes(cluster, "a", "b")
    gateway = cluster.gateway(TWO, ttft_timeout_s=0.3)
    a.enqueue(failure)
    answer = stream(gateway, timeout=3)  # a 10 s stall would time the client out
    assert_whole(answer)
    assert (answer.headers["x-gateway-attempts"], answer.headers["x-gateway-provider"]) == ("2", "b")
    assert (len(a.requests), len(b.requests)) == (1, 1)


def test_a_slow_first_token_within_the_limit_is_waited_for(cluster: Cluster) -> None:
    a, b = fakes(cluster, "a", "b")
    gateway = cluster.gateway(TWO)  # ttft_timeout_s is off by default
    a.enqueue(Silent(after=0, seconds=0.4))  # headers and the role at once, the first token 0.4 s later
    answer = stream(gateway)
    assert_whole(answer)
    assert answer.headers["x-gateway-attempts"] == "1" and b.requests == []


def test_an_error_status_before_the_stream_with_no_target_left_is_a_json_error(cluster: Cluster) -> None:
    a, b = fakes(cluster, "a", "b")
    gateway = cluster.gateway(TWO, retries_per_target=0)
    a.always, b.always = Fail(503), Fail(500)
    response = httpx.post(gateway.url + "/v1/chat/completions", json=BODY, timeout=5)
    assert response.status_code == 500 and response.headers["content-type"].startswith("application/json")
    message = response.json()["error"]["message"]
    assert "a/ma (503)" in message and "b/mb (500)" in message


# -- in the middle: continued on the next target ------------------------------------------------------------


def test_a_cut_stream_is_continued_by_prefill(cluster: Cluster) -> None:
    a, b = fakes(cluster, "a", "b", b="prefill = true")
    gateway = cluster.gateway(TWO)
    a.enqueue(CutAfter(3))
    answer = stream(gateway)
    assert_whole(answer)
    assert last_message(b) == {"role": "assistant", "content": "The quick brown"}  # what the client already had
    assert b.last.json["messages"][:-1] == MESSAGES
    assert b.last.json["model"] == "mb"


def test_a_cut_stream_is_continued_by_regeneration(cluster: Cluster) -> None:
    a, b = fakes(cluster, "a", "b")
    gateway = cluster.gateway(TWO)
    a.enqueue(CutAfter(4))
    answer = stream(gateway)
    assert_whole(answer)  # the regenerated beginning is skipped: no duplicated text
    assert b.last.json["messages"] == MESSAGES  # no prefill: the same request again


def test_a_target_level_prefill_overrides_the_provider(cluster: Cluster) -> None:
    a, b = fakes(cluster, "a", "b")
    routes = TWO.replace('provider = "b"\nmodel = "mb"\n', 'provider = "b"\nmodel = "mb"\nprefill = true\n')
    gateway = cluster.gateway(routes)
    a.enqueue(CutAfter(2))
    assert_whole(stream(gateway))
    assert last_message(b)["role"] == "assistant"


def test_the_sdk_reads_a_continued_stream_as_one_answer(cluster: Cluster) -> None:
    a, _ = fakes(cluster, "a", "b", b="prefill = true")
    gateway = cluster.gateway(TWO)
    a.enqueue(CutAfter(5))
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=0) as sdk:
        chunks = list(sdk.chat.completions.create(model="chat", messages=MESSAGES, stream=True,
                                                  stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0  # the usage of the continuation
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]


def test_a_stall_in_the_middle_is_continued_elsewhere(cluster: Cluster) -> None:
    a, b = fakes(cluster, "a", "b")
    gateway = cluster.gateway(TWO, stream_idle_timeout_s=0.3)
    a.enqueue(Silent(after=3, seconds=10))
    answer = stream(gateway, timeout=3)
    assert_whole(answer)
    assert len(b.requests) == 1
    assert a.wait_for_disconnects(1)  # the silent upstream was hung up on


def test_a_single_malformed_event_is_skipped(cluster: Cluster) -> None:
    a, b = fakes(cluster, "a", "b")
    gateway = cluster.gateway(TWO)
    a.enqueue(Malformed(after=3))
    assert_whole(stream(gateway))
    assert b.requests == []


def test_several_malformed_events_break_the_stream_and_it_is_continued(cluster: Cluster) -> None:
    a, b = fakes(cluster, "a", "b")
    gateway = cluster.gateway(TWO)
    a.enqueue(Malformed(after=3, count=4))
    assert_whole(stream(gateway))
    assert len(b.requests) == 1


def test_a_stream_without_done_is_finalised_with_usage(cluster: Cluster) -> None:
    a, b = fakes(cluster, "a", "b")
    gateway = cluster.gateway(TWO)
    a.enqueue(NoDone())
    answer = stream(gateway, {**BODY, "stream_options": {"include_usage": True}})
    assert answer.done and answer.text == REPLY and answer.finish_reasons == ["stop"]
    assert answer.chunks[-1]["usage"]["completion_tokens"] == 9
    assert b.requests == []


def test_a_cut_text_completion_stream_is_continued_by_regeneration(cluster: Cluster) -> None:
    a, _ = fakes(cluster, "a", "b")
    gateway = cluster.gateway(TWO)
    a.enqueue(CutAfter(3))
    answer = stream(gateway, {"model": "chat", "prompt": "Once", "stream": True}, path="/v1/completions")
    assert answer.done and answer.error is None and answer.text == REPLY


def test_a_cut_stream_is_continued_on_a_fallback_route(cluster: Cluster) -> None:
    a, backup = fakes(cluster, "a", "backup", backup="prefill = true")
    gateway = cluster.gateway(route("chat", "a/ma", fallbacks=["spare"]) + route("spare", "backup/backup-model"))
    a.enqueue(CutAfter(3))
    assert_whole(stream(gateway))
    assert backup.last.json["model"] == "backup-model"
    assert last_message(backup) == {"role": "assistant", "content": "The quick brown"}

    a.enqueue(CutAfter(3))
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", json=BODY,
                      headers={"x-gateway-fallbacks": "off"}, timeout=5) as response:
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert "[DONE]" not in events and "error" in json.loads(events[-1])  # kept on its route: nothing left
    assert len(backup.requests) == 1


def test_a_rejected_prefill_is_regenerated_on_the_same_target(cluster: Cluster) -> None:
    """A target configured for prefill whose model refuses it (Claude 4.6 and later, say) regenerates instead."""
    a, b, c = fakes(cluster, "a", "b", "c", b="prefill = true")
    b.reject_prefill = True
    gateway = cluster.gateway(THREE)
    a.enqueue(CutAfter(3))
    assert_whole(stream(gateway))
    prefilled, regenerated = b.requests
    assert prefilled.json["messages"][-1]["role"] == "assistant" and regenerated.json["messages"] == MESSAGES
    assert not c.requests
    assert target_status(gateway, "chat", "b/mb")["consecutive_failures"] == 0  # a refusal is not a failure


def test_prefill_models_turn_prefill_off_for_a_model(cluster: Cluster) -> None:
    a, b = fakes(cluster, "a", "b", b='prefill = true\nprefill_models = { "m*" = false }')
    gateway = cluster.gateway(TWO)
    a.enqueue(CutAfter(3))
    assert_whole(stream(gateway))
    assert [r.json["messages"] for r in b.requests] == [MESSAGES]  # regenerated at once, no prefill tried


# -- in the middle: when it cannot be continued --------------------------------------------------------------


def test_no_target_left_ends_with_an_error_event_naming_the_failure(cluster: Cluster) -> None:
    [a] = fakes(cluster, "a")
    gateway = cluster.gateway(route("chat", "a/ma"))
    a.enqueue(CutAfter(3))
    answer = stream(gateway)
    error = assert_cut(answer, mentions="the connection to provider a failed")
    assert answer.text == "The quick brown"
    assert "cut after 15 characters" in error["message"]


def test_a_diverging_regeneration_ends_with_an_error_event_naming_the_original_failure(cluster: Cluster) -> None:
    a, b = cluster.fake("a", reply=REPLY), cluster.fake("b", reply="A completely different answer.")
    gateway = cluster.gateway(TWO)
    a.enqueue(CutAfter(3))
    answer = stream(gateway)
    assert_cut(answer, mentions="the connection to provider a failed")
    assert answer.text == "The quick brown"  # nothing of the other answer leaked in
    assert len(b.requests) == 1
    # a different answer is not the target's fault: it stays healthy
    assert target_status(gateway, "chat", "b/mb")["consecutive_failures"] == 0


def test_a_rejected_prefill_never_hides_the_original_failure(cluster: Cluster) -> None:
    a = cluster.fake("a", reply=REPLY)
    b = cluster.fake("b", reply="A completely different answer.", provider="prefill = true")
    b.reject_prefill = True
    gateway = cluster.gateway(TWO)
    a.enqueue(CutAfter(3))
    answer = stream(gateway)
    error = assert_cut(answer, mentions="the connection to provider a failed")
    assert "prefill" not in error["message"] and answer.text == "The quick brown"
    assert len(b.requests) == 2  # the refused prefill, then a regeneration that said something else
    assert target_status(gateway, "chat", "b/mb")["consecutive_failures"] == 0  # neither held against the target


def test_a_pause_mid_stream_within_stream_idle_timeout_s_is_waited_out(cluster: Cluster) -> None:
    """The silence allowed in the middle of a stream is the route's stream_idle_timeout_s, not the provider's
    timeout_s (that one bounds the wait for the first token, as the attempt timeout): a pause longer than the
    provider's 0.5 s and shorter than the route's 2 s is waited out on the same call (it was cut at 0.5 s)."""
    [a] = fakes(cluster, "a", a="timeout_s = 0.5")
    gateway = cluster.gateway(route("chat", "a/ma"), stream_idle_timeout_s=2)
    a.enqueue(Silent(after=2, seconds=1.0))
    assert_whole(stream(gateway, timeout=5))
    assert len(a.requests) == 1


def test_a_stall_with_no_target_left_ends_with_an_error_event(cluster: Cluster) -> None:
    [a] = fakes(cluster, "a")
    gateway = cluster.gateway(route("chat", "a/ma"), stream_idle_timeout_s=0.3)
    a.enqueue(Silent(after=2, seconds=10))
    assert_cut(stream(gateway, timeout=3), mentions="a")
    assert a.wait_for_disconnects(1)


def test_a_cut_tool_call_cannot_be_stitched(cluster: Cluster) -> None:
    a, b = fakes(cluster, "a", "b")
    gateway = cluster.gateway(TWO)
    a.enqueue(CutAfter(1))
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    answer = stream(gateway, {**BODY, "tools": tools})
    assert_cut(answer, mentions="the connection to provider a failed")
    assert b.requests == []


def test_the_sdk_raises_on_a_stream_that_could_not_be_continued(cluster: Cluster) -> None:
    [a] = fakes(cluster, "a")
    gateway = cluster.gateway(route("chat", "a/ma"))
    a.enqueue(CutAfter(2))
    received = []
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=0) as sdk:
        with pytest.raises(openai.APIError, match="provider a"):
            for chunk in sdk.chat.completions.create(model="chat", messages=MESSAGES, stream=True):
                received.append(chunk)
    assert "".join(c.choices[0].delta.content or "" for c in received if c.choices) == "The quick"


def test_in_flight_counts_return_to_zero_after_recovered_and_failed_streams(cluster: Cluster) -> None:
    a, b = fakes(cluster, "a", "b")
    gateway = cluster.gateway(TWO, failure_threshold=10)
    a.enqueue(CutAfter(2))
    assert_whole(stream(gateway))  # a cut, b finishes it
    a.enqueue(CutAfter(1))
    b.enqueue(CutAfter(1))
    assert_cut(stream(gateway), mentions="the connection to provider b failed")  # b's turn (round robin), then a
    for target in ("a/ma", "b/mb"):
        assert target_status(gateway, "chat", target)["in_flight"] == 0
