"""Run real ASGI servers on loopback for tests (sync or async tests alike: the server has its own thread and loop)."""

from __future__ import annotations

import contextlib
import os
import signal
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

from gateway.middleware import GatewayApp
from gateway.serving import ConnectionLimits, GatewayUvicornConfig

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
def run_server(app: Any, *, host: str = "127.0.0.1", http: Any = None) -> Iterator[RunningServer]:
    """Serve ``app`` with uvicorn on ``host`` and a free port in a daemon thread; stop it on exit.

    A gateway app (`create_app`'s) is served as `gateway serve` serves it: `GatewayUvicornConfig`, so with the
    serving protocol's limits (`GuardedHttpToolsProtocol`, the `[server]` defaults) and `ForwardedHeaders`.
    Anything else (the fake providers), or any app with `http` given ("auto": uvicorn's own), on plain uvicorn."""
    options: dict[str, Any] = dict(host=host, port=0, loop="asyncio", log_level="warning", lifespan="on",
                                   timeout_graceful_shutdown=2)
    if http is None and isinstance(app, GatewayApp):
        config: uvicorn.Config = GatewayUvicornConfig(app, limits=ConnectionLimits(), **options)
    else:
        config = uvicorn.Config(app, http=http or "auto", **options)
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


class GatewayProcess(subprocess.Popen[str]):
    """`gateway serve` in a process group of its own, its output read all along by a thread: a gateway that
    printed more than a pipe holds (64 KB: a test that draws a few hundred warnings) would otherwise block on
    its next line. What it printed is what `communicate` returns, as for any Popen."""

    def __init__(self, argv: list[str], **options: Any) -> None:
        super().__init__(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                         **options)
        self._printed: list[str] = []
        self._reader = threading.Thread(target=self._printed.extend, args=(self.stdout,), daemon=True)
        self._reader.start()

    def communicate(self, input: str | None = None, timeout: float | None = None) -> tuple[str, str]:
        self.wait(timeout)
        self._reader.join(timeout)
        return "".join(self._printed), ""

    def stop(self) -> None:
        """Kill it and whatever it started (`--workers`' processes would outlive their parent)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.communicate(timeout=10)
        if self.stdout is not None and not self._reader.is_alive():
            self.stdout.close()


@contextmanager
def serve(
    *args: str, cwd: Path, env: dict[str, str] | None = None, launcher: Sequence[str] = ()
) -> Iterator[tuple[GatewayProcess, str]]:
    """`python -m gateway serve` as a user runs it, on a free port; killed at the end. `launcher`: a command
    that runs it (`opentelemetry-instrument`, say)."""
    port = free_port()
    process = GatewayProcess(
        [*launcher, sys.executable, "-m", "gateway", "serve", "--port", str(port), *args],
        cwd=cwd, env={**os.environ, **(env or {})},
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
                process.stop()
                raise AssertionError(f"gateway did not start:\n{process.communicate()[0]}")
            time.sleep(0.1)
        yield process, url
    finally:
        process.stop()
