"""Claims' adapters: the plan read model, and adjudication of assessments into decisions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from contracts.agricultural import AgriculturalTerm, PlanFamily
from contracts.claims import (
    ClaimDecided,
    ClaimDecidedPayload,
    ClaimReversed,
    ClaimReversedPayload,
    PreAuthorisationCaptureRequested,
    PreAuthorisationDecisionPayload,
    PreAuthorisationReleaseRequested,
    RepairSplit,
)
from contracts.coverage import (
    CoverageEvent,
    CoverageExtended,
    CoverageOpened,
    DeductionApplied,
    DeductionRefused,
    PlanExhausted,
    PlanInherited,
    PlanTerminated,
    QuotaDeductionApplied,
    TermConfirmed,
)
from contracts.envelope import Envelope
from contracts.topics import CLAIMS_EVENTS
from contracts.upstream import (
    AssessmentReported,
    ExpressReplacementRequested,
    ExpressUnitOverdue,
    RepairEvent,
    ReviewConcluded,
    ReviewVerdict,
    ServiceMode,
)
from services.claims import agricultural
from services.claims.domain import (
    FRAUD_FOUND,
    Assessment,
    PartCheck,
    PlanView,
    PreAuthorisationCapture,
    adjudicate,
    check_express_unit,
    quota_paid,
)
from shared.catalogue import consumer_catalogue
from shared.catalogue.agricultural import is_agricultural
from shared.messaging import Transaction

PRODUCER = "claims"


async def project_coverage_event(event: CoverageEvent, tx: Transaction) -> None:
    """Keep claims' view of each plan in step with the ledger."""
    conn = tx.conn
    match event:
        case CoverageOpened(payload=plan):
            await conn.execute(
                "INSERT INTO plan_view (plan_id, sn, model, sku, region, family)"
                " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (plan_id) DO NOTHING",
                plan.plan_id,
                plan.sn,
                plan.model,
                plan.sku,
                plan.region,
                plan.family.value,
            )
            await _project_term(
                tx,
                plan.plan_id,
                1,
                plan.term_start,
                plan.term_end,
                plan.replacements_left,
                plan.flyaways_left,
                plan.agricultural,
            )
        case CoverageExtended(payload=term):
            await _project_term(
                tx,
                term.plan_id,
                term.term_no,
                term.term_start,
                term.term_end,
                term.replacements_left,
                term.flyaways_left,
                term.agricultural,
            )
            if term.previous_term_ends_at is not None:  # A4: the previous term ended early
                await conn.execute(
                    "UPDATE plan_view_terms SET term_end = $3 WHERE plan_id = $1 AND term_no = ("
                    " SELECT max(term_no) FROM plan_view_terms WHERE plan_id = $1"
                    " AND term_no < $2)",
                    term.plan_id,
                    term.term_no,
                    term.previous_term_ends_at,
                )
        case TermConfirmed(payload=confirmed):  # A5
            await conn.execute(
                "UPDATE plan_view_terms SET term_start = $3, term_end = $4, policy_no = $5,"
                " insurer = $6 WHERE plan_id = $1 AND term_no = $2",
                confirmed.plan_id,
                confirmed.term_no,
                confirmed.term_start,
                confirmed.term_end,
                confirmed.policy_no,
                confirmed.insurer,
            )
        case QuotaDeductionApplied():
            await agricultural.record_quota_deduction(event, tx)
        case DeductionApplied(payload=deduction):
            await conn.execute(
                "UPDATE plan_view_terms SET replacements_left = $3, flyaways_left = $4,"
                " replacements_used = replacements_used + 1 WHERE plan_id = $1 AND term_no = $2",
                deduction.plan_id,
                deduction.term_no,
                deduction.replacements_left,
                deduction.flyaways_left,
            )
            await conn.execute(
                "UPDATE cases SET ledger_state = 'applied' WHERE case_id = $1", deduction.case_id
            )
        case DeductionRefused(payload=refusal):
            await conn.execute(
                "UPDATE cases SET ledger_state = 'refused', ledger_reasons = $2 WHERE case_id = $1",
                refusal.case_id,
                refusal.reason_codes,
            )
        case PlanExhausted(payload=exhausted):
            await conn.execute(
                "UPDATE plan_view_terms SET state = 'exhausted' WHERE plan_id = $1"
                " AND term_no = $2",
                exhausted.plan_id,
                exhausted.term_no,
            )
        case PlanTerminated(payload=terminated):
            await conn.execute(
                "UPDATE plan_view SET state = 'terminated' WHERE plan_id = $1",
                terminated.plan_id,
            )
        case PlanInherited(payload=inherited):
            await conn.execute(
                "UPDATE plan_view SET sn = $2 WHERE plan_id = $1",
                inherited.plan_id,
                inherited.new_sn,
            )


async def _project_term(
    tx: Transaction,
    plan_id: uuid.UUID,
    term_no: int,
    term_start: datetime,
    term_end: datetime,
    replacements_left: int,
    flyaways_left: int,
    ag: AgriculturalTerm | None = None,
) -> None:
    await tx.conn.execute(
        "INSERT INTO plan_view_terms (plan_id, term_no, term_start, term_end, replacements_left,"
        " flyaways_left, plan_year, quota_currency, base_quota_left, consumables_quota_left,"
        " deductible_rate, insurer, liability_cover)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        " ON CONFLICT (plan_id, term_no) DO NOTHING",
        plan_id,
        term_no,
        term_start,
        term_end,
        replacements_left,
        flyaways_left,
        ag.plan_year if ag else None,
        ag.base_quota.currency if ag else None,
        ag.base_quota.amount if ag else None,
        ag.consumables_quota.amount if ag else None,
        ag.deductible_rate if ag else None,
        ag.insurer if ag else None,
        ag.liability_cover if ag else False,
    )


async def on_repair_event(event: RepairEvent, tx: Transaction) -> None:
    match event:
        case AssessmentReported():
            await adjudicate_assessment(event, tx)
        case ExpressReplacementRequested():
            await adjudicate_express_request(event, tx)
        case ExpressUnitOverdue():
            await settle_overdue_unit(event, tx)


@dataclass(frozen=True)
class CaseFacts:
    """What a case is about, beside the assessment the rules read."""

    case_id: str
    sn: str
    model: str
    customer_region: str
    service_mode: ServiceMode
    record: str  # the message that opened the case, kept as evidence


async def adjudicate_assessment(event: AssessmentReported, tx: Transaction) -> None:
    """C1-C6, X4: decide the case; a replacement is priced by the fee schedule in force (P2).

    For an express premium case decided before the unit came in, the assessment is the unit's
    arrival: it decides the card pre-authorisation (X3) instead.
    """
    report = event.payload
    case = await tx.conn.fetchrow(
        "SELECT unit_state FROM cases WHERE case_id = $1 FOR UPDATE", report.case_id
    )
    if case is not None:
        if case["unit_state"] == "awaiting_unit":
            reasons = check_express_unit(
                reported_sn=report.reported_sn,
                unit_sn=report.unit_sn,
                battery_present=report.battery_present,
            )
            await _settle_pre_authorisation(tx, event, report.case_id, reasons, "received")
        return  # otherwise the repair system re-sent the case: one case, one decision
    row = await agricultural.find_term(tx, report.reported_sn, report.incident_at)
    family = row["family"] if row else None
    if family == PlanFamily.AGRICULTURAL.value or (row is None and is_agricultural(report.model)):
        await agricultural.decide_agricultural_case(event, tx, row)
        return
    await _decide(
        tx,
        event,
        CaseFacts(
            report.case_id,
            report.reported_sn,
            report.model,
            report.customer_region,
            report.service_mode,
            report.model_dump_json(),
        ),
        Assessment(
            reported_sn=report.reported_sn,
            unit_sn=report.unit_sn,
            cause=report.cause,
            incident_at=report.incident_at,
            assessed_at=report.assessed_at,
            flight_record_provided=report.flight_record_provided,
            account_bound_at=report.account_bound_at,
            remote_controller_bound_at=report.remote_controller_bound_at,
            parts=tuple(
                PartCheck(
                    sn_present_and_readable=part.sn is not None and part.sn_readable,
                    matches_body_record=part.matches_body_record,
                )
                for part in report.parts
            ),
            customer_choice=report.customer_choice,
            service_mode=report.service_mode,
        ),
    )


async def adjudicate_express_request(event: ExpressReplacementRequested, tx: Transaction) -> None:
    """X3, C5: express premium is adjudicated before the unit is sent in; its SN and battery
    are checked when it arrives."""
    request = event.payload
    if await tx.conn.fetchval("SELECT 1 FROM cases WHERE case_id = $1", request.case_id):
        return
    if is_agricultural(request.model):
        await agricultural.refuse_express_request(event, tx)
        return
    await _decide(
        tx,
        event,
        CaseFacts(
            request.case_id,
            request.sn,
            request.model,
            request.customer_region,
            ServiceMode.EXPRESS_PREMIUM,
            request.model_dump_json(),
        ),
        Assessment(
            reported_sn=request.sn,
            unit_sn=request.sn,  # not here yet: checked on arrival
            cause=request.cause,
            incident_at=request.incident_at,
            assessed_at=request.requested_at,
            flight_record_provided=False,
            service_mode=ServiceMode.EXPRESS_PREMIUM,
        ),
    )


async def settle_overdue_unit(event: ExpressUnitOverdue, tx: Transaction) -> None:
    """X3: no unit by the deadline: the pre-authorisation is captured in full."""
    overdue = event.payload
    case = await tx.conn.fetchrow(
        "SELECT unit_state FROM cases WHERE case_id = $1 FOR UPDATE", overdue.case_id
    )
    if case is None:
        raise UnknownCaseError(f"no case {overdue.case_id} waits for a unit")
    if case["unit_state"] != "awaiting_unit":
        return  # the unit arrived first: its arrival decided
    reasons = (PreAuthorisationCapture.UNIT_NOT_RECEIVED_IN_TIME,)
    await _settle_pre_authorisation(tx, event, overdue.case_id, reasons, "overdue")


async def _settle_pre_authorisation(
    tx: Transaction,
    cause: Envelope,
    case_id: str,
    reasons: tuple[PreAuthorisationCapture, ...],
    unit_state: str,
) -> None:
    codes = [reason.value for reason in reasons]
    sn = await tx.conn.fetchval(
        "UPDATE cases SET unit_state = $2, pre_authorisation = $3, pre_authorisation_reasons = $4"
        " WHERE case_id = $1 RETURNING reported_sn",
        case_id,
        unit_state,
        "capture_requested" if codes else "release_requested",
        codes,
    )
    payload = PreAuthorisationDecisionPayload(case_id=case_id, reason_codes=codes)
    request = (
        PreAuthorisationCaptureRequested.new(
            payload, producer=PRODUCER, correlation_id=case_id, cause=cause
        )
        if codes
        else PreAuthorisationReleaseRequested.new(
            payload, producer=PRODUCER, correlation_id=case_id, cause=cause
        )
    )
    tx.publish(CLAIMS_EVENTS, sn, request)


async def _decide(
    tx: Transaction, event: Envelope, facts: CaseFacts, assessment: Assessment
) -> None:
    catalogue = consumer_catalogue()
    # The term in force at the incident; with none, the latest term (C1 then refuses the claim).
    row = await tx.conn.fetchrow(
        "SELECT p.plan_id, p.model, p.state AS plan_state, t.*"
        " FROM plan_view p JOIN plan_view_terms t USING (plan_id)"
        " WHERE p.sn = $1 ORDER BY (t.term_start <= $2 AND t.term_end > $2) DESC, t.term_no DESC"
        " LIMIT 1",
        facts.sn,
        assessment.incident_at,
    )
    plan = (
        PlanView(
            plan_id=str(row["plan_id"]),
            term_start=row["term_start"],
            term_end=row["term_end"],
            replacements_left=row["replacements_left"],
            flyaways_left=row["flyaways_left"],
            replacements_used=row["replacements_used"],
            flyaway_eligible=catalogue.model(row["model"]).flyaway_eligible,
            terminated=row["plan_state"] == "terminated",
        )
        if row
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
    reasons = [reason.value for reason in decision.reasons]
    await tx.conn.execute(
        "INSERT INTO cases (case_id, reported_sn, model, plan_id, cause, incident_at, assessed_at,"
        " outcome, reason_codes, rules_applied, uses_replacement, flyaway, fee_amount,"
        " fee_currency, fee_schedule, ledger_state, assessment, service_mode, unit_state)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,"
        " $18, $19)",
        facts.case_id,
        facts.sn,
        facts.model,
        row["plan_id"] if row else None,
        assessment.cause.value,
        assessment.incident_at,
        assessment.assessed_at,
        decision.outcome.value,
        reasons,
        list(decision.rules),
        decision.uses_replacement,
        decision.flyaway,
        fee.amount if fee else None,
        fee.currency if fee else None,
        schedule,
        "pending" if decision.uses_replacement else "none",
        facts.record,
        facts.service_mode.value,
        "awaiting_unit" if premium_unit_pending else "not_applicable",
    )
    tx.publish(
        CLAIMS_EVENTS,
        facts.sn,
        ClaimDecided.new(
            ClaimDecidedPayload(
                case_id=facts.case_id,
                sn=facts.sn,
                model=facts.model,
                plan_id=row["plan_id"] if row else None,
                outcome=decision.outcome,
                incident_at=assessment.incident_at,
                reason_codes=reasons,
                rules_applied=list(decision.rules),
                uses_replacement=decision.uses_replacement,
                flyaway=decision.flyaway,
                fee=fee,
                fee_schedule=schedule,
                customer_region=facts.customer_region,
                service_mode=facts.service_mode,
            ),
            producer=PRODUCER,
            correlation_id=facts.case_id,
            cause=event,
        ),
    )


class UnknownCaseError(LookupError):
    pass


async def review_case(event: ReviewConcluded, tx: Transaction) -> None:
    """C10: a reviewer upholds a decision, or finds fraud and reverses the case."""
    review = event.payload
    case = await tx.conn.fetchrow(
        "SELECT case_id, reported_sn, plan_id, review_verdict, family,"
        " COALESCE(ledger_split, repair_split) AS split FROM cases"
        " WHERE case_id = $1 FOR UPDATE",
        review.case_id,
    )
    if case is None:
        raise UnknownCaseError(f"no case {review.case_id} to review")
    if case["review_verdict"] is not None:
        return  # a case is reviewed once; a second verdict changes nothing
    owes = review.repair_cost if review.verdict is ReviewVerdict.FRAUD else None
    if owes is None and review.verdict is ReviewVerdict.FRAUD and case["split"] is not None:
        # AG (C10): without a figure from the reviewer, the customer owes what the quotas paid.
        owes = quota_paid(RepairSplit.model_validate_json(case["split"]))
    if review.verdict is ReviewVerdict.FRAUD and (owes is None or case["plan_id"] is None):
        raise ValueError(
            f"a fraud verdict on case {review.case_id} needs a repair cost and a plan to end"
        )
    await tx.conn.execute(
        "UPDATE cases SET review_verdict = $2, reviewer_id = $3, customer_owes_amount = $4,"
        " customer_owes_currency = $5 WHERE case_id = $1",
        review.case_id,
        review.verdict.value,
        review.reviewer_id,
        owes.amount if owes else None,
        owes.currency if owes else None,
    )
    if owes is None:
        return
    tx.publish(
        CLAIMS_EVENTS,
        case["reported_sn"],
        ClaimReversed.new(
            ClaimReversedPayload(
                case_id=review.case_id,
                plan_id=case["plan_id"],
                sn=case["reported_sn"],
                reviewer_id=review.reviewer_id,
                reason_codes=[FRAUD_FOUND],
                customer_owes=owes,
            ),
            producer=PRODUCER,
            correlation_id=review.case_id,
            cause=event,
        ),
    )
    if case["family"] == PlanFamily.AGRICULTURAL.value:
        await agricultural.withdraw_insurer_claim(tx, event, review.case_id)
