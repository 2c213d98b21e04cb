"""What each Claude model and API version accepts, for the `anthropic` provider (split from anthropic.py).

Claude models differ in what a request may say, and the differences go by family version, so they are a
small table of "from version X on" rather than a list of model names that would age:

- Claude Opus 4.1, Sonnet/Haiku 4.5 and later refuse `temperature` together with `top_p`;
- Claude 4.6 and later refuse an assistant prefill (a trailing assistant message to continue);
- `anthropic-version: 2026-10-21` and later refuse `temperature`, `top_p` and `top_k` on every model.

    >>> claude_version("claude-3-5-sonnet-20241022"), claude_version("claude-sonnet-4-20250514")
    ((3, 5), (4, 0))
    >>> claude_version("claude-opus-4-6"), claude_version("my-finetune") is None
    ((4, 6), True)

A model name the table cannot read (an alias of a proxy, a future naming scheme) is taken for the newest
kind, which accepts the least: a request that works there works on older models too.
"""

from __future__ import annotations

import re
from typing import Any

# `claude-<family>-<major>[-<minor>]` (4.x and later) or `claude-<major>[-<minor>]-<family>` (3.x); the minor
# is one digit, so that the date in `claude-sonnet-4-20250514` is not read as one.
_NAME = re.compile(
    r"claude-(?:(?:opus|sonnet|haiku)-(?P<major>\d+)(?:-(?P<minor>\d)(?!\d))?"
    r"|(?P<major3>\d+)(?:-(?P<minor3>\d)(?!\d))?-(?:opus|sonnet|haiku))"
)
EXCLUSIVE_SAMPLING_FROM = (4, 1)  # temperature and top_p: one or the other
NO_PREFILL_FROM = (4, 6)  # a trailing assistant message is refused with a 400
SAMPLING_REMOVED_IN = "2026-10-21"  # the first anthropic-version without temperature, top_p and top_k
OPENAI_TEMPERATURE_MAX = 2.0
ANTHROPIC_TEMPERATURE_MAX = 1.0
NEUTRAL = {"temperature": 1, "top_p": 1}  # the API's own defaults: leaving them out changes nothing


class SamplingError(ValueError):
    """A sampling parameter this model or API version cannot take; `param` names it."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


def claude_version(model: str) -> tuple[int, int] | None:
    """The family version in a Claude model name (also Bedrock's and Vertex's spellings); None if unknown."""
    match = _NAME.search(model.lower())
    if match is None:
        return None
    major, minor = match.group("major") or match.group("major3"), match.group("minor") or match.group("minor3")
    return int(major), int(minor or 0)


def accepts_prefill(model: str) -> bool:
    version = claude_version(model)
    return version is not None and version < NO_PREFILL_FROM


def sampling(body: dict[str, Any], model: str, api_version: str) -> dict[str, Any]:
    """`temperature`, `top_p` and `top_k` as this model and API version take them.

    Raises SamplingError naming the parameter when it cannot be said at all. OpenAI's temperature runs 0-2 and
    Anthropic's 0-1: values above 1 are sent as 1 (clamped, not scaled, so that the common 0-1 settings
    mean the same on both). Where a model takes only one of temperature and top_p, a neutral one (1) is
    left out, and of two real settings temperature is kept.
    """
    given = {name: body[name] for name in ("temperature", "top_p", "top_k") if body.get(name) is not None}
    _check_ranges(given)
    if api_version >= SAMPLING_REMOVED_IN:
        for name, value in given.items():
            if NEUTRAL.get(name) != value:
                raise SamplingError(f"the parameter '{name}' with anthropic-version {api_version}, which takes "
                                    "no sampling parameters (leave it out, or use a provider with "
                                    "anthropic_version = \"2023-06-01\")", name)
        return {}
    out = dict(given)
    version = claude_version(model)
    if "temperature" in out and "top_p" in out and (version is None or version >= EXCLUSIVE_SAMPLING_FROM):
        real_temperature = out["temperature"] != NEUTRAL["temperature"]
        del out["top_p" if out["top_p"] == NEUTRAL["top_p"] or real_temperature else "temperature"]
    if "temperature" in out:
        out["temperature"] = min(out["temperature"], ANTHROPIC_TEMPERATURE_MAX)
    return out


def _check_ranges(given: dict[str, Any]) -> None:
    limits = {"temperature": (0.0, OPENAI_TEMPERATURE_MAX), "top_p": (0.0, 1.0)}
    for name, value in given.items():
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if name == "top_k":
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise SamplingError(f"the parameter 'top_k' = {value!r} (a whole number of at least 0 is expected)",
                                    name)
        elif not number or not limits[name][0] <= value <= limits[name][1]:
            low, high = limits[name]
            raise SamplingError(f"the parameter '{name}' = {value!r} (a number from {low:g} to {high:g} is expected)",
                                name)
