"""gateway/response_head.py and the serving protocol's cycles: the response head the gateway writes is uvicorn's,
byte for byte, for any headers (valid or not), and a request is read into the scope as uvicorn reads it.

Both are compared with uvicorn itself: its `RequestResponseCycle` on the same messages, and a real uvicorn
server (`http="httptools"`) beside one on `GuardedHttpToolsProtocol`, sent the same raw bytes."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from gateway.response_head import GatewayCycle, KnownHeaders
from gateway.serving import GuardedHttpToolsProtocol
from tests.support import RunningServer, run_server


class _Transport:
    def __init__(self) -> None:
        self.written = bytearray()

    def write(self, data: bytes) -> None:
        self.written += data


_LOG = logging.getLogger("test")


class _Flow:
    write_paused = False


def _cycle(cls: type[RequestResponseCycle], method: str, keep_alive: bool, known: KnownHeaders) -> Any:
    cycle = cls(scope={"method": method}, transport=_Transport(), flow=_Flow(), logger=_LOG,  # type: ignore[arg-type, typeddict-item]
                access_logger=_LOG, access_log=False, default_headers=[(b"date", b"Sat, 05 Dec 2026 08:29:18 GMT")],
                message_event=asyncio.Event(), expect_100_continue=False, keep_alive=keep_alive,
                on_response=lambda: None)
    if isinstance(cycle, GatewayCycle):
        cycle.known = known
    return cycle


def _start(cycle: Any, message: dict[str, Any]) -> tuple[str, bytes, tuple[Any, ...]]:
    """Send `message` to the cycle; what it wrote (or the error it raised) and the state it left."""
    try:
        asyncio.run(_send(cycle, message))
        outcome = "ok"
    except Exception as exc:  # uvicorn's RuntimeError for a bad header, a ValueError for a length that is not one
        outcome = f"{type(exc).__name__}: {exc}"
    state = (cycle.response_started, cycle.keep_alive, cycle.chunked_encoding, cycle.expected_content_length)
    return outcome, bytes(cycle.transport.written), state


async def _send(cycle: Any, message: dict[str, Any]) -> None:
    await cycle.send(message)


_NAMES = st.sampled_from([b"content-length", b"Content-Length", b"transfer-encoding", b"Transfer-Encoding",
                          b"connection", b"Connection", b"x-request-id", b"X-Gateway-Cache", b"content-type",
                          b"bad name", b"bad:name", b"", b"x-\x7f"])
_VALUES = st.one_of(
    st.sampled_from([b"12", b"0", b"chunked", b"CHUNKED", b"close", b"keep-alive, Close", b"upgrade",
                     b"application/json", b"text/event-stream; charset=utf-8", b"", b"a\tb", b"a\nb", b"a\rb",
                     b"\x00", b"\x7f", b"\x80\xff", b"abc123"]),
    st.binary(max_size=12),
)
_HEADERS = st.lists(st.tuples(_NAMES, _VALUES), max_size=6)
_KNOWN = KnownHeaders(limit=3)  # shared by every example, and small: what earlier examples left is used, and forgotten


@settings(max_examples=400, deadline=None)
@given(headers=_HEADERS, status=st.sampled_from([200, 204, 304, 401, 429, 500]),
       method=st.sampled_from(["GET", "POST", "HEAD"]), keep_alive=st.booleans())
def test_the_head_is_uvicorns_for_any_headers(headers: list[tuple[bytes, bytes]], status: int, method: str,
                                               keep_alive: bool) -> None:
    message = {"type": "http.response.start", "status": status, "headers": headers}
    theirs = _start(_cycle(RequestResponseCycle, method, keep_alive, _KNOWN), dict(message))
    ours = _start(_cycle(GatewayCycle, method, keep_alive, _KNOWN), dict(message))
    assert ours == theirs


def test_a_header_found_valid_is_remembered_and_a_bad_one_never() -> None:
    known = KnownHeaders(limit=2)
    cycle = _cycle(GatewayCycle, "POST", True, known)
    assert _start(cycle, {"type": "http.response.start", "status": 200,
                          "headers": [(b"Content-Type", b"application/json"), (b"x-id", b"abc123")]})[0] == "ok"
    assert known.names == {b"x-id": b"x-id"}  # `date` and `Content-Type` were, then forgotten at the limit of 2
    assert b"application/json" in known.values and b"abc123" not in known.values  # (letters and digits: as they are)
    cycle = _cycle(GatewayCycle, "POST", True, known)
    outcome, written, _ = _start(cycle, {"type": "http.response.start", "status": 200,
                                         "headers": [(b"x-bad", b"a\r\nset-cookie: x=1")]})
    assert outcome == "RuntimeError: Invalid HTTP header value." and written == b""
    assert b"a\r\nset-cookie: x=1" not in known.values
    cycle = _cycle(GatewayCycle, "POST", True, known)
    outcome, written, _ = _start(cycle, {"type": "http.response.start", "status": 200, "headers": [(b"x bad", b"1")]})
    assert outcome == "RuntimeError: Invalid HTTP header name." and written == b""
    assert b"x bad" not in known.names


def test_the_body_and_what_follows_are_uvicorns_own() -> None:
    """After the head, `send` is uvicorn's: the body is framed by it (here: chunked, as no length was given)."""
    cycle = _cycle(GatewayCycle, "POST", True, KnownHeaders())

    async def exchange() -> None:
        await cycle.send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await cycle.send({"type": "http.response.body", "body": b"hello", "more_body": True})
        await cycle.send({"type": "http.response.body", "body": b""})

    asyncio.run(exchange())
    assert bytes(cycle.transport.written).endswith(b"transfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    assert cycle.response_complete


# -- a real server on each protocol ------------------------------------------------------------------------


async def _echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers with what it read of the request (scope and body), and with the headers the request asks for
    (`x-answer-headers`: a JSON list of [name, value] pairs, latin-1)."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    asked = dict(scope["headers"]).get(b"x-answer-headers")
    headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in orjson.loads(asked)] if asked else []
    seen = {k: scope[k] for k in ("method", "path", "query_string", "http_version", "root_path")}
    seen["raw_path"], seen["body"] = scope["raw_path"], body
    answer = repr(sorted(seen.items())).encode()
    status = int(dict(scope["headers"]).get(b"x-answer-status", b"200"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if status in (204, 304) else answer})


def _request(path: str = "/", *, method: str = "POST", version: str = "1.1", body: bytes = b"",
             headers: list[tuple[str, str]] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "host: test"]
    lines += [f"{n}: {v}" for n, v in headers or []]
    if body or method == "POST":
        lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _answer_headers(*pairs: tuple[str, str]) -> tuple[str, str]:
    return ("x-answer-headers", orjson.dumps(list(pairs)).decode())


_CASES = {
    "plain": [_request("/v1/chat/completions", body=b'{"a": 1}')],
    "query and escapes": [_request("/a%20b/%2F/c?x=1&y=%20", method="GET")],
    "http/1.0": [_request("/", version="1.0", body=b"x")],
    "head": [_request("/", method="HEAD")],
    "no length: chunked": [_request("/", headers=[_answer_headers(("Content-Type", "text/plain"))])],
    "own length": [_request("/", headers=[_answer_headers(("content-length", "0"))])],
    "204": [_request("/", headers=[("x-answer-status", "204")])],
    "connection close, mixed case": [_request("/", headers=[_answer_headers(("Connection", "Keep-Alive, CLOSE"))])],
    "client asks to close": [_request("/", headers=[("connection", "close")])],
    "bad header name": [_request("/", headers=[_answer_headers(("x bad", "1"))])],
    "bad header value": [_request("/", headers=[_answer_headers(("x-bad", "a\nb"))])],
    "pipelined": [_request("/one", body=b"1") + _request("/two", body=b"22") + _request("/three", method="GET")],
    "one byte at a time": [bytes([b]) for b in _request("/slow", body=b"abc")],
}
_DATE = re.compile(rb"\r\ndate: [^\r]*")


def _exchange(server: RunningServer, pieces: list[bytes]) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        for piece in pieces:
            sock.sendall(piece)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return _DATE.sub(b"", received)


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[RunningServer, RunningServer]]:
    with run_server(_echo, http="httptools") as theirs, run_server(_echo, http=GuardedHttpToolsProtocol) as ours:
        yield theirs, ours


@pytest.mark.parametrize("case", list(_CASES))
def test_a_request_is_read_and_answered_as_uvicorn_does(servers: tuple[RunningServer, RunningServer],
                                                        case: str) -> None:
    theirs, ours = servers
    expected = _exchange(theirs, _CASES[case])
    if case.startswith("bad header"):
        assert expected == b""  # uvicorn closes the connection: the head had begun (it logs the app's error)
    else:
        assert expected.startswith(b"HTTP/1.1 ")
    assert _exchange(ours, _CASES[case]) == expected
