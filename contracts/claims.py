"""Events owned by the claims service (topic `claims.events.v1`, keyed by the reported SN)."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from contracts.envelope import Envelope, Payload
from contracts.money import Money
from contracts.serials import SerialNumber
from contracts.upstream import ModelCode, RegionCode, ServiceMode


class ClaimOutcome(StrEnum):
    REPLACEMENT = "replacement"
    WARRANTY_REPAIR = "warranty_repair"
    PAID_REPAIR_CHOSEN = "paid_repair_chosen"
    REFUSED = "refused"


class ClaimDecidedPayload(Payload):
    case_id: str
    sn: SerialNumber
    model: ModelCode
    plan_id: uuid.UUID | None
    outcome: ClaimOutcome
    incident_at: AwareDatetime
    reason_codes: list[str] = Field(
        default_factory=list, description="Why a claim was refused; empty when approved"
    )
    rules_applied: list[str] = Field(
        default_factory=list, description="Rule numbers that decided the case, e.g. C1, C5"
    )
    uses_replacement: bool = False
    flyaway: bool = False
    fee: Money | None = None
    fee_schedule: str | None = Field(
        default=None, description="Version of the fee schedule that priced the replacement (P2)"
    )
    customer_region: RegionCode
    service_mode: ServiceMode = ServiceMode.STANDARD


class ClaimDecided(Envelope):
    """The adjudication of one assessment: the decision, its reasons and its money."""

    event_type: Literal["claims.claim-decided"] = "claims.claim-decided"
    payload: ClaimDecidedPayload


class ClaimReversedPayload(Payload):
    case_id: str
    plan_id: uuid.UUID
    sn: SerialNumber
    reviewer_id: str
    reason_codes: list[str] = Field(min_length=1)
    customer_owes: Money


class ClaimReversed(Envelope):
    """A reviewer found fraud: the case is reversed, the plan ends, renewals are barred (C10)."""

    event_type: Literal["claims.claim-reversed"] = "claims.claim-reversed"
    payload: ClaimReversedPayload


class PreAuthorisationDecisionPayload(Payload):
    case_id: str
    reason_codes: list[str] = Field(
        default_factory=list, description="Why it is captured; empty when released"
    )


class PreAuthorisationCaptureRequested(Envelope):
    """X3: capture the express premium pre-authorisation in full (unit late, wrong SN or no
    battery)."""

    event_type: Literal["claims.pre-authorisation-capture-requested"] = (
        "claims.pre-authorisation-capture-requested"
    )
    payload: PreAuthorisationDecisionPayload


class PreAuthorisationReleaseRequested(Envelope):
    """X3: the damaged unit arrived whole and on time: free the pre-authorisation."""

    event_type: Literal["claims.pre-authorisation-release-requested"] = (
        "claims.pre-authorisation-release-requested"
    )
    payload: PreAuthorisationDecisionPayload


ClaimsEvent = Annotated[
    ClaimDecided
    | ClaimReversed
    | PreAuthorisationCaptureRequested
    | PreAuthorisationReleaseRequested,
    Field(discriminator="event_type"),
]
