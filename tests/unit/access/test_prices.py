"""Prices: cost from tokens, the built-in table with dated variants, each target's price, unpriced targets."""

from __future__ import annotations

import pytest

from gateway.access.prices import FREE, TABLE, Price, PriceBook, PriceTable, target_price, unpriced
from gateway.config import parse_config

TABLE_DATA = {
    "updated": "2026-01-02",
    "source": "test",
    "models": {
        "alpha": {"input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0},
        "alpha-2024-05-13": {"input_usd_per_mtok": 9.0, "output_usd_per_mtok": 9.0},
        "beta": {"input_usd_per_mtok": 3, "output_usd_per_mtok": 4, "cached_input_usd_per_mtok": 0.5},
    },
}


@pytest.fixture
def table() -> PriceTable:
    return PriceTable(TABLE_DATA)


def test_cost_counts_input_output_and_cached_tokens() -> None:
    price = Price(0.15, 0.60, 0.075)
    assert price.cost(input_tokens=1000, output_tokens=500, cached_tokens=400) == 0.00042
    assert price.cost(1_000_000, 0) == 0.15
    assert price.cost(0, 1_000_000) == 0.6
    assert price.cost(0, 0) == 0.0


def test_cached_tokens_cost_the_input_rate_without_a_cached_price() -> None:
    assert Price(2.0, 8.0).cost(1_000_000, 0, cached_tokens=500_000) == 2.0


def test_cached_tokens_are_clamped_to_the_prompt() -> None:
    price = Price(1.0, 1.0, 0.5)
    assert price.cost(1_000_000, 0, cached_tokens=5_000_000) == 0.5  # never more cached than the prompt
    assert price.cost(1_000_000, 0, cached_tokens=-10) == 1.0


def test_cost_is_exact_to_a_billionth_of_a_dollar() -> None:
    # Computed per request without rounding (it is on the request path); reports round it (usage_report).
    assert Price(0.1, 0.2).cost(3, 3) == pytest.approx(9e-07, abs=1e-15)
    assert round(Price(0.15, 0.6, 0.075).cost(1000, 500, 400), 9) == 0.00042


def test_table_reads_prices_and_its_date(table: PriceTable) -> None:
    assert table.updated == "2026-01-02" and table.source == "test"
    assert table.find("alpha") == Price(1.0, 2.0, None)
    assert table.find("beta") == Price(3.0, 4.0, 0.5)
    assert isinstance(table.find("beta").input, float)  # type: ignore[union-attr]


@pytest.mark.parametrize("model", [
    "alpha-2025-01-31", "alpha-20241022", "alpha@20241022", "alpha-latest", "alpha-001",
])
def test_dated_and_latest_variants_fall_back_to_the_base_name(table: PriceTable, model: str) -> None:
    assert table.find(model) == Price(1.0, 2.0)


def test_a_variant_with_its_own_entry_uses_it(table: PriceTable) -> None:
    assert table.find("alpha-2024-05-13") == Price(9.0, 9.0)


@pytest.mark.parametrize("model", ["gamma", "gamma-latest", "alpha-pro", "alpha-2024", "alpha-12", "xalpha"])
def test_unknown_models_have_no_price(table: PriceTable, model: str) -> None:
    assert table.find(model) is None


def test_empty_table_has_no_prices() -> None:
    empty = PriceTable({})
    assert empty.models == {} and empty.updated == "" and empty.find("alpha") is None


def test_builtin_table() -> None:
    assert TABLE.updated != ""
    assert TABLE.find("gpt-4o-mini-2024-07-18") == Price(0.15, 0.6, 0.075)
    assert TABLE.find("gpt-4o-2024-05-13") == Price(5.0, 15.0)  # a dated entry of its own
    assert TABLE.find("gpt-4o-2024-08-06") == TABLE.find("gpt-4o") == Price(2.5, 10.0, 1.25)
    assert all(p.input >= 0 and p.output >= 0 for p in TABLE.models.values())


PROVIDERS = """
[[providers]]
name = "oa"
type = "openai"
base_url = "http://127.0.0.1:9/v1"
[[providers]]
name = "mk"
type = "mock"
"""


def config(routes: str) -> str:
    return PROVIDERS + routes


def test_target_price_prefers_its_own_keys_then_the_table_then_free_mock(table: PriceTable) -> None:
    cfg = parse_config(config("""
[[routes]]
model = "r"
[[routes.targets]]
provider = "oa"
model = "alpha"
input_usd_per_mtok = 7
output_usd_per_mtok = 0
cached_input_usd_per_mtok = 1
[[routes.targets]]
provider = "oa"
model = "alpha-latest"
[[routes.targets]]
provider = "mk"
model = "anything"
[[routes.targets]]
provider = "oa"
model = "unknown-model"
[[routes.targets]]
provider = "mk"
model = "priced-mock"
input_usd_per_mtok = 1
output_usd_per_mtok = 1
"""))
    own, listed, mock, unknown, priced_mock = cfg.routes[0].targets
    assert target_price(own, "openai", table) == Price(7.0, 0.0, 1.0)
    assert target_price(listed, "openai", table) == Price(1.0, 2.0)
    assert target_price(mock, "mock", table) is FREE
    assert target_price(unknown, "openai", table) is None
    assert target_price(priced_mock, "mock", table) == Price(1.0, 1.0)


def test_price_book_by_route_provider_and_model(table: PriceTable) -> None:
    cfg = parse_config(config("""
[[routes]]
model = "r1"
[[routes.targets]]
provider = "oa"
model = "alpha"
[[routes.targets]]
provider = "mk"
model = "m"
[[routes]]
model = "r2"
[[routes.targets]]
provider = "oa"
model = "alpha"
input_usd_per_mtok = 0.5
output_usd_per_mtok = 0.5
[[routes.targets]]
provider = "oa"
model = "nope"
"""))
    book = PriceBook.from_config(cfg, table)
    assert book.get("r1", "oa", "alpha") == Price(1.0, 2.0)
    assert book.get("r1", "mk", "m") == FREE
    assert book.get("r2", "oa", "alpha") == Price(0.5, 0.5)  # the same model, priced per target
    assert book.get("r2", "oa", "nope") is None
    assert book.get("r3", "oa", "alpha") is None
    assert len(book.prices) == 4


UNPRICED = config("""
[[routes]]
model = "a"
fallbacks = ["b"]
[[routes.targets]]
provider = "oa"
model = "alpha"
[[routes]]
model = "b"
context_window_fallbacks = ["c"]
[[routes.targets]]
provider = "oa"
model = "no-price-b"
[[routes]]
model = "c"
fallbacks = ["a"]
[[routes.targets]]
provider = "oa"
model = "no-price-c"
[[routes.targets]]
provider = "mk"
model = "free"
[[routes]]
model = "d"
[[routes.targets]]
provider = "oa"
model = "no-price-d"
""")


def test_unpriced_follows_fallbacks_and_context_window_fallbacks(table: PriceTable) -> None:
    cfg = parse_config(UNPRICED)
    assert unpriced(cfg, ["a"], table) == ["b: oa/no-price-b", "c: oa/no-price-c"]
    assert unpriced(cfg, ["d"], table) == ["d: oa/no-price-d"]
    # in the order the routes are reached: the named ones first, then their fallbacks
    assert unpriced(cfg, ["c", "d"], table) == ["c: oa/no-price-c", "d: oa/no-price-d", "b: oa/no-price-b"]
    assert unpriced(cfg, ["not-a-route"], table) == []
    assert unpriced(cfg, [], table) == []
