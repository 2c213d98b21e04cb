"""`gateway check`: strict TOML types, every problem at once with its key path, file problems on their own,
and the config found the way `serve` finds it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import ConfigError, ConfigFileError, load_config, parse_config

BASE = """
[[providers]]
name = "openai"
type = "openai"
base_url = "http://127.0.0.1:9/v1"
api_key = "sk-test"

[[routes]]
model = "chat"
  [[routes.targets]]
  provider = "openai"
  model = "gpt-4o-mini"
"""

# One file with a problem of every kind: types, table rules, references between sections, budgets.
EVERYTHING_WRONG = """
[server]
port = "8080"
watch_config = "true"

[[providers]]
name = "openai"
type = "opnai"
base_url = "api.openai.com/v1"

[[providers]]
name = "azure"
type = "azure"

[[routes]]
model = "chat"
strategy = "wieghted"
fallbacks = ["chta", "nope"]
context_window_fallbacks = ["larg"]
  [[routes.targets]]
  provider = "openai"
  model = "gpt-4o-mini"
  weight = "1"
  [[routes.targets]]
  provider = "opneai"
  model = "gpt-4o-mini"

[[routes]]
model = "chat2"
  [[routes.targets]]
  provider = "azure"
  model = "my-finetune"

[[keys]]
name = "team"
key = "sk-team"
budget_usd = 5
models = ["chat2", "chta"]
"""

EVERY_PROBLEM = [
    'server.port: expected an integer, got the string "8080"',
    'server.watch_config: expected true or false, got the string "true"',
    "providers[0].type: got 'opnai'; input should be 'openai', 'anthropic', 'gemini', 'azure' or 'mock'; "
    'did you mean "openai"?',
    'providers[0].base_url: must start with http:// or https://, got "api.openai.com/v1"',
    'providers[1].base_url: a provider of type "azure" needs base_url',
    "routes[0].strategy: got 'wieghted'; input should be 'weighted', 'round_robin', 'least_busy' or 'latency'; "
    'did you mean "weighted"?',
    'routes[0].targets[0].weight: expected a number, got the string "1"',
    'routes[0].targets[1].provider: no provider named "opneai"; did you mean "openai"?',
    'routes[0].fallbacks[0]: no route with model "chta"; did you mean "chat"?',
    'routes[0].fallbacks[1]: no route with model "nope"',
    'routes[0].context_window_fallbacks[0]: no route with model "larg"',
    'keys[0].models[1]: no route with model "chta"; did you mean "chat"?',
    "keys[0].budget_usd: no price for chat2: azure/my-finetune; set input_usd_per_mtok and output_usd_per_mtok on "
    "those targets (0 for a free model), or the budget cannot count their calls",
]


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return info.value.problems


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "GATEWAY_CONFIG"} | (env or {})
    return subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True, text=True, timeout=60,
                          cwd=cwd, env=environ)


# -- strict TOML types ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("toml", "problem"), [
    ('[server]\nport = "8080"', 'server.port: expected an integer, got the string "8080"'),
    ("[server]\nport = 8080.0", "server.port: expected an integer, got the number 8080.0"),
    ("[server]\nport = true", "server.port: expected an integer, got the boolean true"),
    ('[server]\naccess_log = "true"', 'server.access_log: expected true or false, got the string "true"'),
    ("[telemetry]\ncapture_content = 1", "telemetry.capture_content: expected true or false, got the integer 1"),
    ('[cache]\nttl_s = "600"', 'cache.ttl_s: expected a number, got the string "600"'),
    ("[telemetry]\nservice_name = 7", "telemetry.service_name: expected a string, got the integer 7"),
    ('[cache]\nignore_fields = "user"', 'cache.ignore_fields: expected a list, got the string "user"'),
    ("[telemetry]\nresource_attributes = 5", "telemetry.resource_attributes: expected a table, got the integer 5"),
    ("server = 1", "server: expected a table, got the integer 1"),
    ("[server]\nhost = 1979-05-27", "server.host: expected a string, got a date"),
])
def test_a_value_of_the_wrong_toml_type_is_named_with_what_was_expected(toml: str, problem: str) -> None:
    assert problems(toml + "\n" + BASE) == [problem]


def test_strings_are_not_numbers_in_nested_tables() -> None:
    text = BASE.replace('  model = "gpt-4o-mini"', '  model = "gpt-4o-mini"\n  weight = "1"')
    text = text.replace('api_key = "sk-test"', 'api_key = "sk-test"\ntimeout_s = "30"')
    assert problems(text) == ['providers[0].timeout_s: expected a number, got the string "30"',
                              'routes[0].targets[0].weight: expected a number, got the string "1"']


def test_integers_stay_fine_where_a_number_is_expected() -> None:
    text = BASE.replace('  model = "gpt-4o-mini"', '  model = "gpt-4o-mini"\n  weight = 1')
    text = text.replace('api_key = "sk-test"', 'api_key = "sk-test"\ntimeout_s = 30')
    config = parse_config(text + '[[keys]]\nname = "a"\nkey = "k"\nbudget_usd = 50\n[cache]\nttl_s = 600\n')
    assert (config.routes[0].targets[0].weight, config.providers[0].timeout_s) == (1.0, 30.0)
    assert (config.keys[0].budget_usd, config.cache.ttl_s) == (50.0, 600.0)
    assert isinstance(config.routes[0].targets[0].weight, float)


def test_a_secret_of_the_wrong_type_is_not_shown() -> None:
    text = BASE.replace('api_key = "sk-test"', "api_key = 123456789\nheaders = { x-api-key = 987654321 }")
    found = problems(text + '[[keys]]\nname = "a"\nkey = 55555555\n[admin]\nkey = 44444444\n')
    assert found == ["providers[0].api_key: expected a string, got an integer",
                     "providers[0].headers.x-api-key: expected a string, got an integer",
                     "admin.key: expected a string, got an integer",
                     "keys[0].key: expected a string, got an integer"]


def test_a_single_table_written_for_an_array_of_tables_says_how_to_write_it() -> None:
    text = ('[providers]\nname = "m"\ntype = "mock"\n'
            '[[routes]]\nmodel = "x"\n[routes.targets]\nprovider = "m"\nmodel = "y"\n')
    assert problems(text) == [
        "providers: expected a list, got a table; write each one as [[providers]]",
        "routes[0].targets: expected a list, got a table; write each one as [[routes.targets]]",
    ]


# -- every problem at its own key, in one pass ------------------------------------------------------------------


def test_every_problem_is_reported_at_once_with_its_key_path() -> None:
    assert problems(EVERYTHING_WRONG) == EVERY_PROBLEM


@pytest.mark.parametrize(("provider", "problem"), [
    ('type = "openai"', 'providers[0].base_url: a provider of type "openai" needs base_url'),
    ('type = "openai"\nbase_url = "ftp://x"', 'providers[0].base_url: must start with http:// or https://, got "ftp://x"'),
    ('type = "azure"\nbase_url = "https://r.openai.azure.com"\npreset = "groq"',
     'providers[0].preset: preset "groq" is for providers of type "openai", not "azure"'),
    ('type = "mock"\napi_version = "v1"', 'providers[0].api_version: api_version is for providers of type "azure", '
                                          'not "mock"'),
])
def test_provider_rules_are_located_at_the_key_they_are_about(provider: str, problem: str) -> None:
    text = (f'[[providers]]\nname = "p"\n{provider}\n'
            '[[routes]]\nmodel = "x"\n[[routes.targets]]\nprovider = "p"\nmodel = "y"\n')
    assert problems(text) == [problem]


def test_a_table_rule_is_reported_beside_the_table_s_other_problems() -> None:
    # before, the key/key_sha256 rule only ran once every key of the table was valid
    text = BASE + '[[keys]]\nname = "a"\nkey = "sk-a"\nkey_sha256 = "' + "a" * 64 + '"\nrpm = "60"\n'
    assert problems(text) == ['keys[0].rpm: expected an integer, got the string "60"',
                              "keys[0]: set key or key_sha256, not both"]
    target = BASE.replace('  model = "gpt-4o-mini"', '  model = "gpt-4o-mini"\n  weight = 0\n  input_usd_per_mtok = 1')
    assert problems(target) == [
        "routes[0].targets[0].weight: input should be greater than 0",
        "routes[0].targets[0]: set both input_usd_per_mtok and output_usd_per_mtok (0 for a free direction), "
        "or neither",
    ]


def test_a_budget_problem_is_reported_while_other_tables_are_invalid() -> None:
    text = BASE.replace('model = "gpt-4o-mini"\n', 'model = "my-finetune"\n') + (
        '[server]\nport = "80"\n[[keys]]\nname = "bad"\nrpm = -1\n'
        '[[keys]]\nname = "budget"\nkey = "k"\nbudget_usd = 1\n')
    assert problems(text) == [
        'server.port: expected an integer, got the string "80"',
        "keys[0].rpm: input should be greater than 0",
        "keys[1].budget_usd: no price for chat: openai/my-finetune; set input_usd_per_mtok and output_usd_per_mtok on "
        "those targets (0 for a free model), or the budget cannot count their calls",
    ]


def test_unknown_fallback_routes_are_errors_with_a_suggestion() -> None:
    text = BASE.replace('model = "chat"\n', 'model = "chat"\nfallbacks = ["backup", "bakcup"]\n'
                        'context_window_fallbacks = ["large"]\n', 1)
    text += '[[routes]]\nmodel = "backup"\n[[routes.targets]]\nprovider = "openai"\nmodel = "b"\n'
    assert problems(text) == ['routes[0].fallbacks[1]: no route with model "bakcup"; did you mean "backup"?',
                              'routes[0].context_window_fallbacks[0]: no route with model "large"']


def test_a_mistyped_section_or_value_gets_a_suggestion() -> None:
    assert problems("[sever]\nport = 1\n" + BASE) == ['sever: unknown key; did you mean "server"?']
    assert problems('[cache]\nbackend = "memroy"\n' + BASE) == [
        "cache.backend: got 'memroy'; input should be 'memory', 'redis' or 'none'; did you mean \"memory\"?"]
    # the loader's own field is not a key of the file
    assert problems('sourc = "x"\n' + BASE) == ["sourc: unknown key"]
    assert problems('source = "x"\n' + BASE) == ["source: unknown key"]


# -- the file itself --------------------------------------------------------------------------------------------


def test_a_missing_file_is_its_own_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError) as info:
        load_config(tmp_path / "gateway.toml")
    assert info.value.problems == [f"no such file (looked at {tmp_path / 'gateway.toml'})"]
    assert "Fix these keys" not in info.value.report()


def test_a_toml_syntax_error_names_line_and_column() -> None:
    with pytest.raises(ConfigFileError) as info:
        parse_config('[server]\nport = 8080\nhost = "127.0.0.1\n', source="g.toml")
    assert info.value.problems == ["not valid TOML at line 3, column 18: illegal character '\\n'"]
    assert info.value.report() == "g.toml: not valid TOML at line 3, column 18: illegal character '\\n'"


def test_a_file_that_cannot_be_read_says_why(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError) as info:
        load_config(tmp_path)
    assert info.value.problems == ["cannot read the file: Is a directory"]
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(b'# caf\xe9\n' + BASE.encode())
    with pytest.raises(ConfigFileError) as info:
        load_config(latin1)
    assert info.value.problems == ["cannot read the file: not UTF-8 text (byte 5)"]


# -- the command ------------------------------------------------------------------------------------------------


def test_check_reports_a_missing_file_and_what_to_do(tmp_path: Path) -> None:
    result = run_cli("check", "--config", "gateway.toml", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"gateway.toml: no such file (looked at {tmp_path / 'gateway.toml'})",
        "Give the config's path with --config PATH or $GATEWAY_CONFIG; with neither, ./gateway.toml is used, "
        "else the built-in demo config.",
    ]
    assert result.stdout == ""


def test_check_reports_a_toml_syntax_error_with_line_and_column(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('[server\nport = 1\n[[providers]]\napi_key = "sk-not-shown"\n')
    result = run_cli("check", "--config", "bad.toml", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == "bad.toml: not valid TOML at line 1, column 8: expected ']' at the end of a table " \
                            "declaration\n"
    assert "Fix these keys" not in result.stderr


def test_check_reports_every_problem_at_once(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text(EVERYTHING_WRONG)
    result = run_cli("check", "--config", "bad.toml", cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == f"bad.toml: invalid config ({len(EVERY_PROBLEM)} problem(s))"
    assert lines[1:-1] == [f"  {p}" for p in EVERY_PROBLEM]
    assert lines[-1].startswith("Fix these keys")


def test_serve_refuses_with_the_same_report_as_check(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text(EVERYTHING_WRONG)
    (tmp_path / "broken.toml").write_text("[server\n")
    for name in ("bad.toml", "broken.toml", "missing.toml"):
        checked = run_cli("check", "--config", name, cwd=tmp_path)
        served = run_cli("serve", "--config", name, "--port", "0", cwd=tmp_path)
        assert (checked.returncode, served.returncode) == (1, 1)
        assert served.stderr == checked.stderr + "The gateway did not start.\n"


def test_check_without_config_and_no_gateway_toml_checks_the_demo(tmp_path: Path) -> None:
    result = run_cli("check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("built-in demo config (no --config, $GATEWAY_CONFIG or ./gateway.toml): OK (")


def test_check_without_config_uses_gateway_toml_in_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "gateway.toml").write_text(BASE)
    result = run_cli("check", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "gateway.toml: OK (1 providers, 1 routes, 0 keys)\n")
    (tmp_path / "gateway.toml").write_text(BASE + '[server]\nport = "80"\n')
    result = run_cli("check", cwd=tmp_path)
    assert result.returncode == 1
    assert '  server.port: expected an integer, got the string "80"' in result.stderr.splitlines()


def test_check_follows_gateway_config_before_gateway_toml_and_config_before_both(tmp_path: Path) -> None:
    (tmp_path / "gateway.toml").write_text("not toml")
    (tmp_path / "env.toml").write_text(BASE)
    other = BASE.replace('name = "openai"', 'name = "other"').replace('provider = "openai"', 'provider = "other"')
    (tmp_path / "flag.toml").write_text(BASE + other.replace('"chat"', '"chat2"'))
    by_env = run_cli("check", cwd=tmp_path, env={"GATEWAY_CONFIG": "env.toml"})
    assert (by_env.returncode, by_env.stdout) == (0, "env.toml: OK (1 providers, 1 routes, 0 keys)\n")
    by_flag = run_cli("check", "--config", "flag.toml", cwd=tmp_path, env={"GATEWAY_CONFIG": "env.toml"})
    assert (by_flag.returncode, by_flag.stdout) == (0, "flag.toml: OK (2 providers, 2 routes, 0 keys)\n")
    missing = run_cli("check", cwd=tmp_path, env={"GATEWAY_CONFIG": "gone.toml"})
    assert missing.returncode == 1
    assert missing.stderr.startswith(f"gone.toml: no such file (looked at {tmp_path / 'gone.toml'})\n")


def test_warnings_are_printed_after_ok_and_do_not_fail(tmp_path: Path) -> None:
    (tmp_path / "gateway.toml").write_text(BASE.replace('"sk-test"', '"${GW_TEST_CHECK_UNSET}"')
                                           + '[cache]\nbackend = "memory"\nredis_url = "redis://h:6379/0"\n')
    environ = {k: v for k, v in os.environ.items() if k not in ("GATEWAY_CONFIG", "GW_TEST_CHECK_UNSET")}
    result = subprocess.run([sys.executable, "-m", "gateway", "check"], capture_output=False, text=True, timeout=60,
                            cwd=tmp_path, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert result.returncode == 0
    assert result.stdout.splitlines() == [
        "gateway.toml: OK (1 providers, 1 routes, 0 keys)",
        "warning: providers[0].api_key: environment variable GW_TEST_CHECK_UNSET is not set; using an empty value",
        'warning: cache.redis_url: only read with backend = "redis"; it does nothing with backend = "memory"',
    ]


def test_a_value_that_is_one_env_var_reads_as_the_type_its_key_wants(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GW_TEST_PORT", "9090")
    monkeypatch.setenv("GW_TEST_NUMERIC_KEY", "12345")
    config = parse_config('[server]\nport = "${GW_TEST_PORT}"\naccess_log = "${GW_TEST_FLAG:-true}"\n'
                          '[[providers]]\nname = "m"\ntype = "mock"\napi_key = "${GW_TEST_NUMERIC_KEY}"\n'
                          '[[routes]]\nmodel = "x"\n[[routes.targets]]\nprovider = "m"\nmodel = "y"\n'
                          'weight = "${GW_TEST_WEIGHT:-2.5}"\n')
    assert (config.server.port, config.server.access_log) == (9090, True)
    assert config.providers[0].api_key == "12345"  # a string key stays a string, digits or not
    assert config.routes[0].targets[0].weight == 2.5
    with pytest.raises(ConfigError) as info:  # more than the variable: a string, as written
        parse_config('[server]\nport = "${GW_TEST_PORT}0x"\n[[providers]]\nname = "m"\ntype = "mock"\n'
                     '[[routes]]\nmodel = "x"\n[[routes.targets]]\nprovider = "m"\nmodel = "y"\n')
    assert info.value.problems == ['server.port: expected an integer, got the string "90900x"']
