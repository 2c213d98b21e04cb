"""What reaches an upstream: never the client's hop-by-hop headers, credentials or cookies, and never an address the
config does not name (`x-gateway-target` picks among configured targets only). Asserted on what the fake
upstreams received."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import UPSTREAM_KEY, GatewayFactory, gateway_config
from tests.fakes.openai_compat import FakeOpenAI
from tests.support import RunningServer, run_server

GATEWAY_KEY = "gw-key-forwarding-0123456789"
KEYS = f"""
[limits]
spend_file = ""  # in memory: the default file would land in the directory the tests run from

[[keys]]
name = "team"
key = "{GATEWAY_KEY}"
"""
USER = [{"role": "user", "content": "hi"}]
HOSTILE = {
    "connection": "keep-alive, x-hop-secret",  # x-hop-secret is hop-by-hop because Connection names it
    "x-hop-secret": "hop-value-1",
    "keep-alive": "timeout=5, max=1000",
    "te": "trailers",
    "trailer": "x-trailer-secret",
    "upgrade": "h2c",
    "proxy-authorization": "Basic cHJveHktc2VjcmV0",
    "proxy-connection": "keep-alive",
    "cookie": "session=cookie-secret",
    "forwarded": "for=10.0.0.1;secret=forwarded-secret",
}
SECRETS = [GATEWAY_KEY, "hop-value-1", "cHJveHktc2VjcmV0", "cookie-secret", "forwarded-secret", "x-trailer-secret"]
NEVER = {"x-hop-secret", "keep-alive", "te", "trailer", "upgrade", "proxy-authorization", "proxy-connection", "cookie",
         "x-api-key", "forwarded"}
CALLS = [
    ("/v1/chat/completions", {"model": "gpt-test", "messages": USER}),
    ("/v1/chat/completions", {"model": "gpt-test", "messages": USER, "stream": True}),
    ("/v1/completions", {"model": "gpt-test", "prompt": "hi"}),
    ("/v1/embeddings", {"model": "gpt-test", "input": "hi"}),
    ("/v1/messages", {"model": "gpt-test", "max_tokens": 10, "messages": USER}),
    ("/v1/responses", {"model": "gpt-test", "input": "hi"}),
]


@pytest.fixture
def keyed(start_gateway: GatewayFactory, upstream: RunningServer) -> RunningServer:
    return start_gateway(gateway_config(upstream.url, extra=KEYS))


@pytest.mark.parametrize("auth", ["authorization", "x-api-key"])
@pytest.mark.parametrize(("path", "body"), CALLS, ids=[f"{p} {'stream' if b.get('stream') else ''}" for p, b in CALLS])
def test_client_hop_by_hop_and_auth_headers_never_reach_the_upstream(
    keyed: RunningServer, fake: FakeOpenAI, auth: str, path: str, body: dict[str, Any]
) -> None:
    credential = f"Bearer {GATEWAY_KEY}" if auth == "authorization" else GATEWAY_KEY
    response = httpx.post(keyed.url + path, json=body, headers={**HOSTILE, auth: credential}, timeout=10)
    assert response.status_code == 200, response.text
    received = fake.last.headers
    assert received["authorization"] == f"Bearer {UPSTREAM_KEY}"  # the provider's key, not the client's
    assert not NEVER & set(received), NEVER & set(received)
    for name, value in received.items():
        for secret in SECRETS:
            assert secret not in value, f"{secret!r} reached the upstream in {name}"


@pytest.fixture
def bystander() -> Iterator[tuple[FakeOpenAI, RunningServer]]:
    """An OpenAI-compatible server that the config does not name."""
    fake = FakeOpenAI()
    with run_server(fake.app) as server:
        yield fake, server


def test_x_gateway_target_cannot_point_anywhere_else(
    start_gateway: GatewayFactory, upstream: RunningServer, fake: FakeOpenAI,
    bystander: tuple[FakeOpenAI, RunningServer],
) -> None:
    other, server = bystander
    gateway = start_gateway(gateway_config(upstream.url))
    host_port = server.url.removeprefix("http://")
    pins = [server.url, server.url + "/v1", host_port, f"fake@{host_port}", f"{server.url}/fake", "fake/../mock",
            "fake/other-model", "mock", "mock/mock-upstream", "nobody", "fake/upstream-model/../../x", "*", "fake/*",
            "fake/", "FAKE", "fake\tx"]
    for pin in pins:
        response = httpx.post(gateway.url + "/v1/chat/completions", json={"model": "gpt-test", "messages": USER},
                              headers={"x-gateway-target": pin},
                              timeout=10)
        assert response.status_code == 400, (pin, response.text)
        error = response.json()["error"]
        assert error["param"] == "x-gateway-target" and "is not a target" in error["message"]
    assert other.requests == [] and fake.requests == []
    pinned = httpx.post(gateway.url + "/v1/chat/completions", json={"model": "gpt-test", "messages": USER},
                        headers={"x-gateway-target": "fake/upstream-model"}, timeout=10)
    assert pinned.status_code == 200 and pinned.headers["x-gateway-provider"] == "fake"
    assert len(fake.requests) == 1 and other.requests == []
