"""Adjudication of an assessment: consumer plans (C1-C6, X4) and agricultural plans (C1-C4,
C7-C9, G4); pure functions over plain values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from contracts.claims import ClaimOutcome, LineCoverage, RepairSplit
from contracts.money import Money
from contracts.repair_pricing import ClassifiedLine, price_repair
from contracts.upstream import (
    AgriculturalActivity,
    CustomerChoice,
    IncidentCause,
    PartClass,
    RepairLine,
    ServiceMode,
)


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
    EXCLUDED_NATURAL_WEAR = "EXCLUDED_NATURAL_WEAR"
    EXCLUDED_NON_MANUFACTURER_PAYLOAD = "EXCLUDED_NON_MANUFACTURER_PAYLOAD"
    # The agricultural plan (C2, C3 AG, C7, C9, G4).
    EXCLUDED_CAUSE_NOT_COVERED = "EXCLUDED_CAUSE_NOT_COVERED"
    EXCLUDED_NO_FLIGHT_DATA = "EXCLUDED_NO_FLIGHT_DATA"
    EXCLUDED_NON_AGRICULTURAL_USE = "EXCLUDED_NON_AGRICULTURAL_USE"
    EXCLUDED_LIFTING_NOT_SUPPORTED = "EXCLUDED_LIFTING_NOT_SUPPORTED"
    ACTIVITY_NOT_REPORTED = "ACTIVITY_NOT_REPORTED"
    EXCLUDED_UNIT_NOT_COMPLETE = "EXCLUDED_UNIT_NOT_COMPLETE"
    BASE_QUOTA_EXHAUSTED = "BASE_QUOTA_EXHAUSTED"
    NO_REPAIR_LINES = "NO_REPAIR_LINES"
    REPAIR_CURRENCY_MISMATCH = "REPAIR_CURRENCY_MISMATCH"
    EXPRESS_NOT_FOR_AGRICULTURAL = "EXPRESS_NOT_FOR_AGRICULTURAL"
    ACCESSORY_NOT_ASSOCIATED = "ACCESSORY_NOT_ASSOCIATED"
    ACCESSORY_RELEASED = "ACCESSORY_RELEASED"
    ACCESSORY_ASSOCIATED_WITH_OTHER_DRONE = "ACCESSORY_ASSOCIATED_WITH_OTHER_DRONE"


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
    IncidentCause.NATURAL_WEAR: ClaimRefusal.EXCLUDED_NATURAL_WEAR,
    IncidentCause.NON_MANUFACTURER_PAYLOAD: ClaimRefusal.EXCLUDED_NON_MANUFACTURER_PAYLOAD,
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


def _part_refusals(parts: Sequence[PartCheck]) -> list[ClaimRefusal]:
    """C4: every part's SN present, readable and matching the body's record."""
    reasons: list[ClaimRefusal] = []
    if any(not part.sn_present_and_readable for part in parts):
        reasons.append(ClaimRefusal.SN_UNREADABLE_OR_MISSING)
    if any(not part.matches_body_record for part in parts):
        reasons.append(ClaimRefusal.PART_SN_MISMATCH)
    return reasons


def _term_refusals(
    plan: PlanView | AgPlanView, incident_at: datetime, assessed_at: datetime
) -> tuple[list[str], list[ClaimRefusal]]:
    """C1 (the incident within the term, the claim filed before its end) and C10 (a plan
    terminated on review covers nothing): the rules applied and the refusals found."""
    rules = ["C1"]
    reasons: list[ClaimRefusal] = []
    if plan.terminated:
        rules.append("C10")
        reasons.append(ClaimRefusal.PLAN_TERMINATED)
    if not plan.term_start <= incident_at < plan.term_end:
        reasons.append(ClaimRefusal.INCIDENT_OUTSIDE_TERM)
    if assessed_at >= plan.term_end:
        reasons.append(ClaimRefusal.CLAIM_FILED_AFTER_TERM)
    return rules, reasons


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
    reasons += _part_refusals(assessment.parts)

    term_rules, term_reasons = _term_refusals(plan, assessment.incident_at, assessment.assessed_at)
    rules += term_rules
    reasons += term_reasons

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


# ---------------------------------------------------------------------------------------------
# The agricultural plan (AG): a covered repair priced line by line (C7).

# C2 AG: a fall or a collision from an unintentional mistake or accident. Signal interference is
# an accident that brought the drone down; water damage alone is not a fall or a collision.
AG_COVERED_CAUSES = frozenset(
    {
        IncidentCause.OPERATOR_ERROR,
        IncidentCause.COLLISION,
        IncidentCause.FALL,
        IncidentCause.SIGNAL_INTERFERENCE,
    }
)
# C3 AG: the consumer exclusions, and a drone lost in flight cannot be returned: a loss.
AG_EXCLUSIONS = {**EXCLUSIONS, IncidentCause.FLYAWAY: ClaimRefusal.EXCLUDED_LOSS}
AG_COVERED_ACTIVITIES = frozenset({AgriculturalActivity.SPRAYING, AgriculturalActivity.SPREADING})


class LineRefusal(StrEnum):
    """Why one repair line is not covered; the rest of the case can still be."""

    PART_CLASS_NOT_COVERED = "PART_CLASS_NOT_COVERED"  # C7: battery, controller, charger...
    NON_GENUINE_PART = "NON_GENUINE_PART"  # C7
    PART_NOT_BOUND_TO_BODY = "PART_NOT_BOUND_TO_BODY"  # C4 AG


@dataclass(frozen=True)
class PartRules:
    """From the AG catalogue: the consumables list and the part classes never covered (C7)."""

    consumables_parts: frozenset[str]
    uncovered_part_classes: frozenset[str]


@dataclass(frozen=True)
class AgPlanView:
    """What claims knows of an AG term, projected from coverage events (may lag the ledger)."""

    plan_id: str
    term_no: int
    term_start: datetime
    term_end: datetime
    plan_year: int
    base_quota_left: Money
    consumables_quota_left: Money
    deductible_rate: Decimal
    supports_lifting: bool
    exhausted: bool = False
    terminated: bool = False


@dataclass(frozen=True)
class AccessoryView:
    """G4: the drone an accessory is (or was last) associated with."""

    drone_sn: str
    released: bool = False


@dataclass(frozen=True)
class AgAssessment:
    reported_sn: str
    unit_sn: str | None
    cause: IncidentCause
    incident_at: datetime
    assessed_at: datetime
    flight_record_provided: bool
    activity: AgriculturalActivity | None
    unit_complete: bool
    lines: tuple[RepairLine, ...]
    parts: tuple[PartCheck, ...] = ()
    accessory_sn: str | None = None
    logistics_fee: Money | None = None
    customer_choice: CustomerChoice = CustomerChoice.PLAN_REPLACEMENT
    service_mode: ServiceMode = ServiceMode.STANDARD


@dataclass(frozen=True)
class AgDecision:
    outcome: ClaimOutcome
    reasons: tuple[ClaimRefusal, ...]
    rules: tuple[str, ...]
    split: RepairSplit | None = None


def classify_line(
    line: RepairLine, rules: PartRules
) -> tuple[LineCoverage, tuple[LineRefusal, ...]]:
    """C4, C7: which balance pays a line: body parts the base quota, consumables-list parts the
    consumables quota; other classes, non-genuine parts and parts not bound to the body SN are
    not covered. Every reason found is kept."""
    reasons: list[LineRefusal] = []
    if line.part_class is not PartClass.BODY or line.part_class.value in (
        rules.uncovered_part_classes
    ):
        reasons.append(LineRefusal.PART_CLASS_NOT_COVERED)
    if not line.genuine:
        reasons.append(LineRefusal.NON_GENUINE_PART)
    if not line.bound_to_body:
        reasons.append(LineRefusal.PART_NOT_BOUND_TO_BODY)
    if reasons:
        return LineCoverage.NOT_COVERED, tuple(reasons)
    if line.part_code in rules.consumables_parts:
        return LineCoverage.CONSUMABLES_QUOTA, ()
    return LineCoverage.BASE_QUOTA, ()


def quote_repair(
    lines: Sequence[RepairLine],
    rules: PartRules,
    *,
    base_quota_left: Money,
    consumables_quota_left: Money,
    deductible_rate: Decimal,
    logistics_fee: Money | None,
) -> RepairSplit:
    """C7, P5: classify every line (C4, C7), then price the case against the plan as claims
    sees it, with the ledger's own pricing."""
    classified = []
    for line in lines:
        coverage, refusals = classify_line(line, rules)
        classified.append(
            ClassifiedLine(
                line_id=line.line_id,
                part_code=line.part_code,
                part_class=line.part_class,
                coverage=coverage,
                cost=line.cost,
                reason_codes=tuple(refusal.value for refusal in refusals),
            )
        )
    return price_repair(
        classified,
        deductible_rate=deductible_rate,
        base_quota_left=base_quota_left,
        consumables_quota_left=consumables_quota_left,
        logistics_fee=logistics_fee,
    )


def check_accessory(
    accessory_sn: str | None, accessory: AccessoryView | None, drone_sn: str
) -> tuple[ClaimRefusal, ...]:
    """G4: an accessory is covered by the plan of the drone it is associated with, only."""
    if accessory_sn is None:
        return ()
    if accessory is None:
        return (ClaimRefusal.ACCESSORY_NOT_ASSOCIATED,)
    if accessory.released:
        return (ClaimRefusal.ACCESSORY_RELEASED,)
    if accessory.drone_sn != drone_sn:
        return (ClaimRefusal.ACCESSORY_ASSOCIATED_WITH_OTHER_DRONE,)
    return ()


def adjudicate_agricultural(
    assessment: AgAssessment,
    plan: AgPlanView | None,
    rules: PartRules,
    accessory: AccessoryView | None = None,
) -> AgDecision:
    """Decide one AG case; every refusal reason found is reported, not only the first."""
    if plan is None:
        return AgDecision(ClaimOutcome.REFUSED, (ClaimRefusal.NO_PLAN_FOR_SN,), ("D4",))
    reasons: list[ClaimRefusal] = []
    rules_applied: list[str] = ["C4"]
    if assessment.unit_sn is None:
        reasons.append(ClaimRefusal.UNIT_NOT_RETURNED)
    elif assessment.unit_sn != assessment.reported_sn:
        reasons.append(ClaimRefusal.SN_MISMATCH)
    reasons += _part_refusals(assessment.parts)
    if assessment.unit_sn is not None and not assessment.unit_complete:
        reasons.append(ClaimRefusal.EXCLUDED_UNIT_NOT_COMPLETE)  # C3 AG

    term_rules, term_reasons = _term_refusals(plan, assessment.incident_at, assessment.assessed_at)
    rules_applied += term_rules
    reasons += term_reasons

    if assessment.cause is IncidentCause.MANUFACTURING_DEFECT:
        rules_applied.append("X4")  # the ordinary warranty repairs it; no quota is used
        if reasons:
            return AgDecision(ClaimOutcome.REFUSED, tuple(reasons), tuple(rules_applied))
        return AgDecision(ClaimOutcome.WARRANTY_REPAIR, (), tuple(rules_applied))

    if assessment.cause in AG_EXCLUSIONS:
        rules_applied.append("C3")
        reasons.append(AG_EXCLUSIONS[assessment.cause])
    elif assessment.cause not in AG_COVERED_CAUSES:
        rules_applied.append("C2")
        reasons.append(ClaimRefusal.EXCLUDED_CAUSE_NOT_COVERED)
    else:
        rules_applied.append("C2")
    activity = assessment.activity
    if activity is None:
        reasons.append(ClaimRefusal.ACTIVITY_NOT_REPORTED)
    elif activity is AgriculturalActivity.LIFTING:
        if not plan.supports_lifting:
            reasons.append(ClaimRefusal.EXCLUDED_LIFTING_NOT_SUPPORTED)
    elif activity not in AG_COVERED_ACTIVITIES:
        reasons.append(ClaimRefusal.EXCLUDED_NON_AGRICULTURAL_USE)
    if not assessment.flight_record_provided:
        reasons.append(ClaimRefusal.EXCLUDED_NO_FLIGHT_DATA)
    if assessment.service_mode is not ServiceMode.STANDARD:
        reasons.append(ClaimRefusal.EXPRESS_NOT_FOR_AGRICULTURAL)
    if assessment.accessory_sn is not None:
        rules_applied.append("G4")
        reasons.extend(check_accessory(assessment.accessory_sn, accessory, assessment.reported_sn))

    rules_applied.extend(("C7", "P5"))
    if plan.exhausted or plan.base_quota_left.amount <= 0:
        rules_applied.append("C9")
        reasons.append(ClaimRefusal.BASE_QUOTA_EXHAUSTED)
    if not assessment.lines:
        reasons.append(ClaimRefusal.NO_REPAIR_LINES)
    currencies = {line.material.currency for line in assessment.lines}
    if assessment.logistics_fee is not None:
        currencies.add(assessment.logistics_fee.currency)
    if currencies - {plan.base_quota_left.currency}:
        reasons.append(ClaimRefusal.REPAIR_CURRENCY_MISMATCH)  # M1: quotas never mix currencies
    if reasons:
        return AgDecision(ClaimOutcome.REFUSED, tuple(reasons), tuple(rules_applied))
    if assessment.customer_choice is CustomerChoice.PAID_REPAIR:
        return AgDecision(ClaimOutcome.PAID_REPAIR_CHOSEN, (), tuple(rules_applied))
    split = quote_repair(
        assessment.lines,
        rules,
        base_quota_left=plan.base_quota_left,
        consumables_quota_left=plan.consumables_quota_left,
        deductible_rate=plan.deductible_rate,
        logistics_fee=assessment.logistics_fee,
    )
    return AgDecision(ClaimOutcome.REPAIR, (), tuple(rules_applied), split)


def quota_paid(split: RepairSplit) -> Money:
    """C10 AG: what the plan's quotas paid for a repair; what a fraudulent customer owes back."""
    return split.from_base_quota + split.from_consumables_quota
