"""The provider seam: what a provider is, the HTTP plumbing they share, and the registry by config `type`.

A provider turns one OpenAI-format call into an upstream HTTP request and the answer back into OpenAI
format. Translation is pure (dicts and bytes in, dicts, bytes and `Facts` out) and may run several times
for one client request, once per attempt, so it must not change `call`. The I/O lives in `HttpProvider`.

    >>> provider = build_provider(ProviderConfig(name="demo", type="mock"))
    >>> call = Call("chat", {"model": "x", "messages": [{"role": "user", "content": "hi"}]})
    >>> reply = asyncio.run(provider.complete(call, "mock-1"))          # doctest: +SKIP
    >>> reply.facts.response_model                                       # doctest: +SKIP
    'mock-1'

Adding a provider: one module with a `HttpProvider` subclass, one entry in `registry.REGISTRY`.
"""

from __future__ import annotations

import email.utils
import fnmatch
import importlib
import json
import logging
import time
from collections.abc import AsyncGenerator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, TypeVar

import httpx
import orjson

from gateway.config import ProviderConfig
from gateway.errors import UnsupportedFeatureError, UpstreamError, UpstreamProtocolError, UpstreamStatusError
from gateway.providers.registry import REGISTRY
from gateway.sse import SSEDecoder, SSEEvent
from gateway.upstream import Upstream, UpstreamResponse, classify, iter_body, read_body

log = logging.getLogger("gateway.providers")
E = TypeVar("E", SSEEvent, bytes)  # what a translator is fed: events, or only their data

# "responses": the Responses API sent as it is, to a provider with `responses = "native"` (others translate it
# to "chat" first: gateway/entrances/responses.py)
Operation = Literal["chat", "text_completion", "embeddings", "responses"]


@dataclass(slots=True)
class Call:
    """One client request as the gateway understands it. `body` is the client's JSON, never modified."""

    operation: Operation
    body: dict[str, Any]
    stream: bool = False


@dataclass(slots=True)
class Facts:
    """What an answer says about itself. Translators fill it; routing and telemetry read it."""

    response_id: str | None = None
    response_model: str | None = None
    finish_reasons: list[str] = field(default_factory=list)
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_input_tokens: int | None = None  # of input_tokens, served from the provider's prompt cache
    cache_creation_input_tokens: int | None = None  # of input_tokens, written to it (Anthropic)
    reasoning_output_tokens: int | None = None  # of output_tokens, spent reasoning
    chunks: int = 0  # streams: chunks passed on (telemetry's time per output chunk)
    content_started: bool = False
    malformed_events: int = 0
    # Streams: what has been said so far (choice 0), so a cut answer can be resumed elsewhere.
    text: list[str] = field(default_factory=list)
    tool_calls: bool = False
    several_choices: bool = False

    def read_usage(self, usage: Any) -> None:
        """OpenAI's `usage` object: each count that is an integer (`type(n) is int`: not a bool) replaces ours."""
        if isinstance(usage, dict):
            if type(n := usage.get("prompt_tokens")) is int:
                self.input_tokens = n
            if type(n := usage.get("completion_tokens")) is int:
                self.output_tokens = n
            details = usage.get("prompt_tokens_details")
            if isinstance(details, dict):
                if type(n := details.get("cached_tokens")) is int:
                    self.cached_input_tokens = n
                if type(n := details.get("cache_creation_tokens")) is int:
                    self.cache_creation_input_tokens = n
            details = usage.get("completion_tokens_details")
            if isinstance(details, dict) and type(n := details.get("reasoning_tokens")) is int:
                self.reasoning_output_tokens = n


@dataclass(slots=True)
class Reply:
    """A complete answer: the OpenAI-format JSON body for the client, and its facts. `data`: that body parsed,
    when reading the facts parsed it anyway (an entrance translating the answer reads it, not parse it again)."""

    body: bytes
    facts: Facts
    data: dict[str, Any] | None = None


@dataclass(slots=True)
class UpstreamRequest:
    method: str
    url: str
    headers: dict[str, str]
    content: bytes


class StreamTranslator(Protocol):
    """Turns one upstream stream's events into OpenAI chunk payloads (JSON bytes, one per `data:` line).

    Made fresh for each attempt; keeps the per-stream state (tool-call indices, usage) in `facts`.
    `finished` is true once the upstream said the answer is complete. A translator that parses the payloads
    it passes on may keep them parsed in a `kept` attribute (`Kept`), for the stream's reader.
    """

    facts: Facts
    finished: bool

    def feed(self, event: SSEEvent) -> list[bytes]: ...


class Kept:
    """Payloads a translator passed on and what each parses to, until the stream's reader takes them
    (`take`), so that one parse of each chunk serves the facts and a translating reader alike.

    What a payload parses to is kept as the chunk (a dict), or as a str: the text of a chunk that says nothing
    else (choice 0's `delta.content`, no role, tool call, finish reason or usage), which follows a chunk of
    the same stream kept whole (`openai.TextChunk`). `sse.Frames` hands both on to the reader as they are.

    `take(batch)` answers only for exactly the payloads kept first (compared by value: equal bytes parse
    to equal chunks), else None (the reader parses them itself). A reader that never takes costs at most
    about `LIMIT` chunks held (`bound`, once per read)."""

    __slots__ = ("payloads", "chunks")
    LIMIT = 1024

    def __init__(self) -> None:
        self.payloads: list[bytes] = []
        self.chunks: list[Any] = []

    def bound(self) -> None:
        if len(self.payloads) > self.LIMIT:
            self.payloads.clear()
            self.chunks.clear()

    def take(self, batch: list[bytes], build: bool = True) -> list[Any] | None:
        """The chunks of `batch`, the payloads passed on next, in order; None when they were not all kept, or
        not `build` (the reader does not want them: they are only dropped)."""
        n = len(batch)
        payloads, chunks = self.payloads, self.chunks
        if payloads[:n] == batch:
            taken = chunks[:n] if build else None
            del payloads[:n], chunks[:n]
            return taken
        payloads.clear()  # out of step (a reader that skipped some): nothing kept is of use any more
        chunks.clear()
        return None


class Provider(Protocol):
    """An upstream API. The caller bounds each call's duration (the dispatcher's attempt timeout, which
    defaults to `timeout_s`); `idle_s` bounds the silence between two reads of a stream."""

    name: str
    type: ClassVar[str]
    timeout_s: float

    @property
    def address(self) -> tuple[str, int]:
        """The upstream's host and port, for telemetry."""
        ...

    async def complete(self, call: Call, model: str, headers: dict[str, str] | None = None) -> Reply: ...

    async def open_stream(
        self, call: Call, model: str, headers: dict[str, str] | None = None, idle_s: float | None = None
    ) -> UpstreamStream: ...

    async def aclose(self) -> None: ...

    def accepts_prefill(self, model: str) -> bool:
        """Whether `model` here continues a trailing assistant message (resuming a cut stream that way)."""
        ...


class HttpProvider:
    """Shared I/O for providers that speak HTTP: send, time out, read JSON or SSE, classify failures.

    Subclasses implement the four translation parts, in this order: `to_request`, `from_response`,
    `stream_translator`, `from_error`.
    """

    type: ClassVar[str]

    def __init__(self, config: ProviderConfig, upstream: Upstream | None = None) -> None:
        self.name = config.name
        self.config = config
        self.upstream = upstream or Upstream(config)
        self.timeout_s = config.timeout_s
        url = httpx.URL(config.base_url or "http://localhost")
        self.address = (url.host, url.port or (443 if url.scheme == "https" else 80))

    # -- translation (pure) -------------------------------------------------------------------------

    def to_request(self, call: Call, model: str) -> UpstreamRequest:
        raise NotImplementedError

    def from_response(self, call: Call, body: bytes) -> Reply:
        raise NotImplementedError

    def stream_translator(self, call: Call) -> StreamTranslator:
        raise NotImplementedError

    def from_error(self, status: int, headers: httpx.Headers, body: bytes) -> UpstreamError:
        raise NotImplementedError

    # -- what a model accepts -----------------------------------------------------------------------

    def accepts_prefill(self, model: str) -> bool:
        """The config's `prefill_models` (glob -> bool, first match) decides, else the type's own table."""
        for pattern, accepted in self.config.prefill_models.items():
            if fnmatch.fnmatchcase(model, pattern):
                return accepted
        return self.model_accepts_prefill(model)

    def model_accepts_prefill(self, model: str) -> bool:
        return True  # whether the provider takes prefill at all is its `prefill` key; a type may know better

    # -- I/O ----------------------------------------------------------------------------------------

    async def complete(self, call: Call, model: str, headers: dict[str, str] | None = None) -> Reply:
        try:
            response = await self._send(call, model, headers, None)
            try:
                body = await read_body(response, self.config.max_response_bytes, self.name)
            finally:
                if not response.is_closed:  # (reading it to its end closed it: no coroutine for nothing)
                    await response.aclose()
        except httpx.HTTPError as exc:
            raise classify(exc, self.name) from exc
        if response.status_code >= 400:
            raise self.from_error(response.status_code, response.headers, body)
        try:
            return self.from_response(call, body)
        except UNREADABLE as exc:
            raise unreadable(self.name, exc) from None

    async def open_stream(
        self, call: Call, model: str, headers: dict[str, str] | None = None, idle_s: float | None = None
    ) -> UpstreamStream:
        """Send the request and wait for the response headers; errors up to here can fail over."""
        try:
            response = await self._send(call, model, headers, idle_s)
            if response.status_code >= 400:
                try:
                    body = await read_body(response, self.config.max_response_bytes, self.name)
                finally:
                    await response.aclose()
                raise self.from_error(response.status_code, response.headers, body)
        except httpx.HTTPError as exc:
            raise classify(exc, self.name) from exc
        try:
            translator = self.stream_translator(call)
        except UNREADABLE as exc:
            await response.aclose()
            raise untranslatable(self.name, exc) from None
        return UpstreamStream(self.name, response, translator, self.config.max_response_bytes)

    def _send(
        self, call: Call, model: str, headers: dict[str, str] | None, idle_s: float | None
    ) -> Coroutine[Any, Any, UpstreamResponse]:
        """The upstream call's coroutine (the request is built here, at once: a translation error raises now)."""
        try:
            request = self.to_request(call, model)
        except UNREADABLE as exc:
            raise untranslatable(self.name, exc) from None
        all_headers = {**request.headers, **headers} if headers else request.headers
        # A stream's idle limit is the transport's read timeout: no timer per chunk on our side.
        return self.upstream.send(request.method, request.url, all_headers, request.content, idle_s)

    async def aclose(self) -> None:
        await self.upstream.aclose()


class UpstreamStream:
    """An open upstream stream. Iterate `chunks()` for OpenAI chunk payloads; it closes the response.

    Payloads come in batches, one per network read: events that arrived together travel together, so a
    fast upstream costs one write to the client per read rather than one per event (nothing waits).

    Raises an `UpstreamError` when the stream breaks, carries an error event, or ends before the upstream
    said the answer was complete, so the caller never mistakes a cut answer for a whole one.
    """

    def __init__(self, provider: str, response: UpstreamResponse, translator: StreamTranslator,
                 max_bytes: int = 64 * 1024 * 1024) -> None:
        self.provider = provider
        self.max_bytes = max_bytes  # the provider's max_response_bytes: the whole stream, decoded
        self.response = response
        self.translator = translator
        self.facts = translator.facts
        self.first_chunk_at: float | None = None
        self.kept: Kept | None = getattr(translator, "kept", None)

    def parsed(self, batch: list[bytes], build: bool = True) -> list[Any] | None:
        """What the payloads of `batch` (the next ones `chunks()` yielded) parse to, as the translator parsed
        them; None when it kept none or not `build`. Each batch is to be asked for once, in order (without
        `build` when its chunks are not wanted: the translator keeps them until then)."""
        return self.kept.take(batch, build) if self.kept is not None else None

    async def chunks(self) -> AsyncGenerator[list[bytes], None]:
        decoder = SSEDecoder()
        feed = self.translator.feed
        # A translator that reads only the events' data may take it without the events (SSEDecoder.feed_data)
        feed_data: Callable[[bytes], list[bytes]] | None = getattr(self.translator, "feed_data", None)
        translator = self.translator
        try:
            async for raw in iter_body(self.response, self.max_bytes, self.provider):
                if self.kept is not None:
                    self.kept.bound()
                if feed_data is not None and (data := decoder.feed_data(raw)) is not None:
                    batch, error = _translate(data, feed_data)
                else:
                    batch, error = _translate(decoder.feed(raw), feed)
                if batch:
                    self.facts.chunks += len(batch)
                    if self.first_chunk_at is None:
                        self.first_chunk_at = time.monotonic()
                    yield batch
                if error is not None:
                    raise error
            batch, error = _translate(decoder.close(), feed)
            if batch:
                yield batch
            if error is not None:
                raise error
        except httpx.HTTPError as exc:
            raise classify(exc, self.provider) from exc
        finally:
            await self.response.aclose()
        if not translator.finished and not translator.facts.finish_reasons:
            raise UpstreamProtocolError(
                f"provider {self.provider} ended the stream before the answer was complete",
                provider=self.provider,
            )

    async def aclose(self) -> None:
        await self.response.aclose()


def _translate(
    events: list[E], feed: Callable[[E], list[bytes]]
) -> tuple[list[bytes], UpstreamError | None]:
    """Translate one read's events. An error stops the batch but what came before it still goes out,
    so the text the client has is exactly the text the translator saw."""
    batch: list[bytes] = []
    for event in events:
        try:
            batch += feed(event)
        except UpstreamError as exc:
            return batch, exc
        except UNREADABLE as exc:
            return batch, unreadable(getattr(getattr(feed, "__self__", None), "provider", "upstream"), exc)
    return batch, None


# What a translator raises on a shape it does not expect (a list where it reads an object, say). Translators
# check what matters; this is the net under them, so that such an answer is a 502 the route can fail over
# from, and such a request a 400 naming the provider, never a 500.
UNREADABLE = (AttributeError, TypeError, KeyError, IndexError, ValueError)


def unreadable(provider: str, exc: Exception) -> UpstreamProtocolError:
    log.warning("provider %s: an answer the gateway could not read (%s: %.200s)", provider, type(exc).__name__, exc)
    return UpstreamProtocolError(f"provider {provider} answered in a shape the gateway could not read "
                                 f"({type(exc).__name__})", provider=provider)


def untranslatable(provider: str, exc: Exception) -> UnsupportedFeatureError:
    return UnsupportedFeatureError(f"The request could not be translated for provider {provider}: a field has an "
                                   f"unexpected shape ({type(exc).__name__}: {str(exc)[:200]})")


# -- helpers shared by translators ------------------------------------------------------------------


def parse_json_object(body: bytes, provider: str) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise UpstreamProtocolError(f"provider {provider} answered with something that is not JSON", provider=provider)
    return data


def retry_after(headers: httpx.Headers) -> float | None:
    """`Retry-After` in seconds (delta-seconds or HTTP date), or `retry-after-ms`; None when absent."""
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_from_body(status: int, headers: httpx.Headers, body: bytes, provider: str) -> UpstreamStatusError:
    """An upstream HTTP error in OpenAI's error shape (or plain text) as our error, message kept."""
    message, kind, code, param = f"provider {provider} answered HTTP {status}", None, None, None
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or message)
        kind = error.get("type") if isinstance(error.get("type"), str) else None
        code = str(error["code"]) if error.get("code") is not None else None
        param = error.get("param") if isinstance(error.get("param"), str) else None
    elif isinstance(error, str):
        message = error
    elif body and not isinstance(data, dict | list):
        message = f"{message}: {body[:500].decode('utf-8', 'replace').strip()}"
    return UpstreamStatusError(
        status, message, provider=provider, type=kind, code=code, param=param, retry_after=retry_after(headers)
    )


def build_provider(config: ProviderConfig, transport: httpx.AsyncBaseTransport | None = None) -> HttpProvider:
    target = REGISTRY.get(config.type)
    if target is None:
        raise ValueError(f'provider type "{config.type}" is not available in this version of the gateway')
    module_name, _, class_name = target.partition(":")
    cls: type[HttpProvider] = getattr(importlib.import_module(module_name), class_name)
    return cls(config, Upstream(config, transport) if transport is not None else None)
