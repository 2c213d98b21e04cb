"""What a call costs: each target's price, from its own keys or the built-in table, and tokens x price.

A target's `input_usd_per_mtok` / `output_usd_per_mtok` (and `cached_input_usd_per_mtok`) win; without them
the upstream model's entry in `prices.toml` (the built-in table, dated, for well-known public models) is used;
the built-in `mock` provider is free. A target with neither has no price: its calls cost nothing that can be
counted, and `gateway check` refuses a budget that could reach it.

    >>> round(Price(0.15, 0.60, 0.075).cost(input_tokens=1000, output_tokens=500, cached_tokens=400), 9)
    0.00042
    >>> TABLE.find("gpt-4o-mini-2024-07-18")
    Price(input=0.15, output=0.6, cached_input=0.075)

Stdlib only: `gateway check` uses this module with nothing but pydantic installed.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.config import GatewayConfig, TargetConfig

FREE_TYPES = frozenset({"mock"})  # provider types whose calls cost nothing
# A dated or moving alias of a model: gpt-4o-2024-08-06, claude-3-5-haiku-20241022, claude-3-5-haiku-latest,
# claude-3-5-haiku@20241022 (Vertex), gemini-2.0-flash-001.
_VARIANT = re.compile(r"(-\d{4}-\d{2}-\d{2}|-\d{8}|@\d{8}|-latest|-\d{3})$")


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float
    cached_input: float | None = None  # prompt tokens served from the provider's prompt cache; None: as input

    def cost(self, input_tokens: int, output_tokens: int, cached_tokens: int = 0) -> float:
        # (the cached share, within 0..input_tokens; not min(max()): each call parses keyword arguments, issue 19)
        cached = input_tokens if cached_tokens > input_tokens else cached_tokens if cached_tokens > 0 else 0
        cached_rate = self.input if self.cached_input is None else self.cached_input
        return ((input_tokens - cached) * self.input + cached * cached_rate + output_tokens * self.output) / 1e6


FREE = Price(0.0, 0.0)


class PriceTable:
    """The built-in table (`prices.toml`): model name -> Price, with the date the prices were taken."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.updated = str(data.get("updated", ""))
        self.source = str(data.get("source", ""))
        self.models = {name: _price(entry) for name, entry in (data.get("models") or {}).items()}

    @classmethod
    def builtin(cls) -> PriceTable:
        text = resources.files("gateway.access").joinpath("prices.toml").read_text(encoding="utf-8")
        return cls(tomllib.loads(text))

    def find(self, model: str) -> Price | None:
        """The model's price; a dated or `-latest` variant falls back to its base name's."""
        found = self.models.get(model)
        if found is None and (base := _VARIANT.sub("", model)) != model:
            found = self.models.get(base)
        return found


def _price(entry: Mapping[str, Any]) -> Price:
    cached = entry.get("cached_input_usd_per_mtok")
    return Price(float(entry["input_usd_per_mtok"]), float(entry["output_usd_per_mtok"]),
                 None if cached is None else float(cached))


TABLE = PriceTable.builtin()


def target_price(target: TargetConfig, provider_type: str, table: PriceTable = TABLE) -> Price | None:
    """A target's price: its own keys, else the table's entry for its upstream model, else free for `mock`."""
    if target.input_usd_per_mtok is not None and target.output_usd_per_mtok is not None:
        return Price(target.input_usd_per_mtok, target.output_usd_per_mtok, target.cached_input_usd_per_mtok)
    if provider_type in FREE_TYPES:
        return FREE
    return table.find(target.model)


class PriceBook:
    """Every target's price in one config, looked up per attempt by (route, provider, model)."""

    def __init__(self, prices: Mapping[tuple[str, str, str], Price | None]) -> None:
        self.prices = dict(prices)

    @classmethod
    def from_config(cls, config: GatewayConfig, table: PriceTable = TABLE) -> PriceBook:
        types = {p.name: p.type for p in config.providers}
        return cls({
            (route.model, target.provider, target.model): target_price(target, types.get(target.provider, ""), table)
            for route in config.routes for target in route.targets
        })

    def get(self, route: str, provider: str, model: str) -> Price | None:
        return self.prices.get((route, provider, model))


def unpriced(config: GatewayConfig, routes: Iterable[str], table: PriceTable = TABLE) -> list[str]:
    """The targets without a price among `routes` and every route they can fail over to, as
    `route: provider/model` (for `gateway check`: a budget cannot count what those calls cost)."""
    by_name = {r.model: r for r in config.routes}
    types = {p.name: p.type for p in config.providers}
    seen: list[str] = []
    queue = [name for name in routes if name in by_name]
    while queue:
        name = queue.pop(0)
        if name in seen:
            continue
        seen.append(name)
        queue += [n for n in (*by_name[name].fallbacks, *by_name[name].context_window_fallbacks) if n in by_name]
    return [
        f"{name}: {t.provider}/{t.model}"
        for name in seen for t in by_name[name].targets
        if target_price(t, types.get(t.provider, ""), table) is None
    ]
