"""Content capture: off by default; on, the GenAI message attributes (JSON strings in the conventions'
shape), capped, through a redaction hook users point at their own function."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.openai_compat import FakeOpenAI
from tests.fakes.otlp import FakeCollector, Span
from tests.support import RunningServer
from tests.telemetry.conftest import TelemetryGatewayFactory, flush

SYSTEM = {"role": "system", "content": "You are terse."}
USER = {"role": "user", "content": "Mail bob@example.com about the weather in Paris"}
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}}]
TOOL_CALL = {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
EMAIL = re.compile(r"[\w.]+@[\w.]+")


def redact_emails(attribute: str, value: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The hook under test (it runs when the spans are filled in): emails out, in inputs and outputs alike."""
    return json.loads(EMAIL.sub("<email>", json.dumps(value)))


def drop_outputs(attribute: str, value: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    return None if attribute == "gen_ai.output.messages" else value


def broken(attribute: str, value: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    raise RuntimeError("bug in the user's hook")


def spans(server: RunningServer, collector: FakeCollector, count: int = 1) -> tuple[Span, Span]:
    deadline = time.monotonic() + 5
    while len(collector.spans("SERVER")) < count and time.monotonic() < deadline:
        time.sleep(0.02)
        flush(server)
    flush(server)
    return collector.spans("SERVER")[-1], collector.spans("CLIENT")[-1]


def messages(span: Span, name: str) -> Any:
    return json.loads(span.attributes[name])


def sdk(server: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0)


def test_content_is_captured_in_the_conventions_shape(
    start_traced: TelemetryGatewayFactory, collector: FakeCollector, fake: FakeOpenAI
) -> None:
    gateway = start_traced(telemetry="capture_content = true")
    sdk(gateway).chat.completions.create(model="gpt-test", messages=[SYSTEM, USER], tools=TOOLS)
    server, client = spans(gateway, collector)
    # The system message is part of the history: it stays there, in its place (no gen_ai.system_instructions)
    assert "gen_ai.system_instructions" not in client.attributes
    assert messages(client, "gen_ai.input.messages") == [
        {"role": "system", "parts": [{"type": "text", "content": "You are terse."}]},
        {"role": "user", "parts": [{"type": "text", "content": USER["content"]}]}]
    [tool] = messages(client, "gen_ai.tool.definitions")  # the conventions' flat shape, not OpenAI's nested one
    assert tool == {"type": "function", "name": "get_weather", **{k: v for k, v in TOOLS[0]["function"].items()
                                                                    if k != "name"}}
    [output] = messages(client, "gen_ai.output.messages")
    assert output["role"] == "assistant" and output["finish_reason"] == "tool_calls"
    [call] = output["parts"]
    assert call["type"] == "tool_call" and call["name"] == "get_weather" and call["arguments"] == {"city": "Paris"}
    assert call["id"].startswith("call_fake_")
    # The SERVER span carries none: with it, Phoenix would take it for one more LLM call.
    assert not [name for name in server.attributes if name.startswith("gen_ai.") and name != "gen_ai.request.stream"]

    list(sdk(gateway).chat.completions.create(
        model="gpt-test", stream=True,
        messages=[USER, {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
                  {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]))
    _, streamed = spans(gateway, collector, 2)
    inputs = messages(streamed, "gen_ai.input.messages")
    assert inputs[1]["parts"] == [{"type": "tool_call", "id": "call_1", "name": "get_weather",
                                   "arguments": {"city": "Paris"}}]
    assert inputs[2] == {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1",
                                                     "response": "sunny"}]}
    assert messages(streamed, "gen_ai.output.messages") == [{
        "role": "assistant", "parts": [{"type": "text", "content": fake.reply}], "finish_reason": "stop"}]


def test_content_is_capped_and_redacted_by_the_hook(
    start_traced: TelemetryGatewayFactory, collector: FakeCollector, fake: FakeOpenAI
) -> None:
    fake.reply = "Sure, I wrote to alice@example.org just now, and to many other people as well."
    gateway = start_traced(telemetry='capture_content = true\ncontent_max_chars = 40\n'
                                     'redact = "tests.telemetry.test_content:redact_emails"')
    sdk(gateway).completions.create(model="gpt-test", prompt="x" * 100)
    sdk(gateway).chat.completions.create(model="gpt-test", messages=[USER])
    _, client = spans(gateway, collector, 2)
    [user] = messages(client, "gen_ai.input.messages")
    assert user["parts"][0]["content"] == "Mail <email> about the weather in Paris"
    [output] = messages(client, "gen_ai.output.messages")
    text = output["parts"][0]["content"]
    assert "alice" not in text and text.startswith("Sure, I wrote to <email> just now")
    assert text.endswith("...[truncated]") and len(text) == 40 + len("...[truncated]")
    completion = collector.spans("CLIENT")[0]
    assert messages(completion, "gen_ai.input.messages")[0]["parts"][0]["content"] == "x" * 40 + "...[truncated]"


def test_a_hook_can_drop_a_value_and_a_failing_hook_records_nothing(
    start_traced: TelemetryGatewayFactory, collector: FakeCollector, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = start_traced(telemetry='capture_content = true\nredact = "tests.telemetry.test_content:drop_outputs"')
    sdk(gateway).chat.completions.create(model="gpt-test", messages=[USER])
    _, client = spans(gateway, collector)
    assert "gen_ai.input.messages" in client.attributes and "gen_ai.output.messages" not in client.attributes

    collector.reset()
    gateway = start_traced(telemetry='capture_content = true\nredact = "tests.telemetry.test_content:broken"')
    for _ in range(3):
        sdk(gateway).chat.completions.create(model="gpt-test", messages=[USER])
    flush(gateway)
    assert not any("gen_ai.input.messages" in s.attributes for s in collector.spans())  # fails closed
    assert len([r for r in caplog.records if "redact hook raised RuntimeError" in r.getMessage()]) == 1


@pytest.mark.parametrize(("configured", "env", "captured"), [
    (True, "false", False), (True, "NO_CONTENT", False), (False, "true", True), (False, "SPAN_ONLY", True),
    (False, "SPAN_AND_EVENT", True), (True, "", True),
])
def test_the_contrib_environment_variable_overrides_the_config(
    start_traced: TelemetryGatewayFactory, collector: FakeCollector, monkeypatch: pytest.MonkeyPatch,
    configured: bool, env: str, captured: bool,
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", env)
    gateway = start_traced(telemetry=f"capture_content = {str(configured).lower()}")
    sdk(gateway).chat.completions.create(model="gpt-test", messages=[USER])
    _, client = spans(gateway, collector)
    assert ("gen_ai.input.messages" in client.attributes) is captured


def test_a_cut_stream_records_what_was_sent_with_finish_reason_error(
    start_traced: TelemetryGatewayFactory, collector: FakeCollector, fake: FakeOpenAI
) -> None:
    from tests.fakes.openai_compat import SlowTokens

    fake.reply = " ".join(["word"] * 200)
    fake.enqueue(SlowTokens(0.02))
    gateway = start_traced(telemetry="capture_content = true")
    body = {"model": "gpt-test", "messages": [USER], "stream": True}
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", json=body) as r:
        lines = r.iter_lines()
        for _ in range(8):
            next(lines)
    assert fake.wait_for_disconnects(1, timeout=5)
    server, client = spans(gateway, collector)
    [output] = messages(client, "gen_ai.output.messages")
    assert output["finish_reason"] == "error" and output["parts"][0]["content"].startswith("word word")
    assert client.attributes["error.type"] == "client_disconnected"
