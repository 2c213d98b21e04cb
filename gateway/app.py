"""Composition root: `create_app(config)` builds providers, routing, dispatcher and middleware.

The only module that wires concrete classes together; nothing imports it but the CLI and tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import __version__
from gateway.access.gate import Access, Accounting
from gateway.access.keys import Caller, KeyRing
from gateway.access.limits import Limiter
from gateway.access.prices import PriceBook
from gateway.cache import ResponseCache, build_cache
from gateway.config import ConfigError, GatewayConfig
from gateway.dispatch import Dispatcher
from gateway.endpoints import PROXY_HEADERS, Endpoints, Gateway, error_response
from gateway.entrances.messages import MessagesEntrance, to_anthropic_error
from gateway.entrances.responses_http import ResponsesEntrance
from gateway.errors import GatewayError, InvalidRequestError
from gateway.events import Fanout, NoopObserver, Observer
from gateway.middleware import Answer, EntryMiddleware, ErrorHandler, GatewayApp, Lane
from gateway.openapi import openapi
from gateway.providers.base import HttpProvider, build_provider
from gateway.providers.registry import unavailable_types
from gateway.reload import Reloader
from gateway.routing.health import CooldownPolicy, Health
from gateway.routing.table import RouteTable
from gateway.state import LimitStore, build_limit_store
from gateway.state.responses import ResponseStore, build_response_store
from gateway.ui import LivePage

log = logging.getLogger("gateway")


def build_gateway(
    config: GatewayConfig,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    observer: Observer | None = None,
    *,
    health: Health | None = None,
    reuse: Mapping[str, HttpProvider] | None = None,
    cache: ResponseCache | None = None,
    limits: LimitStore | None = None,
    responses: ResponseStore | None = None,
    clock: Callable[[], float] = time.time,
) -> tuple[Gateway, list[HttpProvider]]:
    """Everything a config describes. `transports` replaces a provider's network transport (tests);
    a reload passes the running `health`, and the providers, `cache` and `limits` it may `reuse` as they are.
    `clock` is the wall clock of budget periods (tests move it)."""
    if problems := unavailable_types(config):
        raise ConfigError(config.source or "<config>", problems)
    transports, reuse = transports or {}, reuse or {}
    providers = [reuse.get(p.name) or build_provider(p, transports.get(p.name)) for p in config.providers]
    table = RouteTable(config)
    told = observer = observer or NoopObserver()
    store = limits or build_limit_store(config.limits, lambda kind: told.limits_error("redis", kind))
    prefix = config.limits.key_prefix if config.limits.backend == "redis" else ""
    limiter = Limiter(store, prefix=prefix, on_backend_error=config.limits.on_backend_error, clock=clock)
    callers = [Caller.from_config(k) for k in config.keys]
    access = Access(KeyRing.from_config(config), PriceBook.from_config(config), limiter, callers)
    observer = Accounting(access, observer)
    routing = config.routing
    policy = CooldownPolicy(routing.failure_threshold, routing.cooldown_s, routing.cooldown_max_s,
                            routing.latency_decay, routing.latency_half_life_s)
    if health is None:
        health = Health(policy)
    else:
        health.policy = policy
        health.keep_only(t.key for r in table.routes() for t in r.targets)
    dispatcher = Dispatcher(table, {p.name: p for p in providers}, observer, health, routing)
    cache = cache or build_cache(config.cache, observer)
    if responses is None:
        backend, url = config.response_store()
        responses = build_response_store(
            backend, redis_url=url, prefix=config.responses.key_prefix, max_entries=config.responses.max_entries,
            max_bytes=config.responses.max_bytes,
            ttl_s=config.responses.ttl_s, timeout_s=config.responses.redis_timeout_s,
            on_error=lambda kind: told.responses_error("redis", kind))
    gateway = Gateway(config, table, dispatcher, health, observer, config.secrets(), int(time.time()), access,
                      responses, cache)
    return gateway, providers


def telemetry_wanted(config: GatewayConfig) -> bool:
    """Whether to start telemetry (which imports the OpenTelemetry SDK): something to export, by the config or
    the standard environment, or an OpenTelemetry SDK already set up in this process (opentelemetry-instrument)."""
    tc = config.telemetry
    return (tc.exporter != "none" or tc.prometheus or bool(os.environ.get("OTEL_TRACES_EXPORTER"))
            or bool(os.environ.get("OTEL_METRICS_EXPORTER")) or "opentelemetry.sdk.trace" in sys.modules)


class Direct:
    """A proxy endpoint (`async (request) -> response`) as a plain ASGI app for its `Route`. Starlette's
    `request_response` would add, per request, two closures and a second exception wrapper around `send` that
    the ExceptionMiddleware around every route already is (the same handlers, before the response starts);
    on the paths every call takes, that was about 2% of a request's instructions (issue 19)."""

    __slots__ = ("handler",)

    def __init__(self, handler: Callable[[Request], Awaitable[ASGIApp]]) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.handler(Request(scope, receive, send))
        await response(scope, receive, send)


def create_app(
    config: GatewayConfig,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    *,
    clock: Callable[[], float] = time.time,
    on_admin_reload: Callable[[], None] | None = None,
    limits: LimitStore | None = None,
) -> Starlette:
    """The app. `on_admin_reload`: called after `POST /admin/reload` reloaded this process (with `--workers N`
    it asks the parent to reload every worker, gateway/supervisor.py). `limits`: the store of rate counters
    and spend, when not the one `[limits]` describes (the workers' shared one, gateway/state/shared.py)."""
    telemetry = None
    if telemetry_wanted(config):
        from gateway.telemetry import start_telemetry  # imports opentelemetry only when it is used

        telemetry = start_telemetry(config, __version__)
    observer: Observer = telemetry.observer if telemetry else NoopObserver()
    live = LivePage(config.ui) if config.ui.enabled else None  # GET /ui: the live page, one more observer
    if live is not None:  # with telemetry off, the page's recorder alone
        observer = Fanout(observer, live.recorder) if telemetry else live.recorder
    gateway, providers = build_gateway(config, transports, observer, limits=limits, clock=clock)
    if not config.keys:
        log.warning("no [[keys]] configured: this gateway takes calls from anyone who can reach it")

    def rebuild(new: GatewayConfig, reuse: dict[str, HttpProvider]) -> tuple[Gateway, list[HttpProvider]]:
        old = reloader.gateway
        cache = old.cache if new.cache == old.config.cache else None  # the same [cache] keeps its entries
        limits = old.access.limiter.store if new.limits == old.config.limits else None  # and counters, spend
        same_store = new.responses == old.config.responses and new.response_store() == old.config.response_store()
        built = build_gateway(new, transports, observer, health=old.health, reuse=reuse, cache=cache,
                              limits=limits, responses=old.responses if same_store else None, clock=clock)
        if old.cache is not None and old.cache is not built[0].cache:
            with contextlib.suppress(RuntimeError):  # no running loop: the old cache is left to the GC
                retired.add(task := asyncio.get_running_loop().create_task(close_when_idle(old)))
                task.add_done_callback(retired.discard)
        if limits is None:
            with contextlib.suppress(RuntimeError):
                retired.add(task := asyncio.get_running_loop().create_task(restart_limits(old, built[0])))
                task.add_done_callback(retired.discard)
        return built

    retired: set[asyncio.Task[None]] = set()

    async def close_when_idle(old: Gateway) -> None:
        """A replaced cache closes once the requests still on the old config are done (or after the grace)."""
        deadline = time.monotonic() + old.config.server.shutdown_grace_s
        while old.active and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        if old.cache is not None:
            await old.cache.aclose()

    async def restart_limits(old: Gateway, new: Gateway) -> None:
        """A changed [limits] section: the new store starts now, the old one closes once its requests ended."""
        await new.access.limiter.store.start()
        deadline = time.monotonic() + old.config.server.shutdown_grace_s
        while old.active and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await old.access.limiter.store.aclose()

    reloader = Reloader(gateway, providers, rebuild)
    if telemetry is not None and telemetry.recorder is not None:
        telemetry.recorder.in_flight = lambda: reloader.gateway.health.in_flight()
    endpoints = Endpoints(reloader.current, reloader.reload, on_admin_reload)

    def drain_on_sigterm(loop: asyncio.AbstractEventLoop) -> None:
        """SIGTERM: /readyz answers 503 at once; uvicorn's own handler (stop accepting, let requests in flight
        finish within shutdown_grace_s) runs after `[server] drain_delay_s`, while load balancers notice."""
        stop = signal.getsignal(signal.SIGTERM)  # uvicorn's, installed before the lifespan starts
        if not callable(stop):
            return

        def on_term(sig: int, frame: Any) -> None:
            endpoints.draining = True
            delay = reloader.gateway.config.server.drain_delay_s
            if delay > 0:
                loop.call_soon_threadsafe(loop.call_later, delay, stop, sig, frame)
            else:
                stop(sig, frame)

        signal.signal(signal.SIGTERM, on_term)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError, AttributeError):
            # (no signals off the main thread, nor SIGHUP on Windows)
            loop.add_signal_handler(signal.SIGHUP, reloader.reload)
        with contextlib.suppress(ValueError):  # off the main thread (tests): no signal handling
            drain_on_sigterm(loop)
        watcher = loop.create_task(reloader.watch()) if config.server.watch_config else None
        await reloader.gateway.access.limiter.store.start()
        yield
        if watcher is not None:
            watcher.cancel()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError, AttributeError):
            loop.remove_signal_handler(signal.SIGHUP)
        await reloader.aclose()
        if reloader.gateway.cache is not None:
            await reloader.gateway.cache.aclose()
        await reloader.gateway.access.limiter.store.aclose()  # the last spend is written
        await reloader.gateway.responses.aclose()
        if telemetry is not None:
            await telemetry.shutdown()  # flushes what is left; bounded even with the collector down

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        error = GatewayError(f"{request.method} {request.url.path}: {exc.detail}", code=str(exc.status_code))
        error.status, error.type = exc.status_code, "invalid_request_error"
        return error_response(error, [])

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("unexpected error on %s %s: %s", request.method, request.url.path, type(exc).__name__, exc_info=exc)
        return error_response(GatewayError("The gateway hit an internal error; it has been logged."), [])

    async def bad_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, GatewayError)
        return error_response(exc, reloader.gateway.secrets)

    responses_api = ResponsesEntrance(endpoints)
    proxied: dict[str, Callable[[Request], Awaitable[Answer]]] = {
        "/v1/chat/completions": endpoints.chat,
        "/v1/completions": endpoints.completions,
        "/v1/embeddings": endpoints.embeddings,
        "/v1/messages": MessagesEntrance(endpoints).messages,
        "/v1/responses": responses_api.create,
    }
    lanes = {path: Lane(Route(path, Direct(handler), methods=["POST"]), handler) for path, handler in proxied.items()}
    routes = [
        *(lane.route for lane in lanes.values()),
        Route("/v1/responses/{response_id}", responses_api.retrieve, methods=["GET"]),
        Route("/v1/responses/{response_id}", responses_api.delete, methods=["DELETE"]),
        Route("/v1/responses/{response_id}/input_items", responses_api.input_items, methods=["GET"]),
        Route("/v1/models", endpoints.models, methods=["GET"]),
        Route("/v1/models/{model:path}", endpoints.model, methods=["GET"]),
        Route("/healthz", endpoints.healthz, methods=["GET"]),
        Route("/readyz", endpoints.readyz, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/admin/status", endpoints.status, methods=["GET"]),
        Route("/admin/reload", endpoints.reload, methods=["POST"]),
        Route("/admin/cache/purge", endpoints.purge_cache, methods=["POST"]),
        Route("/admin/usage", endpoints.usage, methods=["GET"]),
    ]
    if telemetry is not None and telemetry.prometheus:
        routes.append(Route("/metrics", telemetry.metrics_endpoint, methods=["GET"]))
    if live is not None:
        routes += live.routes(reloader.current)
    errors: dict[Any, ErrorHandler] = {HTTPException: http_error, InvalidRequestError: bad_request}
    app = GatewayApp(routes=routes, lifespan=lifespan, exception_handlers={**errors, Exception: unexpected})
    app.add_middleware(EntryMiddleware, current=reloader.current, observer=observer,
                       reshape={"/v1/messages": to_anthropic_error}, lanes=lanes, errors=errors, drain=endpoints,
                       lane_headers=PROXY_HEADERS)
    if config.server.cors_origins:  # outside the key check: a browser's preflight carries no key
        app.add_middleware(
            CORSMiddleware, allow_origins=config.server.cors_origins, allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["authorization", "x-api-key", "content-type", "x-request-id", "cache-control",
                           "traceparent", "tracestate", "baggage", "anthropic-version", "anthropic-beta",
                           "x-gateway-target", "x-gateway-timeout-s", "x-gateway-fallbacks", "x-gateway-cache-ttl",
                           "openai-organization", "openai-project"],
            expose_headers=["x-request-id", "x-gateway-provider", "x-gateway-attempts", "x-gateway-cache",
                            "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
                            "x-ratelimit-reset-requests", "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens",
                            "x-ratelimit-reset-tokens", "retry-after", "age"],
            max_age=600)
    if telemetry is not None and telemetry.tracing is not None:
        from gateway.telemetry import ServerSpanMiddleware

        app.add_middleware(ServerSpanMiddleware, tracing=telemetry.tracing)  # outermost: sees every byte
    app.state.reloader = reloader
    app.state.telemetry = telemetry  # None when off; tests and the benchmark hook flush through it
    return app
