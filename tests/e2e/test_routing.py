"""Routing through a real gateway: strategies, failover, retries, cooldown, fallback routes, control headers.

Upstreams are several fake OpenAI servers on their own loopback ports (see tests/e2e/cluster.py); the client
is the openai SDK, or httpx where headers and error bodies matter. Distributions are checked over hundreds of
calls with bounds loose enough never to flake.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.cluster import Cluster, chat, route, status, target_status
from tests.fakes.openai_compat import CutAfter, Fail, SlowTokens, Stall
from tests.support import RunningServer

MESSAGES: list[Any] = [{"role": "user", "content": "hi"}]
CHAT_URL = "/v1/chat/completions"


def providers(gateway: RunningServer, n: int, model: str = "chat", **headers: str) -> list[str]:
    with httpx.Client(base_url=gateway.url, timeout=5) as http:
        answers = [http.post(CHAT_URL, json={"model": model, "messages": MESSAGES}, headers=headers) for _ in range(n)]
    assert {r.status_code for r in answers} == {200}, [r.text for r in answers if r.status_code != 200][:1]
    return [r.headers["x-gateway-provider"] for r in answers]


def chi_square(counts: Counter[str], expected: dict[str, float]) -> float:
    return sum((counts[k] - e) ** 2 / e for k, e in expected.items())


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    assert {"message", "type", "param", "code"} <= set(error)
    return error


# -- strategies -------------------------------------------------------------------------------------------


def test_weighted_sends_traffic_in_proportion_to_weight(cluster: Cluster) -> None:
    fakes = {name: cluster.fake(name) for name in "abc"}
    gateway = cluster.gateway(route("chat", "a/m*1", "b/m*2", "c/m*5"))
    counts = Counter(providers(gateway, 400))
    # 2 degrees of freedom; 23 is the p = 1e-5 critical value: a broken weighting fails, chance never does
    assert chi_square(counts, {"a": 50, "b": 100, "c": 250}) < 23.0, counts
    assert {name: len(fake.requests) for name, fake in fakes.items()} == counts


def test_round_robin_is_smooth_and_exact(cluster: Cluster) -> None:
    for name in "abc":
        cluster.fake(name)
    gateway = cluster.gateway(route("chat", "a/m*5", "b/m*1", "c/m*1", strategy="round_robin"))
    picks = "".join(providers(gateway, 28))
    assert picks == "aabacaa" * 4


def test_least_busy_sends_new_requests_to_the_idle_target(cluster: Cluster) -> None:
    a, b = cluster.fake("a"), cluster.fake("b")
    gateway = cluster.gateway(route("chat", "a/m*3", "b/m*1", strategy="least_busy"))
    # Nothing in flight: ties go by weight, 3 to 1.
    counts = Counter(providers(gateway, 200))
    assert chi_square(counts, {"a": 150, "b": 50}) < 19.5, counts  # 1 d.o.f., p = 1e-5

    a.reply = b.reply = " ".join(["word"] * 100)
    a.always = b.always = SlowTokens(0.05)
    body = {"model": "chat", "messages": MESSAGES, "stream": True}
    with httpx.Client(base_url=gateway.url, timeout=5) as http, http.stream("POST", CHAT_URL, json=body) as slow:
        busy = slow.headers["x-gateway-provider"]
        lines = slow.iter_lines()  # keep a reference: a collected iterator closes the connection
        next(lines)  # the slow stream is under way
        picks = Counter(providers(gateway, 20))
        assert picks == {"b" if busy == "a" else "a": 20}
        assert target_status(gateway, "chat", f"{busy}/m")["in_flight"] == 1
    assert (a if busy == "a" else b).wait_for_disconnects(1)
    deadline = time.monotonic() + 2
    while target_status(gateway, "chat", f"{busy}/m")["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert target_status(gateway, "chat", f"{busy}/m")["in_flight"] == 0  # the abandoned stream was released


def test_latency_prefers_the_fast_target_and_notices_a_recovery(cluster: Cluster) -> None:
    fast, slow = cluster.fake("fast"), cluster.fake("slow")
    slow.always = Stall(0.05)  # far above the fast one's latency even on a loaded machine (20 ms was not, once)
    gateway = cluster.gateway(route("chat", "fast/m", "slow/m", strategy="latency"), explore=0.2)
    providers(gateway, 20)  # warm-up: both get measured
    counts = Counter(providers(gateway, 150))
    # the slow one is only explored: 20% of requests draw at random, half of those pick it (~15 of 150)
    assert 1 <= counts["slow"] <= 45, counts
    latency = {t["target"]: t["latency_ms"] for t in status(gateway)["routes"]["chat"]["targets"]}
    assert latency["slow/m"] > latency["fast/m"]

    slow.always, fast.always = None, Stall(0.05)  # the slow one recovered; the other became slow
    providers(gateway, 100)
    counts = Counter(providers(gateway, 100))
    assert counts["slow"] >= 55, counts  # exploration measured it again: it has the traffic back


# -- failover -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status_code", [500, 503, 408, 409])
def test_an_error_status_fails_over_to_the_next_target(cluster: Cluster, status_code: int) -> None:
    a, b = cluster.fake("a"), cluster.fake("b")
    gateway = cluster.gateway(route("chat", "a/ma*2", "b/mb", strategy="round_robin"))
    a.enqueue(Fail(status_code))
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=0) as sdk:
        raw = sdk.chat.completions.with_raw_response.create(model="chat", messages=MESSAGES)
    assert raw.parse().choices[0].message.content == b.reply
    assert raw.parse().model == "mb"
    assert (raw.headers["x-gateway-attempts"], raw.headers["x-gateway-provider"]) == ("2", "b")
    assert (len(a.requests), len(b.requests)) == (1, 1)


def test_a_429_with_retry_after_moves_on_at_once_and_cools_the_target(cluster: Cluster) -> None:
    a, b = cluster.fake("a"), cluster.fake("b")
    gateway = cluster.gateway(route("chat", "a/ma*2", "b/mb", strategy="round_robin"))
    a.enqueue(Fail(429, retry_after=3))
    response = chat(gateway, timeout=2)  # waiting the 3 s here would time the client out
    assert response.status_code == 200 and response.headers["x-gateway-attempts"] == "2"
    assert b.last.received_at - a.last.received_at < 1.0
    cooling = target_status(gateway, "chat", "a/ma")
    assert cooling["state"] == "cooling" and 0 < cooling["cooling_for_s"] <= 30
    assert providers(gateway, 5) == ["b"] * 5 and len(a.requests) == 1


def test_a_hang_past_the_attempt_timeout_fails_over(cluster: Cluster) -> None:
    a, _ = cluster.fake("a"), cluster.fake("b")
    gateway = cluster.gateway(route("chat", "a/ma*2", "b/mb", strategy="round_robin", attempt_timeout_s=0.3))
    a.enqueue(Stall(10))
    response = chat(gateway, timeout=3)
    assert response.status_code == 200
    assert (response.headers["x-gateway-attempts"], response.headers["x-gateway-provider"]) == ("2", "b")
    assert a.wait_for_disconnects(1)  # the gateway hung up on the stalled upstream


def test_a_routes_longer_attempt_timeout_outlasts_the_providers_timeout(cluster: Cluster) -> None:
    """`attempt_timeout_s` bounds the whole answer in place of the provider's `timeout_s` (README, "Routing and
    failover"): a model that thinks for longer than the provider's 0.5 s, silently, is waited for up to the
    route's 3 s (the provider's timeout_s is not a silence limit of its own), and cut past it."""
    a = cluster.fake("a", provider="timeout_s = 0.5")
    gateway = cluster.gateway(route("chat", "a/ma", attempt_timeout_s=3))
    a.enqueue(Stall(1.2))
    response = chat(gateway, timeout=5)
    assert response.status_code == 200 and response.headers["x-gateway-attempts"] == "1"
    a.always = Stall(10)
    late = chat(gateway, timeout=8)
    assert late.status_code == 504 and "within 3.0 s" in error_of(late)["message"]


def test_a_target_that_timed_out_is_not_tried_again(cluster: Cluster) -> None:
    a, b = cluster.fake("a"), cluster.fake("b")
    gateway = cluster.gateway(route("chat", "a/ma*2", "b/mb", strategy="round_robin", attempt_timeout_s=0.2))
    a.always, b.always = Stall(10), Fail(500)
    response = chat(gateway, timeout=3)
    assert response.status_code == 500
    assert response.headers["x-gateway-attempts"] == "3"  # a, b, b again after a backoff; never a again
    assert (len(a.requests), len(b.requests)) == (1, 2)
    message = error_of(response)["message"]
    assert "a/ma (timeout)" in message and "b/mb (500)" in message


def test_a_closed_port_fails_over(cluster: Cluster) -> None:
    cluster.dead("dead")
    b = cluster.fake("b")
    gateway = cluster.gateway(route("chat", "dead/m*2", "b/mb", strategy="round_robin"))
    response = chat(gateway)
    assert response.status_code == 200 and response.headers["x-gateway-attempts"] == "2"
    assert response.json()["choices"][0]["message"]["content"] == b.reply


def test_an_answer_cut_in_the_middle_fails_over(cluster: Cluster) -> None:
    a, b = cluster.fake("a"), cluster.fake("b")
    gateway = cluster.gateway(route("chat", "a/ma*2", "b/mb", strategy="round_robin"))
    a.enqueue(CutAfter())  # the headers and half the JSON body, then the connection drops
    response = chat(gateway)
    assert response.status_code == 200 and response.headers["x-gateway-attempts"] == "2"
    assert response.json()["model"] == "mb" and len(b.requests) == 1


def test_a_connection_reset_fails_over(cluster: Cluster) -> None:
    reset = cluster.reset("reset")
    cluster.fake("b")
    gateway = cluster.gateway(route("chat", "reset/m*2", "b/mb", strategy="round_robin"))
    response = chat(gateway)
    assert response.status_code == 200 and response.headers["x-gateway-provider"] == "b"
    assert reset.connections >= 1


def test_a_400_goes_back_as_it_is(cluster: Cluster) -> None:
    a, b = cluster.fake("a"), cluster.fake("b")
    gateway = cluster.gateway(route("chat", "a/ma*2", "b/mb", strategy="round_robin"))
    a.enqueue(Fail(400, {"error": {"message": "'temperature' is too high", "type": "invalid_request_error",
                                   "param": "temperature", "code": "bad_temperature"}}))
    response = chat(gateway)
    assert response.status_code == 400
    assert error_of(response) == {"message": "'temperature' is too high", "type": "invalid_request_error",
                                  "param": "temperature", "code": "bad_temperature"}
    assert (response.headers["x-gateway-attempts"], response.headers["x-gateway-provider"]) == ("1", "a")
    assert b.requests == []


def test_an_exhausted_request_says_what_was_tried(cluster: Cluster) -> None:
    a, b = cluster.fake("a"), cluster.fake("b")
    gateway = cluster.gateway(route("chat", "a/ma*2", "b/mb", strategy="round_robin", retries_per_target=0))
    a.always, b.always = Fail(500), Fail(503)
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=0) as sdk:
        with pytest.raises(openai.InternalServerError) as raised:
            sdk.chat.completions.create(model="chat", messages=MESSAGES)
    assert raised.value.status_code == 503
    assert raised.value.response.headers["x-gateway-attempts"] == "2"
    message = raised.value.message
    assert "tried 2 attempts" in message and "a/ma (500)" in message and "b/mb (503)" in message


def test_attempts_are_bounded_by_max_attempts(cluster: Cluster) -> None:
    fakes = [cluster.fake(name) for name in "abc"]
    for fake in fakes:
        fake.always = Fail(502)
    gateway = cluster.gateway(route("chat", "a/m", "b/m", "c/m", max_attempts=2))
    response = chat(gateway)
    assert response.status_code == 502 and response.headers["x-gateway-attempts"] == "2"
    assert sum(len(f.requests) for f in fakes) == 2


# -- retries on one target ------------------------------------------------------------------------------


def test_a_retry_waits_for_the_retry_after_it_was_asked(cluster: Cluster) -> None:
    a = cluster.fake("a")
    gateway = cluster.gateway(route("chat", "a/ma"))
    a.enqueue(Fail(503, retry_after=1))
    response = chat(gateway)
    assert response.status_code == 200 and response.headers["x-gateway-attempts"] == "2"
    first, second = a.requests
    assert second.received_at - first.received_at >= 0.9


def test_a_retry_after_beyond_the_cap_goes_to_the_fallback_at_once(cluster: Cluster) -> None:
    a, _ = cluster.fake("a"), cluster.fake("f")
    gateway = cluster.gateway(route("chat", "a/ma", fallbacks=["backup"]) + route("backup", "f/mf"),
                              retry_after_max_s=2)
    a.enqueue(Fail(429, retry_after=60))
    response = chat(gateway, timeout=2)
    assert response.status_code == 200 and response.json()["model"] == "mf"
    assert response.headers["x-gateway-attempts"] == "2" and len(a.requests) == 1


# -- fallback routes -----------------------------------------------------------------------------------------


def test_a_fallback_route_answers_with_its_own_model_and_usage(cluster: Cluster) -> None:
    a, f = cluster.fake("a"), cluster.fake("f", reply="The backup model answers in seven words.")
    gateway = cluster.gateway(route("chat", "a/primary-model", fallbacks=["backup"], retries_per_target=0)
                              + route("backup", "f/backup-model"))
    a.always = Fail(503)
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=0) as sdk:
        raw = sdk.chat.completions.with_raw_response.create(model="chat", messages=MESSAGES)
    completion = raw.parse()
    assert completion.model == "backup-model" and completion.choices[0].message.content == f.reply
    assert completion.usage is not None and completion.usage.completion_tokens == 7
    assert (raw.headers["x-gateway-provider"], raw.headers["x-gateway-attempts"]) == ("f", "2")
    assert [r.json["model"] for r in a.requests] == ["primary-model"]
    assert [r.json["model"] for r in f.requests] == ["backup-model"]


def test_a_prompt_too_long_goes_to_the_context_window_fallback(cluster: Cluster) -> None:
    a, b, big, other = cluster.fake("a"), cluster.fake("b"), cluster.fake("big"), cluster.fake("other")
    routes = route("chat", "a/small*2", "b/small", strategy="round_robin", fallbacks=["other"],
                   context_window_fallbacks=["large"])
    gateway = cluster.gateway(routes + route("large", "big/large-model") + route("other", "other/m"))
    a.always = Fail(400, {"error": {"message": "This model's maximum context length is 8192 tokens.",
                                    "type": "invalid_request_error", "param": "messages",
                                    "code": "context_length_exceeded"}})
    response = chat(gateway)
    assert response.status_code == 200 and response.json()["model"] == "large-model"
    assert response.headers["x-gateway-attempts"] == "2"
    assert (len(a.requests), len(b.requests), len(big.requests), len(other.requests)) == (1, 0, 1, 0)


def test_a_content_policy_rejection_reaches_the_client_with_its_reason(cluster: Cluster) -> None:
    a, b, other = cluster.fake("a"), cluster.fake("b"), cluster.fake("other")
    gateway = cluster.gateway(route("chat", "a/ma*2", "b/mb", strategy="round_robin", fallbacks=["other"])
                              + route("other", "other/m"))
    a.always = Fail(400, {"error": {"message": "Your request was rejected as a result of our safety system.",
                                    "type": "invalid_request_error", "param": None,
                                    "code": "content_policy_violation"}})
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=0) as sdk:
        with pytest.raises(openai.BadRequestError) as raised:
            sdk.chat.completions.create(model="chat", messages=MESSAGES)
    assert raised.value.code == "content_policy_violation"
    assert "rejected as a result of our safety system" in raised.value.message
    assert (len(a.requests), len(b.requests), len(other.requests)) == (1, 0, 0)


# -- cooldown -------------------------------------------------------------------------------------------------


def test_a_primary_down_for_a_while_is_served_by_the_fallback_then_comes_back(cluster: Cluster) -> None:
    primary, _ = cluster.fake("primary"), cluster.fake("backup")
    gateway = cluster.gateway(route("chat", "primary/pm", fallbacks=["spare"], retries_per_target=0)
                              + route("spare", "backup/bm"), failure_threshold=2, cooldown_s=0.5)
    primary.always = Fail(503)
    assert providers(gateway, 2) == ["backup", "backup"]
    assert len(primary.requests) == 2  # two failures: the threshold; now it cools down
    # a provider outage does not make the replica unready: /admin/status says which routes have no usable target
    assert httpx.get(gateway.url + "/readyz").status_code == 200
    assert status(gateway)["routes_without_usable_target"] == ["chat"]
    cooled_at = time.monotonic()

    assert providers(gateway, 5) == ["backup"] * 5
    assert len(primary.requests) == 2  # skipped while cooling, not asked and failed over
    assert target_status(gateway, "chat", "primary/pm")["state"] == "cooling"

    primary.always = None  # it recovers
    time.sleep(max(0.0, 0.55 - (time.monotonic() - cooled_at)))
    assert providers(gateway, 3) == ["primary"] * 3  # the probe succeeded: back on the primary
    assert status(gateway)["routes_without_usable_target"] == []
    assert target_status(gateway, "chat", "primary/pm")["state"] == "healthy"


def test_a_failed_probe_cools_the_target_for_longer(cluster: Cluster) -> None:
    primary, _ = cluster.fake("primary"), cluster.fake("backup")
    gateway = cluster.gateway(route("chat", "primary/pm", fallbacks=["spare"], retries_per_target=0)
                              + route("spare", "backup/bm"), failure_threshold=1, cooldown_s=0.3)
    primary.always = Fail(500)
    providers(gateway, 1)
    first = target_status(gateway, "chat", "primary/pm")["cooling_for_s"]
    assert 0 < first <= 0.3
    time.sleep(0.35)
    providers(gateway, 1)  # the probe, and it fails
    assert len(primary.requests) == 2
    assert 0.3 < target_status(gateway, "chat", "primary/pm")["cooling_for_s"] <= 0.6  # doubled


def test_when_every_target_is_cooling_the_request_still_goes_out(cluster: Cluster) -> None:
    a = cluster.fake("a")
    gateway = cluster.gateway(route("chat", "a/ma", retries_per_target=0), failure_threshold=1)
    a.enqueue(Fail(503))
    assert chat(gateway).status_code == 503
    assert status(gateway)["routes_without_usable_target"] == ["chat"]
    assert httpx.get(gateway.url + "/readyz").status_code == 200  # one provider's outage: still ready
    response = chat(gateway)  # cooling, but it is the only one: it recovers soonest
    assert response.status_code == 200 and len(a.requests) == 2
    assert status(gateway)["routes_without_usable_target"] == []


def test_admin_status_shows_each_target(cluster: Cluster) -> None:
    a, _ = cluster.fake("a"), cluster.fake("b")
    gateway = cluster.gateway(route("chat", "a/ma*2", "b/mb", strategy="round_robin", fallbacks=["spare"])
                              + route("spare", "b/mb"), failure_threshold=1)
    a.enqueue(Fail(500))
    providers(gateway, 2)
    report = status(gateway)
    assert set(report) >= {"routes"}
    chat_route = report["routes"]["chat"]
    assert (chat_route["strategy"], chat_route["fallbacks"]) == ("round_robin", ["spare"])
    targets = {t["target"]: t for t in chat_route["targets"]}
    assert set(targets) == {"a/ma", "b/mb"}
    for target in targets.values():
        assert set(target) >= {"target", "weight", "state", "cooling_for_s", "in_flight", "latency_ms",
                               "recent_error_rate"}
        assert target["in_flight"] == 0
    assert (targets["a/ma"]["state"], targets["a/ma"]["recent_error_rate"]) == ("cooling", 1.0)
    assert targets["b/mb"]["state"] == "healthy" and targets["b/mb"]["latency_ms"] > 0
    assert targets["b/mb"]["recent_error_rate"] == 0.0
    assert report["routes"]["spare"]["targets"][0]["target"] == "b/mb"  # one target, one state, two routes
    assert httpx.get(gateway.url + "/readyz").json()["status"] == "ready"


# -- per-request control ----------------------------------------------------------------------------------------


def test_x_gateway_target_pins_a_target(cluster: Cluster) -> None:
    a, b, f = cluster.fake("a"), cluster.fake("b"), cluster.fake("f")
    gateway = cluster.gateway(route("chat", "a/ma", "b/mb", fallbacks=["backup"]) + route("backup", "f/mf"))
    assert set(providers(gateway, 10, **{"x-gateway-target": "b"})) == {"b"}
    assert set(providers(gateway, 10, **{"x-gateway-target": "a/ma"})) == {"a"}
    # sent twice, the first counts (as Starlette's `Headers.get` reads it)
    twice = httpx.post(gateway.url + "/v1/chat/completions", json={"model": "chat", "messages": MESSAGES},
                       headers=[("x-gateway-target", "b"), ("x-gateway-target", "a")], timeout=5)
    assert twice.status_code == 200 and twice.headers["x-gateway-provider"] == "b"
    b.always = Fail(503)
    pinned = chat(gateway, headers={"x-gateway-target": "b"})
    assert pinned.status_code == 503 and f.requests == []  # no failover away from a pinned target

    bad = chat(gateway, headers={"x-gateway-target": "nope"})
    assert bad.status_code == 400
    error = error_of(bad)
    assert error["param"] == "x-gateway-target" and "a/ma" in error["message"] and "b/mb" in error["message"]
    assert len(a.requests) == 10


def test_x_gateway_timeout_s_lowers_the_deadline(cluster: Cluster) -> None:
    a, b = cluster.fake("a"), cluster.fake("b")
    gateway = cluster.gateway(route("chat", "a/ma*2", "b/mb", strategy="round_robin"))
    a.always = b.always = Stall(10)
    response = chat(gateway, headers={"x-gateway-timeout-s": "0.3"}, timeout=3)
    assert response.status_code == 504
    assert error_of(response)["code"] == "upstream_timeout"
    assert response.headers["x-gateway-attempts"] == "1"  # the deadline was spent on the first attempt
    for value in ("0", "-1", "soon"):
        invalid = chat(gateway, headers={"x-gateway-timeout-s": value})
        assert invalid.status_code == 400 and error_of(invalid)["param"] == "x-gateway-timeout-s"


def test_x_gateway_fallbacks_off_keeps_the_request_on_its_route(cluster: Cluster) -> None:
    a, f = cluster.fake("a"), cluster.fake("f")
    gateway = cluster.gateway(route("chat", "a/ma", fallbacks=["backup"], retries_per_target=0)
                              + route("backup", "f/mf"))
    a.always = Fail(503)
    response = chat(gateway, headers={"x-gateway-fallbacks": "off"})
    assert response.status_code == 503 and f.requests == []
    assert chat(gateway).json()["model"] == "mf"  # without the header the fallback answers
    assert chat(gateway, headers={"x-gateway-fallbacks": "maybe"}).status_code == 400


# -- concurrency ------------------------------------------------------------------------------------------------


async def test_routing_state_stays_right_under_100_concurrent_requests(cluster: Cluster) -> None:
    cluster.dead("dead")
    flaky, a, b = cluster.fake("flaky"), cluster.fake("a"), cluster.fake("b")
    flaky.always = Fail(500)
    a.always = Stall(0.02)
    gateway = cluster.gateway(route("chat", "dead/m", "flaky/m", "a/m", "b/m", strategy="least_busy"),
                              failure_threshold=3, cooldown_s=30)

    async def one(sdk: openai.AsyncOpenAI, i: int) -> str:
        if i % 2:
            stream = await sdk.chat.completions.create(model="chat", messages=MESSAGES, stream=True)
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        completion = await sdk.chat.completions.create(model="chat", messages=MESSAGES)
        return completion.choices[0].message.content or ""

    async with openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=0, timeout=20) as sdk:
        answers = await asyncio.gather(*(one(sdk, i) for i in range(100)))
    assert answers == [a.reply] * 100
    assert len(a.requests) + len(b.requests) == 100
    targets = await asyncio.to_thread(lambda: status(gateway)["routes"]["chat"]["targets"])
    assert {t["target"]: t["in_flight"] for t in targets} == {"dead/m": 0, "flaky/m": 0, "a/m": 0, "b/m": 0}
    states = {t["target"]: t["state"] for t in targets}
    assert states["dead/m"] == states["flaky/m"] == "cooling"
    assert states["a/m"] == states["b/m"] == "healthy"
