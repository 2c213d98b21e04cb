"""JSON Schema -> Gemini `Schema` (gateway/providers/gemini_schema.py): golden pairs, and every result valid
for google-genai's own `Schema` model (camelCase REST names, extra keys forbidden, strict)."""

from __future__ import annotations

import json
from typing import Any, Literal

import pytest
from google.genai import types as gt
from pydantic import BaseModel

from gateway.providers.gemini_schema import gemini_schema


def valid(schema: dict[str, Any]) -> dict[str, Any]:
    gt.Schema.model_validate_json(json.dumps(schema), strict=True)
    return schema


class Pet(BaseModel):
    kind: Literal["cat", "dog"]
    age: int | None = None


class Owner(BaseModel):
    name: str
    pets: list[Pet]
    favourite: Pet | None
    mood: Literal["happy"]
    score: float = 0.5


class Node(BaseModel):
    value: int
    next: Node | None


@pytest.mark.parametrize(("source", "expected"), [
    ({"type": "string", "const": "x"}, {"type": "STRING", "enum": ["x"]}),
    ({"const": "x"}, {"type": "STRING", "enum": ["x"]}),
    ({"type": ["string", "null"]}, {"type": "STRING", "nullable": True}),
    ({"type": ["string", "integer"]}, {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}]}),
    ({"anyOf": [{"type": "integer"}, {"type": "null"}], "title": "Age"},
     {"type": "INTEGER", "title": "Age", "nullable": True}),
    ({"oneOf": [{"type": "integer"}, {"type": "string"}]}, {"anyOf": [{"type": "INTEGER"}, {"type": "STRING"}]}),
    ({"enum": ["a", None]}, {"type": "STRING", "enum": ["a"], "nullable": True}),
    ({"type": "integer", "enum": [1, 2]}, {"type": "INTEGER", "format": "enum", "enum": ["1", "2"]}),
    ({"type": "string", "format": "uri", "minLength": 1}, {"type": "STRING", "minLength": 1}),
    ({"type": "string", "format": "date-time"}, {"type": "STRING", "format": "date-time"}),
    ({"type": "object", "additionalProperties": False, "$schema": "x", "strict": True, "properties": {
        "a": {"type": "number", "default": 1, "examples": [2], "exclusiveMinimum": 0}}},
     {"type": "OBJECT", "properties": {"a": {"type": "NUMBER"}}}),
    ({"allOf": [{"$ref": "#/$defs/A"}], "description": "an A", "$defs": {"A": {"type": "boolean"}}},
     {"type": "BOOLEAN", "description": "an A"}),
    ({"type": "array", "items": {"$ref": "#/definitions/B"}, "definitions": {"B": {"type": "string"}}},
     {"type": "ARRAY", "items": {"type": "STRING"}}),
])
def test_json_schema_in_gemini_terms(source: dict[str, Any], expected: dict[str, Any]) -> None:
    assert valid(gemini_schema(source)) == expected


def test_a_pydantic_model_with_nested_classes_and_literals() -> None:
    schema = valid(gemini_schema(Owner.model_json_schema(), order=True))
    assert schema["propertyOrdering"] == ["name", "pets", "favourite", "mood", "score"]
    pet = {"type": "OBJECT", "title": "Pet", "required": ["kind"], "propertyOrdering": ["kind", "age"],
           "properties": {"kind": {"type": "STRING", "enum": ["cat", "dog"], "title": "Kind"},
                          "age": {"type": "INTEGER", "title": "Age", "nullable": True}}}
    assert schema["properties"]["pets"] == {"type": "ARRAY", "title": "Pets", "items": pet}
    assert schema["properties"]["favourite"] == {**pet, "nullable": True}
    assert schema["properties"]["mood"] == {"type": "STRING", "enum": ["happy"], "title": "Mood"}
    assert "$defs" not in json.dumps(schema) and "$ref" not in json.dumps(schema)


def test_a_recursive_model_ends_in_an_empty_schema() -> None:
    schema = valid(gemini_schema(Node.model_json_schema()))  # the root is itself `$ref: #/$defs/Node`
    assert schema["properties"] == {"value": {"type": "INTEGER", "title": "Value"}, "next": {"nullable": True}}


def test_the_source_schema_is_not_changed() -> None:
    source = Owner.model_json_schema()
    before = json.dumps(source, sort_keys=True)
    gemini_schema(source, order=True)
    assert json.dumps(source, sort_keys=True) == before


@pytest.mark.parametrize("value", [None, "x", [], 3])
def test_no_schema_is_an_empty_one(value: Any) -> None:
    assert gemini_schema(value) == {}
