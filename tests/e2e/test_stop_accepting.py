"""How the connections a server holds, or is about to hold, are treated when it shuts down (gateway/listener.py,
`GuardedHttpToolsProtocol.shutdown`), on a real uvicorn server and real sockets. With clients calling through
the whole shutdown: tests/e2e/test_shutdown.py (`gateway serve`, alone and `--workers 2`) and
tests/fleet/test_fleet.py (behind nginx)."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator

import pytest
from starlette.types import Receive, Scope, Send

from gateway.listener import queued, refuse_new_connections
from gateway.serving import FIRST_REQUEST_AT_SHUTDOWN_S, GuardedHttpToolsProtocol
from tests.support import RunningServer, run_server

REQUEST = b"GET / HTTP/1.1\r\nhost: test\r\n\r\n"


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]})
    await send({"type": "http.response.body", "body": b"hello"})


@pytest.fixture
def server() -> Iterator[RunningServer]:
    with run_server(hello, http=GuardedHttpToolsProtocol) as running:
        yield running


def held(server: RunningServer, n: int) -> None:
    """Wait until the server holds `n` connections."""
    deadline = time.monotonic() + 5
    while len(server.server.server_state.connections) != n:
        assert time.monotonic() < deadline, "the server never took the connection"
        time.sleep(0.01)


def shut_down(server: RunningServer) -> None:
    """What SIGTERM does (uvicorn's handler sets the flag); returns once the listening socket is closed."""
    server.server.should_exit = True
    deadline = time.monotonic() + 5
    while server.server.servers[0].is_serving():
        assert time.monotonic() < deadline, "the server never began to shut down"
        time.sleep(0.01)


def read_all(sock: socket.socket) -> bytes:
    sock.settimeout(5)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_a_connection_accepted_before_shutdown_is_answered_when_its_request_comes_after(
    server: RunningServer,
) -> None:
    """A load balancer's connection, accepted just before the server stopped accepting, its request still on
    the way: answered, and closed after it (uvicorn alone closes it, and the request is lost)."""
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        held(server, 1)
        shut_down(server)
        time.sleep(0.2)
        sock.sendall(REQUEST)
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"hello")
    assert b"connection: close" in answer.lower()


def test_one_that_says_nothing_is_closed_soon_after_shutdown_began(server: RunningServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        held(server, 1)
        began = time.monotonic()
        shut_down(server)
        assert read_all(sock) == b""
        waited = time.monotonic() - began
    assert FIRST_REQUEST_AT_SHUTDOWN_S * 0.8 < waited < 5  # not the 10 s of header_timeout_s


def test_one_idle_between_requests_is_closed_at_once(server: RunningServer) -> None:
    """At once: while a connection accepted at the same time, silent, is still given its time."""
    with socket.create_connection(("127.0.0.1", server.port)) as idle, \
            socket.create_connection(("127.0.0.1", server.port)) as silent:
        idle.sendall(REQUEST)
        idle.settimeout(5)
        answer = b""
        while not answer.endswith(b"hello"):
            answer += idle.recv(65536)
        held(server, 2)
        shut_down(server)
        assert read_all(idle) == b""
        silent.setblocking(False)
        with pytest.raises(BlockingIOError):  # still open, nothing to read: not closed with the idle one
            silent.recv(1)


@pytest.mark.skipif(sys.platform != "linux", reason="a socket filter: Linux only")
def test_a_listening_socket_told_to_refuse_completes_no_handshake_but_keeps_its_queue() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        address = listener.getsockname()
        with socket.create_connection(address) as early:
            early.sendall(b"queued")
            assert queued([listener])
            assert refuse_new_connections([listener])
            with socket.socket() as late:
                late.settimeout(0.3)
                with pytest.raises(TimeoutError):
                    late.connect(address)  # its SYN is dropped: no handshake, no request sent into the queue
            accepted, _ = listener.accept()  # the one queued before is still there, whole
            with accepted:
                assert accepted.recv(16) == b"queued"
                accepted.sendall(b"answered")
                assert early.recv(16) == b"answered"
            assert not queued([listener])
