"""Azure OpenAI in front of the fake OpenAI upstream: Azure's URLs and `api-key` header, OpenAI's wire format.

``AzureFront(FakeOpenAI()).app`` answers ``/openai/deployments/{deployment}/{operation}?api-version=...`` and
``/openai/v1/{operation}`` by handing the request to the fake OpenAI's ``/v1/{operation}``. Like Azure it
answers 401 without an ``api-key`` header and 404 ``DeploymentNotFound`` without an ``api-version`` on a
deployment URL. ``front.seen`` records (path, query, headers) as Azure received them. Like Azure, every
stream opens with a chunk of prompt filter results whose ``id`` and ``model`` are empty and whose
``choices`` is empty.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs

from starlette.types import Message, Receive, Scope, Send

from tests.fakes.openai_compat import FakeOpenAI

DEPLOYMENT = re.compile(r"^/openai/deployments/([^/]+)(/.*)$")
PROMPT_FILTER_CHUNK = {"choices": [], "created": 0, "id": "", "model": "", "object": "", "prompt_filter_results": [
    {"prompt_index": 0, "content_filter_results": {"hate": {"filtered": False, "severity": "safe"}}}]}


class AzureFront:
    def __init__(self, fake: FakeOpenAI) -> None:
        self.fake = fake
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.app = self  # the ASGI app (an instance with an async __call__, which uvicorn takes as ASGI 3)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.fake.app(scope, receive, send)
        path, query = scope["path"], scope["query_string"].decode()
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.seen.append((path, query, headers))
        if "api-key" not in headers:
            return await _reply(send, 401, "Access denied due to invalid subscription key.", "401")
        match = DEPLOYMENT.match(path)
        if match and not parse_qs(query).get("api-version"):
            return await _reply(send, 404, "Resource not found", "404")
        if match:
            rest = match.group(2)
        elif path.startswith("/openai/v1/"):
            rest = path.removeprefix("/openai/v1")
        else:
            return await _reply(send, 404, "Resource not found", "404")
        scope = {**scope, "path": "/v1" + rest, "raw_path": ("/v1" + rest).encode(), "query_string": b""}
        await self.fake.app(scope, receive, _prompt_filter_first(send))


def _prompt_filter_first(send: Send) -> Send:
    """Azure's streams open with the prompt filter results: put that chunk before the fake's first event."""
    state = {"stream": False, "sent": False}

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            state["stream"] = any(k.lower() == b"content-type" and v.startswith(b"text/event-stream")
                                  for k, v in message.get("headers", ()))
        elif message["type"] == "http.response.body" and state["stream"] and not state["sent"]:
            state["sent"] = True
            chunk = b"data: " + json.dumps(PROMPT_FILTER_CHUNK).encode() + b"\n\n"
            message = {**message, "body": chunk + message.get("body", b"")}
        await send(message)

    return wrapped


async def _reply(send: Send, status: int, message: str, code: str) -> None:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
