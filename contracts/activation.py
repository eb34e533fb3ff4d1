"""Events owned by the activation service (topic `activation.events.v1`, keyed by device SN)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from contracts.accessories import AccessoryType
from contracts.agricultural import AgriculturalTerm, PlanFamily
from contracts.envelope import Envelope, Payload
from contracts.serials import SerialNumber
from contracts.upstream import ModelCode, PlanCode, RegionCode


class PlanActivatedPayload(Payload):
    plan_id: uuid.UUID
    plan_code: PlanCode
    sn: SerialNumber
    model: ModelCode
    sku: str
    region: RegionCode
    owner_id: uuid.UUID = Field(description="Pseudonymous owner; the person stays in activation")
    term_start: AwareDatetime
    term_end: AwareDatetime
    replacements: int = Field(ge=0, description="Replacements the plan includes (P1)")
    flyaways: int = Field(ge=0, description="Of which at most this many flyaways (P1, C6)")
    purchased_at: AwareDatetime
    family: PlanFamily = PlanFamily.CONSUMER
    agricultural: AgriculturalTerm | None = Field(
        default=None, description="AG plans only: quotas, deductible, insurer (P4-P6)"
    )
    request_id: str | None = Field(
        default=None, description="The activation request this term was bound for"
    )
    copy_of: uuid.UUID | None = Field(
        default=None,
        description="Set on a request's answer sent again: the event id of the answer it copies",
    )


class PlanActivated(Envelope):
    """A plan code is bound to a device and its term has started (A1, A2)."""

    event_type: Literal["activation.plan-activated"] = "activation.plan-activated"
    payload: PlanActivatedPayload


class PlanRenewedPayload(Payload):
    plan_id: uuid.UUID = Field(description="The plan renewed: a renewal extends, never replaces")
    plan_code: PlanCode
    sn: SerialNumber
    sku: str
    term_no: int = Field(ge=2)
    term_start: AwareDatetime
    term_end: AwareDatetime
    replacements: int = Field(ge=0)
    flyaways: int = Field(ge=0)
    purchased_at: AwareDatetime
    agricultural: AgriculturalTerm | None = Field(
        default=None, description="AG plans only: the renewal year's quotas (P4, P5)"
    )
    previous_term_ends_at: AwareDatetime | None = Field(
        default=None,
        description="A4: an AG renewal bought before expiry ends the previous term at purchase",
    )
    request_id: str | None = Field(
        default=None, description="The activation request this term was bound for"
    )
    copy_of: uuid.UUID | None = Field(
        default=None,
        description="Set on a request's answer sent again: the event id of the answer it copies",
    )


class PlanRenewed(Envelope):
    """A renewal added a term to the device's plan: CR 1-Year (A3, X1), AG next year (A4)."""

    event_type: Literal["activation.plan-renewed"] = "activation.plan-renewed"
    payload: PlanRenewedPayload


class ActivationPendingPayload(Payload):
    request_id: str
    plan_code: PlanCode
    sn: SerialNumber
    reason_code: str = Field(description="Why the activation waits, e.g. VIDEO_REVIEW_REQUIRED")
    copy_of: uuid.UUID | None = Field(
        default=None,
        description="Set on a request's answer sent again: the event id of the answer it copies",
    )


class ActivationPending(Envelope):
    """Late activation: waits for the verification video's review (A1)."""

    event_type: Literal["activation.activation-pending"] = "activation.activation-pending"
    payload: ActivationPendingPayload


class ActivationRefusedPayload(Payload):
    request_id: str
    plan_code: str
    sn: str
    reason_codes: list[str] = Field(min_length=1)
    copy_of: uuid.UUID | None = Field(
        default=None,
        description="Set on a request's answer sent again: the event id of the answer it copies",
    )


class ActivationRefused(Envelope):
    """The activation request was refused; the reason codes say why (A1, A2)."""

    event_type: Literal["activation.activation-refused"] = "activation.activation-refused"
    payload: ActivationRefusedPayload


class AccessoryAssociatedPayload(Payload):
    accessory_sn: SerialNumber
    accessory_type: AccessoryType
    drone_sn: SerialNumber = Field(description="G1: the drone whose plan now covers it")
    associated_at: AwareDatetime
    replaced_accessory_sn: SerialNumber | None = Field(
        default=None, description="G3: the drone's previous accessory of this type, now released"
    )
    inherited_from_sn: SerialNumber | None = Field(
        default=None, description="F3: the association moved with the plan from this drone"
    )


class AccessoryAssociated(Envelope):
    """An accessory is associated with a drone and covered by its plan from now on (G1, G3)."""

    event_type: Literal["activation.accessory-associated"] = "activation.accessory-associated"
    payload: AccessoryAssociatedPayload


class AccessoryReleasedPayload(Payload):
    accessory_sn: SerialNumber
    accessory_type: AccessoryType
    drone_sn: SerialNumber = Field(description="The drone it was associated with")
    released_at: AwareDatetime
    replaced_by_sn: SerialNumber | None = Field(
        default=None, description="G3: the new accessory that took its place"
    )


class AccessoryReleased(Envelope):
    """G3: a released accessory is no longer associated and can never be covered again."""

    event_type: Literal["activation.accessory-released"] = "activation.accessory-released"
    payload: AccessoryReleasedPayload


class AccessoryAssociationRefusedPayload(Payload):
    accessory_sn: SerialNumber
    accessory_type: AccessoryType
    drone_sn: SerialNumber
    activated_at: AwareDatetime
    reason_codes: list[str] = Field(min_length=1)


class AccessoryAssociationRefused(Envelope):
    """G2, G3: the accessory works on that drone but is not covered; the reason codes say why."""

    event_type: Literal["activation.accessory-association-refused"] = (
        "activation.accessory-association-refused"
    )
    payload: AccessoryAssociationRefusedPayload


ActivationEvent = Annotated[
    PlanActivated
    | PlanRenewed
    | ActivationPending
    | ActivationRefused
    | AccessoryAssociated
    | AccessoryReleased
    | AccessoryAssociationRefused,
    Field(discriminator="event_type"),
]


def is_copy(event: Envelope) -> bool:
    """An answer sent again to a request sent again under its id: it repeats the answer whose
    event id it names and changes nothing a reader keeps."""
    payload = event.payload
    answer = (
        PlanActivatedPayload
        | PlanRenewedPayload
        | ActivationPendingPayload
        | ActivationRefusedPayload
    )
    return isinstance(payload, answer) and payload.copy_of is not None
