"""The serving process's end of the telemetry process: start it, hand it records, ask it things.

    link = TelemetryLink(Start(...))      # starts `python -m gateway.telemetry.process`
    link.submit(record)                   # the request path: a deque append, never a wait
    link.call("flush", timeout_s=10)      # blocking, from any thread; answered after every earlier record
    await link.acall("scrape", 5)         # the same, for the event loop
    link.close(5)                         # flush, stop, wait for the process

A shipper thread sends what piled up every SHIP_INTERVAL_S, sooner when BATCH items wait, as length-prefixed
pickles over a socketpair (both ends are this package's code). A reader thread takes the replies and the
telemetry process's log lines, which are logged again here so that one process's log tells everything.

Telemetry never holds up a request: when the telemetry process falls behind, records wait in the deque up
to `max_pending`, past that they are dropped and counted (logged once per episode). When it exits, it is
started again after a pause that doubles up to a minute, and what it had not exported is lost.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import os
import pickle
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gateway.telemetry.records import Call, LogLine, Reply, Start

log = logging.getLogger("gateway.telemetry")

SHIP_INTERVAL_S = 0.05
BATCH = 256  # items waiting that wake the shipper before its interval
CHUNK = 128  # items per frame: a pickle holds the GIL while it runs, so keep each one short
MAX_PENDING = 50_000  # about 15 s of a busy process's records; a few tens of MB at most
RESTART_PAUSE_S = (1.0, 60.0)
_FRAME = struct.Struct("!I")
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class TelemetryUnavailableError(RuntimeError):
    """The telemetry process is not running (it exited, or the link is closed)."""


class Channel:
    """Length-prefixed pickles over a stream socket: `send` from any thread, `receive` from one."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._reader = sock.makefile("rb")
        self._lock = threading.Lock()

    def send(self, items: list[Any]) -> None:
        payload = pickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            self.sock.sendall(_FRAME.pack(len(payload)) + payload)

    def receive(self) -> list[Any] | None:
        """The next frame's items; None once the other end closed."""
        try:
            header = self._reader.read(_FRAME.size)
            if len(header) < _FRAME.size:
                return None
            (size,) = _FRAME.unpack(header)
            payload = self._reader.read(size)
        except OSError:
            return None
        if len(payload) < size:
            return None
        items: list[Any] = pickle.loads(payload)
        return items

    def close(self) -> None:
        for closing in (self._reader.close, self.sock.close):
            try:
                closing()
            except OSError:
                pass


class TelemetryLink:
    def __init__(self, start: Start, env: Mapping[str, str] | None = None, *, max_pending: int = MAX_PENDING) -> None:
        self._start = start
        self._env = env
        self.max_pending = max_pending
        self.dropped = 0  # records this side could not hand over (queue full, process gone)
        self.snapshot: Callable[[], Any] | None = None  # state sent with each batch (in-flight counts)
        self._pending: deque[Any] = deque()
        self._wake = threading.Event()
        self._calls: dict[int, concurrent.futures.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._closed = False
        self._overflowing = False
        self._pause = RESTART_PAUSE_S[0]
        self._restart_at = 0.0
        self._started_at = 0.0
        self._channel: Channel | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._spawn()
        self._shipper = threading.Thread(target=self._ship, name="telemetry-shipper", daemon=True)
        self._shipper.start()

    # -- what the serving process calls ------------------------------------------------------------------

    def submit(self, item: Any) -> None:
        pending = self._pending
        if len(pending) >= self.max_pending:
            self._overflow()
            return
        pending.append(item)
        if len(pending) == BATCH:
            self._wake.set()

    def call(self, kind: str, timeout_s: float = 10.0) -> Any:
        """Ask the telemetry process (`flush`, `scrape`, `stats`, `stop`) and wait for its answer."""
        return self._ask(kind, timeout_s).result(timeout_s + 1)

    async def acall(self, kind: str, timeout_s: float = 10.0) -> Any:
        return await asyncio.wait_for(asyncio.wrap_future(self._ask(kind, timeout_s)), timeout_s + 1)

    def close(self, timeout_s: float = 5.0) -> None:
        """Export what is left (for at most `timeout_s`), stop the telemetry process, and the threads."""
        if self._closed:
            return
        try:
            self.call("stop", timeout_s)
        except Exception:
            pass
        self._closed = True
        self._wake.set()
        self._shipper.join(1)
        process, channel = self._process, self._channel
        if channel is not None:
            channel.close()
        if process is not None:
            try:
                process.wait(2)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The telemetry process's pid (the current one: it changes when it is restarted)."""
        return None if self._process is None else self._process.pid

    # -- the shipper ---------------------------------------------------------------------------------------

    def _ask(self, kind: str, timeout_s: float) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        if self._closed:
            future.set_exception(TelemetryUnavailableError("telemetry is stopped"))
            return future
        call = Call(next(self._ids), kind, timeout_s)
        self._calls[call.id] = future
        self._pending.append(call)  # in line with the records before it; never dropped
        self._wake.set()
        return future

    def _ship(self) -> None:
        while not self._closed:
            self._wake.wait(SHIP_INTERVAL_S)
            self._wake.clear()
            items = self._drain()
            if self.snapshot is not None and (state := self.snapshot()) is not None:
                items.insert(0, state)  # before any call among the items: a flush must see it
            if items:
                self._send(items)

    def _drain(self) -> list[Any]:
        pending, items = self._pending, []
        for _ in range(len(pending)):
            items.append(pending.popleft())
        if self._overflowing and len(pending) < self.max_pending // 2:
            self._overflowing = False
        return items

    def _send(self, items: list[Any]) -> None:
        if not self.running and not self._restart():
            self._lose(items)
            return
        channel = self._channel
        assert channel is not None
        for start in range(0, len(items), CHUNK):
            chunk = items[start:start + CHUNK]
            try:
                channel.send(chunk)
            except OSError:  # the process went away mid-send; the reader sees it too
                self._lose(items[start:])
                return

    def _lose(self, items: list[Any]) -> None:
        for item in items:
            if isinstance(item, Call):
                self._fail(item.id)
            else:
                self.dropped += 1

    def _overflow(self) -> None:
        self.dropped += 1
        if not self._overflowing:
            self._overflowing = True
            log.warning("telemetry: the telemetry process is %d records behind; new ones are dropped and counted "
                        "until it catches up (requests are not affected; logged once per episode)",
                        self.max_pending)

    def _fail(self, call_id: int) -> None:
        future = self._calls.pop(call_id, None)
        if future is not None and not future.done():
            future.set_exception(TelemetryUnavailableError("the telemetry process is not running"))

    # -- the telemetry process -------------------------------------------------------------------------

    def _spawn(self) -> None:
        mine, theirs = socket.socketpair()
        env = dict(os.environ if self._env is None else self._env)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        # Its own session: a Ctrl-C in the terminal reaches the gateway, which stops it after a last flush.
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway.telemetry.process", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=env, start_new_session=True,
        )
        theirs.close()
        channel = Channel(mine)
        channel.send([self._start])
        self._channel, self._process, self._started_at = channel, process, time.monotonic()
        threading.Thread(target=self._read, args=(channel, process), name="telemetry-reader", daemon=True).start()

    def _restart(self) -> bool:
        """Start the telemetry process again, once the pause after it exited is over."""
        if self._closed or time.monotonic() < self._restart_at:
            return False
        log.info("telemetry: starting the telemetry process again")
        if self._channel is not None:
            self._channel.close()
        self._spawn()
        return True

    def _read(self, channel: Channel, process: subprocess.Popen[bytes]) -> None:
        while (items := channel.receive()) is not None:
            for item in items:
                if isinstance(item, Reply):
                    future = self._calls.pop(item.id, None)
                    if future is not None and not future.done():
                        future.set_result(item.value)
                elif isinstance(item, LogLine):
                    logging.getLogger(item.name).log(item.level, "%s", item.message)
        code = process.wait()
        if self._closed or process is not self._process:
            return
        for call_id in list(self._calls):
            self._fail(call_id)
        now = time.monotonic()
        if now - self._started_at > RESTART_PAUSE_S[1]:  # it had been running fine: a short pause again
            self._pause = RESTART_PAUSE_S[0]
        self._restart_at = now + self._pause
        self._pause = min(self._pause * 2, RESTART_PAUSE_S[1])
        log.error("telemetry: the telemetry process exited (code %s); what it had not exported is lost. It is "
                  "started again in %.0f s; requests are not affected", code, self._restart_at - time.monotonic())
