"""The failover defaults (issue 18, item 1) and their wiring: what a config that says nothing about routing gets.

The behaviours themselves run end to end with short settings in tests/e2e/test_failover_defaults.py; here the
default values, their path from the config to the running health and dispatcher, the timeline they give a
target that was down for a long time (on a clock the test moves), and `gateway check` on the new keys.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.app import build_gateway
from gateway.config import ConfigError, RetryConfig, RoutingConfig, parse_config
from gateway.routing.health import CooldownPolicy, FakeClock, Health

MINIMAL = """
[[providers]]
name = "p"
type = "openai"
base_url = "http://127.0.0.1:9/v1"

[[routes]]
model = "chat"
fallbacks = ["spare"]
  [[routes.targets]]
  provider = "p"
  model = "m"

[[routes]]
model = "spare"
  [[routes.targets]]
  provider = "p"
  model = "m2"
"""


def test_the_defaults() -> None:
    routing = RoutingConfig()
    assert (routing.failure_threshold, routing.cooldown_s, routing.cooldown_max_s) == (3, 10.0, 20.0)
    assert routing.ttft_timeout_s is None  # the limit is worked out per target (see dispatch.Dispatcher._settings)
    assert (routing.ttft_auto_min_s, routing.ttft_auto_factor) == (10.0, 5.0)
    policy = CooldownPolicy()
    assert (policy.failure_threshold, policy.cooldown_s, policy.cooldown_max_s) == (3, 10.0, 20.0)


async def test_a_config_without_routing_keys_runs_with_the_defaults() -> None:
    gateway, providers = build_gateway(parse_config(MINIMAL))
    try:
        assert gateway.health.policy == CooldownPolicy(
            RoutingConfig().failure_threshold, 10.0, 20.0, RoutingConfig().latency_decay,
            RoutingConfig().latency_half_life_s)
        route = gateway.table.get("chat")
        assert route is not None
        assert (route.retry.ttft_timeout_s, route.retry.ttft_auto_min_s, route.retry.ttft_auto_factor) == (
            None, 10.0, 5.0)
    finally:
        for provider in providers:
            await provider.aclose()


def test_routing_keys_reach_the_route_and_a_route_overrides_them() -> None:
    text = MINIMAL.replace('fallbacks = ["spare"]', 'fallbacks = ["spare"]\nttft_auto_factor = 3')
    config = parse_config("[routing]\nttft_auto_min_s = 4\ncooldown_max_s = 25\n" + text)
    chat, spare = (config.routes[0].retry(config.routing), config.routes[1].retry(config.routing))
    assert (chat.ttft_auto_min_s, chat.ttft_auto_factor) == (4.0, 3.0)
    assert (spare.ttft_auto_min_s, spare.ttft_auto_factor) == (4.0, 5.0)
    assert config.routing.cooldown_max_s == 25.0
    assert set(RetryConfig.model_fields) <= set(type(config.routes[0]).model_fields)  # every key per route too


def recovery_delay(policy: CooldownPolicy, down_s: float, every_s: float = 0.5) -> float:
    """A target fails every request for `down_s` (requests every `every_s`, each going to it whenever it is
    usable), then is healthy: how long until a request reaches it again and succeeds."""
    clock = FakeClock(0.0)
    health = Health(policy, clock)
    while True:
        if health.usable("t"):
            health.begin("t")
            health.end("t")
            if clock.now >= down_s:
                health.succeeded("t", 0.1)
                return clock.now - down_s
            health.failed("t")
        clock.now += every_s


@pytest.mark.parametrize("down_s", [5, 31, 60, 125.25, 600, 3600])
def test_under_the_defaults_a_recovered_target_has_traffic_back_within_30_s(down_s: float) -> None:
    delay = recovery_delay(CooldownPolicy(), down_s)
    assert delay <= 20.5  # the cap (20 s) plus the wait for the next request


def test_the_old_uncapped_growth_is_what_parked_a_recovered_target() -> None:
    # the same timeline with the previous 300 s cap: minutes without traffic after a 10-minute outage
    assert max(recovery_delay(CooldownPolicy(cooldown_max_s=300.0), down) for down in (320, 600, 900)) > 60


def test_a_cap_below_the_first_cooldown_never_shortens_it() -> None:
    clock = FakeClock(0.0)
    health = Health(CooldownPolicy(failure_threshold=1, cooldown_s=60, cooldown_max_s=20), clock)
    assert health.failed("t") == 60.0  # an operator who asked for 60 s gets 60 s
    clock.now = 60
    health.begin("t")
    assert health.failed("t") == 60.0  # and no growth past it


def test_a_429_cools_for_what_it_asked_within_the_cap() -> None:
    health = Health(CooldownPolicy(), FakeClock(0.0))
    assert health.failed("a", retry_after=3) == 3.0
    assert health.failed("b", retry_after=600) == 20.0


@pytest.mark.parametrize(("key", "value", "path"), [
    ("ttft_auto_factor", "0.5", "routing.ttft_auto_factor"),
    ("ttft_auto_min_s", "0", "routing.ttft_auto_min_s"),
    ("cooldown_max_s", "-1", "routing.cooldown_max_s"),
])
def test_gateway_check_refuses_bad_values_naming_the_key(tmp_path: Path, key: str, value: str, path: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(f"[routing]\n{key} = {value}\n" + MINIMAL)
    assert path in raised.value.report()
    file = tmp_path / "gateway.toml"
    file.write_text(MINIMAL.replace('fallbacks = ["spare"]', f'fallbacks = ["spare"]\n{key} = {value}'))
    checked = subprocess.run([sys.executable, "-m", "gateway", "check", "--config", str(file)],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 1
    assert f"routes[0].{key}" in checked.stderr


def test_gateway_check_accepts_the_new_keys(tmp_path: Path) -> None:
    file = tmp_path / "gateway.toml"
    file.write_text("[routing]\nttft_auto_min_s = 8\nttft_auto_factor = 4\ncooldown_max_s = 30\n" + MINIMAL)
    checked = subprocess.run([sys.executable, "-m", "gateway", "check", "--config", str(file)],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr


def test_the_first_token_average_is_kept_apart_from_latency() -> None:
    health = Health(CooldownPolicy(latency_decay=0.5), FakeClock(0.0))
    health.succeeded("t", 0.01)  # the first chunk came at once ...
    health.first_token("t", 4.0)  # ... the first word after the model thought
    health.first_token("t", 2.0)
    state = health.get("t")
    assert state.latency_s == pytest.approx(0.01) and state.first_token_s == pytest.approx(3.0)
