"""`openai.well_formed`, the shape check of every OpenAI-compatible answer and stream chunk, is written out for
speed (issue 19). Here it is held to the rule as a table of fields states it, on anything `orjson.loads` can give:
answers and chunks shaped like the API with every field free to be of any JSON type."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.providers.openai import well_formed

CHOICE = {"index": int, "finish_reason": str}
MESSAGE = {"role": str, "content": str, "refusal": str, "tool_calls": list}
TOOL_CALL = {"index": int, "id": str, "type": str, "function": dict}
FUNCTION = {"name": str, "arguments": str}


def typed(value: Any, fields: Mapping[str, type]) -> bool:
    """An object whose fields, where present and not null, have these types (a bool is no int)."""
    return isinstance(value, dict) and all(
        value.get(name) is None or not isinstance(value[name], bool) and isinstance(value[name], kind)
        for name, kind in fields.items())


def counts(usage: Any) -> bool:
    return all(value is None or (not name.endswith("_tokens") or isinstance(value, int))
               and (not name.endswith("_details") or isinstance(value, dict) and counts(value))
               for name, value in usage.items())


def rule(data: dict[str, Any], key: str) -> bool:
    """The shape as the tables say it (the check before it was written out)."""
    choices = data.get("choices")
    if choices is not None and not isinstance(choices, list):
        return False
    for choice in choices or ():
        if not typed(choice, CHOICE):
            return False
        message = choice.get(key)
        if message is None:
            continue
        if not typed(message, MESSAGE):
            return False
        for call in message.get("tool_calls") or ():
            if not typed(call, TOOL_CALL) or call.get("function") is not None and not typed(call["function"], FUNCTION):
                return False
    usage = data.get("usage")
    return usage is None or isinstance(usage, dict) and counts(usage)


scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)


def loose(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """An object with some of these fields, each either its plausible value or any JSON value at all."""
    return st.fixed_dictionaries({}, optional={k: v | scalars | json_values for k, v in fields.items()})


functions = loose(name=st.text(max_size=8), arguments=st.text(max_size=8))
calls = st.lists(loose(index=st.integers(0, 3), id=st.text(max_size=8), type=st.just("function"), function=functions),
                 max_size=2)
messages = loose(role=st.just("assistant"), content=st.text(max_size=8), refusal=st.text(max_size=8), tool_calls=calls)
usage = loose(prompt_tokens=st.integers(0, 99), completion_tokens=st.integers(0, 99), total_tokens=st.integers(0, 99),
              prompt_tokens_details=loose(cached_tokens=st.integers(0, 9), audio_tokens=st.integers(0, 9)),
              completion_tokens_details=loose(reasoning_tokens=st.integers(0, 9)), cost=st.floats(0, 1),
              odd_tokens=st.integers(0, 9), odd_details=loose(x_tokens=st.integers(0, 9)))


def answers(key: str) -> st.SearchStrategy[dict[str, Any]]:
    """Mostly a choice with its message (or delta) and usage, each field of any type now and then."""
    choice = st.fixed_dictionaries({key: messages}, optional={
        "index": st.integers(0, 3) | scalars, "finish_reason": st.sampled_from(["stop", "length"]) | scalars})
    choices = st.lists(choice | json_values, min_size=1, max_size=3)
    return st.fixed_dictionaries({"choices": choices | scalars}, optional={"id": st.text(max_size=8),
                                                                           "usage": usage | scalars})


@pytest.mark.parametrize("key", ["message", "delta"])
@settings(max_examples=400, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_written_out_check_says_what_the_tables_say(key: str, data: st.DataObject) -> None:
    answer = orjson.loads(orjson.dumps(data.draw(answers(key))))  # as an upstream's bytes parse
    assert well_formed(answer, key) == rule(answer, key)


def test_each_wrong_type_is_refused_and_nulls_are_allowed() -> None:
    good = {"choices": [{"index": 0, "finish_reason": None, "message": {"role": "assistant", "content": "hi",
                                                                          "refusal": None, "tool_calls": None}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": None}}
    assert well_formed(good, "message")
    for path, value in [(("choices",), {}), (("choices", 0), []), (("choices", 0, "index"), True),
                        (("choices", 0, "index"), 1.0), (("choices", 0, "finish_reason"), 1),
                        (("choices", 0, "message"), "hi"), (("choices", 0, "message", "content"), ["hi"]),
                        (("choices", 0, "message", "role"), False), (("choices", 0, "message", "tool_calls"), {}),
                        (("choices", 0, "message", "tool_calls"), [{"function": []}]),
                        (("usage",), []), (("usage", "prompt_tokens"), "1"),
                        (("usage", "prompt_tokens_details"), {"cached_tokens": "2"})]:
        broken = orjson.loads(orjson.dumps(good))
        *parents, last = path
        target = broken
        for step in parents:
            target = target[step]
        target[last] = value
        assert not well_formed(broken, "message"), path
