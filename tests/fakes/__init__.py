"""Fake upstreams for tests."""

from __future__ import annotations

from tests.fakes.openai_compat import (
    DEFAULT_REPLY,
    AbortConnection,
    Behaviour,
    CutAfter,
    Fail,
    FakeOpenAI,
    Malformed,
    NoDone,
    Recorded,
    Reply,
    ResetServer,
    Silent,
    SlowTokens,
    Stall,
    error_body,
)

__all__ = [
    "DEFAULT_REPLY",
    "AbortConnection",
    "Behaviour",
    "CutAfter",
    "Fail",
    "FakeOpenAI",
    "Malformed",
    "NoDone",
    "Recorded",
    "Reply",
    "ResetServer",
    "Silent",
    "SlowTokens",
    "Stall",
    "error_body",
]
