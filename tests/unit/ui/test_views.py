"""The live page's redacted config: no secret of any kind, everything else as configured."""

from __future__ import annotations

import json

from gateway.config import parse_config
from gateway.ui import views

SECRETS = ["sk-provider-secret-1", "sk-gateway-key-2", "admin-secret-3", "redis-pass-4", "otlp-token-5",
           "header-secret-6", "cache-pass-7", "limits-pass-8"]
CONFIG = f"""
[admin]
key = "{SECRETS[2]}"
[telemetry]
otlp_headers = {{ "x-honeycomb-team" = "{SECRETS[4]}" }}
[cache]
backend = "memory"
redis_url = "redis://:{SECRETS[6]}@127.0.0.1:6390/0"
[responses]
backend = "memory"
redis_url = "redis://user:{SECRETS[3]}@127.0.0.1:6391/0"
[limits]
redis_url = "redis://:{SECRETS[7]}@127.0.0.1:6392/0"
[[providers]]
name = "p"
type = "openai"
base_url = "http://127.0.0.1:9/v1"
api_key = "{SECRETS[0]}"
headers = {{ "x-api-key" = "{SECRETS[5]}", "x-team" = "blue" }}
[[routes]]
model = "r"
  [[routes.targets]]
  provider = "p"
  model = "m"
[[keys]]
name = "team-a"
key = "{SECRETS[1]}"
[[keys]]
name = "team-b"
key_sha256 = "{"ab" * 32}"
"""


def test_no_secret_appears_and_the_rest_is_as_configured() -> None:
    config = parse_config(CONFIG)
    shown = views.redacted_config(config)
    text = json.dumps(shown)
    for secret in [*SECRETS, "ab" * 32]:
        assert secret not in text
    assert shown["providers"][0]["api_key"] == "[redacted]"
    assert shown["providers"][0]["headers"] == {"x-api-key": "[redacted]", "x-team": "blue"}
    assert shown["telemetry"]["otlp_headers"] == {"x-honeycomb-team": "[redacted]"}
    assert shown["cache"]["redis_url"] == "redis://:[redacted]@127.0.0.1:6390/0"
    assert shown["responses"]["redis_url"] == "redis://user:[redacted]@127.0.0.1:6391/0"
    assert [k["name"] for k in shown["keys"]] == ["team-a", "team-b"]
    assert shown["keys"][0]["key"] == "[redacted]" and shown["keys"][1]["key_sha256"] == "[redacted]"
    assert shown["admin"]["key"] == "[redacted]"
    assert shown["routes"][0]["targets"][0]["model"] == "m" and shown["ui"]["enabled"] is True
    assert shown["providers"][0]["base_url"] == "http://127.0.0.1:9/v1"
