"""A streaming client that hangs up at each phase of the exchange, over a raw socket so the phase is exact: while
sending its body, while the gateway waits for the upstream's headers, before the first token, mid-answer, after
the last token but before the end. Each time the upstream request is cancelled (the fake sees its client leave)
or never made, the target is not blamed, nothing stays in flight, and the next stream is answered whole."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable

import httpx
import pytest

from tests.fakes.openai_compat import FakeOpenAI, Silent, Stall
from tests.support import RunningServer

REPLY = "alpha beta gamma delta"
BODY = json.dumps({"model": "gpt-test", "stream": True, "messages": [{"role": "user", "content": "hi"}]}).encode()
HEAD = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
WAIT_S = 30.0  # a bound for "never" only: every wait ends on an event


def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "the awaited event never came"
        time.sleep(0.01)


def read_until(sock: socket.socket, marker: bytes) -> bytes:
    received = b""
    while marker not in received:
        chunk = sock.recv(65536)
        assert chunk, f"the gateway closed before {marker!r}: {received!r}"
        received += chunk
    return received


def connect(gateway: RunningServer) -> socket.socket:
    return socket.create_connection((gateway.host, gateway.port), timeout=WAIT_S)


def target(gateway: RunningServer) -> dict[str, object]:
    [only] = httpx.get(gateway.url + "/admin/status").json()["routes"]["gpt-test"]["targets"]
    return dict(only)


def settled(gateway: RunningServer) -> None:
    """Nothing in flight, nothing blamed, and a whole stream for the next client."""
    until(lambda: target(gateway)["in_flight"] == 0)
    state = target(gateway)
    assert state["consecutive_failures"] == 0 and state["state"] == "healthy", state
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", content=BODY, timeout=WAIT_S) as answer:
        text = answer.read().decode()
    assert answer.status_code == 200 and text.rstrip().endswith("data: [DONE]")


@pytest.fixture
def replying(fake: FakeOpenAI) -> FakeOpenAI:
    fake.reply = REPLY
    return fake


def test_leaving_while_sending_the_body(gateway: RunningServer, replying: FakeOpenAI) -> None:
    with connect(gateway) as sock:
        sock.sendall(HEAD % len(BODY) + BODY[: len(BODY) // 2])
    settled(gateway)
    assert len(replying.requests) == 1  # only settled()'s own: the cut request never went upstream


def test_leaving_while_the_upstream_has_not_answered(gateway: RunningServer, replying: FakeOpenAI) -> None:
    replying.enqueue(Stall(WAIT_S))
    with connect(gateway) as sock:
        sock.sendall(HEAD % len(BODY) + BODY)
        until(lambda: len(replying.requests) == 1)
    assert replying.wait_for_disconnects(1, timeout=WAIT_S)
    settled(gateway)


@pytest.mark.parametrize(("after", "seen"), [(0, None), (1, b"alpha"), (4, b"delta")],
                         ids=["before-the-first-token", "mid-answer", "after-the-last-token"])
def test_leaving_during_the_stream(
    gateway: RunningServer, replying: FakeOpenAI, after: int, seen: bytes | None
) -> None:
    replying.enqueue(Silent(after=after, seconds=WAIT_S))  # the upstream pauses right at that phase
    with connect(gateway) as sock:
        sock.sendall(HEAD % len(BODY) + BODY)
        if seen is None:
            until(lambda: len(replying.requests) == 1)
        else:
            received = read_until(sock, seen)
            assert b"[DONE]" not in received
    assert replying.wait_for_disconnects(1, timeout=WAIT_S)
    settled(gateway)


def test_leaving_after_the_end_changes_nothing(gateway: RunningServer, replying: FakeOpenAI) -> None:
    with connect(gateway) as sock:
        sock.sendall(HEAD % len(BODY) + BODY)
        read_until(sock, b"data: [DONE]")
    settled(gateway)
    assert replying.disconnects == 0
