"""The floor of our own stack: the least a Starlette + uvicorn + gateway.upstream proxy can do.

POST /v1/chat/completions reads the body and forwards it to the upstream over one long-lived
client; a `"stream": true` body gets the upstream's bytes relayed chunk by chunk, any other gets the
whole upstream body. No parsing, routing, auth or telemetry: whatever the gateway costs on top of
this is the gateway's own overhead.

    python bench/passthrough.py --port 9001 --upstream http://127.0.0.1:8080/v1 \
        [--stream-upstream http://127.0.0.1:8080/stream/v1]

`--stream-upstream` (default: `--upstream`) is where stream requests go; the benchmark's static
nginx needs a separate URL for them, a real upstream does not.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from gateway.config import ProviderConfig
from gateway.eventstream import EventStreamResponse
from gateway.upstream import Upstream

# Headers relayed to the upstream, and back to the client.
REQUEST_HEADERS = ("content-type", "authorization")
RESPONSE_HEADERS = ("content-type", "cache-control")


def _wants_stream(body: bytes) -> bool:
    """A byte search, not a JSON parse: the floor must not pay for parsing."""
    return b'"stream": true' in body or b'"stream":true' in body


async def _relay(response: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.aiter_raw():
            yield chunk
    finally:
        await response.aclose()


def create_app(upstream: str, stream_upstream: str | None = None) -> Starlette:
    json_url = upstream.rstrip("/") + "/chat/completions"
    stream_url = (stream_upstream or upstream).rstrip("/") + "/chat/completions"
    state: dict[str, Upstream] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The gateway's own client stack (gateway/upstream.py), so this floor moves when the stack does.
        config = ProviderConfig(
            name="passthrough", type="openai", base_url=upstream, timeout_s=30,
            max_connections=1000, max_keepalive_connections=1000,
        )
        state["upstream"] = Upstream(config)
        yield
        await state["upstream"].aclose()

    async def chat(request: Request) -> Response:
        body = await request.body()
        stream = _wants_stream(body)
        headers = {name: value for name in REQUEST_HEADERS if (value := request.headers.get(name)) is not None}
        response = await state["upstream"].send("POST", stream_url if stream else json_url, headers, body)
        relayed = {name: value for name in RESPONSE_HEADERS if (value := response.headers.get(name)) is not None}
        if stream:
            sse_headers = {k: v for k, v in relayed.items() if k != "content-type"}  # the response sets it
            return EventStreamResponse(_relay(response), sse_headers, status_code=response.status_code)  # type: ignore[return-value]
        try:
            content = await response.aread()
        finally:
            await response.aclose()
        return Response(content, status_code=response.status_code, headers=relayed)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Minimal proxy: the floor the gateway is compared with.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--upstream", required=True, help="OpenAI-style base URL, e.g. http://127.0.0.1:8080/v1")
    parser.add_argument("--stream-upstream", help="base URL for stream requests (default: --upstream)")
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.upstream, args.stream_upstream),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
