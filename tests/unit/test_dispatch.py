"""The attempt loop over fake upstreams at the network boundary (httpx.MockTransport), on a fake clock.

Sleeps are recorded instead of slept, so backoff, Retry-After and deadlines are checked without waiting.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from gateway.config import parse_config
from gateway.dispatch import Control, Dispatcher
from gateway.errors import InvalidRequestError, UpstreamError, UpstreamStatusError
from gateway.events import Attempt, Exchange, Observer
from gateway.providers.base import Call, build_provider
from gateway.routing.health import CooldownPolicy, FakeClock, Health
from gateway.routing.table import RouteTable

DEFAULT = Control()
CALL = Call("chat", {"model": "chat", "messages": [{"role": "user", "content": "hi"}]})


@dataclass
class Answer:
    status: int = 200
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    takes_s: float = 0.0  # moves the fake clock: how long the upstream took
    hang: bool = False  # never answers (until cancelled)


class Upstream:
    """A scripted upstream behind httpx.MockTransport: answers in order, then 200s; records what it got."""

    def __init__(self, name: str, clock: FakeClock) -> None:
        self.name, self.clock = name, clock
        self.script: list[Answer] = []
        self.always: Answer | None = None
        self.models: list[str] = []
        self.during: Callable[[], None] | None = None  # called as a request is answered, and as it ends
        self.active = 0  # requests being answered right now

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.active += 1
        try:
            return await self._answer(request)
        finally:
            if self.during is not None:
                self.during()
            self.active -= 1

    async def _answer(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.models.append(body["model"])
        answer = self.script.pop(0) if self.script else self.always or Answer()
        if self.during is not None:
            self.during()
        await asyncio.sleep(0)  # let concurrent requests interleave
        if answer.hang:
            await asyncio.sleep(3600)
        self.clock.now += answer.takes_s
        if answer.status != 200:
            error = answer.body or {"error": {"message": f"{self.name} says {answer.status}", "type": "x"}}
            return httpx.Response(answer.status, json=error, headers=answer.headers)
        message = {"role": "assistant", "content": f"from {self.name}"}
        return httpx.Response(200, json={
            "id": f"chatcmpl-{self.name}", "object": "chat.completion", "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
        })

    @property
    def calls(self) -> int:
        return len(self.models)


class Recorder(Observer):
    def __init__(self) -> None:
        self.finished: list[Attempt] = []
        self.cooldowns: list[tuple[str, str, float]] = []

    def attempt_finished(self, exchange: Exchange, attempt: Attempt) -> None:
        self.finished.append(attempt)

    def target_cooldown(self, route: str, target: str, seconds: float) -> None:
        self.cooldowns.append((route, target, seconds))


@dataclass
class Rig:
    dispatcher: Dispatcher
    health: Health
    table: RouteTable
    clock: FakeClock
    upstreams: dict[str, Upstream]
    observer: Recorder
    sleeps: list[float]

    async def complete(self, model: str = "chat", control: Control = DEFAULT) -> tuple[Exchange, str]:
        route = self.table.get(model)
        assert route is not None
        exchange = Exchange("req-1", "chat")
        outcome = await self.dispatcher.complete(exchange, route, CALL, control)
        return exchange, json.loads(outcome.result.body)["model"]

    async def fails(self, model: str = "chat", control: Control = DEFAULT) -> tuple[Exchange, UpstreamError]:
        exchange = Exchange("req-1", "chat")
        route = self.table.get(model)
        assert route is not None
        with pytest.raises(UpstreamError) as raised:
            await self.dispatcher.complete(exchange, route, CALL, control)
        return exchange, raised.value


def config_text(routes: str, **routing: float) -> str:
    settings = {"backoff_base_s": 0.5, "backoff_max_s": 4, "cooldown_s": 10, "failure_threshold": 3, **routing}
    lines = "\n".join(f"{k} = {v}" for k, v in settings.items())
    providers = "\n".join(f'[[providers]]\nname = "{n}"\ntype = "openai"\nbase_url = "http://{n}.test/v1"'
                          for n in ("a", "b", "c", "d"))
    return f"[routing]\n{lines}\n{providers}\n{routes}"


def route(model: str, *targets: str, strategy: str = "round_robin", **keys: Any) -> str:
    """`targets` as "provider/model" or "provider/model*weight"; the first listed is picked first (round robin)."""
    text = f'[[routes]]\nmodel = "{model}"\nstrategy = "{strategy}"\n'
    text += "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items())
    for i, spec in enumerate(targets):
        key, _, weight = spec.partition("*")
        provider, _, upstream_model = key.partition("/")
        text += f'[[routes.targets]]\nprovider = "{provider}"\nmodel = "{upstream_model}"\n'
        text += f"weight = {weight or len(targets) - i + 1}\n"  # decreasing: a deterministic first pick
    return text


@pytest.fixture
async def rig_factory() -> AsyncIterator[Callable[[str], Rig]]:
    providers: list[Any] = []

    def build(text: str) -> Rig:
        config = parse_config(text)
        clock = FakeClock(1000.0)
        routing = config.routing
        health = Health(CooldownPolicy(routing.failure_threshold, routing.cooldown_s, routing.cooldown_max_s,
                                       routing.latency_decay), clock)
        upstreams = {p.name: Upstream(p.name, clock) for p in config.providers}
        built = {p.name: build_provider(p, httpx.MockTransport(upstreams[p.name].handle)) for p in config.providers}
        providers.extend(built.values())
        sleeps: list[float] = []

        async def sleep(seconds: float) -> None:
            sleeps.append(seconds)
            clock.now += seconds

        observer = Recorder()
        dispatcher = Dispatcher(RouteTable(config), built, observer, health, routing, rng=random.Random(4),
                                sleep=sleep, clock=clock)
        return Rig(dispatcher, health, dispatcher.table, clock, upstreams, observer, sleeps)

    yield build
    for provider in providers:
        await provider.aclose()


def summary(exchange: Exchange) -> list[tuple[str, str, int | None, str | None]]:
    return [(a.target, a.outcome, a.status, a.error) for a in exchange.attempts]


# -- failover and what is recorded --------------------------------------------------------------------


async def test_every_attempt_is_recorded(rig_factory: Callable[[str], Rig]) -> None:
    rig = rig_factory(config_text(route("chat", "a/ma", "b/mb")))
    rig.upstreams["a"].script = [Answer(503, takes_s=0.1)]
    exchange, model = await rig.complete()
    assert model == "mb"
    assert summary(exchange) == [("a/ma", "error", 503, "503"), ("b/mb", "ok", 200, None)]
    assert rig.observer.finished == exchange.attempts
    first, second = exchange.attempts
    assert (first.number, first.route, first.provider, first.provider_type) == (1, "chat", "a", "openai")
    assert (first.server_address, first.server_port) == ("a.test", 80)
    assert first.ended is not None and second.ended is not None and first.started <= first.ended <= second.started
    assert first.backoff_s == second.backoff_s == 0.0
    assert rig.sleeps == []  # between equivalent targets the request moves on at once


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
async def test_retryable_statuses_fail_over(rig_factory: Callable[[str], Rig], status: int) -> None:
    rig = rig_factory(config_text(route("chat", "a/ma", "b/mb")))
    rig.upstreams["a"].script = [Answer(status)]
    exchange, model = await rig.complete()
    assert model == "mb" and len(exchange.attempts) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_other_4xx_go_back_as_they_are(rig_factory: Callable[[str], Rig], status: int) -> None:
    rig = rig_factory(config_text(route("chat", "a/ma", "b/mb", fallbacks=["other"]) + route("other", "c/mc")))
    rig.upstreams["a"].script = [Answer(status)]
    exchange, error = await rig.fails()
    assert isinstance(error, UpstreamStatusError) and error.status == status
    assert error.message == f"a says {status}"
    assert len(exchange.attempts) == 1 and rig.upstreams["b"].calls == rig.upstreams["c"].calls == 0


async def test_the_exhausted_error_says_what_was_tried(rig_factory: Callable[[str], Rig]) -> None:
    rig = rig_factory(config_text(route("chat", "a/ma", "b/mb", retries_per_target=0)))
    rig.upstreams["a"].script = [Answer(500)]
    rig.upstreams["b"].script = [Answer(503)]
    exchange, error = await rig.fails()
    assert isinstance(error, UpstreamStatusError) and error.status == 503
    assert error.message.startswith("b says 503")
    assert "tried 2 attempts" in error.message and "a/ma (500)" in error.message and "b/mb (503)" in error.message


async def test_attempts_are_bounded(rig_factory: Callable[[str], Rig]) -> None:
    rig = rig_factory(config_text(route("chat", "a/m", "b/m", "c/m", max_attempts=2)))
    for upstream in rig.upstreams.values():
        upstream.always = Answer(500)
    exchange, _ = await rig.fails()
    assert len(exchange.attempts) == 2
    assert sum(u.calls for u in rig.upstreams.values()) == 2


async def test_retries_per_target_are_bounded(rig_factory: Callable[[str], Rig]) -> None:
    rig = rig_factory(config_text(route("chat", "a/m", "b/m", retries_per_target=3, max_attempts=20),
                                  failure_threshold=10))  # never cooling: a cooling target is not retried
    for upstream in rig.upstreams.values():
        upstream.always = Answer(500)
    exchange, _ = await rig.fails()
    assert rig.upstreams["a"].calls == rig.upstreams["b"].calls == 4  # once, then 3 retries each
    assert len(exchange.attempts) == 8


# -- backoff and Retry-After ----------------------------------------------------------------------------


async def test_backoff_is_exponential_with_full_jitter(rig_factory: Callable[[str], Rig]) -> None:
    rig = rig_factory(config_text(route("chat", "a/m", retries_per_target=3), backoff_base_s=0.5, backoff_max_s=1.5,
                                  failure_threshold=10))
    rig.upstreams["a"].script = [Answer(500)] * 3
    exchange, _ = await rig.complete()
    assert len(exchange.attempts) == 4
    caps = [0.5, 1.0, 1.5]  # base * 2^round, capped at backoff_max_s
    assert len(rig.sleeps) == 3 and all(0 <= s <= cap for s, cap in zip(rig.sleeps, caps, strict=True))
    assert [a.backoff_s for a in exchange.attempts] == [0.0, *rig.sleeps]


async def test_jitter_spreads_the_backoff(rig_factory: Callable[[str], Rig]) -> None:
    rig = rig_factory(config_text(route("chat", "a/m"), backoff_base_s=1.0))
    for _ in range(200):
        rig.upstreams["a"].script = [Answer(500)]
        await rig.complete()
        rig.health.succeeded("a/m", None)  # keep it out of cooldown
    assert len(rig.sleeps) == 200 and all(0 <= s <= 1.0 for s in rig.sleeps)
    assert 0.4 <= sum(rig.sleeps) / 200 <= 0.6  # uniform on [0, 1]: mean 0.5
    assert min(rig.sleeps) < 0.1 and max(rig.sleeps) > 0.9


async def test_retry_after_seconds_is_honoured(rig_factory: Callable[[str], Rig]) -> None:
    rig = rig_factory(config_text(route("chat", "a/m")))
    rig.upstreams["a"].script = [Answer(503, headers={"retry-after": "2"})]
    exchange, _ = await rig.complete()
    assert rig.sleeps == [2.0]
    assert exchange.attempts[1].backoff_s == 2.0


async def test_retry_after_http_date_is_honoured(rig_factory: Callable[[str], Rig]) -> None:
    rig = rig_factory(config_text(route("chat", "a/m")))
    when = email.utils.formatdate(time.time() + 3, usegmt=True)  # whole seconds: 2 to 3 s from now
    rig.upstreams["a"].script = [Answer(429, headers={"retry-after": when})]
    await rig.complete()
    [slept] = rig.sleeps
    assert 1.5 < slept <= 3.0


async def test_retry_after_ms_is_honoured(rig_factory: Callable[[str], Rig]) -> None:
    rig = rig_factory(config_text(route("chat", "a/m")))
    rig.upstreams["a"].script = [Answer(429, headers={"retry-after-ms": "250"})]
    await rig.complete()
    assert rig.sleeps == [0.25]


@pytest.mark.parametrize("retry_after", ["30", "Fri, 31 Dec 2100 23:59:59 GMT"])
async def test_a_long_retry_after_skips_the_retry_for_the_fallback(rig_factory: Callable[[str], Rig],
                                                                   retry_after: str) -> None:
    text = config_text(route("chat", "a/ma", fallbacks=["other"]) + route("other", "b/mb"), retry_after_max_s=5)
    rig = rig_factory(text)
    rig.upstreams["a"].script = [Answer(429, headers={"retry-after": retry_after})]
    exchange, model = await rig.complete()
    assert model == "mb" and rig.sleeps == []
    assert summary(exchange) == [("a/ma", "error", 429, "429"), ("b/mb", "ok", 200, None)]


async def test_a_short_retry_after_is_honoured_before_leaving_for_the_fallback(
    rig_factory: Callable[[str], Rig],
) -> None:
    rig = rig_factory(config_text(route("chat", "a/ma", fallbacks=["other"]) + route("other", "b/mb")))
    rig.upstreams["a"].script = [Answer(429, headers={"retry-after": "1"})]
    exchange, model = await rig.complete()
    assert model == "ma" and rig.sleeps == [1.0] and rig.upstreams["b"].calls == 0


async def test_the_deadline_bounds_the_whole_request(rig_factory: Callable[[str], Rig]) -> None:
    rig = rig_factory(config_text(route("chat", "a/m", "b/m", "c/m", "d/m", deadline_s=12)))
    for upstream in rig.upstreams.values():
        upstream.always = Answer(500, takes_s=5)
    exchange, _ = await rig.fails()
    assert len(exchange.attempts) == 3  # started at 0, 5 and 10 s; none at 15 s


async def test_the_per_request_timeout_lowers_the_deadline(rig_factory: Callable[[str], Rig]) -> None:
    rig = rig_factory(config_text(route("chat", "a/m", "b/m", "c/m", "d/m")))
    for upstream in rig.upstreams.values():
        upstream.always = Answer(500, takes_s=5)
    exchange, _ = await rig.fails(control=Control(timeout_s=7))
    assert len(exchange.attempts) == 2


async def test_a_target_that_timed_out_is_not_tried_again(rig_factory: Callable[[str], Rig]) -> None:
    rig = rig_factory(config_text(route("chat", "a/m", "b/m", attempt_timeout_s=0.05, max_attempts=10)))
    rig.upstreams["a"].script = [Answer(hang=True)]
    rig.upstreams["b"].always = Answer(500)
    exchange, error = await rig.fails()
    assert [a.target for a in exchange.attempts] == ["a/m", "b/m", "b/m"]
    assert exchange.attempts[0].error == "timeout"
    assert "a/m (timeout)" in error.message


# -- fallbacks --------------------------------------------------------------------------------------------


async def test_fallback_routes_in_order_with_their_own_model(rig_factory: Callable[[str], Rig]) -> None:
    routes = route("chat", "a/ma", fallbacks=["second", "third"], retries_per_target=0)
    rig = rig_factory(config_text(routes + route("second", "b/mb") + route("third", "c/mc")))
    rig.upstreams["a"].always = Answer(503)
    rig.upstreams["b"].always = Answer(500)
    exchange, model = await rig.complete()
    assert model == "mc" and rig.upstreams["c"].models == ["mc"]
    assert [a.route for a in exchange.attempts] == ["chat", "second", "second", "third"]


async def test_context_window_goes_to_its_fallback_never_retried(rig_factory: Callable[[str], Rig]) -> None:
    routes = route("chat", "a/ma", "b/mb", fallbacks=["other"], context_window_fallbacks=["large"])
    rig = rig_factory(config_text(routes + route("other", "c/mc") + route("large", "d/md")))
    too_long = {"error": {"message": "This model's maximum context length is 8192 tokens.",
                          "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}
    rig.upstreams["a"].always = Answer(400, too_long)
    exchange, model = await rig.complete()
    assert model == "md"
    assert [a.target for a in exchange.attempts] == ["a/ma", "d/md"]  # not b: the same model family's window
    assert rig.upstreams["a"].calls == 1


async def test_context_window_without_its_fallback_goes_back_to_the_client(rig_factory: Callable[[str], Rig]) -> None:
    rig = rig_factory(config_text(route("chat", "a/ma", fallbacks=["other"]) + route("other", "c/mc")))
    too_long = {"error": {"message": "too long", "type": "invalid_request_error", "code": "context_length_exceeded"}}
    rig.upstreams["a"].always = Answer(400, too_long)
    exchange, error = await rig.fails()
    assert isinstance(error, UpstreamStatusError) and (error.status, error.code) == (400, "context_length_exceeded")
    assert rig.upstreams["a"].calls == 1 and rig.upstreams["c"].calls == 0


async def test_content_policy_reaches_the_client_never_retried(rig_factory: Callable[[str], Rig]) -> None:
    routes = route("chat", "a/ma", "b/mb", fallbacks=["other"], context_window_fallbacks=["other"])
    rig = rig_factory(config_text(routes + route("other", "c/mc")))
    refusal = {"error": {"message": "Your request was rejected as a result of our safety system.",
                         "type": "invalid_request_error", "code": "content_policy_violation"}}
    rig.upstreams["a"].always = Answer(400, refusal)
    exchange, error = await rig.fails()
    assert isinstance(error, UpstreamStatusError) and error.reason == "content_policy"
    assert error.message == "Your request was rejected as a result of our safety system."
    assert len(exchange.attempts) == 1 and rig.upstreams["b"].calls == rig.upstreams["c"].calls == 0


# -- per-request control ----------------------------------------------------------------------------------


async def test_a_pinned_target_only(rig_factory: Callable[[str], Rig]) -> None:
    rig = rig_factory(config_text(route("chat", "a/ma", "b/mb", fallbacks=["other"]) + route("other", "c/mc")))
    for pin in ("b", "b/mb"):
        _, model = await rig.complete(control=Control(pin=pin))
        assert model == "mb"
    rig.upstreams["b"].always = Answer(500)
    exchange, _ = await rig.fails(control=Control(pin="b"))
    assert {a.target for a in exchange.attempts} == {"b/mb"}  # neither the other target nor the fallback
    with pytest.raises(InvalidRequestError, match='"a/nope" is not a target of model "chat"'):
        await rig.complete(control=Control(pin="a/nope"))


async def test_fallbacks_off(rig_factory: Callable[[str], Rig]) -> None:
    rig = rig_factory(config_text(route("chat", "a/ma", fallbacks=["other"]) + route("other", "c/mc")))
    rig.upstreams["a"].always = Answer(503)
    exchange, error = await rig.fails(control=Control(fallbacks=False))
    assert isinstance(error, UpstreamStatusError) and error.status == 503
    assert rig.upstreams["c"].calls == 0


# -- health ------------------------------------------------------------------------------------------------


async def test_a_429_with_retry_after_cools_the_target_at_once(rig_factory: Callable[[str], Rig]) -> None:
    rig = rig_factory(config_text(route("chat", "a/ma", "b/mb"), cooldown_s=10))
    rig.upstreams["a"].script = [Answer(429, headers={"retry-after": "20"})]
    await rig.complete()
    assert rig.observer.cooldowns == [("chat", "a/ma", 20.0)]
    assert not rig.health.usable("a/ma")
    for _ in range(5):
        _, model = await rig.complete()
        assert model == "mb"
    assert rig.upstreams["a"].calls == 1


async def test_threshold_failures_cool_the_target_then_a_probe_restores_it(rig_factory: Callable[[str], Rig]) -> None:
    rig = rig_factory(config_text(route("chat", "a/ma*10", "b/mb*1", retries_per_target=0), failure_threshold=2,
                                  cooldown_s=10))
    rig.upstreams["a"].script = [Answer(500), Answer(500)]
    for _ in range(2):
        _, model = await rig.complete()  # a first (round robin, weight 10), then b
        assert model == "mb"
    assert rig.observer.cooldowns == [("chat", "a/ma", 10.0)]
    for _ in range(4):
        await rig.complete()
    assert rig.upstreams["a"].calls == 2  # skipped while cooling
    rig.clock.now += 10
    models = [(await rig.complete())[1] for _ in range(6)]
    assert "ma" in models and rig.health.snapshot("a/ma")["state"] == "healthy"


async def test_a_probe_answered_with_a_client_error_frees_the_probe_slot(rig_factory: Callable[[str], Rig]) -> None:
    rig = rig_factory(config_text(route("chat", "a/ma", "b/mb"), cooldown_s=10))
    rig.health.failed("a/ma", retry_after=10)
    rig.clock.now += 10
    rig.upstreams["a"].script = [Answer(400)]
    await rig.fails(control=Control(pin="a"))  # the probe: a 400 says nothing about the target's health
    assert rig.health.usable("a/ma"), "the target must not stay half-open with a probe that has ended"
    _, model = await rig.complete(control=Control(pin="a"))
    assert model == "ma" and rig.health.snapshot("a/ma")["state"] == "healthy"


async def test_a_cooling_route_is_skipped_for_a_usable_fallback(rig_factory: Callable[[str], Rig]) -> None:
    rig = rig_factory(config_text(route("chat", "a/ma", fallbacks=["other"]) + route("other", "b/mb")))
    rig.health.failed("a/ma", retry_after=10)
    exchange, model = await rig.complete()
    assert model == "mb" and rig.upstreams["a"].calls == 0 and len(exchange.attempts) == 1
    # with no usable target anywhere, the one that recovers soonest still gets the request
    rig.health.failed("b/mb", retry_after=20)
    _, model = await rig.complete()
    assert model == "ma"
    # and without fallbacks, the route's own cooling target
    rig.health.failed("a/ma", retry_after=30)
    _, model = await rig.complete(control=Control(fallbacks=False))
    assert model == "ma"


async def test_latency_is_measured_on_the_dispatcher_clock(rig_factory: Callable[[str], Rig]) -> None:
    rig = rig_factory(config_text(route("chat", "a/ma"), latency_decay=1.0))
    rig.upstreams["a"].script = [Answer(takes_s=0.25)]
    await rig.complete()
    assert rig.health.get("a/ma").latency_s == pytest.approx(0.25)


async def test_in_flight_is_counted_during_the_call_and_released_after(rig_factory: Callable[[str], Rig]) -> None:
    rig = rig_factory(config_text(route("chat", "a/ma")))
    seen: list[int] = []
    rig.upstreams["a"].during = lambda: seen.append(rig.health.get("a/ma").in_flight)
    rig.upstreams["a"].script = [Answer(500), Answer(400)]
    results = await asyncio.gather(*(rig.complete() for _ in range(5)), return_exceptions=True)
    assert len([r for r in results if isinstance(r, UpstreamError)]) == 1  # the 400
    assert max(seen) >= 2 and rig.health.get("a/ma").in_flight == 0


async def test_in_flight_stays_exact_under_concurrency_failures_and_cancellation(
    rig_factory: Callable[[str], Rig],
) -> None:
    routes = route("chat", "a/m*1", "b/m*1", "c/m*1", strategy="least_busy", attempt_timeout_s=0.1)
    rig = rig_factory(config_text(routes, failure_threshold=1000))
    undercounts: list[str] = []
    for name, upstream in rig.upstreams.items():

        def check(name: str = name, upstream: Upstream = upstream) -> None:
            # a target's in-flight count covers at least the requests it is answering (an extra `end` would not)
            if rig.health.get(f"{name}/m").in_flight < upstream.active:
                undercounts.append(name)

        upstream.during = check
    rig.upstreams["a"].always = Answer(500)
    rig.upstreams["b"].script = [Answer(hang=True)] * 20 + [Answer(503)] * 20
    tasks = [asyncio.create_task(rig.complete()) for _ in range(100)]
    await asyncio.sleep(0.02)
    for task in tasks[::7]:
        task.cancel()  # clients that leave while their attempt is under way
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert undercounts == []
    assert all(isinstance(r, tuple | asyncio.CancelledError) for r in results), results
    assert sum(isinstance(r, tuple) for r in results) >= 80
    assert {k: rig.health.get(f"{k}/m").in_flight for k in "abc"} == {"a": 0, "b": 0, "c": 0}
    assert not any(rig.health.get(f"{k}/m").probing for k in "abc")
