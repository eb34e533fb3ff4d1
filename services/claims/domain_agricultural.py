"""The agricultural plan's rules (C1-C4, C7, C9, C10 AG, G4): a covered repair priced line by
line against the term's quotas, and the accessories a drone's plan covers; pure functions over
plain values and the AG catalogue."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from contracts.activation import AccessoryAssociated, AccessoryReleased, ActivationEvent
from contracts.agricultural import PlanFamily
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
from services.claims.domain import (
    EXCLUSIONS,
    ClaimRefusal,
    PartCheck,
    part_refusals,
    term_refusals,
)
from services.claims.domain_plans import PlanTerm
from shared.catalogue.agricultural import agricultural_catalogue

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
    reasons += part_refusals(assessment.parts)
    if assessment.unit_sn is not None and not assessment.unit_complete:
        reasons.append(ClaimRefusal.EXCLUDED_UNIT_NOT_COMPLETE)  # C3 AG

    term_rules, term_reasons = term_refusals(plan, assessment.incident_at, assessment.assessed_at)
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


def part_rules() -> PartRules:
    """C7: the consumables list and the part classes never covered, from the AG catalogue."""
    catalogue = agricultural_catalogue()
    return PartRules(
        consumables_parts=catalogue.consumables_parts,
        uncovered_part_classes=catalogue.uncovered_part_classes,
    )


def ag_plan_view(found: PlanTerm | None) -> AgPlanView | None:
    """The AG term a case is judged against, or None when the SN has no AG plan (D4)."""
    if found is None or found.plan.family is not PlanFamily.AGRICULTURAL:
        return None
    plan, term = found.plan, found.term
    if term.quotas is None:
        raise ValueError(f"AG plan {plan.plan_id} term {term.term_no} has no quotas")
    model = agricultural_catalogue().models.get(plan.model)
    return AgPlanView(
        plan_id=str(plan.plan_id),
        term_no=term.term_no,
        term_start=term.term_start,
        term_end=term.term_end,
        plan_year=term.quotas.plan_year,
        base_quota_left=term.quotas.base_quota_left,
        consumables_quota_left=term.quotas.consumables_quota_left,
        deductible_rate=term.quotas.deductible_rate,
        supports_lifting=model is not None and "lifting" in model.accessories,
        exhausted=term.exhausted,
        terminated=plan.terminated,
    )


# G4 ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccessoryRecord:
    """G4: the drone an accessory is associated with, as activation decided it (G1-G3)."""

    accessory_sn: str
    accessory_type: str
    drone_sn: str
    released: bool
    associated_at: datetime | None = None
    released_at: datetime | None = None

    @property
    def key(self) -> str:
        return self.accessory_sn

    def view(self) -> AccessoryView:
        return AccessoryView(self.drone_sn, self.released)


def follow_accessory_event(
    event: ActivationEvent, accessories: Mapping[str, AccessoryRecord]
) -> tuple[AccessoryRecord, ...]:
    """G1-G4: the accessories an activation event moves, in their new state.

    A released accessory stays released whatever arrives later: it can never be covered again
    (G3). A later association (an association that followed the plan to a replacement unit, F3)
    moves the accessory to its drone; an older one arriving late changes nothing.
    """
    match event:
        case AccessoryAssociated(payload=associated):
            current = accessories.get(associated.accessory_sn)
            moved: tuple[AccessoryRecord, ...] = ()
            if current is None:
                moved = (
                    AccessoryRecord(
                        associated.accessory_sn,
                        associated.accessory_type.value,
                        associated.drone_sn,
                        released=False,
                        associated_at=associated.associated_at,
                    ),
                )
            elif (
                not current.released
                and current.associated_at is not None
                and current.associated_at <= associated.associated_at
            ):
                moved = (
                    replace(
                        current,
                        drone_sn=associated.drone_sn,
                        associated_at=associated.associated_at,
                    ),
                )
            if associated.replaced_accessory_sn is None:
                return moved
            return *moved, _released(
                accessories.get(associated.replaced_accessory_sn),
                associated.replaced_accessory_sn,
                associated.accessory_type.value,
                associated.drone_sn,
                associated.associated_at,
            )
        case AccessoryReleased(payload=released):
            return (
                _released(
                    accessories.get(released.accessory_sn),
                    released.accessory_sn,
                    released.accessory_type.value,
                    released.drone_sn,
                    released.released_at,
                ),
            )
    return ()


def _released(
    current: AccessoryRecord | None,
    accessory_sn: str,
    accessory_type: str,
    drone_sn: str,
    at: datetime,
) -> AccessoryRecord:
    """G3: released once, at the first release known."""
    if current is None:
        return AccessoryRecord(
            accessory_sn, accessory_type, drone_sn, released=True, released_at=at
        )
    return replace(current, released=True, released_at=current.released_at or at)
