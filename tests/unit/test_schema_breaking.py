"""Breaking changes between two versions of a tool's input schema, named."""

from __future__ import annotations

from typing import Any

from mcpops.inpod.testrunner.schemas import breaking


def schema(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": required}


INT, STR = {"type": "integer"}, {"type": "string"}


def test_compatible_changes_are_not_breaking() -> None:
    v1 = schema(["a"], a=INT)
    assert breaking(v1, v1) == []
    assert breaking(v1, schema(["a"], a={**INT, "description": "x"}, b=STR)) == []  # optional
    assert breaking(schema(["a", "b"], a=INT, b=INT), schema(["a"], a=INT, b=INT)) == []


def test_breaking_changes_name_the_argument() -> None:
    v1 = schema(["a", "b"], a=INT, b=INT)
    assert breaking(v1, schema(["a"], a=INT)) == ["required argument 'b' removed"]
    assert breaking(v1, schema(["a", "b", "c"], a=INT, b=INT, c=INT)) == [
        "argument 'c' is now required"
    ]
    assert breaking(v1, schema(["a", "b"], a=STR, b=INT)) == [
        "argument 'a' retyped integer -> string"
    ]
    optional = {"anyOf": [INT, {"type": "null"}]}
    assert breaking(schema([], a=optional), schema([], a=STR)) == [
        "argument 'a' retyped integer|null -> string"
    ]


def test_output_hash_ignores_prose_but_not_property_names() -> None:
    from mcpops.inpod.testrunner.runner import output_hash

    base = {
        "type": "object",
        "title": "addOutput",
        "properties": {"title": {"type": "string", "description": "the title"}},
        "required": ["title"],
    }
    renamed = {**base, "title": "add_v2Output"}
    assert output_hash(base) == output_hash(renamed)  # the SDK's title: not a change
    retyped = {**base, "properties": {"title": {"type": "integer"}}}
    assert output_hash(base) != output_hash(retyped)
    gone = {**base, "properties": {}, "required": []}
    assert output_hash(base) != output_hash(gone)  # a property named "title" counts
