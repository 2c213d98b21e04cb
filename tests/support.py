"""Run real ASGI servers on loopback for tests (sync or async tests alike: the server has its own thread and loop)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class RunningServer:
    host: str
    port: int
    server: uvicorn.Server

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@contextmanager
def run_server(app: Any, *, host: str = "127.0.0.1") -> Iterator[RunningServer]:
    """Serve ``app`` with uvicorn on ``host`` and a free port in a daemon thread; stop it on exit."""
    config = uvicorn.Config(
        app, host=host, port=0, loop="asyncio", log_level="warning", lifespan="on", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def target() -> None:
        try:
            server.run()
        except BaseException as exc:  # report it from the test's thread rather than as a thread exception
            failure.append(exc)

    thread = threading.Thread(target=target, name=f"uvicorn-{host}", daemon=True)
    thread.start()
    deadline = time.monotonic() + _TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            cause = failure[0] if failure else None
            reason = repr(cause) if cause else ("timed out" if thread.is_alive() else "server thread exited")
            raise RuntimeError(f"uvicorn server for {app!r} did not start: {reason}") from cause
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield RunningServer(host=host, port=port, server=server)
    finally:
        server.should_exit = True
        thread.join(_TIMEOUT_S)
        if thread.is_alive():
            raise RuntimeError(f"uvicorn server on {host}:{port} did not stop within {_TIMEOUT_S} s")


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (bind to port 0, read the number, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def closed_port(host: str = "127.0.0.1") -> int:
    """A port where nothing listens: connecting to it is refused."""
    return free_port(host)


@contextmanager
def serve(
    *args: str, cwd: Path, env: dict[str, str] | None = None, launcher: Sequence[str] = ()
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`python -m gateway serve` as a user runs it, on a free port; killed at the end. `launcher`: a command
    that runs it (`opentelemetry-instrument`, say)."""
    port = free_port()
    process = subprocess.Popen(
        [*launcher, sys.executable, "-m", "gateway", "serve", "--port", str(port), *args],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"gateway did not start:\n{process.communicate()[0]}")
            time.sleep(0.1)
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
