"""A bare pass-through (issue 19): Starlette + uvicorn + one aiohttp.ClientSession, nothing from gateway/.

    python bench/bare.py --port 9002 --upstream http://127.0.0.1:8080

What the gateway is compared with in bench/versus.py. It reads the client's body and forwards it, with its
Content-Type and Authorization, to the bench's static nginx over one long-lived `aiohttp.ClientSession` (made at
startup), then relays status, Content-Type and body: a stream chunk by chunk as aiohttp hands them over, any
other answer whole. No parsing, routing, auth, limits, cache, telemetry or live page. Which nginx answer a
request gets (nginx cannot look inside a body, so each answer has its own path):

    POST /v1/chat/completions   `"stream": true` in the body (a byte search) -> /stream32/v1/chat/completions
                                (32 chunk events + [DONE]), else /v1/chat/completions (a chat.completion)
    POST /v1/messages           -> /anthropic/v1/messages (an Anthropic Messages answer of the same text)
    POST /v1/responses          -> /v1/chat/completions (the chat answer, relayed as it is: the gateway too
                                calls the chat upstream for /v1/responses, translating both ways; the bare
                                one does not translate, which is part of what the gateway's ratio measures)
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

REQUEST_HEADERS = ("content-type", "authorization")


def _wants_stream(body: bytes) -> bool:
    return b'"stream": true' in body or b'"stream":true' in body


def create_app(upstream: str) -> Starlette:
    base = upstream.rstrip("/")
    chat_url, stream_url = f"{base}/v1/chat/completions", f"{base}/stream32/v1/chat/completions"
    messages_url = f"{base}/anthropic/v1/messages"
    state: dict[str, aiohttp.ClientSession] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=1000, limit_per_host=1000, keepalive_timeout=75)
        state["session"] = aiohttp.ClientSession(connector=connector, auto_decompress=False)
        yield
        await state["session"].close()

    async def forward(request: Request, url: str, stream: bool) -> Response:
        body = await request.body()
        headers = {name: value for name in REQUEST_HEADERS if (value := request.headers.get(name)) is not None}
        upstream_response = await state["session"].post(url, data=body, headers=headers)
        content_type = upstream_response.headers.get("content-type", "application/octet-stream")
        if stream:
            async def relay() -> AsyncIterator[bytes]:
                try:
                    async for chunk in upstream_response.content.iter_any():
                        yield chunk
                finally:
                    upstream_response.release()

            return StreamingResponse(relay(), status_code=upstream_response.status, media_type=content_type,
                                     headers={"cache-control": "no-cache"})
        try:
            content = await upstream_response.read()
        finally:
            upstream_response.release()
        return Response(content, status_code=upstream_response.status, media_type=content_type)

    async def chat(request: Request) -> Response:
        body_peek = await request.body()  # cached by Starlette: forward() reads the same bytes
        stream = _wants_stream(body_peek)
        return await forward(request, stream_url if stream else chat_url, stream)

    async def messages(request: Request) -> Response:
        return await forward(request, messages_url, _wants_stream(await request.body()))

    async def responses(request: Request) -> Response:
        return await forward(request, chat_url, False)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/messages", messages, methods=["POST"]),
            Route("/v1/responses", responses, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Bare pass-through: what the gateway is compared with (issue 19).")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--upstream", required=True, help="the bench nginx, e.g. http://127.0.0.1:8080")
    args = parser.parse_args()
    uvicorn.run(create_app(args.upstream), host=args.host, port=args.port, loop="uvloop", http="httptools",
                access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
