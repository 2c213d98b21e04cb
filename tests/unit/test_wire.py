from __future__ import annotations

from typing import Any

import pytest

from gateway.errors import InvalidRequestError
from gateway.wire import check_request

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("operation", "body", "param", "message"),
    [
        ("chat", {"messages": CHAT["messages"]}, "model", "Missing required parameter: 'model'."),
        ("chat", {"model": "m"}, "messages", "Missing required parameter: 'messages'."),
        ("chat", {"model": 3, "messages": CHAT["messages"]}, "model", "Invalid type for 'model'"),
        ("chat", {"model": "m", "messages": []}, "messages", "Invalid type for 'messages'"),
        ("chat", {"model": "m", "messages": [{"content": "x"}]}, "messages[0].role", "Missing required"),
        ("chat", {**CHAT, "stream": "yes"}, "stream", "expected a boolean"),
        ("text_completion", {"model": "m"}, "prompt", "Missing required parameter: 'prompt'."),
        ("text_completion", {"model": "m", "prompt": 5}, "prompt", "Invalid type for 'prompt'"),
        ("embeddings", {"model": "m", "input": {"a": 1}}, "input", "Invalid type for 'input'"),
        ("embeddings", {"model": "m", "input": "x", "stream": True}, "stream", "cannot be streamed"),
    ],
)
def test_bad_requests_name_the_field(operation: str, body: dict[str, Any], param: str, message: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        check_request(operation, body)
    assert info.value.param == param
    assert message in info.value.message
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("chat", {**CHAT, "brand_new_parameter": {"x": [1]}, "stream": True, "stream_options": {}}),
        ("chat", {**CHAT, "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]}),
        ("text_completion", {"model": "m", "prompt": ["a", "b"]}),
        ("text_completion", {"model": "m", "prompt": [1, 2, 3]}),
        ("embeddings", {"model": "m", "input": [[1, 2], [3]]}),
    ],
)
def test_good_requests_pass(operation: str, body: dict[str, Any]) -> None:
    check_request(operation, body)
