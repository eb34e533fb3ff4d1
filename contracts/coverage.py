"""Events owned by the coverage service (topic `coverage.events.v1`, keyed by plan id)."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from contracts.agricultural import AgriculturalTerm, PlanFamily
from contracts.claims import RepairSplit
from contracts.envelope import Envelope, Payload
from contracts.money import Money
from contracts.serials import SerialNumber
from contracts.upstream import ModelCode, RegionCode, ServiceMode


class CoverageOpenedPayload(Payload):
    plan_id: uuid.UUID
    sn: SerialNumber
    model: ModelCode
    sku: str
    region: RegionCode
    term_start: AwareDatetime
    term_end: AwareDatetime
    replacements_left: int = Field(ge=0)
    flyaways_left: int = Field(ge=0)
    family: PlanFamily = PlanFamily.CONSUMER
    agricultural: AgriculturalTerm | None = None


class CoverageOpened(Envelope):
    """The plan ledger opened a plan with its term and entitlements (P1)."""

    event_type: Literal["coverage.coverage-opened"] = "coverage.coverage-opened"
    payload: CoverageOpenedPayload


class CoverageExtendedPayload(Payload):
    plan_id: uuid.UUID
    sn: SerialNumber
    sku: str
    term_no: int = Field(ge=2)
    term_start: AwareDatetime
    term_end: AwareDatetime
    replacements_left: int = Field(ge=0)
    flyaways_left: int = Field(ge=0)
    agricultural: AgriculturalTerm | None = None
    previous_term_ends_at: AwareDatetime | None = None


class CoverageExtended(Envelope):
    """A renewal term was added to the plan, with its own entitlements (A3)."""

    event_type: Literal["coverage.coverage-extended"] = "coverage.coverage-extended"
    payload: CoverageExtendedPayload


class DeductionAppliedPayload(Payload):
    case_id: str
    plan_id: uuid.UUID
    sn: SerialNumber
    model: ModelCode
    plan_region: RegionCode
    customer_region: RegionCode
    fee: Money
    flyaway: bool
    term_no: int = Field(default=1, ge=1, description="The term the replacement was taken from")
    service_mode: ServiceMode = ServiceMode.STANDARD
    replacements_left: int = Field(ge=0)
    flyaways_left: int = Field(ge=0)


class DeductionApplied(Envelope):
    """One replacement was taken off the plan for a case (C5, C6)."""

    event_type: Literal["coverage.deduction-applied"] = "coverage.deduction-applied"
    payload: DeductionAppliedPayload


class DeductionRefusedPayload(Payload):
    case_id: str
    plan_id: uuid.UUID
    reason_codes: list[str] = Field(min_length=1)


class DeductionRefused(Envelope):
    """The ledger refused a deduction: nothing left, or the plan no longer in force."""

    event_type: Literal["coverage.deduction-refused"] = "coverage.deduction-refused"
    payload: DeductionRefusedPayload


class PlanExhaustedPayload(Payload):
    plan_id: uuid.UUID
    sn: SerialNumber
    term_no: int = Field(default=1, ge=1)
    reason_code: str | None = Field(
        default=None,
        description="Why it ended: BASE_QUOTA_REACHED for an AG plan whose base quota is spent",
    )


class PlanExhausted(Envelope):
    """The term used all its replacements, or (AG) its base quota reached zero: the plan ends
    until a renewal term starts (C9)."""

    event_type: Literal["coverage.plan-exhausted"] = "coverage.plan-exhausted"
    payload: PlanExhaustedPayload


class TermEndReason(StrEnum):
    """Why a term ended (C9)."""

    TERM_EXPIRED = "TERM_EXPIRED"  # its end date came
    RENEWAL_TOOK_OVER = "RENEWAL_TOOK_OVER"  # A4: an AG renewal bought before expiry ended it
    REPLACEMENTS_USED = "REPLACEMENTS_USED"  # a CR term used all its replacements
    BASE_QUOTA_REACHED = "BASE_QUOTA_REACHED"  # AG: repair costs reached the base quota

    @property
    def used_up(self) -> bool:
        """Nothing was left on the term: it ended before its time ran out."""
        return self in (TermEndReason.REPLACEMENTS_USED, TermEndReason.BASE_QUOTA_REACHED)


class TermEndedPayload(Payload):
    plan_id: uuid.UUID
    sn: SerialNumber
    term_no: int = Field(ge=1)
    ended_at: AwareDatetime = Field(
        description="When the term ended, which may be before the"
        " announcement (the ledger was down at the time)"
    )
    reason: TermEndReason
    continued_by_term_no: int | None = Field(
        default=None,
        ge=2,
        description="The plan's term in force from that moment; none: the plan has expired"
        " until a renewal adds a term",
    )


class TermEnded(Envelope):
    """C9: a term ended, announced once by the ledger: at its end date by the ledger's clock, at
    a renewal's takeover (A4), or at the deduction that used its last replacement or spent its
    base quota."""

    event_type: Literal["coverage.term-ended"] = "coverage.term-ended"
    payload: TermEndedPayload


class PlanTerminatedPayload(Payload):
    plan_id: uuid.UUID
    sn: SerialNumber
    case_id: str
    reason_codes: list[str] = Field(min_length=1)


class PlanTerminated(Envelope):
    """The plan was ended before its term, after a reviewer found fraud (C10)."""

    event_type: Literal["coverage.plan-terminated"] = "coverage.plan-terminated"
    payload: PlanTerminatedPayload


class PlanInheritedPayload(Payload):
    plan_id: uuid.UUID
    case_id: str
    old_sn: SerialNumber
    new_sn: SerialNumber
    term_end: AwareDatetime
    replacements_left: int = Field(ge=0)
    flyaways_left: int = Field(ge=0)


class PlanInherited(Envelope):
    """The replacement unit took over the plan; the old SN has none (F3)."""

    event_type: Literal["coverage.plan-inherited"] = "coverage.plan-inherited"
    payload: PlanInheritedPayload


class QuotaDeductionAppliedPayload(Payload):
    case_id: str
    plan_id: uuid.UUID
    sn: SerialNumber
    model: ModelCode
    term_no: int = Field(ge=1, description="The term whose quotas paid")
    plan_region: RegionCode
    customer_region: RegionCode
    split: RepairSplit = Field(
        description="What the ledger actually took, line by line, against the real balances"
    )
    base_quota_left: Money
    consumables_quota_left: Money


class QuotaDeductionApplied(Envelope):
    """AG C7: a covered repair was taken off the term's quotas (P5). The split's customer share
    is what the customer pays before the repair proceeds."""

    event_type: Literal["coverage.quota-deduction-applied"] = "coverage.quota-deduction-applied"
    payload: QuotaDeductionAppliedPayload


class TermConfirmedPayload(Payload):
    plan_id: uuid.UUID
    sn: SerialNumber
    term_no: int = Field(ge=1)
    policy_no: str
    insurer: str
    term_start: AwareDatetime
    term_end: AwareDatetime


class TermConfirmed(Envelope):
    """A5: the insurer's electronic policy set the term's exact dates."""

    event_type: Literal["coverage.term-confirmed"] = "coverage.term-confirmed"
    payload: TermConfirmedPayload


CoverageEvent = Annotated[
    CoverageOpened
    | CoverageExtended
    | DeductionApplied
    | DeductionRefused
    | PlanExhausted
    | PlanTerminated
    | PlanInherited
    | QuotaDeductionApplied
    | TermConfirmed
    | TermEnded,
    Field(discriminator="event_type"),
]
