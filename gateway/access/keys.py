"""Who is calling: gateway keys looked up by their SHA-256, and which routes each may ask for.

    >>> from gateway.config import KeyConfig
    >>> ring = KeyRing.from_keys([KeyConfig(name="a", key="sk-a", models=["gpt-*"])])
    >>> caller = ring.authenticate([(b"authorization", b"Bearer sk-a")])
    >>> caller.name, caller.allows("gpt-4o"), caller.allows("claude")
    ('a', True, False)
    >>> ring.authenticate([(b"x-api-key", b"sk-wrong")]) is None
    True

Keys are held only as SHA-256 digests. A presented key is hashed; the first 8 bytes of its digest find
the candidate (a dict lookup), and the whole digest is then compared with `hmac.compare_digest`, in
constant time. The lookup's timing can tell at most something about digest prefixes of configured keys,
which does not help anyone find a key (that would take a preimage of SHA-256). A key is read from
`Authorization: Bearer <key>` or `x-api-key: <key>` (the anthropic SDK's header), on every `/v1/` endpoint.

The allow-list (`models`) is about what a key may *ask for*. Once a request is let in, the route's
fallbacks serve it as the operator configured them, also routes the key could not name itself: failover is
the operator's routing decision, not the caller's, and what it costs is charged to the key.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from hashlib import sha256
from hmac import compare_digest
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.config import GatewayConfig, KeyConfig

@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated gateway key: its name (never the key) and what it may do."""

    name: str
    patterns: tuple[str, ...] | None = None  # None: every route
    rpm: int | None = None
    tpm: int | None = None
    max_concurrent: int | None = None
    budget_usd: float | None = None
    budget_period: str = "month"
    _exact: frozenset[str] = field(default=frozenset(), compare=False)
    _match: re.Pattern[str] | None = field(default=None, compare=False)

    @classmethod
    def from_config(cls, key: KeyConfig) -> Caller:
        patterns = None if key.models is None else tuple(key.models)
        wild = [p for p in patterns or () if _wild(p)]
        match = re.compile("|".join(fnmatch.translate(p) for p in wild)) if wild else None
        exact = frozenset(p for p in patterns or () if not _wild(p))
        return cls(key.name, patterns, key.rpm, key.tpm, key.max_concurrent, key.budget_usd, key.budget_period,
                   exact, match)

    def allows(self, route: str) -> bool:
        if self.patterns is None or route in self._exact:
            return True
        return self._match is not None and self._match.match(route) is not None

    @property
    def limited(self) -> bool:
        return self.rpm is not None or self.tpm is not None or self.max_concurrent is not None

    def visible(self, routes: Iterable[str]) -> list[str]:
        return [r for r in routes if self.allows(r)]


class KeyRing:
    """The configured keys by digest. Empty: the gateway takes every call (`open`)."""

    def __init__(self, callers: dict[bytes, Caller]) -> None:
        self._by_prefix: dict[bytes, list[tuple[bytes, Caller]]] = {}
        for digest, caller in callers.items():
            self._by_prefix.setdefault(digest[:8], []).append((digest, caller))

    @classmethod
    def from_config(cls, config: GatewayConfig) -> KeyRing:
        return cls.from_keys(config.keys)

    @classmethod
    def from_keys(cls, keys: Iterable[KeyConfig]) -> KeyRing:
        callers: dict[bytes, Caller] = {}
        for key in keys:
            if key.key_sha256:
                digest = bytes.fromhex(key.key_sha256)
            elif key.key:
                digest = sha256(key.key.encode()).digest()
            else:
                continue  # an empty key (an unset ${VAR}) never matches; `gateway check` warns
            callers[digest] = Caller.from_config(key)
        return cls(callers)

    @property
    def open(self) -> bool:
        return not self._by_prefix

    def authenticate(self, headers: Iterable[tuple[bytes, bytes]]) -> Caller | None:
        """The caller whose key is in `Authorization: Bearer` or `x-api-key`; None for no key or an unknown one."""
        for name, value in headers:
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                if scheme.lower() != b"bearer":
                    continue
            elif name == b"x-api-key":
                token = value
            else:
                continue
            token = token.strip()
            if not token:
                continue
            digest = sha256(token).digest()
            for stored, caller in self._by_prefix.get(digest[:8], ()):
                if compare_digest(stored, digest):
                    return caller
        return None


def _wild(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")
