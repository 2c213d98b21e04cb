"""The OpenAI request shapes the gateway checks before spending an upstream call.

Only what the gateway relies on is checked (`model`, the field that carries the input, `stream`);
everything else passes through untouched, so new OpenAI parameters work the day they ship.

    >>> check_request("chat", {"model": "m", "messages": "hi"})
    Traceback (most recent call last):
    ...
    gateway.errors.InvalidRequestError: Invalid type for 'messages': expected a non-empty array of message objects.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.errors import InvalidRequestError

_Tokens = list[int]


class _Request(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    model: str = Field(min_length=1)
    stream: bool | None = None
    stream_options: dict[str, Any] | None = None


class _Message(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    role: str


class ChatRequest(_Request):
    messages: list[_Message] = Field(min_length=1)


class CompletionRequest(_Request):
    prompt: str | list[str] | _Tokens | list[_Tokens]


class EmbeddingRequest(_Request):
    stream: None = None  # embeddings do not stream
    input: str | list[str] | _Tokens | list[_Tokens]


class ResponsesRequest(_Request):
    """Sent as it is to a server with its own /v1/responses (`responses = "native"`); translated ones are
    checked in full by gateway/entrances/responses.py."""

    input: str | list[dict[str, Any]]


MODELS: dict[str, type[_Request]] = {
    "chat": ChatRequest,
    "text_completion": CompletionRequest,
    "embeddings": EmbeddingRequest,
    "responses": ResponsesRequest,
}

EXPECTED = {
    "model": "a non-empty string naming one of the gateway's models",
    "messages": "a non-empty array of message objects",
    "role": "a string",
    "prompt": "a string, an array of strings or an array of tokens",
    "input": "a string, an array of strings or an array of tokens (Responses API: a string or an array of items)",
    "stream": "a boolean",
    "stream_options": "an object",
}


def check_request(operation: str, body: dict[str, Any]) -> None:
    """Raise `InvalidRequestError` naming the first field that is missing or of the wrong type.

    A body that plainly has the shape (`_ACCEPTS`: type lookups, no model built) passes at once; any other
    goes to the Pydantic models, which find its first problem and word the error. The lookups accept nothing
    the models refuse (they are stricter where unsure: exact types), so the models stay what decides."""
    if _ACCEPTS[operation](body):
        return
    try:
        MODELS[operation].model_validate(body)
    except ValidationError as exc:
        error = exc.errors()[0]
        param = _param(error["loc"])
        if error["type"] == "missing":
            raise InvalidRequestError(f"Missing required parameter: '{param}'.", param=param) from None
        if operation == "embeddings" and param == "stream":
            raise InvalidRequestError("Embeddings cannot be streamed; leave out 'stream'.", param=param) from None
        field = param.rsplit(".", 1)[-1].split("[")[0]
        expected = EXPECTED.get(field, str(error["msg"]).lower())
        raise InvalidRequestError(f"Invalid type for '{param}': expected {expected}.", param=param) from None


def _common(body: dict[str, Any]) -> bool:
    model, stream, options = body.get("model"), body.get("stream"), body.get("stream_options")
    return (type(model) is str and model != "" and (stream is None or type(stream) is bool)
            and (options is None or type(options) is dict))


def _chat(body: dict[str, Any]) -> bool:
    messages = body.get("messages")
    if not (_common(body) and type(messages) is list and messages):
        return False
    for message in messages:  # (a loop, not all() over a generator: one object less a request)
        if type(message) is not dict or type(message.get("role")) is not str:
            return False
    return True


def _texts_or_tokens(value: Any) -> bool:
    """str | list[str] | list[int] | list[list[int]], in exact types (a bool is no token)."""
    if type(value) is str:
        return True
    return type(value) is list and (all(type(v) is str for v in value) or all(type(v) is int for v in value)
                                    or all(type(v) is list and all(type(t) is int for t in v) for v in value))


def _completion(body: dict[str, Any]) -> bool:
    return _common(body) and _texts_or_tokens(body.get("prompt"))


def _embeddings(body: dict[str, Any]) -> bool:
    return _common(body) and body.get("stream") is None and _texts_or_tokens(body.get("input"))


def _responses(body: dict[str, Any]) -> bool:
    items = body.get("input")
    return _common(body) and (type(items) is str or type(items) is list and all(
        type(item) is dict and all(type(key) is str for key in item) for item in items))


_ACCEPTS = {"chat": _chat, "text_completion": _completion, "embeddings": _embeddings, "responses": _responses}


def _param(loc: tuple[Any, ...]) -> str:
    """`('messages', 0, 'role')` -> `messages[0].role`; union-member tags such as 'list[str]' stop it."""
    param = ""
    for part in loc:
        if isinstance(part, int):
            param += f"[{part}]"
        elif part.isidentifier() and part not in ("str", "list", "int"):
            param = f"{param}.{part}" if param else part
        else:
            break
    return param
