"""The upstream HTTP client: one long-lived, pooled connection pool per provider.

httpx is the API (its `Request`/`Response` and transport seam, where tests and tracing plug in); the
connection pool underneath is aiohttp's, through `httpx_aiohttp.AiohttpTransport`, because httpx's own
pool costs 2-3x the CPU per request at 16-64 concurrent requests (issue 3's measurements).

Requests go to the transport directly rather than through `httpx.AsyncClient`: the client's per-request
work (URL parsing, merging headers and cookies, auth and redirect flows) cost ~25 us a request, more than
the rest of our request path together (bench/), and a gateway must not carry one user's upstream cookies
into another user's request anyway. On the real network they go one step further down, to the aiohttp
session behind the transport: building an `httpx.Request` alone took 145K instructions a request with five
headers (normalising each header, then a Python scan of them per lookup), 12% of the gateway's whole
request, and 10K more for each extra header such as the trace context. The answer is not an
`httpx.Response` either but an `AiohttpAnswer`, the part of one that is read (issue 19), streamed and with
errors mapped exactly as the transport does (its own helpers), so nothing above this module can tell; a
transport handed in (tests, the mock provider) is used as is. This module is the only place that knows;
changing the stack is a change here (bench/passthrough.py uses it too, so the benchmark's floor moves with it).
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any, NoReturn

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import AiohttpResponseStream, map_aiohttp_exceptions

from gateway import __version__
from gateway.config import ProviderConfig
from gateway.errors import (
    UpstreamConnectionError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeoutError,
    UpstreamUnreachableError,
)

USER_AGENT = f"llm-gateway/{__version__}"


class Upstream:
    """One provider's pooled connections. `send` returns a response whose body is still to be read."""

    def __init__(self, config: ProviderConfig, transport: httpx.AsyncBaseTransport | None = None) -> None:
        limits = httpx.Limits(
            max_connections=config.max_connections,
            max_keepalive_connections=config.max_keepalive_connections,
            keepalive_expiry=config.keepalive_s,
        )
        self.transport = transport or AiohttpTransport(limits=limits, trust_env=False)
        # What the dispatcher's attempt deadline does not cover (see `_send_aiohttp`): a new connection's
        # connect_timeout_s, and the provider's read_timeout_s when it has one (a stream's silence limit is added
        # per call). The pool wait, the write and the whole answer are the deadline's.
        self.timeout: dict[str, Any] = httpx.Timeout(
            connect=config.connect_timeout_s, read=config.read_timeout_s, write=None, pool=None).as_dict()
        self.own_read_s = config.read_timeout_s  # the provider's own silence limit, when it has one
        self._urls: dict[str, httpx.URL] = {}
        self._timeouts: dict[float | None, aiohttp.ClientTimeout] = {}

    def send(
        self, method: str, url: str, headers: dict[str, str], content: bytes, read_timeout_s: float | None = None
    ) -> Coroutine[Any, Any, UpstreamResponse]:
        """Send one request (its coroutine). `read_timeout_s` bounds the silence between two reads (a stream's idle
        limit)."""
        transport = self.transport
        if isinstance(transport, AiohttpTransport):
            return self._send_aiohttp(transport, method, url, headers, content, read_timeout_s)
        return self._send_httpx(method, url, headers, content, read_timeout_s)

    async def _send_httpx(
        self, method: str, url: str, headers: dict[str, str], content: bytes, read_timeout_s: float | None
    ) -> UpstreamResponse:
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = self._urls[url] = httpx.URL(url)
        timeout = self.timeout
        if read_timeout_s is not None:
            timeout = {**timeout, "read": self._read_limit(read_timeout_s)}
        request = httpx.Request(method, parsed, headers=headers, content=content, extensions={"timeout": timeout})
        return await self.transport.handle_async_request(request)

    async def _send_aiohttp(
        self, transport: AiohttpTransport, method: str, url: str, headers: dict[str, str], content: bytes,
        read_timeout_s: float | None,
    ) -> AiohttpAnswer:
        """What `AiohttpTransport.handle_async_request` does, minus the `httpx.Request` it would need."""
        session = transport.client
        if not isinstance(session, aiohttp.ClientSession):
            session = transport.client = _session(transport)
        timeout = self._timeouts.get(read_timeout_s)
        if timeout is None:
            if len(self._timeouts) > 64:  # idle limits come from the config: a handful; never let it grow
                self._timeouts.clear()
            # The whole call (until a stream's first content) is bounded by the dispatcher's attempt deadline:
            # `timeout_s`, or the route's `attempt_timeout_s`. aiohttp is given only what that deadline does not
            # cover: a new connection's `connect_timeout_s`, a `read_timeout_s` when one is configured, and a
            # stream's silence limit. (Its own copies of `timeout_s`, for the pool and every read, were
            # redundant and cost a timer each, armed and cancelled per request and per read: 6% of a chat
            # request's CPU, issue 19; and they cut a route's longer `attempt_timeout_s` short.)
            sock_read = self.own_read_s if read_timeout_s is None else self._read_limit(read_timeout_s)
            timeout = self._timeouts[read_timeout_s] = aiohttp.ClientTimeout(
                sock_connect=self.timeout["connect"], sock_read=sock_read)
        try:
            response = await session.request(
                method, url, headers=headers, data=content or None, allow_redirects=False, auto_decompress=False,
                compress=False, timeout=timeout,
            )
        except aiohttp.ClientResponseError as exc:  # a status line, header or chunk size aiohttp cannot parse,
            raise httpx.RemoteProtocolError(exc.message) from exc  # which httpx_aiohttp leaves unmapped
        except Exception:
            _raise_mapped()
        return AiohttpAnswer(response)

    def _read_limit(self, idle_s: float) -> float:
        """A stream's silence limit: the caller's (the route's `stream_idle_timeout_s`), or the provider's own
        `read_timeout_s` when that is shorter. Not the provider's `timeout_s`: that bounds the wait for the first
        token (the attempt's deadline does), and capped a route's longer idle limit at it before."""
        own = self.own_read_s
        return idle_s if own is None else min(idle_s, own)

    async def aclose(self) -> None:
        await self.transport.aclose()


def _session(transport: AiohttpTransport) -> aiohttp.ClientSession:
    """The pool `AiohttpTransport.get_client` would make, but with no cookie jar: aiohttp's default keeps every
    `Set-Cookie` an upstream sends (api.openai.com sets some) and sends it on every later request of every
    client, one user's upstream cookies in another's request."""
    limits = transport.limits
    connector = aiohttp.TCPConnector(keepalive_timeout=limits.keepalive_expiry, ssl=transport.ssl_context,
                                     limit=limits.max_connections or 0)
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())


class AiohttpAnswer:
    """An aiohttp response as the part of `httpx.Response` the providers read: `status_code`, `headers`, the body
    (`aiter_raw`, `aiter_bytes`, and `read_body`'s shortcut) and `aclose`, with aiohttp's errors mapped to httpx's
    as httpx_aiohttp maps them. What `AiohttpTransport` hands back instead is an `httpx.Response` around an
    `AiohttpResponseStream`: every header normalised into `httpx.Headers` on every answer, and the body passed
    through four async iterators (the stream, `aiter_raw`, `aiter_bytes`, ours) that did nothing with an
    unencoded body but pass it on (issue 19: 13% of a chat request's instructions, callgrind). Here the headers become
    `httpx.Headers` only when read (an error answer's), and an unencoded body comes straight from aiohttp's
    buffer. A body in an encoding other than gzip or deflate (decoded here, `_inflate`) still goes through an
    `httpx.Response`, built then, for httpx's own decoders."""

    __slots__ = ("status_code", "encoding", "_response", "_headers", "_closed", "_delegate", "_content")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.status_code = response.status
        self._response = response
        self._headers: httpx.Headers | None = None
        self._closed = False
        self._delegate: httpx.Response | None = None
        self._content: bytes | None = None
        # as httpx.Headers.get gives it: the values of every Content-Encoding line, joined
        self.encoding = ", ".join(response.headers.getall("content-encoding", ()))

    @property
    def is_closed(self) -> bool:
        """As `httpx.Response.is_closed`: released (the body read to its end, or `aclose`)."""
        return self._closed

    @property
    def headers(self) -> httpx.Headers:
        if self._headers is None:
            self._headers = httpx.Headers(self._response.raw_headers)
        return self._headers

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        """The body as it came (what `httpx.Response.aiter_raw` gives: pieces of at most 16 KiB, the stream's
        `CHUNK_SIZE`); the response is closed once it has all been read."""
        content = self._response.content
        while piece := await _piece(content):
            yield piece
        await self.aclose()

    def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body decoded: as it came when it has no Content-Encoding, else by httpx's decoders."""
        if not self.encoding:
            return self.aiter_raw()
        if self._delegate is None:
            self._delegate = httpx.Response(status_code=self.status_code, headers=self._response.raw_headers,
                                            stream=AiohttpResponseStream(self._response),
                                            extensions={"http_version": b"HTTP/1.1"})
        return self._delegate.aiter_bytes()

    async def aread(self) -> bytes:
        """The whole body, decoded, with no limit (`httpx.Response.aread`; bench/passthrough.py reads it so)."""
        if self._content is None:
            self._content = b"".join([piece async for piece in self.aiter_bytes()])
        return self._content

    async def read_unencoded(self, limit: int, provider: str) -> bytes:
        """`read_body` of a body without Content-Encoding: the pieces of `aiter_raw`, in one loop, up to the end
        aiohttp has seen (no read more only to be told so)."""
        content = self._response.content
        pieces: list[bytes] = []
        total = 0
        while not content.at_eof() and (piece := await _piece(content)):
            total += len(piece)
            if total > limit:
                raise _too_long(provider, limit)
            pieces.append(piece)
        self._release()
        return b"".join(pieces)

    async def aclose(self) -> None:
        if self._delegate is not None:
            self._closed = True
            await self._delegate.aclose()
        else:
            self._release()

    def _release(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                # What `ClientResponse.__aexit__` does, less its wait for the request's writer: `release` has
                # cancelled that, and the connection goes back to the pool (or is closed, when the answer was not
                # read to its end) once it ended. Two coroutines and a second `release` less, every answer.
                self._response.release()
            except Exception:
                _raise_mapped()


async def _piece(content: aiohttp.StreamReader) -> bytes:
    """The next piece of a body, at most 16 KiB (httpx_aiohttp's `CHUNK_SIZE`); b"" at its end."""
    try:
        return await content.read(AiohttpResponseStream.CHUNK_SIZE)
    except aiohttp.EofStream:
        return b""
    except Exception:
        _raise_mapped()


def _raise_mapped() -> NoReturn:
    """Raise the exception being handled as httpx_aiohttp maps aiohttp's to httpx's (its own helper). Entered on
    the error path only: a `with map_aiohttp_exceptions()` around each call cost every request four of them,
    about 4K instructions each (issue 19)."""
    with map_aiohttp_exceptions():
        raise
    raise AssertionError("unreachable: the helper re-raises every exception")  # pragma: no cover


UpstreamResponse = httpx.Response | AiohttpAnswer


def classify(exc: BaseException, provider: str) -> UpstreamError:
    """Turn a transport exception into our error tree.

    httpx_aiohttp maps every aiohttp connection error to `httpx.ConnectTimeout`, even a refused
    connection or a server that hung up mid-body, so we look at the aiohttp exception underneath.
    """
    cause = exc.__cause__ if isinstance(exc, httpx.HTTPError) and exc.__cause__ else exc
    if isinstance(cause, aiohttp.ClientConnectorError | httpx.ConnectError | ConnectionRefusedError):
        return UpstreamUnreachableError(f"could not connect to provider {provider}", provider=provider)
    if isinstance(cause, aiohttp.ConnectionTimeoutError):  # the provider's connect_timeout_s
        return UpstreamTimeoutError(f"could not connect to provider {provider} in time (connect_timeout_s)",
                                    provider=provider)
    if isinstance(cause, TimeoutError | asyncio.TimeoutError | httpx.TimeoutException):
        return UpstreamTimeoutError(f"provider {provider} did not answer in time", provider=provider)
    if isinstance(cause, aiohttp.ClientResponseError):
        return UpstreamProtocolError(f"provider {provider} answered with something that is not valid HTTP",
                                     provider=provider)
    if _hung_up(cause):
        # It took the request, kept silent, then closed the connection cleanly without a status line: to the
        # client that is a timeout (it waited for nothing), and the dispatcher leaves a target that timed out
        # for the rest of the request rather than make the client wait a second time. (A connection that
        # breaks once the answer has begun, or a reset, stays an UpstreamConnectionError: retried.)
        return UpstreamTimeoutError(f"provider {provider} closed the connection without answering",
                                    provider=provider)
    return UpstreamConnectionError(
        f"the connection to provider {provider} failed: {type(cause).__name__}", provider=provider
    )


def _hung_up(cause: BaseException) -> bool:
    """The upstream closed the connection before any response: aiohttp says so with ServerDisconnectedError
    (only ever raised before the status line; a body cut later is a ClientPayloadError), httpx's own
    transport (tests, the mock provider) with a RemoteProtocolError."""
    if isinstance(cause, aiohttp.ServerDisconnectedError):
        return True
    return isinstance(cause, httpx.RemoteProtocolError) and "without sending a response" in str(cause)


_PIECE = 65536  # the most one step of gzip decoding may produce


async def iter_body(response: UpstreamResponse, limit: int, provider: str) -> AsyncIterator[bytes]:
    """A response's body, decoded, piece by piece; an `UpstreamProtocolError` (502) once it passes `limit`
    decoded bytes (the provider's `max_response_bytes`). gzip and deflate are decoded here with a bound on each
    step's output, so a small compressed body cannot unpack to gigabytes at once (a gzip bomb) before the limit
    is checked; other encodings are httpx's."""
    encoding = _encoding(response)
    pieces = _inflate(response.aiter_raw(), provider) if encoding in ("gzip", "x-gzip", "deflate") else \
        response.aiter_bytes()
    total = 0
    async for piece in pieces:
        total += len(piece)
        if total > limit:
            raise _too_long(provider, limit)
        yield piece


def read_body(response: UpstreamResponse, limit: int, provider: str) -> Coroutine[Any, Any, bytes]:
    """The whole body, at most `limit` decoded bytes (see `iter_body`); its reading coroutine (no layer of its
    own: issue 19)."""
    if isinstance(response, AiohttpAnswer) and not response.encoding:
        return response.read_unencoded(limit, provider)
    return _read_decoded(response, limit, provider)


async def _read_decoded(response: UpstreamResponse, limit: int, provider: str) -> bytes:
    return b"".join([piece async for piece in iter_body(response, limit, provider)])


def _encoding(response: UpstreamResponse) -> str:
    if isinstance(response, AiohttpAnswer):
        return response.encoding.strip().lower()
    encoding: str = response.headers.get("content-encoding", "")
    return encoding.strip().lower()


def _too_long(provider: str, limit: int) -> UpstreamProtocolError:
    return UpstreamProtocolError(
        f"provider {provider} answered with more than {limit} bytes, its max_response_bytes", provider=provider)


async def _inflate(raw: AsyncIterator[bytes], provider: str) -> AsyncIterator[bytes]:
    decoder = zlib.decompressobj(32 + zlib.MAX_WBITS)  # 32: a gzip or a zlib header, whichever it is
    try:
        async for data in raw:
            while data:
                piece = decoder.decompress(data, _PIECE)
                data = decoder.unconsumed_tail
                if piece:
                    yield piece
                if decoder.eof:  # gzip allows several members one after another: decode the next one too
                    data, decoder = decoder.unused_data + data, zlib.decompressobj(32 + zlib.MAX_WBITS)
        if tail := decoder.flush():
            yield tail
    except zlib.error:
        raise UpstreamProtocolError(f"provider {provider} sent a compressed body that does not decompress",
                                    provider=provider) from None
