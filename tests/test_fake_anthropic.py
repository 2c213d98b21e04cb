"""The fake Anthropic server, checked with the official anthropic SDK: if the SDK parses its answers,
events and errors, the fake speaks the real wire format (and the gateway's tests against it mean something)."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest

from tests.fakes.anthropic import Cut, Fail, FakeAnthropic, StreamError
from tests.support import run_server

KEY = "sk-ant-test"


@pytest.fixture(scope="module")
def fake_server() -> Iterator[tuple[FakeAnthropic, anthropic.Anthropic]]:
    fake = FakeAnthropic(api_key=KEY)
    with run_server(fake.app) as server:
        yield fake, anthropic.Anthropic(base_url=server.url, api_key=KEY, max_retries=0)


def test_message_and_what_was_received(fake_server: tuple[FakeAnthropic, anthropic.Anthropic]) -> None:
    fake, sdk = fake_server
    message = sdk.messages.create(model="claude-x", max_tokens=3, messages=[{"role": "user", "content": "hi"}])
    assert message.content[0].text == "Hello from the"  # type: ignore[union-attr]
    assert message.stop_reason == "max_tokens" and message.usage.input_tokens == 1
    assert KEY in (fake.last.headers.get("x-api-key"), fake.last.headers.get("authorization", "")[7:])
    assert fake.last.json["max_tokens"] == 3


def test_stream_and_tools(fake_server: tuple[FakeAnthropic, anthropic.Anthropic]) -> None:
    fake, sdk = fake_server
    tool = {"name": "weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
    with sdk.messages.stream(model="c", max_tokens=50, messages=[{"role": "user", "content": "hi"}],
                             tools=[tool]) as stream:  # type: ignore[list-item]
        final = stream.get_final_message()
    assert final.content[0].type == "tool_use" and final.content[0].input == {"city": "Paris"}
    with sdk.messages.stream(model="c", max_tokens=50, messages=[{"role": "user", "content": "hi"}]) as stream:
        assert "".join(stream.text_stream) == "Hello from the fake Anthropic."


def test_scripted_failures(fake_server: tuple[FakeAnthropic, anthropic.Anthropic]) -> None:
    fake, sdk = fake_server
    fake.enqueue(Fail(529, "overloaded_error", "Overloaded", retry_after=2))
    with pytest.raises(anthropic.APIStatusError) as caught:
        sdk.messages.create(model="c", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 529 and caught.value.response.headers["retry-after"] == "2"
    fake.enqueue(StreamError(after=1))
    with pytest.raises(anthropic.APIStatusError, match="Overloaded"):
        list(sdk.messages.create(model="c", max_tokens=5, messages=[{"role": "user", "content": "hi"}], stream=True))
    fake.enqueue(Cut(after=1))
    with pytest.raises(Exception, match="closed connection|incomplete"):  # the SDK's own httpx build raises it
        list(sdk.messages.create(model="c", max_tokens=5, messages=[{"role": "user", "content": "hi"}], stream=True))
    with pytest.raises(anthropic.BadRequestError, match="alternate"):
        sdk.messages.create(model="c", max_tokens=5, messages=[{"role": "user", "content": "a"},
                                                               {"role": "user", "content": "b"}])
