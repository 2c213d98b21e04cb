"""Azure OpenAI URLs and headers (gateway/providers/azure.py); the body is OpenAI's, checked by the e2e tests."""

from __future__ import annotations

import json

import pytest

from gateway.config import ProviderConfig
from gateway.providers.azure import AzureProvider
from gateway.providers.base import Call, build_provider
from gateway.sse import SSEEvent

CHAT = Call("chat", {"model": "route", "messages": [{"role": "user", "content": "hi"}]})


def azure(base_url: str = "https://res.openai.azure.com", **kw: str) -> AzureProvider:
    p = build_provider(ProviderConfig(name="az", type="azure", base_url=base_url, api_key="azure-key", **kw))
    assert isinstance(p, AzureProvider)
    return p


@pytest.mark.parametrize(
    ("operation", "path"),
    [("chat", "chat/completions"), ("text_completion", "completions"), ("embeddings", "embeddings")],
)
def test_v1_urls_by_default_and_deployment_urls_with_a_dated_api_version(operation: str, path: str) -> None:
    # v1 by default: the dated GA version 2024-10-21 is refused by o-series and gpt-5 deployments
    request = azure().to_request(Call(operation, {"model": "route"}), "gpt-5-prod")  # type: ignore[arg-type]
    assert request.url == f"https://res.openai.azure.com/openai/v1/{path}"
    assert json.loads(request.content)["model"] == "gpt-5-prod"
    dated = azure(api_version="2025-04-01-preview").to_request(Call(operation, {"model": "r"}), "o3")  # type: ignore[arg-type]
    assert dated.url == f"https://res.openai.azure.com/openai/deployments/o3/{path}?api-version=2025-04-01-preview"


def test_api_key_header_replaces_bearer() -> None:
    request = azure().to_request(CHAT, "dep")
    assert request.headers["api-key"] == "azure-key"
    assert "authorization" not in request.headers
    assert json.loads(request.content)["model"] == "dep"


def test_explicit_api_version_and_v1_form() -> None:
    assert azure(api_version="2025-01-01-preview").to_request(CHAT, "d").url.endswith(
        "/openai/deployments/d/chat/completions?api-version=2025-01-01-preview")
    v1 = azure(api_version="v1").to_request(CHAT, "gpt-4o-prod")
    assert v1.url == "https://res.openai.azure.com/openai/v1/chat/completions"
    assert json.loads(v1.content)["model"] == "gpt-4o-prod"


@pytest.mark.parametrize("suffix", ["", "/", "/openai", "/openai/", "/openai/v1", "/openai/v1/"])
def test_copied_base_url_suffixes_are_accepted(suffix: str) -> None:
    url = azure("https://res.openai.azure.com" + suffix, api_version="v1").to_request(CHAT, "d").url
    assert url == "https://res.openai.azure.com/openai/v1/chat/completions"


def test_stream_asks_for_usage_like_openai() -> None:
    request = azure().to_request(Call("chat", {**CHAT.body, "stream": True}, stream=True), "d")
    assert json.loads(request.content)["stream_options"] == {"include_usage": True}


def test_api_version_is_an_azure_key() -> None:
    with pytest.raises(ValueError, match='api_version is for providers of type "azure"'):
        ProviderConfig(name="o", type="openai", base_url="http://127.0.0.1:1", api_version="v1")


@pytest.mark.parametrize("version", ["2024-10-21", "2025-04-01-preview", "v1"])
def test_api_version_forms(version: str) -> None:
    assert azure(api_version=version).api_version == version


@pytest.mark.parametrize("version", ["latest", "2024-10", "v2", "2024-10-21-beta"])
def test_a_malformed_api_version_is_a_config_problem(version: str) -> None:
    with pytest.raises(ValueError, match='api_version\n.*must be "v1" or a dated version'):
        ProviderConfig(name="a", type="azure", base_url="https://r.openai.azure.com", api_version=version)


def test_stream_id_and_model_come_from_the_first_chunk_that_has_them() -> None:
    """Azure's first chunk carries the prompt filter results, with "" for id and model (issue 20, item 11)."""
    stream = azure().stream_translator(Call("chat", {**CHAT.body, "stream": True}, stream=True))
    filter_chunk = {"choices": [], "created": 0, "id": "", "model": "", "object": "",
                    "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]}
    first = {"id": "chatcmpl-az1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-2024-11-20",
             "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}, "finish_reason": None}]}
    for chunk in (filter_chunk, first):
        stream.feed(SSEEvent(data=json.dumps(chunk).encode()))
    assert (stream.facts.response_id, stream.facts.response_model) == ("chatcmpl-az1", "gpt-4o-2024-11-20")
