"""A fake server with its own Responses API (`POST /v1/responses`, as OpenAI's), for the gateway's native
pass-through (`responses = "native"`). Written from OpenAI's API reference, not from the gateway's translator.

It answers `input` with `reply`; a `web_search` tool adds a `web_search_call` item before the message (a
built-in tool only a native server runs); `previous_response_id` must name a response it gave (else 400, as
OpenAI). `fail(status, ...)` queues error answers, one per request.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

REPLY = "Hello from the native Responses API."


class FakeResponses:
    def __init__(self, reply: str = REPLY) -> None:
        self.reply = reply
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.failures: deque[int] = deque()
        self.given: dict[str, dict[str, Any]] = {}  # id -> the response, as GET returns it
        self.inputs: dict[str, Any] = {}
        self._ids = itertools.count(1)
        self.app = Starlette(routes=[
            Route("/v1/responses", self._create, methods=["POST"]),
            Route("/v1/responses/{response_id}", self._retrieve, methods=["GET"]),
            Route("/v1/responses/{response_id}", self._delete, methods=["DELETE"]),
            Route("/v1/responses/{response_id}/input_items", self._input_items, methods=["GET"]),
        ])

    def fail(self, *statuses: int) -> None:
        self.failures.extend(statuses)

    async def _create(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        if self.failures:
            status = self.failures.popleft()
            return JSONResponse({"error": {"message": f"fake failure {status}", "type": "server_error",
                                           "param": None, "code": None}}, status_code=status)
        previous = body.get("previous_response_id")
        if previous is not None and previous not in self.given:
            return JSONResponse({"error": {"message": f"Previous response with id '{previous}' not found.",
                                           "type": "invalid_request_error", "param": "previous_response_id",
                                           "code": "previous_response_not_found"}}, status_code=400)
        response = self._response(body)
        self.given[response["id"]] = response
        self.inputs[response["id"]] = body.get("input")
        if body.get("stream"):
            return StreamingResponse(self._events(response), media_type="text/event-stream")
        return JSONResponse(response)

    async def _retrieve(self, request: Request) -> Response:
        self.headers.append(dict(request.headers))
        found = self.given.get(request.path_params["response_id"])
        return JSONResponse(found) if found else _not_found(request.path_params["response_id"])

    async def _delete(self, request: Request) -> Response:
        response_id = request.path_params["response_id"]
        if self.given.pop(response_id, None) is None:
            return _not_found(response_id)
        return JSONResponse({"id": response_id, "object": "response", "deleted": True})

    async def _input_items(self, request: Request) -> Response:
        response_id = request.path_params["response_id"]
        if response_id not in self.given:
            return _not_found(response_id)
        given = self.inputs[response_id]
        items = [{"id": "msg_in_1", "type": "message", "role": "user", "status": "completed",
                  "content": [{"type": "input_text", "text": given}]}] if isinstance(given, str) else given
        self.headers.append({"query": str(request.url.query)})
        return JSONResponse({"object": "list", "data": items, "first_id": items[0]["id"], "last_id": items[-1]["id"],
                             "has_more": False})

    def _response(self, body: dict[str, Any]) -> dict[str, Any]:
        n = next(self._ids)
        output: list[dict[str, Any]] = []
        if any(t.get("type") == "web_search" for t in body.get("tools") or ()):
            output.append({"type": "web_search_call", "id": f"ws_{n}", "status": "completed",
                           "action": {"type": "search", "query": "weather"}})
        output.append({"type": "message", "id": f"msg_{n}", "status": "completed", "role": "assistant",
                       "content": [{"type": "output_text", "text": self.reply, "annotations": []}]})
        text = body.get("input") if isinstance(body.get("input"), str) else json.dumps(body.get("input"))
        tokens = max(1, len(text) // 4)
        return {
            "id": f"resp_native_{n}", "object": "response", "created_at": int(time.time()), "status": "completed",
            "error": None, "incomplete_details": None, "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"), "model": body["model"], "output": output,
            "parallel_tool_calls": True, "previous_response_id": body.get("previous_response_id"),
            "reasoning": {"effort": None, "summary": None}, "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0), "text": {"format": {"type": "text"}},
            "tool_choice": "auto", "tools": body.get("tools") or [], "top_p": 1.0, "truncation": "disabled",
            "usage": {"input_tokens": tokens, "input_tokens_details": {"cached_tokens": 0},
                      "output_tokens": 7, "output_tokens_details": {"reasoning_tokens": 0},
                      "total_tokens": tokens + 7},
            "user": None, "metadata": body.get("metadata") or {},
        }

    async def _events(self, response: dict[str, Any]) -> AsyncIterator[bytes]:
        sequence = itertools.count()

        def event(kind: str, **data: Any) -> bytes:
            payload = {"type": kind, "sequence_number": next(sequence), **data}
            return f"event: {kind}\ndata: {json.dumps(payload)}\n\n".encode()

        start = {**response, "status": "in_progress", "output": [], "usage": None}
        yield event("response.created", response=start)
        yield event("response.in_progress", response=start)
        for index, item in enumerate(response["output"]):
            if item["type"] != "message":
                yield event("response.output_item.added", output_index=index, item=item)
                yield event("response.output_item.done", output_index=index, item=item)
                continue
            text = item["content"][0]["text"]
            where = {"item_id": item["id"], "output_index": index, "content_index": 0}
            yield event("response.output_item.added", output_index=index,
                        item={**item, "status": "in_progress", "content": []})
            yield event("response.content_part.added", **where,
                        part={"type": "output_text", "text": "", "annotations": []})
            for word in re.findall(r"\S+\s*", text):
                yield event("response.output_text.delta", **where, delta=word, logprobs=[])
            yield event("response.output_text.done", **where, text=text, logprobs=[])
            yield event("response.content_part.done", **where, part=item["content"][0])
            yield event("response.output_item.done", output_index=index, item=item)
        yield event("response.completed", response=response)


def _not_found(response_id: str) -> JSONResponse:
    return JSONResponse({"error": {"message": f"Response with id '{response_id}' not found.",
                                   "type": "invalid_request_error", "param": None, "code": None}}, status_code=404)
