"""Presets for OpenAI-compatible servers: `preset = "groq"` on a provider of type "openai" fills in the
base URL and the server's known quirks, so a config names the server rather than its details.

    >>> apply_preset({"name": "g", "type": "openai", "preset": "groq"})["base_url"]
    'https://api.groq.com/openai/v1'

A preset only fills keys the config leaves out: anything written in the config wins. Plain data, applied
by `config.ProviderConfig` when the file is loaded, so `gateway check`, routing (`prefill`) and the provider
all see the same complete provider. Quirks:

- `operations`: what the server offers (Groq and DeepSeek have no embeddings, Mistral no legacy completions);
  a request for anything else is a 400 naming the provider and the feature instead of an upstream 404.
- `stream_usage = false`: the server rejects `stream_options` (Mistral answers 422 to unknown fields).
- `RENAMED`: parameters the server spells its own way, renamed in the request (Mistral: `max_tokens` for
  `max_completion_tokens`, `random_seed` for `seed`).
- `DROPPED`: parameters the server refuses but does not need (Mistral: `stream_options`, as it reports
  usage in every stream anyway).
- `TOP_K`: the servers that take `top_k` (not an OpenAI parameter; left out for every other).
- `prefill = true`: the server continues a trailing assistant message (resumes a cut stream there);
  `prefill_style` says how it must be asked: `"prefix"` marks that message `"prefix": true` (Mistral,
  DeepSeek's beta endpoint), `"continue_final_message"` sets vLLM's `continue_final_message` and
  `add_generation_prompt` request fields; `"plain"` needs nothing.
"""

from __future__ import annotations

from typing import Any, Literal

Preset = Literal["groq", "mistral", "together", "deepseek", "openrouter", "fireworks", "vllm", "ollama"]
PrefillStyle = Literal["plain", "prefix", "continue_final_message"]

PRESETS: dict[str, dict[str, Any]] = {
    "groq": {"base_url": "https://api.groq.com/openai/v1", "operations": ["chat"]},
    "mistral": {"base_url": "https://api.mistral.ai/v1", "stream_usage": False, "prefill": True,
                "prefill_style": "prefix", "operations": ["chat", "embeddings"]},
    "together": {"base_url": "https://api.together.xyz/v1"},
    # Chat prefix completion is a beta feature of DeepSeek's, served under /beta (chat works there too).
    "deepseek": {"base_url": "https://api.deepseek.com/beta", "prefill": True, "prefill_style": "prefix",
                 "operations": ["chat", "text_completion"]},
    "openrouter": {"base_url": "https://openrouter.ai/api/v1"},
    "fireworks": {"base_url": "https://api.fireworks.ai/inference/v1"},
    "vllm": {"base_url": "http://localhost:8000/v1", "prefill": True, "prefill_style": "continue_final_message"},
    "ollama": {"base_url": "http://localhost:11434/v1", "prefill": True},
}


RENAMED: dict[str, dict[str, str]] = {
    "mistral": {"max_completion_tokens": "max_tokens", "seed": "random_seed"},
}
# OpenAI parameters the server refuses and does without: Mistral sends usage in its last chunk unasked
DROPPED: dict[str, frozenset[str]] = {"mistral": frozenset({"stream_options"})}
TOP_K = frozenset({"vllm", "together", "fireworks", "openrouter"})


def apply_preset(raw: dict[str, Any]) -> dict[str, Any]:
    """A provider table with its preset's keys filled in where the table has none (unknown presets are
    left for validation to report by key path)."""
    name = raw.get("preset")
    preset = PRESETS.get(name) if isinstance(name, str) else None
    if preset is None:
        return raw
    return {**preset, **{k: v for k, v in raw.items() if v is not None}}
