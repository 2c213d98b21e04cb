"""Schemathesis against a live gateway (`gateway serve`, the offline mock provider), driven by the gateway's own
OpenAPI document from `GET /openapi.json`: every operation, valid and invalid input, a fixed seed and a fixed
example budget. No 5xx, no hang (a request that takes longer than the client timeout fails the test), every
error in OpenAI's shape (Anthropic's on /v1/messages), every answer valid against the document."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.openapi import DOCUMENT
from tests.support import serve

ADMIN = "fuzz-admin-key"
ROUTES = ["chat-model", "embed-model"]
EXAMPLES = 20  # per operation and mode: ~15 operations x 2 modes x 12 stays well within a minute
CONFIG = f"""
[server]
max_request_bytes = 65536

[admin]
key = "{ADMIN}"

[cache]
backend = "memory"

[[providers]]
name = "mock"
type = "mock"

[[routes]]
model = "chat-model"
  [[routes.targets]]
  provider = "mock"
  model = "mock-chat"

[[routes]]
model = "embed-model"
  [[routes.targets]]
  provider = "mock"
  model = "mock-embedding"
"""
OPERATIONS = sorted((method.upper(), path) for path, item in DOCUMENT["paths"].items() for method in item)
# invalid input: the operations that take a body (a path parameter that is any string cannot be invalid)
CASES = [(m, p, GenerationMode.POSITIVE) for m, p in OPERATIONS] + [
    (m, p, GenerationMode.NEGATIVE) for m, p in OPERATIONS if "requestBody" in DOCUMENT["paths"][p][m.lower()]]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    where = tmp_path_factory.mktemp("openapi")
    (where / "gateway.toml").write_text(CONFIG)
    with serve("--config", str(where / "gateway.toml"), cwd=where) as (_, url):
        yield url


@pytest.fixture(scope="module")
def api(gateway_url: str) -> Any:
    schema = schemathesis.openapi.from_url(gateway_url + "/openapi.json")
    schema.config.update(base_url=gateway_url, headers={"authorization": f"Bearer {ADMIN}"}, request_timeout=20)

    @schema.hook
    def map_body(context: Any, body: Any) -> Any:
        # Half the requests name a configured route, so valid input gets past routing to the provider.
        if isinstance(body, dict) and isinstance(body.get("model"), str) and len(body["model"]) % 2 == 0:
            return {**body, "model": ROUTES[len(body["model"]) % 4 // 2]}
        return body

    return schema


def check_error_shape(response: Any, path: str) -> None:
    """What every refusal looks like, whatever the document says: JSON, OpenAI's error object."""
    if response.status_code < 400 or path.startswith("/admin/reload"):
        return
    assert response.status_code < 500, (response.status_code, response.text[:500])
    body = response.json()
    if path == "/v1/messages":
        assert body["type"] == "error" and isinstance(body["error"]["message"], str), body
    elif path != "/readyz":
        assert set(body["error"]) >= {"message", "type", "param", "code"}, body
        assert "Traceback" not in body["error"]["message"]


@pytest.mark.parametrize(("method", "path", "mode"), CASES, ids=[f"{m} {p} {g.value}" for m, p, g in CASES])
def test_operation(api: Any, method: str, path: str, mode: GenerationMode) -> None:
    operation = api[path][method]

    @seed(18)
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call()
        case.validate_response(response, checks=CHECKS)
        check_error_shape(response, path)

    run()


def test_stored_responses_statefully(api: Any) -> None:
    """The Responses API as a state machine: create, then read, list the input of and delete what was
    created (the document's links), in the orders Hypothesis picks."""

    seen: list[tuple[str, str, int]] = []

    class Machine(api.as_state_machine()):  # type: ignore[misc]
        def validate_response(self, response: Any, case: Any, *args: Any, **kwargs: Any) -> None:
            seen.append((case.method, case.operation.path, response.status_code))
            case.validate_response(response, checks=CHECKS)
            check_error_shape(response, case.operation.path)

    Machine.run(settings=settings(max_examples=60, stateful_step_count=8, deadline=None, database=None,
                                  derandomize=True, suppress_health_check=list(HealthCheck)))
    # the links were followed: responses were created, then read, listed or deleted by the ids they returned
    assert ("POST", "/v1/responses", 200) in seen
    assert any(path.startswith("/v1/responses/") for _, path, _ in seen), seen


def test_document_is_served_and_covers_every_route(gateway_url: str) -> None:
    served = httpx.get(gateway_url + "/openapi.json").json()
    assert served["openapi"].startswith("3.1")
    assert {"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/messages", "/v1/responses",
            "/v1/responses/{response_id}", "/v1/responses/{response_id}/input_items", "/v1/models",
            "/v1/models/{model}", "/healthz", "/readyz", "/admin/status", "/admin/usage", "/admin/reload",
            "/admin/cache/purge"} <= set(served["paths"])


POSTS = sorted(path for path, item in DOCUMENT["paths"].items() if "post" in item)


@pytest.mark.parametrize("path", POSTS)
def test_bodies_that_are_not_json_objects(gateway_url: str, path: str) -> None:
    """Bytes Schemathesis would not send: not JSON, not UTF-8, JSON that is not an object."""
    with httpx.Client(base_url=gateway_url, headers={"authorization": f"Bearer {ADMIN}"}) as client:

        @settings(max_examples=25, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(st.one_of(st.binary(max_size=64), st.sampled_from(
            [b"\xff\xfe{}", b'{"model": "chat-model", "messages": [{"role": "user", "content": "\xc3\x28"}]}',
             b"[]", b"null", b"1e999", b'"x"', b'{"model": "chat-model"' + b"[" * 5000])))
        def run(raw: bytes) -> None:
            response = client.post(path, content=raw, headers={"content-type": "application/json"})
            check_error_shape(response, path)

        run()
