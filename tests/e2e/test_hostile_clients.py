"""Clients that try to hold the gateway's connections and memory: `gateway serve` as users run it, spoken to over
raw sockets. Each limit is a `[server]` key (gateway/serving.py); each refusal is OpenAI's error shape."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import httpx
import pytest

from tests.support import serve

CONFIG = """
[server]
header_timeout_s = 1.5
body_timeout_s = 1.5
keepalive_timeout_s = 2
max_header_bytes = 8192
max_connections = 2500

[[providers]]
name = "mock"
type = "mock"

[[routes]]
model = "mock-model"
  [[routes.targets]]
  provider = "mock"
  model = "mock-upstream"
"""
CHAT = json.dumps({"model": "mock-model", "messages": [{"role": "user", "content": "hi"}]}).encode()
WAIT_S = 30.0  # only a bound for "never": every wait below ends on an event the gateway causes


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    where = tmp_path_factory.mktemp("hostile")
    (where / "gateway.toml").write_text(CONFIG)
    with serve("--config", str(where / "gateway.toml"), cwd=where) as (process, url):
        yield process.pid, url


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=WAIT_S)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the gateway sends until it closes the connection."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def parse(raw: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


def assert_openai_error(raw: bytes, status: int, words: str) -> None:
    got, body = parse(raw)
    assert got == status, raw
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert words in body["error"]["message"]


def still_serving(url: str) -> None:
    answer = httpx.post(url + "/v1/chat/completions", content=CHAT, timeout=WAIT_S)
    assert answer.status_code == 200, answer.text


def test_a_body_sent_one_byte_a_second_is_cut_off_with_408(gateway: tuple[int, str]) -> None:
    _, url = gateway
    with connect(url) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                     b"content-length: %d\r\n\r\n" % len(CHAT))
        sent = 0
        sock.settimeout(1.0)  # the pace of the trickle: one byte, then wait a second for an answer
        while sent < len(CHAT):
            sock.sendall(CHAT[sent:sent + 1])
            sent += 1
            try:
                first = sock.recv(65536)
                break
            except TimeoutError:
                continue
        sock.settimeout(WAIT_S)
        raw = first + read_until_closed(sock)
    assert sent < len(CHAT), "the whole body went through: nothing bounded it"
    assert_openai_error(raw, 408, "body_timeout_s")
    still_serving(url)


def test_headers_sent_one_byte_a_second_are_cut_off_with_408(gateway: tuple[int, str]) -> None:
    _, url = gateway
    head = b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-slow: " + b"a" * 100 + b"\r\n\r\n"
    with connect(url) as sock:
        sock.settimeout(1.0)
        sent = 0
        while sent < len(head):
            sock.sendall(head[sent:sent + 1])
            sent += 1
            try:
                first = sock.recv(65536)
                break
            except TimeoutError:
                continue
        sock.settimeout(WAIT_S)
        raw = first + read_until_closed(sock)
    assert sent < len(head)
    assert_openai_error(raw, 408, "header_timeout_s")


def test_a_connection_that_never_speaks_is_closed(gateway: tuple[int, str]) -> None:
    _, url = gateway
    with connect(url) as sock:
        assert read_until_closed(sock) == b""  # closed by the gateway, with nothing to answer


@pytest.mark.parametrize("head", [
    b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 100_000 + b"\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nhost: x\r\n" + b"".join(b"x-h%d: %s\r\n" % (i, b"v" * 50) for i in range(500)) + b"\r\n",
    b"GET /healthz?" + b"q" * 100_000 + b" HTTP/1.1\r\nhost: x\r\n\r\n",
], ids=["one-huge-header", "many-headers", "huge-url"])
def test_headers_too_large_get_431(gateway: tuple[int, str], head: bytes) -> None:
    _, url = gateway
    with connect(url) as sock:
        try:
            sock.sendall(head)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the gateway answered and closed before it read the rest
        raw = read_until_closed(sock)
    assert_openai_error(raw, 431, "max_header_bytes")
    still_serving(url)


def test_a_client_still_sending_when_refused_reads_the_answer_and_is_not_reset(gateway: tuple[int, str]) -> None:
    """The refusal comes while the client is still sending its head. Closing a socket with input unread makes
    the kernel reset the connection, and a reset can destroy the 431 before the client reads it (it did, now and
    then, in CI). So the gateway half-closes after its answer and drops what still arrives (nginx's lingering
    close): the rest of the client's bytes go through without a reset. The head here never ends: it is refused
    for its size as it arrives, not held until `header_timeout_s` (the parser reports a header only once whole)."""
    _, url = gateway
    with connect(url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 9000)
        raw = read_until_closed(sock)  # the answer, then the gateway's half-close
        assert_openai_error(raw, 431, "max_header_bytes")
        for _ in range(32):  # 2 MB more: a socket closed with input unread would have reset by now
            sock.sendall(b"a" * 65536)
    still_serving(url)


def test_a_refused_client_that_keeps_sending_is_closed_after_the_linger(gateway: tuple[int, str]) -> None:
    """Lingering is bounded (`serving.LINGER_S`): a client that never stops sending is cut off."""
    _, url = gateway
    with connect(url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 9000)
        assert_openai_error(read_until_closed(sock), 431, "max_header_bytes")
        cut_off = False
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            try:
                sock.sendall(b"a" * 1024)
            except (BrokenPipeError, ConnectionResetError):
                cut_off = True
                break
            time.sleep(0.1)
    assert cut_off, "the refused connection was held open for as long as the client kept sending"


def test_garbage_instead_of_http_gets_400_in_openai_shape(gateway: tuple[int, str]) -> None:
    _, url = gateway
    with connect(url) as sock:
        sock.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n")
        raw = read_until_closed(sock)
    assert_openai_error(raw, 400, "not valid HTTP")


def test_refusals_are_logged_without_flooding_the_log(tmp_path: Path) -> None:
    """uvicorn alone writes "Invalid HTTP request received." for every unparsable request (and for a 431): a
    client sending garbage on many connections writes as many lines. The gateway logs the first refusal and then
    one line a minute at most, with the count (gateway/serving.py `RefusalLog`)."""
    (tmp_path / "gateway.toml").write_text(CONFIG)
    with serve("--config", str(tmp_path / "gateway.toml"), cwd=tmp_path) as (process, url):
        for _ in range(6):
            with connect(url) as sock:
                sock.sendall(b"not http at all\r\n\r\n")
                assert_openai_error(read_until_closed(sock), 400, "not valid HTTP")
        with connect(url) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 9000 + b"\r\n\r\n")
            assert_openai_error(read_until_closed(sock), 431, "max_header_bytes")
        still_serving(url)
    output = process.communicate()[0]
    assert "Invalid HTTP request received" not in output
    refused = [line for line in output.splitlines() if "at the connection" in line]
    assert len(refused) == 1 and "400 invalid_http, from 127.0.0.1:" in refused[0], output


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def idle_after_one_request(url: str, count: int) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    host, port = url.removeprefix("http://").split(":")

    async def one() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")  # keep-alive: HTTP/1.1's default
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        [length] = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")]
        await reader.readexactly(length)
        return reader, writer

    connections: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    for start in range(0, count, 250):  # in waves, as a crowd of clients would arrive
        connections += await asyncio.gather(*(one() for _ in range(min(250, count - start))))
    return connections


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the gateway's RSS from /proc")
def test_2000_idle_keep_alive_connections_hold_little_memory_and_are_closed(gateway: tuple[int, str]) -> None:
    pid, url = gateway
    still_serving(url)
    before = rss_bytes(pid)

    async def scenario() -> tuple[int, int]:
        connections = await idle_after_one_request(url, 2000)
        held = rss_bytes(pid) - before
        await asyncio.to_thread(still_serving, url)  # 2,000 idle connections do not keep others out
        closed = 0
        for reader, writer in connections:  # keepalive_timeout_s: the gateway closes every one of them
            assert await asyncio.wait_for(reader.read(), WAIT_S) == b""
            closed += 1
            writer.close()
        return held, closed

    held, closed = asyncio.run(scenario())
    assert closed == 2000
    # ~10 KB a connection on this machine (uvicorn's protocol object, the transport, the kernel socket is not
    # in RSS); 64 MB is the bound that says "per-connection state is small and fixed", whatever the allocator
    assert held < 64 * 1024 * 1024, f"2,000 idle connections took {held / 1e6:.1f} MB"
    still_serving(url)


def test_connections_beyond_max_connections_get_503(tmp_path: Path) -> None:
    (tmp_path / "gateway.toml").write_text(CONFIG.replace("max_connections = 2500", "max_connections = 10"))
    with serve("--config", str(tmp_path / "gateway.toml"), cwd=tmp_path) as (_, url):
        held = [connect(url) for _ in range(10)]
        try:
            with connect(url) as extra:
                extra.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
                assert_openai_error(read_until_closed(extra), 503, "max_connections")
        finally:
            for sock in held:
                sock.close()
        deadline = time.monotonic() + WAIT_S
        while True:  # the held ones are gone once the gateway has seen them close
            try:
                assert httpx.get(url + "/healthz", timeout=WAIT_S).status_code == 200
                break
            except (httpx.TransportError, AssertionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def read_response(reader: BinaryIO) -> bytes:
    """One whole response (content-length framed) from a kept-alive connection's reader (`sock.makefile("rb")`),
    which keeps what follows it (the next response, if it has arrived too) for the next call."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = reader.readline()
        assert line, f"the gateway closed the connection: {head!r}"
        head += line
    [length] = [int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")]
    body = reader.read(length)
    assert len(body) == length, "the gateway closed the connection mid-body"
    return head + body


CHAT_REQUEST = (b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\n\r\n%s" % (len(CHAT), CHAT))


@pytest.fixture(scope="module")
def short_timers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Head and body limits far below the keep-alive one: a timer of one request left running past it would
    close the connection while it waits for the next."""
    where = tmp_path_factory.mktemp("short-timers")
    (where / "gateway.toml").write_text(CONFIG.replace("header_timeout_s = 1.5", "header_timeout_s = 0.4")
                                        .replace("body_timeout_s = 1.5", "body_timeout_s = 0.4")
                                        .replace("keepalive_timeout_s = 2", "keepalive_timeout_s = 30"))
    with serve("--config", str(where / "gateway.toml"), cwd=where) as (_, url):
        yield url


@pytest.mark.parametrize("split", [False, True], ids=["whole", "head-and-body-in-pieces"])
def test_a_requests_timers_end_with_it(short_timers: str, split: bool) -> None:
    with connect(short_timers) as sock, sock.makefile("rb") as reader:
        for _ in range(3):
            if split:  # the head's and the body's timers are started, then must be stopped
                head, _, body = CHAT_REQUEST.partition(b"\r\n\r\n")
                for piece in (head[:20], head[20:] + b"\r\n\r\n", body[:10], body[10:]):
                    sock.sendall(piece)
                    time.sleep(0.05)
            else:
                sock.sendall(CHAT_REQUEST)
            assert read_response(reader).startswith(b"HTTP/1.1 200 ")
            time.sleep(1.0)  # past header_timeout_s and body_timeout_s, well within keepalive_timeout_s


@pytest.mark.parametrize("part", ["head", "body"])
def test_a_later_request_on_a_kept_alive_connection_is_timed_too(short_timers: str, part: str) -> None:
    with connect(short_timers) as sock, sock.makefile("rb") as reader:
        sock.sendall(CHAT_REQUEST)
        assert read_response(reader).startswith(b"HTTP/1.1 200 ")
        time.sleep(1.0)
        cut = CHAT_REQUEST.index(b"\r\n\r\n") + (20 if part == "body" else -20)
        sock.sendall(CHAT_REQUEST[:cut])  # and the rest never comes
        raw = read_until_closed(sock)
    assert_openai_error(raw, 408, "header_timeout_s" if part == "head" else "body_timeout_s")


def test_a_pipelined_requests_body_is_timed_from_its_own_headers(tmp_path: Path) -> None:
    """Two requests in one connection, the second's headers in the same read as the end of the first's body:
    the second's body gets its own `body_timeout_s`, not what was left of the first's."""
    (tmp_path / "gateway.toml").write_text(CONFIG.replace("body_timeout_s = 1.5", "body_timeout_s = 1.0"))
    head, _, body = CHAT_REQUEST.partition(b"\r\n\r\n")
    with (serve("--config", str(tmp_path / "gateway.toml"), cwd=tmp_path) as (_, url), connect(url) as sock,
          sock.makefile("rb") as reader):
        sock.sendall(head + b"\r\n\r\n" + body[:10])  # the first's body timer starts
        time.sleep(0.6)
        sock.sendall(body[10:] + head + b"\r\n\r\n" + body[:10])  # the second's starts: 0.6 s later
        time.sleep(0.6)  # past the first's deadline, well within the second's
        sock.sendall(body[10:])
        assert read_response(reader).startswith(b"HTTP/1.1 200 ")
        assert read_response(reader).startswith(b"HTTP/1.1 200 ")
