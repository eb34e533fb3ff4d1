"""The envelope every message travels in, and the rules for building one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

# A message larger than this is refused before it is parsed: no legitimate event comes close,
# and a huge one is either a bug upstream or an attack.
MAX_EVENT_BYTES = 64 * 1024
# No text field of an event is longer (its JSON Schema says so too).
MAX_TEXT_LENGTH = 2048


class Payload(BaseModel):
    """Base of every payload.

    Unknown fields are ignored rather than refused so that a producer can add an optional field
    without breaking consumers that do not know it yet (contracts evolve by addition).
    """

    model_config = ConfigDict(frozen=True, extra="ignore", str_max_length=MAX_TEXT_LENGTH)


class Envelope(BaseModel):
    """Event metadata shared by every topic; subclasses pin `event_type` and type `payload`."""

    model_config = ConfigDict(frozen=True, extra="ignore", str_max_length=MAX_TEXT_LENGTH)

    event_id: uuid.UUID
    event_type: str
    occurred_at: AwareDatetime
    producer: str = Field(min_length=1, max_length=64)
    correlation_id: str = Field(
        min_length=1, max_length=128, description="The case, order or plan this belongs to."
    )
    causation_id: uuid.UUID | None = Field(
        default=None, description="The event that caused this one, if any."
    )
    schema_version: Literal[1] = 1
    payload: Payload

    @classmethod
    def new(
        cls,
        payload: Any,
        *,
        producer: str,
        correlation_id: str,
        cause: Envelope | None = None,
        occurred_at: datetime | None = None,
    ) -> Self:
        """A fresh event; `cause` links it to the event that made it happen."""
        return cls.model_validate(
            {
                "event_id": uuid.uuid4(),
                "occurred_at": occurred_at or datetime.now(UTC),
                "producer": producer,
                "correlation_id": correlation_id,
                "causation_id": cause.event_id if cause else None,
                "payload": payload,
            }
        )
