"""A fleet on one machine: real `gateway serve` processes on one config, behind a real nginx running
deploy/nginx.conf itself (the replicas' addresses and the listen port swapped for loopback ports).

    with running_fleet(config_text, tmp_path) as fleet:
        response = httpx.post(fleet.url + "/v1/chat/completions", json=...)
        fleet.replica_of(response)          # "gateway-a": the replica that answered (nginx's X-Gateway-Replica)
        fleet.replicas["gateway-a"].process.send_signal(signal.SIGTERM)

Each replica's output goes to `<name>.log` in the work dir; nginx's error log to `nginx-error.log`.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx

from tests.support import free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
DEPLOY_NGINX = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"
_SERVER = re.compile(r"^(\s*server\s+)([\w.-]+):(\d+)(\s+resolve)?", re.MULTILINE)


def nginx_available() -> bool:
    return os.access(NGINX, os.X_OK)


def upstream_servers(conf: str) -> list[tuple[str, int]]:
    """The (host, port) of each `server` line of the upstream block, in order."""
    return [(m.group(2), int(m.group(3))) for m in _SERVER.finditer(conf)]


def render_nginx(conf: str, ports: list[int], listen: int, workdir: Path) -> str:
    """deploy/nginx.conf for loopback: its upstream servers become 127.0.0.1:`ports` (in order), it listens on
    `listen`, and it is wrapped in the main context (no daemon, files inside `workdir`)."""
    servers = iter(ports)
    conf = _SERVER.sub(lambda m: f"{m.group(1)}127.0.0.1:{next(servers)}", conf)
    conf = re.sub(r"^\s*resolver\s.*$", "", conf, flags=re.MULTILINE)  # Docker's DNS: not here
    conf = re.sub(r"^(\s*)listen\s+\d+;", rf"\g<1>listen 127.0.0.1:{listen};", conf, flags=re.MULTILINE)
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers as root: they touch only workdir
    temp = "".join(f"    {kind}_temp_path {workdir / (kind + '_temp')};\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (f"daemon off;\nmaster_process on;\nworker_processes 1;\n{user}pid {workdir / 'nginx.pid'};\n"
            f"error_log {workdir / 'nginx-error.log'} warn;\nevents {{ worker_connections 1024; }}\n"
            f"http {{\n    access_log off;\n{temp}{conf}\n}}\n")


class Answered(Protocol):
    """An answer with headers: httpx's, or the openai SDK's raw response (`.with_raw_response`)."""

    @property
    def headers(self) -> Mapping[str, str]: ...


@dataclass
class Replica:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Fleet:
    url: str  # nginx
    replicas: dict[str, Replica]
    workdir: Path
    by_address: dict[str, str] = field(default_factory=dict)

    def replica_of(self, response: Answered) -> str:
        """The replica that answered: the last address nginx tried (X-Gateway-Replica: "a, b" after a retry)."""
        address = response.headers["x-gateway-replica"].split(",")[-1].strip()
        return self.by_address[address]


def _start_replica(name: str, config: Path, workdir: Path) -> Replica:
    port = free_port()
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--config", str(config), "--port", str(port)],
            cwd=workdir, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    return Replica(name, port, process, log)


def _wait_ready(url: str, alive: subprocess.Popen[bytes], what: str, log: Path, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if alive.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{what} did not start:\n{log.read_text(errors='replace') if log.exists() else ''}")
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(10)


@contextmanager
def running_fleet(config: str, workdir: Path) -> Iterator[Fleet]:
    """The replicas named in deploy/nginx.conf, each a `gateway serve` on `config`, behind nginx."""
    conf = DEPLOY_NGINX.read_text()
    names = [host for host, _ in upstream_servers(conf)]
    path = workdir / "gateway.toml"
    path.write_text(config)
    with ExitStack() as stack:
        replicas = {name: _start_replica(name, path, workdir) for name in names}  # started together
        for replica in replicas.values():
            stack.callback(_stop, replica.process)
        for replica in replicas.values():
            _wait_ready(replica.url + "/readyz", replica.process, replica.name, replica.log)
        listen = free_port()
        nginx_conf = workdir / "nginx.conf"
        nginx_conf.write_text(render_nginx(conf, [r.port for r in replicas.values()], listen, workdir))
        nginx = subprocess.Popen([NGINX, "-p", str(workdir), "-c", str(nginx_conf), "-e",
                                  str(workdir / "nginx-error.log")], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.STDOUT)
        stack.callback(_stop_nginx, nginx)
        _wait_port(listen, nginx, workdir / "nginx-error.log")
        yield Fleet(f"http://127.0.0.1:{listen}", replicas, workdir,
                    {f"127.0.0.1:{r.port}": r.name for r in replicas.values()})


def _wait_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"nginx did not start:\n{log.read_text(errors='replace') if log.exists() else ''}")
        time.sleep(0.02)


def _stop_nginx(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()  # fast shutdown
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait(5)
