"""The live page in a real browser: Debian's headless Chromium driven by Selenium through Debian's chromedriver
(`apt-get install chromium chromium-driver`; .ci/run installs them). A wrong admin key sees nothing; the right
one sees the charts and tables fill while a client sends traffic (a failover, a cache hit, a stream resumed
elsewhere, refusals), opens a request's attempt timeline and the redacted config; no secret is anywhere in the
page, its JSON or the URLs it asked for.

Screenshots go to the test's tmp dir; with GATEWAY_UI_SCREENSHOTS=docs they go to docs/ for the README, after
GATEWAY_UI_SCREENSHOT_S seconds (default 120) of steadier traffic so the charts have lines to show.
"""

from __future__ import annotations

import os
import random
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.ui_scenario import ADMIN_KEY, SECRETS, TEAM_A_KEY, TEAM_B_KEY, Scenario

selenium = pytest.importorskip("selenium")  # the `test` extra has it
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("no chromium / chromedriver: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1440,1000", "--force-device-scale-factor=1", "--lang=en-US"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait(driver: WebDriver, check: Callable[[WebDriver], Any], timeout: float = 20) -> Any:
    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(check)


def text(driver: WebDriver, selector: str) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, selector).text)


def rows(driver: WebDriver, table: str) -> int:
    return len(driver.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr"))


def log_in(driver: WebDriver, key: str) -> None:
    field = wait(driver, lambda d: d.find_element(By.ID, "admin-key"))
    field.clear()
    field.send_keys(key)
    driver.find_element(By.ID, "login-button").click()


def click(driver: WebDriver, selector: str) -> bool:
    """Click what `selector` finds; False when it was redrawn in between (try again)."""
    try:
        driver.find_element(By.CSS_SELECTOR, selector).click()
    except StaleElementReferenceException:
        return False
    return True


def points(driver: WebDriver, chart: str) -> int:
    found = driver.find_elements(By.ID, "chart-" + chart)
    return int(found[0].get_attribute("data-points") or 0) if found else 0


def screenshots_dir(tmp_path: Path) -> Path:
    wanted = os.environ.get("GATEWAY_UI_SCREENSHOTS")
    return (ROOT / wanted) if wanted else tmp_path


def steady_traffic(scene: Scenario, seconds: float) -> None:
    """For the README's screenshots: a few requests a second on both routes, some streamed, now and then a
    cache hit, and the dead target's failovers."""
    rng = random.Random(1)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        roll = rng.random()
        topic = rng.randint(1, 6 if roll < 0.2 else 10_000)  # a few topics come back: cache hits
        if roll < 0.45:
            scene.chat(TEAM_A_KEY, messages=[{"role": "user", "content": f"Topic {topic}"}], temperature=0)
        elif roll < 0.9:
            scene.stream(TEAM_A_KEY, content=f"Story {topic}")
        else:
            scene.chat(TEAM_B_KEY, "story")  # past its rpm: refused
        time.sleep(rng.uniform(0.05, 0.3))


def test_the_live_page_in_a_real_browser(browser: WebDriver, tmp_path: Path) -> None:
    shots = screenshots_dir(tmp_path)
    long_run = float(os.environ.get("GATEWAY_UI_SCREENSHOT_S", "120")) if os.environ.get("GATEWAY_UI_SCREENSHOTS") \
        else 0.0
    extra = "window_s = 300\nbucket_s = 2\n" if long_run else ""
    with ExitStack() as stack:
        scene = Scenario.start(stack, extra)
        browser.get(scene.url + "/ui")

        # a wrong key sees nothing
        log_in(browser, "not-the-admin-key")
        wait(browser, lambda d: "refused" in text(d, "#login-error"))
        assert not browser.find_element(By.ID, "dashboard").is_displayed()
        assert rows(browser, "requests") == rows(browser, "targets") == rows(browser, "keys") == 0
        page = browser.find_element(By.TAG_NAME, "body").text
        assert "main-model" not in page and "team-a" not in page and "dead" not in page
        assert browser.execute_script("return sessionStorage.length") == 0

        # the right key: the page fills while traffic flows
        log_in(browser, ADMIN_KEY)
        wait(browser, lambda d: d.find_element(By.ID, "dashboard").is_displayed())
        assert browser.find_element(By.ID, "admin-key").get_attribute("value") == ""
        sent: dict[str, httpx.Response] = {}
        client = threading.Thread(target=lambda: sent.update(scene.send_traffic()))
        client.start()
        client.join(30)
        assert sent, "the traffic did not finish"
        wait(browser, lambda d: rows(d, "requests") >= 6)  # the call with no valid key never reached a route
        for chart in ("rps", "latency", "ttft", "tokens", "cost", "cache"):
            wait(browser, lambda d, chart=chart: points(d, chart) > 0)
        assert len(browser.find_elements(By.CSS_SELECTOR, ".chart canvas")) >= 7
        wait(browser, lambda d: "connect_error" in text(d, '#targets tr[data-target="dead/dead-model"]'))
        wait(browser, lambda d: "$" in text(d, '#keys tr[data-key="team-a"]'))
        keys_row = text(browser, '#keys tr[data-key="team-a"]')
        assert "$0.50" in keys_row and "%" in keys_row  # spend against its budget
        assert "rpm 1" in text(browser, '[data-tile="refused"]')
        cached = browser.find_elements(By.CSS_SELECTOR, '#requests tr[data-cache="hit"]')
        assert cached, "a cache hit in the table"

        if long_run:
            steady_traffic(scene, long_run)
            wait(browser, lambda d: rows(d, "requests") > 50)
            time.sleep(1.5)

        # the grouping by target redraws the charts with one line per target
        browser.find_element(By.CSS_SELECTOR, '#group option[value="target"]').click()
        wait(browser, lambda d: "target:dead/dead-model" in (d.find_element(By.ID, "chart-rps")
                                                              .get_attribute("data-series") or ""))
        browser.find_element(By.CSS_SELECTOR, '#group option[value="route"]').click()
        browser.set_window_size(1440, 2300)
        time.sleep(0.5)
        browser.save_screenshot(str(shots / "ui-overview.png"))

        # a click opens that request's attempt timeline
        failover = sent["failover"].headers["x-request-id"]
        if long_run:  # that one has left the last 300 by now: the newest failover (the dead target, probed)
            failover = browser.find_element(By.CSS_SELECTOR, '#requests tr[data-attempts="2"]').get_attribute("data-id")
        row = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, f'#requests tr[data-id="{failover}"]'))
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", row)
        wait(browser, lambda d: click(d, f'#requests tr[data-id="{failover}"]'))  # (rows are redrawn as news come)
        wait(browser, lambda d: d.find_element(By.ID, "timeline-panel").is_displayed())
        wait(browser, lambda d: rows(d, "timeline") == 2)
        timeline = text(browser, "#timeline")
        assert "first attempt" in timeline and "failover from dead/dead-model after connect_error" in timeline
        assert "connect_error" in text(browser, '#timeline tr[data-outcome="error"]')
        assert text(browser, '#timeline-facts dd[data-fact="answered by"]') == "main/main-model"
        assert text(browser, '#timeline-facts dd[data-fact="trace id"]') == "tracing is off"
        assert len(browser.find_elements(By.CSS_SELECTOR, "#timeline-bars .bar-row")) == 2
        browser.set_window_size(1440, 1000)
        time.sleep(0.3)
        browser.save_screenshot(str(shots / "ui-timeline.png"))
        browser.find_element(By.ID, "timeline-close").click()
        wait(browser, lambda d: not d.find_element(By.ID, "timeline-panel").is_displayed())

        # the stream resumed on another target
        resumed = browser.find_elements(By.CSS_SELECTOR, '#requests tr[data-attempts="2"]')
        assert len(resumed) >= 2  # the failover and the resumed stream

        # the running config, read-only and redacted
        browser.find_element(By.CSS_SELECTOR, "#config-details summary").click()
        wait(browser, lambda d: "[redacted]" in text(d, "#config"))
        assert "main-model" in text(browser, "#config")

        # no secret in the page, its URLs, or the JSON it read
        page_source = browser.page_source
        body = browser.find_element(By.TAG_NAME, "body").text
        urls = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        urls.append(browser.current_url)
        assert any("/admin/ui/summary" in u for u in urls) and any("/admin/usage" in u for u in urls)
        json_bodies = [scene.admin(path).text for path in (
            "/admin/ui/summary", "/admin/ui/series", "/admin/ui/requests", "/admin/ui/config", "/admin/usage",
            f"/admin/ui/requests/{failover}")]
        for secret in SECRETS:
            assert secret not in page_source and secret not in body, secret
            assert not any(secret in u for u in urls), secret
            assert not any(secret in b for b in json_bodies), secret

        # nothing went wrong in the page (the refused key's 401 is the only error the browser logged)
        problems = [e["message"] for e in browser.get_log("browser")
                    if e["level"] == "SEVERE" and "status of 401" not in e["message"]]
        assert problems == []

        # logging out forgets the key and empties the page
        browser.find_element(By.ID, "logout").click()
        wait(browser, lambda d: d.find_element(By.ID, "login").is_displayed())
        assert rows(browser, "requests") == 0 and browser.execute_script("return sessionStorage.length") == 0
        assert "main-model" not in browser.find_element(By.TAG_NAME, "body").text
