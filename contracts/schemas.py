"""JSON Schema of every event: exported to contracts/json_schemas/, checked for breaking changes."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

from contracts.envelope import Envelope
from contracts.topics import ALL_TOPICS

SCHEMA_DIR = Path(__file__).parent / "json_schemas"


def event_classes() -> list[type[Envelope]]:
    """Every concrete event class named by a topic, in topic order."""
    classes: list[type[Envelope]] = []
    for topic in ALL_TOPICS:
        events = topic.events
        if typing.get_origin(events) is typing.Annotated:
            events = typing.get_args(events)[0]
        members = typing.get_args(events) or (events,)
        classes.extend(member for member in members if member not in classes)
    return classes


DIALECT = "https://json-schema.org/draft/2020-12/schema"


def event_schema(event: type[Envelope]) -> dict[str, Any]:
    """The event's schema, named by a URN of its event type and its schema version."""
    schema = event.model_json_schema(mode="validation")
    version = event.model_fields["schema_version"].default
    schema["$schema"] = DIALECT
    schema["$id"] = f"urn:careplan:event:{event.model_fields['event_type'].default}:v{version}"
    return schema


def export_schemas(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for event in event_classes():
        name = event.model_fields["event_type"].default
        path = folder / f"{name}.json"
        path.write_text(json.dumps(event_schema(event), indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
