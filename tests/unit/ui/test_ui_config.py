"""[ui]: its defaults, and the problems `gateway check` reports with their key paths."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError, parse_config

BASE = '[[providers]]\nname = "m"\ntype = "mock"\n[[routes]]\nmodel = "a"\n  [[routes.targets]]\n  provider = "m"\n' \
       '  model = "x"\n'


def problems(ui: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE + "[ui]\n" + ui)
    return caught.value.problems


def test_the_defaults_keep_the_page_on_and_small() -> None:
    ui = parse_config(BASE).ui
    assert (ui.enabled, ui.recent_requests, ui.window_s, ui.bucket_s, ui.max_series, ui.poll_s, ui.trace_url) == (
        True, 300, 900, 5, 32, 2.0, None)
    assert not parse_config(BASE + "[ui]\nenabled = false\n").ui.enabled


def test_each_problem_is_named_by_its_key() -> None:
    assert problems("window_s = 901\n") == ["ui.bucket_s: window_s (901) must be a multiple of bucket_s (5)"]
    assert problems('trace_url = "http://jaeger/trace"\n') == [
        'ui.trace_url: must contain {trace_id}, got "http://jaeger/trace"']
    assert problems('trace_url = "javascript:alert(1)/{trace_id}"\n')[0].startswith("ui.trace_url:")
    assert problems("poll_s = 0.1\n")[0].startswith("ui.poll_s:")
    assert problems("recent_requests = 0\n")[0].startswith("ui.recent_requests:")
    assert problems("unknown = 1\n")[0].startswith("ui.unknown:")
    [too_big] = problems("window_s = 86400\nbucket_s = 1\n")
    assert too_big.startswith("ui: window_s / bucket_s x max_series is 2764800 chart rows, over 20000")
