"""Keys, refusals and cost in what the exporters sent: the key's name (never the key) on spans and metrics,
`gateway.refused.reason` on refused requests and in `gateway.requests.refused`, `gateway.cost.usd` on spans
and as a metric, and the console line."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import GatewayFactory, gateway_config
from tests.fakes.otlp import FakeCollector
from tests.support import RunningServer
from tests.telemetry.conftest import flush, telemetry_section

KEY = "sk-gw-telemetry-key-0123456789"
OTHER = "sk-gw-telemetry-other-999999"
USER: Any = [{"role": "user", "content": "hi"}]
CALL_USD = 0.011  # "hi" -> 1 + 5 tokens at $1000 / $2000 per million


def keyed(tmp_path: Path) -> str:
    return f"""
[limits]
spend_file = "{tmp_path / 'spend'}"
[[keys]]
name = "team-a"
key = "{KEY}"
rpm = 2
[[keys]]
name = "team-b"
key = "{OTHER}"
models = ["mock-model"]
"""


def priced(text: str) -> str:
    return text.replace('model = "upstream-model"\n', 'model = "upstream-model"\ninput_usd_per_mtok = 1000\n'
                        'output_usd_per_mtok = 2000\n', 1)


def post(server: RunningServer, key: str | None, model: str = "gpt-test") -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.post(server.url + "/v1/chat/completions", json={"model": model, "messages": USER}, headers=headers)


@pytest.fixture
def start_priced(collector_server: RunningServer, upstream: RunningServer, start_gateway: GatewayFactory,
                 tmp_path: Path) -> RunningServer:
    text = gateway_config(upstream.url, extra=telemetry_section(collector_server.url) + keyed(tmp_path))
    return start_gateway(priced(text))


def send_traffic(server: RunningServer) -> None:
    statuses = [post(server, KEY).status_code, post(server, KEY).status_code, post(server, KEY).status_code,
                post(server, None).status_code, post(server, OTHER).status_code,
                post(server, OTHER, "mock-model").status_code]
    assert statuses == [200, 200, 429, 401, 403, 200]
    time.sleep(0.05)
    flush(server)


def test_spans_carry_the_key_name_the_refusal_and_the_cost(start_priced: RunningServer,
                                                          collector: FakeCollector) -> None:
    send_traffic(start_priced)
    servers = collector.spans("SERVER")
    by_status: dict[int, list[Any]] = {}
    for span in servers:
        by_status.setdefault(span.attributes["http.response.status_code"], []).append(span)
    ok = [s for s in by_status[200] if s.attributes.get("gateway.route") == "gpt-test"]
    assert len(ok) == 2 and all(s.attributes["gateway.key.name"] == "team-a" for s in ok)
    assert all(s.attributes["gateway.cost.usd"] == pytest.approx(CALL_USD) for s in ok)
    clients = [s for s in collector.spans("CLIENT") if s.attributes.get("gateway.route") == "gpt-test"]
    assert len(clients) == 2 and all(s.attributes["gateway.cost.usd"] == pytest.approx(CALL_USD) for s in clients)
    [limited] = by_status[429]
    assert limited.attributes["gateway.refused.reason"] == "rpm" and limited.attributes["gateway.key.name"] == "team-a"
    [unknown] = by_status[401]
    assert unknown.attributes["gateway.refused.reason"] == "invalid_api_key"
    assert "gateway.key.name" not in unknown.attributes
    [denied] = by_status[403]
    assert denied.attributes["gateway.refused.reason"] == "model_not_allowed"
    assert denied.attributes["gateway.key.name"] == "team-b"
    assert not [s for s in collector.spans("CLIENT") if s.attributes.get("gateway.key.name") == "team-b"
                and s.attributes.get("gateway.route") == "gpt-test"]  # refused calls made no upstream call
    free = [s for s in by_status[200] if s.attributes.get("gateway.route") == "mock-model"]
    assert free[0].attributes["gateway.cost.usd"] == 0  # the mock provider is free
    everything = repr([(s.attributes, s.events, s.resource) for s in collector.spans()])
    assert KEY not in everything and OTHER not in everything


def test_metrics_count_refusals_and_cost_by_key(start_priced: RunningServer, collector: FakeCollector) -> None:
    send_traffic(start_priced)
    refused = collector.metric("gateway.requests.refused")
    by_reason = {p.attributes["gateway.refused.reason"]: p for p in refused.points}
    assert set(by_reason) == {"rpm", "invalid_api_key", "model_not_allowed"}
    assert all(p.value == 1 for p in refused.points)
    assert by_reason["rpm"].attributes["gateway.key.name"] == "team-a"
    assert by_reason["rpm"].attributes["gateway.route"] == "gpt-test"
    assert "gateway.key.name" not in by_reason["invalid_api_key"].attributes
    cost = collector.metric("gateway.cost.usd")
    assert cost.unit == "{USD}"
    [spent] = [p for p in cost.points if p.attributes.get("gateway.key.name") == "team-a"]
    assert spent.value == pytest.approx(2 * CALL_USD) and spent.attributes["gateway.route"] == "gpt-test"
    requests = collector.metric("gateway.requests")
    assert sum(p.value or 0 for p in requests.points if p.attributes.get("gateway.key.name") == "team-a") == 3
    everything = repr([(n, [p.attributes for p in collector.metric(n).points]) for n in collector.metric_names()])
    assert KEY not in everything and OTHER not in everything


def test_the_console_line_names_the_key_and_the_cost(
    start_gateway: GatewayFactory, upstream: RunningServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    server = start_gateway(priced(gateway_config(upstream.url, extra='[telemetry]\nexporter = "console"\n'
                                                 + keyed(tmp_path))))
    assert post(server, KEY).status_code == 200 and post(server, None).status_code == 401
    time.sleep(0.05)
    flush(server)
    lines = [line for line in capfd.readouterr().out.splitlines() if "/v1/" in line]
    ok, refused = lines
    assert "key=team-a" in ok and "cost=$0.011000" in ok and KEY not in ok
    assert "POST /v1/chat/completions 401 " in refused and "refused=invalid_api_key" in refused
