"""`gateway serve` as a user runs it: a real process, the demo config, SIGTERM, several workers."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import openai

from tests.support import serve


def test_demo_config_quickstart(tmp_path: Path) -> None:
    with serve(cwd=tmp_path, env={"GATEWAY_CONFIG": ""}) as (process, url):
        sdk = openai.OpenAI(base_url=url + "/v1", api_key="anything", max_retries=0)
        reply = sdk.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello"}])
        assert "Hello" in (reply.choices[0].message.content or "")
        assert [m.id for m in sdk.models.list()] == ["gpt-4o-mini", "claude-haiku", "text-embedding-3-small"]
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=20)[0]
    assert f"listening on {url}" in output
    assert "built-in demo config" in output
    assert "demo-mock" in output and "gpt-4o-mini" in output
    assert "telemetry:" in output


def test_banner_masks_provider_keys(tmp_path: Path) -> None:
    secret = "sk-live-abcdefghijklmnopqrstuvwxyz"
    config = tmp_path / "gateway.toml"
    config.write_text(f"""
[[providers]]
name = "p"
type = "mock"
api_key = "{secret}"
[[routes]]
model = "m"
  [[routes.targets]]
  provider = "p"
  model = "x"
""")
    with serve(cwd=tmp_path) as (process, url):  # ./gateway.toml is picked up
        httpx.post(url + "/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "x"}]})
        process.terminate()
        output = process.communicate(timeout=20)[0]
    assert secret not in output
    assert "sk-...wxyz" in output


def test_sigterm_drains_an_inflight_stream(tmp_path: Path) -> None:
    config = tmp_path / "slow.toml"
    config.write_text("""
[server]
shutdown_grace_s = 20
[[providers]]
name = "slow"
type = "mock"
token_delay_ms = 100
[[routes]]
model = "slow"
  [[routes.targets]]
  provider = "slow"
  model = "slow"
""")
    with serve("--config", str(config), cwd=tmp_path) as (process, url):
        body = {"model": "slow", "stream": True, "messages": [{"role": "user", "content": "one two three"}]}
        with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=30) as response:
            lines = response.iter_lines()
            next(lines)
            process.send_signal(signal.SIGTERM)
            rest = list(lines)
        assert "data: [DONE]" in rest  # the stream finished after SIGTERM
        # uvicorn re-raises the signal after its graceful shutdown, so the exit status says "terminated".
        assert process.wait(timeout=20) in (0, -signal.SIGTERM)


def test_several_workers(tmp_path: Path) -> None:
    with serve("--workers", "2", cwd=tmp_path, env={"GATEWAY_CONFIG": ""}) as (process, url):
        for _ in range(4):
            response = httpx.post(url + "/v1/chat/completions",
                                  json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
            assert response.status_code == 200
        process.terminate()
        output = process.communicate(timeout=30)[0]
    assert "with 2 worker processes" in output
    assert "rate limits and spend are shared by all of them" in output
