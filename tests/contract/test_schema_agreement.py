"""The published JSON Schemas (contracts/json_schemas/) and the models agree.

Hostile values replace each leaf of a valid event of every topic, one at a time; the schema is
checked as `check-jsonschema` checks it (ECMA-262 patterns, formats asserted). Two properties:

- whatever the schema accepts, the service accepts: a client built from the schema is never
  dead-lettered;
- at a text or money leaf (serials, codes, decimal strings, lengths), the verdicts are the same.

Where the schema is stricter it stays so (docs/decisions.md): pydantic also takes "3" for an
integer, 1 for a boolean, a Unix time or a space-separated date-time, a uuid without hyphens.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from check_jsonschema.formats import FormatOptions, make_format_checker
from check_jsonschema.regex_variants import RegexImplementation, RegexVariantName
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from contracts import parse_event
from contracts.schemas import DIALECT, SCHEMA_DIR, event_classes
from tests.contract.test_contracts import SAMPLES, Sample, document

pytestmark = pytest.mark.contract

Leaf = tuple[str | int, ...]

HOSTILE: list[Any] = [
    # Serial numbers (D1)
    "",
    " ",
    "ABC",
    "abc1234567",
    " DJI0123456789 ",
    "\tDJI0123456789\n",
    "DJI0123456789\n",
    "DJI-0123456789",
    "DJI 0123456789",
    "A" * 20,
    "A" * 21,
    "ßßßßßßßßßß",
    "ıııııııııı",
    "ＤＪＩ０１２３４５６７８９",
    "\u00a0DJI0123456789",
    # Currency codes, regions, plan and model codes
    "EUR",
    "eur",
    "EURO",
    "EUR\n",
    "€",
    "CN",
    "cn",
    "C",
    "CARE-REFRESH-1Y",
    "care-refresh-1y",
    # Decimal strings (M1)
    "239.00",
    "239",
    "239.5",
    "239.555",
    "-1.00",
    "+1.00",
    "1e3",
    "1_000",
    " 5",
    "5.",
    ".5",
    "NaN",
    "Infinity",
    "0.05",
    "1.0000",
    "1.00001",
    "١٢٣.٠٠",
    "12345678901234567.00",
    "2026-03-01 12:00:00+00:00",
    "2026-03-01T12:00:00",
    "2026-03-01",
    "12345678123456781234567812345678",
    "someone@example",
    # Lengths and plain hostility
    "x" * 65,
    "x" * 129,
    "x" * 2049,
    "'; DROP TABLE cases; --",
    "\x00",
    "\u202e",
    # Not strings at all
    0,
    -1,
    239,
    239.5,
    3.0,
    1700000000,
    True,
    None,
    [],
    {},
]


@cache
def validator(event_type: str) -> jsonschema.protocols.Validator:
    """The event's schema, checked as check-jsonschema checks it (its default regex variant)."""
    schema = json.loads((SCHEMA_DIR / f"{event_type}.json").read_text())
    regex = RegexImplementation(RegexVariantName.default)
    checker = jsonschema.validators.validator_for(schema)
    # types-jsonschema leaves `extend` untyped.
    extended: Any = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
        checker,
        {"pattern": regex.pattern_keyword, "patternProperties": regex.patternProperties_keyword},
    )
    formats = make_format_checker(FormatOptions(regex_impl=regex))
    checking: jsonschema.protocols.Validator = extended(schema, format_checker=formats)
    return checking


def formatted(value: Any) -> bool:
    """A uuid, a date-time or an e-mail address: a leaf with a JSON Schema `format`."""
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
        return True
    except ValueError:
        pass
    try:
        datetime.fromisoformat(value)
        return True
    except ValueError:
        return "@" in value


def leaves(node: Any, path: Leaf = ()) -> Iterator[tuple[Leaf, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from leaves(value, (*path, index))
    else:
        yield path, node


def text_leaves(sample: Sample) -> list[Leaf]:
    """Leaves holding text that is not a uuid, a date-time or an address."""
    return [
        leaf
        for leaf, value in leaves(document(sample))
        if isinstance(value, str) and not formatted(value)
    ]


def changed(sample: Sample, leaf: Leaf, value: Any) -> bytes:
    """The sample's JSON with `value` at `leaf`."""
    doc = document(sample)
    node: Any = doc
    for step in leaf[:-1]:
        node = node[step]
    node[leaf[-1]] = value
    return json.dumps(doc).encode()


def all_leaves(sample: Sample) -> list[Leaf]:
    return [leaf for leaf, _ in leaves(document(sample))]


def verdicts(sample: Sample, raw: bytes, leaf: Leaf = ()) -> tuple[bool, bool]:
    """(the model accepts it, the schema accepts it).

    A refusal by a rule across fields (a model validator: "medical and claimed amounts in two
    currencies") counts as acceptance: no JSON Schema states such rules, the service refuses
    them with a reason on the dead letter.
    """
    try:
        parse_event(sample.topic.name, raw)
        model = True
    except ValidationError as refusal:
        model = leaf != () and all(across_fields(error, leaf) for error in refusal.errors())
    except ValueError:
        model = False
    event_type = document(sample)["event_type"]
    schema = validator(event_type).is_valid(json.loads(raw))
    return model, schema


def across_fields(error: ErrorDetails, leaf: Leaf) -> bool:
    """An error a model validator raised about an object above `leaf`, not about the leaf."""
    location = tuple(error["loc"])
    # A union's tag may lead the location; what follows it is a path into the document.
    return error["type"] == "value_error" and any(
        len(location) - start < len(leaf) and leaf[: len(location) - start] == location[start:]
        for start in range(len(location))
    )


def short(value: Any) -> str:
    return repr(value)[:40]


def schema_only(sample: Sample, leaf_set: list[Leaf], values: list[Any]) -> list[tuple[Leaf, str]]:
    """What the schema accepts and the model refuses."""
    return [
        (leaf, short(value))
        for leaf in leaf_set
        for value in values
        if verdicts(sample, changed(sample, leaf, value), leaf) == (False, True)
    ]


def model_only(sample: Sample, leaf_set: list[Leaf], values: list[Any]) -> list[tuple[Leaf, str]]:
    """What the model accepts and the schema refuses."""
    return [
        (leaf, short(value))
        for leaf in leaf_set
        for value in values
        if verdicts(sample, changed(sample, leaf, value)) == (True, False)
    ]


def test_every_schema_names_its_dialect_and_itself() -> None:
    ids = []
    for event in event_classes():
        event_type = event.model_fields["event_type"].default
        schema = json.loads((SCHEMA_DIR / f"{event_type}.json").read_text())
        assert schema["$schema"] == DIALECT
        ids.append(schema["$id"])
        assert schema["$id"] == f"urn:careplan:event:{event_type}:v1"
        jsonschema.validators.validator_for(schema).check_schema(schema)
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("sample", SAMPLES, ids=str)
def test_what_the_schema_accepts_the_service_accepts(sample: Sample) -> None:
    assert verdicts(sample, json.dumps(document(sample)).encode()) == (True, True)
    assert schema_only(sample, all_leaves(sample), HOSTILE) == []


@pytest.mark.parametrize("sample", SAMPLES, ids=str)
def test_at_text_and_money_the_schema_refuses_what_the_service_refuses(sample: Sample) -> None:
    assert model_only(sample, text_leaves(sample), HOSTILE) == []


@settings(max_examples=300, deadline=None)
@given(
    sample=st.sampled_from(SAMPLES),
    data=st.data(),
    value=st.text(max_size=30) | st.from_regex(r"\A[ -~]{0,24}\Z") | st.integers(),
)
def test_the_schema_and_the_model_agree_on_drawn_values(
    sample: Sample, data: st.DataObject, value: Any
) -> None:
    leaf = data.draw(st.sampled_from(all_leaves(sample)))
    model, schema = verdicts(sample, changed(sample, leaf, value), leaf)
    if schema:
        assert model, (leaf, value)
    if leaf in text_leaves(sample) and isinstance(value, str):
        assert model == schema, (leaf, value)


def test_check_jsonschema_refuses_a_malformed_reported_sn(tmp_path: Path) -> None:
    """The finding as an integrator meets it: the published tool on the published schema."""
    sample = next(s for s in SAMPLES if document(s)["event_type"] == "repair.assessment-reported")
    doc = document(sample)
    doc["payload"]["reported_sn"] = "ABC"
    instance = tmp_path / "assessment.json"
    instance.write_text(json.dumps(doc))
    tool = Path(sys.executable).parent / "check-jsonschema"
    schema = SCHEMA_DIR / "repair.assessment-reported.json"
    done = subprocess.run(
        [str(tool), "--schemafile", str(schema), str(instance)], capture_output=True, text=True
    )
    assert done.returncode == 1, done.stdout
    assert "'ABC' does not match" in done.stdout
    instance.write_text(json.dumps(document(sample)))
    valid = subprocess.run(
        [str(tool), "--schemafile", str(schema), str(instance)], capture_output=True, text=True
    )
    assert valid.returncode == 0, valid.stdout
