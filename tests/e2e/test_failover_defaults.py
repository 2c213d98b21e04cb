"""Failover that recovers (issue 18, item 1), through a real gateway in front of fake upstreams on loopback.

- the cooldown's growth is capped: a target that recovers gets its traffic back within `cooldown_max_s`;
- a target cooling down is not tried again within the request that cooled it;
- an upstream that takes the request, stays silent and hangs up is left for the request, like a timeout;
- with `ttft_timeout_s` unset, a stream stalled on a target that is normally fast goes to the next target
  after `ttft_auto_factor` x its usual time to first token (at least `ttft_auto_min_s`), while a slow target
  at its usual pace, a target never measured and the last target left are waited for.

Short cooldowns and limits are configured here so that nothing waits for the defaults; the defaults themselves
are checked in tests/unit/routing/test_recovery_defaults.py.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.cluster import Cluster, chat, route, status, target_status
from tests.fakes.openai_compat import Fail, Silent, Stall
from tests.fakes.openai_compat import ResetServer as _ResetServer
from tests.support import RunningServer

MESSAGES = [{"role": "user", "content": "hi"}]


class HangUpServer(_ResetServer):
    """Reads each request, says nothing for `silence_s`, then closes the connection cleanly (no status line)."""

    def __init__(self, silence_s: float) -> None:
        super().__init__(rst=False)
        self.silence_s = silence_s

    def _drop(self, conn: socket.socket) -> None:
        time.sleep(self.silence_s)
        super()._drop(conn)


def hang_up(cluster: Cluster, name: str, silence_s: float = 0.3) -> HangUpServer:
    server = HangUpServer(silence_s)
    cluster.stack.enter_context(server)
    cluster._provider(name, server.url + "/v1")
    return server


def served_by(gateway: RunningServer, model: str = "chat") -> str:
    response = chat(gateway, model)
    assert response.status_code == 200, response.text
    return response.headers["x-gateway-provider"]


def stream(gateway: RunningServer, timeout: float = 5) -> tuple[httpx.Headers, str, list[str]]:
    """One streamed chat: its headers, its text and its data lines (the last should be [DONE])."""
    body = {"model": "chat", "messages": MESSAGES, "stream": True}
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", json=body, timeout=timeout) as response:
        assert response.status_code == 200, response.read()
        lines = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
        headers = response.headers
    text = ""
    for line in lines[:-1]:
        for choice in json.loads(line)["choices"]:
            text += choice["delta"].get("content") or ""
    return headers, text, lines


# -- the cooldown is capped --------------------------------------------------------------------------------


def test_a_target_down_for_many_probes_gets_traffic_back_within_the_cap(cluster: Cluster) -> None:
    primary, _ = cluster.fake("primary"), cluster.fake("backup")
    gateway = cluster.gateway(route("chat", "primary/pm", fallbacks=["spare"], retries_per_target=0)
                              + route("spare", "backup/bm"), failure_threshold=1, cooldown_s=0.1, cooldown_max_s=0.3)
    primary.always = Fail(503)
    longest = 0.0
    down_until = time.monotonic() + 1.6  # doubling without a cap would reach 0.1 * 2**4 = 1.6 s by now
    while time.monotonic() < down_until:
        assert served_by(gateway) == "backup"
        longest = max(longest, target_status(gateway, "chat", "primary/pm")["cooling_for_s"])
        time.sleep(0.02)
    probes = len(primary.requests)
    assert probes >= 4, probes  # it was probed again and again, and every probe failed
    assert 0 < longest <= 0.3  # never cooled for longer than the cap

    primary.always = None  # it recovers
    time.sleep(0.35)  # the cap has passed since its last failed probe, whatever the doubling would have said
    assert served_by(gateway) == "primary"  # the next request is the probe, and it succeeds
    assert target_status(gateway, "chat", "primary/pm")["state"] == "healthy"
    assert [served_by(gateway) for _ in range(3)] == ["primary"] * 3


# -- a cooling target is not retried within the request -------------------------------------------------------


def test_a_target_cooled_by_its_failure_is_not_retried_in_the_same_request(cluster: Cluster) -> None:
    a, spare = cluster.fake("a"), cluster.fake("f")
    gateway = cluster.gateway(route("chat", "a/ma", fallbacks=["spare"], retries_per_target=1)
                              + route("spare", "f/mf"), failure_threshold=1, cooldown_s=0.2, cooldown_max_s=1)
    a.always = Fail(503)
    response = chat(gateway)
    assert response.status_code == 200 and response.headers["x-gateway-provider"] == "f"
    assert response.headers["x-gateway-attempts"] == "2"  # a, then the fallback; no retry of a while it cools
    assert len(a.requests) == 1

    time.sleep(0.25)  # the cooldown ended: the next request is the probe
    response = chat(gateway)
    assert response.status_code == 200 and response.headers["x-gateway-provider"] == "f"
    assert response.headers["x-gateway-attempts"] == "2"  # the failed probe cooled it again: not retried either
    assert len(a.requests) == 2 and len(spare.requests) == 2


def test_a_target_below_the_failure_threshold_is_still_retried(cluster: Cluster) -> None:
    a = cluster.fake("a")
    gateway = cluster.gateway(route("chat", "a/ma", retries_per_target=1), failure_threshold=3)
    a.enqueue(Fail(503))
    response = chat(gateway)
    assert response.status_code == 200 and response.headers["x-gateway-attempts"] == "2"


def test_a_short_retry_after_is_still_honoured_on_the_same_target(cluster: Cluster) -> None:
    a = cluster.fake("a")
    gateway = cluster.gateway(route("chat", "a/ma", retries_per_target=1), cooldown_s=30)
    a.enqueue(Fail(429, retry_after=1))  # cools it for the 1 s it asked, not the policy's 30 s
    response = chat(gateway)
    assert response.status_code == 200 and response.headers["x-gateway-attempts"] == "2"
    first, second = a.requests
    assert second.received_at - first.received_at >= 0.9
    assert target_status(gateway, "chat", "a/ma")["state"] == "healthy"  # the retry was the probe


# -- a silent upstream that hangs up --------------------------------------------------------------------------


def test_a_silent_upstream_that_hangs_up_is_not_asked_again(cluster: Cluster) -> None:
    silent = hang_up(cluster, "silent")
    gateway = cluster.gateway(route("chat", "silent/m", retries_per_target=1), failure_threshold=10)
    response = chat(gateway)
    assert response.status_code == 504
    error = response.json()["error"]
    assert error["code"] == "upstream_timeout" and "closed the connection without answering" in error["message"]
    assert response.headers["x-gateway-attempts"] == "1" and silent.connections == 1  # no second long wait


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
def test_a_silent_upstream_that_hangs_up_is_left_for_the_next_target(cluster: Cluster, streamed: bool) -> None:
    silent = hang_up(cluster, "silent")
    b = cluster.fake("b")
    gateway = cluster.gateway(route("chat", "silent/m*100", "b/mb", strategy="round_robin", retries_per_target=1),
                              failure_threshold=10)
    b.enqueue(Fail(500))  # b fails once and is retried; the silent one never again
    if streamed:
        headers, text, lines = stream(gateway)
        assert text == b.reply and lines[-1] == "[DONE]"
    else:
        response = chat(gateway)
        assert response.status_code == 200
        headers = response.headers
    assert (headers["x-gateway-provider"], headers["x-gateway-attempts"]) == ("b", "3")
    assert silent.connections == 1 and len(b.requests) == 2


# -- the first-token limit when ttft_timeout_s is unset -----------------------------------------------------------


@pytest.fixture
def auto(cluster: Cluster) -> Iterator[tuple[Any, Any, RunningServer]]:
    """a (picked first, 100 to 1) and b; first-token limit = 5 x a's usual time to first token, at least 0.3 s."""
    # the providers' 5 s timeout_s (cluster.py) bounds the attempt and each read: lifted, so that only the
    # first-token limit can cut a 10 s silence
    a, b = cluster.fake("a", provider="read_timeout_s = 30"), cluster.fake("b")
    gateway = cluster.gateway(route("chat", "a/ma*100", "b/mb", strategy="round_robin", attempt_timeout_s=30),
                              ttft_auto_min_s=0.3, ttft_auto_factor=5)
    yield a, b, gateway


def test_a_stream_stalled_on_a_fast_target_goes_to_the_next_one(auto: tuple[Any, Any, RunningServer]) -> None:
    a, b, gateway = auto
    for _ in range(3):
        assert stream(gateway)[0]["x-gateway-provider"] == "a"  # a is measured: a few ms to its first token
    a.enqueue(Silent(after=0, seconds=10))  # headers and the role at once, then nothing
    started = time.monotonic()
    headers, text, lines = stream(gateway, timeout=15)  # without the limit: a's answer, 10 s later
    assert (headers["x-gateway-provider"], headers["x-gateway-attempts"]) == ("b", "2")
    assert text == b.reply and lines[-1] == "[DONE]"
    assert time.monotonic() - started >= 0.3  # not before the floor
    assert a.wait_for_disconnects(1)  # the gateway hung up on the stalled stream


@pytest.mark.parametrize("slow", [
    lambda s: Stall(s),  # nothing at all, not even headers, for a while
    lambda s: Silent(after=0, seconds=s),  # headers and the first chunk at once, the first word later
], ids=["late-headers", "late-first-word"])
def test_a_slow_target_at_its_usual_pace_is_waited_for(cluster: Cluster, slow: Any) -> None:
    a, b = cluster.fake("a"), cluster.fake("b")
    gateway = cluster.gateway(route("chat", "a/ma*100", "b/mb", strategy="round_robin"),
                              ttft_auto_min_s=0.05, ttft_auto_factor=5)
    a.always = slow(0.25)  # a "reasoning model": a quarter of a second before its first word
    for _ in range(3):
        assert stream(gateway)[0]["x-gateway-provider"] == "a"
    a.enqueue(slow(0.75))  # three times its usual wait, far above the 0.05 s floor: still its own pace
    headers, text, lines = stream(gateway)
    assert (headers["x-gateway-provider"], headers["x-gateway-attempts"]) == ("a", "1")
    assert text == a.reply and lines[-1] == "[DONE]" and b.requests == []


def test_a_target_never_measured_is_not_cut(auto: tuple[Any, Any, RunningServer]) -> None:
    a, b, gateway = auto
    a.enqueue(Stall(0.6))  # over the floor, but nothing says what is usual for a yet
    headers, _, lines = stream(gateway)
    assert (headers["x-gateway-provider"], headers["x-gateway-attempts"]) == ("a", "1")
    assert lines[-1] == "[DONE]" and b.requests == []


def test_the_last_target_left_is_not_cut(cluster: Cluster) -> None:
    a = cluster.fake("a")
    gateway = cluster.gateway(route("chat", "a/ma"), ttft_auto_min_s=0.1, ttft_auto_factor=2)
    for _ in range(3):
        stream(gateway)
    a.enqueue(Silent(after=0, seconds=0.6))  # cutting it would leave the client with nothing
    headers, text, lines = stream(gateway)
    assert headers["x-gateway-attempts"] == "1" and text == a.reply and lines[-1] == "[DONE]"


def test_an_explicit_ttft_timeout_s_still_wins(cluster: Cluster) -> None:
    a, b = cluster.fake("a"), cluster.fake("b")
    gateway = cluster.gateway(route("chat", "a/ma*100", "b/mb", strategy="round_robin", ttft_timeout_s=2),
                              ttft_auto_min_s=0.1)
    for _ in range(3):
        stream(gateway)
    a.enqueue(Silent(after=0, seconds=0.6))  # over the automatic limit, under the configured one
    headers, _, _ = stream(gateway)
    assert (headers["x-gateway-provider"], headers["x-gateway-attempts"]) == ("a", "1")
    assert b.requests == [] and status(gateway)["routes"]["chat"]["targets"][0]["state"] == "healthy"
