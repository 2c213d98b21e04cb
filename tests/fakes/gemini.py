"""A fake Gemini API upstream (AI Studio) that speaks the real wire format, with scriptable failures.

``FakeGemini().app`` serves ``POST /v1beta/models/{model}:generateContent``, ``:streamGenerateContent?alt=sse``,
``:embedContent`` and ``:batchEmbedContents``, as documented in the Gemini API reference: camelCase JSON,
``candidates[].content.parts[]`` with ``text`` or ``functionCall``, ``finishReason``, ``usageMetadata``,
``modelVersion``, ``responseId``; streams are ``data: <GenerateContentResponse>`` events separated by CRLF
blank lines, with no ``[DONE]`` (the last event carries the ``finishReason`` and the usage). Errors are
Google's ``{"error": {"code", "message", "status", "details"}}``.

Like the real API it rejects unknown request fields (also inside a ``Schema``: ``$defs``, ``$ref``,
``const``, ``additionalProperties``...), empty text parts, roles other than ``user``/``model``, and requests
without ``x-goog-api-key`` (``"bad-key"`` gets ``API_KEY_INVALID``). ``fake.finish_reason`` makes every
answer end with that ``finishReason`` (with no parts for the failures, ``MALFORMED_FUNCTION_CALL``...).
Behaviours are scripted like ``tests.fakes.openai_compat``'s (``Fail``, ``Stall``, ``CutAfter``,
``Malformed``, ``Reply``), one per POST; ``fake.requests`` records what was received.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.openai_compat import (
    AbortConnection,
    Behaviour,
    CutAfter,
    Fail,
    Malformed,
    Recorded,
    Reply,
    Stall,
    _install_log_filter,
    count_tokens,
    embedding_vector,
    split_words,
)

DEFAULT_REPLY = "Hello from the fake Gemini."
STATUSES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
            429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
REQUEST_FIELDS = {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig", "safetySettings",
                  "cachedContent"}
GENERATION_FIELDS = {"temperature", "topP", "topK", "maxOutputTokens", "stopSequences", "candidateCount", "seed",
                     "presencePenalty", "frequencyPenalty", "responseMimeType", "responseSchema"}
SCHEMA_FIELDS = {"type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties",
                 "required", "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example",
                 "anyOf", "propertyOrdering", "default", "items", "minimum", "maximum"}
FAILURES = {"MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS", "MISSING_THOUGHT_SIGNATURE",
            "MALFORMED_RESPONSE"}


def google_error(status: int, message: str | None = None, *, retry_delay: str | None = None,
                 reason: str | None = None) -> dict[str, Any]:
    details: list[dict[str, Any]] = []
    if retry_delay is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay})
    if reason is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
                        "domain": "googleapis.com"})
    error = {"code": status, "message": message or f"fake Gemini error {status}",
             "status": STATUSES.get(status, "UNKNOWN")}
    return {"error": {**error, "details": details} if details else error}


def _error(status: int, message: str, **kw: Any) -> Response:
    return JSONResponse(google_error(status, message, **kw), status_code=status)


class FakeGemini:
    def __init__(self, *, reply: str = DEFAULT_REPLY, embedding_dimensions: int = 8) -> None:
        self.reply = reply
        self.embedding_dimensions = embedding_dimensions
        self.function_args: dict[str, Any] | None = None  # None: {"city": "Paris"} if the tool has "city", else {}
        self.finish_reason: str | None = None  # set: every answer ends with it
        self.requests: list[Recorded] = []
        self._queue: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        _install_log_filter()
        self.app = Starlette(routes=[Route("/v1beta/models/{target:path}", self._endpoint, methods=["POST"])])

    def enqueue(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self._queue.extend(behaviours)

    @property
    def last(self) -> Recorded:
        assert self.requests, "the fake Gemini has received no request"
        return self.requests[-1]

    # ----------------------------------------------------------------- plumbing

    async def _endpoint(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with self._lock:
            behaviour = self._queue.popleft() if self._queue else None
            n = next(self._ids)
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(Recorded("POST", request.url.path, headers, body, raw, request.url.query, behaviour))
        if isinstance(behaviour, Stall):
            await asyncio.sleep(behaviour.seconds)
        if isinstance(behaviour, Fail):
            payload = behaviour.body if behaviour.body is not None else google_error(behaviour.status)
            extra = {"retry-after": str(behaviour.retry_after)} if behaviour.retry_after is not None else {}
            if isinstance(payload, str):
                return Response(payload, behaviour.status, headers=extra, media_type="text/plain")
            return JSONResponse(payload, behaviour.status, headers={**extra, **behaviour.headers})
        key = headers.get("x-goog-api-key")
        if not key:
            return _error(403, "Method doesn't allow unregistered callers. Please use API Key.")
        if key == "bad-key":
            return _error(400, "API key not valid. Please pass a valid API key.", reason="API_KEY_INVALID")
        model, _, method = request.path_params["target"].partition(":")
        if not isinstance(body, dict):
            return _error(400, "Invalid JSON payload received.")
        if method in ("embedContent", "batchEmbedContents"):
            return self._embed(method, model, body)
        if method not in ("generateContent", "streamGenerateContent"):
            return _error(404, f"Method {method} not found.")
        problem = _check(body)
        if problem:
            return _error(400, problem)
        answer = self._answer(model, body, behaviour, n)
        if method == "generateContent":
            return JSONResponse(answer)
        if request.query_params.get("alt") != "sse":
            return _error(400, "the fake only streams with alt=sse")
        return StreamingResponse(self._events(answer, behaviour), media_type="text/event-stream")

    # ----------------------------------------------------------------- answers

    def _answer(self, model: str, body: dict[str, Any], behaviour: Behaviour | None, n: int) -> dict[str, Any]:
        config = body.get("generationConfig") or {}
        system = (body.get("systemInstruction") or {}).get("parts") or []
        parts = [p for c in body["contents"] for p in c["parts"]] + system
        prompt = sum(count_tokens(p.get("text", "")) for p in parts)
        call = None if isinstance(behaviour, Reply) else self._function_call(body)
        if call is not None:
            parts, finish, tokens = [{"functionCall": call}], "STOP", max(1, len(call["args"]))
        else:
            words = split_words(behaviour.text if isinstance(behaviour, Reply) else self.reply)
            limit = config.get("maxOutputTokens")
            finish = "MAX_TOKENS" if isinstance(limit, int) and limit < len(words) else "STOP"
            words = words[:limit] if finish == "MAX_TOKENS" else words
            parts, tokens = [{"text": "".join(words)}], len(words)
        if self.finish_reason is not None:
            finish = self.finish_reason
            parts = [] if finish in FAILURES else parts
        candidates = [{"content": {"parts": parts, "role": "model"}, "finishReason": finish, "index": i}
                      for i in range(config.get("candidateCount", 1))]
        usage = {"promptTokenCount": prompt, "candidatesTokenCount": tokens * len(candidates),
                 "totalTokenCount": prompt + tokens * len(candidates)}
        return {"candidates": candidates, "usageMetadata": usage, "modelVersion": model, "responseId": f"fake-{n}"}

    def _function_call(self, body: dict[str, Any]) -> dict[str, Any] | None:
        declarations = [d for t in body.get("tools") or () for d in t.get("functionDeclarations") or ()]
        config = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
        mode = config.get("mode", "AUTO")
        last = body["contents"][-1]["parts"]
        if not declarations or mode == "NONE" or (mode == "AUTO" and any("functionResponse" in p for p in last)):
            return None
        allowed = config.get("allowedFunctionNames")
        function = next((d for d in declarations if not allowed or d["name"] in allowed), declarations[0])
        properties = (function.get("parameters") or {}).get("properties") or {}
        args = self.function_args if self.function_args is not None else (
            {"city": "Paris"} if "city" in properties else {})
        return {"name": function["name"], "args": args}

    async def _events(self, answer: dict[str, Any], behaviour: Behaviour | None) -> AsyncIterator[bytes]:
        """Text in word pieces, one event each; the last carries finishReason and usage, like Gemini."""
        candidate = answer["candidates"][0]
        part = candidate["content"]["parts"][0]
        pieces = [{"text": w} for w in split_words(part["text"])] if "text" in part else [part]
        base = {"modelVersion": answer["modelVersion"], "responseId": answer["responseId"]}
        for k, piece in enumerate(pieces):
            if isinstance(behaviour, CutAfter) and k == behaviour.chunks:
                raise AbortConnection("CutAfter")
            if isinstance(behaviour, Malformed) and k == behaviour.after:
                for _ in range(behaviour.count):
                    yield b"data: {not json\r\n\r\n"
            event: dict[str, Any] = {"candidates": [{"content": {"parts": [piece], "role": "model"}, "index": 0}]}
            if k == len(pieces) - 1:
                event["candidates"][0]["finishReason"] = candidate["finishReason"]
                event["usageMetadata"] = answer["usageMetadata"]
            else:
                event["usageMetadata"] = {"promptTokenCount": answer["usageMetadata"]["promptTokenCount"]}
            yield b"data: " + json.dumps({**event, **base}, separators=(",", ":")).encode() + b"\r\n\r\n"
            await asyncio.sleep(0)

    def _embed(self, method: str, model: str, body: dict[str, Any]) -> Response:
        requests = body.get("requests") if method == "batchEmbedContents" else [body]
        if not isinstance(requests, list) or not requests:
            return _error(400, "requests must not be empty")
        vectors = []
        for item in requests:
            if item.get("model") != f"models/{model}":
                return _error(400, f"Model {item.get('model')} does not match models/{model}.")
            text = " ".join(p.get("text", "") for p in item["content"]["parts"])
            size = item.get("outputDimensionality") or self.embedding_dimensions
            vectors.append({"values": embedding_vector(text, size)})
        if method == "embedContent":
            return JSONResponse({"embedding": vectors[0]})
        return JSONResponse({"embeddings": vectors})


def _check(body: dict[str, Any]) -> str | None:
    """What the real API would reject with 400 INVALID_ARGUMENT."""
    unknown = set(body) - REQUEST_FIELDS or set(body.get("generationConfig") or {}) - GENERATION_FIELDS
    if unknown:
        return f'Invalid JSON payload received. Unknown name "{sorted(unknown)[0]}": Cannot find field.'
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return "* GenerateContentRequest.contents: contents is not specified"
    for content in contents:
        if content.get("role") not in ("user", "model") or not content.get("parts"):
            return f"Please use a valid role: user, model. Got {content.get('role')!r}."
        if any(part.get("text") == "" for part in content["parts"]):
            return "Unable to submit request because it has an empty text parameter."
    schemas = [d.get("parameters") for t in body.get("tools") or () for d in t.get("functionDeclarations") or ()]
    schemas.append((body.get("generationConfig") or {}).get("responseSchema"))
    for schema in schemas:
        if (name := _unknown_schema_field(schema)) is not None:
            return f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.'
    return None


def _unknown_schema_field(schema: Any) -> str | None:
    if not isinstance(schema, dict):
        return None
    if unknown := set(schema) - SCHEMA_FIELDS:
        return sorted(unknown)[0]
    subs = [*(schema.get("properties") or {}).values(), schema.get("items"), *(schema.get("anyOf") or ())]
    return next((name for sub in subs if (name := _unknown_schema_field(sub)) is not None), None)
