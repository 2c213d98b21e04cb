from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import ConfigError, load_config, load_demo_config, parse_config, parse_config_with_warnings

ROOT = Path(__file__).resolve().parents[2]

MINIMAL = """
[[providers]]
name = "openai"
type = "openai"
base_url = "http://127.0.0.1:9/v1"
api_key = "sk-test"

[[routes]]
model = "gpt-4o-mini"
  [[routes.targets]]
  provider = "openai"
  model = "gpt-4o-mini"
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return info.value.problems


CLAUDE_HAIKU = """
[[routes]]
model = "claude-haiku"
  [[routes.targets]]
  provider = "openai-main"
  model = "claude-haiku"
  input_usd_per_mtok = 0.8
  output_usd_per_mtok = 4.0
"""


def test_contract_example_parses_as_written() -> None:
    # The CONTRACT.md config block: every key there must keep working. Its fallback names a route the block
    # does not define, which is an error (failover would be off), so the route it names is added here.
    contract = (ROOT.parent / "shared" / "CONTRACT.md").read_text() if (ROOT.parent / "shared").exists() else ""
    block = contract.split("```toml", 1)[1].split("```", 1)[0] if "```toml" in contract else None
    if block is None:
        pytest.skip("shared/CONTRACT.md is not next to the repository")
    assert problems(block) == ['routes[0].fallbacks[0]: no route with model "claude-haiku"']
    config = parse_config(block + CLAUDE_HAIKU)
    assert config.routes[0].fallbacks == ["claude-haiku"]
    assert config.telemetry.exporter == "otlp"
    assert (config.server.port, config.routes[0].targets[0].weight, config.keys[0].budget_usd) == (8080, 3.0, 50.0)


def test_minimal_config_gets_defaults() -> None:
    config = parse_config(MINIMAL)
    assert config.server.port == 8080
    assert config.server.max_request_bytes == 10 * 1024 * 1024
    assert config.cache.backend == "none"
    assert config.routes[0].strategy == "weighted"
    assert config.routes[0].targets[0].weight == 1


def test_env_expansion(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GW_TEST_KEY", "sk-from-env")
    monkeypatch.delenv("GW_TEST_MISSING", raising=False)
    text = MINIMAL.replace('"sk-test"', '"${GW_TEST_KEY}"').replace(
        'base_url = "http://127.0.0.1:9/v1"', 'base_url = "${GW_TEST_MISSING:-http://127.0.0.1:7/v1}"'
    )
    config = parse_config(text)
    assert config.providers[0].api_key == "sk-from-env"
    assert config.providers[0].base_url == "http://127.0.0.1:7/v1"


def test_unset_variable_without_default_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GW_TEST_MISSING", raising=False)
    config, warnings = parse_config_with_warnings(MINIMAL.replace('"sk-test"', '"${GW_TEST_MISSING}"'))
    assert config.providers[0].api_key == ""
    assert warnings == ["providers[0].api_key: environment variable GW_TEST_MISSING is not set; using an empty value"]


def test_dollar_escape() -> None:
    config = parse_config(MINIMAL.replace('"sk-test"', '"a$${NOT_A_VAR}"'))
    assert config.providers[0].api_key == "a${NOT_A_VAR}"


def test_unknown_provider_is_reported_with_key_path_and_suggestion() -> None:
    text = MINIMAL.replace('provider = "openai"', 'provider = "opnai"')
    assert problems(text) == ['routes[0].targets[0].provider: no provider named "opnai"; did you mean "openai"?']


def test_every_problem_is_reported_at_once() -> None:
    text = """
[server]
prot = 8080
[[providers]]
name = "openai"
type = "opnai"
[[providers]]
name = "openai"
type = "openai"
[[routes]]
model = "a"
fallbacks = ["b", "a"]
  [[routes.targets]]
  provider = "opnai"
  model = "x"
  weight = -1
"""
    found = problems(text)
    assert 'server.prot: unknown key; did you mean "port"?' in found
    assert any(p.startswith("providers[0].type: got 'opnai'") for p in found)
    assert 'providers[1].base_url: a provider of type "openai" needs base_url' in found
    assert any(p.startswith("routes[0].targets[0].weight:") for p in found)
    assert 'providers[1].name: "openai" is already used by providers[0]' in found
    assert 'routes[0].targets[0].provider: no provider named "opnai"; did you mean "openai"?' in found
    assert 'routes[0].fallbacks[1]: a route cannot fall back to itself ("a")' in found


def test_unknown_key_in_nested_table_suggests() -> None:
    text = MINIMAL.replace('  model = "gpt-4o-mini"\n', '  model = "gpt-4o-mini"\n  wieght = 2\n', 1)
    text = MINIMAL + '\n[cache]\nttl = 5\n'
    assert problems(text) == ['cache.ttl: unknown key; did you mean "ttl_s"?']


def test_missing_sections_and_bad_toml() -> None:
    assert problems("") == ["providers: required key is missing", "routes: required key is missing"]
    [problem] = problems("[server\nport = 1")
    assert problem == "not valid TOML at line 1, column 8: expected ']' at the end of a table declaration"


def test_keys_models_must_name_routes() -> None:
    text = MINIMAL + '\n[[keys]]\nname = "a"\nkey = "k-1234"\nmodels = ["gpt4o-mini"]\n'
    assert problems(text) == ['keys[0].models[0]: no route with model "gpt4o-mini"; did you mean "gpt-4o-mini"?']


def test_secrets_lists_every_key() -> None:
    text = MINIMAL + '\n[admin]\nkey = "admin-secret"\n[[keys]]\nname = "a"\nkey = "team-secret"\n'
    assert set(parse_config(text).secrets()) == {"sk-test", "admin-secret", "team-secret"}


def test_demo_config_is_valid_and_offline() -> None:
    config = load_demo_config()
    assert {p.type for p in config.providers} == {"mock"}
    assert "gpt-4o-mini" in [r.model for r in config.routes]


def test_load_config_reports_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml")
    assert info.value.problems == [f"no such file (looked at {tmp_path / 'nope.toml'})"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True, text=True, timeout=60)


def test_check_command_accepts_the_example_config() -> None:
    result = run_cli("check", "--config", str(ROOT / "config.example.toml"))
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_check_command_prints_every_problem_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(MINIMAL.replace('provider = "openai"', 'provider = "opnai"') + "\n[server]\nprot = 1\n")
    result = run_cli("check", "--config", str(bad))
    assert result.returncode == 1
    assert 'routes[0].targets[0].provider: no provider named "opnai"; did you mean "openai"?' in result.stderr
    assert 'server.prot: unknown key; did you mean "port"?' in result.stderr


def test_serve_refuses_an_invalid_config_with_the_same_report(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(MINIMAL.replace('provider = "openai"', 'provider = "opnai"'))
    result = run_cli("serve", "--config", str(bad), "--port", "0")
    assert result.returncode == 1
    assert 'routes[0].targets[0].provider: no provider named "opnai"; did you mean "openai"?' in result.stderr
    assert "did not start" in result.stderr


def test_every_provider_type_is_available(tmp_path: Path) -> None:
    from typing import get_args

    from gateway.config import ProviderType
    from gateway.providers.registry import REGISTRY

    assert set(get_args(ProviderType)) <= set(REGISTRY)
    path = tmp_path / "c.toml"
    path.write_text(MINIMAL.replace('type = "openai"', 'type = "gemini"'))
    result = run_cli("check", "--config", str(path))
    assert result.returncode == 0, result.stderr


def test_secrets_include_collector_headers_and_secret_provider_headers() -> None:
    headers = 'headers = { "x-api-key" = "hdr-secret-1", "x-team" = "blue" }'
    text = MINIMAL.replace('api_key = "sk-test"', f'api_key = "sk-test"\n{headers}')
    text += '\n[telemetry]\notlp_headers = { "authorization" = "Bearer otlp-secret" }\n'
    secrets = parse_config(text).secrets()
    assert {"hdr-secret-1", "Bearer otlp-secret"} <= set(secrets)
    assert "blue" not in secrets
