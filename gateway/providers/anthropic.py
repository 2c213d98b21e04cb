"""Provider `anthropic`: the Anthropic Messages API (`POST /v1/messages`).

    >>> to_anthropic_request({"model": "m", "messages": [{"role": "system", "content": "Be brief."},
    ...                       {"role": "user", "content": "hi"}]}, "claude-x", 1024)["system"]
    'Be brief.'

Four parts, in the usual order: request, response, stream, error. Like every translator here they are
pure and run again on each attempt, so nothing may change the client's `call.body`.

Sampling parameters and prefill depend on the model family and API version (`anthropic_models.py`).
Tool-call ids are mapped to the characters Anthropic takes (`to_anthropic_id`), reversibly.

`response_format` with a JSON schema is asked for the way Anthropic documents for JSON output on every
model: a single tool whose `input_schema` is the schema, forced with `tool_choice`. Its input comes back
as the message text, so the client sees an ordinary JSON answer.
"""

from __future__ import annotations

import base64
import re
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from gateway.config import ProviderConfig
from gateway.errors import (
    RETRYABLE_STATUSES,
    UnsupportedFeatureError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamStatusError,
    UpstreamStreamError,
)
from gateway.providers.anthropic_models import SamplingError, accepts_prefill, sampling
from gateway.providers.base import Call, Facts, HttpProvider, Reply, UpstreamRequest, parse_json_object, retry_after
from gateway.sse import SSEEvent
from gateway.upstream import USER_AGENT, Upstream

DEFAULT_BASE_URL = "https://api.anthropic.com"
JSON_TOOL = "json_response"  # the forced tool that carries a `response_format` answer
MAX_MALFORMED = 3

# OpenAI parameters with no Anthropic counterpart: a value other than the harmless one is a clear 400.
UNSUPPORTED: dict[str, tuple[Any, ...]] = {
    "n": (None, 1),
    "logprobs": (None, False),
    "top_logprobs": (None, 0),
    "logit_bias": (None, {}),
    "frequency_penalty": (None, 0, 0.0),
    "presence_penalty": (None, 0, 0.0),
    "seed": (None,),
    "audio": (None,),
    "modalities": (None, ["text"]),
    "prediction": (None,),
    "functions": (None,),
    "function_call": (None,),
}
STOP_REASONS = {
    "end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "max_tokens": "length",
    "model_context_window_exceeded": "length", "tool_use": "tool_calls", "refusal": "content_filter",
}
TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")  # the ids Anthropic accepts for tool_use / tool_result
TOOL_ID_MARK = "gwid_"  # an id outside TOOL_ID travels as this mark + its URL-safe base64
ERROR_STATUSES = {
    "invalid_request_error": 400, "authentication_error": 401, "billing_error": 402, "permission_error": 403,
    "not_found_error": 404, "request_too_large": 413, "rate_limit_error": 429, "api_error": 500,
    "timeout_error": 504, "overloaded_error": 529,
}


class AnthropicProvider(HttpProvider):
    type = "anthropic"

    def __init__(self, config: ProviderConfig, upstream: Upstream | None = None) -> None:
        config = config.model_copy(update={"base_url": config.base_url or DEFAULT_BASE_URL})
        super().__init__(config, upstream)
        self.url = api_root(config.base_url or DEFAULT_BASE_URL) + "/messages"
        self.headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "anthropic-version": config.anthropic_version,
            **config.headers,
        }
        if config.api_key:
            self.headers["x-api-key"] = config.api_key

    # -- request ------------------------------------------------------------------------------------

    def to_request(self, call: Call, model: str) -> UpstreamRequest:
        if call.operation != "chat":
            feature = "embeddings" if call.operation == "embeddings" else "legacy completions (/v1/completions)"
            raise _unsupported(self.name, feature)
        if bad := unsupported_parameter(call.body):
            raise _unsupported(self.name, f"the parameter '{bad}'", param=bad)
        try:
            body = to_anthropic_request(call.body, model, self.config.max_tokens_default, stream=call.stream,
                                        api_version=self.config.anthropic_version)
        except SamplingError as exc:
            raise _unsupported(self.name, str(exc), param=exc.param) from None
        except ValueError as exc:
            raise _unsupported(self.name, str(exc)) from None
        except (KeyError, TypeError, AttributeError) as exc:  # a shape the OpenAI API would refuse as well
            raise _unsupported(self.name, f"a request of this shape ({type(exc).__name__}: {exc})") from None
        return UpstreamRequest("POST", self.url, self.headers, orjson.dumps(body))

    # -- response -----------------------------------------------------------------------------------

    def from_response(self, call: Call, body: bytes) -> Reply:
        data = parse_json_object(body, self.name)
        try:
            chat = from_anthropic_response(data, json_tool=_json_tool(call.body))
        except (AttributeError, TypeError) as exc:
            message = f"provider {self.name} answered with a message of an unknown shape ({exc})"
            raise UpstreamProtocolError(message, provider=self.name) from None
        message = chat["choices"][0]["message"]
        if _prefill_space(call.body) and message["content"]:
            message["content"] = message["content"].lstrip()
        facts = Facts(response_id=chat["id"], response_model=chat["model"])
        facts.finish_reasons.append(chat["choices"][0]["finish_reason"])
        facts.read_usage(chat["usage"])
        return Reply(orjson.dumps(chat), facts)

    # -- stream -------------------------------------------------------------------------------------

    def stream_translator(self, call: Call) -> AnthropicStream:
        stream = AnthropicStream(self.name, include_usage=_wants_usage(call.body), json_tool=_json_tool(call.body))
        stream.skip_space = _prefill_space(call.body)
        return stream

    # -- error --------------------------------------------------------------------------------------

    def from_error(self, status: int, headers: httpx.Headers, body: bytes) -> UpstreamError:
        return from_anthropic_error(status, headers, body, self.name)

    def model_accepts_prefill(self, model: str) -> bool:
        return accepts_prefill(model)  # Claude 4.6 and later refuse it (anthropic_models.py)


def api_root(base_url: str) -> str:
    """`https://api.anthropic.com` and `https://api.anthropic.com/v1` both mean `.../v1`."""
    url = base_url.rstrip("/")
    return url + "/v1" if urlsplit(url).path in ("", "/") else url


# -- request translation ----------------------------------------------------------------------------


def unsupported_parameter(body: dict[str, Any]) -> str | None:
    for name, harmless in UNSUPPORTED.items():
        if name in body and body[name] not in harmless:
            return name
    return None


def to_anthropic_request(
    body: dict[str, Any], model: str, max_tokens_default: int, *, stream: bool = False,
    api_version: str = "2023-06-01",
) -> dict[str, Any]:
    """An OpenAI chat request as an Anthropic Messages request. Raises ValueError naming what cannot be said
    (SamplingError for a sampling parameter this model or API version refuses)."""
    system, messages = _messages(body["messages"])
    out: dict[str, Any] = {"model": model, "messages": messages}
    out["max_tokens"] = body.get("max_completion_tokens") or body.get("max_tokens") or max_tokens_default
    if system:
        out["system"] = system
    out.update(sampling(body, model, api_version))
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if isinstance(body.get("user"), str):
        out["metadata"] = {"user_id": body["user"]}
    if stream:
        out["stream"] = True
    out.update(_tools(body))
    return out


def _messages(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """System text apart; the rest as alternating turns, tool results joined into the user turn that follows."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(_text(message.get("content")))
            continue
        if role == "tool":
            blocks = [_tool_result(message)]
            role = "user"
        elif role == "assistant":
            blocks = _assistant_blocks(message)
            if not blocks:
                continue  # Anthropic refuses an empty turn (and an empty text block): it says nothing anyway
        elif role == "user":
            blocks = _user_blocks(message.get("content"))
        else:
            raise ValueError(f"messages with role '{role}'")
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += blocks  # Anthropic wants alternating turns: consecutive ones are merged
        else:
            turns.append({"role": role, "content": blocks})
    if turns and turns[-1]["role"] == "assistant":
        _strip_trailing_space(turns[-1]["content"])
        if not turns[-1]["content"]:
            turns.pop()  # a prefill of nothing but whitespace
    return "\n\n".join(s for s in system if s), turns


def _strip_trailing_space(blocks: list[dict[str, Any]]) -> None:
    # A prefill (trailing assistant turn) may not end with whitespace: the API rejects it. The model then
    # writes that whitespace again, and the answer drops it (`_prefill_space`), as the client has it already.
    if blocks and blocks[-1].get("type") == "text":
        blocks[-1]["text"] = blocks[-1]["text"].rstrip()
        if not blocks[-1]["text"]:
            blocks.pop()


def _prefill_space(body: dict[str, Any]) -> bool:
    """The request ends with an assistant text ending in whitespace, which `_strip_trailing_space` removed."""
    last = body["messages"][-1] if body.get("messages") else {}
    text = _text(last.get("content"))
    return last.get("role") == "assistant" and not last.get("tool_calls") and text != text.rstrip()


def _user_blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise ValueError("a user message without content")
    blocks: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if not isinstance(part.get("text", ""), str):
                raise ValueError("text parts whose text is not a string")
            blocks.append({"type": "text", "text": part.get("text", "")})
        elif kind == "image_url":
            blocks.append(_image(part.get("image_url")))
        else:
            raise ValueError(f"content parts of type '{kind}'")
    return blocks


def _image(image: Any) -> dict[str, Any]:
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str):
        raise ValueError("an image_url without a url")
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        media_type = header[5:].split(";")[0]
        if ";base64" not in header:
            raise ValueError("images as data URLs that are not base64")
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _assistant_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    text = _text(message.get("content"))
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    for tool_call in message.get("tool_calls") or ():
        function = tool_call.get("function") or {}
        try:
            arguments = orjson.loads(function.get("arguments") or "{}")
        except ValueError:
            raise ValueError("tool call arguments that are not JSON") from None
        if not isinstance(arguments, dict):
            raise ValueError("tool call arguments that are not a JSON object")
        blocks.append({"type": "tool_use", "id": to_anthropic_id(tool_call.get("id")), "name": function.get("name"),
                       "input": arguments})
    return blocks


def _tool_result(message: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": to_anthropic_id(message.get("tool_call_id")),
            "content": _text(message.get("content"))}


def to_anthropic_id(call_id: Any) -> str:
    """A tool-call id as Anthropic takes it (`^[a-zA-Z0-9_-]+$`). Other providers' ids may hold more (the
    gateway's Gemini ids carry a base64 thought signature), so those are sent as URL-safe base64 behind a
    mark; ids that fit and do not start with the mark go unchanged. Reversed by `from_anthropic_id`."""
    if not isinstance(call_id, str) or not call_id:
        raise ValueError("a tool call or tool result without an id")
    if TOOL_ID.match(call_id) and not call_id.startswith(TOOL_ID_MARK):
        return call_id
    return TOOL_ID_MARK + base64.urlsafe_b64encode(call_id.encode()).decode().rstrip("=")


def from_anthropic_id(call_id: Any) -> Any:
    if not isinstance(call_id, str) or not call_id.startswith(TOOL_ID_MARK):
        return call_id
    data = call_id[len(TOOL_ID_MARK):]
    try:
        return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode()
    except ValueError:
        return call_id  # not one of ours after all


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p["text"] for p in content
                       if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str))
    return ""


def _tools(body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    tools = body.get("tools") or []
    if tools:
        out["tools"] = [_tool(t) for t in tools]
    choice = _tool_choice(body.get("tool_choice"))
    if body.get("parallel_tool_calls") is False and tools and (choice or {}).get("type") != "none":
        # `none` takes no disable_parallel_tool_use (no tool is called at all)
        choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    if choice is not None and tools:
        out["tool_choice"] = choice
    if (schema := _json_schema(body)) is not None:
        if tools:
            raise ValueError("response_format together with tools")
        out["tools"] = [{"name": JSON_TOOL, "description": "Answer with this JSON.", "input_schema": schema}]
        out["tool_choice"] = {"type": "tool", "name": JSON_TOOL}
    return out


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    if tool.get("type") != "function":
        raise ValueError(f"tools of type '{tool.get('type')}'")
    function = tool["function"]
    out = {"name": function["name"], "input_schema": function.get("parameters") or {"type": "object"}}
    if function.get("description"):
        out["description"] = function["description"]
    return out


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if isinstance(choice, dict):
        return {"type": "tool", "name": (choice.get("function") or {}).get("name")}
    return {"auto": {"type": "auto"}, "none": {"type": "none"}, "required": {"type": "any"}}.get(choice)


def _json_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    fmt = body.get("response_format")
    if not isinstance(fmt, dict) or fmt.get("type") == "text":
        return None
    if fmt.get("type") == "json_object":
        return {"type": "object"}
    if fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        return schema if isinstance(schema, dict) else {"type": "object"}
    raise ValueError(f"response_format of type '{fmt.get('type')}'")


def _json_tool(body: dict[str, Any]) -> bool:
    fmt = body.get("response_format")
    return isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema")


def _wants_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


# -- response translation ---------------------------------------------------------------------------


def from_anthropic_response(data: dict[str, Any], *, json_tool: bool = False) -> dict[str, Any]:
    """An Anthropic message as an OpenAI chat.completion."""
    text: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for block in data.get("content") or ():
        if block.get("type") == "text":
            text.append(block.get("text", ""))
        elif block.get("type") == "tool_use" and json_tool and block.get("name") == JSON_TOOL:
            text.append(orjson.dumps(block.get("input")).decode())
        elif block.get("type") == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            tool_calls.append({"id": from_anthropic_id(block.get("id")), "type": "function",
                               "function": {"name": block.get("name"), "arguments": arguments}})
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) if text or not tool_calls else None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    finish = finish_reason(data.get("stop_reason"), json_tool)
    return {
        "id": data.get("id") or "msg", "object": "chat.completion", "created": int(time.time()),
        "model": data.get("model"),
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": usage(data.get("usage") or {}),
    }


def finish_reason(stop_reason: Any, json_tool: bool = False) -> str:
    if stop_reason == "tool_use" and json_tool:
        return "stop"
    return STOP_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def usage(data: dict[str, Any]) -> dict[str, Any]:
    """Anthropic counts cached input apart from `input_tokens`; OpenAI's `prompt_tokens` includes it."""
    read = _int(data.get("cache_read_input_tokens"))
    written = _int(data.get("cache_creation_input_tokens"))
    prompt = _int(data.get("input_tokens")) + read + written
    completion = _int(data.get("output_tokens"))
    return {
        "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": read, "cache_creation_tokens": written},
    }


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


# -- stream translation -----------------------------------------------------------------------------


class AnthropicStream:
    """Anthropic stream events in, `chat.completion.chunk` payloads out.

    Content blocks are numbered across text and tool use; OpenAI numbers tool calls only, so the block
    index is mapped to a tool-call index as tool blocks start."""

    def __init__(self, provider: str, *, include_usage: bool = False, json_tool: bool = False) -> None:
        self.provider = provider
        self.include_usage = include_usage
        self.json_tool = json_tool
        self.facts = Facts()
        self.finished = False
        self.created = int(time.time())
        self.tools: dict[int, int] = {}  # content block index -> tool-call index
        self.json_block: int | None = None  # the block of the forced JSON tool, whose input is the answer
        self.usage: dict[str, Any] = {}
        self.skip_space = False  # drop the answer's leading whitespace (see _strip_trailing_space)

    def feed(self, event: SSEEvent) -> list[bytes]:
        try:
            data = orjson.loads(event.data)
        except ValueError:
            data = None
        if isinstance(data, dict):
            try:
                return from_anthropic_event(self, data)
            except (AttributeError, TypeError):
                pass
        # One garbled event is not worth losing the answer for: skip it and count it.
        self.facts.malformed_events += 1
        if self.facts.malformed_events > MAX_MALFORMED:
            raise UpstreamProtocolError(f"provider {self.provider} sent unreadable events", provider=self.provider)
        return []

    def chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return orjson.dumps({
            "id": self.facts.response_id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.facts.response_model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        })


def from_anthropic_event(stream: AnthropicStream, data: dict[str, Any]) -> list[bytes]:
    """One stream event: update `stream`'s facts and state, return the chunks it makes."""
    kind = data.get("type")
    facts = stream.facts
    if kind == "message_start":
        message = data.get("message") or {}
        facts.response_id, facts.response_model = message.get("id"), message.get("model")
        _read_usage(stream, message.get("usage"))
        return [stream.chunk({"role": "assistant", "content": ""})]
    if kind == "content_block_start":
        block = data.get("content_block") or {}
        if block.get("type") == "tool_use" and stream.json_tool and block.get("name") == JSON_TOOL:
            stream.json_block = data.get("index", 0)
        elif block.get("type") == "tool_use":
            index = stream.tools[data.get("index", 0)] = len(stream.tools)
            facts.content_started = facts.tool_calls = True
            call = {"index": index, "id": from_anthropic_id(block.get("id")), "type": "function",
                    "function": {"name": block.get("name"), "arguments": ""}}
            return [stream.chunk({"tool_calls": [call]})]
        if block.get("type") == "text" and block.get("text"):
            return _text_chunk(stream, block["text"])
        return []
    if kind == "content_block_delta":
        return _delta(stream, data.get("index", 0), data.get("delta") or {})
    if kind == "message_delta":
        _read_usage(stream, data.get("usage"))
        reason = finish_reason((data.get("delta") or {}).get("stop_reason"), stream.json_tool)
        facts.finish_reasons.append(reason)
        openai_usage = usage(stream.usage)
        facts.read_usage(openai_usage)
        return [stream.chunk({}, reason)]
    if kind == "message_stop":
        stream.finished = True
        if not stream.include_usage:
            return []
        payload = orjson.loads(stream.chunk({}))
        payload["choices"], payload["usage"] = [], usage(stream.usage)
        return [orjson.dumps(payload)]
    if kind == "error":
        raise stream_error(data.get("error"), stream.provider)
    return []  # ping, content_block_stop, and event types added later


def _read_usage(stream: AnthropicStream, usage: Any) -> None:
    """Counts so far; a field sent as null (`message_delta` may say `input_tokens: null`) is no news."""
    if isinstance(usage, dict):
        stream.usage.update({k: v for k, v in usage.items() if v is not None})


def _delta(stream: AnthropicStream, index: int, delta: dict[str, Any]) -> list[bytes]:
    if delta.get("type") == "text_delta":
        return _text_chunk(stream, delta.get("text", ""))
    if delta.get("type") == "input_json_delta":
        piece = delta.get("partial_json", "")
        if index == stream.json_block:  # the forced JSON tool: its input is the answer's text
            return _text_chunk(stream, piece)
        if index not in stream.tools or not piece:
            return []  # a server tool's input (server_tool_use): the server runs it, the client never sees it
        return [stream.chunk({"tool_calls": [{"index": stream.tools[index], "function": {"arguments": piece}}]})]
    return []  # thinking, signatures, citations: not part of an OpenAI answer


def _text_chunk(stream: AnthropicStream, text: str) -> list[bytes]:
    if stream.skip_space:
        text = text.lstrip()
        stream.skip_space = not text
    if not text:
        return []
    stream.facts.content_started = True
    stream.facts.text.append(text)
    return [stream.chunk({"content": text})]


# -- errors -----------------------------------------------------------------------------------------


def from_anthropic_error(status: int, headers: httpx.Headers, body: bytes, provider: str) -> UpstreamStatusError:
    """`{"type": "error", "error": {"type", "message"}}` as our error; the HTTP status stays authoritative."""
    kind, message = _error_fields(body)
    text = message or f"provider {provider} answered HTTP {status}"
    return UpstreamStatusError(status, text, provider=provider, type=kind, retry_after=retry_after(headers))


def stream_error(error: Any, provider: str) -> UpstreamStreamError:
    """An `error` event mid-stream. Overload, rate limits and server errors may go to another target."""
    kind = error.get("type") if isinstance(error, dict) else None
    status = ERROR_STATUSES.get(kind, 500) if isinstance(kind, str) else 500
    exc = UpstreamStreamError.from_event(error, provider)
    exc.retryable = status in RETRYABLE_STATUSES or status >= 500
    return exc


def _error_fields(body: bytes) -> tuple[str | None, str | None]:
    try:
        data = orjson.loads(body)
    except ValueError:
        return None, body[:500].decode("utf-8", "replace").strip() or None
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None, None
    kind, message = error.get("type"), error.get("message")
    return (kind if isinstance(kind, str) else None), (message if isinstance(message, str) else None)


def _unsupported(provider: str, feature: str, param: str | None = None) -> UnsupportedFeatureError:
    return UnsupportedFeatureError(
        f"provider {provider} (type anthropic) does not support {feature}", param=param
    )
