"""The cache's identity of a request (gateway/cache/keys.py)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.cache.keys import VERSION, Identity, canonical_json, deterministic

BODY: dict[str, Any] = {"model": "gpt", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.5}
IDENTITY = Identity(prefix="gw:", ignore=frozenset({"user"}))


def key(body: dict[str, Any], route: str = "gpt", operation: str = "chat", key_name: str | None = None,
        identity: Identity = IDENTITY) -> str:
    return identity.key(route, operation, body, key_name)


def test_key_order_and_number_spelling_do_not_matter() -> None:
    same = {"temperature": 0.5, "messages": [{"content": "hi", "role": "user"}], "model": "gpt", "max_tokens": 5.0}
    assert key(same) == key({**BODY, "max_tokens": 5})
    assert canonical_json({"b": 1.0, "a": -0.0, "c": [2.50]}) == b'{"a":0,"b":1,"c":[2.5]}'


def test_stream_and_stream_options_share_an_entry() -> None:
    streamed = {**BODY, "stream": True, "stream_options": {"include_usage": True}}
    assert key(streamed) == key(BODY)


def test_ignored_fields_are_left_out_and_the_rest_counts() -> None:
    assert key({**BODY, "user": "alice"}) == key({**BODY, "user": "bob"}) == key(BODY)
    assert key({**BODY, "temperature": 0.7}) != key(BODY)
    assert key({**BODY, "messages": [{"role": "user", "content": "hi!"}]}) != key(BODY)
    assert key({**BODY, "seed": 1}) != key(BODY)
    assert key({**BODY, "user": "alice"}, identity=Identity()) != key(BODY, identity=Identity())  # not ignored


def test_route_and_operation_are_part_of_the_key() -> None:
    assert key(BODY, route="other") != key(BODY)
    assert key(BODY, operation="text_completion") != key(BODY)


def test_namespaced_per_gateway_key_unless_shared() -> None:
    assert key(BODY, key_name="team-a") != key(BODY, key_name="team-b")
    assert key(BODY, key_name="team-a") != key(BODY)
    shared = Identity(shared=True)
    assert key(BODY, key_name="team-a", identity=shared) == key(BODY, key_name="team-b", identity=shared)


def test_layout_versioned_and_purgeable_by_route() -> None:
    k = key(BODY, route="a:b*[x]")
    assert k.startswith(f"gw:v{VERSION}:")
    assert k.startswith(IDENTITY.route_prefix("a:b*[x]"))
    assert not k.startswith(IDENTITY.route_prefix("a"))  # a route name never prefixes another's keys
    route_part = k.split(":")[2]
    assert not set(route_part) & set(":*?[]\\")


@pytest.mark.parametrize(
    ("operation", "body", "expected"),
    [
        ("chat", {"temperature": 0}, True),
        ("chat", {"temperature": 0.0}, True),
        ("chat", {"seed": 7, "temperature": 1}, True),
        ("chat", {}, False),
        ("chat", {"temperature": 0.2}, False),
        ("chat", {"seed": True}, False),
        ("chat", {"temperature": False}, False),
        ("embeddings", {}, True),
    ],
)
def test_deterministic(operation: str, body: dict[str, Any], expected: bool) -> None:
    assert deterministic(operation, body) is expected
