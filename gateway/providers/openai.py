"""Provider `openai`: any OpenAI-compatible API (OpenAI, vLLM, Ollama, Groq, Mistral, ...).

The wire format is already ours, so translation is nearly the identity: the body goes out with only
`model` replaced, and answers come back byte for byte; they are parsed only to read their facts.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from gateway.config import ProviderConfig
from gateway.errors import UnsupportedFeatureError, UpstreamError, UpstreamProtocolError, UpstreamStreamError
from gateway.providers.base import (
    Call,
    Facts,
    HttpProvider,
    Reply,
    UpstreamRequest,
    error_from_body,
    parse_json_object,
)
from gateway.sse import SSEEvent
from gateway.upstream import USER_AGENT, Upstream

PATHS = {"chat": "/chat/completions", "text_completion": "/completions", "embeddings": "/embeddings"}
OPERATION_NAMES = {"chat": "chat completions", "text_completion": "legacy completions (/v1/completions)",
                   "embeddings": "embeddings"}
MAX_MALFORMED = 3  # unparsable events skipped in one stream before it counts as broken


def api_root(base_url: str) -> str:
    """`http://host:8000` and `http://host:8000/v1` both mean `.../v1`; any other path is kept as given
    (Groq's `/openai/v1`, Gemini's `/v1beta/openai`)."""
    url = base_url.rstrip("/")
    return url + "/v1" if urlsplit(url).path in ("", "/") else url


class OpenAIProvider(HttpProvider):
    type = "openai"

    def __init__(self, config: ProviderConfig, upstream: Upstream | None = None) -> None:
        super().__init__(config, upstream)
        self.root = api_root(config.base_url or "")
        self.headers = {"content-type": "application/json", "user-agent": USER_AGENT, **config.headers}
        if config.api_key:
            self.headers["authorization"] = f"Bearer {config.api_key}"

    # -- request ------------------------------------------------------------------------------------

    def to_request(self, call: Call, model: str) -> UpstreamRequest:
        if self.config.operations is not None and call.operation not in self.config.operations:
            raise UnsupportedFeatureError(
                f"provider {self.name} does not support {OPERATION_NAMES[call.operation]}", param="model"
            )
        body = {**call.body, "model": model}
        if call.stream and self.config.stream_usage and not wants_usage(call.body):
            # Ask for usage so every stream is accounted for; OpenAIStream removes that chunk again.
            options = call.body.get("stream_options")
            body["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
        if self.config.prefill_style != "plain" and call.operation == "chat" and _ends_with_assistant(call.body):
            mark_prefill(body, self.config.prefill_style)
        content = orjson.dumps(body)
        return UpstreamRequest("POST", self.root + PATHS[call.operation], self.headers, content)

    # -- response -----------------------------------------------------------------------------------

    def from_response(self, call: Call, body: bytes) -> Reply:
        data = parse_json_object(body, self.name)
        facts = Facts(response_id=_str(data.get("id")), response_model=_str(data.get("model")))
        for choice in data.get("choices") or ():
            if isinstance(choice, dict) and isinstance(choice.get("finish_reason"), str):
                facts.finish_reasons.append(choice["finish_reason"])
        facts.read_usage(data.get("usage"))
        return Reply(body, facts)

    # -- stream -------------------------------------------------------------------------------------

    def stream_translator(self, call: Call) -> OpenAIStream:
        return OpenAIStream(self.name, strip_usage=self.config.stream_usage and not wants_usage(call.body))

    # -- error --------------------------------------------------------------------------------------

    def from_error(self, status: int, headers: httpx.Headers, body: bytes) -> UpstreamError:
        return error_from_body(status, headers, body, self.name)


class OpenAIStream:
    """Passes chunks through unchanged, reading ids, finish reasons and usage on the way."""

    __slots__ = ("provider", "facts", "finished", "strip_usage")

    def __init__(self, provider: str, *, strip_usage: bool = False) -> None:
        self.provider = provider
        self.facts = Facts()
        self.finished = False
        self.strip_usage = strip_usage

    def feed(self, event: SSEEvent) -> list[bytes]:
        if event.data == b"[DONE]":
            self.finished = True
            return []
        try:
            chunk = orjson.loads(event.data)
        except ValueError:
            chunk = None
        if not isinstance(chunk, dict):
            # One garbled event is not worth losing the answer for: skip it and count it.
            self.facts.malformed_events += 1
            if self.facts.malformed_events > MAX_MALFORMED:
                raise UpstreamProtocolError(f"provider {self.provider} sent unreadable events", provider=self.provider)
            return []
        if "error" in chunk:
            raise UpstreamStreamError.from_event(chunk["error"], self.provider)
        facts = self.facts
        if facts.response_id is None:
            facts.response_id = _str(chunk.get("id"))
            facts.response_model = _str(chunk.get("model"))
        for choice in chunk.get("choices") or ():
            _read_choice(choice, facts)
        if chunk.get("usage"):
            facts.read_usage(chunk["usage"])
            if self.strip_usage and not chunk.get("choices"):
                return []  # the usage-only chunk the gateway asked for, not the client
        return [event.data]


def mark_prefill(body: dict[str, Any], style: str) -> None:
    """Ask a server to continue the trailing assistant message the way it wants to be asked (presets.py)."""
    if style == "prefix":
        body["messages"] = [*body["messages"][:-1], {**body["messages"][-1], "prefix": True}]
    elif style == "continue_final_message":
        body.update(continue_final_message=True, add_generation_prompt=False)


def _ends_with_assistant(body: dict[str, Any]) -> bool:
    messages = body.get("messages")
    last = messages[-1] if isinstance(messages, list) and messages else None
    return isinstance(last, dict) and last.get("role") == "assistant" and not last.get("tool_calls")


def wants_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _read_choice(choice: Any, facts: Facts) -> None:
    if not isinstance(choice, dict):
        return
    if choice.get("index", 0) != 0:
        facts.several_choices = True
    delta = choice.get("delta")
    text = delta.get("content") if isinstance(delta, dict) else choice.get("text")
    if isinstance(text, str) and text:
        facts.content_started = True
        facts.text.append(text)
    if isinstance(delta, dict) and delta.get("tool_calls"):
        facts.content_started = facts.tool_calls = True
    if isinstance(choice.get("finish_reason"), str):
        facts.finish_reasons.append(choice["finish_reason"])


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
