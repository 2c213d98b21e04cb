"""JSON Schema as the Gemini API's `Schema`, for tool parameters and `responseSchema` (split from gemini.py).

v1beta's `Schema` is an OpenAPI 3.0 subset, not JSON Schema: a schema sent as written is refused as soon
as it holds `$defs`/`$ref`, `const` or an array-valued `type`, which every Pydantic model with a nested
class or a `Literal` does. google-genai rewrites such schemas before sending; so does this module.
"""

from __future__ import annotations

from typing import Any

# JSON Schema keys that v1beta's `Schema` (an OpenAPI 3.0 subset) has too, copied as they are
SCHEMA_COPIED = ("title", "description", "required", "minItems", "maxItems", "minProperties", "maxProperties",
                 "minLength", "maxLength", "pattern", "minimum", "maximum", "propertyOrdering")
SCHEMA_FORMATS = {"STRING": {"enum", "date-time"}, "INTEGER": {"int32", "int64"}, "NUMBER": {"float", "double"}}


def gemini_schema(schema: Any, *, order: bool = False) -> dict[str, Any]:
    """A JSON Schema as v1beta's `Schema`, an OpenAPI 3.0 subset, the way google-genai prepares one.

    What Pydantic (and so the openai SDK's `pydantic_function_tool` and `parse`, Instructor, Pydantic AI)
    writes is said in the subset's terms: `$defs`/`$ref` inlined (a recursive reference ends in an empty
    schema), `const` and `Literal`s as `enum`, `["T", "null"]` and `anyOf [..., null]` as `nullable`,
    `oneOf` as `anyOf`, `allOf` merged; keys the subset lacks (`additionalProperties`, `$schema`,
    `strict`, `default`, `examples`, ...) are left out. `order` adds `propertyOrdering` (Pydantic's field
    order), which Gemini follows when it writes a structured answer.

        >>> gemini_schema({"type": ["string", "null"], "const": "a"})
        {'type': 'STRING', 'enum': ['a'], 'nullable': True}
    """
    if not isinstance(schema, dict):
        return {}
    defs = {**(schema.get("definitions") or {}), **(schema.get("$defs") or {})}
    return _schema(schema, defs, (), order)


def _schema(node: Any, defs: dict[str, Any], seen: tuple[str, ...], order: bool) -> dict[str, Any]:
    if not isinstance(node, dict):
        return {}
    out: dict[str, Any] = {}
    ref = node.get("$ref")
    if isinstance(ref, str) and (name := ref.rsplit("/", 1)[-1]) in defs and name not in seen:
        out = _schema(defs[name], defs, (*seen, name), order)
    for part in node.get("allOf") or ():
        out.update(_schema(part, defs, seen, order))
    kind, nullable, variants = node.get("type"), False, node.get("anyOf") or node.get("oneOf")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        nullable = len(kinds) < len(kind)
        kind = kinds[0] if len(kinds) == 1 else None
        if len(kinds) > 1:
            variants = [{**node, "type": k} for k in kinds]
    elif kind == "null":
        kind, nullable = None, True
    if isinstance(kind, str):
        out["type"] = kind.upper()
    if isinstance(variants, list):
        others = [v for v in variants if not (isinstance(v, dict) and v.get("type") == "null")]
        nullable = nullable or len(others) < len(variants)
        converted = [_schema(v, defs, seen, order) for v in others]
        if len(converted) == 1:
            out.update(converted[0])
        elif converted:
            out["anyOf"] = converted
    nullable = _enum(node, out) or nullable
    if isinstance(node.get("properties"), dict):
        out["properties"] = {n: _schema(p, defs, seen, order) for n, p in node["properties"].items()}
        if order and len(out["properties"]) > 1:
            out["propertyOrdering"] = list(out["properties"])
    if isinstance(node.get("items"), dict):
        out["items"] = _schema(node["items"], defs, seen, order)
    out.update({key: node[key] for key in SCHEMA_COPIED if node.get(key) is not None})
    if isinstance(node.get("format"), str) and node["format"] in SCHEMA_FORMATS.get(out.get("type", ""), ()):
        out["format"] = node["format"]
    if nullable:
        out["nullable"] = True
    return out


def _enum(node: dict[str, Any], out: dict[str, Any]) -> bool:
    """`const` or `enum` as Gemini's string enum (integers as `format: enum`); True when null was allowed."""
    values = [node["const"]] if "const" in node else node.get("enum")
    if not isinstance(values, list):
        return False
    given = [v for v in values if v is not None]
    if given and all(isinstance(v, str) for v in given):
        out["enum"] = given
        out.setdefault("type", "STRING")
    elif given and all(isinstance(v, int) and not isinstance(v, bool) for v in given):
        out.update(type="INTEGER", format="enum", enum=[str(v) for v in given])
    return len(given) < len(values)  # other values (floats, mixed) keep their type only
