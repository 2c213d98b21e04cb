"""Gateway keys: looked up by SHA-256, read from `Authorization: Bearer` or `x-api-key`, with allow-lists."""

from __future__ import annotations

import hashlib

import pytest

from gateway.access.keys import Caller, KeyRing
from gateway.config import parse_config

ROUTES = """
[[providers]]
name = "m"
type = "mock"
[[routes]]
model = "gpt-4o"
[[routes.targets]]
provider = "m"
model = "x"
[[routes]]
model = "gpt-4o-mini"
[[routes.targets]]
provider = "m"
model = "x"
[[routes]]
model = "claude"
[[routes.targets]]
provider = "m"
model = "y"
"""


def ring(keys: str) -> KeyRing:
    return KeyRing.from_config(parse_config(ROUTES + keys))


def bearer(key: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {key}".encode())]


@pytest.fixture
def keys() -> KeyRing:
    digest = hashlib.sha256(b"sk-hashed").hexdigest().upper()  # upper-case hex is accepted too
    return ring(f"""
[[keys]]
name = "alice"
key = "sk-alice"
models = ["gpt-*"]
rpm = 10
tpm = 1000
max_concurrent = 2
budget_usd = 5.0
budget_period = "day"
[[keys]]
name = "bob"
key_sha256 = "{digest}"
[[keys]]
name = "carol"
key = "sk-carol"
models = ["claude", "gpt-4?"]
""")


def test_bearer_key_finds_its_caller_with_its_settings(keys: KeyRing) -> None:
    caller = keys.authenticate(bearer("sk-alice"))
    assert caller is not None
    assert (caller.name, caller.rpm, caller.tpm, caller.max_concurrent) == ("alice", 10, 1000, 2)
    assert (caller.budget_usd, caller.budget_period, caller.patterns) == (5.0, "day", ("gpt-*",))
    assert caller.limited


def test_x_api_key_header_works_like_bearer(keys: KeyRing) -> None:
    caller = keys.authenticate([(b"x-api-key", b"sk-carol")])
    assert caller is not None and caller.name == "carol"


def test_key_configured_by_its_sha256_is_found_by_the_key_itself(keys: KeyRing) -> None:
    caller = keys.authenticate(bearer("sk-hashed"))
    assert caller is not None and caller.name == "bob"
    assert keys.authenticate(bearer(hashlib.sha256(b"sk-hashed").hexdigest())) is None  # the digest is no key


@pytest.mark.parametrize("headers", [
    [(b"authorization", b"Bearer sk-nobody")],
    [(b"x-api-key", b"sk-nobody")],
    [(b"authorization", b"Bearer ")],
    [(b"authorization", b"Bearer")],
    [(b"authorization", b"Basic sk-alice")],  # not the bearer scheme
    [(b"x-other", b"sk-alice")],
    [],
])
def test_no_or_unknown_key_is_none(keys: KeyRing, headers: list[tuple[bytes, bytes]]) -> None:
    assert keys.authenticate(headers) is None


def test_scheme_is_case_insensitive_and_spaces_around_the_key_are_ignored(keys: KeyRing) -> None:
    for value in (b"bearer sk-alice", b"BEARER sk-alice", b"Bearer  sk-alice ", b"Bearer sk-alice\t"):
        caller = keys.authenticate([(b"authorization", value)])
        assert caller is not None and caller.name == "alice", value


def test_keys_are_compared_exactly(keys: KeyRing) -> None:
    assert keys.authenticate(bearer("SK-ALICE")) is None
    assert keys.authenticate(bearer("sk-alice2")) is None
    assert keys.authenticate(bearer("sk-alic")) is None


def test_a_later_header_with_a_known_key_wins_over_an_unknown_one(keys: KeyRing) -> None:
    headers = [(b"authorization", b"Bearer sk-wrong"), (b"x-api-key", b"sk-carol")]
    caller = keys.authenticate(headers)
    assert caller is not None and caller.name == "carol"


def test_wildcard_allow_list() -> None:
    caller = ring('[[keys]]\nname = "a"\nkey = "sk-a"\nmodels = ["gpt-*"]\n').authenticate(bearer("sk-a"))
    assert caller is not None
    assert caller.allows("gpt-4o") and caller.allows("gpt-4o-mini")
    assert not caller.allows("claude")
    assert not caller.allows("my-gpt-4o")  # a pattern matches the whole name, not a part of it
    assert caller.visible(["gpt-4o", "claude", "gpt-4o-mini"]) == ["gpt-4o", "gpt-4o-mini"]


def test_exact_names_and_question_mark_in_one_allow_list(keys: KeyRing) -> None:
    caller = keys.authenticate(bearer("sk-carol"))
    assert caller is not None
    assert caller.allows("claude") and caller.allows("gpt-4o")  # "gpt-4?" matches exactly one character
    assert not caller.allows("gpt-4o-mini")
    assert not caller.allows("claude-3")


def test_no_allow_list_allows_every_route_and_an_empty_one_none() -> None:
    assert Caller("x").allows("anything")
    assert Caller("x").visible(["a", "b"]) == ["a", "b"]
    keys = ring('[[keys]]\nname = "a"\nkey = "sk-a"\nmodels = []\n')
    caller = keys.authenticate(bearer("sk-a"))
    assert caller is not None and caller.patterns == ()
    assert not caller.allows("gpt-4o") and caller.visible(["gpt-4o", "claude"]) == []


def test_bracket_pattern() -> None:
    caller = ring('[[keys]]\nname = "a"\nkey = "sk-a"\nmodels = ["gpt-4[o]"]\n').authenticate(bearer("sk-a"))
    assert caller is not None and caller.allows("gpt-4o") and not caller.allows("gpt-4x")


def test_a_caller_without_rate_limits_is_not_limited() -> None:
    caller = ring('[[keys]]\nname = "a"\nkey = "sk-a"\nbudget_usd = 1\n').authenticate(bearer("sk-a"))
    assert caller is not None
    assert not caller.limited and caller.budget_usd == 1.0 and caller.budget_period == "month"


def test_ring_without_keys_is_open_and_with_keys_is_not(keys: KeyRing) -> None:
    assert KeyRing.from_config(parse_config(ROUTES)).open
    assert not keys.open


def test_an_empty_key_is_skipped_and_matches_nothing() -> None:
    keys = ring('[[keys]]\nname = "unset"\nkey = ""\n')
    assert keys.open  # nothing configured that can match
    assert keys.authenticate(bearer("")) is None
    assert keys.authenticate([(b"x-api-key", b"")]) is None


def test_many_keys_each_find_their_own_caller() -> None:
    text = "".join(f'[[keys]]\nname = "k{i}"\nkey = "sk-{i}"\n' for i in range(50))
    keys = ring(text)
    for i in range(50):
        caller = keys.authenticate([(b"x-api-key", f"sk-{i}".encode())])
        assert caller is not None and caller.name == f"k{i}"


def test_colliding_digest_prefixes_are_told_apart_by_the_whole_digest() -> None:
    # Two digests sharing the 8-byte bucket: only the whole digest decides.
    real = hashlib.sha256(b"sk-real").digest()
    twin = real[:8] + bytes(24)
    keys = KeyRing({twin: Caller("twin"), real: Caller("real")})
    caller = keys.authenticate(bearer("sk-real"))
    assert caller is not None and caller.name == "real"
