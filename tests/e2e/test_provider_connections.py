"""A provider's connection settings do what config.example.toml says: `connect_timeout_s` bounds connecting
(a server whose accept queue is full never completes the handshake), `keepalive_s` how long an idle pooled
connection is kept; and the mock provider's `embedding_dim` sizes its embeddings."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.app import create_app
from gateway.config import parse_config
from tests.support import run_server

BODY: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def config(base_url: str, provider: str = "") -> str:
    return (f'[[providers]]\nname = "p"\ntype = "openai"\nbase_url = "{base_url}"\n{provider}\n'
            '[[routes]]\nmodel = "m"\nretries_per_target = 0\n  [[routes.targets]]\n  provider = "p"\n  model = "x"\n')


@pytest.fixture
def full_port() -> Iterator[int]:
    """A port whose listener never accepts and whose accept queue is full: a new connection hangs in its
    handshake (the kernel drops the SYN), as with an overloaded or firewalled upstream."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        try:
            filler.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(filler)
    time.sleep(0.2)
    try:
        yield port
    finally:
        for sock in (*fillers, listener):
            sock.close()


def test_connect_timeout_s_bounds_the_handshake(full_port: int) -> None:
    for setting, says in (("connect_timeout_s = 0.3", "could not connect to provider p in time (connect_timeout_s)"),
                          ("connect_timeout_s = 30", "provider p did not answer within 2.0 s")):
        text = config(f"http://127.0.0.1:{full_port}/v1", f"{setting}\ntimeout_s = 2")
        with run_server(create_app(parse_config(text))) as gateway:
            answer = httpx.post(gateway.url + "/v1/chat/completions", json=BODY, timeout=20)
        assert answer.status_code == 504 and answer.json()["error"]["message"].startswith(says), answer.text


def test_keepalive_s_is_how_long_an_idle_connection_is_kept() -> None:
    ports: list[int] = []

    async def chat(request: Request) -> JSONResponse:
        assert request.client is not None
        ports.append(request.client.port)  # one client port per connection the gateway opened
        return JSONResponse({"id": "c", "object": "chat.completion", "created": 0, "model": "x", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]})

    upstream = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
    with run_server(upstream) as fake:
        for keepalive, reused in ((30, True), (0.2, False)):
            ports.clear()
            with run_server(create_app(parse_config(config(fake.url + "/v1", f"keepalive_s = {keepalive}")))) as gw:
                for _ in range(2):
                    assert httpx.post(gw.url + "/v1/chat/completions", json=BODY).status_code == 200
                    time.sleep(1.0)  # idle: past 0.2 s, within 30 s
            assert (ports[0] == ports[1]) is reused, (keepalive, ports)


def test_the_mock_providers_embedding_dim() -> None:
    text = ('[[providers]]\nname = "mock"\ntype = "mock"\nembedding_dim = 5\n[[routes]]\nmodel = "e"\n'
            '  [[routes.targets]]\n  provider = "mock"\n  model = "mock-embed"\n')
    with run_server(create_app(parse_config(text))) as gateway:
        answer = httpx.post(gateway.url + "/v1/embeddings", json={"model": "e", "input": ["a", "b"]})
    assert answer.status_code == 200, answer.text
    assert [len(item["embedding"]) for item in answer.json()["data"]] == [5, 5]


def test_an_upstreams_cookies_are_never_sent_on() -> None:
    """An upstream that sets a cookie (api.openai.com does) never gets it back: the gateway keeps no cookie jar,
    so one client's upstream cookies cannot ride along in another client's request."""
    seen: list[str | None] = []

    async def chat(request: Request) -> JSONResponse:
        seen.append(request.headers.get("cookie"))
        answer = JSONResponse({"id": "c", "object": "chat.completion", "created": 0, "model": "x", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]})
        answer.set_cookie("__cf_bm", "from-the-first-answer", path="/", domain=None)
        return answer

    upstream = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
    with run_server(upstream) as fake:
        # by name: aiohttp's default jar ignores cookies from an IP address, not from a host name
        base_url = fake.url.replace("127.0.0.1", "localhost") + "/v1"
        with run_server(create_app(parse_config(config(base_url)))) as gateway:
            for key in ("client-a", "client-b"):
                answer = httpx.post(gateway.url + "/v1/chat/completions", json=BODY,
                                    headers={"authorization": f"Bearer {key}"})
                assert answer.status_code == 200
    assert seen == [None, None]
