"""Composition root: `create_app(config)` builds providers, routing, dispatcher and middleware.

The only module that wires concrete classes together; nothing imports it but the CLI and tests.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Mapping

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.config import ConfigError, GatewayConfig
from gateway.dispatch import Dispatcher
from gateway.endpoints import Endpoints, Gateway, error_response
from gateway.errors import GatewayError, InvalidRequestError
from gateway.events import NoopObserver, Observer
from gateway.middleware import RequestIdMiddleware
from gateway.providers.base import HttpProvider, build_provider, unavailable_types
from gateway.routing.health import CooldownPolicy, Health
from gateway.routing.table import RouteTable

log = logging.getLogger("gateway")


def build_gateway(
    config: GatewayConfig,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    observer: Observer | None = None,
) -> tuple[Gateway, list[HttpProvider]]:
    """Everything a config describes. `transports` replaces a provider's network transport (tests)."""
    if problems := unavailable_types(config):
        raise ConfigError(config.source or "<config>", problems)
    transports = transports or {}
    providers = [build_provider(p, transports.get(p.name)) for p in config.providers]
    table = RouteTable(config)
    observer = observer or NoopObserver()
    routing = config.routing
    health = Health(CooldownPolicy(routing.failure_threshold, routing.cooldown_s, routing.cooldown_max_s,
                                   routing.latency_decay))
    dispatcher = Dispatcher(table, {p.name: p for p in providers}, observer, health, routing)
    gateway = Gateway(config, table, dispatcher, health, observer, config.secrets(), int(time.time()))
    return gateway, providers


def create_app(
    config: GatewayConfig,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
) -> Starlette:
    gateway, providers = build_gateway(config, transports)
    endpoints = Endpoints(lambda: gateway)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        for provider in providers:
            await provider.aclose()

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
        return error_response(exc, gateway.secrets)

    routes = [
        Route("/v1/chat/completions", endpoints.chat, methods=["POST"]),
        Route("/v1/completions", endpoints.completions, methods=["POST"]),
        Route("/v1/embeddings", endpoints.embeddings, methods=["POST"]),
        Route("/v1/models", endpoints.models, methods=["GET"]),
        Route("/healthz", endpoints.healthz, methods=["GET"]),
        Route("/readyz", endpoints.readyz, methods=["GET"]),
        Route("/admin/status", endpoints.status, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, Exception: unexpected, InvalidRequestError: bad_request},
    )
    app.add_middleware(RequestIdMiddleware)
    app.state.gateway = gateway
    return app
