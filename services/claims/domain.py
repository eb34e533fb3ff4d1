"""Adjudication of a consumer-plan assessment (C1-C6, X4): a pure function over plain values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from contracts.claims import ClaimOutcome
from contracts.upstream import CustomerChoice, IncidentCause, ServiceMode


class ClaimRefusal(StrEnum):
    NO_PLAN_FOR_SN = "NO_PLAN_FOR_SN"
    PLAN_TERMINATED = "PLAN_TERMINATED"
    SN_MISMATCH = "SN_MISMATCH"
    SN_UNREADABLE_OR_MISSING = "SN_UNREADABLE_OR_MISSING"
    PART_SN_MISMATCH = "PART_SN_MISMATCH"
    UNIT_NOT_RETURNED = "UNIT_NOT_RETURNED"
    INCIDENT_OUTSIDE_TERM = "INCIDENT_OUTSIDE_TERM"
    CLAIM_FILED_AFTER_TERM = "CLAIM_FILED_AFTER_TERM"
    NO_REPLACEMENTS_LEFT = "NO_REPLACEMENTS_LEFT"
    FLYAWAY_LIMIT_REACHED = "FLYAWAY_LIMIT_REACHED"
    FLYAWAY_NOT_ELIGIBLE = "FLYAWAY_NOT_ELIGIBLE"
    FLYAWAY_WITHOUT_FLIGHT_RECORD = "FLYAWAY_WITHOUT_FLIGHT_RECORD"
    FLYAWAY_APP_BINDING_MISSING = "FLYAWAY_APP_BINDING_MISSING"
    EXPRESS_NOT_FOR_FLYAWAY = "EXPRESS_NOT_FOR_FLYAWAY"
    EXCLUDED_LOSS = "EXCLUDED_LOSS"
    EXCLUDED_THEFT = "EXCLUDED_THEFT"
    EXCLUDED_UNSUITABLE_WEATHER = "EXCLUDED_UNSUITABLE_WEATHER"
    EXCLUDED_INTENTIONAL_DAMAGE = "EXCLUDED_INTENTIONAL_DAMAGE"
    EXCLUDED_COSMETIC_DAMAGE = "EXCLUDED_COSMETIC_DAMAGE"
    EXCLUDED_FORCE_MAJEURE = "EXCLUDED_FORCE_MAJEURE"
    EXCLUDED_UNAUTHORISED_MODIFICATION = "EXCLUDED_UNAUTHORISED_MODIFICATION"
    EXCLUDED_THIRD_PARTY_PARTS = "EXCLUDED_THIRD_PARTY_PARTS"


# C2: causes a replacement covers. C3: each exclusion has its own reason code.
COVERED_CAUSES = frozenset(
    {
        IncidentCause.OPERATOR_ERROR,
        IncidentCause.COLLISION,
        IncidentCause.FALL,
        IncidentCause.WATER_DAMAGE,
        IncidentCause.SIGNAL_INTERFERENCE,
    }
)
EXCLUSIONS = {
    IncidentCause.LOSS: ClaimRefusal.EXCLUDED_LOSS,
    IncidentCause.THEFT: ClaimRefusal.EXCLUDED_THEFT,
    IncidentCause.UNSUITABLE_WEATHER: ClaimRefusal.EXCLUDED_UNSUITABLE_WEATHER,
    IncidentCause.INTENTIONAL_DAMAGE: ClaimRefusal.EXCLUDED_INTENTIONAL_DAMAGE,
    IncidentCause.COSMETIC_DAMAGE: ClaimRefusal.EXCLUDED_COSMETIC_DAMAGE,
    IncidentCause.FORCE_MAJEURE: ClaimRefusal.EXCLUDED_FORCE_MAJEURE,
    IncidentCause.UNAUTHORISED_MODIFICATION: ClaimRefusal.EXCLUDED_UNAUTHORISED_MODIFICATION,
    IncidentCause.THIRD_PARTY_PARTS: ClaimRefusal.EXCLUDED_THIRD_PARTY_PARTS,
}


@dataclass(frozen=True)
class PartCheck:
    sn_present_and_readable: bool
    matches_body_record: bool


@dataclass(frozen=True)
class Assessment:
    reported_sn: str
    unit_sn: str | None
    cause: IncidentCause
    incident_at: datetime
    assessed_at: datetime
    flight_record_provided: bool
    account_bound_at: datetime | None = None
    remote_controller_bound_at: datetime | None = None
    parts: tuple[PartCheck, ...] = ()
    customer_choice: CustomerChoice = CustomerChoice.PLAN_REPLACEMENT
    service_mode: ServiceMode = ServiceMode.STANDARD


@dataclass(frozen=True)
class PlanView:
    """What claims knows of a plan, projected from coverage events (may lag the ledger)."""

    plan_id: str
    term_start: datetime
    term_end: datetime
    replacements_left: int
    flyaways_left: int
    replacements_used: int
    flyaway_eligible: bool
    terminated: bool = False


@dataclass(frozen=True)
class Decision:
    outcome: ClaimOutcome
    reasons: tuple[ClaimRefusal, ...]
    rules: tuple[str, ...]
    uses_replacement: bool = False
    flyaway: bool = False


def adjudicate(assessment: Assessment, plan: PlanView | None) -> Decision:
    """Decide one consumer-plan case. Every refusal reason found is reported, not only the first."""
    if plan is None:
        return Decision(ClaimOutcome.REFUSED, (ClaimRefusal.NO_PLAN_FOR_SN,), ("D4",))
    reasons: list[ClaimRefusal] = []
    rules: list[str] = []
    flyaway = assessment.cause is IncidentCause.FLYAWAY

    rules.append("C4")
    if flyaway:
        pass  # nothing comes back from a flyaway: the flight record stands in for the unit (C6)
    elif assessment.unit_sn is None:
        reasons.append(ClaimRefusal.UNIT_NOT_RETURNED)
    elif assessment.unit_sn != assessment.reported_sn:
        reasons.append(ClaimRefusal.SN_MISMATCH)
    if any(not part.sn_present_and_readable for part in assessment.parts):
        reasons.append(ClaimRefusal.SN_UNREADABLE_OR_MISSING)
    if any(not part.matches_body_record for part in assessment.parts):
        reasons.append(ClaimRefusal.PART_SN_MISMATCH)

    rules.append("C1")
    if plan.terminated:
        rules.append("C10")
        reasons.append(ClaimRefusal.PLAN_TERMINATED)
    if not plan.term_start <= assessment.incident_at < plan.term_end:
        reasons.append(ClaimRefusal.INCIDENT_OUTSIDE_TERM)
    if assessment.assessed_at >= plan.term_end:
        reasons.append(ClaimRefusal.CLAIM_FILED_AFTER_TERM)

    if assessment.cause is IncidentCause.MANUFACTURING_DEFECT:
        rules.append("X4")
        if reasons:
            return Decision(ClaimOutcome.REFUSED, tuple(reasons), tuple(rules))
        return Decision(ClaimOutcome.WARRANTY_REPAIR, (), tuple(rules))

    if assessment.cause in EXCLUSIONS:
        rules.append("C3")
        reasons.append(EXCLUSIONS[assessment.cause])
    elif flyaway:
        rules.append("C6")
        if assessment.service_mode is not ServiceMode.STANDARD:
            reasons.append(ClaimRefusal.EXPRESS_NOT_FOR_FLYAWAY)  # X2
        if not plan.flyaway_eligible:
            reasons.append(ClaimRefusal.FLYAWAY_NOT_ELIGIBLE)
        if not assessment.flight_record_provided:
            reasons.append(ClaimRefusal.FLYAWAY_WITHOUT_FLIGHT_RECORD)
        if plan.flyaways_left <= 0:
            reasons.append(ClaimRefusal.FLYAWAY_LIMIT_REACHED)
        if not _bound_before(assessment.account_bound_at, assessment.incident_at) or not (
            _bound_before(assessment.remote_controller_bound_at, assessment.incident_at)
        ):
            reasons.append(ClaimRefusal.FLYAWAY_APP_BINDING_MISSING)  # X2
    else:
        rules.append("C2")

    rules.append("C5")
    if plan.replacements_left <= 0:
        reasons.append(ClaimRefusal.NO_REPLACEMENTS_LEFT)
    if reasons:
        return Decision(ClaimOutcome.REFUSED, tuple(reasons), tuple(rules))
    if assessment.customer_choice is CustomerChoice.PAID_REPAIR:
        # C5: recorded as the customer's choice; the plan keeps its replacement.
        return Decision(ClaimOutcome.PAID_REPAIR_CHOSEN, (), tuple(rules), flyaway=flyaway)
    return Decision(
        ClaimOutcome.REPLACEMENT, (), tuple(rules), uses_replacement=True, flyaway=flyaway
    )


def _bound_before(bound_at: datetime | None, incident_at: datetime) -> bool:
    return bound_at is not None and bound_at < incident_at


FRAUD_FOUND = "FRAUD_FOUND"


class PreAuthorisationCapture(StrEnum):
    UNIT_NOT_RECEIVED_IN_TIME = "UNIT_NOT_RECEIVED_IN_TIME"
    SN_MISMATCH = "SN_MISMATCH"
    BATTERY_MISSING = "BATTERY_MISSING"


def check_express_unit(
    *, reported_sn: str, unit_sn: str | None, battery_present: bool
) -> tuple[PreAuthorisationCapture, ...]:
    """X3: the reasons to capture an express premium pre-authorisation in full; none: release."""
    reasons = []
    if unit_sn != reported_sn:
        reasons.append(PreAuthorisationCapture.SN_MISMATCH)
    if not battery_present:
        reasons.append(PreAuthorisationCapture.BATTERY_MISSING)
    return tuple(reasons)
