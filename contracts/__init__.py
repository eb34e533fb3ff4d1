"""The messages the services exchange: the only thing they share about each other."""

from __future__ import annotations

from contracts.envelope import Envelope
from contracts.topics import BY_NAME, EventTooLargeError

__all__ = ["EventTooLargeError", "UnknownTopicError", "parse_event", "serialise_event"]


class UnknownTopicError(ValueError):
    pass


def parse_event(topic: str, raw: bytes) -> Envelope:
    """Validate raw bytes from `topic` into its typed event, or raise a ValueError saying why."""
    try:
        spec = BY_NAME[topic]
    except KeyError:
        raise UnknownTopicError(f"no contract for topic {topic!r}") from None
    return spec.parse(raw)


def serialise_event(event: Envelope) -> bytes:
    return event.model_dump_json().encode()
