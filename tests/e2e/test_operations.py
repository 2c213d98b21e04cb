"""Operating the gateway, with real processes: `--workers 2` reloads that every worker agrees on (SIGHUP and
`POST /admin/reload`, a bad file refused by all), readiness during a SIGTERM drain, JSON log lines, the
start-up banner only once the port is bound, CORS, and the demo's cache defaults."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.config import load_demo_config, parse_config
from tests.support import free_port, run_server, serve

USER = [{"role": "user", "content": "Hello"}]
ADMIN = "admin-key-for-operations"


def config_text(routes: list[str], extra: str = "") -> str:
    text = f'[admin]\nkey = "{ADMIN}"\n{extra}\n[[providers]]\nname = "m"\ntype = "mock"\n'
    for route in routes:
        text += f'[[routes]]\nmodel = "{route}"\n  [[routes.targets]]\n  provider = "m"\n  model = "mock-{route}"\n'
    return text


def by_worker(url: str, want: int = 2, timeout: float = 20) -> dict[int, list[str]]:
    """Each worker's route list, asking on fresh connections until `want` processes answered."""
    seen: dict[int, list[str]] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < want and time.monotonic() < deadline:
        with httpx.Client(headers={"authorization": f"Bearer {ADMIN}"}, timeout=5) as http:  # a new connection
            status = http.get(url + "/admin/status").json()
        seen[status["process"]] = sorted(status["routes"])
    assert len(seen) == want, f"only {len(seen)} of {want} workers answered"
    return seen


def wait_until(check: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_workers_reload_together_on_sighup_and_refuse_a_bad_file_together(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(config_text(["a"]))
    with serve("--config", str(path), "--workers", "2", cwd=tmp_path) as (process, url):
        assert set(map(tuple, by_worker(url).values())) == {("a",)}
        path.write_text(config_text(["a", "b"]))
        process.send_signal(signal.SIGHUP)
        wait_until(lambda: all(routes == ["a", "b"] for routes in by_worker(url).values()))

        path.write_text(config_text(["a", "b"]).replace('type = "mock"', 'type = "mokc"'))
        process.send_signal(signal.SIGHUP)
        time.sleep(1.5)  # the parent checked the file and refused it (nothing to wait for)
        assert all(routes == ["a", "b"] for routes in by_worker(url).values())  # every worker kept its config
        assert process.poll() is None

        path.write_text(config_text(["a", "b", "c"]))  # POST /admin/reload to one worker reaches them all
        reloaded = httpx.post(url + "/admin/reload", headers={"authorization": f"Bearer {ADMIN}"}, timeout=10)
        assert reloaded.status_code == 200, reloaded.text
        wait_until(lambda: all(routes == ["a", "b", "c"] for routes in by_worker(url).values()))
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=30)[0]
    assert "providers[0].type" in output and "mokc" in output  # the problem, as `gateway check` words it
    assert "Traceback" not in output and "not ready in time" not in output


def test_readyz_answers_503_from_the_moment_sigterm_arrives_while_the_stream_finishes(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    text = config_text(["slow"], "[server]\ndrain_delay_s = 1.0\nshutdown_grace_s = 10\n")
    path.write_text(text.replace('type = "mock"', 'type = "mock"\ntoken_delay_ms = 150'))
    with serve("--config", str(path), cwd=tmp_path) as (process, url):
        assert httpx.get(url + "/readyz").status_code == 200
        body: list[str] = []

        def stream() -> None:
            with httpx.stream("POST", url + "/v1/chat/completions", timeout=30,
                              json={"model": "slow", "messages": USER, "stream": True}) as response:
                body.extend(response.iter_lines())

        reader = threading.Thread(target=stream)
        reader.start()
        time.sleep(0.4)  # the stream is under way
        process.send_signal(signal.SIGTERM)
        time.sleep(0.1)
        ready = httpx.get(url + "/readyz")
        assert (ready.status_code, ready.json()["status"]) == (503, "draining")
        still = httpx.post(url + "/v1/chat/completions", json={"model": "slow", "messages": USER}, timeout=30)
        assert still.status_code == 200  # during drain_delay_s the gateway still serves
        reader.join(30)
        assert [line for line in body if line][-1] == "data: [DONE]"  # the stream in flight finished
        process.wait(30)
    assert process.returncode is not None


def test_while_draining_every_answer_closes_its_connection(tmp_path: Path) -> None:
    """A kept-alive connection left idle when the drain ends is closed by the stop, maybe just as a load
    balancer sends a request on it; nginx does not retry a POST it has sent, so its caller would get a 502.
    While draining, each answer says `connection: close` and closes, the proxy path's and the others'."""
    path = tmp_path / "gateway.toml"
    path.write_text(config_text(["a"], "[server]\ndrain_delay_s = 10\n"))
    with serve("--config", str(path), cwd=tmp_path) as (process, url), httpx.Client(base_url=url) as http:
        before = http.post("/v1/chat/completions", json={"model": "a", "messages": USER})
        assert before.status_code == 200 and "connection" not in before.headers  # kept alive
        process.send_signal(signal.SIGTERM)
        wait_until(lambda: httpx.get(url + "/readyz").status_code == 503)
        for answer in (http.post("/v1/chat/completions", json={"model": "a", "messages": USER}),
                       http.get("/healthz"), http.get("/v1/models")):
            assert answer.status_code == 200 and answer.headers["connection"] == "close", answer.headers
        process.kill()


def test_json_logs_one_object_per_line_with_the_request_and_no_secret(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    text = config_text(["a"], '[server]\nlog_format = "json"\naccess_log = true\n[limits]\nspend_file = ""\n'
                              '[[keys]]\nname = "team-a"\nkey = "sk-gw-json-logs-secret-123"\n')
    path.write_text(text.replace('type = "mock"', 'type = "mock"\napi_key = "sk-provider-secret-456"'))
    with serve("--config", str(path), cwd=tmp_path) as (process, url):
        headers = {"authorization": "Bearer sk-gw-json-logs-secret-123"}
        assert httpx.post(url + "/v1/chat/completions", json={"model": "a", "messages": USER},
                          headers=headers).status_code == 200
        assert httpx.post(url + "/v1/chat/completions", json={"model": "a", "messages": USER}).status_code == 401
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=30)[0]
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert records and all({"ts", "level", "logger", "message"} <= set(r) for r in records)
    assert any(r["logger"].startswith("uvicorn") for r in records)  # uvicorn's lines in the same format
    [started] = [r for r in records if "listening on" in r["message"]]  # the banner too, as one record
    assert started["routes"] == ["a"] and started["keys"] == ["team-a"]
    assert not [line for line in output.splitlines() if line.strip() and not line.startswith("{")]
    calls = [r for r in records if r["logger"] == "gateway.access" and r["path"] == "/v1/chat/completions"]
    [ok] = [r for r in calls if r["status"] == 200]
    assert (ok["key"], ok["route"], ok["target"], ok["cache"] if "cache" in ok else None) == (
        "team-a", "a", "m/mock-a", None)
    assert ok["request_id"] and ok["latency_ms"] >= 0 and ok["output_tokens"] > 0 and ok["cost_usd"] == 0
    [refused] = [r for r in calls if r["status"] == 401]
    assert refused["refused"] == "invalid_api_key" and "key" not in refused
    assert "sk-gw-json-logs-secret-123" not in output and "sk-provider-secret-456" not in output


def test_the_banner_comes_only_once_the_port_is_bound(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = subprocess.run([sys.executable, "-m", "gateway", "serve", "--port", str(port)], cwd=tmp_path,
                                capture_output=True, text=True, timeout=60, env={"GATEWAY_CONFIG": "", "PATH": ""})
    assert result.returncode == 1
    assert "listening on" not in result.stdout
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "--port" in result.stderr


@pytest.fixture
def cors_gateway() -> Any:
    text = config_text(["a"], '[server]\ncors_origins = ["https://app.example"]\n[limits]\nspend_file = ""\n'
                              '[[keys]]\nname = "web"\nkey = "sk-gw-cors-key"\n')
    with run_server(create_app(parse_config(text))) as server:
        yield server


def test_cors_preflight_is_answered_without_a_key_and_errors_carry_cors_headers(cors_gateway: Any) -> None:
    url = cors_gateway.url + "/v1/chat/completions"
    preflight = httpx.options(url, headers={"origin": "https://app.example", "access-control-request-method": "POST",
                                            "access-control-request-headers": "authorization, content-type"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    denied = httpx.post(url, json={"model": "a", "messages": USER}, headers={"origin": "https://app.example"})
    assert denied.status_code == 401 and denied.headers["access-control-allow-origin"] == "https://app.example"
    ok = httpx.post(url, json={"model": "a", "messages": USER},
                    headers={"origin": "https://app.example", "authorization": "Bearer sk-gw-cors-key"})
    assert ok.status_code == 200 and "x-request-id" in ok.headers["access-control-expose-headers"].lower()
    other = httpx.options(url, headers={"origin": "https://evil.example", "access-control-request-method": "POST"})
    assert "access-control-allow-origin" not in other.headers


def test_no_cors_headers_unless_configured() -> None:
    with run_server(create_app(parse_config(config_text(["a"])))) as server:
        response = httpx.post(server.url + "/v1/chat/completions", json={"model": "a", "messages": USER},
                              headers={"origin": "https://app.example"})
    assert response.status_code == 200 and "access-control-allow-origin" not in response.headers


def test_the_demo_streams_token_by_token_and_caches_only_what_is_meant_to_repeat() -> None:
    with run_server(create_app(load_demo_config())) as server:
        url = server.url + "/v1/chat/completions"
        for _ in range(2):  # the README's streaming example, twice: streamed both times, never from the cache
            with httpx.stream("POST", url, json={"model": "gpt-4o-mini", "stream": True, "messages": USER}) as r:
                assert r.headers["x-gateway-cache"] == "bypass"
                assert len([line for line in r.iter_lines() if line.startswith("data: ")]) > 5
        answers = [httpx.post(url, json={"model": "gpt-4o-mini", "temperature": 0, "messages": USER})
                   for _ in range(2)]
        assert [a.headers["x-gateway-cache"] for a in answers] == ["miss", "hit"]


def test_two_workers_enforce_one_rpm_and_one_max_concurrent(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    text = config_text(["a", "slow"], f'[limits]\nspend_file = "{tmp_path / "spend"}"\n'
                                      '[[keys]]\nname = "team"\nkey = "sk-gw-workers-key"\nrpm = 5\n'
                                      '[[keys]]\nname = "streams"\nkey = "sk-gw-workers-streams"\nmax_concurrent = 2\n')
    path.write_text(text.replace('type = "mock"', 'type = "mock"\ntoken_delay_ms = 60', 1))
    with serve("--config", str(path), "--workers", "2", cwd=tmp_path) as (process, url):
        assert len(by_worker(url)) == 2
        statuses = []
        for _ in range(12):  # fresh connections: the two workers share the calls
            with httpx.Client(headers={"authorization": "Bearer sk-gw-workers-key"}, timeout=10) as http:
                statuses.append(http.post(url + "/v1/chat/completions", json={"model": "a", "messages": USER})
                                .status_code)
        assert statuses.count(200) == 5 and statuses.count(429) == 7

        async def streams() -> list[int]:
            async def one() -> int:
                async with httpx.AsyncClient(headers={"authorization": "Bearer sk-gw-workers-streams"},
                                             timeout=20) as http:
                    async with http.stream("POST", url + "/v1/chat/completions", json={
                            "model": "slow", "messages": USER, "stream": True, "max_tokens": 30}) as response:
                        await response.aread()
                        return response.status_code

            return list(await asyncio.gather(*(one() for _ in range(6))))

        assert sorted(asyncio.run(streams())) == [200, 200, 429, 429, 429, 429]
        assert sorted(asyncio.run(streams()))[:2] == [200, 200]  # the slots came back
