"""Streams: relayed as they arrive, cancelled upstream when the client leaves, never cut silently."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

from tests.fakes.openai_compat import CutAfter, FakeOpenAI, Malformed, NoDone, Silent, SlowTokens
from tests.support import RunningServer

BODY = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}], "stream": True}


def events(response: httpx.Response) -> list[str]:
    return [e for e in response.read().decode().split("\n\n") if e]


def test_events_are_relayed_before_the_upstream_finishes(gateway: RunningServer, fake: FakeOpenAI) -> None:
    fake.enqueue(Silent(after=3, seconds=4))
    # If the gateway buffered, nothing would arrive during the 4 s silence and the 2 s read timeout fires.
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", json=BODY, timeout=httpx.Timeout(2.0)) as r:
        lines = r.iter_lines()
        received = []
        while len(received) < 3:
            line = next(lines)
            if line.startswith("data: "):
                received.append(json.loads(line[6:]))
    assert received[0]["choices"][0]["delta"]["role"] == "assistant"


def test_client_disconnect_cancels_the_upstream_stream(gateway: RunningServer, fake: FakeOpenAI) -> None:
    fake.reply = " ".join(["word"] * 200)
    fake.enqueue(SlowTokens(0.05))
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", json=BODY) as r:
        lines = r.iter_lines()
        for _ in range(6):
            next(lines)
    deadline = time.monotonic() + 5
    while fake.disconnects == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake.disconnects == 1
    # The connection went back to (or out of) the pool: the next call works.
    fake.reply = "after"
    response = httpx.post(gateway.url + "/v1/chat/completions", json={**BODY, "stream": False})
    assert response.json()["choices"][0]["message"]["content"] == "after"


def test_upstream_dying_mid_stream_ends_with_an_error_event(gateway: RunningServer, fake: FakeOpenAI) -> None:
    fake.enqueue(CutAfter(chunks=2))
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", json=BODY) as r:
        assert r.status_code == 200
        received = events(r)
    assert received[-1] != "data: [DONE]"
    last = json.loads(received[-1].removeprefix("data: "))
    assert last["error"]["code"] == "upstream_connection_error"
    assert all("finish_reason\":\"stop" not in e for e in received)


def test_sdk_raises_on_a_cut_stream(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    fake.enqueue(CutAfter(chunks=2))
    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(**BODY):
            pass


def test_malformed_event_is_skipped(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    fake.enqueue(Malformed(after=2))
    chunks = list(client.chat.completions.create(**BODY))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == fake.reply


def test_stream_without_done_is_finalised(gateway: RunningServer, fake: FakeOpenAI) -> None:
    fake.enqueue(NoDone())
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", json=BODY) as r:
        received = events(r)
    assert received[-1] == "data: [DONE]"
    assert json.loads(received[-2][6:])["choices"][0]["finish_reason"] == "stop"


def test_upstream_error_status_before_the_stream_starts_is_a_json_error(gateway: RunningServer,
                                                                        fake: FakeOpenAI) -> None:
    from tests.fakes.openai_compat import Fail

    fake.enqueue(Fail(400, {"error": {"message": "bad stream request", "type": "invalid_request_error"}}))
    response = httpx.post(gateway.url + "/v1/chat/completions", json=BODY)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "bad stream request"
