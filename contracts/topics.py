"""Every topic: its name, partition count, what keys it and which events it carries."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from pydantic import TypeAdapter

from contracts.accessories import AccessoryActivated
from contracts.activation import ActivationEvent
from contracts.claims import ClaimsEvent
from contracts.coverage import CoverageEvent
from contracts.envelope import MAX_EVENT_BYTES, Envelope, Payload
from contracts.fulfilment import FulfilmentEvent
from contracts.insurer import InsurerClaimsEvent, InsurerResponseEvent
from contracts.liability import LiabilityIncidentReported
from contracts.repairs import RepairCompleted
from contracts.upstream import (
    ActivationRequested,
    DeviceActivated,
    PackAddressChangeRequested,
    PaymentEvent,
    PlanOrderPlaced,
    RepairEvent,
    ReviewConcluded,
    VideoReviewed,
    WarehouseEvent,
)
from contracts.waiting import WaitingEvent

DEAD_LETTER_SUFFIX = ".dlq"


class EventTooLargeError(ValueError):
    pass


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int
    key: str
    owner: str
    events: Any  # the event class, or an annotated discriminated union of them

    @property
    def dead_letter(self) -> str:
        return self.name + DEAD_LETTER_SUFFIX

    @cached_property
    def adapter(self) -> TypeAdapter[Any]:
        return TypeAdapter(self.events)

    @cached_property
    def event_classes(self) -> tuple[type[Envelope], ...]:
        """Every event type the topic carries."""
        return _event_classes(self.events)

    def parse(self, raw: bytes) -> Envelope:
        """Validate raw bytes into this topic's typed event, or raise a ValueError saying why."""
        if len(raw) > MAX_EVENT_BYTES:
            raise EventTooLargeError(f"event of {len(raw)} bytes exceeds {MAX_EVENT_BYTES} bytes")
        event: Envelope = self.adapter.validate_json(raw)
        return event


def _event_classes(events: Any) -> tuple[type[Envelope], ...]:
    if isinstance(events, type):
        return (events,)
    return tuple(found for member in typing.get_args(events) for found in _event_classes(member))


PLAN_ORDERS = Topic("commerce.plan-orders.v1", 3, "plan code", "commerce", PlanOrderPlaced)
DEVICE_ACTIVATIONS = Topic("devices.activations.v1", 3, "device SN", "devices", DeviceActivated)
ACTIVATION_REQUESTS = Topic(
    "activation.requests.v1", 3, "device SN", "storefront", ActivationRequested
)
VIDEO_REVIEWS = Topic("activation.video-reviews.v1", 3, "request id", "review desk", VideoReviewed)
REPAIR_ASSESSMENTS = Topic("repair.assessments.v1", 6, "reported SN", "repair system", RepairEvent)
PAYMENT_SETTLEMENTS = Topic("payments.settlements.v1", 3, "case id", "payments", PaymentEvent)
WAREHOUSE_DISPATCHES = Topic(
    "warehouse.dispatches.v1", 3, "shipment id", "warehouse", WarehouseEvent
)
CLAIM_REVIEWS = Topic("claims.reviews.v1", 3, "case id", "review desk", ReviewConcluded)
INSURER_RESPONSES = Topic(
    "insurer.responses.v1", 3, "plan, case or incident id", "insurers", InsurerResponseEvent
)
LIABILITY_INCIDENTS = Topic(
    "liability.incidents.v1", 3, "drone SN", "liability desk", LiabilityIncidentReported
)
ACCESSORY_ACTIVATIONS = Topic(
    "accessories.activations.v1", 3, "drone SN", "devices", AccessoryActivated
)
REPAIR_COMPLETIONS = Topic("repair.completions.v1", 3, "case id", "repair system", RepairCompleted)
PACK_ADDRESS_CHANGES = Topic(
    "commerce.pack-address-changes.v1", 3, "plan code", "commerce", PackAddressChangeRequested
)

ACTIVATION_EVENTS = Topic("activation.events.v1", 6, "device SN", "activation", ActivationEvent)
COVERAGE_EVENTS = Topic("coverage.events.v1", 6, "plan id", "coverage", CoverageEvent)
CLAIMS_EVENTS = Topic("claims.events.v1", 6, "reported SN", "claims", ClaimsEvent)
FULFILMENT_EVENTS = Topic(
    "fulfilment.events.v1",
    6,
    "plan id (case id: a repaired unit's return, a payment of a case not deducted; plan code: a"
    " pack address change refused before the renewal is bound)",
    "fulfilment",
    FulfilmentEvent,
)
INSURER_CLAIMS = Topic("insurer.claims.v1", 6, "case or incident id", "claims", InsurerClaimsEvent)
# Written by every service that keeps events waiting (shared.waiting), read by the lookup and
# the dashboard.
WAITING = Topic("platform.waiting.v1", 3, "what is waited for", "platform", WaitingEvent)

ALL_TOPICS: tuple[Topic, ...] = (
    PLAN_ORDERS,
    DEVICE_ACTIVATIONS,
    ACTIVATION_REQUESTS,
    VIDEO_REVIEWS,
    REPAIR_ASSESSMENTS,
    PAYMENT_SETTLEMENTS,
    WAREHOUSE_DISPATCHES,
    CLAIM_REVIEWS,
    INSURER_RESPONSES,
    LIABILITY_INCIDENTS,
    ACCESSORY_ACTIVATIONS,
    REPAIR_COMPLETIONS,
    PACK_ADDRESS_CHANGES,
    ACTIVATION_EVENTS,
    COVERAGE_EVENTS,
    CLAIMS_EVENTS,
    FULFILMENT_EVENTS,
    INSURER_CLAIMS,
    WAITING,
)
BY_NAME = {topic.name: topic for topic in ALL_TOPICS}

_TOPIC_OF = {event: topic for topic in ALL_TOPICS for event in topic.event_classes}
_ENVELOPES_OF: dict[type[Payload], list[type[Envelope]]] = {}
for _event in _TOPIC_OF:
    _ENVELOPES_OF.setdefault(_event.model_fields["payload"].annotation, []).append(_event)  # type: ignore[arg-type]


class UnknownEventError(LookupError):
    pass


def topic_of(event: type[Envelope]) -> Topic:
    """The one topic that carries `event`."""
    try:
        return _TOPIC_OF[event]
    except KeyError:
        raise UnknownEventError(f"no topic carries {event.__name__}") from None


def envelope_for(payload: Payload) -> type[Envelope]:
    """The event type whose payload `payload` is, where only one has that payload."""
    found = _ENVELOPES_OF.get(type(payload), [])
    if len(found) != 1:
        names = ", ".join(event.__name__ for event in found) or "none"
        raise UnknownEventError(
            f"{type(payload).__name__} is the payload of {names}: name the event type"
        )
    return found[0]
