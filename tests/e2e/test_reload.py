"""Switching providers through config without a restart (issue 4, item 9)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.config import load_config
from tests.e2e.test_cli import serve
from tests.fakes.openai_compat import Fail, FakeOpenAI, SlowTokens
from tests.support import run_server

MESSAGES = [{"role": "user", "content": "hi"}]


def config_text(a: str, b: str, weight_a: float = 1, weight_b: float = 1, extra: str = "") -> str:
    return f"""
[routing]
backoff_base_s = 0.01
[[providers]]
name = "a"
type = "openai"
base_url = "{a}"
[[providers]]
name = "b"
type = "openai"
base_url = "{b}"
[[routes]]
model = "m"
  [[routes.targets]]
  provider = "a"
  model = "model-a"
  weight = {weight_a}
  [[routes.targets]]
  provider = "b"
  model = "model-b"
  weight = {weight_b}
{extra}
"""


class Setup:
    def __init__(self, stack: ExitStack, tmp_path: Path) -> None:
        self.fake_a, self.fake_b = FakeOpenAI(reply="from a"), FakeOpenAI(reply="from b")
        self.a = stack.enter_context(run_server(self.fake_a.app))
        self.b = stack.enter_context(run_server(self.fake_b.app))
        self.path = tmp_path / "gateway.toml"
        self.write(weight_b=1e-9)
        self.gateway = stack.enter_context(run_server(create_app(load_config(self.path)[0])))

    def write(self, **kwargs: object) -> None:
        self.path.write_text(config_text(self.a.url, self.b.url, **kwargs))  # type: ignore[arg-type]
        os.utime(self.path, (time.time() + 1, time.time() + 1))  # a new mtime even within one second

    def ask(self, model: str = "m") -> httpx.Response:
        return httpx.post(self.gateway.url + "/v1/chat/completions", json={"model": model, "messages": MESSAGES},
                          timeout=10)

    def reload(self) -> httpx.Response:
        return httpx.post(self.gateway.url + "/admin/reload", timeout=10)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    with ExitStack() as stack:
        yield Setup(stack, tmp_path)


def test_weights_change_while_traffic_runs(setup: Setup) -> None:
    answers: list[int] = []
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            answers.append(setup.ask().status_code)

    thread = threading.Thread(target=traffic)
    thread.start()
    try:
        assert {setup.ask().json()["choices"][0]["message"]["content"] for _ in range(10)} == {"from a"}
        setup.write(weight_a=1e-9)
        response = setup.reload()
        assert response.status_code == 200 and response.json()["status"] == "reloaded"
        assert {setup.ask().json()["choices"][0]["message"]["content"] for _ in range(10)} == {"from b"}
    finally:
        stop.set()
        thread.join()
    assert answers and set(answers) == {200}  # nothing failed during the switch


def test_a_provider_and_route_are_added(setup: Setup) -> None:
    extra = """
[[providers]]
name = "demo"
type = "mock"
[[routes]]
model = "new-route"
  [[routes.targets]]
  provider = "demo"
  model = "mock-new"
"""
    setup.write(weight_b=1e-9, extra=extra)
    assert setup.reload().status_code == 200
    models = httpx.get(setup.gateway.url + "/v1/models").json()["data"]
    assert [m["id"] for m in models] == ["m", "new-route"]
    assert setup.ask("new-route").json()["model"] == "mock-new"


def test_a_broken_file_is_refused_and_the_old_config_keeps_serving(setup: Setup) -> None:
    setup.path.write_text(setup.path.read_text().replace('provider = "b"', 'provider = "bb"'))
    response = setup.reload()
    assert response.status_code == 400
    assert response.json()["status"] == "refused"
    assert 'routes[0].targets[1].provider: no provider named "bb"; did you mean "b"?' in response.json()["problems"]
    assert setup.ask().status_code == 200
    setup.path.write_text("[server\n")
    assert setup.reload().status_code == 400
    assert setup.ask().json()["choices"][0]["message"]["content"] == "from a"


def test_an_inflight_stream_finishes_on_the_old_config(setup: Setup) -> None:
    setup.fake_a.reply = " ".join(f"w{i}" for i in range(30))
    setup.fake_a.enqueue(SlowTokens(0.03))
    body = {"model": "m", "messages": MESSAGES, "stream": True}
    with httpx.stream("POST", setup.gateway.url + "/v1/chat/completions", json=body, timeout=10) as response:
        lines = response.iter_lines()
        next(lines)
        # The new config drops provider "a", whose stream is still running.
        setup.path.write_text(config_text(setup.b.url, setup.b.url).replace('name = "a"', 'name = "c"')
                              .replace('provider = "a"', 'provider = "c"'))
        assert setup.reload().status_code == 200
        rest = list(lines)
    assert "data: [DONE]" in rest
    chunks = [json.loads(line[6:]) for line in rest if line.startswith("data: {")]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text.endswith("w29")
    assert setup.ask().json()["choices"][0]["message"]["content"] == "from b"


def test_target_health_survives_a_reload(setup: Setup) -> None:
    setup.fake_a.enqueue(Fail(429, retry_after="120"))
    assert setup.ask().json()["choices"][0]["message"]["content"] == "from b"  # a is cooling now
    setup.write(weight_b=2e-9)  # any change
    assert setup.reload().status_code == 200
    status = httpx.get(setup.gateway.url + "/admin/status").json()
    states = {t["target"]: t["state"] for t in status["routes"]["m"]["targets"]}
    assert states == {"a/model-a": "cooling", "b/model-b": "healthy"}


def test_watch_config_reloads_when_the_file_changes(setup: Setup, tmp_path: Path) -> None:
    path, watch = tmp_path / "watched.toml", "[server]\nwatch_config = true\n"
    path.write_text(config_text(setup.a.url, setup.b.url, weight_b=1e-9, extra=watch))
    with run_server(create_app(load_config(path)[0])) as gateway:
        path.write_text(config_text(setup.a.url, setup.b.url, weight_a=1e-9, extra=watch))
        os.utime(path, (time.time() + 5, time.time() + 5))
        deadline = time.monotonic() + 10
        content = ""
        while time.monotonic() < deadline and content != "from b":
            time.sleep(0.2)
            response = httpx.post(gateway.url + "/v1/chat/completions", json={"model": "m", "messages": MESSAGES})
            content = response.json()["choices"][0]["message"]["content"]
        assert content == "from b"


def test_sighup_reloads_the_serving_process(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    route = '[[routes]]\nmodel = "{name}"\n  [[routes.targets]]\n  provider = "p"\n  model = "x"\n'
    path.write_text('[[providers]]\nname = "p"\ntype = "mock"\n' + route.format(name="first"))
    with serve("--config", str(path), cwd=tmp_path) as (process, url):
        path.write_text(path.read_text() + route.format(name="second"))
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        names: list[str] = []
        while time.monotonic() < deadline and "second" not in names:
            time.sleep(0.1)
            names = [m["id"] for m in httpx.get(url + "/v1/models").json()["data"]]
        assert names == ["first", "second"]
        path.write_text("not = [valid")
        process.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert process.poll() is None  # still up, still on the last good config
        assert [m["id"] for m in httpx.get(url + "/v1/models").json()["data"]] == ["first", "second"]
        process.terminate()
        output = process.communicate(timeout=20)[0]
    assert "config reloaded" in output
    assert "config reload refused" in output
