"""Azure OpenAI URLs and headers (gateway/providers/azure.py); the body is OpenAI's, checked by the e2e tests."""

from __future__ import annotations

import json

import pytest

from gateway.config import ProviderConfig
from gateway.providers.azure import AzureProvider
from gateway.providers.base import Call, build_provider

CHAT = Call("chat", {"model": "route", "messages": [{"role": "user", "content": "hi"}]})


def azure(base_url: str = "https://res.openai.azure.com", **kw: str) -> AzureProvider:
    p = build_provider(ProviderConfig(name="az", type="azure", base_url=base_url, api_key="azure-key", **kw))
    assert isinstance(p, AzureProvider)
    return p


@pytest.mark.parametrize(
    ("operation", "path"),
    [("chat", "chat/completions"), ("text_completion", "completions"), ("embeddings", "embeddings")],
)
def test_deployment_urls_with_api_version(operation: str, path: str) -> None:
    request = azure().to_request(Call(operation, {"model": "route"}), "gpt-4o-prod")  # type: ignore[arg-type]
    assert request.url == f"https://res.openai.azure.com/openai/deployments/gpt-4o-prod/{path}?api-version=2024-10-21"


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
