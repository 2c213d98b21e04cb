"""HTTP handlers: parse -> dispatch -> render JSON or SSE. No provider names here."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import inspect
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from gateway.access.gate import Access
from gateway.access.keys import Caller
from gateway.cache import TTL_HEADER, ResponseCache, Ticket, Upstream
from gateway.config import GatewayConfig
from gateway.dispatch import Control, Dispatcher
from gateway.errors import (
    BodyTooLargeError,
    GatewayError,
    InvalidRequestError,
    ModelNotFoundError,
    UpstreamError,
    scrub,
)
from gateway.events import Attempt, Exchange, Observer
from gateway.eventstream import EventStreamResponse
from gateway.providers.base import Call, Facts, Operation
from gateway.routing.health import Health
from gateway.routing.table import Route, RouteTable
from gateway.state import StateUnavailableError
from gateway.state.responses import ResponseStore
from gateway.streaming import StreamAnswer
from gateway.timers import Timers
from gateway.watch import WatchClient
from gateway.wire import check_request

log = logging.getLogger("gateway")

Answer = Response | EventStreamResponse
Spawn = Callable[[Coroutine[Any, Any, None]], None]


@dataclass(slots=True)
class AsIs:
    """What an entrance's `translate` returns for a body that goes upstream as sent, as `operation` (a
    Responses API request to a route whose providers have /v1/responses themselves)."""

    operation: Operation
    body: dict[str, Any]


# another entrance's request body -> an OpenAI chat body or AsIs (or an awaitable of one: the Responses API reads
# the conversation's earlier turns from its store first)
Translate = Callable[[dict[str, Any]], dict[str, Any] | AsIs | Awaitable[dict[str, Any] | AsIs]]
SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
_SSE_RAW = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in SSE_HEADERS.items()]  # encoded once
RawHeaders = list[tuple[bytes, bytes]]  # what the answer's headers are built as: no encoding per request


class JSONAnswer(Response):
    """A JSON answer as the client gets it (`application/json`, then `headers`; an upstream's, or an entrance's
    translation of one), and that body parsed (`data`) when the provider parsed it for its facts: an entrance
    translating the answer (`answer_data`) reads it rather than parse it again. Its headers are built here as raw
    pairs, without the general `Response.__init__`'s rendering and checks (issue 19)."""

    media_type = "application/json"

    def __init__(self, body: bytes, headers: RawHeaders, data: dict[str, Any] | None = None,
                 status_code: int = 200) -> None:
        self.status_code, self.background, self.body, self.data = status_code, None, body, data
        self.raw_headers = [(b"content-length", b"%d" % len(body)), _JSON_TYPE, *headers]


_JSON_TYPE = (b"content-type", b"application/json")


def answer_data(answer: Response) -> Any:
    """The parsed JSON body of an answer from `Endpoints.chat_from`."""
    if isinstance(answer, JSONAnswer) and answer.data is not None:
        return answer.data
    return orjson.loads(answer.body)


@dataclass(slots=True)
class Gateway:
    """Everything one config builds. A reload swaps the whole object; requests keep the one they began on."""

    config: GatewayConfig
    table: RouteTable
    dispatcher: Dispatcher
    health: Health
    observer: Observer
    secrets: list[str]
    created: int
    access: Access
    responses: ResponseStore
    cache: ResponseCache | None = None
    active: int = 0  # requests and streams in flight on this config (a reload waits for them)

    def leave(self) -> None:
        self.active -= 1


class Endpoints:
    def __init__(
        self,
        current: Callable[[], Gateway],
        reload: Callable[[], Any] | None = None,
        on_admin_reload: Callable[[], None] | None = None,
    ) -> None:
        self.current = current
        self._reload = reload
        self._on_admin_reload = on_admin_reload  # --workers: tell the parent, which reloads every worker
        self.draining = False  # set when SIGTERM arrives (app.py): /readyz answers 503
        self._background: set[asyncio.Task[None]] = set()
        self._watches: list[Timers] = []  # the client watches' timers, all WATCH_AFTER_S long (gateway/timers.py)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` after the request (settling one whose client left); held until done."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._background.discard)

    # The proxy handlers hand back `_proxy`'s coroutine rather than await it in one of their own: one coroutine
    # less on every request, and on every resumption of its chain (issue 19). The same below wherever a
    # function only passes a call on.

    def chat(self, request: Request) -> Coroutine[Any, Any, Answer]:
        return self._proxy(request, "chat")

    def completions(self, request: Request) -> Coroutine[Any, Any, Answer]:
        return self._proxy(request, "text_completion")

    def embeddings(self, request: Request) -> Coroutine[Any, Any, Answer]:
        return self._proxy(request, "embeddings")

    def chat_from(self, request: Request, translate: Translate) -> Coroutine[Any, Any, Answer]:
        """Chat for another entrance (gateway/entrances/): `translate` turns the request's JSON into an
        OpenAI chat body, or raises InvalidRequestError. The answer is in OpenAI's format, for it to translate."""
        return self._proxy(request, "chat", translate)

    async def models(self, request: Request) -> Response:
        """The route names this caller may ask for."""
        gateway = self.current()
        data = [_model(name, gateway) for name in _visible(request, gateway)]
        return JSONResponse({"object": "list", "data": data})

    async def model(self, request: Request) -> Response:
        """One model (`GET /v1/models/{model}`), as the openai SDK's `models.retrieve` asks for it."""
        gateway = self.current()
        name = request.path_params["model"]
        if name not in _visible(request, gateway):
            return error_response(_unknown_model(name, _visible(request, gateway)), gateway.secrets)
        return JSONResponse(_model(name, gateway))

    async def usage(self, request: Request) -> Response:
        """`GET /admin/usage`: each gateway key's requests, tokens and spend in its current budget period."""
        gateway = self.current()
        if denied := _admin_denied(request, gateway):
            return denied
        try:
            return JSONResponse(await gateway.access.usage_report())
        except StateUnavailableError:
            error = GatewayError("The limits' store (Redis) could not be reached; usage is unavailable.",
                                 code="unavailable")
            error.status = 503
            return error_response(error, gateway.secrets)

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        """Ready to take traffic: the config is loaded and the gateway listens (it answers), and it is not
        draining (503 from the moment SIGTERM arrives). A provider outage does not make a replica unready:
        that is per route, at `GET /admin/status`, and every replica would see the same."""
        if self.draining:
            return JSONResponse({"status": "draining"}, status_code=503)
        return JSONResponse({"status": "ready", "routes": len(self.current().table.names())})

    async def reload(self, request: Request) -> Response:
        """Reload the config file now; an invalid file is refused and the running config stays."""
        if denied := _admin_denied(request, self.current()):
            return denied
        if self._reload is None:
            return JSONResponse({"status": "unavailable"}, status_code=404)
        result = self._reload()
        if not result.ok:
            return JSONResponse({"status": "refused", "problems": result.problems}, status_code=400)
        if self._on_admin_reload is not None:
            self._on_admin_reload()
        source = self.current().config.source
        return JSONResponse({"status": "reloaded", "warnings": result.warnings, "config": source})

    async def status(self, request: Request) -> Response:
        """Each route's targets: healthy or cooling (for how long), in flight, latency, recent errors."""
        gateway = self.current()
        if denied := _admin_denied(request, gateway):
            return denied
        routes = {
            r.model: {
                "strategy": r.strategy,
                "fallbacks": list(r.fallbacks),
                "targets": [{"target": t.key, "weight": t.weight, **gateway.health.snapshot(t.key)} for t in r.targets],
            }
            for r in gateway.table.routes()
        }
        cache = gateway.cache.stats() if gateway.cache is not None else {"backend": "none"}
        stuck = [r.model for r in gateway.table.routes() if all(gateway.health.cooling(t.key) for t in r.targets)]
        store = gateway.access.limiter.store
        limits: dict[str, Any] = {"backend": store.name}
        held_spend = getattr(store, "held_spend", None)  # Redis: spend made during an outage, not yet written
        if held_spend is not None:
            held = held_spend()
            limits["spend_held"] = {"requests": held.requests, "cost_usd": held.cost_usd}
        return JSONResponse({"config": gateway.config.source, "process": os.getpid(), "routes": routes,
                             "routes_without_usable_target": stuck, "cache": cache, "limits": limits,
                             "draining": self.draining})

    async def purge_cache(self, request: Request) -> Response:
        """Empty the response cache, or one route's entries with `{"route": "<model>"}`."""
        gateway = self.current()
        if denied := _admin_denied(request, gateway):
            return denied
        body = await _read_json(request, 65536, request.headers.get("content-length")) if await request.body() else {}
        route = body.get("route")
        if route is not None and not isinstance(route, str):
            return error_response(InvalidRequestError("route must be a model name", param="route"), [])
        if route is not None and gateway.table.get(route) is None:
            return error_response(_unknown_model(route, gateway.table.names()), gateway.secrets)
        if gateway.cache is None:
            return JSONResponse({"status": "purged", "removed": 0, "backend": "none"})
        removed = await gateway.cache.purge(route)
        if removed is None:
            error = GatewayError("The cache backend could not be reached; nothing was purged.", code="unavailable")
            error.status = 503
            return error_response(error, gateway.secrets)
        return JSONResponse({"status": "purged", "removed": removed, "route": route})

    # -- the proxy path -------------------------------------------------------------------------------

    async def _proxy(self, request: Request, operation: Operation, translate: Translate | None = None) -> Answer:
        gateway = self.current()  # this request finishes on this config, whatever a reload does meanwhile
        gateway.active += 1
        state = request.scope.setdefault("state", {})
        exchange = Exchange(state.get("request_id", ""), operation)
        state["exchange"] = exchange  # read by the server-span middleware when it ends
        caller: Caller | None = state.get("caller")  # set by EntryMiddleware
        if caller is not None:
            exchange.key_name = caller.name
        streaming = False
        try:
            response = await self._answer(request, operation, exchange, caller, gateway, translate)
            streaming = isinstance(response, EventStreamResponse)
            remote = exchange.admission is not None and not gateway.access.limiter.local
            if isinstance(response, EventStreamResponse) and remote:
                response.chunks = _settled(response.chunks, lambda: gateway.access.settle(exchange), self.spawn)
        except BaseException:
            if exchange.admission is not None:
                self.spawn(gateway.access.settle(exchange))
            raise
        finally:
            if not streaming:
                gateway.active -= 1
        if not streaming and exchange.admission is not None and not exchange.admission.settled:
            await gateway.access.settle(exchange)  # before the answer: the next call sees this one's spend
        return response

    async def _answer(
        self, request: Request, operation: Operation, exchange: Exchange, caller: Caller | None, gateway: Gateway,
        translate: Translate | None = None,
    ) -> Answer:
        try:
            headers: dict[str, str] = request.scope["state"]["proxy_headers"]  # PROXY_HEADERS, by EntryMiddleware
            body = await _read_json(request, gateway.config.server.max_request_bytes, headers.get("content-length"))
            if translate is not None:
                translated = translate(body)
                given = await translated if inspect.isawaitable(translated) else translated
                operation, body = (given.operation, given.body) if isinstance(given, AsIs) else (operation, given)
            check_request(operation, body)
            route = gateway.table.get(body["model"])
            if route is None:
                raise _unknown_model(body["model"], _visible(request, gateway))
            exchange.route, exchange.body = route.model, body
            gateway.access.check_model(caller, route)
            control = control_from_headers(headers)
            call = Call(operation, body, stream=body.get("stream") is True)
            exchange.stream = call.stream
            if (decision := gateway.access.admit(caller, route, call)) is not None:
                exchange.admission = await decision
            cache = gateway.cache
            if cache is not None and (ticket := cache.ticket(exchange, route, call, headers,
                                                             pinned=control.pin is not None)):
                return await self._from_cache(request, gateway, cache, ticket, route, call, control)
            if call.stream:
                # a client leaving cancels the wait for the first token
                with WatchClient(request, exchange, self._watches):
                    started = await gateway.dispatcher.open_stream(exchange, route, call, control)
                answer = StreamAnswer(gateway.dispatcher, exchange, route, call, control, started, gateway.secrets)
                answer.on_end = gateway.leave
                answer.parsed = translate is not None  # an entrance translates the chunks: hand them over parsed
                exchange.status = 200
                return EventStreamResponse(answer.events(), {}, _SSE_RAW + _answer_headers(exchange, started.attempt))
            with WatchClient(request, exchange, self._watches):  # and for the answer: uvicorn won't stop us
                outcome = await gateway.dispatcher.complete(exchange, route, call, control)
            exchange.status = 200
            gateway.observer.request_finished(exchange)
            return JSONAnswer(outcome.result.body, _answer_headers(exchange, outcome.attempt), outcome.result.data)
        except ClientDisconnect:  # it hung up before its body was read: nobody to answer, nothing went upstream
            exchange.status, exchange.error = 499, "client_disconnected"
            gateway.observer.request_finished(exchange)
            return Response(status_code=499)
        except GatewayError as exc:
            exchange.status, exchange.error = exc.status, _kind(exc)
            if exc.refusal is not None:
                request.scope["state"]["refused"] = exc.refusal
                gateway.observer.request_refused(exc.refusal, exchange.key_name, exchange.route or None)
            gateway.observer.request_finished(exchange)
            return error_response(exc, gateway.secrets, {**_dict(_answer_headers(exchange, None)), **exc.headers})

    async def _from_cache(
        self, request: Request, gateway: Gateway, cache: ResponseCache, ticket: Ticket, route: Route, call: Call,
        control: Control,
    ) -> Answer:
        """A hit, or the answer of the one upstream call that concurrent identical misses share, stored
        once it completed (gateway/cache/). `upstream` runs at most once, for the first of them."""
        exchange = ticket.exchange

        def facts() -> Facts | None:  # of the attempt that finished the stream (usage, when it was not relayed)
            return exchange.answered_by.facts if exchange.answered_by is not None else None

        async def upstream() -> Upstream:
            if call.stream:
                started = await gateway.dispatcher.open_stream(exchange, route, call, control)
                answer = StreamAnswer(gateway.dispatcher, exchange, route, call, control, started, gateway.secrets)
                return Upstream(started.attempt.provider, events=answer.events(), facts=facts, reports=True)
            outcome = await gateway.dispatcher.complete(exchange, route, call, control)
            return Upstream(outcome.attempt.provider, body=outcome.result.body)

        # leaving, it leaves the flight (the last one cancels it)
        with WatchClient(request, exchange, self._watches):
            cached = await cache.answer(ticket, upstream)
        exchange.status = 200
        own = cached.headers  # the cache's word on x-gateway-cache and -provider, and its age
        headers = [h for h in _answer_headers(exchange, None) if h[0].decode() not in own]
        headers += [(name.encode(), value.encode()) for name, value in own.items()]
        if cached.events is None:
            gateway.observer.request_finished(exchange)
            return JSONAnswer(cached.body, headers)
        cached.events.on_end = gateway.leave
        return EventStreamResponse(cached.events, {}, _SSE_RAW + headers)


def control_from_headers(headers: Mapping[str, str]) -> Control:
    """Per-request routing control, for debugging and for callers with their own deadlines:

    - `x-gateway-target: PROVIDER` or `PROVIDER/MODEL` sends the request to that target only;
    - `x-gateway-timeout-s: SECONDS` lowers the request's deadline (retries and fallbacks included);
    - `x-gateway-fallbacks: off` keeps the request on the route it asked for.
    """
    timeout = headers.get("x-gateway-timeout-s")
    target, fallbacks_given = headers.get("x-gateway-target"), headers.get("x-gateway-fallbacks")
    if timeout is None and target is None and fallbacks_given is None:
        return _NO_CONTROL  # (most requests: one frozen instance rather than a new one each)
    seconds: float | None = None
    if timeout is not None:
        try:
            seconds = float(timeout)
        except ValueError:
            seconds = -1.0
        if not 0 < seconds < 86400:
            raise InvalidRequestError("x-gateway-timeout-s must be a number of seconds above 0",
                                      param="x-gateway-timeout-s")
    fallbacks = (fallbacks_given if fallbacks_given is not None else "on").strip().lower()
    if fallbacks not in ("on", "off", "true", "false", "1", "0"):
        raise InvalidRequestError("x-gateway-fallbacks must be on or off", param="x-gateway-fallbacks")
    return Control(target or None, seconds, fallbacks in ("on", "true", "1"))


_NO_CONTROL = Control()


# The request headers the proxy path reads, its own and the cache's: EntryMiddleware finds them in its pass over
# the request's headers (`lane_headers`), the first value of each, decoded as Starlette's `Headers.get` decodes it
PROXY_HEADERS = frozenset((b"content-length", b"x-gateway-timeout-s", b"x-gateway-fallbacks", b"x-gateway-target",
                           b"cache-control", TTL_HEADER.encode()))


async def _read_json(request: Request, limit: int, length: str | None) -> dict[str, Any]:
    """The request's body as a JSON object; `length` is its Content-Length header."""
    if length is not None and length.isdigit() and int(length) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    if hasattr(request, "_body"):  # read before (Request.body): Starlette's stream gives it again
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
    else:
        # What `request.stream()` does, without an async generator between the body's messages and us.
        if request._stream_consumed:
            raise RuntimeError("Stream consumed")
        receive = request.receive
        while not request._stream_consumed:
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                if not message.get("more_body", False):
                    request._stream_consumed = True
                if chunk:
                    size += len(chunk)
                    if size > limit:
                        raise _too_large(limit)
                    chunks.append(chunk)
            elif message["type"] == "http.disconnect":
                request._is_disconnected = True
                raise ClientDisconnect()
    try:
        body = orjson.loads(b"".join(chunks))
    except ValueError:
        raise InvalidRequestError(
            "We could not parse the JSON body of your request. Send a JSON object "
            "(Content-Type: application/json)."
        ) from None
    if not isinstance(body, dict):
        raise InvalidRequestError("The request body must be a JSON object.")
    return body


def _admin_denied(request: Request, gateway: Gateway) -> Response | None:
    """Admin endpoints take `Authorization: Bearer <admin.key>` (or `x-api-key`); with no admin key
    configured, only clients on this machine (loopback) may call them. A gateway key is never an admin key."""
    key = gateway.config.admin.key
    if key:
        expected = hashlib.sha256(key.encode()).digest()
        given = [request.headers.get("authorization", "").removeprefix("Bearer ").strip(),
                 request.headers.get("x-api-key", "").strip()]
        # compared as digests: constant time whatever the lengths
        if any(hmac.compare_digest(hashlib.sha256(g.encode()).digest(), expected) for g in given if g):
            return None
        error = GatewayError("This admin endpoint needs Authorization: Bearer <admin.key>.", code="invalid_admin_key")
        error.status, error.type = 401, "authentication_error"
        return error_response(error, gateway.secrets)
    if request.client is not None and request.client.host in ("127.0.0.1", "::1", "localhost"):
        return None
    error = GatewayError("Admin endpoints are only served to loopback clients when [admin] key is not set.")
    error.status, error.type = 403, "permission_error"
    return error_response(error, gateway.secrets)


def _visible(request: Request, gateway: Gateway) -> list[str]:
    """The route names the request's caller may ask for (all of them on an open gateway)."""
    caller: Caller | None = request.scope.get("state", {}).get("caller")
    names = gateway.table.names()
    return names if caller is None else caller.visible(names)


def _model(name: str, gateway: Gateway) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": gateway.created, "owned_by": "llm-gateway"}


async def _settled(
    chunks: AsyncIterator[bytes], settle: Callable[[], Coroutine[Any, Any, None]], spawn: Spawn
) -> AsyncIterator[bytes]:
    """A stream that settles its admission once it ended: before its last byte when it ran to the end (so
    the next call sees its spend), in the background when the client left."""
    finished = False
    try:
        async for chunk in chunks:
            yield chunk
        finished = True
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()  # the stream's own end (request_finished: its cost is known after this)
        if finished:
            await settle()
        else:
            spawn(settle())


def _too_large(limit: int) -> BodyTooLargeError:
    return BodyTooLargeError(
        f"The request body is larger than the gateway's limit of {limit} bytes "
        "(server.max_request_bytes in the config)."
    )


def _unknown_model(model: str, names: list[str]) -> ModelNotFoundError:
    shown = ", ".join(f'"{n}"' for n in names[:50])
    message = f'The model "{model}" is not served by this gateway. Available models: {shown}.'
    return ModelNotFoundError(message, param="model")


def _answer_headers(exchange: Exchange, attempt: Attempt | None) -> RawHeaders:
    """The gateway's headers on an answer. `x-gateway-attempts` counts the upstream attempts made before the
    headers went out: for a stream, those up to its first content. Attempts that resume a stream cut later
    are not in it (the headers are gone by then); the SERVER span's `gateway.attempts` counts them all."""
    headers = [(b"x-gateway-attempts", b"%d" % len(exchange.attempts)),
               (b"x-gateway-cache", (exchange.cache or "bypass").encode())]
    if exchange.admission is not None:
        headers += exchange.admission.headers  # x-ratelimit-* of a limited key or route
    if attempt is not None:
        headers.append((b"x-gateway-provider", attempt.provider.encode()))
    elif exchange.attempts and exchange.attempts[-1].status is not None:
        headers.append((b"x-gateway-provider", exchange.attempts[-1].provider.encode()))
    return headers


def _dict(headers: RawHeaders) -> dict[str, str]:
    return {name.decode(): value.decode() for name, value in headers}


def _kind(exc: GatewayError) -> str:
    return exc.kind if isinstance(exc, UpstreamError) else str(exc.status)


def _error_body(exc: GatewayError, secrets: list[str]) -> dict[str, Any]:
    body = exc.to_body()
    body["error"]["message"] = scrub(body["error"]["message"], secrets)
    return body


def error_response(exc: GatewayError, secrets: list[str], headers: dict[str, str] | None = None) -> Response:
    """The error in OpenAI's shape, with its own headers (a 503's `retry-after`) and `headers`."""
    if exc.headers:
        headers = {**exc.headers, **(headers or {})}
    return JSONResponse(_error_body(exc, secrets), status_code=exc.status, headers=headers)
