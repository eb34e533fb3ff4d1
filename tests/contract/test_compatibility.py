"""Every event's JSON Schema against the one checked in: contracts only evolve by addition.

`contracts/json_schemas/<event_type>.json` is what producers and consumers already rely on. A
change to an event class is compatible when every message valid before is still understood the
same way: no property removed, no property's type changed, no property newly required. Adding an
optional property, a description or an enum value is fine. After a compatible change, run
`careplan schemas` to check the new schema in.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from contracts.envelope import Envelope
from contracts.schemas import SCHEMA_DIR, event_classes, event_schema

pytestmark = pytest.mark.contract

Schema = dict[str, Any]


def _resolve(node: Schema, root: Schema) -> Schema:
    """Follow local `$ref`s (`#/$defs/Name`) to the schema they name."""
    seen = 0
    while "$ref" in node:
        pointer = node["$ref"]
        if not pointer.startswith("#/"):
            raise ValueError(f"only local references are supported, not {pointer!r}")
        target: Any = root
        for step in pointer[2:].split("/"):
            target = target[step]
        node = target
        seen += 1
        if seen > 50:
            raise ValueError(f"reference cycle at {pointer!r}")
    return node


def _alternatives(node: Schema, root: Schema) -> list[Schema]:
    """The schemas a value may match: the members of anyOf/oneOf, or the node itself."""
    node = _resolve(node, root)
    members = node.get("anyOf") or node.get("oneOf")
    if members is None:
        return [node]
    return [alternative for member in members for alternative in _alternatives(member, root)]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _shape(node: Schema, root: Schema) -> frozenset[tuple[str, str | None]]:
    """What a value is on the wire: its JSON types, each with its format (date-time, uuid...)."""
    shape: set[tuple[str, str | None]] = set()
    for alternative in _alternatives(node, root):
        declared = alternative.get("type")
        if declared is None and "const" in alternative:
            declared = _json_type(alternative["const"])
        if declared is None and "enum" in alternative:
            declared = sorted({_json_type(value) for value in alternative["enum"]})
        if declared is None:
            declared = "any"
        for name in declared if isinstance(declared, list) else [declared]:
            shape.add((name, alternative.get("format")))
    return frozenset(shape)


def _describe(shape: frozenset[tuple[str, str | None]]) -> str:
    return " | ".join(sorted(f"{kind}({fmt})" if fmt else kind for kind, fmt in shape))


def _compare(old: Schema, new: Schema, old_root: Schema, new_root: Schema, at: str) -> list[str]:
    problems: list[str] = []
    old_shape, new_shape = _shape(old, old_root), _shape(new, new_root)
    if old_shape != new_shape:
        return [f"{at}: type changed from {_describe(old_shape)} to {_describe(new_shape)}"]

    old_options, new_options = _alternatives(old, old_root), _alternatives(new, new_root)
    old_consts = {json.dumps(o["const"]) for o in old_options if "const" in o}
    new_consts = {json.dumps(o["const"]) for o in new_options if "const" in o}
    if old_consts != new_consts and old_consts:
        problems.append(f"{at}: constant changed from {sorted(old_consts)} to {sorted(new_consts)}")
    old_enum = {json.dumps(v) for o in old_options for v in o.get("enum", [])}
    new_enum = {json.dumps(v) for o in new_options for v in o.get("enum", [])}
    if new_enum and (removed := old_enum - new_enum):
        problems.append(f"{at}: enum values removed: {', '.join(sorted(removed))}")

    old_objects = [o for o in old_options if o.get("type") == "object" or "properties" in o]
    new_objects = [o for o in new_options if o.get("type") == "object" or "properties" in o]
    if len(old_objects) == 1 and len(new_objects) == 1:
        problems += _compare_objects(old_objects[0], new_objects[0], old_root, new_root, at)

    old_arrays = [o for o in old_options if o.get("type") == "array" and "items" in o]
    new_arrays = [o for o in new_options if o.get("type") == "array" and "items" in o]
    if len(old_arrays) == 1 and len(new_arrays) == 1:
        problems += _compare(
            old_arrays[0]["items"], new_arrays[0]["items"], old_root, new_root, f"{at}[]"
        )
    return problems


def _compare_objects(
    old: Schema, new: Schema, old_root: Schema, new_root: Schema, at: str
) -> list[str]:
    problems: list[str] = []
    old_properties: dict[str, Schema] = old.get("properties", {})
    new_properties: dict[str, Schema] = new.get("properties", {})
    for name, old_property in old_properties.items():
        if name not in new_properties:
            problems.append(f"{at}.{name}: removed")
            continue
        problems += _compare(old_property, new_properties[name], old_root, new_root, f"{at}.{name}")
    newly_required = set(new.get("required", [])) - set(old.get("required", []))
    for name in sorted(newly_required):
        problems.append(f"{at}.{name}: newly required")
    return problems


def breaking_changes(old: Schema, new: Schema) -> list[str]:
    """Why `new` breaks producers or consumers that rely on `old`; empty when compatible."""
    return _compare(old, new, old, new, "$")


def _event_type(event: type[Envelope]) -> str:
    name: str = event.model_fields["event_type"].default
    return name


def _checked_in(event: type[Envelope]) -> Schema:
    path = SCHEMA_DIR / f"{_event_type(event)}.json"
    if not path.exists():
        pytest.fail(f"{event.__name__} has no checked-in schema: run `careplan schemas` ({path})")
    schema: Schema = json.loads(path.read_text())
    return schema


# The checker itself, on hand-made schemas -------------------------------------------------------

MONEY = {
    "properties": {
        "amount": {"anyOf": [{"type": "number"}, {"type": "string"}]},
        "currency": {"type": "string"},
    },
    "required": ["amount", "currency"],
    "type": "object",
}
BASE: Schema = {
    "$defs": {
        "Money": MONEY,
        "Cause": {"enum": ["collision", "fall"], "type": "string"},
        "Payload": {
            "properties": {
                "case_id": {"type": "string"},
                "fee": {"$ref": "#/$defs/Money"},
                "cause": {"$ref": "#/$defs/Cause"},
                "at": {"format": "date-time", "type": "string"},
                "plan_id": {"anyOf": [{"format": "uuid", "type": "string"}, {"type": "null"}]},
                "codes": {"items": {"type": "string"}, "type": "array"},
            },
            "required": ["case_id", "fee", "at"],
            "type": "object",
        },
    },
    "properties": {
        "event_type": {"const": "test.case-decided", "type": "string"},
        "payload": {"$ref": "#/$defs/Payload"},
    },
    "required": ["payload"],
    "type": "object",
}


def _edited(path: list[str], value: Any) -> Schema:
    schema: Schema = json.loads(json.dumps(BASE))
    node = schema
    for step in path[:-1]:
        node = node[step]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return schema


_DELETE = object()
PAYLOAD = ["$defs", "Payload"]


def test_the_checker_accepts_an_identical_schema() -> None:
    assert breaking_changes(BASE, json.loads(json.dumps(BASE))) == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ([*PAYLOAD, "properties", "note"], {"type": "string", "default": None}),
        ([*PAYLOAD, "properties", "case_id", "description"], "The repair case"),
        (["$defs", "Cause", "enum"], ["collision", "fall", "water_damage"]),
        ([*PAYLOAD, "required"], ["case_id", "fee"]),  # required -> optional
        (["properties", "trace"], {"type": "object"}),
    ],
    ids=["optional-property", "description", "enum-value", "no-longer-required", "envelope-field"],
)
def test_the_checker_accepts_additions(path: list[str], value: Any) -> None:
    assert breaking_changes(BASE, _edited(path, value)) == []


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ([*PAYLOAD, "properties", "case_id"], _DELETE, "$.payload.case_id: removed"),
        (
            [*PAYLOAD, "properties", "case_id"],
            {"type": "integer"},
            "$.payload.case_id: type changed from string to integer",
        ),
        (
            [*PAYLOAD, "properties", "at"],
            {"type": "string"},
            "$.payload.at: type changed from string(date-time) to string",
        ),
        (
            [*PAYLOAD, "properties", "plan_id"],
            {"format": "uuid", "type": "string"},
            "$.payload.plan_id: type changed from null | string(uuid) to string(uuid)",
        ),
        (
            [*PAYLOAD, "required"],
            ["case_id", "fee", "at", "cause"],
            "$.payload.cause: newly required",
        ),
        (
            [*PAYLOAD, "properties", "codes", "items"],
            {"type": "integer"},
            "$.payload.codes[]: type changed from string to integer",
        ),
        (
            ["$defs", "Money", "properties", "amount"],
            {"type": "number"},
            "$.payload.fee.amount: type changed from number | string to number",
        ),
        (["$defs", "Money", "properties", "currency"], _DELETE, "$.payload.fee.currency: removed"),
        (["$defs", "Cause", "enum"], ["collision"], '$.payload.cause: enum values removed: "fall"'),
        (
            ["properties", "event_type", "const"],
            "test.case-closed",
            "$.event_type: constant changed",
        ),
    ],
    ids=[
        "removed",
        "retyped",
        "format-changed",
        "no-longer-nullable",
        "newly-required",
        "array-items-retyped",
        "nested-through-ref",
        "nested-removed",
        "enum-value-removed",
        "event-type-renamed",
    ],
)
def test_the_checker_refuses_breaking_changes(path: list[str], value: Any, expected: str) -> None:
    problems = breaking_changes(BASE, _edited(path, value))
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected)


def test_the_checker_reports_a_new_required_property_added_with_it() -> None:
    new = _edited([*PAYLOAD, "properties", "region"], {"type": "string"})
    new[PAYLOAD[0]][PAYLOAD[1]]["required"].append("region")
    assert breaking_changes(BASE, new) == ["$.payload.region: newly required"]


# The real contracts ------------------------------------------------------------------------------


def test_every_event_class_has_a_checked_in_schema() -> None:
    missing = [
        event.__name__
        for event in event_classes()
        if not (SCHEMA_DIR / f"{_event_type(event)}.json").exists()
    ]
    assert missing == [], f"run `careplan schemas` and check the files in: {missing}"


def test_every_checked_in_schema_still_has_its_event_class() -> None:
    """Removing an event type breaks every consumer still receiving it from old producers."""
    current = {_event_type(event) for event in event_classes()}
    checked_in = {path.stem for path in SCHEMA_DIR.glob("*.json")}
    assert checked_in - current == set()


@pytest.mark.parametrize("event", event_classes(), ids=_event_type)
def test_the_current_schema_is_compatible_with_the_checked_in_one(event: type[Envelope]) -> None:
    problems = breaking_changes(_checked_in(event), event_schema(event))
    assert problems == [], f"{event.__name__} breaks its published contract: {problems}"
