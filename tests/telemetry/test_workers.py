"""`gateway serve --workers 2` with Prometheus: one scrape shows every worker's requests, whichever worker
takes it (gateway/telemetry/workers.py); and the merge itself, on exposition text."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import httpx

from gateway.telemetry import workers
from tests.e2e.test_operations import by_worker, config_text
from tests.fakes.otlp import FakeCollector
from tests.support import RunningServer, serve

USER = [{"role": "user", "content": "Hello"}]


def requests_total(scrape: str) -> float:
    return sum(float(m.group(1)) for m in re.finditer(r'^gateway_requests_total\{[^}]*\} (\S+)$', scrape, re.M))


def test_one_scrape_counts_every_workers_requests(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(config_text(["chat"], extra='[telemetry]\nexporter = "none"\nprometheus = true'))
    with serve("--config", str(path), "--workers", "2", cwd=tmp_path) as (_, url):
        assert len(by_worker(url)) == 2  # both workers are up and answer
        for _ in range(20):
            with httpx.Client(timeout=10) as http:  # a new connection each: the kernel spreads them
                assert http.post(url + "/v1/chat/completions", json={"model": "chat", "messages": USER}).is_success
        deadline = time.monotonic() + 10
        while True:  # a worker publishes its counts once a second
            scrapes = []
            for _ in range(4):
                with httpx.Client(timeout=10) as http:
                    scrapes.append(requests_total(http.get(url + "/metrics").text))
            if all(total == 20 for total in scrapes) or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert scrapes == [20] * 4  # every scrape, whichever worker answered it: all 20 requests


SAMPLE = """# HELP gateway_requests_total Requests.
# TYPE gateway_requests_total counter
gateway_requests_total{gateway_route="chat",http_response_status_code="200"} {n}
# HELP gen_ai_server_request_duration_seconds Duration.
# TYPE gen_ai_server_request_duration_seconds histogram
gen_ai_server_request_duration_seconds_bucket{le="0.1"} {n}
gen_ai_server_request_duration_seconds_bucket{le="+Inf"} {n}
gen_ai_server_request_duration_seconds_count {n}
gen_ai_server_request_duration_seconds_sum 0.5
"""


def test_the_merge_sums_live_workers_and_skips_gone_ones(tmp_path: Path) -> None:
    other = tmp_path / f"{os.getppid()}.prom"  # a live process (this one's parent)
    other.write_text(SAMPLE.replace("{n}", "3"))
    (tmp_path / "999999999.prom").write_text(SAMPLE.replace("{n}", "100"))  # no such process: left out
    (tmp_path / f"{os.getpid()}.prom").write_text(SAMPLE.replace("{n}", "1000"))  # this one's stale file: its own
    text = workers.merged(SAMPLE.replace("{n}", "2").encode(), str(tmp_path)).decode()  # current text is used
    assert 'gateway_requests_total{gateway_route="chat",http_response_status_code="200"} 5.0' in text
    assert 'gen_ai_server_request_duration_seconds_bucket{le="+Inf"} 5.0' in text
    assert "gen_ai_server_request_duration_seconds_sum 1.0" in text
    assert "# TYPE gen_ai_server_request_duration_seconds histogram" in text
    alone = tmp_path / "alone"
    alone.mkdir()
    assert workers.merged(b"unchanged", str(alone)) == b"unchanged"  # one worker: its text as it is


def test_otlp_pushes_from_each_worker_carry_their_own_instance_id(
    tmp_path: Path, collector: FakeCollector, collector_server: RunningServer
) -> None:
    """`--workers 2` with OTLP: each worker exports its own spans and metrics, told apart by
    `service.instance.id`; together they account for every request."""
    path = tmp_path / "gateway.toml"
    path.write_text(config_text(["chat"], extra='[telemetry]\nexporter = "otlp"\nmetric_export_interval_ms = 200\n'
                                                f'otlp_endpoint = "{collector_server.url}"'))
    with serve("--config", str(path), "--workers", "2", cwd=tmp_path) as (_, url):
        assert len(by_worker(url)) == 2
        for _ in range(20):
            with httpx.Client(timeout=10) as http:  # a new connection each: the kernel spreads them
                assert http.post(url + "/v1/chat/completions", json={"model": "chat", "messages": USER}).is_success
        deadline = time.monotonic() + 15
        while len(collector.spans("SERVER")) < 20 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # a metric export from each worker after the last request
    servers = [s for s in collector.spans("SERVER") if s.attributes.get("http.route") == "/v1/chat/completions"]
    assert len(servers) == 20
    instances = {s.resource["service.instance.id"] for s in servers}
    assert len(instances) == 2, instances  # both workers served, each under its own id
    latest: dict[str, float] = {}  # cumulative counters: the last push of each worker holds its total
    for metric in (m for m in collector.metric_history if m.name == "gateway.requests"):
        instance = metric.resource["service.instance.id"]
        latest[instance] = max(latest.get(instance, 0), sum(p.value or 0 for p in metric.points))
    assert set(latest) == instances and sum(latest.values()) == 20
