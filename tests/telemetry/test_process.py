"""The telemetry process (gateway/telemetry/link.py, process.py): requests never wait for it, it comes back
when it dies, it goes away with the gateway, what it cannot take is dropped and counted, and the record
format survives the trip."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gateway.config import parse_config
from gateway.events import Attempt, Exchange
from gateway.providers.base import Facts
from gateway.telemetry import start_telemetry
from gateway.telemetry.link import TelemetryLink
from gateway.telemetry.records import RequestRecord, Start, exchange_record
from tests.conftest import gateway_config
from tests.fakes.otlp import FakeCollector
from tests.support import RunningServer, free_port
from tests.telemetry.conftest import TelemetryGatewayFactory, flush, telemetry_of, telemetry_section

BODY = {"model": "gpt-test", "messages": [{"role": "user", "content": "Say hello"}]}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"  # a zombie has exited


def wait_until(condition: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.05)
    return False


def test_spans_go_through_fastotel_by_default_and_the_sdk_on_request(
    start_traced: TelemetryGatewayFactory, collector: FakeCollector
) -> None:
    for exporter in ("fastotel", "sdk"):
        gateway = start_traced(telemetry=f'span_exporter = "{exporter}"')
        assert httpx.post(gateway.url + "/v1/chat/completions", json=BODY).status_code == 200
        flush(gateway)
    agents = [headers["user-agent"] for headers, body in zip(collector.headers, collector.raw, strict=True)
              if b"gen_ai.operation.name" in body and b"http.request.method" in body]
    assert any(agent.startswith("fastotel/") for agent in agents), agents
    assert any(agent.startswith("OTel-OTLP-Exporter-Python") for agent in agents), agents
    assert len(collector.spans("SERVER")) == 2 and len(collector.spans("CLIENT")) == 2


def test_requests_do_not_notice_the_telemetry_process_dying_and_it_comes_back(
    traced: RunningServer, collector: FakeCollector, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.telemetry")
    link = telemetry_of(traced).link
    first = link.pid
    assert first is not None and alive(first)
    os.kill(first, signal.SIGKILL)
    with httpx.Client(base_url=traced.url) as http:
        statuses = [http.post("/v1/chat/completions", json=BODY).status_code for _ in range(10)]
    assert statuses == [200] * 10
    assert wait_until(lambda: any("telemetry process exited" in r.getMessage() for r in caplog.records))
    # After the pause it is started again, on the next batch, and what comes next is exported.
    assert wait_until(lambda: httpx.post(traced.url + "/v1/chat/completions", json=BODY).status_code == 200
                      and link.pid != first and link.running)
    flush(traced)
    collector.reset()
    assert httpx.post(traced.url + "/v1/chat/completions", json=BODY).status_code == 200
    flush(traced)
    assert len(collector.spans("SERVER")) == 1


def test_a_stuck_telemetry_process_costs_nothing_and_what_it_misses_is_counted(
    collector_server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.telemetry")
    config = parse_config(telemetry_section(collector_server.url) + '[[providers]]\nname = "m"\ntype = "mock"\n'
                          '[[routes]]\nmodel = "x"\n  [[routes.targets]]\n  provider = "m"\n  model = "x"\n')
    link = TelemetryLink(Start(config.telemetry.model_dump(), "test", (), False), max_pending=100)
    try:
        assert link.pid is not None
        os.kill(link.pid, signal.SIGSTOP)  # it reads nothing more: the socket fills, then the queue
        record = (0.0, 0.001, None, None, exchange_record(Exchange("r", "chat", route="x"), None, None, False, False),
                  None)
        started = time.monotonic()
        for _ in range(20_000):
            link.submit(record)
        assert time.monotonic() - started < 2  # never a wait on the request path
        assert wait_until(lambda: link.dropped > 0)
        warnings = [r for r in caplog.records if "records behind" in r.getMessage()]
        assert len(warnings) == 1  # once per episode, not per record
        os.kill(link.pid, signal.SIGCONT)
        assert link.call("flush", 10) is True  # it catches up, in order, then answers
    finally:
        if link.pid is not None:
            os.kill(link.pid, signal.SIGCONT)
        link.close(5)


def test_the_telemetry_process_ends_with_the_gateway(
    start_traced: TelemetryGatewayFactory, upstream: RunningServer, collector_server: RunningServer,
    tmp_path: Path,
) -> None:
    # Shut down in order: the last data is flushed and the process is gone.
    gateway = start_traced()
    pid = telemetry_of(gateway).link.pid
    assert pid is not None and alive(pid)
    gateway.server.should_exit = True
    assert wait_until(lambda: not alive(pid))
    # Killed outright: the telemetry process sees its socket close, flushes and exits; no orphan is left.
    port = free_port()
    config = tmp_path / "gateway.toml"
    config.write_text(gateway_config(upstream.url, extra=telemetry_section(collector_server.url)))
    server = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--config", str(config), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), timeout=20)
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        assert len(children) == 1, children
        child = int(children[0])
        server.kill()
        server.wait()
        assert wait_until(lambda: not alive(child))
    finally:
        if server.poll() is None:
            server.kill()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_request_record_survives_the_trip() -> None:
    """The serving side writes plain tuples in the NamedTuples' field order; the other side reads them back."""
    exchange = Exchange("req-1", "chat", route="gpt", stream=True, key_name="team-a", cache="miss",
                        body={"model": "gpt", "temperature": 0.5, "messages": [{"role": "user", "content": "hi"}],
                              "response_format": {"type": "json_schema", "json_schema": {"big": "schema"}}},
                        status=200)
    attempt = Attempt(1, "gpt", "openai-main", "openai", "gpt-4o", "api.example", 443, started=1.0,
                      first_chunk_at=1.2, facts=Facts("chatcmpl-1", "gpt-4o-2024", ["stop"], 9, 12))
    attempt.handle = 0xABC
    attempt.finish("ok", status=200)
    attempt.cost_usd = exchange.cost_usd = 0.00025
    exchange.attempts.append(attempt)
    wire = (1.0, 2.0, (1, 2, 3, True, True, "v=1"),
            ("POST", "/v1/chat/completions", "/v1/chat/completions", "http", "127.0.0.1", 8080, "127.0.0.1", "1.1",
             "sdk", 200, None, None, None),
            exchange_record(exchange, 1.9, (5, 6), True, True), None)
    record = RequestRecord.unpack(wire)
    assert record.trace is not None and record.trace.parent_span_id == 3 and record.trace.trace_state == "v=1"
    assert record.http is not None and record.http.status == 200 and record.http.user_agent == "sdk"
    ex = record.exchange
    assert ex is not None and ex.key_name == "team-a" and ex.finished == 1.9 and ex.link == (5, 6)
    assert ex.parameters == {"temperature": 0.5, "response_format": {"type": "json_schema"}}  # never the schema
    assert ex.content is not None and ex.content["messages"] == exchange.body["messages"]  # type: ignore[index]
    [a] = ex.attempts
    assert (a.span_id, a.target, a.response_model, a.finish_reasons, a.output_tokens) == (
        0xABC, "openai-main/gpt-4o", "gpt-4o-2024", ("stop",), 12)
    assert a.first_chunk_at == 1.2 and a.outcome == "ok" and a.status == 200
    assert a.cost_usd == ex.cost_usd == 0.00025 and record.http.refused is None


def test_no_telemetry_process_when_telemetry_is_off() -> None:
    assert start_telemetry(parse_config(gateway_config("http://127.0.0.1:9")), "test") is None
