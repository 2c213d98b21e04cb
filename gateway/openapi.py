"""The OpenAPI 3.1 document of the gateway's HTTP surface, served at `GET /openapi.json`.

    >>> sorted(DOCUMENT["paths"])[:3]
    ['/admin/cache/purge', '/admin/reload', '/admin/status']

Request schemas say what the gateway itself checks (`gateway/wire.py`, the entrances) and let everything else
through (`additionalProperties`), as the proxy does: a parameter the upstream knows and the gateway does not is
not an error here. Response schemas say what every answer carries; tests/e2e/test_openapi.py fuzzes the live
gateway with Schemathesis against this document, so a change to an endpoint that breaks it fails there.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway import __version__

Schema = dict[str, Any]

_ERROR: Schema = {
    "type": "object", "required": ["error"],
    "properties": {"error": {
        "type": "object", "required": ["message", "type", "param", "code"],
        "properties": {"message": {"type": "string"}, "type": {"type": "string"},
                       "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}}}},
}
_ANTHROPIC_ERROR: Schema = {
    "type": "object", "required": ["type", "error"],
    "properties": {"type": {"const": "error"}, "error": {
        "type": "object", "required": ["type", "message"],
        "properties": {"type": {"type": "string"}, "message": {"type": "string"}}}},
}
_TOKENS: Schema = {"type": "array", "items": {"type": "integer"}}
_TEXT_INPUT: Schema = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}, _TOKENS,
                                 {"type": "array", "items": _TOKENS}]}
_MODEL: Schema = {"type": "string", "minLength": 1, "description": "a route name from GET /v1/models"}
_STREAM: Schema = {"type": ["boolean", "null"]}
_OPTIONS: Schema = {"type": ["object", "null"]}
_OPEN: Schema = {"type": "object"}  # an object whose further keys are the upstream's business


def _body(required: list[str], properties: Schema) -> Schema:
    return {"type": "object", "required": required, "properties": properties}


_CHAT = _body(["model", "messages"], {
    "model": _MODEL, "stream": _STREAM, "stream_options": _OPTIONS,
    "messages": {"type": "array", "minItems": 1, "items": _body(["role"], {"role": {"type": "string"}})}})
_COMPLETION = _body(["model", "prompt"], {"model": _MODEL, "stream": _STREAM, "stream_options": _OPTIONS,
                                          "prompt": _TEXT_INPUT})
_EMBEDDING = _body(["model", "input"], {"model": _MODEL, "input": _TEXT_INPUT, "stream": {"type": "null"}})
_MESSAGES = _body(["model", "messages", "max_tokens"], {
    "model": _MODEL, "stream": {"type": "boolean"}, "max_tokens": {"type": "integer", "minimum": 1},
    "system": {"anyOf": [{"type": "string"}, {"type": "array", "items": _OPEN}]},
    "messages": {"type": "array", "minItems": 1, "items": _body(["role", "content"], {
        "role": {"enum": ["user", "assistant"]},
        "content": {"anyOf": [{"type": "string"}, {"type": "array", "items": _OPEN}]}})}})
# `previous_response_id` (an id from an earlier answer) is left to the description and the Continue link: as a
# property, Schemathesis takes it for a reference to a resource nothing creates and starts no stateful run here
_RESPONSES = _body(["model", "input"], {
    "model": _MODEL, "stream": _STREAM, "instructions": {"type": ["string", "null"]},
    "store": {"type": ["boolean", "null"]},
    "input": {"anyOf": [{"type": "string"}, {"type": "array", "items": _OPEN}]}})
_RESPONSES["description"] = ("A Responses API request; `previous_response_id` continues from a stored response "
                             "(an unknown one is a 404 naming it).")

_CHAT_ANSWER = _body(["object", "choices"], {"id": {"type": "string"}, "object": {"type": "string"},
                                             "model": {"type": "string"}, "choices": {"type": "array"}})
_EMBEDDINGS_ANSWER = _body(["object", "data"], {"object": {"const": "list"}, "data": {"type": "array"}})
_MESSAGE_ANSWER = _body(["type", "role", "content"], {"type": {"const": "message"}, "role": {"const": "assistant"},
                                                      "content": {"type": "array"}})
_RESPONSE_OBJECT = _body(["id", "object", "status", "output"], {
    "id": {"type": "string"}, "object": {"const": "response"}, "status": {"type": "string"},
    "output": {"type": "array"}})
_MODEL_OBJECT = _body(["id", "object"], {"id": {"type": "string"}, "object": {"const": "model"}})
_STATUS = _body(["status"], {"status": {"type": "string"}})

# OpenAPI 3.1 has an event stream's `schema` describe each event (`data` is JSON, or `[DONE]` on OpenAI's APIs)
_SSE = {"text/event-stream": {"schema": _body(["data"], {"event": {"type": "string"}, "data": {"type": "string"}})}}
_ADMIN: list[Schema] = [{"adminKey": []}]
_CALLER: list[Schema] = [{}, {"gatewayKey": []}, {"apiKeyHeader": []}]


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(schema: Schema = _ERROR) -> Schema:
    """Every error the gateway gives: OpenAI's shape (Anthropic's on /v1/messages), 4xx or 5xx."""
    return {"4XX": _json(schema, "the request was refused"),
            "5XX": _json(schema, "no upstream could answer, or the gateway is unavailable")}


def _proxied(summary: str, request: Schema, answer: Schema, *, streams: bool = True,
             error: Schema = _ERROR, links: Schema | None = None, operation_id: str | None = None) -> Schema:
    ok = _json(answer, "the answer" + (" (an SSE stream when `stream` is true)" if streams else ""))
    if streams:
        ok["content"].update(_SSE)
    if links:
        ok["links"] = links
    operation: Schema = {"summary": summary, "security": _CALLER,
                         "requestBody": {"required": True, "content": {"application/json": {"schema": request}}},
                         "responses": {"200": ok, **_errors(error)}}
    if operation_id:
        operation["operationId"] = operation_id
    return {"post": operation}


def _get(summary: str, answer: Schema, *, security: list[Schema] | None = None,
         parameters: list[Schema] | None = None) -> Schema:
    operation: Schema = {"summary": summary, "responses": {"200": _json(answer, "OK"), **_errors()}}
    if security is not None:
        operation["security"] = security
    if parameters:
        operation["parameters"] = parameters
    return operation


_RESPONSE_ID = [{"name": "response_id", "in": "path", "required": True, "schema": {"type": "string"}}]
_LINKS: Schema = {name: {"operationId": op, "parameters": {"response_id": "$response.body#/id"}}
                  for name, op in (("GetResponse", "getResponse"), ("GetInputItems", "getInputItems"),
                                   ("DeleteResponse", "deleteResponse"))}
_LINKS["Continue"] = {"operationId": "createResponse", "requestBody": {
    "model": "$request.body#/model", "input": "And then?", "previous_response_id": "$response.body#/id"}}


def build_document() -> Schema:
    paths: Schema = {
        "/v1/chat/completions": _proxied("Chat Completions", _CHAT, _CHAT_ANSWER),
        "/v1/completions": _proxied("Legacy completions", _COMPLETION, _CHAT_ANSWER),
        "/v1/embeddings": _proxied("Embeddings", _EMBEDDING, _EMBEDDINGS_ANSWER, streams=False),
        "/v1/messages": _proxied("Anthropic Messages, routed like chat", _MESSAGES, _MESSAGE_ANSWER,
                                 error=_ANTHROPIC_ERROR),
        "/v1/responses": _proxied("OpenAI Responses API", _RESPONSES, _RESPONSE_OBJECT, links=_LINKS,
                                  operation_id="createResponse"),
        "/v1/responses/{response_id}": {
            "get": {**_get("A stored response", _RESPONSE_OBJECT, security=_CALLER, parameters=_RESPONSE_ID),
                    "operationId": "getResponse"},
            "delete": {**_get("Delete a stored response",
                              _body(["id", "deleted"], {"id": {"type": "string"}, "deleted": {"const": True}}),
                              security=_CALLER, parameters=_RESPONSE_ID), "operationId": "deleteResponse"}},
        "/v1/responses/{response_id}/input_items": {
            "get": {**_get("A stored response's input items", _body(["object", "data"], {
                "object": {"const": "list"}, "data": {"type": "array"}}), security=_CALLER,
                parameters=_RESPONSE_ID), "operationId": "getInputItems"}},
        "/v1/models": {"get": _get("The route names this caller may use", _body(["object", "data"], {
            "object": {"const": "list"}, "data": {"type": "array", "items": _MODEL_OBJECT}}), security=_CALLER)},
        "/v1/models/{model}": {"get": _get("One route", _MODEL_OBJECT, security=_CALLER, parameters=[
            {"name": "model", "in": "path", "required": True, "schema": {"type": "string"}}])},
        "/healthz": {"get": _get("Liveness", _STATUS, security=[])},
        "/readyz": {"get": {"summary": "Ready to take traffic (503 while draining)", "security": [],
                            "responses": {"200": _json(_STATUS, "ready"), "503": _json(_STATUS, "draining")}}},
        "/openapi.json": {"get": {"summary": "This document", "security": [],
                                  "responses": {"200": _json(_OPEN, "OpenAPI 3.1")}}},
        "/admin/status": {"get": _get("Per-route and per-target health", _body(["routes"], {"routes": _OPEN}),
                                      security=_ADMIN)},
        "/admin/usage": {"get": _get("Each gateway key's figures in its budget period",
                                     _body(["keys"], {"keys": _OPEN}), security=_ADMIN)},
        "/admin/reload": {"post": {"summary": "Reload the config file", "security": _ADMIN, "responses": {
            "200": _json(_STATUS, "reloaded"),
            # an invalid file: {"status": "refused", "problems": [...]}, the list `gateway check` prints
            **_errors({"anyOf": [_ERROR, _body(["status", "problems"], {"problems": {"type": "array"}})]})}}},
        "/admin/cache/purge": {"post": {
            "summary": "Empty the response cache, or one route's entries", "security": _ADMIN,
            "requestBody": {"required": False, "content": {"application/json": {"schema": _body([], {
                "route": {"type": "string"}})}}},
            "responses": {"200": _json(_STATUS, "purged"), **_errors()}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "llm-gateway", "version": __version__,
                 "description": "An OpenAI-compatible LLM gateway. Errors are OpenAI's shape "
                                "(`{\"error\": {\"message\", \"type\", \"param\", \"code\"}}`), Anthropic's on "
                                "/v1/messages. /metrics (Prometheus text) is served when `[telemetry] prometheus`."},
        "paths": paths,
        "components": {"securitySchemes": {
            "gatewayKey": {"type": "http", "scheme": "bearer", "description": "a gateway key ([[keys]])"},
            "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "x-api-key"},
            "adminKey": {"type": "http", "scheme": "bearer", "description": "[admin] key"}}},
    }


DOCUMENT = build_document()


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(DOCUMENT)
