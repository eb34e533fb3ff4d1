"""Third-party liability incidents of AG drones (L1-L4), reported on `liability.incidents.v1`.

The liability desk (the insurer's hotline, the service app) reports an incident; claims routes it
to the insurer that underwrote the drone's model, with the limits and deductibles that apply.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, Field, model_validator

from contracts.envelope import Envelope, Payload
from contracts.money import Money
from contracts.serials import SerialNumber
from contracts.upstream import RegionCode


class LiabilityKind(StrEnum):
    """L2: what was harmed."""

    THIRD_PARTY_PROPERTY = "third_party_property"
    THIRD_PARTY_INJURY = "third_party_injury"
    OPERATOR_ACCIDENT = "operator_accident"  # the extended operator accident cover


class LiabilityIncidentReportedPayload(Payload):
    incident_id: str = Field(min_length=1, max_length=64)
    drone_sn: SerialNumber
    kind: LiabilityKind
    location_region: RegionCode = Field(
        description="L1: where it happened. CN is mainland China; HK, MO, TW and every other"
        " code are outside the cover"
    )
    occurred_at: AwareDatetime
    claimed_amount: Money = Field(description="Everything claimed, medical costs included")
    medical_amount: Money | None = Field(
        default=None,
        description="Injury or operator accident: the part of the claim that is medical costs;"
        " the rest is death or disability compensation",
    )

    @model_validator(mode="after")
    def _medical_inside_the_claim(self) -> LiabilityIncidentReportedPayload:
        medical = self.medical_amount
        if medical is None:
            return self
        if medical.currency != self.claimed_amount.currency:
            raise ValueError("medical and claimed amounts in two currencies")
        if medical.amount < 0 or medical.amount > self.claimed_amount.amount:
            raise ValueError("the medical amount must be part of the claimed amount")
        if self.kind is LiabilityKind.THIRD_PARTY_PROPERTY and medical.amount:
            raise ValueError("a property incident has no medical amount")
        return self


class LiabilityIncidentReported(Envelope):
    """A drone under an AG plan caused harm (L1-L3); the insurer settles it (L4)."""

    event_type: Literal["liability.incident-reported"] = "liability.incident-reported"
    payload: LiabilityIncidentReportedPayload
