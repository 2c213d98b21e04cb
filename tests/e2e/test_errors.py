"""Bad input and failing upstreams: always OpenAI's error shape, the right status, and no secrets."""

from __future__ import annotations

import logging

import httpx
import openai
import pytest

from gateway.app import create_app
from gateway.config import parse_config
from tests.conftest import UPSTREAM_KEY, GatewayFactory, dead_first_route, gateway_config
from tests.fakes.openai_compat import Fail, FakeOpenAI, ResetServer, Stall
from tests.support import RunningServer, closed_port, run_server

MESSAGES = [{"role": "user", "content": "hi"}]


def error_of(response: httpx.Response) -> dict[str, object]:
    body = response.json()
    assert set(body) == {"error"}
    assert {"message", "type", "param", "code"} <= set(body["error"])
    return body["error"]


def post(gateway: RunningServer, path: str = "/v1/chat/completions", **kwargs: object) -> httpx.Response:
    return httpx.post(gateway.url + path, timeout=10, **kwargs)


def test_malformed_json_is_400(gateway: RunningServer) -> None:
    response = post(gateway, content=b'{"model": "gpt-test", "messages": [')
    assert response.status_code == 400
    assert "JSON" in str(error_of(response)["message"])


def test_non_object_body_is_400(gateway: RunningServer) -> None:
    assert post(gateway, json=[1, 2]).status_code == 400


@pytest.mark.parametrize(
    ("body", "param"),
    [({"model": "gpt-test"}, "messages"), ({"messages": MESSAGES}, "model"), ({"model": "gpt-test", "messages": "x"},
                                                                                "messages")],
)
def test_missing_or_wrong_typed_field_is_400_naming_it(gateway: RunningServer, body: dict[str, object],
                                                       param: str) -> None:
    response = post(gateway, json=body)
    assert response.status_code == 400
    error = error_of(response)
    assert error["param"] == param and param in str(error["message"])
    assert error["type"] == "invalid_request_error"


def test_unknown_model_is_404_listing_available(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-5-nope", messages=MESSAGES)
    assert info.value.code == "model_not_found"
    assert '"gpt-test"' in info.value.message and '"mock-model"' in info.value.message


def test_body_over_limit_is_413(gateway: RunningServer) -> None:
    big = {"model": "gpt-test", "messages": [{"role": "user", "content": "x" * 70_000}]}
    response = post(gateway, json=big)
    assert response.status_code == 413
    assert "max_request_bytes" in str(error_of(response)["message"])

    def chunked() -> object:
        yield b'{"model": "gpt-test", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"y" * 10_000
        yield b'"}]}'

    assert post(gateway, content=chunked()).status_code == 413  # no Content-Length: counted while reading


def test_upstream_error_passes_through_with_status_and_message(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    fake.enqueue(Fail(400, {"error": {"message": "temperature is out of range", "type": "invalid_request_error",
                                      "param": "temperature", "code": "bad_temp"}}))
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="gpt-test", messages=MESSAGES)
    assert info.value.message.endswith("temperature is out of range")
    assert info.value.code == "bad_temp" and info.value.param == "temperature"
    assert info.value.response.headers["x-gateway-provider"] == "fake"
    assert len(fake.requests) == 1  # a 4xx is the client's problem: not retried


def test_provider_key_is_scrubbed_from_upstream_errors(gateway: RunningServer, fake: FakeOpenAI,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake.enqueue(Fail(401, {"error": {"message": f"Incorrect API key provided: {UPSTREAM_KEY}.",
                                      "type": "invalid_request_error", "code": "invalid_api_key"}}))
    response = post(gateway, json={"model": "gpt-test", "messages": MESSAGES})
    assert response.status_code == 401
    assert UPSTREAM_KEY not in response.text
    assert "Incorrect API key provided: ***" in str(error_of(response)["message"])
    assert UPSTREAM_KEY not in caplog.text


def test_upstream_unreachable_is_502(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway(gateway_config(f"http://127.0.0.1:{closed_port()}/v1"))
    response = post(gateway, json={"model": "gpt-test", "messages": MESSAGES})
    assert response.status_code == 502
    assert error_of(response)["code"] == "upstream_unreachable"
    assert "fake" in str(error_of(response)["message"])


def test_upstream_reset_is_502(start_gateway: GatewayFactory) -> None:
    with ResetServer() as reset:
        gateway = start_gateway(gateway_config(reset.url))
        response = post(gateway, json={"model": "gpt-test", "messages": MESSAGES})
    assert response.status_code == 502


def test_upstream_timeout_is_504(start_gateway: GatewayFactory, upstream: RunningServer, fake: FakeOpenAI) -> None:
    gateway = start_gateway(gateway_config(upstream.url).replace("timeout_s = 5", "timeout_s = 0.5"))
    fake.enqueue(Stall(3))
    response = post(gateway, json={"model": "gpt-test", "messages": MESSAGES})
    assert response.status_code == 504
    assert error_of(response)["code"] == "upstream_timeout"
    fake.enqueue(Stall(3))
    stream = post(gateway, json={"model": "gpt-test", "messages": MESSAGES, "stream": True})
    assert stream.status_code == 504


def test_upstream_non_json_answer_is_502(gateway: RunningServer, fake: FakeOpenAI) -> None:
    fake.enqueue(Fail(200, "<html>not json</html>"), Fail(200, "<html>still not json</html>"))
    response = post(gateway, json={"model": "gpt-test", "messages": MESSAGES})
    assert response.status_code == 502
    assert response.headers["x-gateway-attempts"] == "2"  # retried once, then given up
    assert error_of(response)["code"] == "upstream_protocol_error"


def test_unknown_path_and_method_are_openai_shaped(gateway: RunningServer) -> None:
    missing = httpx.get(gateway.url + "/v1/nothing-here")
    assert missing.status_code == 404 and error_of(missing)
    wrong = httpx.get(gateway.url + "/v1/chat/completions")
    assert wrong.status_code == 405 and error_of(wrong)


def test_gateway_keeps_serving_after_bad_input(client: openai.OpenAI, gateway: RunningServer) -> None:
    for body in (b"\xff\xfe", b"null", b'{"model": null}', b'{"model": "gpt-test", "messages": [1]}'):
        assert post(gateway, content=body).status_code == 400
    assert client.chat.completions.create(model="gpt-test", messages=MESSAGES).choices


def test_failover_to_next_target_on_connection_error(start_gateway: GatewayFactory, upstream: RunningServer,
                                                     fake: FakeOpenAI) -> None:
    extra = f"""
{dead_first_route(closed_port())}
"""
    gateway = start_gateway(gateway_config(upstream.url, extra=extra))
    response = post(gateway, json={"model": "two-targets", "messages": MESSAGES})
    assert response.status_code == 200
    assert response.headers["x-gateway-attempts"] == "2"
    assert response.headers["x-gateway-provider"] == "fake"


class _BrokenTransport(httpx.AsyncBaseTransport):
    """An upstream connection that fails in a way nothing expects (not an httpx error): a bug's stand-in."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise RuntimeError("sk-upstream-secret broke")


@pytest.mark.parametrize("cors", [False, True], ids=["straight", "through-starlette"])
@pytest.mark.parametrize(("path", "body"), [
    ("/v1/chat/completions", {"model": "gpt-test", "messages": MESSAGES}),
    ("/v1/messages", {"model": "gpt-test", "messages": MESSAGES, "max_tokens": 5}),
    ("/v1/responses", {"model": "gpt-test", "input": "hi"}),
])
def test_an_unexpected_error_on_a_proxy_path_is_a_500_in_openai_shape_and_the_gateway_keeps_serving(
        upstream: RunningServer, path: str, body: dict[str, object], cors: bool,
        caplog: pytest.LogCaptureFixture) -> None:
    """The proxy paths go from the way in straight to their handler (issue 19): what Starlette's router and
    exception layers did for them must still happen. An exception nothing handles is the logged 500, in OpenAI's
    shape, naming no secret; the next request is served. By default the request skips Starlette's
    ServerErrorMiddleware too (middleware.GatewayApp); with CORS configured it goes through it."""
    text = gateway_config(upstream.url)
    if cors:
        text = text.replace("[server]\n", '[server]\ncors_origins = ["http://app.test"]\n', 1)
    app = create_app(parse_config(text), transports={"fake": _BrokenTransport()})
    with run_server(app) as gateway, caplog.at_level(logging.ERROR, logger="gateway"):
        response = post(gateway, path, json=body)
        assert response.status_code == 500
        assert error_of(response)["type"] == "server_error" and "secret" not in response.text
        assert any("unexpected error on POST " + path in r.getMessage() for r in caplog.records)
        ok = post(gateway, path, json={**body, "model": "mock-model"})
        assert ok.status_code == 200 and ok.headers["x-request-id"]


def test_a_proxy_path_answers_with_the_request_id_it_was_given_and_405_to_another_method(
        gateway: RunningServer) -> None:
    given = post(gateway, json={"model": "mock-model", "messages": MESSAGES}, headers={"x-request-id": "req-lane-1"})
    assert given.status_code == 200 and given.headers["x-request-id"] == "req-lane-1"
    refused = post(gateway, json={"model": "gpt-test", "messages": "x"}, headers={"x-request-id": "req-lane-2"})
    assert refused.status_code == 400 and refused.headers["x-request-id"] == "req-lane-2"
    for path in ("/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/messages", "/v1/responses"):
        wrong = httpx.put(gateway.url + path, json={})
        assert wrong.status_code == 405 and error_of(wrong) and wrong.headers["x-request-id"]
