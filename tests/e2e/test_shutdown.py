"""Shutdown and crash (issue 18, item 5), with `gateway serve` as a real process.

- SIGTERM with 500 streams in flight: every stream finishes whole within `shutdown_grace_s`, new connections
  are refused from the moment the drain starts, and the process exits on its own.
- `--workers 2` and one worker killed with SIGKILL: the supervisor starts a replacement, and the other worker
  keeps serving; the only requests that fail are the ones in flight on the dead worker's connections.

The streams are short (a few seconds) so that 500 of them fit the suite on two cores; they come from the
built-in mock provider, which streams token by token without sockets of its own, so the gateway's own drain
is what is measured, not an upstream's.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support import serve

ADMIN = "admin-key-for-shutdown"
WORDS = "one two three four five six seven eight nine ten eleven twelve"
MESSAGES = [{"role": "user", "content": WORDS}]
EXPECTED = f"This is the gateway's mock model (mock-chat). You said: {WORDS}"


def config(token_delay_ms: float, grace_s: float, drain_delay_s: float = 0) -> str:
    return (f'[server]\nshutdown_grace_s = {grace_s}\ndrain_delay_s = {drain_delay_s}\n'
            '[telemetry]\nexporter = "none"\n[cache]\nbackend = "none"\n'
            f'[limits]\nspend_file = ""\n[admin]\nkey = "{ADMIN}"\n'
            f'[[providers]]\nname = "m"\ntype = "mock"\ntoken_delay_ms = {token_delay_ms}\n'
            '[[routes]]\nmodel = "chat"\n  [[routes.targets]]\n  provider = "m"\n  model = "mock-chat"\n')


def text_of(lines: list[str]) -> str:
    text = ""
    for line in lines:
        if line != "[DONE]":
            for choice in json.loads(line)["choices"]:
                text += choice["delta"].get("content") or ""
    return text


def refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True
    except TimeoutError:  # the moment the listening socket closes: its SYN was dropped (gateway/listener.py)
        return False


# -- SIGTERM ---------------------------------------------------------------------------------------------------


@dataclass
class Streams:
    started: int = 0
    finished: int = 0
    all_started: asyncio.Event = field(default_factory=asyncio.Event)
    answers: list[list[str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def one_stream(client: httpx.AsyncClient, url: str, streams: Streams, total: int) -> None:
    body = {"model": "chat", "messages": MESSAGES, "stream": True}
    lines: list[str] = []
    try:
        async with client.stream("POST", url + "/v1/chat/completions", json=body) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                if not lines:
                    streams.started += 1
                    if streams.started == total:
                        streams.all_started.set()
                lines.append(line[6:])
    except (httpx.HTTPError, AssertionError) as exc:
        streams.errors.append(repr(exc))
    finally:
        streams.finished += 1
        streams.answers.append(lines)


async def drain_under_sigterm(process: subprocess.Popen[str], url: str, port: int, total: int) -> dict[str, float]:
    streams = Streams()
    limits = httpx.Limits(max_connections=total + 10, max_keepalive_connections=total + 10)
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(30, connect=10)) as client:
        tasks = [asyncio.create_task(one_stream(client, url, streams, total)) for _ in range(total)]
        await asyncio.wait_for(streams.all_started.wait(), 20)
        assert streams.finished == 0, "a stream ended before SIGTERM: make them longer"
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        while not await asyncio.to_thread(refused, port):
            assert time.monotonic() - signalled < 5, "new connections still accepted 5 s after SIGTERM"
            await asyncio.sleep(0.05)
        refused_after = time.monotonic() - signalled
        in_flight_when_refused = total - streams.finished
        await asyncio.gather(*tasks)
        drained_after = time.monotonic() - signalled
    assert streams.errors == []
    assert len(streams.answers) == total
    cut = [lines for lines in streams.answers if not lines or lines[-1] != "[DONE]" or text_of(lines) != EXPECTED]
    assert cut == [], f"{len(cut)} streams cut, e.g. {cut[0]}"
    return {"refused_after": refused_after, "in_flight_when_refused": in_flight_when_refused,
            "drained_after": drained_after}


def test_sigterm_with_500_streams_in_flight_lets_every_one_finish_and_refuses_new_connections(
    tmp_path: Path,
) -> None:
    grace_s = 20.0
    path = tmp_path / "gateway.toml"
    path.write_text(config(token_delay_ms=200, grace_s=grace_s))  # 20 tokens: about 4 s a stream
    with serve("--config", str(path), cwd=tmp_path) as (process, url):
        port = int(url.rsplit(":", 1)[1])
        figures = asyncio.run(drain_under_sigterm(process, url, port, 500))
        process.wait(grace_s)  # it exits on its own, within the grace period
    assert figures["in_flight_when_refused"] > 0  # refused while the drain was still going on
    assert figures["drained_after"] < grace_s
    # uvicorn raises the signal again once it has shut down, so the exit is the usual "terminated by SIGTERM"
    assert process.returncode in (0, -signal.SIGTERM)


# -- SIGTERM under a steady load of calls -----------------------------------------------------------------------


@dataclass
class Outcomes:
    ok: list[float] = field(default_factory=list)  # when each answered call was made
    refused: list[float] = field(default_factory=list)  # connection refused: the call never reached the gateway
    failed: list[str] = field(default_factory=list)  # anything else: a call sent and lost


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_under_a_steady_load_fails_no_call_it_had_accepted(tmp_path: Path, workers: int) -> None:
    """Eight clients call without pause while a long stream runs; SIGTERM comes. For the drain delay every call
    is answered; then the gateway stops accepting. Each call is answered or refused at connect: not one is
    accepted and then reset (the request queued in the listening socket's backlog, or accepted and not yet read,
    when the socket closed), and not one waits on a socket nobody accepts from (with `--workers`, the parent's
    copy of it). The stream finishes whole."""
    path = tmp_path / "gateway.toml"
    path.write_text(config(token_delay_ms=150, grace_s=20, drain_delay_s=0.3))  # the stream: about 3 s
    with serve("--config", str(path), "--workers", str(workers), cwd=tmp_path) as (process, url):
        port = int(url.rsplit(":", 1)[1])
        outcomes, stop = Outcomes(), threading.Event()

        def call_without_pause() -> None:
            body = {"model": "chat", "messages": MESSAGES}
            with httpx.Client(base_url=url, timeout=httpx.Timeout(10, connect=5)) as http:
                while not stop.is_set():
                    sent = time.monotonic()
                    try:
                        response = http.post("/v1/chat/completions", json=body)
                        assert response.status_code == 200, response.text
                        outcomes.ok.append(sent)
                    except httpx.ConnectError:
                        outcomes.refused.append(sent)
                        time.sleep(0.01)
                    except (httpx.HTTPError, AssertionError) as exc:
                        outcomes.failed.append(f"{time.monotonic() - signalled:+.3f} s: {exc!r}")

        with httpx.Client(timeout=30) as streaming, streaming.stream(
            "POST", url + "/v1/chat/completions", json={"model": "chat", "messages": MESSAGES, "stream": True}
        ) as stream:
            lines = stream.iter_lines()
            events = [next(line for line in lines if line.startswith("data: "))]
            signalled = time.monotonic() + 3600  # (until SIGTERM below)
            threads = [threading.Thread(target=call_without_pause) for _ in range(8)]
            for thread in threads:
                thread.start()
            time.sleep(0.5)
            signalled = time.monotonic()
            process.send_signal(signal.SIGTERM)
            while not refused(port):
                assert time.monotonic() - signalled < 5, "new connections still accepted 5 s after SIGTERM"
                time.sleep(0.02)
            time.sleep(0.5)  # calls go on against the closed port while the stream finishes
            stop.set()
            for thread in threads:
                thread.join(15)
            events += [line for line in lines if line.startswith("data: ")]
        process.wait(20)
    assert outcomes.failed == [], outcomes.failed
    assert any(sent > signalled for sent in outcomes.ok)  # served during the drain delay
    assert any(sent > signalled for sent in outcomes.refused)  # and refused after it
    assert events[-1] == "data: [DONE]" and text_of([e[6:] for e in events]) == EXPECTED


# -- SIGKILL of one worker -----------------------------------------------------------------------------------


@dataclass
class Client:
    """One client on one keep-alive connection, hence one worker: `pid` says which."""

    http: httpx.Client
    pid: int
    ok: int = 0
    failed: list[str] = field(default_factory=list)


def connect(url: str) -> Client:
    http = httpx.Client(base_url=url, timeout=10, limits=httpx.Limits(max_connections=1),
                        headers={"authorization": f"Bearer {ADMIN}"})
    return Client(http, http.get("/admin/status").json()["process"])


def exchange(client: Client, i: int) -> None:
    """A chat, streamed every other time, fully read; raises on anything short of a whole answer."""
    body = {"model": "chat", "messages": MESSAGES, "stream": i % 2 == 0}
    if not body["stream"]:
        response = client.http.post("/v1/chat/completions", json=body)
        assert response.status_code == 200, response.text
        assert response.json()["choices"][0]["message"]["content"] == EXPECTED
        return
    with client.http.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        lines = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]" and text_of(lines) == EXPECTED


def workers(url: str) -> set[int]:
    """The worker pids answering on fresh connections (a dozen tries: each may land on either)."""
    pids = set()
    for _ in range(12):
        client = connect(url)
        client.http.close()
        pids.add(client.pid)
    return pids


def test_a_worker_killed_with_sigkill_is_replaced_and_the_other_keeps_serving(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(config(token_delay_ms=10, grace_s=5))
    with serve("--config", str(path), "--workers", "2", cwd=tmp_path) as (process, url):
        clients: list[Client] = []
        deadline = time.monotonic() + 20
        while len({c.pid for c in clients}) < 2 or len(clients) < 12:  # both workers have clients
            assert time.monotonic() < deadline, "the two workers never both took a connection"
            clients.append(connect(url))
        victim = next(c.pid for c in clients if sum(d.pid == c.pid for d in clients) >= 2)
        before = {c.pid for c in clients}
        stop = threading.Event()
        fresh: list[str] = []  # requests on connections opened after the kill

        def run(client: Client) -> None:
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    exchange(client, i)
                    client.ok += 1
                except (httpx.HTTPError, AssertionError, KeyError, ValueError) as exc:
                    client.failed.append(repr(exc))
                    if client.pid != victim:
                        return  # a failure on the surviving worker: reported below
                    client.http.close()
                    try:
                        replacement = connect(url)
                    except httpx.HTTPError as again:
                        fresh.append(repr(again))
                        return
                    client.http, client.pid = replacement.http, replacement.pid

        threads = [threading.Thread(target=run, args=(c,)) for c in clients]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        bound = {id(c): c.pid for c in clients}  # who was on which worker when it died
        os.kill(victim, signal.SIGKILL)
        time.sleep(0.5)
        after_kill = [connect(url) for _ in range(6)]  # new connections during the replacement go to the survivor
        replaced = time.monotonic() + 20
        while True:
            pids = workers(url)
            if victim not in pids and len(pids) == 2:
                break
            assert time.monotonic() < replaced, f"no replacement worker: answering pids {pids}"
            time.sleep(0.2)
        for extra in after_kill:
            for i in range(4):
                exchange(extra, i)  # every request on a new connection succeeds
            extra.http.close()
        time.sleep(0.5)
        stop.set()
        for thread in threads:
            thread.join(15)
        for client in clients:
            client.http.close()
        assert process.poll() is None  # the parent supervisor is still up
    survivors = [c for c in clients if bound[id(c)] != victim]
    on_victim = [c for c in clients if bound[id(c)] == victim]
    assert survivors and on_victim
    assert all(c.failed == [] for c in survivors), [c.failed for c in survivors if c.failed]
    assert all(c.ok > 0 for c in clients)
    assert all(len(c.failed) <= 1 for c in on_victim), [c.failed for c in on_victim]  # only what was in flight
    assert fresh == [] and pids - before  # a new process serves beside the survivor
