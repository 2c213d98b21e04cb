"""Provider `gemini`: Google's Gemini API (AI Studio, `generativelanguage.googleapis.com`).

    chat            POST {root}/models/{model}:generateContent
    chat, stream    POST {root}/models/{model}:streamGenerateContent?alt=sse
    embeddings      POST {root}/models/{model}:embedContent (one input) | :batchEmbedContents (several)

`root` is `base_url` (default `https://generativelanguage.googleapis.com`) plus `/v1beta` when it has no
path; the key goes in `x-goog-api-key`. OpenAI messages become `contents` (roles `user`/`model`, system
messages the `systemInstruction`), tools `functionDeclarations`, sampling keys `generationConfig`.
What Gemini cannot do (legacy completions, logprobs, several streamed choices, image URLs, token-id
inputs...) is a 400 naming the provider and the feature, before anything is sent.

Translation runs again on every attempt (retries, failover), so it must never change `call.body`.
Embeddings are in `gemini_embed.py`, JSON Schema as Gemini's `Schema` in `gemini_schema.py`.
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import orjson

from gateway.config import ProviderConfig
from gateway.errors import (
    InvalidRequestError,
    UnsupportedFeatureError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamStatusError,
    UpstreamStreamError,
)
from gateway.providers.base import (
    UNREADABLE,
    Call,
    Facts,
    HttpProvider,
    Reply,
    UpstreamRequest,
    parse_json_object,
    retry_after,
    untranslatable,
)
from gateway.providers.gemini_embed import from_gemini_embeddings, to_gemini_embeddings
from gateway.providers.gemini_schema import gemini_schema
from gateway.sse import SSEEvent
from gateway.upstream import USER_AGENT, Upstream

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
MAX_MALFORMED = 3

# OpenAI key -> generationConfig key, for the keys that are only renamed.
GENERATION_KEYS = {
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",  # not OpenAI's, but sent by clients of vLLM-style servers and by the /v1/messages entrance
    "max_tokens": "maxOutputTokens",
    "max_completion_tokens": "maxOutputTokens",
    "n": "candidateCount",
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
}
# Keys that say nothing Gemini needs to hear (or that the translation reads elsewhere).
IGNORED_KEYS = frozenset({"model", "messages", "stream", "stream_options", "user", "store", "metadata",
                          "service_tier", "parallel_tool_calls", "stop", "tools", "tool_choice", "response_format"})
UNSUPPORTED = {
    "logprobs": "logprobs", "top_logprobs": "logprobs", "logit_bias": "logit_bias", "audio": "audio output",
    "modalities": "modalities", "prediction": "predicted outputs", "web_search_options": "web search",
    "functions": "legacy functions (use tools)", "function_call": "legacy function_call (use tool_choice)",
    "reasoning_effort": "reasoning_effort",
}
# Every `FinishReason` of the v1beta API (google-genai's enum); anything newer reads as "stop".
FINISH_REASONS = {
    "FINISH_REASON_UNSPECIFIED": "stop", "STOP": "stop", "OTHER": "stop", "IMAGE_OTHER": "stop", "NO_IMAGE": "stop",
    "MAX_TOKENS": "length", "CONTINUATION": "length",
    "SAFETY": "content_filter", "RECITATION": "content_filter", "LANGUAGE": "content_filter",
    "BLOCKLIST": "content_filter", "PROHIBITED_CONTENT": "content_filter", "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter", "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter", "ESCALATION": "content_filter", "PUP_LIMITED_DISABLED": "content_filter",
    "MODEL_ARMOR": "content_filter",
}
# The model produced something unusable (a broken or unexpected function call, a broken answer): no answer
# at all, so an error that may go to another target rather than an empty "stop".
FAILED_REASONS = frozenset({"MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS",
                            "MISSING_THOUGHT_SIGNATURE", "MALFORMED_RESPONSE"})
STATUS_TYPES = {"INVALID_ARGUMENT": "invalid_request_error", "FAILED_PRECONDITION": "invalid_request_error",
                "UNAUTHENTICATED": "authentication_error", "PERMISSION_DENIED": "permission_error",
                "NOT_FOUND": "not_found_error", "RESOURCE_EXHAUSTED": "rate_limit_error"}
SIGNATURE_MARK = "~ts~"  # tool call id = Gemini's id + mark + thoughtSignature (see tool_call)


def api_root(base_url: str | None) -> str:
    url = (base_url or DEFAULT_BASE_URL).rstrip("/")
    return url + "/v1beta" if urlsplit(url).path in ("", "/") else url


class GeminiProvider(HttpProvider):
    type = "gemini"

    def __init__(self, config: ProviderConfig, upstream: Upstream | None = None) -> None:
        config = config.model_copy(update={"base_url": config.base_url or DEFAULT_BASE_URL})
        super().__init__(config, upstream)
        self.root = api_root(config.base_url)
        self.headers = {"content-type": "application/json", "user-agent": USER_AGENT, **config.headers}
        if config.api_key:
            self.headers["x-goog-api-key"] = config.api_key

    # -- request ------------------------------------------------------------------------------------

    def to_request(self, call: Call, model: str) -> UpstreamRequest:
        model_path = f"{self.root}/models/{quote(model.removeprefix('models/'), safe='')}"
        if call.operation == "embeddings":
            method, body = to_gemini_embeddings(call.body, model, self.name)
            return UpstreamRequest("POST", f"{model_path}:{method}", self.headers, orjson.dumps(body))
        if call.operation != "chat":
            raise unsupported(self.name, "the legacy completions endpoint (/v1/completions); use chat completions")
        try:
            body = to_gemini_request(call.body, self.name, stream=call.stream)
        except UNREADABLE as exc:  # a field of an unexpected type that the checks above let through
            raise untranslatable(self.name, exc) from None
        url = f"{model_path}:streamGenerateContent?alt=sse" if call.stream else f"{model_path}:generateContent"
        return UpstreamRequest("POST", url, self.headers, orjson.dumps(body))

    # -- response -----------------------------------------------------------------------------------

    def from_response(self, call: Call, body: bytes) -> Reply:
        data = parse_json_object(body, self.name)
        if call.operation == "embeddings":
            return from_gemini_embeddings(call.body, data)
        answer, facts = from_gemini_response(data, self.name)
        return Reply(orjson.dumps(answer), facts)

    # -- stream -------------------------------------------------------------------------------------

    def stream_translator(self, call: Call) -> GeminiStream:
        options = call.body.get("stream_options")
        return GeminiStream(self.name, isinstance(options, dict) and options.get("include_usage") is True)

    # -- error --------------------------------------------------------------------------------------

    def from_error(self, status: int, headers: httpx.Headers, body: bytes) -> UpstreamError:
        return from_gemini_error(status, headers, body, self.name)


def unsupported(provider: str, feature: str, param: str | None = None) -> UnsupportedFeatureError:
    return UnsupportedFeatureError(f"provider {provider} (gemini) does not support {feature}", param=param)


# -- request ----------------------------------------------------------------------------------------


def to_gemini_request(body: dict[str, Any], provider: str, *, stream: bool = False) -> dict[str, Any]:
    """An OpenAI chat request as a Gemini `GenerateContentRequest`; UnsupportedFeatureError for what Gemini lacks."""
    for key, value in body.items():
        if key in UNSUPPORTED and value not in (None, False, 0):
            raise unsupported(provider, UNSUPPORTED[key], key)
        if key not in GENERATION_KEYS and key not in IGNORED_KEYS and key not in UNSUPPORTED and value is not None:
            raise unsupported(provider, f'the "{key}" parameter', key)
    if stream and isinstance(body.get("n"), int) and body["n"] > 1:
        raise unsupported(provider, "several choices (n > 1) in a stream", "n")
    system, contents = to_gemini_contents(body.get("messages"), provider)
    request: dict[str, Any] = {"contents": contents}
    if system:
        request["systemInstruction"] = {"parts": system}
    if body.get("tools"):
        request["tools"] = [{"functionDeclarations": [_declaration(t, provider) for t in body["tools"]]}]
    if body.get("tool_choice") is not None:
        request["toolConfig"] = {"functionCallingConfig": _tool_choice(body["tool_choice"], provider)}
    config = {GENERATION_KEYS[k]: v for k, v in body.items() if k in GENERATION_KEYS and v is not None}
    stop = body.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    config.update(_response_format(body.get("response_format"), provider))
    if config:
        request["generationConfig"] = config
    return request


def to_gemini_contents(messages: Any, provider: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """System parts and `contents`; consecutive messages of one role share a content, as Gemini wants."""
    if not isinstance(messages, list):
        raise UnsupportedFeatureError("messages must be a list", param="messages")
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool_call_id -> function name, for the functionResponse parts
    for message in messages:
        role = message.get("role") if isinstance(message, dict) else None
        if role in ("system", "developer"):
            system += _parts(message.get("content"), provider)
            continue
        if role == "user":
            role, parts = "user", _parts(message.get("content"), provider)
        elif role == "assistant":
            role, parts = "model", _assistant_parts(message, names, provider)
            if not parts:
                continue  # Gemini refuses an empty text part, and an empty turn says nothing
        elif role == "tool":
            role, parts = "user", [_function_response(message, names)]
        else:
            raise unsupported(provider, f"messages with role {role!r}", "messages")
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"] += parts
        else:
            contents.append({"role": role, "parts": parts})
    return system, contents


def _parts(content: Any, provider: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}]
    parts: list[dict[str, Any]] = []
    for part in content or ():
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.append({"text": part.get("text", "")})
        elif kind == "image_url":
            parts.append(_inline_image(part.get("image_url"), provider))
        elif kind == "input_audio":
            audio = part.get("input_audio") or {}
            parts.append({"inlineData": {"mimeType": f"audio/{audio.get('format', 'wav')}", "data": audio.get("data")}})
        else:
            raise unsupported(provider, f"message content parts of type {kind!r}", "messages")
    return parts


def _inline_image(image: Any, provider: str) -> dict[str, Any]:
    url = image.get("url") if isinstance(image, dict) else image
    match = re.match(r"data:([\w.+-]+/[\w.+-]+);base64,(.*)", url or "", re.DOTALL)
    if match is None:
        raise unsupported(provider, "image URLs; send the image as a data: URL (base64)", "messages")
    return {"inlineData": {"mimeType": match.group(1), "data": match.group(2)}}


def _assistant_parts(message: dict[str, Any], names: dict[str, str], provider: str) -> list[dict[str, Any]]:
    content = message.get("content")
    parts: list[dict[str, Any]] = [{"text": content}] if isinstance(content, str) and content else []
    if isinstance(content, list):
        parts += [{"text": p["text"]} for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
                  and p["text"]]
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(call, dict) or not isinstance(function, dict | None):
            raise InvalidRequestError("messages: a tool call's function must be an object", param="messages")
        function = function or {}
        names[call.get("id", "")] = function.get("name", "")
        try:
            args = orjson.loads(function.get("arguments") or "{}")
        except ValueError:
            args = None
        if not isinstance(args, dict):
            raise UnsupportedFeatureError(f"provider {provider} (gemini) does not support tool call arguments that "
                                          "are not a JSON object", param="messages")
        call_id, _, signature = str(call.get("id") or "").partition(SIGNATURE_MARK)
        part: dict[str, Any] = {"functionCall": {**({"id": call_id} if call_id else {}), "name": function.get("name"),
                                                 "args": args}}
        if signature:
            part["thoughtSignature"] = signature
        parts.append(part)
    return parts


def _function_response(message: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    call_id = message.get("tool_call_id", "")
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    try:
        result = orjson.loads(content) if isinstance(content, str) else content
    except ValueError:
        result = content
    # Gemini wants an object here; anything else is wrapped.
    response = result if isinstance(result, dict) else {"result": result}
    gemini_id = call_id.partition(SIGNATURE_MARK)[0]
    ids = {"id": gemini_id} if gemini_id else {}
    return {"functionResponse": {**ids, "name": names.get(call_id, gemini_id), "response": response}}


def _declaration(tool: Any, provider: str) -> dict[str, Any]:
    function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
    if not isinstance(function, dict):
        raise unsupported(provider, "tools that are not functions", "tools")
    declaration: dict[str, Any] = {"name": function.get("name"), "description": function.get("description", "")}
    parameters = gemini_schema(function.get("parameters"))
    if parameters.get("properties") or parameters.get("type") not in (None, "OBJECT"):
        declaration["parameters"] = parameters  # a function without parameters is declared without any
    return declaration


def _tool_choice(choice: Any, provider: str) -> dict[str, Any]:
    if choice in ("none", "auto"):
        return {"mode": choice.upper()}
    if choice == "required":
        return {"mode": "ANY"}
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return {"mode": "ANY", "allowedFunctionNames": [choice["function"].get("name")]}
    raise unsupported(provider, f"tool_choice {choice!r}", "tool_choice")


def _response_format(fmt: Any, provider: str) -> dict[str, Any]:
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if fmt is None or kind == "text":
        return {}
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind == "json_schema" and isinstance(fmt.get("json_schema"), dict):
        schema = fmt["json_schema"].get("schema")
        if not isinstance(schema, dict) or not schema:
            return {"responseMimeType": "application/json"}
        return {"responseMimeType": "application/json", "responseSchema": gemini_schema(schema, order=True)}
    raise unsupported(provider, f"response_format {kind!r}", "response_format")


# -- response ---------------------------------------------------------------------------------------


def from_gemini_response(data: dict[str, Any], provider: str = "gemini") -> tuple[dict[str, Any], Facts]:
    """A `GenerateContentResponse` as an OpenAI chat.completion, and its facts. A candidate that ended in a
    failure (`MALFORMED_FUNCTION_CALL`, ...) raises UpstreamProtocolError, which may go to another target."""
    check_shape(data, provider)
    for candidate in data.get("candidates") or ():
        check_finish(candidate, provider)
    response_id = f"chatcmpl-{data.get('responseId') or _digest(data)}"
    facts = Facts(response_id=response_id, response_model=data.get("modelVersion"))
    choices = []
    for i, candidate in enumerate(data.get("candidates") or ()):
        text, calls = _candidate_output(candidate, response_id)
        finish = finish_reason(candidate.get("finishReason"), bool(calls))
        message: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
        if calls:
            message["tool_calls"] = calls
        choices.append({"index": candidate.get("index", i), "message": message, "logprobs": None,
                        "finish_reason": finish})
        facts.finish_reasons.append(finish)
    if not choices and (data.get("promptFeedback") or {}).get("blockReason"):
        message = {"role": "assistant", "content": None, "refusal": "the prompt was blocked by Gemini's safety filters"}
        choices.append({"index": 0, "message": message, "logprobs": None, "finish_reason": "content_filter"})
        facts.finish_reasons.append("content_filter")
    usage = from_gemini_usage(data.get("usageMetadata"))
    facts.read_usage(usage)
    answer = {"id": response_id, "object": "chat.completion", "created": int(time.time()),
              "model": data.get("modelVersion") or "gemini", "choices": choices}
    if usage:
        answer["usage"] = usage
    return answer, facts


def check_shape(data: dict[str, Any], provider: str) -> None:
    """What the translation reads must have the types `GenerateContentResponse` gives it; anything else is an
    answer the gateway cannot read (a 502 that may fail over), never a crash."""
    candidates, feedback = data.get("candidates"), data.get("promptFeedback")
    fine = isinstance(candidates, list | None) and isinstance(feedback, dict | None)
    for candidate in candidates if fine and candidates else ():
        if not fine:
            break
        content = candidate.get("content") if isinstance(candidate, dict) else None
        parts = content.get("parts") if isinstance(content, dict) else None
        fine = (isinstance(candidate, dict) and isinstance(content, dict | None)
                and isinstance(parts, list | None) and all(isinstance(p, dict) for p in parts or ())
                and isinstance(candidate.get("finishReason"), str | None)
                and isinstance(candidate.get("index", 0), int))
    if not fine:
        raise UpstreamProtocolError(f"provider {provider} answered in a shape that is not Gemini's "
                                    "GenerateContentResponse", provider=provider)


def _candidate_output(candidate: dict[str, Any], response_id: str) -> tuple[str, list[dict[str, Any]]]:
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in (candidate.get("content") or {}).get("parts") or ():
        if part.get("thought"):
            continue  # a thought summary, only sent when asked for: not the answer
        if isinstance(part.get("text"), str):
            text.append(part["text"])
        elif isinstance(part.get("functionCall"), dict):
            calls.append(tool_call(part, response_id, len(calls)))
    return "".join(text), calls


def tool_call(part: dict[str, Any], response_id: str, index: int) -> dict[str, Any]:
    """A part with a Gemini `functionCall` as an OpenAI tool call. Gemini's id when it gives one, else a stable
    one. Thinking models sign their calls and want the `thoughtSignature` back with the call in the next turn;
    the gateway keeps no state, so the signature travels in the id, which clients send back unchanged."""
    function_call = part["functionCall"]
    call_id = function_call.get("id") or f"call_{_digest([response_id, index, function_call])[:24]}"
    if isinstance(part.get("thoughtSignature"), str):
        call_id = f"{call_id}{SIGNATURE_MARK}{part['thoughtSignature']}"
    arguments = orjson.dumps(function_call.get("args") or {}).decode()
    return {"id": call_id, "type": "function", "function": {"name": function_call.get("name"), "arguments": arguments}}


def finish_reason(reason: Any, tool_calls: bool) -> str:
    if tool_calls and reason in (None, "STOP"):
        return "tool_calls"
    return FINISH_REASONS.get(reason, "stop") if isinstance(reason, str) else "stop"


def check_finish(candidate: dict[str, Any], provider: str) -> None:
    """Raise for a candidate that ended in a failure (FAILED_REASONS): retryable, so it may fail over."""
    reason = candidate.get("finishReason")
    if reason in FAILED_REASONS:
        detail = candidate.get("finishMessage")
        message = f"provider {provider} could not complete the answer ({reason}" + (f": {detail})" if detail else ")")
        raise UpstreamProtocolError(message, provider=provider)


def from_gemini_usage(meta: Any) -> dict[str, Any] | None:
    if not isinstance(meta, dict):
        return None
    prompt, thoughts = _count(meta, "promptTokenCount"), _count(meta, "thoughtsTokenCount")
    completion = _count(meta, "candidatesTokenCount") + thoughts
    usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                             "total_tokens": _count(meta, "totalTokenCount") or prompt + completion}
    if cached := _count(meta, "cachedContentTokenCount"):
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    if thoughts:
        usage["completion_tokens_details"] = {"reasoning_tokens": thoughts}
    return usage


def _count(meta: dict[str, Any], key: str) -> int:
    """A token count; Gemini leaves out the zero ones, and a null is no count either."""
    value = meta.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _digest(value: Any) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


# -- stream -----------------------------------------------------------------------------------------


class GeminiStream:
    """Each SSE event is a whole `GenerateContentResponse` carrying the new parts. Gemini sends no
    `[DONE]`: the answer is complete once a candidate has a `finishReason`."""

    def __init__(self, provider: str, include_usage: bool) -> None:
        self.provider = provider
        self.include_usage = include_usage
        self.facts = Facts()
        self.finished = False
        self.created = int(time.time())
        self.tool_indices: dict[int, int] = {}  # candidate index -> tool calls announced so far
        self.usage: dict[str, Any] | None = None
        self.usage_sent = False

    def feed(self, event: SSEEvent) -> list[bytes]:
        try:
            data = orjson.loads(event.data)
        except ValueError:
            data = None
        if isinstance(data, list) and len(data) == 1:
            data = data[0]
        if not isinstance(data, dict):
            self.facts.malformed_events += 1
            if self.facts.malformed_events > MAX_MALFORMED:
                raise UpstreamProtocolError(f"provider {self.provider} sent unreadable events", provider=self.provider)
            return []
        return self.from_gemini_event(data)

    def from_gemini_event(self, data: dict[str, Any]) -> list[bytes]:
        if "error" in data:
            raise UpstreamStreamError.from_event(data["error"], self.provider)
        check_shape(data, self.provider)
        facts, out = self.facts, []
        if facts.response_id is None:
            facts.response_id = f"chatcmpl-{data.get('responseId') or _digest(data)[:24]}"
            facts.response_model = data.get("modelVersion")
            out.append(self._chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                                     "finish_reason": None}]))
        self.usage = from_gemini_usage(data.get("usageMetadata")) or self.usage
        choices = [c for candidate in data.get("candidates") or () if (c := self._choice(candidate))]
        if not data.get("candidates") and (data.get("promptFeedback") or {}).get("blockReason"):
            choices = [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "content_filter"}]
            facts.finish_reasons.append("content_filter")
        if choices:
            out.append(self._chunk(choices))
        if any(c["finish_reason"] for c in choices):
            self.finished = True
        if self.finished and self.usage is not None and not self.usage_sent:
            facts.read_usage(self.usage)
            self.usage_sent = True
            if self.include_usage:
                out.append(self._chunk([], usage=self.usage))
        return out

    def _choice(self, candidate: dict[str, Any]) -> dict[str, Any] | None:
        check_finish(candidate, self.provider)
        index = candidate.get("index", 0)
        delta: dict[str, Any] = {}
        text: list[str] = []
        calls: list[dict[str, Any]] = []
        for part in (candidate.get("content") or {}).get("parts") or ():
            if part.get("thought"):
                continue
            if isinstance(part.get("text"), str):
                text.append(part["text"])
            elif isinstance(part.get("functionCall"), dict):
                n = self.tool_indices.get(index, 0)
                self.tool_indices[index] = n + 1
                calls.append({"index": n, **tool_call(part, self.facts.response_id or "", n)})
        if text and "".join(text):
            delta["content"] = "".join(text)
            self.facts.content_started = True
            if index == 0:
                self.facts.text.append(delta["content"])
        if calls:
            delta["tool_calls"] = calls
            self.facts.content_started = self.facts.tool_calls = True
        reason = candidate.get("finishReason")
        finish = finish_reason(reason, index in self.tool_indices) if reason else None
        if not delta and finish is None:
            return None
        if finish is not None:
            self.facts.finish_reasons.append(finish)
        if index:
            self.facts.several_choices = True
        return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}

    def _chunk(self, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> bytes:
        chunk: dict[str, Any] = {"id": self.facts.response_id, "object": "chat.completion.chunk",
                                 "created": self.created, "model": self.facts.response_model or "gemini",
                                 "choices": choices}
        if usage is not None:
            chunk["usage"] = usage
        return orjson.dumps(chunk)


# -- error ------------------------------------------------------------------------------------------


def from_gemini_error(status: int, headers: httpx.Headers, body: bytes, provider: str) -> UpstreamStatusError:
    """Google's `{"error": {"code", "message", "status", "details"}}` as our error. RESOURCE_EXHAUSTED (429)
    and UNAVAILABLE (503) are retryable by their HTTP status; a `RetryInfo` detail becomes `retry_after`."""
    try:
        data = orjson.loads(body)
    except ValueError:
        data = None
    if isinstance(data, list) and data:
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        text = body[:500].decode("utf-8", "replace").strip()
        message = f"provider {provider} answered HTTP {status}" + (f": {text}" if text else "")
        return UpstreamStatusError(status, message, provider=provider, retry_after=retry_after(headers))
    code = error.get("status") if isinstance(error.get("status"), str) else None
    details = [d for d in error.get("details") or () if isinstance(d, dict)]
    if any(d.get("reason") == "API_KEY_INVALID" for d in details):
        status, code = 401, "invalid_api_key"  # Google says 400 INVALID_ARGUMENT; clients expect 401
    return UpstreamStatusError(
        status, str(error.get("message") or f"provider {provider} answered HTTP {status}"), provider=provider,
        type=STATUS_TYPES.get(code or ""), code=code.lower() if code else None,
        retry_after=retry_after(headers) or _retry_delay(details),
    )


def _retry_delay(details: list[dict[str, Any]]) -> float | None:
    for detail in details:
        delay = detail.get("retryDelay")
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo") and isinstance(delay, str):
            try:
                return float(delay.removesuffix("s"))
            except ValueError:
                return None
    return None
