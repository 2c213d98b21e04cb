"""deploy/: the compose stack's files parse and agree with each other, and every query of the Grafana
dashboard returns data from a real Prometheus (Debian's `prometheus`) scraping a gateway under traffic."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gateway.config import load_config
from tests.conftest import GatewayFactory, dead_first_route, gateway_config
from tests.fakes.openai_compat import Fail, FakeOpenAI
from tests.support import RunningServer, closed_port, free_port

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "llm-gateway.json"
RATE_INTERVAL = "1m"  # what $__rate_interval becomes here: every sample of the test fits in it
KEYS = ("sk-deploy-team-a-0123456789", "sk-deploy-team-b-0123456789")


def load_yaml(name: str) -> Any:
    return yaml.safe_load((DEPLOY / name).read_text())


def queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [(panel["title"], target["expr"]) for panel in dashboard["panels"] for target in panel.get("targets", ())]


def test_compose_stack_files_parse_and_fit_together() -> None:
    compose = load_yaml("docker-compose.yml")
    services = compose["services"]
    replicas = ["gateway-a", "gateway-b"]
    assert {"gateway", *replicas, "redis", "otel-collector", "jaeger", "prometheus", "grafana"} <= set(services)
    assert all(services[r]["build"]["dockerfile"] == "deploy/Dockerfile" for r in replicas)
    assert (DEPLOY / "Dockerfile").is_file()
    # the load balancer (`gateway`) runs nginx.conf, whose upstream servers are the replicas
    assert "./nginx.conf:/etc/nginx/conf.d/default.conf:ro" in services["gateway"]["volumes"]
    assert re.findall(r"^\s*server\s+([\w-]+):8080\b", (DEPLOY / "nginx.conf").read_text(), re.MULTILINE) == replicas
    for service in services.values():  # every mounted file exists
        for volume in service.get("volumes", ()):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), source

    collector = load_yaml("otel-collector.yaml")
    for pipeline in collector["service"]["pipelines"].values():
        for kind in ("receivers", "processors", "exporters"):
            assert set(pipeline.get(kind, ())) <= set(collector[kind]), (kind, pipeline)
    assert collector["exporters"]["otlp/jaeger"]["endpoint"] == "jaeger:4317"

    prometheus = load_yaml("prometheus.yml")
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    assert jobs["gateway"]["metrics_path"] == "/metrics"
    assert jobs["gateway"]["static_configs"][0]["targets"] == [f"{r}:8080" for r in replicas]  # each, not the LB

    datasources = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/datasources.yaml").read_text())
    uids = {d["uid"] for d in datasources["datasources"]}
    assert {"prometheus", "jaeger"} <= uids
    providers = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/dashboards.yaml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"

    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "llm-gateway"
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] in uids and panel["targets"], panel["title"]

    config, warnings = load_config(DEPLOY / "gateway.toml")
    assert warnings == []
    assert config.telemetry.prometheus and config.telemetry.exporter == "otlp" and not config.telemetry.otlp_metrics
    # a stopped replica drains (drain_delay_s, then shutdown_grace_s, then up to 5 s of telemetry flush) before
    # Docker kills it; the replicas share state through the compose file's Redis
    drain = config.server.drain_delay_s + config.server.shutdown_grace_s + 5
    assert all(float(services[r]["stop_grace_period"].removesuffix("s")) > drain for r in replicas)
    assert config.state.redis_url == "redis://redis:6379/0" and config.limits.backend == config.cache.backend == "redis"


def test_dashboard_covers_what_the_issue_asks_for() -> None:
    text = " ".join(expr for _, expr in queries())
    for needle in ("gateway_requests_total", "gen_ai_server_request_duration_seconds_bucket",
                   "gen_ai_server_time_to_first_token_seconds_bucket", "gen_ai_client_token_usage_sum",
                   "gateway_cache_lookups_total", "gateway_failovers_total", 'error_type!=""',
                   "gateway_key_name", "histogram_quantile(0.5", "histogram_quantile(0.95",
                   "gateway_cost_usd_total", "gateway_requests_refused_total",
                   "gateway_route, gateway_provider"):
        assert needle in text, needle


@pytest.fixture
def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        pytest.skip("Prometheus is not installed: apt-get install prometheus (Debian 12; .ci/run installs it)")
    return found


class Traffic:
    """A bounded, steady mix of requests against the gateway from a thread, until stopped."""

    def __init__(self, gateway: RunningServer, fake: FakeOpenAI) -> None:
        self.gateway, self.fake = gateway, fake
        self.stop = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        messages = [{"role": "user", "content": "Say hello"}]
        with httpx.Client(base_url=self.gateway.url, timeout=10) as http:
            for i in range(2000):
                if self.stop.is_set():
                    return
                key = {"authorization": f"Bearer {KEYS[i % 2]}"}
                http.post("/v1/chat/completions", json={"model": "gpt-test", "messages": messages}, headers=key)
                with http.stream("POST", "/v1/chat/completions", headers=key,
                                 json={"model": "gpt-test", "messages": messages, "stream": True}) as r:
                    r.read()
                http.post("/v1/chat/completions", json={"model": "two-targets", "messages": messages}, headers=key)
                if i % 3 == 0:
                    self.fake.enqueue(Fail(400))
                    http.post("/v1/chat/completions", json={"model": "gpt-test", "messages": messages}, headers=key)
                    http.post("/v1/chat/completions", json={"model": "gpt-test", "messages": messages},
                              headers={"authorization": "Bearer sk-not-a-key"})  # refused: invalid_api_key
                    http.post("/v1/chat/completions", json={"model": "mock-model", "messages": messages},
                              headers={"authorization": f"Bearer {KEYS[1]}"})  # refused: model_not_allowed
                self.sent += 1
                time.sleep(0.05)


@pytest.fixture
def prometheus(prometheus_binary: str, tmp_path: Path) -> Iterator[Any]:
    def start(target: str) -> str:
        port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "gateway", "metrics_path": "/metrics",
                                "static_configs": [{"targets": [target]}]}],
        }))
        log = (tmp_path / "prometheus.log").open("w")
        logs.append(log)
        process = subprocess.Popen(
            [prometheus_binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=log,
        )
        processes.append(process)
        return f"http://127.0.0.1:{port}"

    processes: list[subprocess.Popen[bytes]] = []
    logs: list[Any] = []
    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    for log in logs:
        log.close()


def query(base: str, expr: str) -> list[dict[str, Any]]:
    response = httpx.get(base + "/api/v1/query", params={"query": expr}, timeout=5)
    body = response.json()
    assert body["status"] == "success", (expr, body)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_every_dashboard_query_returns_data_from_a_real_prometheus(
    start_gateway: GatewayFactory, upstream: RunningServer, fake: FakeOpenAI, prometheus: Any, tmp_path: Path
) -> None:
    text = gateway_config(upstream.url, extra=f"""
[telemetry]
prometheus = true
[routing]
failure_threshold = 1
cooldown_s = 2
[limits]
spend_file = "{tmp_path / 'spend'}"
[[keys]]
name = "team-a"
key = "{KEYS[0]}"
[[keys]]
name = "team-b"
key = "{KEYS[1]}"
models = ["gpt-test", "two-targets"]
{dead_first_route(closed_port())}
""")
    gateway = start_gateway(text.replace('model = "upstream-model"\n', 'model = "upstream-model"\n'
                                         'input_usd_per_mtok = 0.15\noutput_usd_per_mtok = 0.6\n'))
    base = prometheus(f"127.0.0.1:{gateway.port}")
    traffic = Traffic(gateway, fake)
    traffic.thread.start()
    try:
        wait_for(lambda: httpx.get(base + "/-/ready", timeout=2).status_code == 200, 15, "Prometheus to start")
        # rate() needs two samples with traffic between them; wait for a few scrapes of a busy gateway.
        wait_for(lambda: (r := query(base, 'count_over_time(up{job="gateway"}[1m])')) and
                 float(r[0]["value"][1]) >= 4 and float(query(base, "up")[0]["value"][1]) == 1, 20, "scrapes")
    finally:
        traffic.stop.set()
        traffic.thread.join(10)
    assert traffic.sent > 0
    empty = []
    for title, expr in queries():
        result = query(base, expr.replace("$__rate_interval", RATE_INTERVAL))
        values = [float(r["value"][1]) for r in result]
        if not values or not any(math.isfinite(v) for v in values):
            empty.append((title, expr, result))
        if "by (gateway_key_name" in expr:  # the per-key row shows keys by name
            names = {r["metric"].get("gateway_key_name") for r in result}
            assert names & {"team-a", "team-b"} and ("refused" in title.lower() or {"team-a", "team-b"} <= names), (
                title, result)
    assert not empty, "dashboard queries without data:\n" + "\n".join(map(str, empty))
