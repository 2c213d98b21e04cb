"""The response head, written as uvicorn writes it for less than half the cost (issue 19).

uvicorn's httptools cycle checks every response header, on every response, against two regular expressions
(a name must be a token, a value must hold no control character), and `re` scans a character class at about 50
instructions a byte: a chat answer's seven headers (uvicorn's `date`, Starlette's two, the gateway's four
contract headers) cost 38K instructions, 5% of the whole request, most of it to find again that `content-type`
and `application/json` are valid. Whether a header is valid depends on its bytes alone, so `KnownHeaders`
remembers the names and values found valid, and a value of letters and digits only (a request id, a length, `1`)
is valid as it is. Any other header is checked with uvicorn's own expressions and refused with uvicorn's own
error. The head written is byte for byte uvicorn's (tests/unit/test_response_head.py holds it to uvicorn's for
any headers); everything else (the body, a paused transport, a client gone, uvicorn's access log) goes to
uvicorn's own `send`.

A subclass rather than a change to uvicorn: the head is the one part of `send` the gateway pays for on every
request. `GuardedHttpToolsProtocol` (serving.py) builds each request's cycle as a `GatewayCycle` from the start:
made one afterwards (`__class__` assigned), a cycle loses Python 3.11's compact attribute storage and every
attribute read of it in uvicorn's code gets slower, which cost as much as the head saved (measured).
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Iterator
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    RequestResponseCycle,
)


class KnownHeaders:
    """Header names and values found valid in this process (the gateway's own and its dependencies': a handful of
    each). At most `limit` of each are kept; past that they are forgotten and found again."""

    __slots__ = ("names", "values", "limit")

    def __init__(self, limit: int = 1024) -> None:
        self.names: dict[bytes, bytes] = {}  # a valid name -> its lower case
        self.values: set[bytes] = set()  # valid values that are not letters and digits only
        self.limit = limit

    def lower_name(self, name: bytes) -> bytes:
        """A header name in lower case, as uvicorn writes it; RuntimeError (uvicorn's) when it is not a token."""
        lower = self.names.get(name)
        if lower is None:
            if HEADER_RE.search(name):
                raise RuntimeError("Invalid HTTP header name.")
            if len(self.names) >= self.limit:
                self.names.clear()
            lower = self.names[name] = name.lower()
        return lower

    def check_value(self, value: bytes) -> None:
        """RuntimeError (uvicorn's) for a value with a control character in it."""
        if value.isalnum() or value in self.values:
            return
        if HEADER_VALUE_RE.search(value):
            raise RuntimeError("Invalid HTTP header value.")
        if len(self.values) >= self.limit:
            self.values.clear()
        self.values.add(value)


class _Written:
    """What `GatewayCycle.send` hands back for a head it has written: awaiting it returns at once."""

    __slots__ = ()

    def __await__(self) -> Iterator[None]:
        return iter(())


_WRITTEN = cast(Awaitable[None], _Written())  # (an iterator, not a generator: typing asks for one)


class GatewayCycle(RequestResponseCycle):
    """uvicorn's request-response cycle; only the response head is written here (see the module). `known` is
    set by the protocol that builds it."""

    known: KnownHeaders

    def send(self, message: Any) -> Awaitable[None]:  # type: ignore[override]
        # (not a coroutine: the body's messages go to uvicorn's `send` with no layer of ours around them)
        if (message["type"] != "http.response.start" or self.response_started or self.disconnected
                or self.access_log or self.flow.write_paused):
            return super().send(message)
        self.response_started = True
        self.waiting_for_100_continue = False
        self._write_head(message["status"], message.get("headers", ()))
        return _WRITTEN

    def _write_head(self, status: int, headers: Iterable[tuple[bytes, bytes]]) -> None:
        known = self.known
        names, values = known.names, known.values
        content = [STATUS_LINE[status]]
        has_connection_close = False
        for name, value in (*self.default_headers, *headers):
            lower = names.get(name)  # (the checks' fast paths in line: a call each cost a third of the saving)
            if lower is None:
                lower = known.lower_name(name)
            if not value.isalnum() and value not in values:  # (a new id or length: not hashed for the set)
                known.check_value(value)
            if lower == b"content-length" and self.chunked_encoding is None:
                self.expected_content_length = int(value.decode())
                self.chunked_encoding = False
            elif lower == b"transfer-encoding" and value.lower() == b"chunked":
                self.expected_content_length = 0
                self.chunked_encoding = True
            elif lower == b"connection" and b"close" in [token.lower().strip() for token in value.split(b",")]:
                self.keep_alive = False
                has_connection_close = True
            content += (lower, b": ", value, b"\r\n")
        if not self.keep_alive and not has_connection_close:
            content.append(b"connection: close\r\n")
        if self.chunked_encoding is None and self.scope["method"] != "HEAD" and status not in (204, 304):
            self.chunked_encoding = True  # neither a length nor an encoding given
            content.append(b"transfer-encoding: chunked\r\n")
        content.append(b"\r\n")
        self.transport.write(b"".join(content))
