"""The mock provider behind a real gateway, driven by real clients: the OpenAI Agents SDK's tool loop ends,
and the openai SDK gets structured outputs, n choices and OpenAI's 400s as it would from OpenAI."""

from __future__ import annotations

from collections.abc import Iterator

import agents
import httpx
import openai
import pydantic
import pytest
from agents import Agent, OpenAIChatCompletionsModel, Runner, function_tool
from openai.types.chat import ChatCompletionMessageParam

from tests.conftest import GatewayFactory, gateway_config
from tests.support import RunningServer

TWO_MOCKS = """
[[providers]]
name = "mock-b"
type = "mock"
[[routes]]
model = "two-mocks"
  [[routes.targets]]
  provider = "mock"
  model = "a"
  [[routes.targets]]
  provider = "mock-b"
  model = "b"
"""
WEATHER = "sunny, 21 degrees"


@pytest.fixture
def mock_gateway(start_gateway: GatewayFactory, upstream: RunningServer) -> RunningServer:
    return start_gateway(gateway_config(upstream.url, extra=TWO_MOCKS))


@pytest.fixture(autouse=True)
def no_tracing_export() -> Iterator[None]:
    agents.set_tracing_disabled(True)  # the Agents SDK would otherwise send its traces to api.openai.com
    yield


@pytest.mark.parametrize("streamed", [False, True])
async def test_an_agent_with_a_function_tool_reaches_its_final_answer(mock_gateway: RunningServer,
                                                                      streamed: bool) -> None:
    calls: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        calls.append(city)
        return WEATHER

    async with openai.AsyncOpenAI(base_url=mock_gateway.url + "/v1", api_key="x", max_retries=0) as client:
        model = OpenAIChatCompletionsModel(model="mock-model", openai_client=client)
        agent = Agent(name="forecaster", instructions="Answer with the weather.", tools=[get_weather], model=model)
        question = "What is the weather in Paris?"
        if streamed:
            run = Runner.run_streamed(agent, question, max_turns=4)
            async for _ in run.stream_events():
                pass
            output = run.final_output
        else:
            output = (await Runner.run(agent, question, max_turns=4)).final_output
    assert calls == ["example"]  # once: the tool's result ends the loop
    assert isinstance(output, str) and WEATHER in output and "get_weather" in output


class Forecast(pydantic.BaseModel):
    city: str
    unit: str
    days: list[int]
    warning: str | None


def test_structured_output_parses_into_the_model(mock_gateway: RunningServer) -> None:
    with openai.OpenAI(base_url=mock_gateway.url + "/v1", api_key="x", max_retries=0) as client:
        completion = client.chat.completions.parse(
            model="mock-model", messages=[{"role": "user", "content": "Forecast for Paris"}], response_format=Forecast
        )
    parsed = completion.choices[0].message.parsed
    assert parsed == Forecast(city="example", unit="example", days=[1], warning="example")


def test_n_choices(mock_gateway: RunningServer) -> None:
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
    with openai.OpenAI(base_url=mock_gateway.url + "/v1", api_key="x", max_retries=0) as client:
        completion = client.chat.completions.create(model="mock-model", n=3, messages=messages)
        streamed = client.chat.completions.create(model="mock-model", n=3, stream=True, messages=messages)
        texts = ["", "", ""]
        for chunk in streamed:
            for choice in chunk.choices:
                texts[choice.index] += choice.delta.content or ""
    contents = [c.message.content or "" for c in completion.choices]
    assert [c.index for c in completion.choices] == [0, 1, 2] and texts == contents
    words = len(contents[0].split(" "))  # the mock's tokens
    assert completion.usage is not None and completion.usage.completion_tokens == 3 * words


def test_a_wrong_typed_parameter_is_openais_400_without_failover(mock_gateway: RunningServer) -> None:
    with openai.OpenAI(base_url=mock_gateway.url + "/v1", api_key="x", max_retries=0) as client:
        with pytest.raises(openai.BadRequestError) as raised:
            client.chat.completions.create(model="mock-model", temperature="hot",  # type: ignore[arg-type]
                                           messages=[{"role": "user", "content": "hi"}])
    assert raised.value.status_code == 400 and raised.value.param == "temperature"
    body = {"model": "two-mocks", "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}
    for _ in range(4):  # more than the failure threshold: a client's mistake never cools a target down
        response = httpx.post(mock_gateway.url + "/v1/chat/completions", json=body, timeout=10)
        assert response.status_code == 400 and response.headers["x-gateway-attempts"] == "1"
    assert response.json() == {"error": {
        "message": "Invalid type for 'temperature': expected a decimal, but got a string instead.",
        "type": "invalid_request_error", "param": "temperature", "code": "invalid_type"}}
    ok = httpx.post(mock_gateway.url + "/v1/chat/completions", json={**body, "temperature": 0.5}, timeout=10)
    assert ok.status_code == 200
