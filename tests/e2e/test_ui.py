"""The live page's JSON (`/admin/ui/...`) on a real gateway with real traffic: a failover, a cache hit, a stream
cut and resumed elsewhere, refusals; the admin key; no secret anywhere; tracing's trace id; `[ui]` off;
`--workers 2`. The page itself in a real browser: test_ui_browser.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.ui_scenario import ADMIN_KEY, SECRETS, TEAM_A_KEY, Scenario
from tests.support import serve

PATHS = ["/admin/ui/summary", "/admin/ui/series", "/admin/ui/requests", "/admin/ui/config"]


@pytest.fixture(scope="module")
def scene() -> Iterator[tuple[Scenario, dict[str, httpx.Response]]]:
    with ExitStack() as stack:
        scene = Scenario.start(stack)
        yield scene, scene.send_traffic()


def test_the_page_is_served_from_the_package_and_holds_no_data(scene: tuple[Scenario, Any]) -> None:
    gateway, _ = scene
    page = httpx.get(gateway.url + "/ui")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert "chat" not in page.text and "team-a" not in page.text and "main-model" not in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing fetched from elsewhere
    for name in ("app.js", "style.css", "uPlot.iife.min.js", "uPlot.min.css"):
        found = httpx.get(gateway.url + "/ui/static/" + name)
        assert found.status_code == 200 and len(found.content) > 500, name
    for name in ("VENDORED.md", "index.html", "..%2Fendpoints.py", "uPlot.LICENSE"):
        assert httpx.get(gateway.url + "/ui/static/" + name).status_code == 404, name


@pytest.mark.parametrize("key", [None, "wrong-admin-key", TEAM_A_KEY])
def test_without_the_admin_key_the_json_says_nothing(scene: tuple[Scenario, Any], key: str | None) -> None:
    gateway, _ = scene
    for path in [*PATHS, "/admin/ui/requests/anything"]:
        answer = gateway.admin(path, key)
        assert answer.status_code == 401, path
        assert answer.json()["error"]["code"] == "invalid_admin_key"
        assert "team-a" not in answer.text and "chat" not in answer.text


def test_the_summary_shows_the_targets_states_and_last_errors(scene: tuple[Scenario, Any]) -> None:
    gateway, _ = scene
    summary = gateway.admin("/admin/ui/summary").json()
    assert summary["worker"]["workers"] == 1 and summary["worker"]["pid"] > 0
    assert summary["recorded"] == 6  # the 401 never reached a route: counted as refused only
    assert summary["refused"] == {"rpm": 1, "invalid_api_key": 1}
    targets = {t["target"]: t for t in summary["targets"]}
    assert targets["dead/dead-model"]["last_error"]["error"] == "connect_error"
    assert targets["main/main-model"]["last_error"] is None and targets["main/main-model"]["state"] == "healthy"
    assert targets["first/first-model"]["last_error"]["route"] == "story"
    everything = summary["last_minute"]["all"]
    # lookups: the failover, miss, hit, the stream, and team-b's chat, a hit of the stream's answer (the stream
    # flag is not part of a request's identity); the refused call never reached the cache
    assert everything["requests"] == 6 and everything["cache_hit_ratio"] == 0.4
    assert summary["last_minute"]["route:chat"]["requests"] == 3
    assert summary["last_minute"]["target:dead/dead-model"]["error_rate"] == 1.0
    assert summary["cache"]["backend"] == "memory" and summary["tracing"] is False


def test_the_series_have_points_per_route_and_target(scene: tuple[Scenario, Any]) -> None:
    gateway, _ = scene
    series = gateway.admin("/admin/ui/series").json()
    assert series["bucket_s"] == 5 and len(series["start"]) == 180
    assert {"all", "route:chat", "route:story", "target:dead/dead-model", "target:main/main-model",
            "target:first/first-model", "target:second/second-model"} <= set(series["series"])
    everything = series["series"]["all"]
    assert sum(everything["requests"]) >= 5
    assert any(v for v in everything["latency_p95_ms"]) and any(v for v in everything["tokens_per_s"])
    assert any(v for v in series["series"]["route:story"]["ttft_p50_ms"])  # the stream's first content
    assert any(v for v in everything["cost_per_hour_usd"])
    newest = series["start"][-1]
    later = gateway.admin(f"/admin/ui/series?since={newest}").json()
    assert later["start"][0] == newest and len(later["start"]) <= 2


def test_the_requests_table_and_a_failover_timeline(scene: tuple[Scenario, Any]) -> None:
    gateway, sent = scene
    listed = gateway.admin("/admin/ui/requests").json()
    rows = {r["id"]: r for r in listed["requests"]}
    assert listed["kept"] == 300 and listed["seq"] == len(listed["requests"])
    failover = rows[sent["failover"].headers["x-request-id"]]
    assert (failover["key"], failover["route"], failover["target"], failover["status"], failover["attempts"]) == (
        "team-a", "chat", "main/main-model", 200, 2)
    assert failover["cost_usd"] > 0 and failover["output_tokens"] > 0 and failover["latency_ms"] > 0
    assert rows[sent["miss"].headers["x-request-id"]]["cache"] == "miss"
    assert rows[sent["hit"].headers["x-request-id"]]["cache"] == "hit"
    refused = rows[sent["refused"].headers["x-request-id"]]
    assert (refused["status"], refused["key"], refused["attempts"]) == (429, "team-b", 0)
    assert sent["no_key"].headers["x-request-id"] not in rows  # refused at the door: no route, no row
    after = gateway.admin(f"/admin/ui/requests?after={listed['seq']}").json()
    assert after["requests"] == []

    detail = gateway.admin("/admin/ui/requests/" + failover["id"]).json()
    first, second = detail["timeline"]
    assert (first["target"], first["outcome"], first["error"], first["why"]) == (
        "dead/dead-model", "error", "connect_error", "first attempt")
    assert (second["target"], second["outcome"], second["status"]) == ("main/main-model", "ok", 200)
    assert second["why"] == "failover from dead/dead-model after connect_error"
    assert second["start_ms"] >= first["start_ms"] + first["duration_ms"] - 0.2
    assert detail["trace_id"] is None and detail["trace_url"] is None
    assert gateway.admin("/admin/ui/requests/no-such-request").status_code == 404


def test_a_stream_resumed_on_another_target_shows_in_its_timeline(scene: tuple[Scenario, Any]) -> None:
    gateway, _ = scene
    rows = gateway.admin("/admin/ui/requests").json()["requests"]
    [resumed] = [r for r in rows if r["route"] == "story" and r["stream"]]
    assert resumed["stream"] and resumed["attempts"] == 2 and resumed["ttft_ms"] is not None
    first, second = gateway.admin("/admin/ui/requests/" + resumed["id"]).json()["timeline"]
    assert first["target"] == "first/first-model" and first["outcome"] == "error" and first["ttft_ms"] is not None
    assert second["why"].startswith("stream resumed: the answer from first/first-model was cut mid-way")


def test_the_config_view_is_redacted_and_no_json_holds_a_secret(scene: tuple[Scenario, Any]) -> None:
    gateway, _ = scene
    config = gateway.admin("/admin/ui/config").json()
    assert config["admin"]["key"] == "[redacted]" and config["keys"][0]["key"] == "[redacted]"
    assert config["providers"][0]["api_key"] == "[redacted]" and config["ui"]["poll_s"] == 0.5
    assert config["cache"]["redis_url"] == "redis://:[redacted]@127.0.0.1:6399/0"
    bodies = [gateway.admin(path).text for path in PATHS]
    bodies += [gateway.admin("/admin/ui/requests/" + r["id"]).text
               for r in gateway.admin("/admin/ui/requests").json()["requests"]]
    bodies.append(gateway.admin("/admin/usage").text)
    for body in bodies:
        for secret in SECRETS:
            assert secret not in body


def test_keys_spend_against_budget_comes_from_admin_usage(scene: tuple[Scenario, Any]) -> None:
    gateway, _ = scene
    keys = gateway.admin("/admin/usage").json()["keys"]
    assert keys["team-a"]["requests"] == 3 and keys["team-a"]["cost_usd"] > 0 and keys["team-a"]["budget_usd"] == 0.5
    assert keys["team-b"]["budget_usd"] is None


def test_with_tracing_on_a_request_carries_its_trace_id() -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    with ExitStack() as stack:
        scene = Scenario.start(stack, 'trace_url = "http://jaeger.local:16686/trace/{trace_id}"\n', exporter="console")
        answer = scene.chat(TEAM_A_KEY, headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
        assert answer.status_code == 200
        detail = scene.admin("/admin/ui/requests/" + answer.headers["x-request-id"]).json()
        summary = scene.admin("/admin/ui/summary").json()
    assert summary["tracing"] is True
    assert detail["trace_id"] == trace_id
    assert detail["trace_url"] == f"http://jaeger.local:16686/trace/{trace_id}"


def test_the_ui_can_be_turned_off() -> None:
    with ExitStack() as stack:
        scene = Scenario.start(stack, extra="enabled = false\n")
        assert scene.chat(TEAM_A_KEY).status_code == 200
        assert httpx.get(scene.url + "/ui").status_code == 404
        assert scene.admin("/admin/ui/summary").status_code == 404
        assert scene.admin("/admin/status").status_code == 200


def test_with_two_workers_the_page_says_which_worker_it_shows(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(f'[admin]\nkey = "{ADMIN_KEY}"\n[[providers]]\nname = "m"\ntype = "mock"\n'
                    '[[routes]]\nmodel = "a"\n  [[routes.targets]]\n  provider = "m"\n  model = "mock-a"\n')
    with serve("--config", str(path), "--workers", "2", cwd=tmp_path) as (_, url):
        seen: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + 20
        while len(seen) < 2 and time.monotonic() < deadline:
            with httpx.Client(headers={"authorization": f"Bearer {ADMIN_KEY}"}, timeout=5) as http:  # new connection
                answer = http.post(url + "/v1/chat/completions",
                                   json={"model": "a", "messages": [{"role": "user", "content": "hi"}]})
                assert answer.status_code == 200
                summary = http.get(url + "/admin/ui/summary").json()
            seen[summary["worker"]["pid"]] = summary
    assert len(seen) == 2
    assert all(s["worker"]["workers"] == 2 for s in seen.values())
