"""A case from its assessment to its end, for both plan families: decided (C1-C10, X2-X4, G4)
against what its plan has left once the approvals still before the ledger are reserved, its
express unit checked on arrival or late (X3), the ledger's answer recorded (C5, C7) and the
case's final outcome published once, its base-quota part claimed from the insurer (C8) and
followed, a person's review (C10), and a case sent again answered again. Pure functions over
plain values: each step returns the case's new state and the events it emits."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from contracts.agricultural import PlanFamily
from contracts.claims import (
    CASE_ALREADY_DECIDED,
    ClaimDecided,
    ClaimDecidedPayload,
    ClaimDecisionRepublishedPayload,
    ClaimFinalised,
    ClaimFinalisedPayload,
    ClaimOutcome,
    ClaimReversedPayload,
    LineCoverage,
    PreAuthorisationCaptureRequested,
    PreAuthorisationDecisionPayload,
    PreAuthorisationReleaseRequested,
    RefusedBy,
    RepairSplit,
    ResubmissionRefusedPayload,
)
from contracts.coverage import (
    CoverageEvent,
    DeductionApplied,
    DeductionRefused,
    QuotaDeductionApplied,
)
from contracts.envelope import Envelope
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
from services.claims.domain_plans import (
    PlanRecord,
    PlanTerm,
    Reserved,
    TermKey,
    TermRecord,
    available,
    ended_by_reversal,
    term_at,
)
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
    customer_region: str
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
    decision_id: uuid.UUID | None = None  # the event id of its ClaimDecided
    final_id: uuid.UUID | None = None  # the event id of its ClaimFinalised
    unit_report: str | None = None  # X3: the express unit's arrival, as the repair system sent it

    @property
    def key(self) -> str:
        return self.case_id

    @property
    def reservation(self) -> tuple[TermKey, Reserved] | None:
        """C5-C7: what an approval holds on its term until the ledger answers it; a case
        reversed for fraud (C10) holds nothing, as its plan ends."""
        if (
            self.ledger_state is not LedgerState.PENDING
            or self.review_verdict is ReviewVerdict.FRAUD
            or self.plan_id is None
            or self.term_no is None
        ):
            return None
        split = self.repair_split
        return (self.plan_id, self.term_no), Reserved(
            replacements=int(self.uses_replacement),
            flyaways=int(self.uses_replacement and self.flyaway),
            base_quota=split.from_base_quota.amount if split else Decimal(0),
            consumables_quota=split.from_consumables_quota.amount if split else Decimal(0),
        )


@dataclass(frozen=True)
class CaseDecided:
    """A step of a case: its new state, and the events the step emits."""

    case: Case
    outgoing: tuple[Outgoing, ...] = ()


@dataclass
class CaseFile:
    """What a batch of repair events is decided against: the cases of its case ids, the plans
    on its SNs with all their terms, the accessories it names (G4), and what the approvals the
    ledger has not answered yet reserve on those plans' terms."""

    cases: Rows[str, Case]
    plans: Mapping[str, list[PlanTerm]]
    accessories: Mapping[str, AccessoryView]
    reserved: dict[TermKey, Reserved] = field(default_factory=dict)

    def judged_against(self, sn: str, at: datetime) -> PlanTerm | None:
        """The term of the SN's plan in force at `at`, less what is reserved on it."""
        found = term_at(self.plans.get(sn, []), at)
        if found is None:
            return None
        return available(found, self.reserved.get(found.term.key, Reserved()))

    def record(self, case: Case) -> None:
        """The case as a step left it, and its reservation in place of the one it had."""
        before = self.cases.get(case.case_id)
        self.cases.put(case)
        if before is not None and before.reservation is not None:
            key, amounts = before.reservation
            self.reserved[key] = self.reserved.get(key, Reserved()) - amounts
        if case.reservation is not None:
            key, amounts = case.reservation
            self.reserved[key] = self.reserved.get(key, Reserved()) + amounts


class Missing(StrEnum):
    """What a repair event may have been read before, which it would be refused for."""

    # No plan on its SN in claims' view (NO_PLAN_FOR_SN, D4), or none with a term as late as the
    # incident, which a renewal not read yet may bring (INCIDENT_OUTSIDE_TERM, C1, A3).
    PLAN = "plan"
    ACCESSORY = "accessory"  # an AG claim on an accessory never seen associated (G4)


def _plan_missing(terms: list[PlanTerm], incident_at: datetime, filed_at: datetime) -> bool:
    """No plan, only terms that ended before the incident (`term_at` gives the latest), or a
    claim filed after every term in view ended: the renewal may not have been read yet (A3)."""
    found = term_at(terms, incident_at)
    return (
        found is None
        or incident_at >= found.term.term_end
        or filed_at >= max(known.term.term_end for known in terms)
    )


def missing_for(event: RepairEvent, file: CaseFile) -> tuple[Missing, str] | None:
    """What a new case would be refused for only because claims has not read it yet, and the
    SN it is missing for; None when the case can be decided now. A case already open never
    waits: it is answered from what it was decided on."""
    match event:
        case AssessmentReported(payload=report) if report.case_id not in file.cases.now:
            terms = file.plans.get(report.reported_sn, [])
            if _plan_missing(terms, report.incident_at, report.assessed_at):
                return Missing.PLAN, report.reported_sn
            found = term_at(terms, report.incident_at)
            if (
                found is not None
                and report.accessory_sn is not None
                and found.plan.family is PlanFamily.AGRICULTURAL
                and report.accessory_sn not in file.accessories
            ):
                return Missing.ACCESSORY, report.accessory_sn
        case ExpressReplacementRequested(payload=request) if request.case_id not in file.cases.now:
            if _plan_missing(
                file.plans.get(request.sn, []), request.incident_at, request.requested_at
            ):
                return Missing.PLAN, request.sn
    return None


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
    unit came in, is the unit's arrival (X3). A case is decided once: sent again it is answered
    again (`answer_again`).
    """
    match event:
        case AssessmentReported(payload=report):
            case = file.cases.get(report.case_id)
            if case is not None and case.unit_state is UnitState.AWAITING_UNIT:
                return receive_express_unit(case, report)
            if case is not None:
                return answer_again(case, report, case.unit_report or case.assessment)
            found = file.judged_against(report.reported_sn, report.incident_at)
            accessory = file.accessories.get(report.accessory_sn) if report.accessory_sn else None
            return decide_assessment(report, found, accessory)
        case ExpressReplacementRequested(payload=request):
            case = file.cases.get(request.case_id)
            if case is not None:
                return answer_again(case, request, case.assessment)
            found = file.judged_against(request.sn, request.incident_at)
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
    return CaseDecided(case, (claim_decided(case),))


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
        request.customer_region,
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
    return CaseDecided(case, (claim_decided(case),))


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
    customer_region: str

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
            report.customer_region,
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
            customer_region=self.customer_region,
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
        term_no=found.term.term_no if found else None,
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


def claim_decided(case: Case) -> Outgoing:
    """The decision of a case, for the ledger, fulfilment and the customer (both families)."""
    return Outgoing(decision_of(case), case.reported_sn, case.case_id)


def decision_of(case: Case) -> ClaimDecidedPayload:
    return ClaimDecidedPayload(
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
        customer_region=case.customer_region,
        service_mode=case.service_mode,
        family=case.family,
        repair_split=case.repair_split,
        accessory_sn=case.accessory_sn,
    )


# One final answer per case ---------------------------------------------------------------------


def final_outcome_of(case: Case) -> ClaimFinalisedPayload | None:
    """The case's fate, once it has one: what claims decided, at once for a case that takes
    nothing from the plan; for one that does, what the ledger made of it (C5, C7, C9). A review
    later (C10) is a fact of its own (ClaimReversed), whenever it comes."""
    if case.decision_id is None or case.ledger_state is LedgerState.PENDING:
        return None
    by_ledger = case.ledger_state is LedgerState.REFUSED
    refused = by_ledger or case.outcome is ClaimOutcome.REFUSED
    approved = not refused
    return ClaimFinalisedPayload(
        case_id=case.case_id,
        decision_id=case.decision_id,
        sn=case.reported_sn,
        model=case.model,
        plan_id=case.plan_id,
        family=case.family,
        outcome=ClaimOutcome.REFUSED if by_ledger else case.outcome,
        refused_by=(RefusedBy.LEDGER if by_ledger else RefusedBy.CLAIMS) if refused else None,
        reason_codes=list(case.ledger_reasons if by_ledger else case.reason_codes),
        term_no=case.term_no if case.ledger_state is LedgerState.APPLIED else None,
        uses_replacement=approved and case.uses_replacement,
        flyaway=case.flyaway,
        fee=case.fee if approved else None,
        fee_schedule=case.fee_schedule if approved else None,
        repair_split=case.ledger_split if approved else None,
    )


def finalised(case: Case) -> Outgoing | None:
    """The case's final outcome, to publish once: when its fate is known and not yet told."""
    if case.final_id is not None:
        return None
    final = final_outcome_of(case)
    return None if final is None else Outgoing(final, case.reported_sn, case.case_id)


def recorded_answers(case: Case, sent: Iterable[Envelope]) -> Case:
    """The case with the ids of the decision and the final outcome it published, which every
    later answer about it names."""
    for event in sent:
        if isinstance(event, ClaimDecided):
            case = replace(case, decision_id=event.event_id)
        elif isinstance(event, ClaimFinalised):
            case = replace(case, final_id=event.event_id)
    return case


def answer_again(
    case: Case,
    sent_again: AssessmentReportedPayload | ExpressReplacementRequestedPayload,
    on_record: str,
) -> CaseDecided:
    """A case sent again under its case id: with the facts it was answered for (`on_record`),
    the same answer again, a copy naming the decision and the final outcome it already had;
    with other facts, a refusal naming the decision that stands. Other facts make a new case,
    and only a review changes a decision (C10)."""
    if case.decision_id is None:
        raise ValueError(f"case {case.case_id} has no decision on record to answer with")
    if json.loads(sent_again.model_dump_json()) == json.loads(on_record):
        final = final_outcome_of(case) if case.final_id is not None else None
        copy = ClaimDecisionRepublishedPayload(
            case_id=case.case_id,
            decision_id=case.decision_id,
            decision=decision_of(case),
            final_outcome_id=case.final_id,
            final_outcome=final,
        )
        return CaseDecided(case, (Outgoing(copy, case.reported_sn, case.case_id),))
    refusal = ResubmissionRefusedPayload(
        case_id=case.case_id,
        sn=case.reported_sn,
        decision_id=case.decision_id,
        outcome=case.outcome,
        reason_codes=[CASE_ALREADY_DECIDED],
    )
    return CaseDecided(case, (Outgoing(refusal, case.reported_sn, case.case_id),))


# X3: the express premium unit, on arrival or late ----------------------------------------------


def receive_express_unit(case: Case, report: AssessmentReportedPayload) -> CaseDecided:
    """X3: the unit of a case decided before it came in decides the pre-authorisation; the
    arrival is kept, so that the same report sent again is answered again (`answer_again`)."""
    reasons = check_express_unit(
        reported_sn=report.reported_sn,
        unit_sn=report.unit_sn,
        battery_present=report.battery_present,
    )
    arrived = replace(case, unit_report=report.model_dump_json())
    return _settle_pre_authorisation(arrived, reasons, UnitState.RECEIVED)


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
    """C5, C7: what the ledger did with a case, which ends its reservation and settles its fate;
    for an AG repair the ledger's split is the one that counts, and its base-quota part is
    claimed from the insurer of the term that paid (C8), as the read model knows that term once
    the event is projected. A case claims never opened, or one the ledger already answered,
    changes nothing."""
    case_id = ledger_case_id(event)
    case = None if case_id is None else cases.get(case_id)
    if case is None or case.ledger_state is not LedgerState.PENDING:
        return None
    match event:
        case DeductionApplied(payload=applied):
            return CaseDecided(
                replace(case, ledger_state=LedgerState.APPLIED, term_no=applied.term_no)
            )
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


def plan_after_review(
    reviewed: CaseDecided, plans: Mapping[uuid.UUID, PlanRecord]
) -> tuple[PlanRecord, ...]:
    """C10: a case reversed for fraud ends its plan in claims' view at once."""
    case = reviewed.case
    reversed_ = any(isinstance(out.payload, ClaimReversedPayload) for out in reviewed.outgoing)
    if not reversed_ or case.plan_id is None:
        return ()
    return ended_by_reversal(plans.get(case.plan_id))


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
