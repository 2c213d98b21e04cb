"""The route table: targets with their prefill capability, per-route retry settings, fallbacks."""

from __future__ import annotations

from gateway.config import parse_config
from gateway.routing.table import RouteTable

CONFIG = """
[routing]
max_attempts = 3
ttft_timeout_s = 2
[[providers]]
name = "plain"
type = "mock"
[[providers]]
name = "continues"
type = "mock"
prefill = true
[[routes]]
model = "chat"
strategy = "round_robin"
fallbacks = ["big"]
context_window_fallbacks = ["big"]
max_attempts = 6
  [[routes.targets]]
  provider = "plain"
  model = "p"
  weight = 2
  [[routes.targets]]
  provider = "continues"
  model = "c"
  [[routes.targets]]
  provider = "continues"
  model = "c-no"
  prefill = false
  [[routes.targets]]
  provider = "plain"
  model = "p-yes"
  prefill = true
[[routes]]
model = "big"
  [[routes.targets]]
  provider = "plain"
  model = "b"
"""


def test_routes_and_targets() -> None:
    table = RouteTable(parse_config(CONFIG))
    route = table.get("chat")
    assert route is not None and table.get("nope") is None
    assert table.names() == ["chat", "big"]
    assert route.strategy == "round_robin"
    assert [(t.key, t.weight, t.prefill) for t in route.targets] == [
        ("plain/p", 2.0, False),
        ("continues/c", 1.0, True),  # the provider's capability
        ("continues/c-no", 1.0, False),  # a target may turn it off ...
        ("plain/p-yes", 1.0, True),  # ... or on
    ]
    assert [r.model for r in table.fallbacks(route, route.fallbacks)] == ["big"]  # unknown names are skipped
    assert [r.model for r in table.fallbacks(route, route.context_window_fallbacks)] == ["big"]


def test_retry_settings_are_the_route_keys_over_the_routing_defaults() -> None:
    table = RouteTable(parse_config(CONFIG))
    chat, big = table.get("chat"), table.get("big")
    assert chat is not None and big is not None
    assert (chat.retry.max_attempts, chat.retry.ttft_timeout_s) == (6, 2.0)
    assert (big.retry.max_attempts, big.retry.ttft_timeout_s) == (3, 2.0)
    assert big.retry.stream_idle_timeout_s == 60.0  # the built-in default
