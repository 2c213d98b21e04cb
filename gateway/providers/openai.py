"""Provider `openai`: any OpenAI-compatible API (OpenAI, vLLM, Ollama, Groq, Mistral, ...).

The wire format is already ours, so translation is nearly the identity: the body goes out with only
`model` replaced, and answers come back byte for byte; they are parsed only to read their facts.

Two exceptions. A preset's server may spell a parameter its own way or refuse one it does without
(`presets.RENAMED`, `presets.DROPPED`: Mistral wants `max_tokens`, not `max_completion_tokens`). And
`top_k`, which is not an OpenAI parameter (the `/v1/messages` entrance passes Anthropic's on), is left
out for servers that would refuse it: every server but the presets in `presets.TOP_K` (vLLM, Together,
Fireworks, OpenRouter).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from gateway.config import ProviderConfig
from gateway.errors import UnsupportedFeatureError, UpstreamError, UpstreamProtocolError, UpstreamStreamError
from gateway.presets import DROPPED, RENAMED, TOP_K
from gateway.providers.base import (
    Call,
    Facts,
    HttpProvider,
    Kept,
    Reply,
    UpstreamRequest,
    error_from_body,
    parse_json_object,
)
from gateway.sse import SSEEvent
from gateway.upstream import USER_AGENT, Upstream

PATHS = {"chat": "/chat/completions", "text_completion": "/completions", "embeddings": "/embeddings",
         "responses": "/responses"}
OPERATION_NAMES = {"chat": "chat completions", "text_completion": "legacy completions (/v1/completions)",
                   "embeddings": "embeddings", "responses": "the Responses API"}
# A native Responses answer's status as a chat finish reason, for routing, telemetry and accounting.
FINISHED = {"completed": "stop", "incomplete": "length", "failed": "error", "cancelled": "error"}
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
        self.urls = {operation: self.root + path for operation, path in PATHS.items()}
        self.headers = {"content-type": "application/json", "user-agent": USER_AGENT, **config.headers}
        if config.api_key:
            self.headers["authorization"] = f"Bearer {config.api_key}"
        # what `_adapt` does for this server, worked out once (most servers: nothing but leaving out top_k)
        self.takes_top_k = config.preset in TOP_K
        self.dropped = DROPPED.get(config.preset or "", frozenset())
        self.renamed = RENAMED.get(config.preset or "", {})

    # -- request ------------------------------------------------------------------------------------

    def to_request(self, call: Call, model: str) -> UpstreamRequest:
        if call.operation == "responses":
            return UpstreamRequest("POST", self.urls["responses"], self.headers,
                                   orjson.dumps({**call.body, "model": model}))
        if self.config.operations is not None and call.operation not in self.config.operations:
            raise UnsupportedFeatureError(
                f"provider {self.name} does not support {OPERATION_NAMES[call.operation]}", param="model"
            )
        body = {**call.body, "model": model}
        if call.operation == "chat" and ("top_k" in body or self.dropped or self.renamed):
            self._adapt(body)
        if call.stream and self.config.stream_usage and not wants_usage(call.body):
            # Ask for usage so every stream is accounted for; OpenAIStream removes that chunk again.
            options = call.body.get("stream_options")
            body["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
        if self.config.prefill_style != "plain" and call.operation == "chat" and _ends_with_assistant(call.body):
            mark_prefill(body, self.config.prefill_style)
        content = orjson.dumps(body)
        return UpstreamRequest("POST", self.urls[call.operation], self.headers, content)

    def _adapt(self, body: dict[str, Any]) -> None:
        """The server's own spelling of a parameter, and no `top_k` where it would be refused (see above)."""
        if "top_k" in body and not self.takes_top_k:
            del body["top_k"]
        for name in self.dropped:
            body.pop(name, None)
        for ours, theirs in self.renamed.items():
            if ours in body:
                value = body.pop(ours)
                if value is not None or theirs not in body:
                    body[theirs] = value

    # -- response -----------------------------------------------------------------------------------

    def from_response(self, call: Call, body: bytes) -> Reply:
        data = parse_json_object(body, self.name)
        if call.operation == "responses":
            return Reply(body, responses_facts(data))
        if not well_formed(data, "message"):
            raise UpstreamProtocolError(f"provider {self.name} answered with a completion of an unknown shape",
                                        provider=self.name)
        answer_id, model = data.get("id"), data.get("model")
        facts = Facts(answer_id if isinstance(answer_id, str) else None, model if isinstance(model, str) else None)
        for choice in data.get("choices") or ():  # (well formed: objects, each finish reason a string or null)
            if (reason := choice.get("finish_reason")) is not None:
                facts.finish_reasons.append(reason)
        if (usage := data.get("usage")) is not None:
            facts.read_usage(usage)
        return Reply(body, facts, data)

    # -- stream -------------------------------------------------------------------------------------

    def stream_translator(self, call: Call) -> OpenAIStream | ResponsesStream:
        if call.operation == "responses":
            return ResponsesStream(self.name)
        return OpenAIStream(self.name, strip_usage=self.config.stream_usage and not wants_usage(call.body))

    # -- error --------------------------------------------------------------------------------------

    def from_error(self, status: int, headers: httpx.Headers, body: bytes) -> UpstreamError:
        return error_from_body(status, headers, body, self.name)


class OpenAIStream:
    """Passes chunks through unchanged, reading ids, finish reasons and usage on the way.

    The chunks it parsed for that are kept beside the payloads it passed on (`kept`), until the stream's
    reader takes them (`UpstreamStream.parsed`): a reader translating them parses nothing again."""

    __slots__ = ("provider", "facts", "finished", "strip_usage", "kept", "like", "tries")

    def __init__(self, provider: str, *, strip_usage: bool = False) -> None:
        self.provider = provider
        self.facts = Facts()
        self.finished = False
        self.strip_usage = strip_usage
        self.kept = Kept()
        self.like: TextChunk | None = None  # the text chunks of this stream, as learnt from one of them
        self.tries = TextChunk.TRIES

    def feed(self, event: SSEEvent) -> list[bytes]:
        return self.feed_data(event.data)  # (an event's name says nothing here)

    def feed_data(self, data: bytes) -> list[bytes]:
        if data == b"[DONE]":
            self.finished = True
            return []
        like = self.like
        if like is not None and data.startswith(like.head) and data.endswith(like.tail):
            try:
                text = orjson.loads(data[like.start:len(data) - like.end])
            except ValueError:
                text = None
            if type(text) is str:
                # the same chunk as `like` but for its text: what the checks and the facts below make of it, known
                if text:
                    self.facts.content_started = True
                    self.facts.text.append(text)
                kept = self.kept
                kept.payloads.append(data)
                kept.chunks.append(text)  # (a text chunk: kept as its text, see Kept)
                return [data]
        try:
            chunk = orjson.loads(data)
        except ValueError:
            chunk = None
        if not isinstance(chunk, dict) or not well_formed(chunk, "delta"):
            # One garbled event is not worth losing the answer for: skip it and count it.
            self.facts.malformed_events += 1
            if self.facts.malformed_events > MAX_MALFORMED:
                raise UpstreamProtocolError(f"provider {self.provider} sent unreadable events", provider=self.provider)
            return []
        if "error" in chunk:
            raise UpstreamStreamError.from_event(chunk["error"], self.provider)
        facts = self.facts
        # From the first chunk that has them: Azure's first chunk (prompt filter results) has "" for both.
        if not facts.response_id:
            facts.response_id = _str(chunk.get("id")) or None
        if not facts.response_model:
            facts.response_model = _str(chunk.get("model")) or None
        for choice in chunk.get("choices") or ():
            _read_choice(choice, facts)
        if chunk.get("usage"):
            facts.read_usage(chunk["usage"])
            if self.strip_usage and not chunk.get("choices"):
                return []  # the usage-only chunk the gateway asked for, not the client
        if self.tries and (choice := TextChunk.text_choice(chunk)) is not None:
            self.tries -= 1
            self.like = TextChunk.learn(data, chunk, choice) or self.like
        self.kept.payloads.append(data)
        self.kept.chunks.append(chunk)
        return [data]


class TextChunk:
    """What a stream's text chunks have in common, learnt from one of them: its bytes around its text.

    A chunk of one choice (index 0) whose delta is only `content`, no finish reason and no usage, say
    `{"id":"c1",...,"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}`, is `head`, the
    text as a JSON string, `tail`. Another payload that is `head` + one JSON string + `tail` is that same chunk
    with that text: JSON has no context beyond the tokens, so a string token in the place of another string
    token changes that value alone. That the place is the delta's `content` (and not a value overridden by a
    later duplicate key, say) is proven once, by parsing the chunk with a probe text there. Such a payload
    then passes every check the chunk passed and adds to the facts only its text: no parse of the whole chunk,
    no check, no facts to read (a provider's text chunks differ in their text alone, typically).
    """

    __slots__ = ("head", "tail", "whole", "choice", "start", "end")
    TRIES = 3  # chunks learnt from per stream, at most: a provider whose chunks differ in more costs no more
    PROBE = "\x00gateway probe\x00"

    def __init__(self, head: bytes, tail: bytes, whole: dict[str, Any], choice: dict[str, Any]) -> None:
        self.head, self.tail, self.whole, self.choice = head, tail, whole, choice
        self.start, self.end = len(head), len(tail)

    @staticmethod
    def text_choice(chunk: dict[str, Any]) -> dict[str, Any] | None:
        """The choice of a text chunk (a chunk that passed the checks), else None."""
        choices = chunk.get("choices")
        if chunk.get("usage") or type(choices) is not list or len(choices) != 1:
            return None
        choice: dict[str, Any] = choices[0]
        delta = choice.get("delta")
        if (choice.get("index", 0) != 0 or isinstance(choice.get("finish_reason"), str) or type(delta) is not dict
                or len(delta) != 1 or type(delta.get("content")) is not str):
            return None
        return choice

    @classmethod
    def learn(cls, payload: bytes, chunk: dict[str, Any], choice: dict[str, Any]) -> TextChunk | None:
        """The shape of `payload`, a text chunk that parsed to `chunk` (`choice` its choice), when it is found."""
        text = orjson.dumps(choice["delta"]["content"])
        at = payload.rfind(text)
        if at < 0:
            return None
        like = cls(payload[:at], payload[at + len(text):], chunk, choice)
        try:
            probed = orjson.loads(like.head + orjson.dumps(cls.PROBE) + like.tail)
        except ValueError:
            return None
        return like if probed == like.chunk(cls.PROBE) else None

    def chunk(self, text: str) -> dict[str, Any]:
        """This chunk with `text` as its text, as parsing it gives it."""
        return {**self.whole, "choices": [{**self.choice, "delta": {"content": text}}]}


class ResponsesStream:
    """A native Responses event stream, passed through as `data:` lines (the openai SDK reads the type from
    each payload), reading the facts on the way: ids, the answer's status and usage. An `error` event is an
    upstream error (before any output it fails over); the stream is whole once the response completed,
    ended incomplete or failed."""

    __slots__ = ("provider", "facts", "finished")

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.facts = Facts()
        self.finished = False

    def feed(self, event: SSEEvent) -> list[bytes]:
        if event.data == b"[DONE]":
            return []
        try:
            data = orjson.loads(event.data)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            self.facts.malformed_events += 1
            if self.facts.malformed_events > MAX_MALFORMED:
                raise UpstreamProtocolError(f"provider {self.provider} sent unreadable events", provider=self.provider)
            return []
        kind = data.get("type")
        if kind == "error" or "error" in data and not isinstance(kind, str):
            raise UpstreamStreamError.from_event(data.get("error") or data, self.provider)
        if kind in ("response.output_text.delta", "response.refusal.delta"):
            self.facts.content_started = True
        elif isinstance(kind, str) and kind.startswith("response.") and kind.endswith(".delta"):
            self.facts.content_started = self.facts.tool_calls = True  # arguments, reasoning: nothing to resume
        elif kind in ("response.created", "response.completed", "response.incomplete", "response.failed"):
            response = data.get("response")
            if isinstance(response, dict):
                facts = responses_facts(response)
                self.facts.response_id = self.facts.response_id or facts.response_id
                self.facts.response_model = self.facts.response_model or facts.response_model
                if kind != "response.created":
                    self.facts.finish_reasons = facts.finish_reasons
                    self.facts.input_tokens, self.facts.output_tokens = facts.input_tokens, facts.output_tokens
                    self.facts.cached_input_tokens = facts.cached_input_tokens
                    self.finished = True
        return [event.data]


def responses_facts(response: dict[str, Any]) -> Facts:
    """A Responses API `response` object's facts: id, model, status as a finish reason, usage."""
    facts = Facts(response_id=_str(response.get("id")), response_model=_str(response.get("model")))
    status = response.get("status")
    if status in FINISHED:
        calls = any(isinstance(i, dict) and i.get("type") == "function_call" for i in response.get("output") or ())
        facts.finish_reasons.append("tool_calls" if calls and status == "completed" else FINISHED[status])
    usage = response.get("usage")
    if isinstance(usage, dict):
        facts.read_usage({"prompt_tokens": usage.get("input_tokens"), "completion_tokens": usage.get("output_tokens"),
                          "prompt_tokens_details": usage.get("input_tokens_details"),
                          "completion_tokens_details": usage.get("output_tokens_details")})
    return facts


def well_formed(data: dict[str, Any], key: str) -> bool:
    """The shape that everything reading an answer relies on (the entrances, the cache, stream recovery):
    `choices` a list of objects, each one's `message` (`delta` in a stream) an object with string content and
    a list of tool-call objects, fields of the types the API gives them, and `usage` an object of token counts.
    An OpenAI-compatible server's answer goes on as it was sent, so a hostile or broken one is refused here,
    once, rather than crash a reader later.

    A choice is `{"index": int, "finish_reason": str}` and a message `{"role", "content", "refusal": str,
    "tool_calls": list}` where present and not null. They are checked written out, with exact types (what
    `orjson.loads` makes has no subclasses, and a bool is then no int), rather than by walking a table of
    fields: this runs on every answer and on every stream chunk that is not plain text (issue 19: 15K -> 10.5K
    instructions an answer). tests/unit/providers/test_well_formed.py holds it to the table version."""
    choices = data.get("choices")
    if choices is not None:
        if type(choices) is not list:
            return False
        for choice in choices:
            if type(choice) is not dict:
                return False
            index, reason, message = choice.get("index"), choice.get("finish_reason"), choice.get(key)
            if (index is not None and type(index) is not int or reason is not None and type(reason) is not str
                    or message is not None and not _message(message)):
                return False
    usage = data.get("usage")
    return usage is None or type(usage) is dict and _counts(usage)


def _message(message: Any) -> bool:
    if type(message) is not dict:
        return False
    for name, field in message.items():
        if field is None:
            continue
        if name == "content" or name == "role" or name == "refusal":
            if type(field) is not str:
                return False
        elif name == "tool_calls":
            if type(field) is not list:
                return False
            for call in field:
                if not _typed(call, TOOL_CALL) or call.get("function") is not None and not _typed(call["function"],
                                                                                                    FUNCTION):
                    return False
    return True


TOOL_CALL = {"index": int, "id": str, "type": str, "function": dict}
FUNCTION = {"name": str, "arguments": str}


def _typed(value: Any, fields: Mapping[str, type]) -> bool:
    """An object whose fields, where present and not null, have these types."""
    if not isinstance(value, dict):
        return False
    # (over whichever has fewer; `is True or is False` is isinstance(field, bool) without a call)
    if len(value) < len(fields):
        for name, field in value.items():
            kind = fields.get(name)
            if kind is not None and field is not None and (
                    field is True or field is False or not isinstance(field, kind)):
                return False
        return True
    for name, kind in fields.items():
        field = value.get(name)
        if field is not None and (field is True or field is False or not isinstance(field, kind)):
            return False
    return True


def _counts(usage: dict[str, Any]) -> bool:
    """Token counts are integers, and `..._details` objects of them; other keys (a cost, say) are free.
    (The names OpenAI sends are looked up in a set; only others pay for `endswith`, a costly call: issue 19.)"""
    for name, value in usage.items():
        if value is None:
            continue
        if name in _TOKEN_COUNTS or name not in _DETAILS and name.endswith("_tokens"):
            if not isinstance(value, int):
                return False
        elif (name in _DETAILS or name.endswith("_details")) and not (isinstance(value, dict) and _counts(value)):
            return False
    return True


_TOKEN_COUNTS = frozenset(("prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens", "audio_tokens",
                           "reasoning_tokens", "accepted_prediction_tokens", "rejected_prediction_tokens"))
_DETAILS = frozenset(("prompt_tokens_details", "completion_tokens_details"))


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
