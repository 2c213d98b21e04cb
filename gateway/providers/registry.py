"""Provider types by config `type`, as uvicorn names its implementations: "module:Class", imported on use.

Kept free of heavy imports so that `gateway check` needs nothing but pydantic to validate a config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.config import GatewayConfig

# Adding a provider is a module and a line here.
REGISTRY: dict[str, str] = {
    "openai": "gateway.providers.openai:OpenAIProvider",
    "anthropic": "gateway.providers.anthropic:AnthropicProvider",
    "mock": "gateway.providers.mock:MockProvider",
    "gemini": "gateway.providers.gemini:GeminiProvider",
    "azure": "gateway.providers.azure:AzureProvider",
}


def unavailable_types(config: GatewayConfig) -> list[str]:
    """Config problems for provider types this build cannot serve, by key path."""
    return [
        f'providers[{i}].type: provider type "{p.type}" is not available in this version of the gateway '
        f"(available: {', '.join(sorted(REGISTRY))})"
        for i, p in enumerate(config.providers)
        if p.type not in REGISTRY
    ]
