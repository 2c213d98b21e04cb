"""The Responses API's HTTP side: `POST /v1/responses` (through the ordinary chat path: routing, failover,
cache, limits, telemetry), and the stored responses (`GET` and `DELETE /v1/responses/{id}`,
`GET /v1/responses/{id}/input_items`). Translation is in `responses.py` (pure); storage in
`gateway/state/responses.py`.

With `store` (the default, as OpenAI's), each answer is kept with the conversation it ended, as chat messages:
a later request's `previous_response_id` puts those before its own input (instructions are not carried over,
as OpenAI does), so any provider continues the conversation. A stored response belongs to the gateway key
that made it: another key gets 404, as for an id that does not exist.

A route whose providers all have `responses = "native"` gets the request as sent instead (model rewritten:
built-in tools, `background`, `conversation` work there) and its answer as the provider gave it; the provider
keeps those responses and conversations itself, so `previous_response_id` goes on to it; the gateway notes
only the owner and the provider of each, and forwards retrieve, delete and input items there for its owner.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.config import GatewayConfig
from gateway.endpoints import Answer, AsIs, Endpoints, Gateway, JSONAnswer, answer_data, error_response
from gateway.entrances.responses import input_messages, output_messages, to_chat, to_response, to_response_events
from gateway.errors import GatewayError, InvalidRequestError, ResponseNotFoundError
from gateway.eventstream import EventStreamResponse
from gateway.providers.openai import OpenAIProvider
from gateway.state import StateUnavailableError
from gateway.upstream import classify, read_body


class ResponsesEntrance:
    def __init__(self, endpoints: Endpoints) -> None:
        self.endpoints = endpoints
        self._native_routes: tuple[GatewayConfig | None, frozenset[str]] = (None, frozenset())

    def native_routes(self, config: GatewayConfig) -> frozenset[str]:
        """The routes whose providers answer /v1/responses themselves (`responses = "native"`), per config."""
        if self._native_routes[0] is not config:
            self._native_routes = (config, config.native_routes())
        return self._native_routes[1]

    async def create(self, request: Request) -> Answer:
        gateway = self.endpoints.current()
        owner = _owner(request)
        response_id, created = f"resp_{secrets.token_hex(24)}", int(time.time())
        asked: dict[str, Any] = {}  # the request as the client sent it, and its history: filled by translate

        native = self.native_routes(gateway.config)

        async def translate(body: dict[str, Any]) -> dict[str, Any] | AsIs:
            if native and body.get("model") in native:
                asked.update(native=True)
                return AsIs("responses", body)  # the provider keeps its own responses and conversations
            history: list[dict[str, Any]] = []
            previous = body.get("previous_response_id")
            if previous is not None:
                if not isinstance(previous, str) or not previous:
                    raise InvalidRequestError("previous_response_id must be a response id",
                                              param="previous_response_id")
                record = await _stored(gateway, owner, previous)
                if record is None:
                    raise ResponseNotFoundError(f"Previous response with id '{previous}' not found.",
                                                param="previous_response_id")
                if "native" in record:
                    raise InvalidRequestError(
                        f"Previous response '{previous}' was made by provider {record['native']} itself "
                        "(responses = \"native\"), which keeps its conversation: continue it on a route that "
                        "provider serves natively.", param="previous_response_id")
                history = record["messages"]
            asked.update(body=body, history=history)
            return to_chat(body, history)

        answer = await self.endpoints.chat_from(request, translate)
        if asked.get("native") and answer.status_code == 200:
            return await self._native(gateway, answer, owner)
        body = asked.get("body")
        if body is None or answer.status_code != 200:
            return answer  # refused before the call, or failed: OpenAI's error shape already
        store = body.get("store", True) is not False
        if isinstance(answer, EventStreamResponse):
            events = self._events(gateway, answer, body, asked["history"], owner, response_id, created, store)
            stream = EventStreamResponse(events, {}, status_code=answer.status_code)
            stream.raw_headers = answer.raw_headers
            return stream
        response = to_response(answer_data(answer), body, response_id, created)
        serialized = orjson.dumps(response)  # once: for the client, and inside the stored record
        if store:
            await _keep(gateway, owner, body, asked["history"], response, serialized)
        kept = [h for h in answer.raw_headers if h[0] not in (b"content-length", b"content-type")]
        return JSONAnswer(serialized, kept)

    def _events(
        self, gateway: Gateway, answer: EventStreamResponse, body: dict[str, Any], history: list[dict[str, Any]],
        owner: str, response_id: str, created: int, store: bool,
    ) -> AsyncIterator[bytes]:
        """The Responses events of a chat stream; a completed answer is stored before the stream's end, so a
        `previous_response_id` sent right after it finds it."""
        async def keep(response: dict[str, Any]) -> None:
            await _keep(gateway, owner, body, history, response)

        return to_response_events(answer.chunks, body, response_id, created, keep if store else None)

    async def _native(self, gateway: Gateway, answer: Answer, owner: str) -> Answer:
        """A provider's own answer, as it gave it; the gateway notes whose it is and which provider keeps it
        (`{"native": provider}`), so that retrieve, delete and input items go there for its owner only."""
        provider = dict(answer.raw_headers).get(b"x-gateway-provider", b"").decode()
        if not isinstance(answer, EventStreamResponse):
            response_id = _id_of(bytes(answer.body))
            if response_id:
                await _note(gateway, owner, response_id, provider)
            return answer

        async def noted(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
            first = True
            async for chunk in chunks:
                if first:  # response.created comes first and carries the id
                    first = False
                    head = chunk.split(b"\n\n", 1)[0].removeprefix(b"data: ")
                    response_id = _id_of(head, "response")
                    if response_id:
                        await _note(gateway, owner, response_id, provider)
                yield chunk

        answer.chunks = noted(answer.chunks)
        return answer

    async def retrieve(self, request: Request) -> Response:
        gateway = self.endpoints.current()
        found = await self._find(request, gateway)
        if isinstance(found, Response):
            return found
        if "native" in found:
            return await _forward(gateway, found["native"], "GET", request.path_params["response_id"])
        return JSONResponse(found["response"])

    async def input_items(self, request: Request) -> Response:
        gateway = self.endpoints.current()
        found = await self._find(request, gateway)
        if isinstance(found, Response):
            return found
        if "native" in found:
            return await _forward(gateway, found["native"], "GET", request.path_params["response_id"]
                                  + "/input_items", request.url.query)
        items = list(found["input_items"])
        if request.query_params.get("order", "desc") != "asc":
            items.reverse()
        try:
            limit = max(1, min(100, int(request.query_params.get("limit", "20"))))
        except ValueError:
            return error_response(InvalidRequestError("limit must be a number from 1 to 100", param="limit"), [])
        page = items[:limit]
        return JSONResponse({"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
                             "last_id": page[-1]["id"] if page else None, "has_more": len(items) > limit})

    async def delete(self, request: Request) -> Response:
        gateway = self.endpoints.current()
        response_id = request.path_params["response_id"]
        found = await self._find(request, gateway)
        if isinstance(found, Response):
            return found
        if "native" in found:  # deleted at the provider first; the gateway's note only once that worked
            forwarded = await _forward(gateway, found["native"], "DELETE", response_id)
            if forwarded.status_code >= 400:
                return forwarded
        try:
            deleted = await gateway.responses.delete(_owner(request), response_id)
        except StateUnavailableError:
            return error_response(_unavailable(), gateway.secrets)
        if not deleted:
            return error_response(_not_found(response_id), gateway.secrets)
        if "native" in found:
            return forwarded
        return JSONResponse({"id": response_id, "object": "response", "deleted": True})

    async def _find(self, request: Request, gateway: Gateway) -> dict[str, Any] | Response:
        response_id = request.path_params["response_id"]
        try:
            record = await _stored(gateway, _owner(request), response_id)
        except GatewayError as exc:
            return error_response(exc, gateway.secrets)
        if record is None:
            return error_response(_not_found(response_id), gateway.secrets)
        return record


def _id_of(body: bytes, inside: str | None = None) -> str | None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if inside is not None:
        data = data.get(inside) if isinstance(data, dict) else None
    found = data.get("id") if isinstance(data, dict) else None
    return found if isinstance(found, str) and found else None


async def _note(gateway: Gateway, owner: str, response_id: str, provider: str) -> None:
    with contextlib.suppress(StateUnavailableError):  # without the note, the answer still stands
        await gateway.responses.put(owner, response_id, {"native": provider})


async def _forward(gateway: Gateway, name: str, method: str, path: str, query: str = "") -> Response:
    """The provider's own answer to `method` on its `/responses/{path}`, with its key, as it gave it."""
    provider = gateway.dispatcher.providers.get(name)
    if not isinstance(provider, OpenAIProvider):
        error = GatewayError(f"Provider {name}, which keeps this response, is no longer configured.",
                             code="provider_not_configured")
        error.status = 404
        return error_response(error, gateway.secrets)
    url = f"{provider.root}/responses/{quote(path, safe='/')}" + (f"?{query}" if query else "")
    try:
        answer = await provider.upstream.send(method, url, provider.headers, b"")
        try:
            body = await read_body(answer, provider.config.max_response_bytes, name)
        finally:
            await answer.aclose()
    except httpx.HTTPError as exc:
        return error_response(classify(exc, name), gateway.secrets)
    except GatewayError as exc:
        return error_response(exc, gateway.secrets)
    return Response(body, answer.status_code, media_type=answer.headers.get("content-type", "application/json"))


def _owner(request: Request) -> str:
    caller = request.scope.get("state", {}).get("caller")
    return caller.name if caller is not None else ""


async def _stored(gateway: Gateway, owner: str, response_id: str) -> dict[str, Any] | None:
    try:
        return await gateway.responses.get(owner, response_id)
    except StateUnavailableError:
        raise _unavailable() from None


async def _keep(gateway: Gateway, owner: str, body: dict[str, Any], history: list[dict[str, Any]],
                response: dict[str, Any], serialized: bytes | None = None) -> None:
    """Store a response with the conversation it ended. A store that is down loses it (logged by the store's
    connection); the client has its answer, and a later `previous_response_id` gets a clear 404. `serialized`:
    the response as JSON already (the client's body), put in the record as it is rather than serialized again."""
    messages = [*history, *input_messages(body), *output_messages(response)]
    items = _input_items(body, response["id"])
    record = b'{"response":%b,"messages":%b,"input_items":%b}' % (serialized or orjson.dumps(response),
                                                                  orjson.dumps(messages), orjson.dumps(items))
    try:
        await gateway.responses.put(owner, response["id"], record)
    except StateUnavailableError:
        pass


def _input_items(body: dict[str, Any], response_id: str) -> list[dict[str, Any]]:
    """This request's input as items with ids, for `GET /v1/responses/{id}/input_items`."""
    given = body.get("input")
    if isinstance(given, str):
        given = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": given}]}]
    items = []
    for i, item in enumerate(given if isinstance(given, list) else []):
        if isinstance(item, dict):
            item = dict(item)
            item.setdefault("type", "message")
            item.setdefault("id", f"msg_{response_id.removeprefix('resp_')[:40]}{i:04d}")
            items.append(item)
    return items


def _not_found(response_id: str) -> ResponseNotFoundError:
    return ResponseNotFoundError(f"Response with id '{response_id}' not found.", param="response_id")


def _unavailable() -> GatewayError:
    error = GatewayError("Stored responses are unavailable right now (their store could not be reached); "
                         "try again shortly.", code="responses_store_unavailable")
    error.status = 503
    error.headers["retry-after"] = "1"
    return error
