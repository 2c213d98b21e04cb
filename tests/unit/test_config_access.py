"""Config for access: [[keys]], target prices, route limits and [limits]; every problem names its TOML key."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from gateway.config import ConfigError, load_config, parse_config, parse_config_with_warnings
from gateway.routing.table import RouteTable

BASE = """
[[providers]]
name = "oa"
type = "openai"
base_url = "http://127.0.0.1:9/v1"
[[providers]]
name = "mk"
type = "mock"
[[routes]]
model = "gpt-4o"
[[routes.targets]]
provider = "oa"
model = "gpt-4o-2024-08-06"
[[routes]]
model = "gpt-4o-mini"
[[routes.targets]]
provider = "oa"
model = "gpt-4o-mini"
[[routes]]
model = "custom"
[[routes.targets]]
provider = "oa"
model = "my-finetune"
[[routes]]
model = "local"
[[routes.targets]]
provider = "mk"
model = "anything"
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(BASE + text)
    return info.value.problems


def key(body: str, name: str = "a") -> str:
    return f'[[keys]]\nname = "{name}"\n{body}\n'


# -- [[keys]] ---------------------------------------------------------------------------------------------------


def test_a_full_key_parses() -> None:
    config = parse_config(BASE + key('key = "sk-a"\nmodels = ["gpt-*", "local"]\nrpm = 60\ntpm = 10000\n'
                                     'max_concurrent = 4\nbudget_usd = 12.5\nbudget_period = "day"'))
    [k] = config.keys
    assert (k.name, k.key, k.key_sha256, k.models) == ("a", "sk-a", None, ["gpt-*", "local"])
    assert (k.rpm, k.tpm, k.max_concurrent, k.budget_usd, k.budget_period) == (60, 10000, 4, 12.5, "day")
    assert "sk-a" in config.secrets()


def test_key_defaults() -> None:
    [k] = parse_config(BASE + key('key = "sk-a"')).keys
    assert (k.models, k.rpm, k.tpm, k.max_concurrent, k.budget_usd, k.budget_period) == (
        None, None, None, None, None, "month")


def test_key_and_key_sha256_together_is_an_error() -> None:
    assert problems(key(f'key = "sk-a"\nkey_sha256 = "{"a" * 64}"')) == ["keys[0]: set key or key_sha256, not both"]


def test_key_sha256_must_be_64_hex_digits() -> None:
    assert problems(key('key_sha256 = "abc"')) == [
        "keys[0].key_sha256: string should match pattern '^[0-9a-fA-F]{64}$'"]
    [k] = parse_config(BASE + key(f'key_sha256 = "{"AB" * 32}"')).keys
    assert k.key_sha256 == "AB" * 32 and k.key == ""


def test_models_must_name_routes() -> None:
    assert problems(key('key = "k"\nmodels = ["gpt-4o", "claude-*", "gpt-4", "gpt-4o?", "[xyz]*"]')) == [
        'keys[0].models[1]: "claude-*" matches no route',
        'keys[0].models[2]: no route with model "gpt-4"; did you mean "gpt-4o"?',
        'keys[0].models[3]: "gpt-4o?" matches no route',
        'keys[0].models[4]: "[xyz]*" matches no route',
    ]


def test_wildcards_that_match_a_route_are_fine() -> None:
    [k] = parse_config(BASE + key('key = "k"\nmodels = ["gpt-4o*", "?ocal", "[c]ustom"]')).keys
    assert k.models == ["gpt-4o*", "?ocal", "[c]ustom"]


def test_duplicate_keys_and_names_are_errors() -> None:
    digest = hashlib.sha256(b"sk-same").hexdigest()
    text = (key('key = "sk-same"', "a") + key('key = "sk-same"', "b") + key(f'key_sha256 = "{digest.upper()}"', "c")
            + key('key = "sk-other"', "a"))
    assert problems(text) == [
        'keys[3].name: "a" is already used by keys[0]',
        "keys[1]: the same key as keys[0]; each key must be different",
        "keys[2]: the same key as keys[0]; each key must be different",  # its SHA-256, in upper case
    ]


def test_two_unset_keys_are_not_the_same_key() -> None:
    _, warnings = parse_config_with_warnings(BASE + key('key = ""', "a") + key('key = ""', "b"))
    assert warnings == ["keys[0].key: empty; no request can use this key",
                        "keys[1].key: empty; no request can use this key"]


def test_a_key_from_an_unset_variable_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GW_TEST_UNSET_KEY", raising=False)
    config, warnings = parse_config_with_warnings(BASE + key('key = "${GW_TEST_UNSET_KEY}"'))
    assert config.keys[0].key == ""
    assert warnings == ["keys[0].key: environment variable GW_TEST_UNSET_KEY is not set; using an empty value",
                        "keys[0].key: empty; no request can use this key"]


def test_an_empty_key_beside_key_sha256_does_not_warn() -> None:
    digest = hashlib.sha256(b"sk-a").hexdigest()
    _, warnings = parse_config_with_warnings(BASE + key(f'key = ""\nkey_sha256 = "{digest}"'))
    assert warnings == []


@pytest.mark.parametrize("field", ["rpm", "tpm", "max_concurrent"])
@pytest.mark.parametrize("value", ["0", "-1"])
def test_key_limits_must_be_positive(field: str, value: str) -> None:
    assert problems(key(f'key = "k"\n{field} = {value}')) == [f"keys[0].{field}: input should be greater than 0"]


def test_key_field_problems_name_their_keys() -> None:
    assert problems(key('key = "k"\nbudget_usd = -1\nbudget_period = "week"\nbudget = 3') + key('key = "j"', "")) == [
        "keys[0].budget_usd: input should be greater than or equal to 0",
        "keys[0].budget_period: got 'week'; input should be 'day', 'month' or 'total'",
        'keys[0].budget: unknown key; did you mean "budget_usd"?',
        "keys[1].name: string should have at least 1 character",
    ]


# -- budgets need prices ----------------------------------------------------------------------------------------


def test_a_budget_over_every_route_names_the_unpriced_target() -> None:
    assert problems(key('key = "k"\nbudget_usd = 5')) == [
        "keys[0].budget_usd: no price for custom: oa/my-finetune; set input_usd_per_mtok and output_usd_per_mtok "
        "on those targets (0 for a free model), or the budget cannot count their calls"]


def test_a_zero_budget_needs_prices_too() -> None:
    [problem] = problems(key('key = "k"\nbudget_usd = 0\nmodels = ["custom"]'))
    assert problem.startswith("keys[0].budget_usd: no price for custom: oa/my-finetune;")


def test_a_budget_limited_to_priced_routes_is_fine() -> None:
    # gpt-4o-2024-08-06 and gpt-4o-mini from the built-in table, `local` is the free mock
    [k] = parse_config(BASE + key('key = "k"\nbudget_usd = 5\nmodels = ["gpt-*", "local"]')).keys
    assert k.budget_usd == 5.0


def test_a_budget_reaching_an_unpriced_route_by_fallback_names_it() -> None:
    text = BASE.replace('model = "gpt-4o-mini"\n[[routes.targets]]',
                        'model = "gpt-4o-mini"\nfallbacks = ["custom"]\n[[routes.targets]]')
    with pytest.raises(ConfigError) as info:
        parse_config(text + key('key = "k"\nbudget_usd = 5\nmodels = ["gpt-4o-mini"]', "b")
                     + key('key = "j"\nbudget_usd = 5\nmodels = ["gpt-4o"]', "c"))
    assert [p.split(";")[0] for p in info.value.problems] == ["keys[0].budget_usd: no price for custom: oa/my-finetune"]


def test_a_target_price_makes_a_budget_possible() -> None:
    free = 'model = "my-finetune"\ninput_usd_per_mtok = 0\noutput_usd_per_mtok = 0'
    text = BASE.replace('model = "my-finetune"', free)
    [k] = parse_config(text + key('key = "k"\nbudget_usd = 5')).keys
    assert k.budget_usd == 5.0


# -- target prices ----------------------------------------------------------------------------------------------


def target(prices: str) -> str:
    return f'[[routes]]\nmodel = "priced"\n[[routes.targets]]\nprovider = "oa"\nmodel = "x"\n{prices}\n'


def test_target_prices_parse() -> None:
    config = parse_config(BASE + target("input_usd_per_mtok = 1.5\noutput_usd_per_mtok = 0\n"
                                        "cached_input_usd_per_mtok = 0.25"))
    priced = config.routes[4].targets[0]
    assert (priced.input_usd_per_mtok, priced.output_usd_per_mtok, priced.cached_input_usd_per_mtok) == (1.5, 0, 0.25)
    assert config.routes[0].targets[0].input_usd_per_mtok is None


@pytest.mark.parametrize("prices", ["input_usd_per_mtok = 1", "output_usd_per_mtok = 1",
                                    "input_usd_per_mtok = 1\ncached_input_usd_per_mtok = 0.5"])
def test_input_and_output_prices_go_together(prices: str) -> None:
    assert problems(target(prices)) == [
        "routes[4].targets[0]: set both input_usd_per_mtok and output_usd_per_mtok (0 for a free direction), "
        "or neither"]


def test_a_cached_price_needs_the_others() -> None:
    assert problems(target("cached_input_usd_per_mtok = 0.5")) == [
        "routes[4].targets[0]: cached_input_usd_per_mtok needs input_usd_per_mtok and output_usd_per_mtok too"]


def test_prices_cannot_be_negative() -> None:
    assert problems(target("input_usd_per_mtok = -1\noutput_usd_per_mtok = 1\ncached_input_usd_per_mtok = -2")) == [
        "routes[4].targets[0].input_usd_per_mtok: input should be greater than or equal to 0",
        "routes[4].targets[0].cached_input_usd_per_mtok: input should be greater than or equal to 0",
    ]


# -- route limits -----------------------------------------------------------------------------------------------


def route(body: str) -> str:
    return f'[[routes]]\nmodel = "limited"\n{body}\n[[routes.targets]]\nprovider = "mk"\nmodel = "m"\n'


def test_route_limits_reach_the_route_table() -> None:
    config = parse_config(BASE + route("rpm = 100\ntpm = 50000\nmax_concurrent = 8\ncache_shared = true"))
    limited = RouteTable(config).get("limited")
    assert limited is not None
    assert (limited.rpm, limited.tpm, limited.max_concurrent, limited.cache_shared) == (100, 50000, 8, True)
    plain = RouteTable(config).get("gpt-4o")
    assert plain is not None
    assert (plain.rpm, plain.tpm, plain.max_concurrent, plain.cache_shared) == (None, None, None, None)


def test_route_limits_must_be_positive() -> None:
    assert problems(route("rpm = 0\ntpm = -5\nmax_concurrent = 0")) == [
        "routes[4].rpm: input should be greater than 0",
        "routes[4].tpm: input should be greater than 0",
        "routes[4].max_concurrent: input should be greater than 0",
    ]


def test_cache_shared_is_a_boolean() -> None:
    assert problems(route('cache_shared = "sometimes"')) == [
        'routes[4].cache_shared: expected true or false, got the string "sometimes"']


def test_limits_on_a_target_are_unknown_keys() -> None:
    assert problems(target("rpm = 5")) == ["routes[4].targets[0].rpm: unknown key"]


# -- [limits] ---------------------------------------------------------------------------------------------------


def test_limits_defaults() -> None:
    limits = parse_config(BASE).limits
    assert (limits.backend, limits.redis_url, limits.key_prefix) == (
        "memory", "redis://127.0.0.1:6379/0", "llm-gateway:limits:")
    assert (limits.redis_timeout_s, limits.redis_retry_s, limits.on_backend_error, limits.lease_s) == (
        0.25, 1.0, "open", 600.0)
    assert (limits.spend_file, limits.spend_flush_s) == ("gateway-spend.sqlite3", 1.0)


def test_limits_section_parses() -> None:
    config = parse_config(BASE + '[limits]\nbackend = "redis"\nredis_url = "rediss://u:pw-secret@r:6380/2"\n'
                                 'key_prefix = "gw:"\nredis_timeout_s = 0.1\nredis_retry_s = 0\n'
                                 'on_backend_error = "closed"\nlease_s = 30\nspend_file = ""\nspend_flush_s = 5\n')
    limits = config.limits
    assert (limits.backend, limits.redis_url, limits.key_prefix, limits.redis_timeout_s) == (
        "redis", "rediss://u:pw-secret@r:6380/2", "gw:", 0.1)
    assert (limits.redis_retry_s, limits.on_backend_error, limits.lease_s, limits.spend_file) == (0, "closed", 30, "")
    assert "pw-secret" in config.secrets()


def test_limits_problems_name_their_keys() -> None:
    assert problems('[limits]\nbackend = "sql"\nredis_url = "http://x"\nredis_timeout_s = 0\nredis_retry_s = -1\n'
                    'on_backend_error = "maybe"\nlease = 3\nlease_s = 0\nspend_flush_s = 0\n') == [
        "limits.backend: got 'sql'; input should be 'memory' or 'redis'",
        "limits.redis_url: string should match pattern '^(redis|rediss|unix)://'",
        "limits.redis_timeout_s: input should be greater than 0",
        "limits.redis_retry_s: input should be greater than or equal to 0",
        "limits.on_backend_error: got 'maybe'; input should be 'open' or 'closed'",
        "limits.lease_s: input should be greater than 0",
        "limits.spend_flush_s: input should be greater than 0",
        'limits.lease: unknown key; did you mean "lease_s"?',
    ]


def test_every_problem_comes_back_at_once() -> None:
    found = problems(key('key = "k"\nrpm = 0') + key(f'key = "j"\nkey_sha256 = "{"0" * 64}"', "b")
                     + route("tpm = 0") + '[limits]\nlease_s = -1\n')
    assert sorted(p.split(":")[0] for p in found) == ["keys[0].rpm", "keys[1]", "limits.lease_s", "routes[4].tpm"]


def test_keys_the_chosen_backend_does_not_read_are_warned_about() -> None:
    _, warnings = parse_config_with_warnings(
        BASE + '[limits]\nredis_url = "redis://h:6379/0"\nlease_s = 30\nspend_file = "s.db"\n'
        '[cache]\nbackend = "redis"\nmax_entries = 5\nlock_wait_s = 1\n')
    assert warnings == [
        'cache.max_entries: only read with backend = "memory"; it does nothing with backend = "redis"',
        'limits.lease_s: only read with backend = "redis"; it does nothing with backend = "memory"',
        'limits.redis_url: only read with backend = "redis"; it does nothing with backend = "memory"',
    ]
    _, quiet = parse_config_with_warnings(BASE + '[limits]\nbackend = "redis"\nlease_s = 30\n'
                                          '[cache]\nmax_entries = 5\n')
    assert quiet == []


def test_the_example_config_checks_without_a_warning() -> None:
    _, warnings = load_config(Path(__file__).resolve().parents[2] / "config.example.toml")
    assert warnings == []


def test_one_state_redis_url_shares_the_cache_and_the_limits() -> None:
    config, warnings = parse_config_with_warnings('[state]\nredis_url = "redis://:pw-4321@h:6379/1"\n'
                                                  '[cache]\nttl_s = 5\n' + BASE)
    assert (config.cache.backend, config.cache.redis_url) == ("redis", "redis://:pw-4321@h:6379/1")
    assert (config.limits.backend, config.limits.redis_url) == ("redis", "redis://:pw-4321@h:6379/1")
    assert warnings == [] and "pw-4321" in config.secrets()
    no_cache = parse_config('[state]\nredis_url = "redis://h:6379/1"\n' + BASE)
    assert no_cache.cache.backend == "none"  # the cache stays opt-in
    own, warnings = parse_config_with_warnings('[state]\nredis_url = "redis://h:6379/1"\n'
                                               '[limits]\nbackend = "memory"\n[cache]\nredis_url = "redis://c/0"\n'
                                               + BASE)
    assert own.limits.backend == "memory" and own.cache.redis_url == "redis://c/0" and warnings == []
