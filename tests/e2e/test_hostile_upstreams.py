"""Upstreams that answer what no API promises: too much, a gzip bomb, bytes that are not UTF-8 or not JSON,
broken chunked encoding, one byte every 5 s. The gateway (a real server on loopback) answers each with a clear
error in OpenAI's shape, never a 500 and never a hang; the upstreams are raw sockets (tests/fakes/raw.py)."""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from typing import Any

import httpx
import pytest

from tests.conftest import GatewayFactory
from tests.fakes.raw import RawUpstream, Script

LIMIT = 1024 * 1024  # the provider's max_response_bytes in these tests
HUNDRED_MB = 100 * 1024 * 1024
CHAT = {"model": "raw-model", "messages": [{"role": "user", "content": "hi"}]}
STREAM = {**CHAT, "stream": True}
ANSWER = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "fine"}, "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
FIRST_CHUNK = b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,' \
              b'"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]}\n\n'
WAIT_S = 30.0  # a bound for "never" only


def config(url: str, provider: str = "", route: str = "") -> str:
    return f"""
[[providers]]
name = "raw"
type = "openai"
base_url = "{url}"
max_response_bytes = {LIMIT}
timeout_s = 20
{provider}

[[routes]]
model = "raw-model"
{route}
  [[routes.targets]]
  provider = "raw"
  model = "m"
"""


def head(status: str = "200 OK", **headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k.replace('_', '-')}: {v}" for k, v in headers.items()), "", ""]
    return "\r\n".join(lines).encode()


def answer(body: bytes, content_type: str = "application/json", **headers: str) -> Script:
    async def script(writer: asyncio.StreamWriter) -> None:
        writer.write(head(content_type=content_type, content_length=str(len(body)), **headers) + body)
        await writer.drain()
    return script


def call(start_gateway: GatewayFactory, script: Script, body: dict[str, Any], provider: str = "",
         route: str = "") -> tuple[httpx.Response, RawUpstream]:
    with RawUpstream(script) as upstream:
        gateway = start_gateway(config(upstream.url, provider, route))
        with httpx.Client(timeout=WAIT_S) as client:
            response = client.post(gateway.url + "/v1/chat/completions", json=body)
        return response, upstream


def assert_error(response: httpx.Response, status: int, words: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert words in error["message"], error
    assert "Traceback" not in error["message"]
    return dict(error)


@pytest.mark.parametrize("body", [CHAT, STREAM], ids=["non-stream", "stream"])
def test_an_upstream_answering_100_mb_is_cut_off_at_max_response_bytes(
    start_gateway: GatewayFactory, body: dict[str, Any]
) -> None:
    written = 0

    async def flood(writer: asyncio.StreamWriter) -> None:
        nonlocal written
        if body.get("stream"):  # one endless event: no complete event, so nothing reaches the client first
            writer.write(head(content_type="text/event-stream") + b"data: ")
        else:
            writer.write(head(content_type="application/json", content_length=str(HUNDRED_MB)) + b'{"x": "')
        piece = b"a" * (1024 * 1024)
        while written < HUNDRED_MB:
            writer.write(piece)
            await writer.drain()
            written += len(piece)

    response, upstream = call(start_gateway, flood, body)
    assert_error(response, 502, "max_response_bytes")
    assert upstream.finished.wait(WAIT_S)
    assert written < HUNDRED_MB, "the gateway read the whole 100 MB"


def gzip_bomb(decoded_mb: int) -> bytes:
    """`decoded_mb` MB of zeros as gzip, about 1 KB per MB: one 1 MB member, repeated (gzip allows that)."""
    return gzip.compress(bytes(1024 * 1024), 9) * decoded_mb


def test_a_gzip_bomb_is_cut_off_at_max_response_bytes(start_gateway: GatewayFactory) -> None:
    bomb = gzip_bomb(1024)  # 1 GB decoded from ~1 MB on the wire
    response, _ = call(start_gateway, answer(bomb, content_encoding="gzip"), CHAT)
    assert_error(response, 502, "max_response_bytes")


def test_a_gzip_answer_within_the_limit_is_decoded(start_gateway: GatewayFactory) -> None:
    """The bounded decoder decodes: gzip (two members) and deflate answers arrive whole."""
    encoded = json.dumps(ANSWER).encode()
    for body, encoding in ((gzip.compress(encoded[:10]) + gzip.compress(encoded[10:]), "gzip"),
                           (zlib.compress(encoded), "deflate")):
        response, _ = call(start_gateway, answer(body, content_encoding=encoding), CHAT)
        assert response.status_code == 200, response.text
        assert response.json()["choices"][0]["message"]["content"] == "fine"


def test_a_body_that_does_not_decompress_is_a_502(start_gateway: GatewayFactory) -> None:
    response, _ = call(start_gateway, answer(b"\x1f\x8b\x08\x00 this is not gzip", content_encoding="gzip"), CHAT)
    assert_error(response, 502, "does not decompress")


@pytest.mark.parametrize("body", [
    b'{"id": "x", "choices": [{"index": 0, "message": {"role": "assistant", "content": "\xff\xfe\xc3\x28"}}]}',
    b"<html><body>502 Bad Gateway</body></html>",
    b"",
    b'{"id": "x", "choices": [',
], ids=["invalid-utf8", "html", "empty", "truncated-json"])
def test_a_200_that_is_not_json_is_a_502(start_gateway: GatewayFactory, body: bytes) -> None:
    response, _ = call(start_gateway, answer(body), CHAT)
    assert_error(response, 502, "not JSON")


def test_a_stream_of_invalid_utf8_ends_with_an_error_never_like_a_whole_answer(
    start_gateway: GatewayFactory
) -> None:
    events = b"".join(b'data: {"choices": [{"index": 0, "delta": {"content": "\xff\xfe"}}]}\n\n' for _ in range(10))
    response, _ = call(start_gateway, answer(FIRST_CHUNK + events + b"data: [DONE]\n\n", "text/event-stream"), STREAM)
    assert response.status_code == 200  # the first chunk went out before the garbage came
    assert "[DONE]" not in response.text
    error = json.loads(response.text.strip().split("data: ")[-1])["error"]
    assert "unreadable events" in error["message"]


@pytest.mark.parametrize("encoded", [
    b"zz\r\n{}\r\n0\r\n\r\n",  # not a chunk size
    b"10\r\n{\"id\": \"x\"}\r\n",  # a chunk shorter than it said, then the connection closes
], ids=["bad-size", "short-chunk"])
def test_a_chunked_encoding_error_is_a_502(start_gateway: GatewayFactory, encoded: bytes) -> None:
    async def script(writer: asyncio.StreamWriter) -> None:
        writer.write(head(content_type="application/json", transfer_encoding="chunked") + encoded)
        await writer.drain()

    response, _ = call(start_gateway, script, CHAT)
    assert response.status_code == 502, response.text
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


async def one_byte_every_5_s(writer: asyncio.StreamWriter, first: bytes) -> None:
    writer.write(first)
    await writer.drain()
    while True:
        await asyncio.sleep(5)
        writer.write(b" ")
        await writer.drain()


def test_one_byte_every_5_s_is_ended_by_the_read_limit(start_gateway: GatewayFactory) -> None:
    """A non-stream answer that trickles: the provider's read_timeout_s (the longest silence) ends it."""
    async def script(writer: asyncio.StreamWriter) -> None:
        await one_byte_every_5_s(writer, head(content_type="application/json", content_length="1000") + b"{")

    response, _ = call(start_gateway, script, CHAT, provider="read_timeout_s = 1")
    assert_error(response, 504, "did not answer in time")


def test_a_stream_sending_one_byte_every_5_s_is_ended_by_the_idle_limit(start_gateway: GatewayFactory) -> None:
    """After its first chunk the stream trickles: the route's stream_idle_timeout_s ends it with an error event,
    never a [DONE]."""
    async def script(writer: asyncio.StreamWriter) -> None:
        await one_byte_every_5_s(writer, head(content_type="text/event-stream") + FIRST_CHUNK)

    response, _ = call(start_gateway, script, STREAM, route="stream_idle_timeout_s = 1")
    assert response.status_code == 200
    assert '"Hello"' in response.text and "[DONE]" not in response.text
    assert "error" in json.loads(response.text.strip().split("data: ")[-1])


@pytest.mark.parametrize("raw", [
    b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
    b"HTTP/1.1 2000 OK\r\ncontent-length: 2\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n{}",
], ids=["ssh", "bad-status", "bad-header"])
def test_an_answer_that_is_not_http_is_a_502(start_gateway: GatewayFactory, raw: bytes) -> None:
    async def script(writer: asyncio.StreamWriter) -> None:
        writer.write(raw)
        await writer.drain()

    response, _ = call(start_gateway, script, CHAT)
    assert_error(response, 502, "not valid HTTP")
