"""The cache's identity of a request: which requests count as the same, and the key they share.

Two requests are the same when they go to the same route with the same canonical body: keys sorted,
numbers normalised (`0`, `0.0` and `-0.0` are one number), and `stream`, `stream_options`, `model` and
the configured `ignore` fields left out, so a streamed and a non-streamed request share an entry.

    >>> identity = Identity(prefix="gw:", ignore=frozenset({"user"}), shared=False)
    >>> a = identity.key("gpt-4o", "chat", {"model": "gpt-4o", "temperature": 0.0, "stream": True, "user": "u1",
    ...                                      "messages": [{"role": "user", "content": "hi"}]}, key_name=None)
    >>> b = identity.key("gpt-4o", "chat", {"messages": [{"content": "hi", "role": "user"}], "temperature": 0,
    ...                                      "model": "gpt-4o"}, key_name=None)
    >>> a == b, a.startswith(identity.route_prefix("gpt-4o"))
    (True, True)

A key reads `{prefix}v{VERSION}:{route}:{namespace}:{digest}`: the route comes first so one route's entries
can be purged by prefix (it is percent-encoded, so it never contains `:` or a Redis glob character);
the namespace is the gateway key's name unless the cache is shared. VERSION changes whenever the
canonical form or the stored shape changes, so a new gateway never serves an entry in an old shape.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson

VERSION = 1
LEFT_OUT = frozenset({"stream", "stream_options", "model"})  # model: the route is in the key already


@dataclass(frozen=True, slots=True)
class Identity:
    prefix: str = ""
    ignore: frozenset[str] = frozenset()
    shared: bool = False

    def key(
        self, route: str, operation: str, body: dict[str, Any], key_name: str | None, shared: bool | None = None
    ) -> str:
        """`shared` (a route's `cache_shared`) overrides the identity's own setting when not None."""
        skipped = LEFT_OUT | self.ignore
        canonical = canonical_json({k: v for k, v in body.items() if k not in skipped})
        digest = hashlib.blake2b(operation.encode() + b"\n" + canonical, digest_size=16).hexdigest()
        namespace = self.namespace(None if (self.shared if shared is None else shared) else key_name)
        return f"{self.route_prefix(route)}{namespace}:{digest}"

    def route_prefix(self, route: str) -> str:
        return f"{self.prefix}v{VERSION}:{_quoted(route)}:"

    def namespace(self, key_name: str | None) -> str:
        if key_name is None:
            return "*"  # shared, or no gateway keys configured: every request is the same caller
        return "k." + _quoted(key_name)


@functools.lru_cache(maxsize=4096)
def _quoted(name: str) -> str:
    """A route or key name percent-encoded, once per name (they come from the config: `quote` on every
    request was a tenth of a cache lookup's cost)."""
    return quote(name, safe="")


def canonical_json(value: Any) -> bytes:
    """JSON with sorted keys and numbers normalised: equal requests give equal bytes."""
    return orjson.dumps(_normalise(value), option=orjson.OPT_SORT_KEYS)


def _normalise(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: v if v.__class__ in _LEAVES else _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [v if v.__class__ in _LEAVES else _normalise(v) for v in value]
    if isinstance(value, float) and value.is_integer() and -(2**63) <= value < 2**63:
        # 1.0 -> 1 and -0.0 -> 0: the same number for the upstream (1e300 stays a float: JSON has no such int)
        return int(value)
    return value


# What `_normalise` returns as it is: most of a body's values (text, ints), passed over without a call each.
_LEAVES = frozenset({str, int, bool, type(None)})


def deterministic(operation: str, body: dict[str, Any]) -> bool:
    """Whether the answer is meant to be reproducible: embeddings, temperature 0, or a seed."""
    if operation == "embeddings":
        return True
    temperature = body.get("temperature")
    zero = isinstance(temperature, int | float) and not isinstance(temperature, bool) and temperature == 0
    seed = body.get("seed")
    return zero or (isinstance(seed, int) and not isinstance(seed, bool))
