"""Presets for OpenAI-compatible servers (gateway/presets.py): base URLs, quirks, and config errors."""

from __future__ import annotations

import json

import pytest

from gateway.config import ConfigError, ProviderConfig, parse_config
from gateway.presets import PRESETS
from gateway.providers.base import Call, build_provider
from gateway.providers.openai import OpenAIProvider

PREFILL = Call("chat", {"model": "r", "messages": [{"role": "user", "content": "Count"},
                                                   {"role": "assistant", "content": "1, 2,"}]}, stream=True)


def config(preset: str, extra: str = "") -> str:
    return f"""
[[providers]]
name = "p"
type = "openai"
preset = "{preset}"
{extra}
[[routes]]
model = "m"
  [[routes.targets]]
  provider = "p"
  model = "x"
"""


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_loads_with_a_base_url(name: str) -> None:
    provider = parse_config(config(name)).providers[0]
    assert provider.base_url == PRESETS[name]["base_url"]


def test_preset_urls() -> None:
    p = build_provider(ProviderConfig(name="g", type="openai", preset="groq"))
    assert p.to_request(PREFILL, "llama").url == "https://api.groq.com/openai/v1/chat/completions"
    ds = build_provider(ProviderConfig(name="d", type="openai", preset="deepseek"))
    assert ds.to_request(PREFILL, "deepseek-chat").url == "https://api.deepseek.com/beta/chat/completions"


def test_config_wins_over_the_preset() -> None:
    provider = parse_config(config("vllm", 'base_url = "http://gpu-box:9000/v1"\nprefill = false')).providers[0]
    assert provider.base_url == "http://gpu-box:9000/v1" and provider.prefill is False
    assert provider.prefill_style == "continue_final_message"


def test_mistral_quirks_no_stream_options_and_prefix_prefill() -> None:
    mistral = ProviderConfig(name="m", type="openai", preset="mistral")
    assert (mistral.stream_usage, mistral.prefill, mistral.prefill_style) == (False, True, "prefix")
    body = json.loads(build_provider(mistral).to_request(PREFILL, "mistral-large").content)
    assert "stream_options" not in body
    assert body["messages"][-1] == {"role": "assistant", "content": "1, 2,", "prefix": True}
    assert PREFILL.body["messages"][-1] == {"role": "assistant", "content": "1, 2,"}  # the call is untouched


def test_vllm_prefill_fields_only_when_the_last_message_is_the_assistant() -> None:
    vllm = build_provider(ProviderConfig(name="v", type="openai", preset="vllm"))
    body = json.loads(vllm.to_request(PREFILL, "llama").content)
    assert (body["continue_final_message"], body["add_generation_prompt"]) == (True, False)
    plain = Call("chat", {"model": "r", "messages": [{"role": "user", "content": "hi"}]})
    assert "continue_final_message" not in json.loads(vllm.to_request(plain, "llama").content)


def test_plain_openai_is_unchanged() -> None:
    p = build_provider(ProviderConfig(name="o", type="openai", base_url="http://127.0.0.1:1"))
    assert isinstance(p, OpenAIProvider)
    body = json.loads(p.to_request(PREFILL, "gpt").content)
    assert "prefix" not in body["messages"][-1] and "continue_final_message" not in body


def test_unknown_preset_is_reported_with_its_key_path() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(config("grok"))
    assert any(p.startswith("providers[0].preset: got 'grok'") and "groq" in p for p in caught.value.problems)


def test_preset_on_another_type_is_an_error() -> None:
    text = config("groq").replace('type = "openai"', 'type = "azure"\nbase_url = "https://r.openai.azure.com"')
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert any('preset "groq" is for providers of type "openai"' in p for p in caught.value.problems)


def test_gemini_needs_no_base_url_but_a_plain_openai_does() -> None:
    assert ProviderConfig(name="g", type="gemini").base_url is None
    with pytest.raises(ValueError, match="needs base_url"):
        ProviderConfig(name="o", type="openai")


def test_operations_a_server_lacks_are_a_400_naming_provider_and_feature() -> None:
    from gateway.errors import UnsupportedFeatureError

    groq = build_provider(ProviderConfig(name="groq-main", type="openai", preset="groq"))
    with pytest.raises(UnsupportedFeatureError, match="provider groq-main does not support embeddings"):
        groq.to_request(Call("embeddings", {"model": "e", "input": "x"}), "m")
    mistral = build_provider(ProviderConfig(name="m", type="openai", preset="mistral"))
    with pytest.raises(UnsupportedFeatureError, match=r"legacy completions \(/v1/completions\)"):
        mistral.to_request(Call("text_completion", {"model": "e", "prompt": "x"}), "m")
    assert mistral.to_request(Call("embeddings", {"model": "e", "input": "x"}), "mistral-embed").url.endswith(
        "/v1/embeddings")
    own = ProviderConfig(name="o", type="openai", base_url="http://127.0.0.1:1", operations=["embeddings"])
    with pytest.raises(UnsupportedFeatureError, match="chat completions"):
        build_provider(own).to_request(PREFILL, "m")


def test_mistral_gets_max_tokens_and_random_seed() -> None:
    """Mistral refuses OpenAI's `max_completion_tokens` (and calls the seed `random_seed`): issue 20, item 13."""
    mistral = build_provider(ProviderConfig(name="m", type="openai", preset="mistral"))
    body = {"model": "r", "messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 50,
            "max_tokens": 9, "seed": 7, "stream": True, "stream_options": {"include_usage": True}}
    sent = json.loads(mistral.to_request(Call("chat", body, stream=True), "mistral-small-latest").content)
    assert sent == {"model": "mistral-small-latest", "messages": body["messages"], "max_tokens": 50,
                    "random_seed": 7, "stream": True}
    only_old = json.loads(mistral.to_request(Call("chat", {**body, "max_completion_tokens": None}), "m").content)
    assert only_old["max_tokens"] == 9 and "max_completion_tokens" not in only_old
    assert body["max_completion_tokens"] == 50  # the call is untouched


@pytest.mark.parametrize(("preset", "kept"), [(None, False), ("groq", False), ("mistral", False),
                                              ("deepseek", False), ("vllm", True), ("together", True),
                                              ("fireworks", True), ("openrouter", True)])
def test_top_k_reaches_only_the_servers_that_take_it(preset: str | None, kept: bool) -> None:
    """`top_k` is not an OpenAI parameter (the /v1/messages entrance passes Anthropic's on): issue 20, item 12."""
    base = None if preset else "https://api.openai.com/v1"
    provider = build_provider(ProviderConfig(name="p", type="openai", preset=preset, base_url=base))
    body = {"model": "r", "messages": [{"role": "user", "content": "hi"}], "top_k": 40, "temperature": 0.5}
    sent = json.loads(provider.to_request(Call("chat", body), "x").content)
    assert ("top_k" in sent) is kept and sent["temperature"] == 0.5
