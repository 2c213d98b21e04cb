"""A minimal JSON value that fits a JSON Schema, for the mock provider's structured outputs and tool arguments.

Required properties only, each with a placeholder of its type ("example", 1, 1.0, true); the first value of
an `enum`, the `const`; numbers moved inside their bounds, strings padded to `minLength`, a few `format`s
(date-time, email, uuid, ...) written out; `$ref`, `anyOf`/`oneOf` (first branch that is not null) and
`allOf` followed; arrays get one item (or `minItems`).

    >>> instance({"type": "object", "required": ["city", "unit"],
    ...           "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}, "days": {}}})
    {'city': 'example', 'unit': 'c'}

`pattern`, `multipleOf` and `uniqueItems` are not honoured: a schema that relies on them may not validate.
"""

from __future__ import annotations

import math
from typing import Any

# Below this depth arrays stay as short as allowed and nullable values are null, so recursive schemas
# (a tree whose nodes hold a list of nodes) end.
MAX_DEPTH = 8

STRING_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00Z",
    "duration": "P1D",
    "email": "user@example.com",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}
PLACEHOLDERS: dict[str, Any] = {"string": "example", "integer": 1, "number": 1.0, "boolean": True, "null": None}


def instance(schema: Any, root: Any = None, depth: int = 0) -> Any:
    """A value valid against `schema`; `$ref`s are resolved in `root` (the schema itself by default)."""
    root = schema if root is None else root
    if not isinstance(schema, dict):
        return PLACEHOLDERS["string"]  # `true` or a broken schema: anything goes
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return instance(_branch(schema[key], root, depth), root, depth + 1)
    if isinstance(schema.get("allOf"), list):
        return instance(_merge(schema, root), root, depth + 1)
    kind = _type(schema, depth)
    if kind == "object":
        return _object(schema, root, depth)
    if kind == "array":
        return _array(schema, root, depth)
    if kind == "string":
        return _string(schema)
    if kind in ("integer", "number"):
        return _number(schema, kind == "integer")
    return PLACEHOLDERS.get(kind, PLACEHOLDERS["string"])


def _resolve(schema: dict[str, Any], root: Any) -> dict[str, Any]:
    """Follow `$ref` (a local JSON pointer such as `#/$defs/Item`); keywords beside it still apply."""
    seen: set[str] = set()
    while isinstance(ref := schema.get("$ref"), str) and ref.startswith("#") and ref not in seen:
        seen.add(ref)
        target: Any = root
        for part in filter(None, ref[1:].split("/")):
            part = part.replace("~1", "/").replace("~0", "~")
            target = target.get(part) if isinstance(target, dict) else None
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**target, **rest} if isinstance(target, dict) else rest
    return schema


def _branch(options: list[Any], root: Any, depth: int) -> Any:
    """The first branch that is not `null`; deep down, `null` itself when allowed, to stop recursion."""
    nullable = [o for o in options if isinstance(o, dict) and _resolve(o, root).get("type") == "null"]
    if depth >= MAX_DEPTH and nullable:
        return nullable[0]
    return next((o for o in options if not any(o is n for n in nullable)), options[0])


def _merge(schema: dict[str, Any], root: Any) -> dict[str, Any]:
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema["allOf"]:
        if not isinstance(part, dict):
            continue
        part = _resolve(part, root)
        properties = {**merged.get("properties", {}), **part.get("properties", {})}
        required = [*merged.get("required", []), *part.get("required", [])]
        merged = {**part, **merged, "properties": properties, "required": required}
    return merged


def _type(schema: dict[str, Any], depth: int) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if isinstance(k, str)]
        if depth >= MAX_DEPTH and "null" in kinds:
            return "null"
        kind = next((k for k in kinds if k != "null"), kinds[0] if kinds else None)
    if isinstance(kind, str):
        return kind
    if "properties" in schema or "required" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return "string"


def _object(schema: dict[str, Any], root: Any, depth: int) -> dict[str, Any]:
    properties = schema.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    required = schema.get("required")
    names = [n for n in required if isinstance(n, str)] if isinstance(required, list) else []
    return {name: instance(properties.get(name, {}), root, depth + 1) for name in dict.fromkeys(names)}


def _array(schema: dict[str, Any], root: Any, depth: int) -> list[Any]:
    prefix = schema.get("prefixItems")
    values = [instance(p, root, depth + 1) for p in prefix] if isinstance(prefix, list) else []
    low, high = _int(schema.get("minItems"), 0), _int(schema.get("maxItems"), math.inf)
    wanted = max(low, min(1 if depth < MAX_DEPTH else 0, high))
    items = schema.get("items", {})
    while len(values) < wanted and items is not False:
        values.append(instance(items, root, depth + 1))
    return values


def _string(schema: dict[str, Any]) -> str:
    text = str(STRING_FORMATS.get(str(schema.get("format")), PLACEHOLDERS["string"]))
    low, high = _int(schema.get("minLength"), 0), _int(schema.get("maxLength"), math.inf)
    text = text.ljust(int(low), "x")
    return text if high == math.inf else text[: int(high)]


def _number(schema: dict[str, Any], integer: bool) -> int | float:
    """1 (or 1.0) when the bounds allow it, else a value inside them."""
    low, high = _bound(schema, "minimum", "exclusiveMinimum"), _bound(schema, "maximum", "exclusiveMaximum")
    if integer:  # the bounds as the lowest and highest integers allowed
        low = None if low is None else (math.floor(low[0]) + 1 if low[1] else math.ceil(low[0]), False)
        high = None if high is None else (math.ceil(high[0]) - 1 if high[1] else math.floor(high[0]), False)
    value: float = 1
    above = low is None or value > low[0] or (value == low[0] and not low[1])
    below = high is None or value < high[0] or (value == high[0] and not high[1])
    if not (above and below):
        if low is not None and high is not None:
            value = (low[0] + high[0]) // 2 if integer else (low[0] + high[0]) / 2
        elif low is not None:
            value = low[0] + 1 if low[1] else low[0]
        elif high is not None:
            value = high[0] - 1 if high[1] else high[0]
    return int(value) if integer else float(value)


def _bound(schema: dict[str, Any], inclusive: str, exclusive: str) -> tuple[float, bool] | None:
    """The tighter of a bound and its exclusive form, as (value, exclusive)."""
    found: list[tuple[float, bool]] = []
    for key, strict in ((inclusive, False), (exclusive, True)):
        value = schema.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            found.append((float(value), strict))
    if not found:
        return None
    pick = max if inclusive == "minimum" else min
    return pick(found, key=lambda b: (b[0], b[1] if inclusive == "minimum" else not b[1]))


def _int(value: Any, default: float) -> float:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default
