"""`POST /v1/responses` through the whole gateway with the official openai SDK (`responses.create`, `.stream`,
`.parse`, retrieve, delete, input items), a function-tool round trip, `previous_response_id`, stored responses
per gateway key, failover, Anthropic and Gemini upstreams, bad input, and the OpenAI Agents SDK's
`OpenAIResponsesModel` running an agent with a tool to its final answer."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import openai
import pytest
from pydantic import BaseModel

from gateway.app import create_app
from gateway.config import parse_config
from tests.cache.redis_server import RedisServer
from tests.e2e.cluster import Cluster, route
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.gemini import FakeGemini
from tests.fakes.openai_compat import CutAfter, FakeOpenAI
from tests.support import closed_port, run_server

KEY_A = "sk-gw-responses-a-0123456789"
KEY_B = "sk-gw-responses-b-0123456789"
REPLY = "The quick brown fox jumps over the lazy dog."
WEATHER = {"type": "function", "name": "get_weather", "description": "Weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


class Setup:
    def __init__(self, stack: ExitStack) -> None:
        self.openai, self.anthropic, self.gemini = FakeOpenAI(), FakeAnthropic(), FakeGemini()
        up = {name: stack.enter_context(run_server(fake.app)) for name, fake in
              (("oa", self.openai), ("an", self.anthropic), ("gm", self.gemini))}
        text = f"""
[limits]
spend_file = ""
[[keys]]
name = "team-a"
key = "{KEY_A}"
[[keys]]
name = "team-b"
key = "{KEY_B}"
models = ["gpt"]
rpm = 1000
[[providers]]
name = "oa"
type = "openai"
base_url = "{up['oa'].url}/v1"
api_key = "sk-oa"
[[providers]]
name = "an"
type = "anthropic"
base_url = "{up['an'].url}"
api_key = "sk-an"
[[providers]]
name = "gm"
type = "gemini"
base_url = "{up['gm'].url}"
api_key = "sk-gm"
[[providers]]
name = "dead"
type = "openai"
base_url = "http://127.0.0.1:{closed_port()}/v1"
[[providers]]
name = "mock"
type = "mock"
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
[[routes]]
model = "gemini"
  [[routes.targets]]
  provider = "gm"
  model = "gemini-upstream"
[[routes]]
model = "failover"
retries_per_target = 0
  [[routes.targets]]
  provider = "dead"
  model = "m"
  weight = 1000000
  [[routes.targets]]
  provider = "oa"
  model = "gpt-upstream"
  weight = 0.000001
[[routes]]
model = "agent"
  [[routes.targets]]
  provider = "mock"
  model = "mock-agent"
"""
        self.gateway = stack.enter_context(run_server(create_app(parse_config(text))))
        self.a = openai.OpenAI(base_url=self.gateway.url + "/v1", api_key=KEY_A, max_retries=0)
        self.b = openai.OpenAI(base_url=self.gateway.url + "/v1", api_key=KEY_B, max_retries=0)
        stack.callback(self.a.close)
        stack.callback(self.b.close)


@pytest.fixture(scope="module")
def s() -> Iterator[Setup]:
    with ExitStack() as stack:
        yield Setup(stack)


def test_create_with_a_string_and_instructions(s: Setup) -> None:
    response = s.a.responses.create(model="gpt", input="Say hello", instructions="Be brief.", temperature=0.2,
                                    max_output_tokens=50, metadata={"run": "1"})
    assert response.object == "response" and response.status == "completed" and response.id.startswith("resp_")
    assert response.output_text == "Hello from the fake upstream."
    assert response.model == "gpt" and response.metadata == {"run": "1"}
    assert response.usage is not None and response.usage.output_tokens == 5
    assert response.usage.total_tokens == response.usage.input_tokens + 5
    sent = s.openai.last.json
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["messages"][-1]["role"] == "user" and sent["temperature"] == 0.2
    assert "metadata" not in sent and sent["model"] == "gpt-upstream"


def test_stream_gives_the_event_sequence_the_sdk_accumulates(s: Setup) -> None:
    with s.a.responses.stream(model="gpt", input="Say hello") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert "response.output_text.delta" in kinds and kinds[-1] == "response.completed"
    assert final.output_text == "Hello from the fake upstream." and final.status == "completed"
    assert final.usage is not None and final.usage.output_tokens == 5
    assert s.a.responses.retrieve(final.id).output_text == final.output_text  # stored, streamed or not


class Weather(BaseModel):
    city: str
    celsius: int


def test_parse_with_a_pydantic_model(s: Setup) -> None:
    s.openai.reply = json.dumps({"city": "Paris", "celsius": 21})
    try:
        parsed = s.a.responses.parse(model="gpt", input="Weather in Paris?", text_format=Weather)
    finally:
        s.openai.reply = "Hello from the fake upstream."
    assert parsed.output_parsed == Weather(city="Paris", celsius=21)
    fmt = s.openai.last.json["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "Weather"


def test_a_function_tool_round_trip_with_previous_response_id(s: Setup) -> None:
    first = s.a.responses.create(model="gpt", input="Weather in Paris?", tools=[WEATHER])  # type: ignore[list-item]
    [call] = [item for item in first.output if item.type == "function_call"]
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
    second = s.a.responses.create(model="gpt", previous_response_id=first.id, tools=[WEATHER],  # type: ignore[list-item]
                                  input=[{"type": "function_call_output", "call_id": call.call_id,
                                          "output": '{"celsius": 21}'}])
    assert second.output_text == "Hello from the fake upstream."
    messages = s.openai.last.json["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool"]  # the conversation, continued
    assert messages[1]["tool_calls"][0]["id"] == call.call_id and messages[2]["tool_call_id"] == call.call_id


def test_a_conversation_continues_on_any_provider(s: Setup) -> None:
    first = s.a.responses.create(model="gpt", input="My name is Ada.")
    second = s.a.responses.create(model="claude", input="What is my name?", previous_response_id=first.id)
    assert second.output_text == "Hello from the fake Anthropic."
    sent = s.anthropic.last.json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    third = s.a.responses.create(model="gemini", input="And again?", previous_response_id=second.id)
    assert third.output_text == "Hello from the fake Gemini."
    assert len(s.gemini.last.json["contents"]) == 5


def test_retrieve_delete_and_input_items_belong_to_the_key(s: Setup) -> None:
    made = s.a.responses.create(model="gpt", input="Keep this.")
    assert s.a.responses.retrieve(made.id).id == made.id
    items = s.a.responses.input_items.list(made.id)
    assert [i.type for i in items.data] == ["message"]
    with pytest.raises(openai.NotFoundError):
        s.b.responses.retrieve(made.id)  # another key: as if it did not exist
    with pytest.raises(openai.NotFoundError):
        s.b.responses.create(model="gpt", input="Go on", previous_response_id=made.id)
    s.a.responses.delete(made.id)
    with pytest.raises(openai.NotFoundError) as info:
        s.a.responses.retrieve(made.id)
    assert made.id in info.value.message


def test_store_false_keeps_nothing(s: Setup) -> None:
    made = s.a.responses.create(model="gpt", input="Forget this.", store=False)
    with pytest.raises(openai.NotFoundError):
        s.a.responses.retrieve(made.id)


def test_keys_and_their_limits_hold_as_for_chat(s: Setup) -> None:
    with pytest.raises(openai.PermissionDeniedError) as denied:
        s.b.responses.create(model="claude", input="Hi")
    assert "claude" in denied.value.message
    raw = s.b.responses.with_raw_response.create(model="gpt", input="Hi")
    assert raw.headers["x-ratelimit-limit-requests"] == "1000"
    with openai.OpenAI(base_url=s.gateway.url + "/v1", api_key="sk-unknown", max_retries=0) as stranger:
        with pytest.raises(openai.AuthenticationError):
            stranger.responses.create(model="gpt", input="Hi")
        with pytest.raises(openai.AuthenticationError):
            stranger.responses.retrieve("resp_anything")


def test_an_unknown_previous_response_id_is_404_naming_it(s: Setup) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        s.a.responses.create(model="gpt", input="Hi", previous_response_id="resp_nope")
    assert "resp_nope" in info.value.message and info.value.body["param"] == "previous_response_id"  # type: ignore[index]


def test_failover_on_the_first_target(s: Setup) -> None:
    raw = s.a.responses.with_raw_response.create(model="failover", input="Hi")
    assert raw.headers["x-gateway-attempts"] == "2" and raw.headers["x-gateway-provider"] == "oa"
    assert raw.parse().output_text == "Hello from the fake upstream."


@pytest.mark.parametrize(("body", "status", "param", "says"), [
    ({"model": "gpt"}, 400, "input", "input"),
    ({"model": "gpt", "input": 5}, 400, "input", "input"),
    ({"model": "nope", "input": "Hi"}, 404, "model", "nope"),
    ({"model": "gpt", "input": "Hi", "tools": [{"type": "web_search"}]}, 400, "tools", "web_search"),
    ({"model": "gpt", "input": "Hi", "background": True}, 400, "background", "background"),
    ({"model": "agent", "input": "Hi", "temperature": "hot"}, 400, "temperature", "temperature"),
])
def test_bad_input_is_an_openai_error(s: Setup, body: dict[str, Any], status: int, param: str, says: str) -> None:
    before = len(s.openai.requests)
    response = httpx.post(s.gateway.url + "/v1/responses", json=body, headers={"authorization": f"Bearer {KEY_A}"})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert says in error["message"] and set(error) >= {"message", "type", "param", "code"}
    assert error["param"] in (param, None) or param in str(error["param"])
    if status == 400 and param != "temperature":
        assert len(s.openai.requests) == before  # refused before anything was sent


def test_the_agents_sdk_runs_an_agent_with_a_tool_to_its_final_answer(s: Setup) -> None:
    import asyncio

    from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled

    set_tracing_disabled(True)
    calls: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        calls.append(city)
        return f"21 degrees in {city}"

    async def run() -> str:
        client = openai.AsyncOpenAI(base_url=s.gateway.url + "/v1", api_key=KEY_A, max_retries=0)
        try:
            agent = Agent(name="weather", instructions="Answer with the tool.", tools=[get_weather],
                          model=OpenAIResponsesModel(model="agent", openai_client=client))
            result = await Runner.run(agent, "What is the weather in Paris?")
            return str(result.final_output)
        finally:
            await client.close()

    final = asyncio.run(run())
    assert len(calls) == 1 and "21 degrees" in final


# -- mid-stream recovery and the cache, as chat has them ------------------------------------------------------


def test_a_cut_stream_is_continued_on_the_next_target(cluster: Cluster) -> None:
    a, _ = (cluster.fake(name, reply=REPLY, provider=extra) for name, extra in (("a", ""), ("b", "prefill = true")))
    gateway = cluster.gateway(route("chat", "a/ma*2", "b/mb", strategy="round_robin"))
    a.enqueue(CutAfter(3))
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=0) as client:
        with client.responses.stream(model="chat", input="Tell me about the fox.") as stream:
            kinds = [event.type for event in stream]
            final = stream.get_final_response()
    assert final.output_text == REPLY and final.status == "completed"
    assert kinds.count("response.output_text.done") == 1 and kinds[-1] == "response.completed"


def test_a_stream_that_cannot_be_continued_ends_failed(cluster: Cluster) -> None:
    a = cluster.fake("a", reply=REPLY)
    gateway = cluster.gateway(route("chat", "a/ma"))
    a.enqueue(CutAfter(3))
    with httpx.stream("POST", gateway.url + "/v1/responses", json={"model": "chat", "input": "Hi", "stream": True},
                      timeout=5) as response:
        events = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]
    kinds = [event["type"] for event in events]
    assert "response.output_text.delta" in kinds and "response.completed" not in kinds
    assert kinds[-1] == "response.failed"
    assert "provider a failed" in events[-1]["response"]["error"]["message"]
    response_id = events[-1]["response"]["id"]
    assert httpx.get(f"{gateway.url}/v1/responses/{response_id}").status_code == 404  # a failure is not stored


def test_identical_stateless_requests_are_cache_hits_with_their_own_ids(cluster: Cluster) -> None:
    a = cluster.fake("a", reply=REPLY)
    text = '[cache]\nbackend = "memory"\n' + "".join(cluster.providers) + route("chat", "a/ma")
    gateway = cluster.stack.enter_context(run_server(create_app(parse_config(text))))
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=0) as client:
        first = client.responses.with_raw_response.create(model="chat", input="Same question", temperature=0)
        second = client.responses.with_raw_response.create(model="chat", input="Same question", temperature=0)
        assert (first.headers["x-gateway-cache"], second.headers["x-gateway-cache"]) == ("miss", "hit")
        one, two = first.parse(), second.parse()
        assert one.output_text == two.output_text == REPLY and one.id != two.id
        assert client.responses.retrieve(two.id).output_text == REPLY  # a hit is stored like any answer
        go_on = client.responses.with_raw_response.create(model="chat", input="Same question", temperature=0,
                                                          previous_response_id=one.id)
        assert go_on.headers["x-gateway-cache"] == "miss"  # another conversation, another entry
        seen, texts = [], []
        for _ in range(2):  # one after the other: the first is stored once it has been read to its end
            raw = client.responses.with_raw_response.create(model="chat", input="Streamed", stream=True)
            seen.append(raw.headers["x-gateway-cache"])
            events = list(raw.parse())
            assert events[-1].type == "response.completed"
            texts.append(events[-1].response.output_text)
        assert seen == ["miss", "hit"] and texts == [REPLY, REPLY]
    assert len(a.requests) == 3


# -- stored responses in Redis: shared by replicas, and what an outage does -----------------------------------


def redis_gateway(upstream_url: str, redis_url: str) -> str:
    return f"""
[state]
redis_url = "{redis_url}"
[limits]
spend_file = ""
[responses]
key_prefix = "test-{uuid.uuid4().hex[:12]}:"
[telemetry]
prometheus = true
[[providers]]
name = "oa"
type = "openai"
base_url = "{upstream_url}/v1"
[[routes]]
model = "gpt"
  [[routes.targets]]
  provider = "oa"
  model = "gpt-upstream"
"""


def test_two_replicas_share_stored_responses_and_survive_a_redis_outage(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeOpenAI()
    with ExitStack() as stack:
        upstream = stack.enter_context(run_server(fake.app))
        text = redis_gateway(upstream.url, redis_server.url)
        one, two = (stack.enter_context(run_server(create_app(parse_config(text)))) for _ in range(2))
        a, b = (stack.enter_context(openai.OpenAI(base_url=g.url + "/v1", api_key="k", max_retries=0))
                for g in (one, two))
        made = a.responses.create(model="gpt", input="My name is Ada.")
        assert b.responses.retrieve(made.id).output_text == made.output_text
        b.responses.create(model="gpt", input="What is my name?", previous_response_id=made.id)
        assert [m["role"] for m in fake.last.json["messages"]] == ["user", "assistant", "user"]

        redis_server.kill()
        with caplog.at_level(logging.WARNING, logger="gateway.responses"):
            started = time.monotonic()
            lost = a.responses.create(model="gpt", input="Still answered")  # answered; not kept
            assert lost.output_text == made.output_text
            for call in (lambda: b.responses.retrieve(made.id),
                         lambda: b.responses.create(model="gpt", input="Go on", previous_response_id=made.id)):
                with pytest.raises(openai.InternalServerError) as info:
                    call()
                assert info.value.status_code == 503 and info.value.response.headers["retry-after"] == "1"
                assert info.value.body["code"] == "responses_store_unavailable"  # type: ignore[index]
            assert time.monotonic() - started < 5  # never hangs
            assert b.responses.create(model="gpt", input="Stateless", store=False).output_text  # needs no store
        failed = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
        assert len(failed) == 2, failed  # one line per replica and outage, however many calls failed
        assert "gateway_responses_errors_total{" in httpx.get(one.url + "/metrics").text

        redis_server.start()  # the same port, empty: what was stored is gone, storing works again
        deadline = time.monotonic() + 5
        while True:
            try:
                again = a.responses.create(model="gpt", input="Back")
                assert b.responses.retrieve(again.id).id == again.id
                break
            except openai.APIStatusError:
                assert time.monotonic() < deadline, "stored responses did not come back"
                time.sleep(0.2)
