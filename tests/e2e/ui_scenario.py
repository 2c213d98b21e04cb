"""A gateway with something to show on its live page (`GET /ui`), for the JSON and the browser tests.

    with ExitStack() as stack:
        scene = Scenario.start(stack)
        scene.send_traffic()          # a failover, a cache miss then hit, a stream cut and resumed, refusals

Real servers only: the gateway on loopback, fake OpenAI upstreams (tests/fakes), one provider on a closed
port. Every secret the page must never show is in `SECRETS`.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx

from gateway.app import create_app
from gateway.config import parse_config
from tests.fakes.openai_compat import CutAfter, FakeOpenAI
from tests.support import RunningServer, closed_port, run_server

ADMIN_KEY = "admin-secret-ui-0c1d2e3f"
TEAM_A_KEY = "sk-gw-team-a-secret-4a5b6c"
TEAM_B_KEY = "sk-gw-team-b-secret-7d8e9f"
PROVIDER_KEY = "sk-upstream-secret-a1b2c3d4"
REDIS_PASSWORD = "redis-pass-secret-e5f6"
OTLP_TOKEN = "otlp-token-secret-9a8b"
SECRETS = [ADMIN_KEY, TEAM_A_KEY, TEAM_B_KEY, PROVIDER_KEY, REDIS_PASSWORD, OTLP_TOKEN]
REPLY = "The quick brown fox jumps over the lazy dog."
USER = [{"role": "user", "content": "Tell me about the fox."}]


def config_text(upstreams: dict[str, str], dead_port: int, extra: str = "", exporter: str = "none") -> str:
    providers = "".join(
        f'[[providers]]\nname = "{name}"\ntype = "openai"\nbase_url = "{url}/v1"\napi_key = "{PROVIDER_KEY}"\n'
        f"timeout_s = 5\n" for name, url in upstreams.items())
    return f"""
[admin]
key = "{ADMIN_KEY}"
[telemetry]
exporter = "{exporter}"
otlp_headers = {{ "x-api-key" = "{OTLP_TOKEN}" }}
[cache]
backend = "memory"
redis_url = "redis://:{REDIS_PASSWORD}@127.0.0.1:6399/0"
[responses]
backend = "memory"
[limits]
spend_file = ""
[routing]
backoff_base_s = 0.01
backoff_max_s = 0.05
cooldown_s = 30
[ui]
poll_s = 0.5
{extra}
{providers}
[[providers]]
name = "dead"
type = "openai"
base_url = "http://127.0.0.1:{dead_port}/v1"
api_key = "{PROVIDER_KEY}"
[[routes]]
model = "chat"
  [[routes.targets]]
  provider = "dead"
  model = "dead-model"
  weight = 1000000
  input_usd_per_mtok = 2.5
  output_usd_per_mtok = 10.0
  [[routes.targets]]
  provider = "main"
  model = "main-model"
  weight = 0.000001
  input_usd_per_mtok = 2.5
  output_usd_per_mtok = 10.0
[[routes]]
model = "story"
strategy = "round_robin"
  [[routes.targets]]
  provider = "first"
  model = "first-model"
  weight = 2
  input_usd_per_mtok = 1.0
  output_usd_per_mtok = 4.0
  [[routes.targets]]
  provider = "second"
  model = "second-model"
  input_usd_per_mtok = 1.0
  output_usd_per_mtok = 4.0
[[keys]]
name = "team-a"
key = "{TEAM_A_KEY}"
budget_usd = 0.5
budget_period = "day"
[[keys]]
name = "team-b"
key = "{TEAM_B_KEY}"
rpm = 2
"""


@dataclass
class Scenario:
    gateway: RunningServer
    fakes: dict[str, FakeOpenAI]

    @classmethod
    def start(cls, stack: ExitStack, extra: str = "", exporter: str = "none") -> Scenario:
        """`extra`: more keys of [ui]; `exporter`: [telemetry] exporter."""
        fakes = {name: FakeOpenAI(reply=REPLY) for name in ("main", "first", "second")}
        urls = {name: stack.enter_context(run_server(fake.app)).url for name, fake in fakes.items()}
        config = parse_config(config_text(urls, closed_port(), extra, exporter))
        gateway = stack.enter_context(run_server(create_app(config)))
        return cls(gateway, fakes)

    @property
    def url(self) -> str:
        return self.gateway.url

    def chat(self, key: str, model: str = "chat", headers: dict[str, str] | None = None,
             **body: Any) -> httpx.Response:
        body = {"model": model, "messages": USER, **body}
        return httpx.post(self.url + "/v1/chat/completions", json=body,
                          headers={"authorization": f"Bearer {key}", **(headers or {})}, timeout=10)

    def stream(self, key: str, model: str = "story", content: str | None = None) -> str:
        text = ""
        messages = USER if content is None else [{"role": "user", "content": content}]
        with httpx.stream("POST", self.url + "/v1/chat/completions", timeout=10,
                          json={"model": model, "messages": messages, "stream": True},
                          headers={"authorization": f"Bearer {key}"}) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("data: {"):
                    for choice in json.loads(line[6:]).get("choices", []):
                        text += (choice.get("delta") or {}).get("content") or ""
        return text

    def send_traffic(self) -> dict[str, httpx.Response]:
        """One of each thing the page should show; the answers, by name."""
        sent = {"failover": self.chat(TEAM_A_KEY)}  # the dead target first, then main: two attempts
        sent["miss"] = self.chat(TEAM_A_KEY, temperature=0, seed=7)
        sent["hit"] = self.chat(TEAM_A_KEY, temperature=0, seed=7)
        self.fakes["first"].enqueue(CutAfter(3))  # cut mid-answer: resumed on the second target
        assert self.stream(TEAM_B_KEY) == REPLY
        sent["story"] = self.chat(TEAM_B_KEY, "story")
        sent["refused"] = self.chat(TEAM_B_KEY, "story")  # team-b's rpm = 2: the third call is refused
        sent["no_key"] = self.chat("sk-not-a-key")
        return sent

    def admin(self, path: str, key: str | None = ADMIN_KEY) -> httpx.Response:
        headers = {"authorization": f"Bearer {key}"} if key is not None else {}
        return httpx.get(self.url + path, headers=headers, timeout=10)
