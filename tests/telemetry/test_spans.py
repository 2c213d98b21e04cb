"""Spans as exported over OTLP: the SERVER span per request, a CLIENT span per upstream attempt, GenAI
semantic-convention attributes, streams, failover, disconnects, errors and trace context."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from gateway.telemetry import semconv
from tests.conftest import dead_first_route
from tests.fakes.openai_compat import Fail, FakeOpenAI, SlowTokens
from tests.fakes.otlp import FakeCollector, Span
from tests.support import RunningServer, closed_port
from tests.telemetry.conftest import TelemetryGatewayFactory, flush

MESSAGES = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOLS = [{"type": "function", "function": {
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}}]
CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"


def sdk(server: RunningServer, **headers: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="client-key", max_retries=0,
                         default_headers=headers or None)


def exported(server: RunningServer, collector: FakeCollector, servers: int) -> tuple[list[Span], list[Span]]:
    """(SERVER spans, CLIENT spans) once `servers` SERVER spans arrived (a stream's ends after its last byte)."""
    deadline = time.monotonic() + 5
    while True:
        flush(server)
        found = collector.spans("SERVER")
        if len(found) >= servers or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert len(found) == servers, [s.name for s in found]
    return found, collector.spans("CLIENT")


def traceparent(header: str) -> tuple[str, str, bool]:
    """(trace id, parent span id, sampled) of a W3C traceparent (other flag bits, such as random, vary)."""
    version, trace_id, span_id, flags = header.split("-")
    assert version == "00"
    return trace_id, span_id, bool(int(flags, 16) & 1)


def children(parent: Span, spans: list[Span]) -> list[Span]:
    return sorted((s for s in spans if s.parent_span_id == parent.span_id), key=lambda s: s.start_ns)


def no_deprecated_names(spans: list[Span]) -> None:
    deprecated = {"gen_ai.system", "gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens", "gen_ai.prompt",
                  "gen_ai.completion", "gen_ai.openai.request.seed", "gen_ai.openai.request.response_format"}
    for span in spans:
        assert not deprecated & set(span.attributes), (span.name, deprecated & set(span.attributes))


def test_non_stream_call_is_a_server_span_with_one_client_span(
    traced: RunningServer, collector: FakeCollector, fake: FakeOpenAI
) -> None:
    reply = sdk(traced).chat.completions.create(
        model="gpt-test", messages=MESSAGES, temperature=0.25, top_p=0.9, max_tokens=50, seed=7,
        stop=["END"], frequency_penalty=0.5, presence_penalty=0.25, response_format={"type": "json_object"},
    )
    [server], clients = exported(traced, collector, 1)
    [client] = clients
    assert server.kind == "SERVER" and client.kind == "CLIENT"
    assert server.name == "POST /v1/chat/completions"
    assert client.name == "chat upstream-model"
    assert client.parent_span_id == server.span_id and client.trace_id == server.trace_id
    assert server.parent_span_id == ""
    assert server.start_ns <= client.start_ns <= client.end_ns <= server.end_ns
    assert server.status == client.status == "UNSET"

    a = client.attributes
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "upstream-model"
    assert a["gen_ai.response.model"] == "upstream-model"
    assert a["gen_ai.response.id"] == reply.id
    assert a["gen_ai.response.finish_reasons"] == ["stop"]
    assert reply.usage is not None
    assert a["gen_ai.usage.input_tokens"] == reply.usage.prompt_tokens
    assert a["gen_ai.usage.output_tokens"] == reply.usage.completion_tokens
    assert a["gen_ai.request.temperature"] == 0.25 and a["gen_ai.request.top_p"] == 0.9
    assert a["gen_ai.request.max_tokens"] == 50 and a["gen_ai.request.seed"] == 7
    assert a["gen_ai.request.stop_sequences"] == ["END"]
    assert a["gen_ai.request.frequency_penalty"] == 0.5 and a["gen_ai.request.presence_penalty"] == 0.25
    assert a["gen_ai.output.type"] == "json"
    assert a["openai.api.type"] == "chat_completions"
    assert a["server.address"] == "127.0.0.1" and isinstance(a["server.port"], int)
    assert a["http.response.status_code"] == 200
    assert a["gateway.route"] == "gpt-test" and a["gateway.target"] == "fake/upstream-model"
    assert a["gateway.provider"] == "fake" and a["gateway.attempt"] == 1
    assert "gen_ai.request.stream" not in a and "error.type" not in a
    assert "gen_ai.input.messages" not in a and "gen_ai.output.messages" not in a  # content is opt-in

    s = server.attributes
    assert s["http.request.method"] == "POST" and s["http.route"] == "/v1/chat/completions"
    assert s["http.response.status_code"] == 200 and s["url.path"] == "/v1/chat/completions"
    assert s["client.address"] == "127.0.0.1" and s["user_agent.original"].startswith("OpenAI/Python")
    assert "gen_ai.request.model" not in s and s["gateway.route"] == "gpt-test"  # the route; no LLM call here
    # The LLM call is the CLIENT span's: a backend that found it on the SERVER span too would count it twice
    assert not {k for k in s if k.startswith(("gen_ai.usage.", "gen_ai.response.")) or k in (
        "gen_ai.operation.name", "gen_ai.provider.name")}
    assert s["gateway.usage.input_tokens"] == reply.usage.prompt_tokens
    assert s["gateway.usage.output_tokens"] == reply.usage.completion_tokens
    assert s["gateway.attempts"] == 1 and s["gateway.fallback_used"] is False
    assert s["gateway.target"] == "fake/upstream-model"
    assert len(s["gateway.request_id"]) >= 16
    assert "gateway.cache.result" not in s  # no cache configured
    no_deprecated_names([server, client])
    assert client.schema_url == semconv.SCHEMA_URL == "https://opentelemetry.io/schemas/1.41.0"
    assert client.scope == "gateway"
    assert client.resource["service.name"] == "llm-gateway"
    assert traceparent(fake.last.headers["traceparent"]) == (client.trace_id, client.span_id, True)


def test_stream_span_stays_open_to_the_end_with_ttft_and_usage(
    traced: RunningServer, collector: FakeCollector, fake: FakeOpenAI
) -> None:
    fake.enqueue(SlowTokens(0.02))
    started = time.time_ns()
    chunks = list(sdk(traced).chat.completions.create(model="gpt-test", messages=MESSAGES, stream=True))
    finished = time.time_ns()
    assert all(c.usage is None for c in chunks)  # the usage chunk the gateway asked for was removed
    [server], [client] = exported(traced, collector, 1)
    a = client.attributes
    assert a["gen_ai.request.stream"] is True
    ttft = a["gen_ai.response.time_to_first_chunk"]
    assert 0 < ttft < 1
    event = client.event("gateway.first_chunk")
    assert event.attributes["gen_ai.response.time_to_first_chunk"] == ttft
    assert len(client.events) == 1  # one event at the first chunk, none per chunk
    assert a["gen_ai.usage.input_tokens"] > 0 and a["gen_ai.usage.output_tokens"] == 5
    assert a["gen_ai.response.finish_reasons"] == ["stop"]
    # The attempt span lasted as long as the stream (6 slow events of 20 ms), not just until the headers.
    assert client.end_ns - client.start_ns >= 80_000_000
    assert started <= client.start_ns and client.end_ns <= server.end_ns <= finished + 50_000_000
    assert server.attributes["gen_ai.request.stream"] is True
    assert 0 < server.attributes["gen_ai.response.time_to_first_chunk"] < 1
    assert server.attributes["gateway.usage.output_tokens"] == 5


def test_prompt_cache_and_reasoning_tokens_are_on_the_client_span(
    traced: RunningServer, collector: FakeCollector, fake: FakeOpenAI
) -> None:
    fake.cached_tokens, fake.reasoning_tokens = 2, 3
    reply = sdk(traced).chat.completions.create(model="gpt-test", messages=MESSAGES)
    assert reply.usage is not None and reply.usage.prompt_tokens_details is not None
    [server], [client] = exported(traced, collector, 1)
    assert client.attributes["gen_ai.usage.cache_read.input_tokens"] == 2
    assert client.attributes["gen_ai.usage.reasoning.output_tokens"] == 3
    assert "gen_ai.usage.cache_read.input_tokens" not in server.attributes


def test_tool_call_spans(traced: RunningServer, collector: FakeCollector) -> None:
    client_sdk = sdk(traced)
    completion = client_sdk.chat.completions.create(model="gpt-test", messages=MESSAGES, tools=TOOLS)
    assert completion.choices[0].finish_reason == "tool_calls"
    list(client_sdk.chat.completions.create(model="gpt-test", messages=MESSAGES, tools=TOOLS, stream=True))
    _, clients = exported(traced, collector, 2)
    assert [c.attributes["gen_ai.response.finish_reasons"] for c in clients] == [["tool_calls"], ["tool_calls"]]
    assert all(c.attributes["gen_ai.usage.output_tokens"] > 0 for c in clients)


def test_failover_makes_two_sibling_client_spans(
    start_traced: TelemetryGatewayFactory, collector: FakeCollector
) -> None:
    dead = closed_port()
    gateway = start_traced(extra=f"""
{dead_first_route(dead)}
""")
    response = httpx.post(gateway.url + "/v1/chat/completions", json={"model": "two-targets", "messages": MESSAGES})
    assert response.status_code == 200 and response.headers["x-gateway-attempts"] == "2"
    [server], clients = exported(gateway, collector, 1)
    first, second = children(server, clients)
    assert len(clients) == 2
    assert first.name == "chat m" and first.status == "ERROR"
    assert first.attributes["error.type"] == "connect_error"
    assert first.attributes["gateway.target"] == "dead/m" and first.attributes["gateway.attempt"] == 1
    assert first.attributes["server.port"] == dead
    assert "gen_ai.response.id" not in first.attributes
    assert second.name == "chat upstream-model" and second.status == "UNSET"
    assert second.attributes["gateway.attempt"] == 2
    assert second.attributes["gateway.failover.reason"] == "connect_error"
    assert "error.type" not in second.attributes
    assert first.end_ns <= second.start_ns
    assert server.status == "UNSET"  # what the client saw: an answer
    assert server.attributes["gateway.attempts"] == 2
    assert server.attributes["gateway.target"] == "fake/upstream-model"
    failover = server.event("gateway.failover")
    assert failover.attributes == {"gateway.from_target": "dead/m", "gateway.to_target": "fake/upstream-model",
                                   "error.type": "connect_error"}


def test_client_going_away_mid_stream_is_recorded(
    traced: RunningServer, collector: FakeCollector, fake: FakeOpenAI
) -> None:
    fake.reply = " ".join(["word"] * 200)
    fake.enqueue(SlowTokens(0.02))
    body = {"model": "gpt-test", "messages": MESSAGES, "stream": True}
    with httpx.stream("POST", traced.url + "/v1/chat/completions", json=body) as r:
        lines = r.iter_lines()
        for _ in range(6):
            next(lines)
    assert fake.wait_for_disconnects(1, timeout=5)
    [server], [client] = exported(traced, collector, 1)
    assert client.status == "ERROR" and client.attributes["error.type"] == "client_disconnected"
    assert client.attributes["gen_ai.response.finish_reasons"] == ["error"]  # the choice never finished
    assert "gen_ai.response.time_to_first_chunk" in client.attributes
    assert server.status == "ERROR" and server.attributes["error.type"] == "client_disconnected"
    assert server.attributes["http.response.status_code"] == 200


def test_upstream_4xx_is_an_error_attempt_and_not_a_server_error(
    traced: RunningServer, collector: FakeCollector, fake: FakeOpenAI
) -> None:
    fake.enqueue(Fail(400, {"error": {"message": "bad temperature", "type": "invalid_request_error"}}))
    with pytest.raises(openai.BadRequestError):
        sdk(traced).chat.completions.create(model="gpt-test", messages=MESSAGES)
    [server], [client] = exported(traced, collector, 1)
    assert client.status == "ERROR" and client.attributes["error.type"] == "400"
    assert client.attributes["http.response.status_code"] == 400
    assert client.status_message == "upstream answered HTTP 400"
    # HTTP conventions: a 4xx is the client's problem, not a SERVER span error.
    assert server.attributes["http.response.status_code"] == 400
    assert server.status == "UNSET" and "error.type" not in server.attributes


def test_upstream_5xx_everywhere_is_a_server_error(
    traced: RunningServer, collector: FakeCollector, fake: FakeOpenAI
) -> None:
    fake.enqueue(*[Fail(500)] * 10)
    response = httpx.post(traced.url + "/v1/chat/completions", json={"model": "gpt-test", "messages": MESSAGES})
    assert response.status_code == 500
    [server], clients = exported(traced, collector, 1)
    assert clients and all(c.attributes["error.type"] == "500" for c in clients)
    assert server.status == "ERROR" and server.attributes["error.type"] == "500"


def test_unknown_model_has_a_server_span_and_no_client_span(traced: RunningServer, collector: FakeCollector) -> None:
    response = httpx.post(traced.url + "/v1/chat/completions", json={"model": "nope", "messages": MESSAGES})
    assert response.status_code == 404
    [server], clients = exported(traced, collector, 1)
    assert clients == []
    assert server.attributes["http.response.status_code"] == 404
    assert server.attributes["gateway.attempts"] == 0 and "gen_ai.request.model" not in server.attributes


def test_client_trace_is_continued_up_to_the_upstream(
    traced: RunningServer, collector: FakeCollector, fake: FakeOpenAI
) -> None:
    client_sdk = sdk(traced, traceparent=f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01", tracestate="vendor=abc",
                     baggage="tenant=acme")
    client_sdk.chat.completions.create(model="gpt-test", messages=MESSAGES)
    [server], [client] = exported(traced, collector, 1)
    assert server.trace_id == client.trace_id == CLIENT_TRACE
    assert server.parent_span_id == CLIENT_SPAN
    assert server.trace_state == "vendor=abc"
    sent = fake.last.headers
    assert traceparent(sent["traceparent"]) == (CLIENT_TRACE, client.span_id, True)
    assert sent["tracestate"] == "vendor=abc"
    assert sent["baggage"] == "tenant=acme"  # the client's baggage goes on with its trace


def test_baggage_can_be_kept_from_the_upstream(
    start_traced: TelemetryGatewayFactory, collector: FakeCollector, fake: FakeOpenAI
) -> None:
    gateway = start_traced(telemetry="propagate_baggage = false")
    sdk(gateway, traceparent=f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01", baggage="user=alice").chat.completions.create(
        model="gpt-test", messages=MESSAGES)
    assert "baggage" not in fake.last.headers  # e.g. for third-party providers
    assert traceparent(fake.last.headers["traceparent"])[0] == CLIENT_TRACE


def test_a_client_that_does_not_sample_is_honoured(
    traced: RunningServer, collector: FakeCollector, fake: FakeOpenAI
) -> None:
    sdk(traced, traceparent=f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-00").chat.completions.create(
        model="gpt-test", messages=MESSAGES
    )
    flush(traced)
    assert collector.spans() == []
    trace_id, _, sampled = traceparent(fake.last.headers["traceparent"])  # still propagated
    assert trace_id == CLIENT_TRACE and not sampled


def test_embeddings_and_completions_spans(traced: RunningServer, collector: FakeCollector) -> None:
    client_sdk = sdk(traced)
    client_sdk.embeddings.create(model="gpt-test", input=["hello world"], encoding_format="float", dimensions=4)
    client_sdk.completions.create(model="gpt-test", prompt="Say hi", max_tokens=3)
    _, clients = exported(traced, collector, 2)
    embeddings, completion = clients
    assert embeddings.name == "embeddings upstream-model"
    assert embeddings.attributes["gen_ai.operation.name"] == "embeddings"
    assert embeddings.attributes["gen_ai.request.encoding_formats"] == ["float"]
    assert embeddings.attributes["gen_ai.embeddings.dimension.count"] == 4
    assert embeddings.attributes["gen_ai.usage.input_tokens"] == 2
    assert "openai.api.type" not in embeddings.attributes
    assert completion.name == "text_completion upstream-model"
    assert completion.attributes["gen_ai.request.max_tokens"] == 3


def test_mock_provider_and_provider_name_override(
    start_traced: TelemetryGatewayFactory, collector: FakeCollector
) -> None:
    gateway = start_traced(telemetry='provider_names = { fake = "vllm" }')
    client_sdk = sdk(gateway)
    client_sdk.chat.completions.create(model="mock-model", messages=MESSAGES)
    client_sdk.chat.completions.create(model="gpt-test", messages=MESSAGES)
    _, (mock, vllm) = exported(gateway, collector, 2)
    assert mock.attributes["gen_ai.provider.name"] == "mock" and mock.attributes["gateway.provider"] == "mock"
    assert vllm.attributes["gen_ai.provider.name"] == "vllm" and vllm.attributes["gateway.provider"] == "fake"
    assert "openai.api.type" not in vllm.attributes


def test_health_checks_are_not_traced(traced: RunningServer, collector: FakeCollector) -> None:
    assert httpx.get(traced.url + "/healthz").status_code == 200
    flush(traced)
    assert collector.spans() == []


def test_a_retry_after_a_429_waits_and_says_so(
    traced: RunningServer, collector: FakeCollector, fake: FakeOpenAI
) -> None:
    fake.enqueue(Fail(429, retry_after="0.05"))
    assert httpx.post(traced.url + "/v1/chat/completions", json={"model": "gpt-test", "messages": MESSAGES}
                      ).status_code == 200
    [server], clients = exported(traced, collector, 1)
    first, second = children(server, clients)
    assert first.attributes["error.type"] == "429" and "gateway.backoff" not in first.attributes
    assert second.attributes["gateway.failover.reason"] == "429"
    assert second.attributes["gateway.backoff"] == pytest.approx(0.05)
    assert second.start_ns - first.end_ns >= 40_000_000  # the wait is the gap between the siblings


def test_the_responses_api_is_traced_as_chat(traced: RunningServer, collector: FakeCollector) -> None:
    client_sdk = sdk(traced)
    response = client_sdk.responses.create(model="gpt-test", input="What is the weather in Paris?",
                                           max_output_tokens=40)
    with client_sdk.responses.stream(model="gpt-test", input="And in Rome?") as stream:
        streamed = stream.get_final_response()
    servers, clients = exported(traced, collector, 2)
    assert [s.name for s in servers] == ["POST /v1/responses"] * 2
    for server, client, answer in zip(servers, clients, (response, streamed), strict=True):
        assert client.parent_span_id == server.span_id
        s, a = server.attributes, client.attributes
        assert s["http.route"] == "/v1/responses" and s["http.response.status_code"] == 200
        assert a["gen_ai.operation.name"] == "chat" and "gen_ai.operation.name" not in s
        assert a["gen_ai.response.finish_reasons"] == ["stop"]
        assert answer.usage is not None
        assert a["gen_ai.usage.input_tokens"] == answer.usage.input_tokens > 0
        assert a["gen_ai.usage.output_tokens"] == answer.usage.output_tokens > 0
    assert clients[0].attributes["gen_ai.request.max_tokens"] == 40
    assert servers[1].attributes["gen_ai.request.stream"] is True
    no_deprecated_names(servers + clients)
