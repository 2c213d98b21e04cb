"""The `azure` provider end to end: the official openai SDK -> gateway -> Azure's URLs in front of the fake OpenAI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import openai
import pytest

from gateway.app import create_app
from gateway.config import parse_config
from tests.fakes.azure import AzureFront
from tests.fakes.openai_compat import CutAfter, Fail, FakeOpenAI
from tests.support import run_server

KEY = "azure-secret-key-0123456789"
MESSAGES = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOLS = [{"type": "function", "function": {
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}}]


@pytest.fixture
def azure() -> Iterator[tuple[AzureFront, openai.OpenAI]]:
    front = AzureFront(FakeOpenAI())
    with ExitStack() as exits:
        upstream = exits.enter_context(run_server(front.app))
        config = f"""
[[providers]]
name = "azure"
type = "azure"
base_url = "{upstream.url}"
api_key = "{KEY}"
api_version = "2025-04-01-preview"
[[providers]]
name = "azure-v1"
type = "azure"
base_url = "{upstream.url}/openai/v1"
api_key = "{KEY}"
[[routes]]
model = "gpt"
  [[routes.targets]]
  provider = "azure"
  model = "gpt-4o-prod"
[[routes]]
model = "gpt-v1"
  [[routes.targets]]
  provider = "azure-v1"
  model = "gpt-4o-prod"
[[routes]]
model = "embed"
  [[routes.targets]]
  provider = "azure"
  model = "embedding-prod"
[[routes]]
model = "failover"
retries_per_target = 0
  [[routes.targets]]
  provider = "azure"
  model = "gpt-4o-prod"
  weight = 1000000
  [[routes.targets]]
  provider = "azure-v1"
  model = "gpt-4o-backup"
  weight = 0.000001
"""
        gateway = exits.enter_context(run_server(create_app(parse_config(config))))
        client = exits.enter_context(openai.OpenAI(base_url=gateway.url + "/v1", api_key="client", max_retries=0))
        yield front, client


def test_chat_on_a_deployment_url(azure: tuple[AzureFront, openai.OpenAI]) -> None:
    front, client = azure
    completion = client.chat.completions.create(model="gpt", messages=MESSAGES)  # type: ignore[arg-type]
    assert completion.choices[0].message.content == front.fake.reply
    path, query, headers = front.seen[-1]
    assert (path, query) == ("/openai/deployments/gpt-4o-prod/chat/completions", "api-version=2025-04-01-preview")
    assert headers["api-key"] == KEY and "authorization" not in headers


def test_v1_form_by_default_stream_and_tools(azure: tuple[AzureFront, openai.OpenAI]) -> None:
    front, client = azure
    chunks = list(client.chat.completions.create(model="gpt-v1", messages=MESSAGES, stream=True))  # type: ignore[arg-type]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == front.fake.reply
    assert front.seen[-1][0] == "/openai/v1/chat/completions"
    assert front.fake.last.json["model"] == "gpt-4o-prod"
    completion = client.chat.completions.create(model="gpt-v1", messages=MESSAGES, tools=TOOLS)  # type: ignore[arg-type]
    [call] = completion.choices[0].message.tool_calls or []
    assert json.loads(call.function.arguments) == {"city": "Paris"}


def test_embeddings(azure: tuple[AzureFront, openai.OpenAI]) -> None:
    front, client = azure
    result = client.embeddings.create(model="embed", input=["a", "b"])
    assert len(result.data) == 2
    assert front.seen[-1][0] == "/openai/deployments/embedding-prod/embeddings"


def test_429_fails_over_and_errors_keep_their_status(azure: tuple[AzureFront, openai.OpenAI]) -> None:
    front, client = azure
    front.fake.enqueue(Fail(429, retry_after=0))
    raw = client.chat.completions.with_raw_response.create(model="failover", messages=MESSAGES)  # type: ignore[arg-type]
    assert raw.headers["x-gateway-provider"] == "azure-v1" and raw.headers["x-gateway-attempts"] == "2"
    front.fake.enqueue(Fail(400))
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt", messages=MESSAGES)  # type: ignore[arg-type]


def test_a_stream_opening_with_the_prompt_filter_chunk_keeps_one_id_when_resumed(
    azure: tuple[AzureFront, openai.OpenAI],
) -> None:
    """Azure's first chunk has "" for id and model: the stream's id is the first real one, and a stream cut
    and continued on another target keeps it (issue 20, item 11)."""
    front, client = azure
    front.fake.enqueue(CutAfter(3))
    body = {"model": "failover", "messages": MESSAGES, "stream": True}
    with httpx.stream("POST", str(client.base_url) + "chat/completions", json=body, timeout=5) as response:
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    chunks = [json.loads(e) for e in events if e != "[DONE]"]
    assert events[-1] == "[DONE]" and chunks[0]["id"] == "" and "prompt_filter_results" in chunks[0]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == front.fake.reply
    assert len({c["id"] for c in chunks[1:]}) == 1 and chunks[1]["id"]
    assert len(front.seen) >= 2 and front.seen[-1][0] == "/openai/v1/chat/completions"  # continued on azure-v1
