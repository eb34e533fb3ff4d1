"""What a service keeps waiting (topic `platform.waiting.v1`, keyed by what it waits for).

A service that reads an event before what it depends on keeps the event instead of refusing
it (shared.waiting). It announces that it keeps it, and again when the wait is over, so that the
lookup and the operations dashboard can show what waits, for what, and until when.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from contracts.envelope import Envelope, Payload


class EventWaitingPayload(Payload):
    service: str = Field(min_length=1, max_length=64)
    dependency: str = Field(min_length=1, max_length=64, description="e.g. plan-of-assessment")
    key: str = Field(min_length=1, max_length=200, description="what is waited for, e.g. an SN")
    waiting_event_id: uuid.UUID
    waiting_event_type: str
    waiting_topic: str
    waiting_since: AwareDatetime
    deadline: AwareDatetime = Field(description="when the event is answered as it stands")


class EventWaiting(Envelope):
    """A service keeps an event until what it depends on arrives, or until its deadline."""

    event_type: Literal["platform.event-waiting"] = "platform.event-waiting"
    payload: EventWaitingPayload


class WaitEnd(StrEnum):
    RESOLVED = "resolved"  # what it waited for arrived; the event was decided
    EXPIRED = "expired"  # the grace period ran out; the event was answered as it stood


class WaitOverPayload(Payload):
    service: str = Field(min_length=1, max_length=64)
    dependency: str = Field(min_length=1, max_length=64)
    key: str = Field(min_length=1, max_length=200)
    waiting_event_id: uuid.UUID
    ended: WaitEnd


class WaitOver(Envelope):
    """The event a service kept was handed back to its handler."""

    event_type: Literal["platform.wait-over"] = "platform.wait-over"
    payload: WaitOverPayload


WaitingEvent = Annotated[EventWaiting | WaitOver, Field(discriminator="event_type")]
