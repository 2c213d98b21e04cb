"""Behind a reverse proxy: `gateway serve` takes the client's address from `X-Forwarded-For` when the request
comes from a trusted proxy (loopback by default, `FORWARDED_ALLOW_IPS` otherwise), as uvicorn's
`proxy_headers` does, and only then. It decides who may call the admin endpoints without an admin key (only
clients on this machine) and what the access log records. (gateway/serving.py `ForwardedHeaders`: uvicorn's
middleware, run only for the requests that carry such a header.)"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import serve

CONFIG = """
[server]
log_format = "json"
access_log = true

[[providers]]
name = "m"
type = "mock"

[[routes]]
model = "a"
  [[routes.targets]]
  provider = "m"
  model = "mock-a"
"""
CHAT = {"model": "a", "messages": [{"role": "user", "content": "Hello"}]}
ELSEWHERE = "203.0.113.7"  # a client on another machine, as a proxy on this one reports it


def access_records(output: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [r for r in records if r["logger"] == "gateway.access"]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_trusted_proxy_gives_the_client_address(tmp_path: Path, workers: str) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(CONFIG)
    with serve("--config", str(path), "--workers", workers, cwd=tmp_path) as (process, url):
        with httpx.Client(base_url=url, timeout=10) as http:
            # the loopback rule of the admin endpoints (no [admin] key): the client, not the proxy, counts
            assert http.get("/admin/status").status_code == 200
            refused = http.get("/admin/status", headers={"x-forwarded-for": ELSEWHERE})
            assert refused.status_code == 403, refused.text
            assert refused.json()["error"]["type"] == "permission_error"
            assert http.get("/admin/status", headers={"x-forwarded-for": "127.0.0.1"}).status_code == 200
            # the last hop that is not a trusted proxy is the client (uvicorn's rule)
            chained = http.get("/admin/status", headers={"x-forwarded-for": f"{ELSEWHERE}, 127.0.0.1"})
            assert chained.status_code == 403
            forwarded = http.post("/v1/chat/completions", json=CHAT,
                                  headers={"x-forwarded-for": ELSEWHERE, "x-forwarded-proto": "https",
                                           "x-request-id": "forwarded-1"})
            assert forwarded.status_code == 200, forwarded.text
            direct = http.post("/v1/chat/completions", json=CHAT, headers={"x-request-id": "direct-1"})
            assert direct.status_code == 200
            proto_only = http.post("/v1/chat/completions", json=CHAT, headers={"x-forwarded-proto": "https"})
            assert proto_only.status_code == 200
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=30)[0]
    clients = {r["request_id"]: r["client"] for r in access_records(output) if r.get("request_id")}
    assert clients["forwarded-1"] == f"{ELSEWHERE}:0"
    assert clients["direct-1"].startswith("127.0.0.1:") and clients["direct-1"] != "127.0.0.1:0"


def test_an_untrusted_peer_cannot_claim_another_address(tmp_path: Path) -> None:
    """With `FORWARDED_ALLOW_IPS` naming another proxy, a loopback client's X-Forwarded-For is ignored: the
    address is the connection's."""
    path = tmp_path / "gateway.toml"
    path.write_text(CONFIG)
    env = {"FORWARDED_ALLOW_IPS": "192.0.2.1"}
    with serve("--config", str(path), cwd=tmp_path, env=env) as (process, url):
        with httpx.Client(base_url=url, timeout=10) as http:
            assert http.get("/admin/status", headers={"x-forwarded-for": ELSEWHERE}).status_code == 200
            answer = http.post("/v1/chat/completions", json=CHAT,
                               headers={"x-forwarded-for": ELSEWHERE, "x-request-id": "claimed-1"})
            assert answer.status_code == 200
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=30)[0]
    [record] = [r for r in access_records(output) if r.get("request_id") == "claimed-1"]
    assert record["client"].startswith("127.0.0.1:")
