"""The insurers' side of the AG plan (A5, C8, L1-L4).

`insurer.claims.v1` (owned by claims, keyed by case or incident id): what the platform reports
to the insurer that underwrote a model. `insurer.responses.v1` (the insurers, keyed by the plan,
case or incident it answers): electronic policies and answers to those reports.
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, model_validator

from contracts.claims import RepairLineSplit
from contracts.envelope import Envelope, Payload
from contracts.liability import LiabilityKind
from contracts.money import Money
from contracts.serials import SerialNumber
from contracts.upstream import (
    MAX_REPAIR_LINES,
    AgriculturalActivity,
    IncidentCause,
    ModelCode,
    RegionCode,
)

InsurerCode = Annotated[
    str, Field(min_length=1, max_length=64, description="Catalogue insurer id, e.g. zhongan")
]


class InsurerClaimReportedPayload(Payload):
    case_id: str
    plan_id: uuid.UUID
    term_no: int = Field(ge=1)
    insurer: InsurerCode
    policy_no: str | None = Field(default=None, description="A5: the electronic policy, if known")
    sn: SerialNumber
    model: ModelCode
    plan_year: int = Field(ge=1, le=3)
    cause: IncidentCause
    activity: AgriculturalActivity | None
    incident_at: AwareDatetime
    incident_date: dt.date = Field(description="M2: the incident's date in Asia/Shanghai")
    base_quota_amount: Money = Field(
        description="C8: what the insurer funds, as repair service at the service point"
    )
    deductible: Money = Field(description="C7: paid by the customer to the service point")
    lines: list[RepairLineSplit] = Field(
        max_length=MAX_REPAIR_LINES, description="The base-quota lines of the repair"
    )
    settlement: Literal["repair_service"] = Field(
        default="repair_service",
        description="C8: the base quota pays only by repair service, never in cash",
    )


class InsurerClaimReported(Envelope):
    """C8: the base-quota part of an AG repair, reported to the model's insurer."""

    event_type: Literal["insurer.claim-reported"] = "insurer.claim-reported"
    payload: InsurerClaimReportedPayload


class InsurerClaimWithdrawnPayload(Payload):
    case_id: str
    insurer: InsurerCode
    reason_codes: list[str] = Field(min_length=1)


class InsurerClaimWithdrawn(Envelope):
    """C10: a reviewer reversed the case, so the claim reported to the insurer is withdrawn."""

    event_type: Literal["insurer.claim-withdrawn"] = "insurer.claim-withdrawn"
    payload: InsurerClaimWithdrawnPayload


class LiabilityClaimReportedPayload(Payload):
    incident_id: str
    plan_id: uuid.UUID
    term_no: int = Field(ge=1)
    insurer: InsurerCode
    policy_no: str | None = None
    drone_sn: SerialNumber
    model: ModelCode
    kind: LiabilityKind
    location_region: RegionCode
    occurred_at: AwareDatetime
    incident_date: dt.date = Field(description="M2: the incident's date in Asia/Shanghai")
    claimed_amount: Money
    medical_amount: Money | None
    limit: Money = Field(description="L2: the limit of this kind of liability")
    limit_left: Money = Field(description="L2: the limit less what the insurer already paid")
    total_limit_left: Money = Field(description="L1: the 600,000 total less what was paid")
    medical_sublimit: Money | None = Field(
        default=None, description="L2: per accident, by model group (injury and operator)"
    )
    deductible: Money = Field(
        description="L3: 200 on property or on medical costs; none on death or disability"
    )
    indicative_payable: Money = Field(
        description="The platform's estimate under these limits; the insurer settles (L4)"
    )


class LiabilityClaimReported(Envelope):
    """L4: a third-party liability incident routed to the insurer that underwrote the model."""

    event_type: Literal["insurer.liability-claim-reported"] = "insurer.liability-claim-reported"
    payload: LiabilityClaimReportedPayload


InsurerClaimsEvent = Annotated[
    InsurerClaimReported | InsurerClaimWithdrawn | LiabilityClaimReported,
    Field(discriminator="event_type"),
]


class PolicyConfirmedPayload(Payload):
    plan_id: uuid.UUID
    policy_no: str = Field(min_length=1, max_length=64)
    insurer: InsurerCode
    term_start: AwareDatetime
    term_end: AwareDatetime

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> PolicyConfirmedPayload:
        if self.term_end <= self.term_start:
            raise ValueError("a policy must end after it starts")
        return self


class PolicyConfirmed(Envelope):
    """A5: the insurer issued the electronic policy; its dates are the term's dates."""

    event_type: Literal["insurer.policy-confirmed"] = "insurer.policy-confirmed"
    payload: PolicyConfirmedPayload


class InsurerAnswer(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    PAID = "paid"


class InsurerClaimAnsweredPayload(Payload):
    case_id: str = Field(min_length=1, max_length=64)
    insurer: InsurerCode
    answer: InsurerAnswer
    amount: Money | None = Field(
        default=None,
        description="Paid: what the insurer paid the service point for the repair (C8: never"
        " the customer)",
    )
    reason: str | None = Field(default=None, max_length=500)
    answered_at: AwareDatetime


class InsurerClaimAnswered(Envelope):
    """The insurer's answer to a reported base-quota claim."""

    event_type: Literal["insurer.claim-answered"] = "insurer.claim-answered"
    payload: InsurerClaimAnsweredPayload


class LiabilityClaimAnsweredPayload(Payload):
    incident_id: str = Field(min_length=1, max_length=64)
    insurer: InsurerCode
    answer: InsurerAnswer
    settled_amount: Money | None = Field(
        default=None, description="Paid: what the insurer paid out for the incident (L4)"
    )
    reason: str | None = Field(default=None, max_length=500)
    answered_at: AwareDatetime


class LiabilityClaimAnswered(Envelope):
    """L4: the insurer's answer to a routed liability incident."""

    event_type: Literal["insurer.liability-claim-answered"] = "insurer.liability-claim-answered"
    payload: LiabilityClaimAnsweredPayload


InsurerResponseEvent = Annotated[
    PolicyConfirmed | InsurerClaimAnswered | LiabilityClaimAnswered,
    Field(discriminator="event_type"),
]
