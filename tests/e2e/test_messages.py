"""The anthropic SDK against the gateway's `POST /v1/messages`, routed to a fake OpenAI upstream and to a
fake Anthropic one: non-stream and stream, tools, errors in Anthropic's shape, the cache."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import anthropic
import httpx
import pytest

from gateway.app import create_app
from gateway.config import parse_config
from tests.fakes import anthropic as fake_anthropic
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai_compat import Fail, FakeOpenAI
from tests.support import RunningServer, run_server

USER: Any = [{"role": "user", "content": "hi"}]
WEATHER: Any = {"name": "weather", "description": "Weather in a city",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
REPLIES = {"gpt": "Hello from the fake upstream.", "claude": "Hello from the fake Anthropic."}


class Setup:
    def __init__(self, stack: ExitStack) -> None:
        self.openai, self.anthropic = FakeOpenAI(), FakeAnthropic()
        up_openai = stack.enter_context(run_server(self.openai.app))
        up_anthropic = stack.enter_context(run_server(self.anthropic.app))
        text = f"""
[cache]
backend = "memory"
[[providers]]
name = "oa"
type = "openai"
base_url = "{up_openai.url}/v1"
api_key = "sk-oa"
[[providers]]
name = "an"
type = "anthropic"
base_url = "{up_anthropic.url}"
api_key = "sk-an"
[[routes]]
model = "gpt"
  [[routes.targets]]
  provider = "oa"
  model = "gpt-upstream"
[[routes]]
model = "claude"
  [[routes.targets]]
  provider = "an"
  model = "claude-upstream"
"""
        self.gateway: RunningServer = stack.enter_context(run_server(create_app(parse_config(text))))
        self.client = anthropic.Anthropic(base_url=self.gateway.url, api_key="k", max_retries=0,
                                          default_headers={"cache-control": "no-store"})


@pytest.fixture(scope="module")
def s() -> Iterator[Setup]:
    with ExitStack() as stack:
        yield Setup(stack)


@pytest.mark.parametrize("model", ["gpt", "claude"])
def test_message(s: Setup, model: str) -> None:
    message = s.client.messages.create(model=model, max_tokens=100, system="Be brief.", messages=USER,
                                       stop_sequences=["zzz"], extra_body={"temperature": 0.3})
    assert message.type == "message" and message.role == "assistant"
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == REPLIES[model]  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn" and message.usage.output_tokens == 5
    assert message.model == f"{model}-upstream"


def test_request_reaches_openai_upstream_translated(s: Setup) -> None:
    s.client.messages.create(model="gpt", max_tokens=7, system="Be brief.", messages=USER, extra_body={"top_p": 0.5},
                             stop_sequences=["zzz"], metadata={"user_id": "u1"})
    sent = s.openai.last.json
    assert sent["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    assert (sent["max_tokens"], sent["top_p"], sent["stop"], sent["user"]) == (7, 0.5, ["zzz"], "u1")


@pytest.mark.parametrize("model", ["gpt", "claude"])
def test_top_k_goes_to_anthropic_and_never_to_an_openai_server(s: Setup, model: str) -> None:
    """`top_k` is not an OpenAI parameter: the OpenAI server is not sent it (issue 20, item 12)."""
    s.client.messages.create(model=model, max_tokens=7, messages=USER, extra_body={"top_k": 5, "top_p": 0.5})
    fake = s.openai if model == "gpt" else s.anthropic
    assert ("top_k" in fake.last.json) is (model == "claude") and fake.last.json["top_p"] == 0.5


@pytest.mark.parametrize("model", ["gpt", "claude"])
def test_stream(s: Setup, model: str) -> None:
    with s.client.messages.stream(model=model, max_tokens=100, messages=USER) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == REPLIES[model]
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 5
    assert final.content[0].text == REPLIES[model]  # type: ignore[union-attr]


def test_stream_event_sequence(s: Setup) -> None:
    events = list(s.client.messages.create(model="gpt", max_tokens=100, messages=USER, stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert kinds.count("content_block_start") == kinds.count("content_block_stop") == 1


@pytest.mark.parametrize("model", ["gpt", "claude"])
def test_tool_use_and_result(s: Setup, model: str) -> None:
    message = s.client.messages.create(model=model, max_tokens=100, messages=USER, tools=[WEATHER],
                                       tool_choice={"type": "any"})
    [block] = [b for b in message.content if b.type == "tool_use"]
    assert block.name == "weather" and block.input == {"city": "Paris"} and message.stop_reason == "tool_use"
    history: Any = [*USER, {"role": "assistant", "content": [b.model_dump() for b in message.content]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "sunny"}]}]
    answer = s.client.messages.create(model=model, max_tokens=100, messages=history, tools=[WEATHER])
    assert answer.content[0].text == REPLIES[model]  # type: ignore[union-attr]


@pytest.mark.parametrize("model", ["gpt", "claude"])
def test_tool_use_stream(s: Setup, model: str) -> None:
    with s.client.messages.stream(model=model, max_tokens=100, messages=USER, tools=[WEATHER],
                                  tool_choice={"type": "tool", "name": "weather"}) as stream:
        final = stream.get_final_message()
    [block] = final.content
    assert block.type == "tool_use" and block.name == "weather" and block.input == {"city": "Paris"}
    assert final.stop_reason == "tool_use"


def test_image_reaches_openai_as_data_url(s: Setup) -> None:
    content: Any = [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
                    {"type": "text", "text": "what?"}]
    s.client.messages.create(model="gpt", max_tokens=10, messages=[{"role": "user", "content": content}])
    assert s.openai.last.json["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}}, {"type": "text", "text": "what?"}]


def test_errors_in_anthropic_shape(s: Setup) -> None:
    with pytest.raises(anthropic.NotFoundError) as not_found:
        s.client.messages.create(model="nope", max_tokens=10, messages=USER)
    assert not_found.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    response = httpx.post(s.gateway.url + "/v1/messages", json={"model": "gpt", "messages": USER}, timeout=5)
    assert response.status_code == 400
    assert response.json() == {"type": "error", "error": {"type": "invalid_request_error",
                                                          "message": "max_tokens: Field required"}}
    s.anthropic.enqueue(*[fake_anthropic.Fail(529, "overloaded_error", "Overloaded")] * 2)  # the try and its retry
    with pytest.raises(anthropic.APIStatusError) as overloaded:
        s.client.messages.create(model="claude", max_tokens=10, messages=USER)
    assert overloaded.value.status_code == 529
    assert overloaded.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    s.openai.enqueue(Fail(401))
    with pytest.raises(anthropic.AuthenticationError):
        s.client.messages.create(model="gpt", max_tokens=10, messages=USER)


def test_cache_serves_identical_messages(s: Setup) -> None:
    cached = anthropic.Anthropic(base_url=s.gateway.url, api_key="k", max_retries=0)
    body: Any = {"model": "gpt", "max_tokens": 50, "messages": [{"role": "user", "content": "cache me"}]}
    first = cached.messages.with_raw_response.create(**body)
    second = cached.messages.with_raw_response.create(**body)
    assert (first.headers["x-gateway-cache"], second.headers["x-gateway-cache"]) == ("miss", "hit")
    assert second.parse().content == first.parse().content
    with cached.messages.stream(**body) as stream:  # a streamed hit replays as Anthropic events
        assert "".join(stream.text_stream) == REPLIES["gpt"]
    assert stream.response.headers["x-gateway-cache"] == "hit"


def test_stream_cut_ends_with_an_error_event(s: Setup) -> None:
    s.anthropic.enqueue(fake_anthropic.StreamError(after=2, error_type="invalid_request_error", message="bad"))
    with pytest.raises(anthropic.APIStatusError, match="bad"):
        with s.client.messages.stream(model="claude", max_tokens=100, messages=USER) as stream:
            assert "".join(stream.text_stream) == "never complete"
    with httpx.stream("POST", s.gateway.url + "/v1/messages", timeout=5, headers={"cache-control": "no-store"},
                      json={"model": "gpt", "max_tokens": 5, "stream": True, "messages": USER}) as response:
        body = response.read()
    assert response.headers["content-type"].startswith("text/event-stream")
    assert body.startswith(b"event: message_start\ndata: ")
    assert body.endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    assert b"[DONE]" not in body and b"chat.completion" not in body
