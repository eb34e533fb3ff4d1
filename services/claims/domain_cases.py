"""A case from its assessment to its end, for both plan families: decided (C1-C10, X2-X4, G4),
its express unit checked on arrival or late (X3), the ledger's answer recorded (C5, C7), its
base-quota part claimed from the insurer (C8) and followed, and a person's review (C10). Pure
functions over plain values: each step returns the case's new state and the events it emits."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from contracts.agricultural import PlanFamily
from contracts.claims import (
    ClaimDecidedPayload,
    ClaimOutcome,
    ClaimReversedPayload,
    LineCoverage,
    PreAuthorisationCaptureRequested,
    PreAuthorisationDecisionPayload,
    PreAuthorisationReleaseRequested,
    RepairSplit,
)
from contracts.coverage import (
    CoverageEvent,
    DeductionApplied,
    DeductionRefused,
    QuotaDeductionApplied,
)
from contracts.insurer import (
    InsurerClaimAnsweredPayload,
    InsurerClaimReportedPayload,
    InsurerClaimWithdrawnPayload,
)
from contracts.money import Money
from contracts.upstream import (
    AgriculturalActivity,
    AssessmentReported,
    AssessmentReportedPayload,
    ExpressReplacementRequested,
    ExpressReplacementRequestedPayload,
    ExpressUnitOverdue,
    ExpressUnitOverduePayload,
    IncidentCause,
    RepairEvent,
    ReviewConcludedPayload,
    ReviewVerdict,
    ServiceMode,
)
from services.claims.domain import (
    FRAUD_FOUND,
    Assessment,
    ClaimRefusal,
    Outgoing,
    PartCheck,
    PlanView,
    PreAuthorisationCapture,
    Rows,
    adjudicate,
    check_express_unit,
)
from services.claims.domain_agricultural import (
    AccessoryView,
    AgAssessment,
    adjudicate_agricultural,
    ag_plan_view,
    part_rules,
    quota_paid,
)
from services.claims.domain_insurers import (
    InsurerClaim,
    InsurerClaimState,
    UnknownClaimError,
    follow_answer,
    shanghai_date,
)
from services.claims.domain_plans import PlanTerm, TermKey, TermRecord, term_at
from shared.catalogue import consumer_catalogue
from shared.catalogue.agricultural import is_agricultural


class UnknownCaseError(LookupError):
    pass


class LedgerState(StrEnum):
    """What the ledger did with a case that takes from the plan (C5, C7)."""

    NONE = "none"
    PENDING = "pending"
    APPLIED = "applied"
    REFUSED = "refused"


class UnitState(StrEnum):
    """X3: an express premium case's damaged unit, shipped after its replacement."""

    NOT_APPLICABLE = "not_applicable"
    AWAITING_UNIT = "awaiting_unit"
    RECEIVED = "received"
    OVERDUE = "overdue"


class PreAuthorisation(StrEnum):
    CAPTURE_REQUESTED = "capture_requested"
    RELEASE_REQUESTED = "release_requested"


@dataclass(frozen=True)
class Case:
    """One case: what it is about, how it was decided and why, and what followed."""

    case_id: str
    reported_sn: str
    model: str
    plan_id: uuid.UUID | None
    cause: IncidentCause
    incident_at: datetime
    assessed_at: datetime
    outcome: ClaimOutcome
    reason_codes: tuple[str, ...]
    rules_applied: tuple[str, ...]
    assessment: str  # the message that opened the case, kept as evidence
    service_mode: ServiceMode
    family: PlanFamily = PlanFamily.CONSUMER
    uses_replacement: bool = False
    flyaway: bool = False
    fee: Money | None = None  # P2
    fee_schedule: str | None = None
    ledger_state: LedgerState = LedgerState.NONE
    ledger_reasons: tuple[str, ...] = ()
    unit_state: UnitState = UnitState.NOT_APPLICABLE
    pre_authorisation: PreAuthorisation | None = None
    pre_authorisation_reasons: tuple[str, ...] = ()
    review_verdict: ReviewVerdict | None = None
    reviewer_id: str | None = None
    customer_owes: Money | None = None
    activity: AgriculturalActivity | None = None
    term_no: int | None = None
    accessory_sn: str | None = None
    repair_split: RepairSplit | None = None  # C7: as claims quoted it
    ledger_split: RepairSplit | None = None  # C7: as the ledger took it
    customer_share: Money | None = None
    insurer_claim: InsurerClaim = field(default_factory=InsurerClaim)

    @property
    def key(self) -> str:
        return self.case_id


@dataclass(frozen=True)
class CaseDecided:
    """A step of a case: its new state, and the events the step emits."""

    case: Case
    outgoing: tuple[Outgoing, ...] = ()


@dataclass
class CaseFile:
    """What a batch of repair events is decided against: the cases of its case ids, the plans
    on its SNs with all their terms, and the accessories it names (G4)."""

    cases: Rows[str, Case]
    plans: Mapping[str, list[PlanTerm]]
    accessories: Mapping[str, AccessoryView]


def repair_event_sn(event: RepairEvent) -> str | None:
    """The SN whose plan a repair event is judged against; an overdue unit names none."""
    match event:
        case AssessmentReported(payload=report):
            return report.reported_sn
        case ExpressReplacementRequested(payload=request):
            return request.sn
    return None


def decide_repair_event(event: RepairEvent, file: CaseFile) -> CaseDecided | None:
    """One repair event against the case file; None when it changes nothing.

    An assessment opens and decides a case, or, for an express premium case decided before its
    unit came in, is the unit's arrival (X3); a case re-sent is decided once.
    """
    match event:
        case AssessmentReported(payload=report):
            case = file.cases.get(report.case_id)
            if case is not None:
                return receive_express_unit(case, report)
            found = term_at(file.plans.get(report.reported_sn, []), report.incident_at)
            accessory = file.accessories.get(report.accessory_sn) if report.accessory_sn else None
            return decide_assessment(report, found, accessory)
        case ExpressReplacementRequested(payload=request):
            if file.cases.get(request.case_id) is not None:
                return None
            found = term_at(file.plans.get(request.sn, []), request.incident_at)
            return decide_express_request(request, found)
        case ExpressUnitOverdue(payload=overdue):
            return settle_overdue_unit(file.cases.get(overdue.case_id), overdue)
    return None


def decide_assessment(
    report: AssessmentReportedPayload, found: PlanTerm | None, accessory: AccessoryView | None
) -> CaseDecided:
    """D2: the plan on the SN decides the family (the model, when there is no plan); then C1-C6,
    X4 for a consumer plan, C1-C4, C7-C9, G4 for an agricultural one."""
    agricultural = (
        found.plan.family is PlanFamily.AGRICULTURAL
        if found is not None
        else is_agricultural(report.model)
    )
    if agricultural:
        case = _agricultural_case(report, found, accessory)
    else:
        case = _consumer_case(
            CaseFacts.of_assessment(report),
            Assessment(
                reported_sn=report.reported_sn,
                unit_sn=report.unit_sn,
                cause=report.cause,
                incident_at=report.incident_at,
                assessed_at=report.assessed_at,
                flight_record_provided=report.flight_record_provided,
                account_bound_at=report.account_bound_at,
                remote_controller_bound_at=report.remote_controller_bound_at,
                parts=_part_checks(report),
                customer_choice=report.customer_choice,
                service_mode=report.service_mode,
            ),
            found,
        )
    return CaseDecided(case, (claim_decided(case, report.customer_region),))


def decide_express_request(
    request: ExpressReplacementRequestedPayload, found: PlanTerm | None
) -> CaseDecided:
    """X3, C5: express premium is decided before the unit is sent in; its SN and battery are
    checked when it arrives. X3 is a consumer-plan service: an AG drone is repaired after it
    comes in (C7)."""
    facts = CaseFacts(
        request.case_id,
        request.sn,
        request.model,
        ServiceMode.EXPRESS_PREMIUM,
        request.cause,
        request.incident_at,
        request.requested_at,
        request.model_dump_json(),
    )
    if is_agricultural(request.model):
        refusal = (ClaimRefusal.EXPRESS_NOT_FOR_AGRICULTURAL,)
        case = replace(
            facts.decided(found, ClaimOutcome.REFUSED, refusal, ("X3",)),
            family=PlanFamily.AGRICULTURAL,
        )
    else:
        assessment = Assessment(
            reported_sn=request.sn,
            unit_sn=request.sn,  # not here yet: checked on arrival
            cause=request.cause,
            incident_at=request.incident_at,
            assessed_at=request.requested_at,
            flight_record_provided=False,
            service_mode=ServiceMode.EXPRESS_PREMIUM,
        )
        case = _consumer_case(facts, assessment, found)
    return CaseDecided(case, (claim_decided(case, request.customer_region),))


@dataclass(frozen=True)
class CaseFacts:
    """What a case is about, beside the assessment the rules read."""

    case_id: str
    sn: str
    model: str
    service_mode: ServiceMode
    cause: IncidentCause
    incident_at: datetime
    assessed_at: datetime
    record: str  # the message that opened the case, kept as evidence

    @classmethod
    def of_assessment(cls, report: AssessmentReportedPayload) -> CaseFacts:
        return cls(
            report.case_id,
            report.reported_sn,
            report.model,
            report.service_mode,
            report.cause,
            report.incident_at,
            report.assessed_at,
            report.model_dump_json(),
        )

    def decided(
        self,
        found: PlanTerm | None,
        outcome: ClaimOutcome,
        reasons: Sequence[ClaimRefusal],
        rules: Sequence[str],
    ) -> Case:
        """The case opened by these facts, decided against `found`."""
        return Case(
            case_id=self.case_id,
            reported_sn=self.sn,
            model=self.model,
            plan_id=found.plan.plan_id if found else None,
            cause=self.cause,
            incident_at=self.incident_at,
            assessed_at=self.assessed_at,
            outcome=outcome,
            reason_codes=tuple(reason.value for reason in reasons),
            rules_applied=tuple(rules),
            assessment=self.record,
            service_mode=self.service_mode,
        )


def _part_checks(report: AssessmentReportedPayload) -> tuple[PartCheck, ...]:
    return tuple(
        PartCheck(
            sn_present_and_readable=part.sn is not None and part.sn_readable,
            matches_body_record=part.matches_body_record,
        )
        for part in report.parts
    )


def _consumer_case(facts: CaseFacts, assessment: Assessment, found: PlanTerm | None) -> Case:
    """C1-C6, X4; a replacement is priced by the fee schedule in force (P2), escalating with
    the replacements the term has used."""
    catalogue = consumer_catalogue()
    plan = (
        PlanView(
            plan_id=str(found.plan.plan_id),
            term_start=found.term.term_start,
            term_end=found.term.term_end,
            replacements_left=found.term.replacements_left,
            flyaways_left=found.term.flyaways_left,
            replacements_used=found.term.replacements_used,
            flyaway_eligible=catalogue.model(found.plan.model).flyaway_eligible,
            terminated=found.plan.terminated,
        )
        if found
        else None
    )
    decision = adjudicate(assessment, plan)
    fee, schedule = None, None
    if decision.uses_replacement and plan is not None:
        fee, schedule = catalogue.replacement_fee(
            facts.model,
            flyaway=decision.flyaway,
            replacements_used=plan.replacements_used,
            at=assessment.assessed_at,
        )
    premium_unit_pending = (
        decision.uses_replacement and facts.service_mode is ServiceMode.EXPRESS_PREMIUM
    )
    return replace(
        facts.decided(found, decision.outcome, decision.reasons, decision.rules),
        uses_replacement=decision.uses_replacement,
        flyaway=decision.flyaway,
        fee=fee,
        fee_schedule=schedule,
        ledger_state=LedgerState.PENDING if decision.uses_replacement else LedgerState.NONE,
        unit_state=UnitState.AWAITING_UNIT if premium_unit_pending else UnitState.NOT_APPLICABLE,
    )


def _agricultural_case(
    report: AssessmentReportedPayload, found: PlanTerm | None, accessory: AccessoryView | None
) -> Case:
    """C1-C4, C7-C9, G4: an AG case, its repair quoted line by line."""
    plan = ag_plan_view(found)
    decision = adjudicate_agricultural(
        AgAssessment(
            reported_sn=report.reported_sn,
            unit_sn=report.unit_sn,
            cause=report.cause,
            incident_at=report.incident_at,
            assessed_at=report.assessed_at,
            flight_record_provided=report.flight_record_provided,
            activity=report.activity,
            unit_complete=report.unit_complete,
            lines=tuple(report.repair_lines),
            parts=_part_checks(report),
            accessory_sn=report.accessory_sn,
            logistics_fee=report.logistics_fee,
            customer_choice=report.customer_choice,
            service_mode=report.service_mode,
        ),
        plan,
        part_rules(),
        accessory,
    )
    split = decision.split
    return replace(
        CaseFacts.of_assessment(report).decided(
            found, decision.outcome, decision.reasons, decision.rules
        ),
        family=PlanFamily.AGRICULTURAL,
        ledger_state=(
            LedgerState.PENDING if decision.outcome is ClaimOutcome.REPAIR else LedgerState.NONE
        ),
        activity=report.activity,
        term_no=plan.term_no if plan else None,
        accessory_sn=report.accessory_sn,
        repair_split=split,
        customer_share=split.customer_share if split else None,
    )


def claim_decided(case: Case, customer_region: str) -> Outgoing:
    """The decision of a case, for the ledger, fulfilment and the customer (both families)."""
    decided = ClaimDecidedPayload(
        case_id=case.case_id,
        sn=case.reported_sn,
        model=case.model,
        plan_id=case.plan_id,
        outcome=case.outcome,
        incident_at=case.incident_at,
        reason_codes=list(case.reason_codes),
        rules_applied=list(case.rules_applied),
        uses_replacement=case.uses_replacement,
        flyaway=case.flyaway,
        fee=case.fee,
        fee_schedule=case.fee_schedule,
        customer_region=customer_region,
        service_mode=case.service_mode,
        family=case.family,
        repair_split=case.repair_split,
        accessory_sn=case.accessory_sn,
    )
    return Outgoing(decided, case.reported_sn, case.case_id)


# X3: the express premium unit, on arrival or late ----------------------------------------------


def receive_express_unit(case: Case, report: AssessmentReportedPayload) -> CaseDecided | None:
    """X3: the unit of a case decided before it came in decides the pre-authorisation; any other
    case re-sent by the repair system stays as decided (one case, one decision)."""
    if case.unit_state is not UnitState.AWAITING_UNIT:
        return None
    reasons = check_express_unit(
        reported_sn=report.reported_sn,
        unit_sn=report.unit_sn,
        battery_present=report.battery_present,
    )
    return _settle_pre_authorisation(case, reasons, UnitState.RECEIVED)


def settle_overdue_unit(
    case: Case | None, overdue: ExpressUnitOverduePayload
) -> CaseDecided | None:
    """X3: no unit by the deadline: the pre-authorisation is captured in full."""
    if case is None:
        raise UnknownCaseError(f"no case {overdue.case_id} waits for a unit")
    if case.unit_state is not UnitState.AWAITING_UNIT:
        return None  # the unit arrived first: its arrival decided
    reasons = (PreAuthorisationCapture.UNIT_NOT_RECEIVED_IN_TIME,)
    return _settle_pre_authorisation(case, reasons, UnitState.OVERDUE)


def _settle_pre_authorisation(
    case: Case, reasons: tuple[PreAuthorisationCapture, ...], unit_state: UnitState
) -> CaseDecided:
    codes = tuple(reason.value for reason in reasons)
    settled = replace(
        case,
        unit_state=unit_state,
        pre_authorisation=(
            PreAuthorisation.CAPTURE_REQUESTED if codes else PreAuthorisation.RELEASE_REQUESTED
        ),
        pre_authorisation_reasons=codes,
    )
    request = Outgoing(
        PreAuthorisationDecisionPayload(case_id=case.case_id, reason_codes=list(codes)),
        case.reported_sn,
        case.case_id,
        PreAuthorisationCaptureRequested if codes else PreAuthorisationReleaseRequested,
    )
    return CaseDecided(settled, (request,))


# The ledger's answer, and the insurer's claim (C5, C7, C8) ---------------------------------------


def ledger_case_id(event: CoverageEvent) -> str | None:
    """The case a coverage event answers, if it answers one."""
    if isinstance(event, DeductionApplied | DeductionRefused | QuotaDeductionApplied):
        return event.payload.case_id
    return None


def record_ledger_answer(
    event: CoverageEvent, cases: Mapping[str, Case], terms: Mapping[TermKey, TermRecord]
) -> CaseDecided | None:
    """C5, C7: what the ledger did with a case; for an AG repair the ledger's split is the one
    that counts, and its base-quota part is claimed from the insurer of the term that paid
    (C8), as the read model knows that term once the event is projected. A case claims never
    opened changes nothing."""
    case_id = ledger_case_id(event)
    case = None if case_id is None else cases.get(case_id)
    if case is None:
        return None
    match event:
        case DeductionApplied():
            return CaseDecided(replace(case, ledger_state=LedgerState.APPLIED))
        case DeductionRefused(payload=refusal):
            return CaseDecided(
                replace(
                    case,
                    ledger_state=LedgerState.REFUSED,
                    ledger_reasons=tuple(refusal.reason_codes),
                )
            )
        case QuotaDeductionApplied(payload=applied):
            recorded = replace(
                case,
                ledger_state=LedgerState.APPLIED,
                ledger_split=applied.split,
                customer_share=applied.split.customer_share,
                term_no=applied.term_no,
            )
            return claim_from_insurer(recorded, terms.get((applied.plan_id, applied.term_no)))
    return None


def claim_from_insurer(case: Case, term: TermRecord | None) -> CaseDecided:
    """C8: the base-quota part of the repair the ledger took is claimed, once, from the insurer
    that underwrote the term, as a repair service (never cash); a case reversed as fraud before
    the ledger answered (C10) claims nothing."""
    split = case.ledger_split
    if (
        split is None
        or split.from_base_quota.amount == 0
        or case.insurer_claim.state is not InsurerClaimState.NONE
        or case.review_verdict is ReviewVerdict.FRAUD
    ):
        return CaseDecided(case)
    if term is None or term.insurer is None or term.quotas is None or case.plan_id is None:
        raise ValueError(f"case {case.case_id}: no insurer known for its plan's term")
    claim = InsurerClaimReportedPayload(
        case_id=case.case_id,
        plan_id=case.plan_id,
        term_no=term.term_no,  # the ledger's: the term that actually paid
        insurer=term.insurer,
        policy_no=term.policy_no,
        sn=case.reported_sn,
        model=case.model,
        plan_year=term.quotas.plan_year,
        cause=case.cause,
        activity=case.activity,
        incident_at=case.incident_at,
        incident_date=shanghai_date(case.incident_at),
        base_quota_amount=split.from_base_quota,
        deductible=split.deductible,
        lines=[line for line in split.lines if line.coverage is LineCoverage.BASE_QUOTA],
    )
    reported = replace(
        case,
        insurer_claim=replace(
            case.insurer_claim,
            insurer=term.insurer,
            state=InsurerClaimState.REPORTED,
            amount=split.from_base_quota,
        ),
    )
    return CaseDecided(reported, (Outgoing(claim, case.case_id, case.case_id),))


def answer_insurer_claim(
    case: Case | None, answer: InsurerClaimAnsweredPayload
) -> CaseDecided | None:
    """C8, L4: the insurer's answer moves the case's claim forward, or changes nothing."""
    if case is None:
        raise UnknownClaimError(f"no case {answer.case_id} for the insurer's answer")
    answered = follow_answer(
        case.insurer_claim,
        f"case {answer.case_id}",
        insurer=answer.insurer,
        answer=answer.answer,
        paid=answer.amount,
        reason=answer.reason,
        at=answer.answered_at,
    )
    return None if answered is None else CaseDecided(replace(case, insurer_claim=answered))


# C10: a person's review ----------------------------------------------------------------------


def review_case(case: Case | None, review: ReviewConcludedPayload) -> CaseDecided | None:
    """C10: a reviewer upholds a decision, or finds fraud and reverses the case: the customer
    owes the repair cost (AG: without a figure from the reviewer, what the quotas paid), the plan
    ends, and an AG case's claim on the insurer is withdrawn. A case is reviewed once."""
    if case is None:
        raise UnknownCaseError(f"no case {review.case_id} to review")
    if case.review_verdict is not None:
        return None
    fraud = review.verdict is ReviewVerdict.FRAUD
    owes = review.repair_cost if fraud else None
    split = case.ledger_split or case.repair_split
    if owes is None and fraud and split is not None:
        owes = quota_paid(split)
    if fraud and (owes is None or case.plan_id is None):
        raise ValueError(
            f"a fraud verdict on case {review.case_id} needs a repair cost and a plan to end"
        )
    reviewed = replace(
        case, review_verdict=review.verdict, reviewer_id=review.reviewer_id, customer_owes=owes
    )
    if owes is None or case.plan_id is None:
        return CaseDecided(reviewed)
    reversal = ClaimReversedPayload(
        case_id=case.case_id,
        plan_id=case.plan_id,
        sn=case.reported_sn,
        reviewer_id=review.reviewer_id,
        reason_codes=[FRAUD_FOUND],
        customer_owes=owes,
    )
    reversed_ = CaseDecided(reviewed, (Outgoing(reversal, case.reported_sn, case.case_id),))
    if case.family is PlanFamily.AGRICULTURAL:
        return withdraw_insurer_claim(reversed_)
    return reversed_


def withdraw_insurer_claim(reversed_: CaseDecided) -> CaseDecided:
    """C10: a reversed case's claim on the insurer is withdrawn, unless the insurer answered."""
    case = reversed_.case
    claim = case.insurer_claim
    if claim.state not in (InsurerClaimState.REPORTED, InsurerClaimState.ACCEPTED):
        return reversed_
    withdrawal = InsurerClaimWithdrawnPayload(
        case_id=case.case_id, insurer=claim.insurer, reason_codes=[FRAUD_FOUND]
    )
    withdrawn = replace(case, insurer_claim=replace(claim, state=InsurerClaimState.WITHDRAWN))
    return CaseDecided(
        withdrawn, (*reversed_.outgoing, Outgoing(withdrawal, case.case_id, case.case_id))
    )
