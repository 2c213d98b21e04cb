"""The fake Gemini API itself: it must behave like the real one documents, or the provider tests prove nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.gemini import FakeGemini
from tests.fakes.openai_compat import Fail
from tests.support import run_server

KEY = {"x-goog-api-key": "k"}
BODY = {"contents": [{"role": "user", "parts": [{"text": "hi there"}]}]}


@pytest.fixture
def fake() -> Iterator[tuple[FakeGemini, str]]:
    gemini = FakeGemini()
    with run_server(gemini.app) as server:
        yield gemini, server.url + "/v1beta/models/gemini-2.0-flash"


def test_generate_content_shape(fake: tuple[FakeGemini, str]) -> None:
    _, url = fake
    data = httpx.post(url + ":generateContent", json=BODY, headers=KEY).json()
    assert data["candidates"][0]["content"] == {"parts": [{"text": "Hello from the fake Gemini."}], "role": "model"}
    assert data["candidates"][0]["finishReason"] == "STOP"
    assert data["usageMetadata"] == {"promptTokenCount": 2, "candidatesTokenCount": 5, "totalTokenCount": 7}
    assert data["modelVersion"] == "gemini-2.0-flash" and data["responseId"]


def test_stream_is_crlf_framed_without_done(fake: tuple[FakeGemini, str]) -> None:
    _, url = fake
    raw = httpx.post(url + ":streamGenerateContent?alt=sse", json=BODY, headers=KEY).content
    events = [e for e in raw.split(b"\r\n\r\n") if e]
    assert all(e.startswith(b"data: {") for e in events) and b"[DONE]" not in raw
    last = json.loads(events[-1].removeprefix(b"data: "))
    assert last["candidates"][0]["finishReason"] == "STOP" and last["usageMetadata"]["totalTokenCount"] == 7


def test_rejections_like_the_real_api(fake: tuple[FakeGemini, str]) -> None:
    gemini, url = fake
    assert httpx.post(url + ":generateContent", json=BODY).status_code == 403
    bad_key = httpx.post(url + ":generateContent", json=BODY, headers={"x-goog-api-key": "bad-key"}).json()
    assert bad_key["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    unknown = httpx.post(url + ":generateContent", json={**BODY, "temperature": 1}, headers=KEY)
    assert unknown.status_code == 400 and unknown.json()["error"]["status"] == "INVALID_ARGUMENT"
    role = {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}
    assert httpx.post(url + ":generateContent", json=role, headers=KEY).status_code == 400
    gemini.enqueue(Fail(429))
    limited = httpx.post(url + ":generateContent", json=BODY, headers=KEY)
    assert limited.status_code == 429 and limited.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert len(gemini.requests) == 5


def test_embeddings(fake: tuple[FakeGemini, str]) -> None:
    _, url = fake
    one = {"model": "models/gemini-2.0-flash", "content": {"parts": [{"text": "a"}]}, "outputDimensionality": 3}
    assert len(httpx.post(url + ":embedContent", json=one, headers=KEY).json()["embedding"]["values"]) == 3
    batch = httpx.post(url + ":batchEmbedContents", json={"requests": [one, one]}, headers=KEY).json()
    assert len(batch["embeddings"]) == 2
