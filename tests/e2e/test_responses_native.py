"""`responses = "native"`: a route whose providers have their own /v1/responses gets the Responses request as
sent (model rewritten), so built-in tools and the provider's own conversations work; routing, failover, keys,
accounting and `gateway check` apply as for every route. The upstreams are tests/fakes/openai_responses.py,
written from OpenAI's API reference; the client is the openai SDK."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import openai
import pytest

from gateway.app import create_app
from gateway.config import ConfigError, parse_config
from tests.fakes.openai_compat import FakeOpenAI
from tests.fakes.openai_responses import REPLY, FakeResponses
from tests.support import RunningServer, run_server

KEY = "sk-gw-native-0123456789"
OTHER = "sk-gw-native-other-0123456789"
ADMIN = "admin-native-0123456789"


class Setup:
    def __init__(self, stack: ExitStack) -> None:
        self.a, self.b, self.chat = FakeResponses(), FakeResponses(), FakeOpenAI()
        urls = [stack.enter_context(run_server(fake.app)).url for fake in (self.a, self.b, self.chat)]
        self.gateway: RunningServer = stack.enter_context(run_server(create_app(parse_config(f"""
[limits]
spend_file = ""
[admin]
key = "{ADMIN}"
[[keys]]
name = "team"
key = "{KEY}"
[[keys]]
name = "other"
key = "{OTHER}"
[[providers]]
name = "na"
type = "openai"
base_url = "{urls[0]}/v1"
api_key = "sk-provider-a"
responses = "native"
[[providers]]
name = "nb"
type = "openai"
base_url = "{urls[1]}/v1"
api_key = "sk-provider-b"
responses = "native"
[[providers]]
name = "oa"
type = "openai"
base_url = "{urls[2]}/v1"
[[routes]]
model = "native"
retries_per_target = 0
  [[routes.targets]]
  provider = "na"
  model = "gpt-upstream"
  weight = 1000000
  input_usd_per_mtok = 1000
  output_usd_per_mtok = 2000
  [[routes.targets]]
  provider = "nb"
  model = "gpt-upstream-b"
  weight = 0.000001
[[routes]]
model = "translated"
  [[routes.targets]]
  provider = "oa"
  model = "gpt-chat"
"""))))
        self.client = stack.enter_context(openai.OpenAI(base_url=self.gateway.url + "/v1", api_key=KEY,
                                                        max_retries=0))


@pytest.fixture(scope="module")
def s() -> Iterator[Setup]:
    with ExitStack() as stack:
        yield Setup(stack)


def test_the_request_goes_as_sent_and_built_in_tools_work(s: Setup) -> None:
    raw = s.client.responses.with_raw_response.create(
        model="native", input="Weather in Paris?", tools=[{"type": "web_search"}], instructions="Be brief.",
        metadata={"run": "1"}, include=["web_search_call.action.sources"])
    response = raw.parse()
    assert raw.headers["x-gateway-provider"] == "na"
    assert [item.type for item in response.output] == ["web_search_call", "message"]
    assert response.output_text == REPLY and response.id.startswith("resp_native_")
    sent = s.a.requests[-1]
    assert sent == {"model": "gpt-upstream", "input": "Weather in Paris?", "tools": [{"type": "web_search"}],
                    "instructions": "Be brief.", "metadata": {"run": "1"},
                    "include": ["web_search_call.action.sources"]}
    assert s.a.headers[-1]["authorization"] == "Bearer sk-provider-a"  # the provider's key, never the client's


def test_the_providers_own_conversation_continues(s: Setup) -> None:
    first = s.client.responses.create(model="native", input="My name is Ada.")
    second = s.client.responses.create(model="native", input="What is my name?", previous_response_id=first.id)
    assert s.a.requests[-1]["previous_response_id"] == first.id and second.output_text == REPLY
    with pytest.raises(openai.BadRequestError) as refused:  # a translated route cannot continue it
        s.client.responses.create(model="translated", input="And now?", previous_response_id=first.id)
    assert "provider na" in refused.value.message


def test_retrieve_input_items_and_delete_go_to_the_provider_for_their_owner(s: Setup) -> None:
    made = s.client.responses.create(model="native", input="Keep this.")
    got = s.client.responses.retrieve(made.id)  # the provider's own copy, fetched with the provider's key
    assert got.id == made.id and got.output_text == REPLY
    assert s.a.headers[-1]["authorization"] == "Bearer sk-provider-a"
    items = s.client.responses.input_items.list(made.id, limit=5)
    assert [i.type for i in items.data] == ["message"] and "limit=5" in s.a.headers[-1]["query"]
    with openai.OpenAI(base_url=s.gateway.url + "/v1", api_key=OTHER, max_retries=0) as other:
        with pytest.raises(openai.NotFoundError):
            other.responses.retrieve(made.id)  # another key: as if it did not exist, the provider not asked
        with pytest.raises(openai.NotFoundError):
            other.responses.delete(made.id)
    s.client.responses.delete(made.id)
    assert made.id not in s.a.given  # deleted at the provider
    with pytest.raises(openai.NotFoundError):
        s.client.responses.retrieve(made.id)
    with s.client.responses.stream(model="native", input="Streamed, then kept") as stream:
        streamed = stream.get_final_response()
    assert s.client.responses.retrieve(streamed.id).output_text == REPLY


def test_a_stream_is_relayed_event_by_event(s: Setup) -> None:
    with s.client.responses.stream(model="native", input="Say hello") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert final.output_text == REPLY and final.status == "completed"
    assert kinds.count("response.output_text.delta") == len(REPLY.split(" "))
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert s.a.requests[-1]["stream"] is True and "stream_options" not in s.a.requests[-1]


def test_failover_to_the_next_native_target(s: Setup) -> None:
    s.a.fail(503)
    raw = s.client.responses.with_raw_response.create(model="native", input="Hi")
    assert raw.headers["x-gateway-attempts"] == "2" and raw.headers["x-gateway-provider"] == "nb"
    assert raw.parse().output_text == REPLY and s.b.requests[-1]["model"] == "gpt-upstream-b"
    s.a.fail(503)
    with s.client.responses.stream(model="native", input="Hi") as stream:
        assert stream.get_final_response().output_text == REPLY  # a stream fails over before its first event


def test_an_upstream_error_keeps_its_status_and_shape(s: Setup) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        s.client.responses.create(model="native", input="Hi", previous_response_id="resp_unknown")
    assert "resp_unknown" in info.value.message and info.value.body["param"] == "previous_response_id"  # type: ignore[index]


def test_usage_is_accounted_to_the_key(s: Setup) -> None:
    before = httpx.get(s.gateway.url + "/admin/usage", headers={"x-api-key": ADMIN}).json()["keys"].get("team", {})
    response = s.client.responses.create(model="native", input="Count me")
    after = httpx.get(s.gateway.url + "/admin/usage", headers={"x-api-key": ADMIN}).json()["keys"]["team"]
    assert response.usage is not None
    assert after["output_tokens"] - before.get("output_tokens", 0) == response.usage.output_tokens == 7
    assert after["input_tokens"] - before.get("input_tokens", 0) == response.usage.input_tokens
    assert after["cost_usd"] > before.get("cost_usd", 0)


def test_other_routes_still_translate(s: Setup) -> None:
    response = s.client.responses.create(model="translated", input="Hi")
    assert response.output_text == "Hello from the fake upstream."
    assert s.chat.last.path == "/v1/chat/completions" and s.chat.last.json["messages"] == [
        {"role": "user", "content": "Hi"}]


@pytest.mark.parametrize(("change", "says"), [
    (('type = "openai"\nbase_url = "http://127.0.0.1:1/v1"\nresponses = "native"',
      'type = "anthropic"\nresponses = "native"'), 'responses = "native" is for providers of type "openai"'),
    (('provider = "b"', 'provider = "a"'), 'route "m" mixes providers'),
    (("fallbacks = []", 'fallbacks = ["t"]'), 'cannot fall back to "t", which translates'),
])
def test_gateway_check_refuses_what_would_not_work(change: tuple[str, str], says: str) -> None:
    text = """
[[providers]]
name = "a"
type = "openai"
base_url = "http://127.0.0.1:1/v1"
responses = "native"
[[providers]]
name = "b"
type = "openai"
base_url = "http://127.0.0.1:1/v1"
[[routes]]
model = "m"
fallbacks = []
  [[routes.targets]]
  provider = "a"
  model = "x"
  [[routes.targets]]
  provider = "a"
  model = "y"
[[routes]]
model = "t"
  [[routes.targets]]
  provider = "b"
  model = "z"
"""
    parse_config(text)  # as it is: fine
    old, new = change
    broken = text.replace(old, new, 1) if old != 'provider = "b"' else text.replace(
        'provider = "a"\n  model = "y"', 'provider = "b"\n  model = "y"')
    with pytest.raises(ConfigError) as info:
        parse_config(broken)
    assert says in str(info.value) or any(says in p for p in info.value.problems)


def test_a_native_route_is_cached_like_any_other() -> None:
    fake = FakeResponses()
    with run_server(fake.app) as upstream, run_server(create_app(parse_config(f"""
[cache]
backend = "memory"
[[providers]]
name = "na"
type = "openai"
base_url = "{upstream.url}/v1"
responses = "native"
[[routes]]
model = "native"
  [[routes.targets]]
  provider = "na"
  model = "gpt-upstream"
"""))) as gateway, openai.OpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=0) as client:
        seen = [client.responses.with_raw_response.create(model="native", input="Same", temperature=0)
                for _ in range(2)]
        assert [r.headers["x-gateway-cache"] for r in seen] == ["miss", "hit"]
        assert seen[0].parse().output_text == seen[1].parse().output_text == REPLY
        streamed = []
        for _ in range(2):
            raw = client.responses.with_raw_response.create(model="native", input="Streamed", stream=True)
            events = list(raw.parse())
            streamed.append((raw.headers["x-gateway-cache"], events[-1].type, events[-1].response.output_text))
        # A native stream is the provider's own events: the cache, which keeps chat streams, leaves it alone
        assert streamed == [("bypass", "response.completed", REPLY)] * 2
    assert len(fake.requests) == 3
