"""The live page's observer and what its JSON says, from the request path's own Exchange and Attempts."""

from __future__ import annotations

import time
import tracemalloc

from gateway.events import Attempt, Exchange
from gateway.providers.base import Facts
from gateway.state import Usage
from gateway.telemetry.context import RequestState, extract
from gateway.ui import views
from gateway.ui.aggregates import Window
from gateway.ui.recorder import Recorder

T0 = 1_800_000_000.0


def attempt(number: int, target: str, outcome: str, *, route: str = "r", status: int | None = None,
            error: str | None = None, backoff: float = 0.0, at: float = 0.0, first: float | None = None,
            tokens: tuple[int, int] | None = None, cost: float | None = None) -> Attempt:
    provider, _, model = target.partition("/")
    made = Attempt(number, route, provider, "openai", model, started=at)
    made.backoff_s, made.first_chunk_at = backoff, first
    made.ended, made.outcome, made.status, made.error = at + 0.1, outcome, status, error
    if tokens is not None:
        made.facts = Facts(input_tokens=tokens[0], output_tokens=tokens[1])
    made.cost_usd = cost
    return made


def exchange(*attempts: Attempt, stream: bool = False, status: int = 200, error: str | None = None,
             cache: str | None = None, key: str | None = "team-a", route: str = "r",
             started: float | None = None) -> Exchange:
    started = time.monotonic() - 0.5 if started is None else started
    made = Exchange("req-1", "chat", route, stream, key_name=key, cache=cache, started=started)
    made.attempts = list(attempts)
    made.status, made.error = status, error
    used = [a.facts for a in attempts if a.facts is not None]
    made.usage = Usage(1, sum(f.input_tokens or 0 for f in used), sum(f.output_tokens or 0 for f in used),
                       sum(a.cost_usd or 0.0 for a in attempts))
    made.cost_usd = sum(a.cost_usd or 0.0 for a in attempts) if any(a.cost_usd for a in attempts) else None
    return made


def recorder(recent: int = 3) -> Recorder:
    return Recorder(Window(60, 5, 8), recent, clock=lambda: T0 + 1)


def test_a_failover_is_one_row_with_its_attempts_in_the_ring_and_the_figures() -> None:
    found = recorder()
    found.request_finished(exchange(attempt(1, "dead/m", "error", error="connect_error"),
                                    attempt(2, "fake/m", "ok", status=200, tokens=(3, 4), cost=0.25)))
    [entry] = found.recent
    row = views.request_row(entry)
    assert (row["key"], row["route"], row["target"], row["status"], row["attempts"]) == ("team-a", "r", "fake/m", 200,
                                                                                         2)
    assert (row["input_tokens"], row["output_tokens"], row["cost_usd"]) == (3, 4, 0.25)
    assert row["latency_ms"] >= 500 and row["trace_id"] is None
    figures = found.window.summary(T0 + 1, 60)
    assert figures["all"]["requests"] == 1 and figures["all"]["error_rate"] == 0.0  # the client got its answer
    assert figures["target:dead/m"]["error_rate"] == 1.0 and figures["target:fake/m"]["error_rate"] == 0.0
    assert found.last_errors["dead/m"].error == "connect_error" and "fake/m" not in found.last_errors


def test_the_ring_keeps_the_last_requests_only() -> None:
    found = recorder(recent=3)
    for _ in range(5):
        found.request_finished(exchange(attempt(1, "fake/m", "ok", status=200)))
    assert [e.seq for e in found.recent] == [3, 4, 5] and found.seq == 5


def test_the_timeline_says_why_each_attempt_was_made() -> None:
    entry_of = recorder()
    entry_of.request_finished(exchange(
        attempt(1, "a/m", "error", status=503, error="503", at=0.0),
        attempt(2, "b/m", "error", error="timeout", at=0.2),
        attempt(3, "a/m", "error", status=429, error="429", backoff=0.4, at=0.8),
        attempt(4, "c/m", "ok", status=200, route="fallback", at=1.0),
    ))
    steps = views.timeline(entry_of.recent[-1])
    assert [s["why"] for s in steps] == [
        "first attempt",
        "failover from a/m after 503",
        "retry of a/m (it failed earlier with 503), after waiting 0.40 s",
        "fallback to route fallback after 429 from a/m",
    ]
    assert steps[2]["backoff_ms"] == 400.0 and steps[0]["outcome"] == "error" and steps[3]["outcome"] == "ok"


def test_a_stream_resumed_elsewhere_is_named_and_its_ttft_is_the_first_content() -> None:
    found = recorder()
    started = time.monotonic() - 1.0
    cut = attempt(1, "a/m", "error", error="stream_cut", at=started, first=started + 0.05)
    resumed = attempt(2, "b/m", "ok", status=200, at=started + 0.3, first=started + 0.4, tokens=(5, 9))
    found.request_finished(exchange(cut, resumed, stream=True, started=started))
    entry = found.recent[-1]
    steps = views.timeline(entry)
    assert steps[1]["why"] == "stream resumed: the answer from a/m was cut mid-way (stream_cut)"
    assert steps[0]["ttft_ms"] == 50.0
    row = views.request_row(entry)
    assert row["ttft_ms"] == 50.0 and row["latency_ms"] >= 1000  # the client's first content: attempt 1's
    assert found.window.summary(T0 + 1, 60)["route:r"]["ttft_p50_ms"] is not None


def test_a_route_whose_targets_were_all_cooling_starts_on_its_fallback() -> None:
    found = recorder()
    found.request_finished(exchange(attempt(1, "c/m", "ok", status=200, route="fallback")))
    assert views.timeline(found.recent[-1])[0]["why"] == (
        "fallback to route fallback: every target of r was cooling down")


def traced(traceparent: bytes) -> RequestState:
    """The state the telemetry middleware makes for a request that continues `traceparent`."""
    from opentelemetry.sdk.trace import TracerProvider

    context = extract([(b"traceparent", traceparent)])
    span = TracerProvider(shutdown_on_exit=False).get_tracer("test").start_span("POST", context)
    found = span.get_span_context()
    return RequestState(span, context, context, found.trace_id, found.span_id, found.trace_flags.sampled, True)


def test_a_traced_request_carries_its_trace_id_and_a_link() -> None:
    made = exchange(attempt(1, "fake/m", "ok", status=200))
    made.handle = traced(b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")  # what telemetry leaves
    found = recorder()
    found.request_finished(made)
    detail = views.detail(found.recent[-1], "http://jaeger:16686/trace/{trace_id}")
    assert detail["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert detail["trace_url"] == "http://jaeger:16686/trace/0af7651916cd43dd8448eb211c80319c"
    made.handle = traced(b"00-0af7651916cd43dd8448eb211c80319d-b7ad6b7169203331-00")  # not sampled: not exported
    found.request_finished(made)
    assert found.recent[-1].trace_id is None


def test_refusals_count_by_reason_and_a_hook_that_fails_never_raises() -> None:
    found = recorder()
    found.request_refused("rpm", "team-a", "r")
    found.request_refused("rpm", "team-a", "r")
    found.request_refused("invalid_api_key", None, None)
    assert found.refused == {"rpm": 2, "invalid_api_key": 1}
    broken = exchange()
    broken.attempts = [object()]  # type: ignore[list-item]
    found.request_finished(broken)  # logged once, swallowed: the page never breaks a request
    assert found.seq == 0


def test_the_ring_at_its_default_size_takes_well_under_a_megabyte() -> None:
    found = Recorder(Window(900, 5, 32), 300)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(600):  # twice round the ring: what stays is 300 requests of two attempts each
            made = exchange(attempt(1, "dead/m", "error", error="connect_error"),
                            attempt(2, "fake/m", "ok", status=200, tokens=(10, 20), cost=0.001))
            made.request_id = f"{i:032x}"
            found.request_finished(made)
        del made
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(found.recent) == 300 and used < 1_000_000, used
