"""gateway/serving.py's limits as config: the `[server]` connection limits and a provider's `max_response_bytes`
are checked by `gateway check` with their key paths, and reach uvicorn's config as `gateway serve` builds it.
(What the limits do to real clients: tests/e2e/test_hostile_clients.py; to upstreams: test_hostile_upstreams.py.)"""

from __future__ import annotations

import logging
import pickle
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from gateway.config import parse_config
from gateway.serving import ConnectionLimits, GatewayUvicornConfig, GuardedHttpToolsProtocol, RefusalLog, error_bytes

BASE = """
[[providers]]
name = "mock"
type = "mock"
{provider}

[[routes]]
model = "chat"
  [[routes.targets]]
  provider = "mock"
  model = "m"
"""


def test_the_limits_come_from_the_server_section() -> None:
    config = parse_config("[server]\nheader_timeout_s = 2.5\nbody_timeout_s = 7\nkeepalive_timeout_s = 1.5\n"
                          "max_header_bytes = 4096\nmax_connections = 10\nbacklog = 64\n" + BASE.format(provider=""))
    assert ConnectionLimits.from_config(config.server) == ConnectionLimits(2.5, 7.0, 1.5, 4096, 10)
    assert config.server.backlog == 64
    defaults = parse_config(BASE.format(provider="max_response_bytes = 1024"))
    assert ConnectionLimits.from_config(defaults.server) == ConnectionLimits()
    assert defaults.providers[0].max_response_bytes == 1024


def test_gateway_check_names_each_bad_limit(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nheader_timeout_s = 0\nbody_timeout_s = -1\nmax_header_bytes = 10\nmax_connections = 0\n"
                   'backlog = "many"\n' + BASE.format(provider="max_response_bytes = 0"))
    result = subprocess.run([sys.executable, "-m", "gateway", "check", "--config", str(bad)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1
    for key in ("server.header_timeout_s", "server.body_timeout_s", "server.max_header_bytes",
                "server.max_connections", "server.backlog", "providers[0].max_response_bytes"):
        assert key in result.stderr, (key, result.stderr)


def test_the_uvicorn_config_carries_the_limits_to_every_worker() -> None:
    """`--workers N` pickles uvicorn's config into each worker process: the limits go with it."""
    limits = ConnectionLimits(1.0, 2.0, 3.0, 4096, 5)
    config = GatewayUvicornConfig("gateway.cli:worker_app", factory=True, http="httptools", limits=limits)
    copy = pickle.loads(pickle.dumps(config))
    assert copy.limits == limits and copy.http is GuardedHttpToolsProtocol


def test_a_refusal_is_a_whole_response_in_openai_shape() -> None:
    raw = error_bytes(431, "request_header_fields_too_large", "too big")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert b"connection: close" in head and b"content-length: %d" % len(body) in head
    assert orjson.loads(body) == {"error": {"message": "too big", "type": "invalid_request_error", "param": None,
                                            "code": "request_header_fields_too_large"}}


def test_refusals_after_the_first_are_counted_into_one_line_a_period(caplog: pytest.LogCaptureFixture) -> None:
    refusals = RefusalLog(every_s=0.2)
    with caplog.at_level(logging.WARNING, logger="gateway.serving"):
        for _ in range(3):
            refusals.note(400, "invalid_http", ("10.0.0.1", 5555))
        time.sleep(0.25)
        refusals.note(431, "request_header_fields_too_large", None)
    lines = [r.getMessage() for r in caplog.records if r.name == "gateway.serving"]
    assert len(lines) == 2 and "400 invalid_http, from 10.0.0.1:5555" in lines[0]
    assert lines[1].startswith("refused 3 request(s)")
    assert "431 request_header_fields_too_large, from a client" in lines[1]
    assert refusals.total == 4
