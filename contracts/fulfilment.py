"""Events owned by the fulfilment service (topic `fulfilment.events.v1`, keyed by plan id)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from contracts.envelope import Envelope, Payload
from contracts.money import Money
from contracts.serials import SerialNumber
from contracts.upstream import ModelCode, RegionCode


class ShipmentRequestedPayload(Payload):
    shipment_id: uuid.UUID
    case_id: str
    plan_id: uuid.UUID
    old_sn: SerialNumber
    model: ModelCode
    ship_to_region: RegionCode
    customer_pays_shipping: bool = Field(
        description="F1: true when the customer's region differs from the plan's region"
    )


class ShipmentRequested(Envelope):
    """Fee settled: the warehouse is asked for a replacement unit, with priority (F1)."""

    event_type: Literal["fulfilment.shipment-requested"] = "fulfilment.shipment-requested"
    payload: ShipmentRequestedPayload


class DeviceReplacedPayload(Payload):
    shipment_id: uuid.UUID
    case_id: str
    plan_id: uuid.UUID
    old_sn: SerialNumber
    new_sn: SerialNumber
    dispatched_at: AwareDatetime


class DeviceReplaced(Envelope):
    """The replacement left the warehouse: old SN -> new SN; the damaged unit is kept (F2, F3)."""

    event_type: Literal["fulfilment.device-replaced"] = "fulfilment.device-replaced"
    payload: DeviceReplacedPayload


class PreAuthorisationRequestedPayload(Payload):
    case_id: str
    plan_id: uuid.UUID
    amount: Money = Field(description="X3: up to the product's value")


class PreAuthorisationRequested(Envelope):
    """X3 premium: payments is asked to hold the product's value on the customer's card."""

    event_type: Literal["fulfilment.pre-authorisation-requested"] = (
        "fulfilment.pre-authorisation-requested"
    )
    payload: PreAuthorisationRequestedPayload


FulfilmentEvent = Annotated[
    ShipmentRequested | DeviceReplaced | PreAuthorisationRequested,
    Field(discriminator="event_type"),
]
