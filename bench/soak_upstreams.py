"""The soak's upstreams: fake OpenAI servers behind fault proxies, faults switched on and off on a schedule.

    python bench/soak_upstreams.py SPEC.json      (started by soak.py, in its own process)

Each target is a `tests.fakes.openai_compat.FakeOpenAI` on its own port, reached through a small TCP proxy
on another port (the one the gateway's config names). The fake injects what it can script (5xx, 429 with
Retry-After, a slow first byte, silence before the first token, a stream cut, a stall mid-stream, malformed
events); the proxy what needs the socket: a reset (RST after reading the request) and a hang-up (read the
request, say nothing, close cleanly). Switching the proxy into a fault drops the connections it was piping,
so the gateway's pooled keep-alive connections meet the fault too. The schedule is the `windows` of the spec,
in seconds from `start_at` (wall clock), the same list soak.py judges the answers with.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import uvicorn  # noqa: E402

from tests.fakes.openai_compat import (  # noqa: E402
    Behaviour,
    CutAfter,
    Fail,
    FakeOpenAI,
    Malformed,
    Silent,
    Stall,
)

HANG_UP_AFTER_S = 3.0  # a hang-up: silence this long, then the connection closes without an answer


def fake_behaviour(kind: str) -> Behaviour | None:
    """What the fake does during a window of `kind`; None for the proxy's faults."""
    behaviours: dict[str, Behaviour] = {
        "5xx": Fail(503),
        "429": Fail(429, retry_after=2),
        "slow-first-byte": Stall(4.0),
        "no-first-token": Silent(after=0, seconds=40.0),
        "stream-cut": CutAfter(3),
        "stall": Silent(after=2, seconds=40.0),
        "malformed": Malformed(after=1, count=3),
    }
    return behaviours.get(kind)


PROXY_FAULTS = ("reset", "hang-up")
KINDS = ("5xx", "429", "reset", "hang-up", "slow-first-byte", "no-first-token", "stream-cut", "stall", "malformed")


@dataclass
class Window:
    target: str
    kind: str
    start: float  # seconds from the start
    end: float

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Window:
        return cls(data["target"], data["kind"], float(data["start"]), float(data["end"]))


class FaultProxy:
    """Pipes TCP to the fake, or (mode "reset" / "hang-up") answers each connection with that fault."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.mode = "pass"
        self.piped: set[asyncio.StreamWriter] = set()

    def switch(self, mode: str) -> None:
        self.mode = mode
        if mode != "pass":
            for writer in list(self.piped):  # the pooled connections meet the fault as well
                _reset(writer)
            self.piped.clear()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        mode = self.mode
        try:
            if mode == "pass":
                await self._pipe(reader, writer)
                return
            with contextlib.suppress(asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            if mode == "reset":
                _reset(writer)
                return
            await asyncio.sleep(HANG_UP_AFTER_S)
            writer.close()
        except (TimeoutError, ConnectionError, OSError):
            _reset(writer)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            _reset(writer)
            return
        self.piped.add(writer)
        try:
            await asyncio.gather(_copy(reader, up_writer), _copy(up_reader, writer))
        finally:
            self.piped.discard(writer)
            for end in (writer, up_writer):
                with contextlib.suppress(Exception):
                    end.close()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError):
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def apply_schedule(windows: list[Window], start_at: float, fakes: dict[str, FakeOpenAI],
                         proxies: dict[str, FaultProxy]) -> None:
    events = sorted([(w.start, "on", w) for w in windows] + [(w.end, "off", w) for w in windows],
                    key=lambda e: (e[0], e[1] == "on"))  # at one instant, "off" before "on"
    for at, what, window in events:
        await asyncio.sleep(max(0.0, start_at + at - time.time()))
        on = what == "on"
        if window.kind in PROXY_FAULTS:
            proxies[window.target].switch(window.kind if on else "pass")
        else:
            fakes[window.target].always = fake_behaviour(window.kind) if on else None
        print(json.dumps({"t": round(time.time() - start_at, 1), "fault": window.kind, "target": window.target,
                          "on": on}), flush=True)


async def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    fakes: dict[str, FakeOpenAI] = {}
    proxies: dict[str, FaultProxy] = {}
    servers = []
    for name, ports in spec["targets"].items():
        fake = fakes[name] = FakeOpenAI()
        # longer keep-alive than the gateway's pool (30 s): the pool, not the server, retires idle connections
        config = uvicorn.Config(fake.app, host="127.0.0.1", port=ports["fake"], log_level="warning",
                                timeout_keep_alive=75, lifespan="off")
        servers.append(uvicorn.Server(config))
        proxy = proxies[name] = FaultProxy(ports["fake"])
        await asyncio.start_server(proxy.handle, "127.0.0.1", ports["proxy"], backlog=1024)
    serving = [asyncio.create_task(server.serve()) for server in servers]
    windows = [Window.from_json(w) for w in spec["windows"]]
    print(json.dumps({"ready": True}), flush=True)
    await apply_schedule(windows, spec["start_at"], fakes, proxies)
    await asyncio.gather(*serving)  # until soak.py stops this process


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(sys.argv[1]))
