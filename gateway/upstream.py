"""The upstream HTTP client: one long-lived, pooled `httpx.AsyncClient` per provider.

httpx is the API (its transport seam is where tests and tracing plug in); the connection pool underneath
is aiohttp's, through `httpx_aiohttp.AiohttpTransport`, because httpx's own pool costs 2-3x the CPU per
request at 16-64 concurrent requests (issue 3's measurements; bench/ checks it). This module is the only
place that knows; swapping the stack is a change here.
"""

from __future__ import annotations

import asyncio

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from gateway.config import ProviderConfig
from gateway.errors import (
    UpstreamConnectionError,
    UpstreamError,
    UpstreamTimeoutError,
    UpstreamUnreachableError,
)


def make_client(config: ProviderConfig, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    limits = httpx.Limits(
        max_connections=config.max_connections,
        max_keepalive_connections=config.max_keepalive_connections,
        keepalive_expiry=config.keepalive_s,
    )
    timeout = httpx.Timeout(
        connect=config.connect_timeout_s,
        read=config.read_timeout_s or config.timeout_s,
        write=config.timeout_s,
        pool=config.timeout_s,
    )
    return httpx.AsyncClient(
        transport=transport or AiohttpTransport(limits=limits, trust_env=False),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )


def classify(exc: BaseException, provider: str) -> UpstreamError:
    """Turn a transport exception into our error tree.

    httpx_aiohttp maps every aiohttp connection error to `httpx.ConnectTimeout`, even a refused
    connection or a server that hung up mid-body, so we look at the aiohttp exception underneath.
    """
    cause = exc.__cause__ if isinstance(exc, httpx.HTTPError) and exc.__cause__ else exc
    if isinstance(cause, aiohttp.ClientConnectorError | httpx.ConnectError | ConnectionRefusedError):
        return UpstreamUnreachableError(f"could not connect to provider {provider}", provider=provider)
    if isinstance(cause, TimeoutError | asyncio.TimeoutError | httpx.TimeoutException):
        return UpstreamTimeoutError(f"provider {provider} did not answer in time", provider=provider)
    return UpstreamConnectionError(
        f"the connection to provider {provider} failed: {type(cause).__name__}", provider=provider
    )
