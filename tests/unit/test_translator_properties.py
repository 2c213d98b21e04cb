"""Hypothesis properties of the pure translators: OpenAI <-> Anthropic (the provider and the /v1/messages
entrance), OpenAI <-> Gemini, Responses <-> chat.

Two kinds of property. What survives a round trip: the text of a conversation and of an answer, the roles, the
finish reason, the token counts. And what no input can do: make a translator raise anything but the gateway's
own errors; a client's request gets an `InvalidRequestError` (400, `UnsupportedFeatureError` included), an
upstream's answer an `UpstreamError` (502). Anything else would reach the client as a 500.

Inputs are JSON values as `orjson.loads` gives them (64-bit integers, finite floats): arbitrary ones, and ones
shaped like the API with every field free to be of the wrong type."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from gateway.config import ProviderConfig
from gateway.entrances.messages import EventState, to_anthropic_message, to_openai_chat
from gateway.entrances.responses import ResponseEvents, output_messages, to_chat, to_response
from gateway.errors import InvalidRequestError, UpstreamError
from gateway.providers.base import Call, HttpProvider, build_provider
from gateway.sse import SSEEvent

SETTINGS = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
# Answers from upstreams: no shrinking (the generated answers are small already)
UPSTREAM = settings(SETTINGS, phases=[Phase.explicit, Phase.generate])
KINDS = ["anthropic", "gemini", "openai", "azure"]

scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)
words = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=30)


def loose(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """An object with some of these fields, each either its plausible value or any JSON value at all."""
    return st.fixed_dictionaries({}, optional={k: v | json_values for k, v in fields.items()})


# -- OpenAI chat requests, plausible and otherwise ----------------------------------------------------

content_parts = st.lists(loose(type=st.sampled_from(["text", "image_url", "input_audio", "file"]), text=words,
                               image_url=loose(url=st.sampled_from(["https://x/a.png", "data:image/png;base64,AAAA",
                                                                    "data:,x"]))), max_size=3)
tool_calls = st.lists(loose(id=st.text(max_size=12), type=st.just("function"),
                            function=loose(name=words, arguments=st.sampled_from(['{"a": 1}', "{}", "[1]", "nope"]))),
                      max_size=2)
openai_messages = st.lists(loose(role=st.sampled_from(["system", "developer", "user", "assistant", "tool", "x"]),
                                 content=words | content_parts | st.none(), tool_calls=tool_calls,
                                 tool_call_id=st.text(max_size=8), name=words), min_size=1, max_size=4)
openai_tools = st.lists(loose(type=st.just("function"), function=loose(name=words, description=words,
                                                                       parameters=st.just({"type": "object"}))),
                        max_size=2)
openai_chat = st.fixed_dictionaries({"model": st.just("m"), "messages": openai_messages}, optional={
    "tools": openai_tools | json_values, "tool_choice": st.sampled_from(["auto", "none", "required"]) | json_values,
    "response_format": json_values | st.just({"type": "json_schema", "json_schema": {"name": "o", "schema": {}}}),
    "temperature": json_values, "top_p": json_values, "max_tokens": json_values, "stop": json_values,
    "stream_options": json_values, "user": json_values, "n": json_values, "seed": json_values,
    "max_completion_tokens": json_values, "reasoning_effort": json_values, "top_k": json_values,
})


PROVIDERS: dict[str, HttpProvider] = {}  # one of each type: translation is pure, the connection pool unused


def provider(kind: str) -> HttpProvider:
    if kind not in PROVIDERS:
        PROVIDERS[kind] = build_provider(ProviderConfig(name=kind, type=kind, base_url="http://127.0.0.1:9",  # type: ignore[arg-type]
                                                        api_key="k"))
    return PROVIDERS[kind]


@pytest.mark.parametrize("kind", KINDS)
@SETTINGS
@given(body=openai_chat | st.dictionaries(st.text(max_size=10), json_values), stream=st.booleans())
def test_a_chat_request_becomes_an_upstream_request_or_a_400(kind: str, body: dict[str, Any], stream: bool) -> None:
    try:
        request = provider(kind).to_request(Call("chat", body, stream), "model-1")
    except InvalidRequestError:
        return
    assert orjson.loads(request.content)  # JSON that the upstream can read


# -- upstream answers, plausible and otherwise --------------------------------------------------------

anthropic_answer = loose(id=st.text(max_size=8), type=st.just("message"), model=words, stop_reason=st.sampled_from(
    ["end_turn", "max_tokens", "tool_use", "stop_sequence", "refusal"]), content=st.lists(loose(
        type=st.sampled_from(["text", "tool_use", "thinking"]), text=words, id=st.text(max_size=8), name=words,
        input=st.dictionaries(st.text(max_size=5), scalars, max_size=2)), max_size=3),
    usage=loose(input_tokens=st.integers(0, 10**6), output_tokens=st.integers(0, 10**6)))
gemini_answer = loose(responseId=st.text(max_size=8), modelVersion=words, candidates=st.lists(loose(
    finishReason=st.sampled_from(["STOP", "MAX_TOKENS", "SAFETY", "OTHER"]), index=st.integers(0, 2),
    content=loose(role=st.just("model"), parts=st.lists(loose(text=words, thought=st.booleans(), functionCall=loose(
        name=words, args=st.dictionaries(st.text(max_size=5), scalars, max_size=2))), max_size=3))), max_size=2),
    usageMetadata=loose(promptTokenCount=st.integers(0, 10**6), candidatesTokenCount=st.integers(0, 10**6)))
chat_answer = loose(id=st.text(max_size=8), object=st.just("chat.completion"), model=words, choices=st.lists(loose(
    index=st.integers(0, 2), finish_reason=st.sampled_from(["stop", "length", "tool_calls", "content_filter"]),
    message=loose(role=st.just("assistant"), content=words | st.none(), refusal=words, tool_calls=tool_calls)),
    max_size=2), usage=loose(prompt_tokens=st.integers(0, 10**6), completion_tokens=st.integers(0, 10**6)))
ANSWERS = {"anthropic": anthropic_answer, "gemini": gemini_answer, "openai": chat_answer, "azure": chat_answer}


@pytest.mark.parametrize("kind", KINDS)
@UPSTREAM
@given(data=st.data())
def test_an_upstream_answer_becomes_a_chat_completion_or_a_502(kind: str, data: st.DataObject) -> None:
    answer = data.draw(ANSWERS[kind] | json_values)
    call = Call("chat", data.draw(openai_chat))
    try:
        provider(kind).to_request(call, "model-1")  # the request the answer is to: one the gateway sent
    except InvalidRequestError:
        return
    try:
        reply = provider(kind).from_response(call, orjson.dumps(answer))
    except UpstreamError:
        return
    assert isinstance(orjson.loads(reply.body), dict)


anthropic_events = st.lists(loose(type=st.sampled_from(["message_start", "content_block_start", "content_block_delta",
                                                        "content_block_stop", "message_delta", "message_stop", "ping",
                                                        "error"]),
                                  index=st.integers(0, 3), message=anthropic_answer, content_block=loose(
                                      type=st.sampled_from(["text", "tool_use"]), id=words, name=words),
                                  delta=loose(type=st.sampled_from(["text_delta", "input_json_delta"]), text=words,
                                              partial_json=words, stop_reason=st.just("end_turn")),
                                  usage=loose(output_tokens=st.integers(0, 100))), max_size=8)
EVENTS = {"anthropic": anthropic_events, "gemini": st.lists(gemini_answer, max_size=6),
          "openai": st.lists(chat_answer, max_size=6), "azure": st.lists(chat_answer, max_size=6)}


@pytest.mark.parametrize("kind", KINDS)
@UPSTREAM
@given(data=st.data())
def test_upstream_stream_events_become_chunks_or_a_502(kind: str, data: st.DataObject) -> None:
    events = data.draw(EVENTS[kind] | st.lists(json_values, max_size=6))
    call = Call("chat", data.draw(openai_chat), True)
    try:
        provider(kind).to_request(call, "model-1")
    except InvalidRequestError:
        return
    translator = provider(kind).stream_translator(call)
    for event in events:
        try:
            chunks = translator.feed(SSEEvent(orjson.dumps(event)))
        except UpstreamError:
            return
        assert all(isinstance(orjson.loads(chunk), dict) for chunk in chunks)


# -- round trips ----------------------------------------------------------------------------------------

conversation = st.lists(st.tuples(st.sampled_from(["user", "assistant"]), words), min_size=1, max_size=6).map(
    lambda turns: [{"role": role, "content": text} for role, text in turns if role == "user" or text.strip()]
).filter(lambda turns: bool(turns) and turns[0]["role"] == "user")


def merged(turns: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """Consecutive turns of one role, as Anthropic and Gemini want them joined."""
    out: list[tuple[str, list[str]]] = []
    for turn in turns:
        if out and out[-1][0] == turn["role"]:
            out[-1][1].append(turn["content"])
        else:
            out.append((turn["role"], [turn["content"]]))
    return out


@SETTINGS
@given(turns=conversation, system=st.none() | words)
def test_a_conversation_survives_openai_to_anthropic_and_back(turns: list[dict[str, Any]], system: str | None) -> None:
    """OpenAI chat -> Anthropic Messages (the anthropic provider) -> OpenAI chat (the /v1/messages entrance)."""
    messages = ([{"role": "system", "content": system}] if system else []) + turns
    anthropic = orjson.loads(provider("anthropic").to_request(Call("chat", {"model": "m", "messages": messages}),
                                                              "claude").content)
    back = to_openai_chat({**anthropic, "model": "m"})
    got = [m for m in back["messages"] if m["role"] != "system"]
    expected = merged(turns)
    if expected[-1][0] == "assistant":  # a prefill may not end in whitespace: the provider strips it
        expected[-1][1][-1] = expected[-1][1][-1].rstrip()
    assert [(m["role"], m["content"]) for m in got] == [(role, "".join(texts)) for role, texts in expected] or \
        [(m["role"], m["content"]) for m in got] == [(role, "\n\n".join(texts)) for role, texts in expected] or \
        "".join(_text(m["content"]) for m in got) == "".join("".join(t) for _, t in expected)
    if system:
        assert back["messages"][0] == {"role": "system", "content": system}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content or () if isinstance(part, dict))


@SETTINGS
@given(text=words, reason=st.sampled_from(["end_turn", "max_tokens", "tool_use"]),
       tokens=st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)))
def test_an_answer_survives_anthropic_to_openai_and_back(text: str, reason: str, tokens: tuple[int, int]) -> None:
    """Anthropic message -> OpenAI chat.completion (the provider) -> Anthropic message (the entrance)."""
    content: list[dict[str, Any]] = [{"type": "text", "text": text}]
    if reason == "tool_use":
        content.append({"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": [1, "x"]}})
    answer = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "content": content,
              "stop_reason": reason, "usage": {"input_tokens": tokens[0], "output_tokens": tokens[1]}}
    chat = orjson.loads(provider("anthropic").from_response(Call("chat", {"model": "m", "messages": []}),
                                                            orjson.dumps(answer)).body)
    back = to_anthropic_message(chat)
    assert back["content"] == content and back["stop_reason"] == reason
    assert (back["usage"]["input_tokens"], back["usage"]["output_tokens"]) == tokens


@SETTINGS
@given(turns=conversation, system=st.none() | words)
def test_a_conversation_keeps_its_text_and_roles_in_gemini(turns: list[dict[str, Any]], system: str | None) -> None:
    messages = ([{"role": "system", "content": system}] if system else []) + turns
    gemini = orjson.loads(provider("gemini").to_request(Call("chat", {"model": "m", "messages": messages}),
                                                        "gemini-x").content)
    said = [(c["role"], "".join(p.get("text", "") for p in c["parts"])) for c in gemini["contents"]]
    expected = [("model" if role == "assistant" else "user", "".join(texts)) for role, texts in merged(turns)]
    assert "".join(t for _, t in said) == "".join(t for _, t in expected)
    assert [r for r, _ in said] == [r for r, _ in expected] or len(said) == len(turns)
    if system:
        assert "".join(p["text"] for p in gemini["systemInstruction"]["parts"]) == system


@SETTINGS
@given(text=words, reason=st.sampled_from(["STOP", "MAX_TOKENS"]),
       tokens=st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)))
def test_a_gemini_answer_keeps_its_text_reason_and_usage(text: str, reason: str, tokens: tuple[int, int]) -> None:
    answer = {"responseId": "r", "modelVersion": "g", "candidates": [{"index": 0, "finishReason": reason,
              "content": {"role": "model", "parts": [{"text": text}]}}],
              "usageMetadata": {"promptTokenCount": tokens[0], "candidatesTokenCount": tokens[1]}}
    chat = orjson.loads(provider("gemini").from_response(Call("chat", {"model": "m", "messages": []}),
                                                         orjson.dumps(answer)).body)
    choice = chat["choices"][0]
    assert choice["message"]["content"] == text
    assert choice["finish_reason"] == {"STOP": "stop", "MAX_TOKENS": "length"}[reason]
    assert (chat["usage"]["prompt_tokens"], chat["usage"]["completion_tokens"]) == tokens


# -- the entrances: /v1/messages and /v1/responses ------------------------------------------------------

anthropic_request = st.fixed_dictionaries({"model": st.just("m"), "max_tokens": st.integers(1, 10) | json_values,
                                           "messages": st.lists(loose(
                                               role=st.sampled_from(["user", "assistant", "system"]),
                                               content=words | st.lists(loose(
                                                   type=st.sampled_from(["text", "image", "tool_use", "tool_result",
                                                                         "document", "thinking"]),
                                                   text=words, id=words, name=words, input=json_values,
                                                   tool_use_id=words, content=words | json_values,
                                                   source=loose(type=st.sampled_from(["base64", "url"]), url=words,
                                                                media_type=words, data=words)), max_size=3)),
                                               min_size=1, max_size=4)},
                                          optional={"system": words | json_values, "tools": json_values,
                                                    "tool_choice": json_values, "stop_sequences": json_values,
                                                    "stream": st.booleans() | json_values, "metadata": json_values,
                                                    "thinking": json_values, "output_config": json_values,
                                                    "temperature": json_values, "top_k": json_values})


@SETTINGS
@given(body=anthropic_request | st.dictionaries(st.text(max_size=10), json_values))
def test_a_messages_request_becomes_chat_or_a_400(body: dict[str, Any]) -> None:
    try:
        chat = to_openai_chat(body)
    except InvalidRequestError:
        return
    orjson.dumps(chat)


def upstream_answer(answer: Any) -> dict[str, Any] | None:
    """What reaches an entrance from an OpenAI-compatible upstream's answer: the answer as it was sent, once the
    provider took it (None: the provider refused it with a 502)."""
    try:
        return dict(orjson.loads(provider("openai").from_response(Call("chat", {}), orjson.dumps(answer)).body))
    except UpstreamError:
        return None


def upstream_chunks(chunks: list[Any]) -> list[bytes]:
    """The chunk payloads an OpenAI-compatible upstream's stream events become (up to a 502)."""
    stream = provider("openai").stream_translator(Call("chat", {}, True))
    out: list[bytes] = []
    try:
        for chunk in chunks:
            out += stream.feed(SSEEvent(orjson.dumps(chunk)))
    except UpstreamError:
        pass
    return out


def as_chunk(answer: dict[str, Any]) -> dict[str, Any]:
    choices = answer.get("choices")
    if isinstance(choices, list):
        choices = [{**{k: v for k, v in c.items() if k != "message"}, "delta": c.get("message")}
                   if isinstance(c, dict) else c for c in choices]
    return {**answer, "object": "chat.completion.chunk", "choices": choices}


chat_chunks = st.lists(chat_answer.map(as_chunk) | json_values, max_size=6)


@SETTINGS
@given(answer=chat_answer | st.dictionaries(st.text(max_size=10), json_values))
def test_any_chat_answer_becomes_an_anthropic_message(answer: dict[str, Any]) -> None:
    if (taken := upstream_answer(answer)) is not None:
        orjson.dumps(to_anthropic_message(taken))


@SETTINGS
@given(chunks=chat_chunks)
def test_any_chat_chunks_become_anthropic_events(chunks: list[Any]) -> None:
    state = EventState()
    for chunk in upstream_chunks(chunks):
        state.feed(chunk)
    state.feed(b"[DONE]")


responses_request = st.fixed_dictionaries({"model": st.just("m"), "input": words | st.lists(loose(
    type=st.sampled_from(["message", "function_call", "function_call_output", "reasoning", "item_reference"]),
    role=st.sampled_from(["user", "assistant", "system", "developer", "tool"]),
    content=words | st.lists(loose(type=st.sampled_from(["input_text", "output_text", "input_image", "input_file"]),
                                   text=words, image_url=words, detail=words), max_size=2),
    call_id=words, name=words, arguments=words, output=words | json_values), max_size=4)}, optional={
    "instructions": words | json_values, "tools": st.lists(loose(type=st.sampled_from(["function", "web_search"]),
                                                                 name=words, parameters=json_values), max_size=2),
    "tool_choice": json_values, "text": loose(format=loose(type=st.sampled_from(["json_schema", "text"]),
                                                           name=words, schema=json_values)),
    "reasoning": json_values, "include": json_values, "max_output_tokens": json_values, "store": json_values,
    "stream": json_values, "truncation": json_values, "metadata": json_values})


@SETTINGS
@given(body=responses_request | st.dictionaries(st.text(max_size=10), json_values))
def test_a_responses_request_becomes_chat_or_a_400(body: dict[str, Any]) -> None:
    try:
        chat = to_chat(body)
    except InvalidRequestError:
        return
    orjson.dumps(chat)


@SETTINGS
@given(turns=conversation, instructions=st.none() | words)
def test_a_responses_conversation_survives_to_chat(turns: list[dict[str, Any]], instructions: str | None) -> None:
    items = [{"type": "message", "role": t["role"],
              "content": [{"type": "input_text" if t["role"] == "user" else "output_text", "text": t["content"]}]}
             for t in turns]
    body: dict[str, Any] = {"model": "m", "input": items}
    if instructions:
        body["instructions"] = instructions
    chat = to_chat(body)
    said = [m for m in chat["messages"] if m["role"] not in ("system", "developer")]
    assert [(m["role"], _text(m["content"])) for m in said] == [(t["role"], t["content"]) for t in turns]
    if instructions:
        assert _text(chat["messages"][0]["content"]) == instructions


@SETTINGS
@given(text=words, reason=st.sampled_from(["stop", "length"]),
       tokens=st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)))
def test_a_chat_answer_survives_to_a_response_and_back(text: str, reason: str, tokens: tuple[int, int]) -> None:
    completion = {"id": "c", "object": "chat.completion", "model": "m", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": reason}],
        "usage": {"prompt_tokens": tokens[0], "completion_tokens": tokens[1]}}
    response = to_response(completion, {"model": "m", "input": "hi"}, "resp_1", 1)
    assert response["status"] == ("completed" if reason == "stop" else "incomplete")
    assert (response["usage"]["input_tokens"], response["usage"]["output_tokens"]) == tokens
    [message] = output_messages(response)
    assert message["role"] == "assistant" and _text(message["content"]) == text


@SETTINGS
@given(answer=chat_answer | st.dictionaries(st.text(max_size=10), json_values))
def test_any_chat_answer_becomes_a_response(answer: dict[str, Any]) -> None:
    if (taken := upstream_answer(answer)) is not None:
        orjson.dumps(to_response(taken, {"model": "m", "input": "hi"}, "resp_1", 1))


@SETTINGS
@given(chunks=chat_chunks)
def test_any_chat_chunks_become_response_events(chunks: list[Any]) -> None:
    events = ResponseEvents({"model": "m", "input": "hi"}, "resp_1", 1)
    events.start()
    for chunk in upstream_chunks(chunks):
        events.feed(orjson.loads(chunk))
    events.finish()


def test_errors_from_upstreams_are_upstream_errors() -> None:
    """(Keeps httpx imported for the error translators' headers argument.)"""
    for kind in ("anthropic", "gemini", "openai", "azure"):
        error = provider(kind).from_error(500, httpx.Headers(), b"\xff not json")
        assert isinstance(error, UpstreamError)
