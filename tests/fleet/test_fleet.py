"""The gateway as a fleet on one machine: two real `gateway serve` processes on one config, behind a real nginx
running deploy/nginx.conf (round robin), sharing one real Redis through `[state] redis_url`, called with the
official openai SDK and httpx. Upstream: the fake OpenAI server (it counts what reaches it).

What one replica does, the other knows: an answer cached through one is a hit through the other; one rpm and one
budget per key hold across both; a stored response made through one is continued through the other. A replica
that gets SIGTERM finishes its stream while new calls go to the other, with no failed call. With Redis stopped
every call is still answered as each feature documents (cache: miss; limits: `on_backend_error = "open"`;
stored responses: 503), each replica says so once per feature in its log and counts the failures (/metrics, and
/admin/status for the cache), and the fleet
shares again by itself once Redis is back."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import openai
import pytest

from tests.cache.redis_server import RedisServer
from tests.fakes.openai_compat import FakeOpenAI, SlowTokens
from tests.fleet.fleet import Fleet, nginx_available, running_fleet
from tests.support import RunningServer

pytestmark = pytest.mark.skipif(not nginx_available(), reason="no nginx: apt-get install nginx")

KEY = "sk-fleet-team-0123456789"  # no limits
LIMITED = "sk-fleet-limited-0123456789"  # rpm = 4
BUDGET = "sk-fleet-budget-0123456789"  # a budget the first call uses up
ADMIN = "sk-fleet-admin-0123456789"
LONG_REPLY = " ".join(f"word{i}" for i in range(30)) + "."

T = TypeVar("T")


def fleet_config(upstream: str, redis_url: str) -> str:
    return f"""
[server]
drain_delay_s = 0.3
shutdown_grace_s = 20
[state]
redis_url = "{redis_url}"
[cache]
ttl_s = 300
redis_retry_s = 0.2
[limits]
on_backend_error = "open"
redis_retry_s = 0.2
[telemetry]
prometheus = true
[admin]
key = "{ADMIN}"
[[providers]]
name = "fake"
type = "openai"
base_url = "{upstream}/v1"
api_key = "sk-upstream-0123456789"
[[routes]]
model = "chat"
  [[routes.targets]]
  provider = "fake"
  model = "upstream-model"
  input_usd_per_mtok = 1000
  output_usd_per_mtok = 2000
[[keys]]
name = "team"
key = "{KEY}"
[[keys]]
name = "limited"
key = "{LIMITED}"
rpm = 4
[[keys]]
name = "budget"
key = "{BUDGET}"
budget_usd = 0.000001
"""


@pytest.fixture
def fleet(upstream: RunningServer, redis_server: RedisServer, tmp_path: Path) -> Iterator[Fleet]:
    """Two replicas behind nginx on a Redis of this test's own (some tests stop it)."""
    with running_fleet(fleet_config(upstream.url, redis_server.url), tmp_path) as running:
        yield running


def sdk(fleet: Fleet, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=fleet.url + "/v1", api_key=key, max_retries=0)


def chat(fleet: Fleet, content: str, key: str = KEY, **extra: Any) -> httpx.Response:
    return httpx.post(fleet.url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                      json={"model": "chat", "messages": [{"role": "user", "content": content}], **extra}, timeout=30)


def test_an_answer_cached_through_one_replica_is_a_hit_through_the_other(fleet: Fleet, fake: FakeOpenAI) -> None:
    with sdk(fleet) as client:
        calls = [client.chat.completions.with_raw_response.create(
            model="chat", messages=[{"role": "user", "content": "Cache me"}]) for _ in range(2)]
        streamed = client.chat.completions.with_raw_response.create(
            model="chat", messages=[{"role": "user", "content": "Cache me"}], stream=True)
        text = "".join(chunk.choices[0].delta.content or "" for chunk in streamed.parse() if chunk.choices)
    first, second = calls
    assert first.headers["x-gateway-cache"] == "miss" and second.headers["x-gateway-cache"] == "hit"
    assert {fleet.replica_of(first), fleet.replica_of(second)} == set(fleet.replicas)  # round robin: both
    assert second.parse().choices[0].message.content == first.parse().choices[0].message.content
    assert streamed.headers["x-gateway-cache"] == "hit" and text == first.parse().choices[0].message.content
    assert len(fake.requests) == 1  # one upstream call for the whole fleet


def test_a_replica_stopped_mid_stream_finishes_it_while_the_other_takes_new_calls(
    fleet: Fleet, fake: FakeOpenAI
) -> None:
    fake.reply = LONG_REPLY
    fake.enqueue(SlowTokens(0.1))  # the stream: ~3 s, far longer than the drain below
    body = {"model": "chat", "messages": [{"role": "user", "content": "Tell me a long story"}], "stream": True}
    headers = {"authorization": f"Bearer {KEY}", "cache-control": "no-store"}
    answered: list[tuple[bool, str]] = []  # (after SIGTERM, the replica) of each call answered
    with httpx.Client(timeout=30) as http, http.stream("POST", fleet.url + "/v1/chat/completions", json=body,
                                                       headers=headers) as stream:
        assert stream.status_code == 200
        lines = stream.iter_lines()
        first = next(line for line in lines if line.startswith("data: "))  # the stream is under way
        stopping = fleet.replicas[fleet.replica_of(stream)]
        other = next(r for r in fleet.replicas.values() if r is not stopping)
        # Twelve clients call without pause; then SIGTERM. While the replica drains (drain_delay_s) it still
        # serves; then it stops accepting and nginx, refused, sends every call to the other replica. Not one call
        # fails: none is lost in the stopping replica's listening socket or on a connection it had just accepted.
        signalled = time.monotonic() + 3600  # (until SIGTERM below)
        failed: list[str] = []
        done = threading.Event()

        def call_without_pause(n: int) -> None:
            with httpx.Client(timeout=30) as client:
                while not done.is_set():
                    call = client.post(fleet.url + "/v1/chat/completions", headers={"authorization": f"Bearer {KEY}"},
                                       json={"model": "chat", "messages": [
                                           {"role": "user", "content": f"during the drain {n} {len(answered)}"}]})
                    if call.status_code == 200:
                        answered.append((time.monotonic() > signalled, fleet.replica_of(call)))
                    else:
                        failed.append(f"{call.status_code} {call.text[:200]}")

        callers = [threading.Thread(target=call_without_pause, args=(n,)) for n in range(12)]
        for caller in callers:
            caller.start()
        time.sleep(0.3)
        signalled = time.monotonic()
        stopping.process.send_signal(signal.SIGTERM)
        assert httpx.get(stopping.url + "/readyz").status_code == 503  # draining at once
        while accepting(stopping.port):
            time.sleep(0.01)
        time.sleep(0.2)
        done.set()
        for caller in callers:
            caller.join(30)
        assert failed == []
        assert (True, stopping.name) in answered and (True, other.name) in answered  # both served after SIGTERM
        after = [chat(fleet, f"after the drain {i}") for i in range(4)]
        assert [c.status_code for c in after] == [200] * 4
        assert {fleet.replica_of(c) for c in after} == {other.name}
        rest = [line for line in lines if line.startswith("data: ")]
    events = [first, *rest]
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == LONG_REPLY
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    # It left once its stream was done, cleanly (uvicorn ends by raising the SIGTERM it handled again).
    assert stopping.process.wait(30) == -signal.SIGTERM and "Application shutdown complete" in stopping.output()
    assert other.process.poll() is None


def accepting(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_one_rate_limit_and_one_budget_hold_across_both_replicas(fleet: Fleet, fake: FakeOpenAI) -> None:
    calls = [chat(fleet, f"limited {i}", LIMITED) for i in range(6)]
    assert [c.status_code for c in calls] == [200] * 4 + [429] * 2
    assert {fleet.replica_of(c) for c in calls[:4]} == set(fleet.replicas)  # both replicas let calls in...
    assert [c.headers["x-ratelimit-remaining-requests"] for c in calls[:4]] == ["3", "2", "1", "0"]  # ...from one
    assert {fleet.replica_of(c) for c in calls[4:]} == set(fleet.replicas)  # and both refuse
    assert calls[4].json()["error"]["code"] == "rate_limit_exceeded" and "retry-after" in calls[4].headers

    spent, refused = chat(fleet, "spend", BUDGET), chat(fleet, "spend more", BUDGET)
    assert spent.status_code == 200 and fleet.replica_of(spent) != fleet.replica_of(refused)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "budget_exceeded"
    assert len(fake.requests) == 5  # refused calls never reach the provider
    usage = [httpx.get(r.url + "/admin/usage", headers={"x-api-key": ADMIN}).json()["keys"]
             for r in fleet.replicas.values()]
    assert usage[0] == usage[1] and usage[0]["limited"]["requests"] == 4 and usage[0]["budget"]["requests"] == 1


def test_a_stored_response_made_through_one_replica_is_continued_through_the_other(
    fleet: Fleet, fake: FakeOpenAI
) -> None:
    with sdk(fleet) as client:
        made = client.responses.with_raw_response.create(model="chat", input="My name is Ada.")
        went_on = client.responses.with_raw_response.create(model="chat", input="What is my name?",
                                                            previous_response_id=made.parse().id)
    assert fleet.replica_of(made) != fleet.replica_of(went_on)
    assert went_on.parse().previous_response_id == made.parse().id
    sent = fake.last.json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[0]["content"] == "My name is Ada." and sent[1]["content"] == made.parse().output_text


def test_a_redis_outage_is_answered_as_documented_and_the_fleet_shares_again_after_it(
    fleet: Fleet, fake: FakeOpenAI, redis_server: RedisServer
) -> None:
    with sdk(fleet) as client:
        stored = client.responses.create(model="chat", input="Remember me")
    assert [chat(fleet, "before", LIMITED).status_code for _ in range(4)] == [200] * 4
    assert chat(fleet, "cached before").headers["x-gateway-cache"] == "miss"

    redis_server.kill()
    # Every call is answered, on both replicas (round robin: each pair of calls covers both):
    cached = [chat(fleet, "cached before") for _ in range(2)]  # the cache: a miss, answered from upstream
    assert [(c.status_code, c.headers["x-gateway-cache"]) for c in cached] == [(200, "miss")] * 2
    # limits: "open", calls go in (the key's rpm is used up above: with Redis these would be 429s)
    limited = [chat(fleet, f"unlimited {i}", LIMITED) for i in range(4)]
    assert [c.status_code for c in limited] == [200] * 4
    with sdk(fleet) as client:
        answered = [client.responses.create(model="chat", input="Not kept") for _ in range(2)]  # answered
        assert all(r.output_text for r in answered)
        for _ in range(2):  # continuing needs the store: a clear 503 naming it
            with pytest.raises(openai.InternalServerError) as info:
                client.responses.create(model="chat", input="Go on", previous_response_id=stored.id)
            assert info.value.status_code == 503 and info.value.body["code"] == "responses_store_unavailable"  # type: ignore[index]
    for covered in (cached, limited):
        assert {fleet.replica_of(c) for c in covered} == set(fleet.replicas)

    for replica in fleet.replicas.values():  # seen: one log line per feature and outage, and in /metrics
        assert _told(replica.output(), "failed (") == ["cache", "limits", "responses"], replica.output()
        scrape = httpx.get(replica.url + "/metrics").text
        for feature in ("cache", "limits", "responses"):
            assert f"gateway_{feature}_errors_total{{" in scrape, feature
        status = httpx.get(replica.url + "/admin/status", headers={"x-api-key": ADMIN}).json()
        assert status["cache"]["up"] == 0 and status["cache"]["errors"] > 0

    redis_server.start()  # the same port, empty
    _eventually(lambda: _shared_again(fleet) and all(_stores_answer(r.url) for r in fleet.replicas.values()))
    with sdk(fleet) as client:
        made = client.responses.with_raw_response.create(model="chat", input="Back again")
        went_on = client.responses.with_raw_response.create(model="chat", input="Still there?",
                                                            previous_response_id=made.parse().id)
    assert fleet.replica_of(made) != fleet.replica_of(went_on) and went_on.status_code == 200
    limited = [chat(fleet, f"limited again {i}", LIMITED) for i in range(6)]
    assert [c.status_code for c in limited] == [200] * 4 + [429] * 2  # one rpm for both again
    for replica in fleet.replicas.values():
        assert _told(replica.output(), "is back;") == ["cache", "limits", "responses"], replica.output()


def _told(log: str, what: str) -> list[str]:
    """The features whose Redis lines in `log` say `what`, one entry per line (a feature twice: twice)."""
    lines = [line for line in log.splitlines() if "Redis at" in line and what in line]
    return sorted(f for line in lines for f in ("cache", "limits", "responses") if f"{f}: Redis at" in line)


def _stores_answer(url: str) -> bool:
    """The replica's limits and stored responses reach Redis again (usage: 200, not 503; an unknown id: 404)."""
    usage = httpx.get(url + "/admin/usage", headers={"x-api-key": ADMIN})
    missing = httpx.get(url + "/v1/responses/resp_missing", headers={"authorization": f"Bearer {KEY}"})
    return usage.status_code == 200 and missing.status_code == 404


def _shared_again(fleet: Fleet) -> bool:
    """An answer cached through one replica is a hit through the other (the cache is back in Redis)."""
    content = f"after the outage {time.monotonic_ns()}"
    first, second = chat(fleet, content), chat(fleet, content)
    assert first.status_code == second.status_code == 200
    return first.headers["x-gateway-cache"] == "miss" and second.headers["x-gateway-cache"] == "hit"


def _eventually(check: Callable[[], bool], what: str = "the fleet did not share through Redis again") -> None:
    """Recovery is by itself but not instant (each feature leaves Redis alone for redis_retry_s after a failure):
    poll, with a generous bound that only a broken recovery reaches."""
    deadline = time.monotonic() + 20
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
