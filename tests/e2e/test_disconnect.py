"""A client that leaves before the upstream has answered: the upstream request is cancelled at once, not when
the upstream's first byte (or its timeout) comes; no target is blamed and the gateway keeps serving.

Every test runs on both servers: the serving protocol of `gateway serve`, whose connection says when it is lost,
and plain uvicorn, where the watch waits for `http.disconnect` (watch.WatchClient)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.config import parse_config
from gateway.serving import GuardedHttpToolsProtocol
from tests.conftest import GatewayFactory, gateway_config
from tests.fakes.openai_compat import FakeOpenAI, Stall
from tests.fakes.otlp import FakeCollector, Span
from tests.support import RunningServer, run_server
from tests.telemetry.conftest import flush, telemetry_section

MESSAGES = [{"role": "user", "content": "Think about it for a long while."}]
STREAM = {"model": "gpt-test", "messages": MESSAGES, "stream": True}
PLAIN = {"model": "gpt-test", "messages": MESSAGES}
GIVE_UP_S = 0.3
STALL_S = 10.0  # longer than the provider's timeout_s (5): only the client leaving can end it sooner


@pytest.fixture(params=["gateway-protocol", "uvicorn"])
def start_gateway(request: pytest.FixtureRequest) -> Iterator[GatewayFactory]:
    """conftest's, on the server this test runs on (see above)."""
    http = GuardedHttpToolsProtocol if request.param == "gateway-protocol" else "auto"
    with ExitStack() as stack:

        def start(text: str) -> RunningServer:
            return stack.enter_context(run_server(create_app(parse_config(text)), http=http))

        yield start


def give_up(url: str, body: dict[str, Any]) -> float:
    """Send `body`, wait GIVE_UP_S for the answer to begin, then close the connection; when it was closed."""
    with httpx.Client(timeout=httpx.Timeout(5.0, read=GIVE_UP_S)) as client, pytest.raises(httpx.ReadTimeout):
        if body.get("stream"):
            with client.stream("POST", url + "/v1/chat/completions", json=body) as response:
                response.read()
        else:
            client.post(url + "/v1/chat/completions", json=body)
    return time.monotonic()  # the client (and its pool) is closed: so is the connection


def target_status(gateway: RunningServer) -> dict[str, Any]:
    status = httpx.get(gateway.url + "/admin/status").json()
    [target] = status["routes"]["gpt-test"]["targets"]
    return dict(target)


@pytest.mark.parametrize("body", [STREAM, PLAIN], ids=["stream", "non-stream"])
def test_leaving_before_the_first_byte_cancels_the_upstream_at_once(
    gateway: RunningServer, fake: FakeOpenAI, body: dict[str, Any]
) -> None:
    fake.enqueue(Stall(STALL_S))
    left = give_up(gateway.url, body)
    assert fake.wait_for_disconnects(1, timeout=1.0), "the upstream request outlived its client"
    assert time.monotonic() - left < 1.0
    target = target_status(gateway)
    assert target["in_flight"] == 0 and target["consecutive_failures"] == 0 and target["state"] == "healthy"


def test_the_gateway_keeps_serving_after_clients_left(gateway: RunningServer, fake: FakeOpenAI) -> None:
    fake.enqueue(Stall(STALL_S), Stall(STALL_S))
    give_up(gateway.url, STREAM)
    give_up(gateway.url, PLAIN)
    assert fake.wait_for_disconnects(2, timeout=1.5)
    answer = httpx.post(gateway.url + "/v1/chat/completions", json=PLAIN, timeout=5)
    assert answer.status_code == 200 and answer.headers["x-gateway-attempts"] == "1"
    assert answer.json()["choices"][0]["message"]["content"] == fake.reply
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", json=STREAM, timeout=5) as streamed:
        lines = [line for line in streamed.iter_lines() if line]
    assert streamed.status_code == 200 and lines[-1] == "data: [DONE]"
    assert target_status(gateway)["recent_error_rate"] == 0.0


def test_an_answer_that_comes_in_time_is_not_disturbed(gateway: RunningServer, fake: FakeOpenAI) -> None:
    """The watch ends with the wait: a slow but patient client gets its stream, and its disconnect watcher
    (EventStreamResponse's) still works afterwards."""
    fake.enqueue(Stall(0.2), Stall(0.2))
    answer = httpx.post(gateway.url + "/v1/chat/completions", json=PLAIN, timeout=5)
    assert answer.status_code == 200
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", json=STREAM, timeout=5) as streamed:
        assert streamed.status_code == 200
        assert [line for line in streamed.iter_lines() if line][-1] == "data: [DONE]"
    assert fake.disconnects == 0


# -- what telemetry records -------------------------------------------------------------------------------


@pytest.fixture
def collector() -> FakeCollector:
    return FakeCollector()


@pytest.fixture
def receiver(collector: FakeCollector) -> Iterator[RunningServer]:
    with run_server(collector.app) as server:
        yield server


@pytest.fixture
def traced(receiver: RunningServer, upstream: RunningServer, start_gateway: GatewayFactory) -> RunningServer:
    # (set up first, the receiver stops last: the gateway flushes to it on its way out)
    return start_gateway(gateway_config(upstream.url, extra=telemetry_section(receiver.url)))


def spans_of(server: RunningServer, collector: FakeCollector, ready: Callable[[list[Span]], bool]) -> list[Span]:
    deadline = time.monotonic() + 5
    while True:
        flush(server)
        found = collector.spans()
        if ready(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.mark.parametrize("body", [STREAM, PLAIN], ids=["stream", "non-stream"])
def test_the_attempt_is_recorded_as_cancelled_by_the_client(
    traced: RunningServer, collector: FakeCollector, fake: FakeOpenAI, body: dict[str, Any]
) -> None:
    fake.enqueue(Stall(STALL_S))
    give_up(traced.url, body)
    assert fake.wait_for_disconnects(1, timeout=1.0)
    spans = spans_of(traced, collector, lambda found: any(s.kind == "SERVER" for s in found))
    [client] = [s for s in spans if s.kind == "CLIENT"]
    assert client.status == "ERROR" and client.attributes["error.type"] == "client_disconnected"
    [server] = [s for s in spans if s.kind == "SERVER"]
    assert server.attributes["gateway.attempts"] == 1
    assert server.attributes["error.type"] == "client_disconnected" and server.status == "ERROR"


@pytest.mark.parametrize("body", [STREAM, PLAIN], ids=["stream", "non-stream"])
def test_on_a_cached_route_the_last_client_leaving_cancels_the_shared_call(
    start_gateway: GatewayFactory, upstream: RunningServer, fake: FakeOpenAI, body: dict[str, Any]
) -> None:
    gateway = start_gateway(gateway_config(upstream.url, extra='[cache]\nbackend = "memory"\n'))
    fake.enqueue(Stall(STALL_S))
    left = give_up(gateway.url, body)
    assert fake.wait_for_disconnects(1, timeout=1.5), "the shared upstream call outlived its only client"
    assert time.monotonic() - left < 1.5
    answer = httpx.post(gateway.url + "/v1/chat/completions", json=PLAIN, timeout=5)
    assert answer.status_code == 200 and answer.headers["x-gateway-cache"] == "miss"  # nothing half was stored


def test_a_client_that_hangs_up_mid_body_is_no_error(
    gateway: RunningServer, fake: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    import logging
    import socket

    with caplog.at_level(logging.INFO), socket.create_connection((gateway.host, gateway.port)) as raw:
        raw.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                    b"content-length: 100\r\n\r\n{\"model\"")
        time.sleep(0.2)
    time.sleep(0.3)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []  # nothing went wrong here
    assert fake.requests == []  # and nothing went upstream
    assert httpx.post(gateway.url + "/v1/chat/completions", json=PLAIN).status_code == 200
