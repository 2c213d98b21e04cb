"""A real tracing backend: Arize Phoenix, from pip, on loopback, asserted through Phoenix's own API.

Opt-in (marker ``phoenix``): set ``GATEWAY_PHOENIX`` to a ``phoenix`` executable installed in a venv of its own
(Phoenix brings ~150 packages and pins of its own; the gateway's venv stays as it is)::

    python3 -m venv .venv-phoenix && .venv-phoenix/bin/pip install arize-phoenix
    GATEWAY_PHOENIX=.venv-phoenix/bin/phoenix .venv/bin/pytest -m phoenix

``.ci/run`` does both. Without ``GATEWAY_PHOENIX`` the test is skipped.

One gateway exports OTLP/HTTP to one Phoenix (fresh working dir, external resources and Phoenix's own telemetry
off), with ``capture_content = true``. Through it go a chat, a stream, a tool call, an embedding and a failover
(the first target answers 500, the second answers); each request's trace id is the one the gateway sent the
fake upstream in ``traceparent``. Phoenix must then show, by its REST API (spans, their kinds and attributes)
and its GraphQL API (the per-trace token totals its UI shows on the root span):

- one trace per request, and nothing else;
- the LLM span kind for chat calls, EMBEDDING for the embedding;
- per trace, the total prompt/completion tokens equal to the usage the client got (counted once, not doubled;
  Phoenix sums LLM spans only, so an embedding's tokens are on its EMBEDDING span and its trace totals 0);
- the messages, the tool definitions and the tool call on the LLM span.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import GatewayFactory, gateway_config
from tests.fakes.openai_compat import Fail, FakeOpenAI
from tests.support import RunningServer, free_port, run_server
from tests.telemetry.conftest import flush, telemetry_section

pytestmark = pytest.mark.phoenix

ENV = "GATEWAY_PHOENIX"
STARTUP_TIMEOUT_S = 90.0
MESSAGES = [{"role": "system", "content": "You are terse."},
            {"role": "user", "content": "What is the weather in Paris?"}]
STORY = "Tell me a story, please."
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city, now.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}}]


@dataclass
class Phoenix:
    """``phoenix serve`` on loopback free ports, in a working dir of its own; nothing leaves the machine."""

    url: str
    process: subprocess.Popen[bytes]
    workdir: Path
    log: Path

    @classmethod
    def start(cls, executable: str, workdir: Path, port: int | None = None) -> Phoenix:
        port = port or free_port()
        log = workdir / "phoenix.log"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PHOENIX_", "OTEL_"))},
            "PHOENIX_HOST": "127.0.0.1",
            "PHOENIX_PORT": str(port),
            "PHOENIX_GRPC_PORT": str(free_port()),
            "PHOENIX_WORKING_DIR": str(workdir),
            "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",  # the UI loads no fonts or scripts from the internet
            "PHOENIX_TELEMETRY_ENABLED": "false",  # no usage reports to Arize
            "PHOENIX_ENABLE_AUTH": "false",
        }
        with log.open("wb") as out:
            process = subprocess.Popen([executable, "serve"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, cwd=workdir)
        phoenix = cls(url=f"http://127.0.0.1:{port}", process=process, workdir=workdir, log=log)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            try:
                if httpx.get(phoenix.url + "/healthz", timeout=1).status_code == 200:
                    return phoenix
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                phoenix.stop()
                raise AssertionError(f"phoenix did not start:\n{log.read_text(errors='replace')[-4000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    # ------------------------------------------------------------------ Phoenix's own API

    def spans(self, project: str = "default") -> list[dict[str, Any]]:
        """Every span of the project (REST ``GET /v1/projects/{project}/spans``): name, context, span_kind,
        parent_id, status_code, attributes (flat: the span's own and the OpenInference names Phoenix derives from
        the GenAI conventions, such as ``llm.token_count.prompt`` or ``llm.input_messages.0.message.role``)."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            response = httpx.get(f"{self.url}/v1/projects/{project}/spans", params=params, timeout=10)
            if response.status_code == 404:  # no span has arrived yet: the project does not exist
                return []
            response.raise_for_status()
            body = response.json()
            found += body["data"]
            cursor = body.get("next_cursor")
            if not cursor:
                return found

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        response = httpx.post(self.url + "/graphql", json={"query": query, "variables": variables}, timeout=10)
        response.raise_for_status()
        body = response.json()
        assert not body.get("errors"), body["errors"]
        return body["data"]

    def root_token_totals(self, project: str = "default") -> dict[str, tuple[int, int, int]]:
        """Per trace id, the cumulative (prompt, completion, total) tokens of its root span, as the UI's traces
        table shows them."""
        data = self.graphql("""
            query {
              projects(first: 50) { edges { node { name
                spans(first: 1000, filterCondition: "parent_id is None") { edges { node {
                  context { traceId }
                  cumulativeTokenCountPrompt cumulativeTokenCountCompletion cumulativeTokenCountTotal
                } } }
              } } }
            }""")
        [node] = [e["node"] for e in data["projects"]["edges"] if e["node"]["name"] == project]
        return {
            s["context"]["traceId"]: (int(s["cumulativeTokenCountPrompt"] or 0),
                                      int(s["cumulativeTokenCountCompletion"] or 0),
                                      int(s["cumulativeTokenCountTotal"] or 0))
            for s in (e["node"] for e in node["spans"]["edges"])
        }


def phoenix_executable() -> str:
    value = os.environ.get(ENV)
    if not value:
        pytest.skip(f"opt-in: set {ENV} to a phoenix executable (python3 -m venv .venv-phoenix && "
                    f".venv-phoenix/bin/pip install arize-phoenix; {ENV}=.venv-phoenix/bin/phoenix), as .ci/run does")
    path = shutil.which(value)
    assert path, f"{ENV}={value!r} is not an executable phoenix"
    return os.path.abspath(path)  # Phoenix runs in a directory of its own


@pytest.fixture(scope="module")
def phoenix() -> Iterator[Phoenix]:
    executable = phoenix_executable()
    with tempfile.TemporaryDirectory(prefix="gateway-phoenix-") as workdir:
        server = Phoenix.start(executable, Path(workdir))
        try:
            yield server
        finally:
            server.stop()


def phoenix_gateway_config(upstream_url: str, broken_url: str, phoenix_url: str) -> str:
    """The tests' usual gateway config (route `gpt-test` to the fake upstream), exporting to Phoenix with
    content capture on, plus `embed-test` (embeddings) and `failover-test` (a broken target first)."""
    extra = f"""
[[providers]]
name = "broken"
type = "openai"
base_url = "{broken_url}"
api_key = "sk-broken"
[[routes]]
model = "embed-test"
  [[routes.targets]]
  provider = "fake"
  model = "text-embedding-3-small"
[[routes]]
model = "failover-test"
  [[routes.targets]]
  provider = "broken"
  model = "broken-model"
  weight = 1000000
  [[routes.targets]]
  provider = "fake"
  model = "upstream-model"
  weight = 0.000001
"""
    telemetry = telemetry_section(phoenix_url, 'capture_content = true\notlp_metrics = false\n'
                                               'service_name = "llm-gateway"')
    return gateway_config(upstream_url, extra=telemetry + extra)


def trace_of(fake: FakeOpenAI) -> str:
    """The trace id of the request the fake upstream answered last (the gateway sends its `traceparent`)."""
    return fake.last.headers["traceparent"].split("-")[1]


def wait_for(phoenix: Phoenix, gateway: RunningServer, traces: set[str], spans: int) -> list[dict[str, Any]]:
    """Phoenix's spans once `spans` of them, in the given traces, are stored (it ingests in batches)."""
    flush(gateway)
    deadline = time.monotonic() + 20
    while True:
        found = phoenix.spans()
        if len([s for s in found if s["context"]["trace_id"] in traces]) >= spans or time.monotonic() > deadline:
            return found
        time.sleep(0.25)


def test_phoenix_shows_one_trace_per_request_with_llm_spans_tokens_and_content(
    phoenix: Phoenix, start_gateway: GatewayFactory, upstream: RunningServer, fake: FakeOpenAI
) -> None:
    broken_fake = FakeOpenAI()
    broken_fake.always = Fail(500)
    with run_server(broken_fake.app) as broken:
        gateway = start_gateway(phoenix_gateway_config(upstream.url, broken.url, phoenix.url))
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="client-key", max_retries=0)
        usage: dict[str, tuple[int, int]] = {}  # trace id -> (prompt, completion) tokens the client got
        kinds: dict[str, str] = {}  # trace id -> the span kind its upstream call must have in Phoenix

        chat = client.chat.completions.create(model="gpt-test", messages=MESSAGES)
        assert chat.usage is not None and chat.choices[0].message.content == fake.reply
        trace = trace_of(fake)
        usage[trace], kinds[trace] = (chat.usage.prompt_tokens, chat.usage.completion_tokens), "LLM"
        chat_trace = trace

        chunks = list(client.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": STORY}], stream=True,
            stream_options={"include_usage": True}))
        [final] = [c for c in chunks if c.usage is not None]
        assert final.usage is not None
        trace = trace_of(fake)
        usage[trace], kinds[trace] = (final.usage.prompt_tokens, final.usage.completion_tokens), "LLM"
        stream_trace = trace

        tool = client.chat.completions.create(model="gpt-test", messages=MESSAGES, tools=TOOLS)  # type: ignore[arg-type]
        assert tool.usage is not None and tool.choices[0].finish_reason == "tool_calls"
        trace = trace_of(fake)
        usage[trace], kinds[trace] = (tool.usage.prompt_tokens, tool.usage.completion_tokens), "LLM"
        tool_trace = trace

        embedding = client.embeddings.create(model="embed-test", input="the weather in Paris")
        trace = trace_of(fake)
        usage[trace], kinds[trace] = (embedding.usage.prompt_tokens, 0), "EMBEDDING"
        embedding_trace = trace

        failover = client.chat.completions.with_raw_response.create(model="failover-test", messages=MESSAGES)
        assert failover.headers["x-gateway-attempts"] == "2"
        answer = failover.parse()
        assert answer.usage is not None
        trace = trace_of(fake)
        usage[trace], kinds[trace] = (answer.usage.prompt_tokens, answer.usage.completion_tokens), "LLM"
        failover_trace = trace
        assert len(broken_fake.requests_to("/v1/chat/completions")) == 1

        # Per trace: the SERVER span and one CLIENT span per attempt (two for the failover).
        expected_spans = {t: 3 if t == failover_trace else 2 for t in usage}
        spans = wait_for(phoenix, gateway, set(usage), sum(expected_spans.values()))
        client.close()

    # One trace per request, and nothing else (health checks are not traced).
    by_trace: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        by_trace.setdefault(span["context"]["trace_id"], []).append(span)
    assert set(by_trace) == set(usage), {t: [s["name"] for s in ss] for t, ss in by_trace.items()}
    answered: dict[str, dict[str, Any]] = {}  # trace id -> the attempt span that answered, its attributes
    for trace, trace_spans in by_trace.items():
        assert len(trace_spans) == expected_spans[trace], [s["name"] for s in trace_spans]
        [root] = [s for s in trace_spans if s["parent_id"] is None]  # one root: the SERVER span ...
        attempts = [s for s in trace_spans if s is not root]
        assert root["name"].startswith("POST /v1/")
        assert root["span_kind"] not in ("LLM", "EMBEDDING"), root["span_kind"]  # one LLM call per attempt only
        assert all(s["parent_id"] == root["context"]["span_id"] for s in attempts)  # ... the attempts below it
        # Every upstream attempt has the span kind of its operation (chat: LLM; embeddings: EMBEDDING).
        assert [s["span_kind"] for s in attempts] == [kinds[trace]] * len(attempts), [
            (s["name"], s["span_kind"]) for s in attempts]
        [ok] = [s for s in attempts if s["status_code"] != "ERROR"]
        answered[trace] = ok["attributes"]
        # Tokens: on the attempt that answered, the client's usage; on no other span of the trace.
        prompt, completion = usage[trace]
        assert ok["attributes"].get("llm.token_count.prompt") == prompt, ok["attributes"]
        if kinds[trace] == "LLM":
            assert ok["attributes"].get("llm.token_count.completion") == completion, ok["attributes"]
        for other in trace_spans:
            if other is not ok:
                counted = {k: v for k, v in other["attributes"].items() if k.startswith("llm.token_count.")}
                assert not counted, (other["name"], other["span_kind"], counted)

    # The failover: the first attempt failed (an ERROR span, the upstream's 500), the second answered.
    failed = [s for s in by_trace[failover_trace] if s["status_code"] == "ERROR"]
    assert [(s["attributes"].get("error.type"), s["parent_id"] is not None) for s in failed] == [("500", True)]

    # Per trace, the totals Phoenix shows (its root span's cumulative counts, summed over LLM spans) are the
    # client's usage: counted once, not doubled. (Phoenix sums LLM spans only: an embedding's trace shows 0.)
    totals = phoenix.root_token_totals()
    assert set(totals) == set(usage)
    for trace, (prompt, completion) in usage.items():
        expected = (prompt, completion, prompt + completion) if kinds[trace] == "LLM" else (0, 0, 0)
        assert totals[trace] == expected, (trace, kinds[trace], totals[trace], usage[trace])

    # Content (capture_content): the messages in and out and the tool definitions, on the LLM spans.
    def messages(attributes: dict[str, Any], direction: str) -> list[tuple[str, str | None]]:
        found = []
        while (role := attributes.get(f"llm.{direction}_messages.{len(found)}.message.role")) is not None:
            found.append((role, attributes.get(f"llm.{direction}_messages.{len(found)}.message.content")))
        return found

    for trace in (chat_trace, tool_trace, failover_trace):
        assert messages(answered[trace], "input") == [(m["role"], m["content"]) for m in MESSAGES]
    assert messages(answered[stream_trace], "input") == [("user", STORY)]
    for trace in (chat_trace, stream_trace, failover_trace):
        assert messages(answered[trace], "output") == [("assistant", fake.reply)]
    tool_span = answered[tool_trace]
    schema = json.loads(tool_span["llm.tools.0.tool.json_schema"])
    assert schema["function"]["name"] == "get_weather"
    assert schema["function"]["parameters"] == TOOLS[0]["function"]["parameters"]
    assert "llm.tools.1.tool.json_schema" not in tool_span
    assert messages(tool_span, "output") == [("assistant", None)]
    call = "llm.output_messages.0.message.tool_calls.0.tool_call"
    assert tool_span[f"{call}.function.name"] == "get_weather"
    assert json.loads(tool_span[f"{call}.function.arguments"]) == {"city": "Paris"}
    assert answered[embedding_trace]["embedding.model_name"] == "text-embedding-3-small"
