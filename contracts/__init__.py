"""The messages the services exchange: the only thing they share about each other."""

from __future__ import annotations

from typing import Any

from contracts.envelope import MAX_EVENT_BYTES, Envelope
from contracts.topics import BY_NAME


class EventTooLargeError(ValueError):
    pass


class UnknownTopicError(ValueError):
    pass


def parse_event(topic: str, raw: bytes) -> Envelope:
    """Validate raw bytes from `topic` into its typed event, or raise a ValueError saying why."""
    if len(raw) > MAX_EVENT_BYTES:
        raise EventTooLargeError(f"event of {len(raw)} bytes exceeds {MAX_EVENT_BYTES} bytes")
    try:
        spec = BY_NAME[topic]
    except KeyError:
        raise UnknownTopicError(f"no contract for topic {topic!r}") from None
    event: Any = spec.adapter.validate_json(raw)
    return event  # type: ignore[no-any-return]


def serialise_event(event: Envelope) -> bytes:
    return event.model_dump_json().encode()
