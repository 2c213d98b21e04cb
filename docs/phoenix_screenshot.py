"""Take docs/phoenix-trace.png: a gateway trace in Arize Phoenix, as the README's three commands make it.

    python3 -m venv .venv-phoenix && .venv-phoenix/bin/pip install arize-phoenix    # once
    .venv/bin/python docs/phoenix_screenshot.py [OUT.png]

Needs the gateway's test dependencies (`.venv`, for selenium and openai) and Debian's headless chromium
(`apt-get install chromium chromium-driver`). Everything stays on loopback: Phoenix (`$GATEWAY_PHOENIX`, else
`.venv-phoenix/bin/phoenix`) starts on a free port in a temporary directory with external resources and its own
telemetry off; the gateway runs its built-in demo config (the offline mock provider), exporting to Phoenix through
the same environment variables as the README's command; a few requests go through it with the openai SDK; then
chromium opens Phoenix's page of the tool-call request's trace, with its LLM span selected.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
import openai
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import serve  # noqa: E402
from tests.telemetry.test_phoenix import TOOLS, Phoenix  # noqa: E402

OUT = ROOT / "docs" / "phoenix-trace.png"


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    executable = os.environ.get("GATEWAY_PHOENIX") or str(ROOT / ".venv-phoenix" / "bin" / "phoenix")
    with tempfile.TemporaryDirectory(prefix="phoenix-shot-") as tmp:
        phoenix = Phoenix.start(executable, Path(tmp))
        try:
            env = {  # the README's second command, but for the port
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": phoenix.url + "/v1/traces",
                "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true",
            }
            os.environ.pop("GATEWAY_CONFIG", None)
            with serve(cwd=Path(tmp), env=env) as (_, gateway):
                client = openai.OpenAI(base_url=gateway + "/v1", api_key="unused", max_retries=0)
                messages = [{"role": "system", "content": "You are a concise travel assistant."},
                            {"role": "user", "content": "What is the weather in Paris?"}]
                client.chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
                list(client.chat.completions.create(model="claude-haiku", stream=True,
                                                    messages=[{"role": "user", "content": "Hello!"}]))
                client.embeddings.create(model="text-embedding-3-small", input="the weather in Paris")
                client.chat.completions.create(model="gpt-4o-mini", messages=messages,  # type: ignore[arg-type]
                                               tools=TOOLS)  # type: ignore[arg-type]
                time.sleep(6)  # the SDK's batch span processor exports every 5 s
            project, trace_id, llm_span = wait_for_tool_trace(phoenix)
            shoot(f"{phoenix.url}/projects/{project}/traces/{trace_id}?selectedSpanNodeId={llm_span}", out)
        finally:
            phoenix.stop()
    print(out)


def wait_for_tool_trace(phoenix: Phoenix) -> tuple[str, str, str]:
    """(project id, trace id, LLM span's Phoenix id) of the tool-call request, once Phoenix has stored it."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for span in phoenix.spans():
            tools = "llm.tools.0.tool.json_schema" in span["attributes"]
            if span["span_kind"] == "LLM" and span["parent_id"] and tools:
                projects = httpx.get(phoenix.url + "/v1/projects", timeout=10).json()["data"]
                [project] = [p["id"] for p in projects if p["name"] == "default"]
                return project, span["context"]["trace_id"], span["id"]
        time.sleep(0.5)
    raise SystemExit("the tool call's trace did not reach Phoenix")


def shoot(url: str, out: Path) -> None:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1600,1000", "--force-device-scale-factor=1", "--lang=en-US",
                     "--disable-background-networking", "--disable-component-update", "--no-first-run"):
        options.add_argument(argument)
    browser = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        browser.set_window_size(1600, 1000)
        browser.get(url)
        WebDriverWait(browser, 30, poll_frequency=0.2).until(
            lambda b: "get_weather" in b.find_element(By.TAG_NAME, "body").text)
        time.sleep(2)  # let the span tree and the token badges settle
        browser.save_screenshot(str(out))
    finally:
        browser.quit()


if __name__ == "__main__":
    main()
