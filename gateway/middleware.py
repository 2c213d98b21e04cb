"""Pure ASGI middleware (no BaseHTTPMiddleware: it breaks contextvars, where OpenTelemetry keeps context)."""

from __future__ import annotations

import random
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_SAFE_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")


class RequestIdMiddleware:
    """Gives every request an id (the client's `x-request-id` when it is sane) and echoes it back; leaves the
    response's status at `scope["state"]["status"]` for the layers outside (telemetry)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        request_id = b""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = value if _SAFE_ID.match(value) else b""
                break
        if not request_id:
            # Unique, not secret: getrandbits avoids uuid4's os.urandom syscall on every request.
            request_id = b"%032x" % random.getrandbits(128)
        state["request_id"] = request_id.decode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id)]
                state["status"] = message["status"]
            await send(message)

        await self.app(scope, receive, send_with_id)
