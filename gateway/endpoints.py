"""HTTP handlers: parse -> dispatch -> render JSON or SSE. No provider names here."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from gateway import sse
from gateway.config import GatewayConfig
from gateway.dispatch import Dispatcher
from gateway.errors import (
    BodyTooLargeError,
    GatewayError,
    InvalidRequestError,
    ModelNotFoundError,
    UpstreamError,
    scrub,
)
from gateway.events import Attempt, Exchange, Observer
from gateway.providers.base import Call, Operation, UpstreamStream
from gateway.routing.table import RouteTable
from gateway.wire import check_request

log = logging.getLogger("gateway")

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


@dataclass(slots=True)
class Gateway:
    """Everything one config builds. A reload swaps the whole object; requests keep the one they began on."""

    config: GatewayConfig
    table: RouteTable
    dispatcher: Dispatcher
    observer: Observer
    secrets: list[str]
    created: int


class Endpoints:
    def __init__(self, current: Callable[[], Gateway]) -> None:
        self.current = current

    async def chat(self, request: Request) -> Response:
        return await self._proxy(request, "chat")

    async def completions(self, request: Request) -> Response:
        return await self._proxy(request, "text_completion")

    async def embeddings(self, request: Request) -> Response:
        return await self._proxy(request, "embeddings")

    async def models(self, request: Request) -> Response:
        gateway = self.current()
        data = [
            {"id": name, "object": "model", "created": gateway.created, "owned_by": "llm-gateway"}
            for name in gateway.table.names()
        ]
        return JSONResponse({"object": "list", "data": data})

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        return JSONResponse({"status": "ready", "routes": len(self.current().table.names())})

    # -- the proxy path -------------------------------------------------------------------------------

    async def _proxy(self, request: Request, operation: Operation) -> Response:
        gateway = self.current()
        request_id = request.scope.get("state", {}).get("request_id", "")
        exchange = Exchange(request_id, operation)
        request.scope["state"]["exchange"] = exchange  # read by the server-span middleware when it ends
        try:
            body = await _read_json(request, gateway.config.server.max_request_bytes)
            check_request(operation, body)
            route = gateway.table.get(body["model"])
            if route is None:
                raise _unknown_model(body["model"], gateway.table.names())
            exchange.route, exchange.body = route.model, body
            call = Call(operation, body, stream=body.get("stream") is True)
            exchange.stream = call.stream
            if call.stream:
                stream, attempt = await gateway.dispatcher.open_stream(exchange, route, call)
                return self._stream_response(gateway, exchange, stream, attempt)
            reply, attempt = await gateway.dispatcher.complete(exchange, route, call)
            exchange.status = 200
            gateway.observer.request_finished(exchange)
            return Response(reply.body, media_type="application/json", headers=_answer_headers(exchange, attempt))
        except GatewayError as exc:
            exchange.status, exchange.error = exc.status, _kind(exc)
            gateway.observer.request_finished(exchange)
            return error_response(exc, gateway.secrets, _answer_headers(exchange, None))

    def _stream_response(
        self, gateway: Gateway, exchange: Exchange, stream: UpstreamStream, attempt: Attempt
    ) -> Response:
        exchange.status = 200
        return StreamingResponse(
            self._relay(gateway, exchange, stream, attempt),
            media_type="text/event-stream",
            headers={**SSE_HEADERS, **_answer_headers(exchange, attempt)},
        )

    async def _relay(
        self, gateway: Gateway, exchange: Exchange, stream: UpstreamStream, attempt: Attempt
    ) -> AsyncIterator[bytes]:
        """Relay each chunk as it arrives. A broken stream ends with an error event, never like a whole
        answer; a client that leaves cancels this generator, which closes the upstream response."""
        try:
            chunks = stream.chunks()
            async for payload in chunks:
                attempt.first_chunk_at = stream.first_chunk_at
                gateway.observer.first_chunk(exchange, attempt)
                yield b"data: " + payload + b"\n\n"
                break
            async for payload in chunks:
                yield b"data: " + payload + b"\n\n"
            attempt.finish("ok", status=200)
            yield sse.DONE
        except UpstreamError as exc:
            attempt.finish("error", error=exc.kind)
            exchange.error = exc.kind
            body = json.dumps(_error_body(exc, gateway.secrets)).encode()
            yield sse.encode(body)
        except BaseException:
            attempt.finish("cancelled", error="client_disconnected")
            exchange.error = "client_disconnected"
            raise
        finally:
            gateway.observer.attempt_finished(exchange, attempt)
            gateway.observer.request_finished(exchange)


async def _read_json(request: Request, limit: int) -> dict[str, Any]:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks))
    except ValueError:
        raise InvalidRequestError(
            "We could not parse the JSON body of your request. Send a JSON object "
            "(Content-Type: application/json)."
        ) from None
    if not isinstance(body, dict):
        raise InvalidRequestError("The request body must be a JSON object.")
    return body


def _too_large(limit: int) -> BodyTooLargeError:
    return BodyTooLargeError(
        f"The request body is larger than the gateway's limit of {limit} bytes "
        "(server.max_request_bytes in the config)."
    )


def _unknown_model(model: str, names: list[str]) -> ModelNotFoundError:
    shown = ", ".join(f'"{n}"' for n in names[:50])
    message = f'The model "{model}" is not served by this gateway. Available models: {shown}.'
    return ModelNotFoundError(message, param="model")


def _answer_headers(exchange: Exchange, attempt: Attempt | None) -> dict[str, str]:
    headers = {"x-gateway-attempts": str(len(exchange.attempts))}
    if attempt is not None:
        headers["x-gateway-provider"] = attempt.provider
    elif exchange.attempts and exchange.attempts[-1].status is not None:
        headers["x-gateway-provider"] = exchange.attempts[-1].provider
    return headers


def _kind(exc: GatewayError) -> str:
    return exc.kind if isinstance(exc, UpstreamError) else str(exc.status)


def _error_body(exc: GatewayError, secrets: list[str]) -> dict[str, Any]:
    body = exc.to_body()
    body["error"]["message"] = scrub(body["error"]["message"], secrets)
    return body


def error_response(exc: GatewayError, secrets: list[str], headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(_error_body(exc, secrets), status_code=exc.status, headers=headers)
