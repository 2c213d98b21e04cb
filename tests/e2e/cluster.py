"""Several fake upstreams, each on its own loopback port, and a real gateway in front of them.

    with ExitStack() as stack, running_cluster(stack) as cluster:
        a, b = cluster.fake("a"), cluster.fake("b", reply="Other words.")
        gateway = cluster.gateway(route("chat", "a/model-a", "b/model-b", strategy="round_robin"))

Providers are named after their fake; `route()` writes a `[[routes]]` table from "provider/model*weight"
specs. When the cluster ends every server is told to stop at once, and `stack` waits for them when it closes:
uvicorn takes ~0.2 s to stop, so a module-wide stack lets the next test start meanwhile.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx

from gateway.app import create_app
from gateway.config import parse_config
from tests.fakes.openai_compat import FakeOpenAI, ResetServer
from tests.support import RunningServer, closed_port, run_server

# Quick retries for tests; cooldowns long enough not to end during a test unless it asks for that.
ROUTING = {"backoff_base_s": 0.01, "backoff_max_s": 0.05, "cooldown_s": 30}


class Cluster:
    def __init__(self, stack: ExitStack) -> None:
        self.stack = stack
        self.servers: list[RunningServer] = []
        self.providers: list[str] = []

    def fake(self, name: str, *, reply: str | None = None, provider: str = "") -> FakeOpenAI:
        """Start a fake upstream and declare it as provider `name` (`provider`: extra TOML keys)."""
        fake = FakeOpenAI() if reply is None else FakeOpenAI(reply=reply)
        server = self.stack.enter_context(run_server(fake.app))
        self.servers.append(server)
        self._provider(name, server.url + "/v1", provider)
        return fake

    def dead(self, name: str) -> None:
        """A provider whose port refuses connections."""
        self._provider(name, f"http://127.0.0.1:{closed_port()}/v1")

    def reset(self, name: str) -> ResetServer:
        """A provider that reads each request and resets the connection."""
        server = self.stack.enter_context(ResetServer())
        self._provider(name, server.url + "/v1")
        return server

    def gateway(self, routes: str, **routing: Any) -> RunningServer:
        settings = {**ROUTING, **routing}
        # No cache: these tests send identical requests and count where each one went.
        text = '[cache]\nbackend = "none"\n[routing]\n'
        text += "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items())
        text += "".join(self.providers) + routes
        server = self.stack.enter_context(run_server(create_app(parse_config(text))))
        self.servers.append(server)
        return server

    def _provider(self, name: str, url: str, extra: str = "") -> None:
        timeout = "" if re.search(r"^timeout_s\s*=", extra, re.M) else "timeout_s = 5\n"  # 5 s unless `extra` says
        self.providers.append(
            f'[[providers]]\nname = "{name}"\ntype = "openai"\nbase_url = "{url}"\napi_key = "sk-{name}-key"\n'
            f"{timeout}{extra}\n"
        )


@contextmanager
def running_cluster(stack: ExitStack) -> Iterator[Cluster]:
    cluster = Cluster(stack)
    try:
        yield cluster
    finally:
        for server in cluster.servers:
            server.server.should_exit = True


def route(model: str, *targets: str, strategy: str = "weighted", **keys: Any) -> str:
    """A `[[routes]]` table. Targets are "provider/model" or "provider/model*weight" (weight 1 by default)."""
    text = f'[[routes]]\nmodel = "{model}"\nstrategy = "{strategy}"\n'
    text += "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items())
    for spec in targets:
        key, _, weight = spec.partition("*")
        provider, _, upstream_model = key.partition("/")
        text += f'[[routes.targets]]\nprovider = "{provider}"\nmodel = "{upstream_model}"\nweight = {weight or 1}\n'
    return text


def chat(gateway: RunningServer, model: str = "chat", *, headers: dict[str, str] | None = None,
         timeout: float = 5, **body: Any) -> httpx.Response:
    payload = {"model": model, "messages": [{"role": "user", "content": "hi"}], **body}
    return httpx.post(gateway.url + "/v1/chat/completions", json=payload, headers=headers, timeout=timeout)


def status(gateway: RunningServer) -> dict[str, Any]:
    response = httpx.get(gateway.url + "/admin/status", timeout=5)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def target_status(gateway: RunningServer, model: str, target: str) -> dict[str, Any]:
    [found] = [t for t in status(gateway)["routes"][model]["targets"] if t["target"] == target]
    return dict(found)
