"""Gateway keys through the whole gateway: who gets in (401), which models (403, `/v1/models`), the key's
name on what the gateway writes, the cache kept apart per key, and no key material anywhere.

Clients are the official openai and anthropic SDKs (Bearer and x-api-key) and plain httpx where the bytes
matter; the upstream is the fake OpenAI server on loopback."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from gateway.app import create_app
from gateway.config import parse_config
from tests.conftest import GatewayFactory, gateway_config
from tests.fakes.openai_compat import FakeOpenAI
from tests.support import RunningServer, closed_port, run_server

KEY_A = "sk-gw-team-a-0123456789abcdef"
KEY_B = "sk-gw-team-b-fedcba9876543210"
KEY_C = "sk-gw-team-c-hashed-only-4242"
ADMIN = "admin-key-5555-secret"
USER = [{"role": "user", "content": "hi"}]


def keys_section(tmp_path: Path, extra: str = "") -> str:
    return f"""
[limits]
spend_file = "{tmp_path / 'spend.sqlite3'}"
[admin]
key = "{ADMIN}"
[[routes]]
model = "gpt-other"
  [[routes.targets]]
  provider = "fake"
  model = "other-upstream"
[[keys]]
name = "team-a"
key = "{KEY_A}"
[[keys]]
name = "team-b"
key = "{KEY_B}"
models = ["gpt-test", "mock-*"]
[[keys]]
name = "team-c"
key_sha256 = "{hashlib.sha256(KEY_C.encode()).hexdigest()}"
models = ["mock-model"]
{extra}
"""


@pytest.fixture
def keyed(start_gateway: GatewayFactory, upstream: RunningServer, tmp_path: Path) -> RunningServer:
    return start_gateway(gateway_config(upstream.url, extra=keys_section(tmp_path)))


_OPEN: list[openai.OpenAI | anthropic.Anthropic] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def sdk(server: RunningServer, key: str) -> openai.OpenAI:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)
    _OPEN.append(client)
    return client


def claude(server: RunningServer, key: str) -> anthropic.Anthropic:
    client = anthropic.Anthropic(base_url=server.url, api_key=key, max_retries=0)
    _OPEN.append(client)
    return client


# -- who gets in ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["", "sk-not-a-gateway-key", KEY_A + "x", KEY_A[:-1]])
def test_no_key_or_an_unknown_key_is_401_on_every_endpoint(keyed: RunningServer, fake: FakeOpenAI, key: str) -> None:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    calls = [
        ("POST", "/v1/chat/completions", {"model": "gpt-test", "messages": USER}),
        ("POST", "/v1/completions", {"model": "gpt-test", "prompt": "hi"}),
        ("POST", "/v1/embeddings", {"model": "gpt-test", "input": "hi"}),
        ("GET", "/v1/models", None),
        ("GET", "/v1/models/gpt-test", None),
        ("POST", "/v1/some-endpoint-added-later", {}),
    ]
    for method, path, body in calls:
        response = httpx.request(method, keyed.url + path, json=body, headers=headers)
        assert response.status_code == 401, (path, response.text)
        error = response.json()["error"]
        assert error["code"] == "invalid_api_key" and error["type"] == "invalid_request_error", path
        assert "Authorization: Bearer" in error["message"] and (not key or key not in response.text)
    assert fake.requests == []  # nothing reached the provider


def test_the_openai_sdk_gets_its_authentication_error(keyed: RunningServer) -> None:
    with pytest.raises(openai.AuthenticationError) as info:
        sdk(keyed, "sk-wrong").chat.completions.create(model="gpt-test", messages=USER)  # type: ignore[arg-type]
    assert info.value.status_code == 401 and info.value.code == "invalid_api_key"


def test_a_known_key_is_accepted_as_bearer_and_as_x_api_key(keyed: RunningServer, fake: FakeOpenAI) -> None:
    reply = sdk(keyed, KEY_A).chat.completions.create(model="gpt-test", messages=USER)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "Hello from the fake upstream."
    response = httpx.post(keyed.url + "/v1/embeddings", json={"model": "gpt-test", "input": "hi"},
                          headers={"x-api-key": KEY_B})
    assert response.status_code == 200, response.text
    completion = httpx.post(keyed.url + "/v1/completions", json={"model": "gpt-test", "prompt": "hi"},
                            headers={"x-api-key": KEY_A})
    assert completion.status_code == 200, completion.text
    # the gateway key never goes upstream: the provider's own key does
    assert all(r.headers["authorization"] == "Bearer sk-upstream-secret-0123456789" for r in fake.requests)
    assert not any(KEY_A in str(r.headers) or KEY_B in str(r.headers) for r in fake.requests)


def test_a_key_given_only_as_its_sha256_works(keyed: RunningServer) -> None:
    reply = sdk(keyed, KEY_C).chat.completions.create(model="mock-model", messages=USER)  # type: ignore[arg-type]
    assert reply.choices[0].message.content


def test_anthropic_sdk_uses_x_api_key_and_gets_anthropic_shaped_errors(keyed: RunningServer) -> None:
    message = claude(keyed, KEY_A).messages.create(model="gpt-test", max_tokens=50, messages=USER)  # type: ignore[arg-type]
    assert message.content[0].text == "Hello from the fake upstream."  # type: ignore[union-attr]
    with pytest.raises(anthropic.AuthenticationError) as info:
        claude(keyed, "sk-ant-not-ours").messages.create(model="gpt-test", max_tokens=50, messages=USER)  # type: ignore[arg-type]
    assert info.value.status_code == 401
    assert info.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    with pytest.raises(anthropic.PermissionDeniedError) as refused:
        claude(keyed, KEY_C).messages.create(model="gpt-test", max_tokens=50, messages=USER)  # type: ignore[arg-type]
    assert refused.value.body["error"]["type"] == "permission_error"  # type: ignore[index]
    assert "gpt-test" in refused.value.body["error"]["message"]  # type: ignore[index]


def test_health_and_readiness_need_no_key(keyed: RunningServer) -> None:
    assert httpx.get(keyed.url + "/healthz").status_code == 200
    assert httpx.get(keyed.url + "/readyz").status_code == 200


def test_an_open_gateway_says_so_once_at_start(upstream: RunningServer, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway"):
        with run_server(create_app(parse_config(gateway_config(upstream.url)))) as server:
            assert httpx.post(server.url + "/v1/chat/completions", json={"model": "gpt-test", "messages": USER},
                              headers={"authorization": "Bearer whatever"}).status_code == 200
            assert httpx.get(server.url + "/v1/models").status_code == 200
    said = [r.getMessage() for r in caplog.records if "no [[keys]]" in r.getMessage()]
    assert said == ["no [[keys]] configured: this gateway takes calls from anyone who can reach it"]


# -- which models ---------------------------------------------------------------------------------------


def test_a_model_outside_the_allow_list_is_403_naming_it(keyed: RunningServer, fake: FakeOpenAI) -> None:
    with pytest.raises(openai.PermissionDeniedError) as info:
        sdk(keyed, KEY_B).chat.completions.create(model="gpt-other", messages=USER)  # type: ignore[arg-type]
    assert info.value.status_code == 403 and info.value.code == "model_not_allowed"
    assert '"gpt-other"' in info.value.message and "team-b" in info.value.message
    assert fake.requests == []
    # wildcards: mock-* lets team-b call mock-model
    assert sdk(keyed, KEY_B).chat.completions.create(model="mock-model", messages=USER)  # type: ignore[arg-type]


def test_models_lists_only_what_the_key_may_call(keyed: RunningServer) -> None:
    assert [m.id for m in sdk(keyed, KEY_A).models.list()] == ["gpt-test", "mock-model", "gpt-other"]
    assert [m.id for m in sdk(keyed, KEY_B).models.list()] == ["gpt-test", "mock-model"]
    assert [m.id for m in sdk(keyed, KEY_C).models.list()] == ["mock-model"]
    assert sdk(keyed, KEY_B).models.retrieve("gpt-test").id == "gpt-test"
    with pytest.raises(openai.NotFoundError):
        sdk(keyed, KEY_C).models.retrieve("gpt-test")


def test_an_unknown_model_lists_only_the_keys_models(keyed: RunningServer) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        sdk(keyed, KEY_C).chat.completions.create(model="nope", messages=USER)  # type: ignore[arg-type]
    assert '"mock-model"' in info.value.message and "gpt-test" not in info.value.message


def test_fallbacks_serve_a_key_that_may_not_call_them_directly(
    start_gateway: GatewayFactory, upstream: RunningServer, tmp_path: Path, fake: FakeOpenAI
) -> None:
    # Rule: the allow-list is what a key may ask for; once in, the route's fallbacks serve it as configured.
    text = gateway_config(upstream.url, extra=keys_section(tmp_path, f"""
[[providers]]
name = "dead"
type = "openai"
base_url = "http://127.0.0.1:{closed_port()}"
[[routes]]
model = "primary"
fallbacks = ["gpt-other"]
  [[routes.targets]]
  provider = "dead"
  model = "m"
[[keys]]
name = "team-d"
key = "sk-gw-team-d-000000000000"
models = ["primary"]
"""))
    server = start_gateway(text)
    client = sdk(server, "sk-gw-team-d-000000000000")
    raw = client.chat.completions.with_raw_response.create(model="primary", messages=USER)  # type: ignore[arg-type]
    assert raw.headers["x-gateway-provider"] == "fake"  # after the dead target's attempts
    assert fake.last.json["model"] == "other-upstream"  # answered by the fallback route gpt-other
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="gpt-other", messages=USER)  # type: ignore[arg-type]


# -- the cache, per key --------------------------------------------------------------------------------


def test_one_keys_cached_answers_are_never_served_to_another(
    start_gateway: GatewayFactory, upstream: RunningServer, tmp_path: Path, fake: FakeOpenAI
) -> None:
    text = gateway_config(upstream.url, extra=keys_section(tmp_path, """
[cache]
backend = "memory"
[[routes]]
model = "shared-route"
cache_shared = true
  [[routes.targets]]
  provider = "fake"
  model = "shared-upstream"
[[keys]]
name = "team-e"
key = "sk-gw-team-e-000000000000"
"""))
    server = start_gateway(text)

    def ask(key: str, model: str = "gpt-test") -> str:
        raw = sdk(server, key).chat.completions.with_raw_response.create(model=model, messages=USER)  # type: ignore[arg-type]
        return raw.headers["x-gateway-cache"]

    assert [ask(KEY_A), ask(KEY_B), ask(KEY_A), ask(KEY_B)] == ["miss", "miss", "hit", "hit"]
    assert len(fake.requests_to("/v1/chat/completions")) == 2
    # a route that opts into a shared cache: one entry for every key
    assert [ask(KEY_A, "shared-route"), ask("sk-gw-team-e-000000000000", "shared-route")] == ["miss", "hit"]
    assert len(fake.requests_to("/v1/chat/completions")) == 3


# -- admin ---------------------------------------------------------------------------------------------


def test_admin_endpoints_take_the_admin_key_never_a_gateway_key(keyed: RunningServer) -> None:
    for path in ("/admin/usage", "/admin/status"):
        assert httpx.get(keyed.url + path, headers={"authorization": f"Bearer {KEY_A}"}).status_code == 401
        assert httpx.get(keyed.url + path, headers={"x-api-key": "wrong"}).status_code == 401
        assert httpx.get(keyed.url + path, headers={"authorization": f"Bearer {ADMIN}"}).status_code == 200
        assert httpx.get(keyed.url + path, headers={"x-api-key": ADMIN}).status_code == 200
    denied = httpx.get(keyed.url + "/admin/usage", headers={"x-api-key": KEY_A})
    assert KEY_A not in denied.text and ADMIN not in denied.text


# -- the key's name on what the gateway writes, never the key -------------------------------------------


def test_key_names_in_the_access_log_and_no_key_material_anywhere(
    start_gateway: GatewayFactory, upstream: RunningServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = gateway_config(upstream.url, extra=keys_section(tmp_path))
    text = text.replace("[server]\n", "[server]\naccess_log = true\n")
    server = start_gateway(text)
    bodies: list[str] = []
    with caplog.at_level(logging.DEBUG):
        for key in (KEY_A, KEY_B, "sk-gw-unknown-key-999999"):
            for model in ("gpt-test", "gpt-other", "nope"):
                response = httpx.post(server.url + "/v1/chat/completions", json={"model": model, "messages": USER},
                                      headers={"authorization": f"Bearer {key}"})
                bodies.append(response.text + str(response.headers))
        bodies.append(httpx.get(server.url + "/admin/usage", headers={"x-api-key": ADMIN}).text)
    lines = [r.getMessage() for r in caplog.records if r.name == "gateway.access"]
    assert any("key=team-a" in line and "route=gpt-test" in line and "200" in line for line in lines), lines
    assert any("key=team-b" in line and "refused=model_not_allowed" in line and " 403 " in line for line in lines)
    assert any("refused=invalid_api_key" in line and " 401 " in line for line in lines)
    everything = "\n".join(bodies) + "\n".join(r.getMessage() for r in caplog.records)
    for secret in (KEY_A, KEY_B, KEY_C, ADMIN, "sk-gw-unknown-key-999999", "sk-upstream-secret-0123456789"):
        assert secret not in everything
