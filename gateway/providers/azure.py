"""Provider `azure`: Azure OpenAI. The wire format is OpenAI's; only the URL and the key header differ.

Two URL forms, chosen by `api_version`:

- the v1 API (default, `api_version = "v1"`): `{base_url}/openai/v1/chat/completions`, with the deployment
  name as the body's `model`, like OpenAI itself. It takes no api-version and serves every model kind,
  o-series and gpt-5 included; Microsoft points new code to it;
- deployment URLs (any dated version, e.g. `api_version = "2025-04-01-preview"`):
  `{base_url}/openai/deployments/{model}/chat/completions?api-version=2025-04-01-preview`, where the
  target's `model` is the deployment name. The older GA version 2024-10-21 is refused by o-series and gpt-5
  deployments ("enabled only for api versions 2024-12-01-preview and later").

`base_url` is the resource endpoint, `https://<resource>.openai.azure.com`; a copied `.../openai` or
`.../openai/v1` suffix is accepted. The key goes in the `api-key` header (not `Authorization`).
"""

from __future__ import annotations

from urllib.parse import quote

from gateway.config import ProviderConfig
from gateway.providers.base import Call, UpstreamRequest
from gateway.providers.openai import PATHS, OpenAIProvider
from gateway.upstream import Upstream

DEFAULT_API_VERSION = "v1"  # no dated version to age: the v1 API takes every model


class AzureProvider(OpenAIProvider):
    type = "azure"

    def __init__(self, config: ProviderConfig, upstream: Upstream | None = None) -> None:
        super().__init__(config, upstream)
        self.api_version = config.api_version or DEFAULT_API_VERSION
        self.root = resource_root(config.base_url or "")
        self.headers.pop("authorization", None)
        if config.api_key:
            self.headers["api-key"] = config.api_key

    # -- request ------------------------------------------------------------------------------------

    def to_request(self, call: Call, model: str) -> UpstreamRequest:
        request = super().to_request(call, model)  # the body is OpenAI's, deployment name as `model`
        request.url = azure_url(self.root, self.api_version, call.operation, model)
        return request

    # response, stream and error: OpenAI's (Azure's error bodies are OpenAI-shaped too).


def resource_root(base_url: str) -> str:
    """`https://r.openai.azure.com`, whichever of `/openai` or `/openai/v1` was copied after it."""
    url = base_url.rstrip("/")
    for suffix in ("/openai/v1", "/openai"):
        if url.endswith(suffix):
            return url[: -len(suffix)]
    return url


def azure_url(root: str, api_version: str, operation: str, model: str) -> str:
    path = PATHS[operation]
    if api_version == "v1":
        return f"{root}/openai/v1{path}"
    return f"{root}/openai/deployments/{quote(model, safe='')}{path}?api-version={quote(api_version, safe='')}"
