"""Claims' adapters for the agricultural plan: AG cases (C1-C4, C7-C9, G4), the insurers (C8,
A5) and third-party liability (L1-L4), driven by the pure rules in domain.py and insurers.py."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from contracts.activation import AccessoryAssociated, AccessoryReleased, ActivationEvent
from contracts.agricultural import PlanFamily
from contracts.claims import (
    ClaimDecided,
    ClaimDecidedPayload,
    ClaimOutcome,
    LiabilityIncidentRefused,
    LiabilityIncidentRefusedPayload,
    LineCoverage,
    RepairSplit,
)
from contracts.coverage import QuotaDeductionApplied
from contracts.envelope import Envelope
from contracts.insurer import (
    InsurerClaimAnswered,
    InsurerClaimReported,
    InsurerClaimReportedPayload,
    InsurerClaimWithdrawn,
    InsurerClaimWithdrawnPayload,
    InsurerResponseEvent,
    LiabilityClaimAnswered,
    LiabilityClaimReported,
    LiabilityClaimReportedPayload,
)
from contracts.liability import LiabilityIncidentReported, LiabilityKind
from contracts.money import Money
from contracts.topics import CLAIMS_EVENTS, INSURER_CLAIMS
from contracts.upstream import (
    AgriculturalActivity,
    AssessmentReported,
    ExpressReplacementRequested,
    IncidentCause,
    ServiceMode,
)
from services.claims import domain, insurers
from shared.catalogue.agricultural import agricultural_catalogue
from shared.messaging import Transaction

PRODUCER = "claims"


class UnknownClaimError(LookupError):
    pass


def part_rules() -> domain.PartRules:
    catalogue = agricultural_catalogue()
    return domain.PartRules(
        consumables_parts=catalogue.consumables_parts,
        uncovered_part_classes=catalogue.uncovered_part_classes,
    )


def liability_limits(model: str) -> insurers.LiabilityLimits:
    """L1-L3 for the model's group, from the catalogue."""
    catalogue = agricultural_catalogue()
    cover = catalogue.liability
    sublimit = cover.medical_sublimit[catalogue.model(model).liability_group]
    return insurers.LiabilityLimits(
        region=cover.region,
        total_limit=catalogue.money(cover.total_limit),
        limits={
            LiabilityKind.THIRD_PARTY_PROPERTY: catalogue.money(cover.property_limit),
            LiabilityKind.THIRD_PARTY_INJURY: catalogue.money(cover.injury_limit),
            LiabilityKind.OPERATOR_ACCIDENT: catalogue.money(cover.operator_limit),
        },
        medical_sublimits={
            LiabilityKind.THIRD_PARTY_INJURY: catalogue.money(sublimit.third_party),
            LiabilityKind.OPERATOR_ACCIDENT: catalogue.money(sublimit.operator),
        },
        property_deductible=catalogue.money(cover.property_deductible),
        medical_deductible=catalogue.money(cover.medical_deductible),
    )


def _shanghai_date(moment: datetime) -> Any:
    """M2: AG days are Asia/Shanghai days."""
    return moment.astimezone(agricultural_catalogue().zone).date()


async def find_term(tx: Transaction, sn: str, at: datetime) -> Any:
    """The plan on `sn` with its term in force at `at`; with none, its latest term."""
    return await tx.conn.fetchrow(
        "SELECT p.plan_id, p.model, p.family, p.state AS plan_state, t.*"
        " FROM plan_view p JOIN plan_view_terms t USING (plan_id)"
        " WHERE p.sn = $1 ORDER BY (t.term_start <= $2 AND t.term_end > $2) DESC, t.term_no DESC"
        " LIMIT 1",
        sn,
        at,
    )


def _ag_plan_view(row: Any) -> domain.AgPlanView | None:
    if row is None or row["family"] != PlanFamily.AGRICULTURAL.value:
        return None
    currency = row["quota_currency"]
    model = agricultural_catalogue().models.get(row["model"])
    return domain.AgPlanView(
        plan_id=str(row["plan_id"]),
        term_no=row["term_no"],
        term_start=row["term_start"],
        term_end=row["term_end"],
        plan_year=row["plan_year"],
        base_quota_left=Money(amount=row["base_quota_left"], currency=currency),
        consumables_quota_left=Money(amount=row["consumables_quota_left"], currency=currency),
        deductible_rate=row["deductible_rate"],
        supports_lifting=model is not None and "lifting" in model.accessories,
        exhausted=row["state"] == "exhausted",
        terminated=row["plan_state"] == "terminated",
    )


async def decide_agricultural_case(event: AssessmentReported, tx: Transaction, row: Any) -> None:
    """C1-C4, C7-C9, G4: decide an AG case and quote its repair line by line."""
    report = event.payload
    accessory = None
    if report.accessory_sn is not None:
        found = await tx.conn.fetchrow(
            "SELECT drone_sn, state FROM accessory_associations WHERE accessory_sn = $1",
            report.accessory_sn,
        )
        if found is not None:
            accessory = domain.AccessoryView(found["drone_sn"], found["state"] == "released")
    plan = _ag_plan_view(row)
    decision = domain.adjudicate_agricultural(
        domain.AgAssessment(
            reported_sn=report.reported_sn,
            unit_sn=report.unit_sn,
            cause=report.cause,
            incident_at=report.incident_at,
            assessed_at=report.assessed_at,
            flight_record_provided=report.flight_record_provided,
            activity=report.activity,
            unit_complete=report.unit_complete,
            lines=tuple(report.repair_lines),
            parts=tuple(
                domain.PartCheck(
                    sn_present_and_readable=part.sn is not None and part.sn_readable,
                    matches_body_record=part.matches_body_record,
                )
                for part in report.parts
            ),
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
    plan_id = row["plan_id"] if row else None
    reasons = [reason.value for reason in decision.reasons]
    await tx.conn.execute(
        "INSERT INTO cases (case_id, reported_sn, model, plan_id, cause, incident_at, assessed_at,"
        " outcome, reason_codes, rules_applied, uses_replacement, flyaway, ledger_state,"
        " assessment, service_mode, family, term_no, accessory_sn, repair_split,"
        " customer_share_amount, customer_share_currency)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, false, false, $11, $12, $13, $14,"
        " $15, $16, $17, $18, $19)",
        report.case_id,
        report.reported_sn,
        report.model,
        plan_id,
        report.cause.value,
        report.incident_at,
        report.assessed_at,
        decision.outcome.value,
        reasons,
        list(decision.rules),
        "pending" if decision.outcome is ClaimOutcome.REPAIR else "none",
        report.model_dump_json(),
        report.service_mode.value,
        PlanFamily.AGRICULTURAL.value,
        plan.term_no if plan else None,
        report.accessory_sn,
        split.model_dump_json() if split else None,
        split.customer_share.amount if split else None,
        split.customer_share.currency if split else None,
    )
    tx.publish(
        CLAIMS_EVENTS,
        report.reported_sn,
        ClaimDecided.new(
            ClaimDecidedPayload(
                case_id=report.case_id,
                sn=report.reported_sn,
                model=report.model,
                plan_id=plan_id,
                outcome=decision.outcome,
                incident_at=report.incident_at,
                reason_codes=reasons,
                rules_applied=list(decision.rules),
                customer_region=report.customer_region,
                service_mode=report.service_mode,
                family=PlanFamily.AGRICULTURAL,
                repair_split=split,
                accessory_sn=report.accessory_sn,
            ),
            producer=PRODUCER,
            correlation_id=report.case_id,
            cause=event,
        ),
    )


async def refuse_express_request(event: ExpressReplacementRequested, tx: Transaction) -> None:
    """X3 is a consumer-plan service: an AG drone is repaired after it comes in (C7)."""
    request = event.payload
    row = await find_term(tx, request.sn, request.incident_at)
    plan_id = row["plan_id"] if row else None
    reasons = [domain.ClaimRefusal.EXPRESS_NOT_FOR_AGRICULTURAL.value]
    await tx.conn.execute(
        "INSERT INTO cases (case_id, reported_sn, model, plan_id, cause, incident_at, assessed_at,"
        " outcome, reason_codes, rules_applied, uses_replacement, flyaway, assessment,"
        " service_mode, family) VALUES ($1, $2, $3, $4, $5, $6, $7, 'refused', $8, $9, false,"
        " false, $10, 'express_premium', 'agricultural')",
        request.case_id,
        request.sn,
        request.model,
        plan_id,
        request.cause.value,
        request.incident_at,
        request.requested_at,
        reasons,
        ["X3"],
        request.model_dump_json(),
    )
    tx.publish(
        CLAIMS_EVENTS,
        request.sn,
        ClaimDecided.new(
            ClaimDecidedPayload(
                case_id=request.case_id,
                sn=request.sn,
                model=request.model,
                plan_id=plan_id,
                outcome=ClaimOutcome.REFUSED,
                incident_at=request.incident_at,
                reason_codes=reasons,
                rules_applied=["X3"],
                customer_region=request.customer_region,
                service_mode=ServiceMode.EXPRESS_PREMIUM,
                family=PlanFamily.AGRICULTURAL,
            ),
            producer=PRODUCER,
            correlation_id=request.case_id,
            cause=event,
        ),
    )


async def project_accessory_event(event: ActivationEvent, tx: Transaction) -> None:
    """G4: which drone each accessory is associated with, as activation decided it (G1-G3).

    A released accessory stays released whatever arrives later: it can never be covered again
    (G3). An association that follows the plan to a replacement unit (F3) moves the accessory to
    the new drone.
    """
    match event:
        case AccessoryAssociated(payload=associated):
            await tx.conn.execute(
                "INSERT INTO accessory_associations (accessory_sn, accessory_type, drone_sn,"
                " state, associated_at) VALUES ($1, $2, $3, 'associated', $4)"
                " ON CONFLICT (accessory_sn) DO UPDATE SET drone_sn = EXCLUDED.drone_sn,"
                " associated_at = EXCLUDED.associated_at"
                " WHERE accessory_associations.state = 'associated'"
                " AND accessory_associations.associated_at <= EXCLUDED.associated_at",
                associated.accessory_sn,
                associated.accessory_type.value,
                associated.drone_sn,
                associated.associated_at,
            )
            if associated.replaced_accessory_sn is not None:
                await _release(
                    tx,
                    associated.replaced_accessory_sn,
                    associated.accessory_type.value,
                    associated.drone_sn,
                    associated.associated_at,
                )
        case AccessoryReleased(payload=released):
            await _release(
                tx,
                released.accessory_sn,
                released.accessory_type.value,
                released.drone_sn,
                released.released_at,
            )


async def _release(
    tx: Transaction, accessory_sn: str, accessory_type: str, drone_sn: str, at: datetime
) -> None:
    await tx.conn.execute(
        "INSERT INTO accessory_associations (accessory_sn, accessory_type, drone_sn, state,"
        " released_at) VALUES ($1, $2, $3, 'released', $4)"
        " ON CONFLICT (accessory_sn) DO UPDATE SET state = 'released',"
        " released_at = COALESCE(accessory_associations.released_at, EXCLUDED.released_at)",
        accessory_sn,
        accessory_type,
        drone_sn,
        at,
    )


async def record_quota_deduction(event: QuotaDeductionApplied, tx: Transaction) -> None:
    """C7: the ledger's split is the one that counts; C8: its base-quota part goes to the
    insurer that underwrote the model, as a repair service."""
    applied = event.payload
    split = applied.split
    await tx.conn.execute(
        "UPDATE plan_view_terms SET base_quota_left = $3, consumables_quota_left = $4"
        " WHERE plan_id = $1 AND term_no = $2",
        applied.plan_id,
        applied.term_no,
        applied.base_quota_left.amount,
        applied.consumables_quota_left.amount,
    )
    case = await tx.conn.fetchrow(
        "UPDATE cases SET ledger_state = 'applied', ledger_split = $2,"
        " customer_share_amount = $3, customer_share_currency = $4, term_no = $5"
        " WHERE case_id = $1 RETURNING *, assessment->>'activity' AS activity",
        applied.case_id,
        split.model_dump_json(),
        split.customer_share.amount,
        split.customer_share.currency,
        applied.term_no,
    )
    if case is None or split.from_base_quota.amount == 0 or case["insurer_state"] != "none":
        return
    if case["review_verdict"] == "fraud":
        return  # C10: reversed before the ledger answered; nothing to claim from the insurer
    term = await tx.conn.fetchrow(
        "SELECT term_no, plan_year, insurer, policy_no FROM plan_view_terms"
        " WHERE plan_id = $1 AND term_no = $2",
        applied.plan_id,
        applied.term_no,
    )
    if term is None or term["insurer"] is None:
        raise ValueError(f"case {applied.case_id}: no insurer known for plan {applied.plan_id}")
    await report_to_insurer(tx, event, case, term, split)


async def report_to_insurer(
    tx: Transaction, cause: Envelope, case: Any, term: Any, split: RepairSplit
) -> None:
    base_lines = [line for line in split.lines if line.coverage is LineCoverage.BASE_QUOTA]
    await tx.conn.execute(
        "UPDATE cases SET insurer = $2, insurer_state = 'reported', insurer_amount = $3"
        " WHERE case_id = $1",
        case["case_id"],
        term["insurer"],
        split.from_base_quota.amount,
    )
    tx.publish(
        INSURER_CLAIMS,
        case["case_id"],
        InsurerClaimReported.new(
            InsurerClaimReportedPayload(
                case_id=case["case_id"],
                plan_id=case["plan_id"],
                term_no=term["term_no"],  # the ledger's: the term that actually paid
                insurer=term["insurer"],
                policy_no=term["policy_no"],
                sn=case["reported_sn"],
                model=case["model"],
                plan_year=term["plan_year"],
                cause=IncidentCause(case["cause"]),
                activity=AgriculturalActivity(case["activity"]) if case["activity"] else None,
                incident_at=case["incident_at"],
                incident_date=_shanghai_date(case["incident_at"]),
                base_quota_amount=split.from_base_quota,
                deductible=split.deductible,
                lines=base_lines,
            ),
            producer=PRODUCER,
            correlation_id=case["case_id"],
            cause=cause,
        ),
    )


async def withdraw_insurer_claim(tx: Transaction, cause: Envelope, case_id: str) -> None:
    """C10: a reversed case's claim on the insurer is withdrawn, unless the insurer answered."""
    case = await tx.conn.fetchrow(
        "UPDATE cases SET insurer_state = 'withdrawn' WHERE case_id = $1"
        " AND insurer_state IN ('reported', 'accepted') RETURNING insurer",
        case_id,
    )
    if case is None:
        return
    tx.publish(
        INSURER_CLAIMS,
        case_id,
        InsurerClaimWithdrawn.new(
            InsurerClaimWithdrawnPayload(
                case_id=case_id, insurer=case["insurer"], reason_codes=[domain.FRAUD_FOUND]
            ),
            producer=PRODUCER,
            correlation_id=case_id,
            cause=cause,
        ),
    )


async def on_insurer_response(event: InsurerResponseEvent, tx: Transaction) -> None:
    """Track the insurers' answers on the cases and incidents they answer (C8, L4)."""
    if isinstance(event, InsurerClaimAnswered):
        await record_claim_answer(event, tx)
    elif isinstance(event, LiabilityClaimAnswered):
        await record_liability_answer(event, tx)
    # PolicyConfirmed reaches claims through the ledger's TermConfirmed (A5).


async def record_claim_answer(event: InsurerClaimAnswered, tx: Transaction) -> None:
    answer = event.payload
    case = await tx.conn.fetchrow(
        "SELECT insurer, insurer_state FROM cases WHERE case_id = $1 FOR UPDATE", answer.case_id
    )
    if case is None:
        raise UnknownClaimError(f"no case {answer.case_id} for the insurer's answer")
    if case["insurer"] is not None and case["insurer"] != answer.insurer:
        raise UnknownClaimError(f"case {answer.case_id} was not reported to {answer.insurer}")
    state = insurers.answer_claim(insurers.InsurerClaimState(case["insurer_state"]), answer.answer)
    if state is None:
        return
    await tx.conn.execute(
        "UPDATE cases SET insurer_state = $2, insurer_paid_amount = COALESCE($3,"
        " insurer_paid_amount), insurer_reason = COALESCE($4, insurer_reason),"
        " insurer_answered_at = $5 WHERE case_id = $1",
        answer.case_id,
        state.value,
        answer.amount.amount if answer.amount else None,
        answer.reason,
        answer.answered_at,
    )


async def record_liability_answer(event: LiabilityClaimAnswered, tx: Transaction) -> None:
    answer = event.payload
    incident = await tx.conn.fetchrow(
        "SELECT insurer, state FROM liability_incidents WHERE incident_id = $1 FOR UPDATE",
        answer.incident_id,
    )
    if incident is None:
        raise UnknownClaimError(f"no liability incident {answer.incident_id} for the answer")
    if incident["insurer"] != answer.insurer:
        raise UnknownClaimError(f"incident {answer.incident_id} was not routed to {answer.insurer}")
    state = insurers.answer_claim(insurers.InsurerClaimState(incident["state"]), answer.answer)
    if state is None:
        return
    await tx.conn.execute(
        "UPDATE liability_incidents SET state = $2, settled_amount = COALESCE($3,"
        " settled_amount), insurer_reason = COALESCE($4, insurer_reason), answered_at = $5"
        " WHERE incident_id = $1",
        answer.incident_id,
        state.value,
        answer.settled_amount.amount if answer.settled_amount else None,
        answer.reason,
        answer.answered_at,
    )


async def route_liability_incident(event: LiabilityIncidentReported, tx: Transaction) -> None:
    """L1-L4, P6: route the incident to the model's insurer with its limits, or refuse it."""
    incident = event.payload
    if await tx.conn.fetchval(
        "SELECT 1 FROM liability_incidents WHERE incident_id = $1", incident.incident_id
    ):
        return  # reported again: one incident, one routing
    row = await find_term(tx, incident.drone_sn, incident.occurred_at)
    facts = insurers.LiabilityIncident(
        kind=incident.kind,
        location_region=incident.location_region,
        occurred_at=incident.occurred_at,
        claimed=incident.claimed_amount,
        medical=incident.medical_amount,
    )
    cover = None
    if row is not None and row["family"] == PlanFamily.AGRICULTURAL.value:
        cover = await _liability_cover(tx, row)
        routed = insurers.route_liability(facts, cover, liability_limits(row["model"]))
    else:
        routed = insurers.LiabilityRefused((insurers.LiabilityRefusal.NO_PLAN_FOR_SN,))
    plan_id = uuid.UUID(cover.plan_id) if cover else None
    if isinstance(routed, insurers.LiabilityRefused):
        reasons = [reason.value for reason in routed.reasons]
        await _store_incident(tx, event, cover, None, reasons)
        tx.publish(
            CLAIMS_EVENTS,
            incident.drone_sn,
            LiabilityIncidentRefused.new(
                LiabilityIncidentRefusedPayload(
                    incident_id=incident.incident_id,
                    drone_sn=incident.drone_sn,
                    plan_id=plan_id,
                    reason_codes=reasons,
                ),
                producer=PRODUCER,
                correlation_id=incident.incident_id,
                cause=event,
            ),
        )
        return
    assert cover is not None and plan_id is not None and row is not None
    await _store_incident(tx, event, cover, routed, [])
    tx.publish(
        INSURER_CLAIMS,
        incident.incident_id,
        LiabilityClaimReported.new(
            LiabilityClaimReportedPayload(
                incident_id=incident.incident_id,
                plan_id=plan_id,
                term_no=cover.term_no,
                insurer=routed.insurer,
                policy_no=cover.policy_no,
                drone_sn=incident.drone_sn,
                model=row["model"],
                kind=incident.kind,
                location_region=incident.location_region,
                occurred_at=incident.occurred_at,
                incident_date=_shanghai_date(incident.occurred_at),
                claimed_amount=incident.claimed_amount,
                medical_amount=incident.medical_amount,
                limit=routed.limit,
                limit_left=routed.limit_left,
                total_limit_left=routed.total_limit_left,
                medical_sublimit=routed.medical_sublimit,
                deductible=routed.deductible,
                indicative_payable=routed.indicative_payable,
            ),
            producer=PRODUCER,
            correlation_id=incident.incident_id,
            cause=event,
        ),
    )


async def _liability_cover(tx: Transaction, row: Any) -> insurers.LiabilityCover:
    """The term's liability cover, with what the insurer already paid out in that term."""
    paid = await tx.conn.fetch(
        "SELECT kind, currency, sum(settled_amount) AS paid FROM liability_incidents"
        " WHERE plan_id = $1 AND term_no = $2 AND state = 'paid' AND settled_amount IS NOT NULL"
        " GROUP BY kind, currency",
        row["plan_id"],
        row["term_no"],
    )
    return insurers.LiabilityCover(
        plan_id=str(row["plan_id"]),
        term_no=row["term_no"],
        term_start=row["term_start"],
        term_end=row["term_end"],
        liability_cover=row["liability_cover"],
        insurer=row["insurer"],
        policy_no=row["policy_no"],
        paid={
            LiabilityKind(entry["kind"]): Money(amount=entry["paid"], currency=entry["currency"])
            for entry in paid
        },
    )


async def _store_incident(
    tx: Transaction,
    event: LiabilityIncidentReported,
    cover: insurers.LiabilityCover | None,
    routed: insurers.LiabilityRouting | None,
    reasons: list[str],
) -> None:
    incident = event.payload
    await tx.conn.execute(
        "INSERT INTO liability_incidents (incident_id, drone_sn, plan_id, term_no, kind,"
        " location_region, occurred_at, currency, claimed_amount, medical_amount, outcome,"
        " reason_codes, insurer, limit_left, deductible, indicative_payable, state, report)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,"
        " $18)",
        incident.incident_id,
        incident.drone_sn,
        uuid.UUID(cover.plan_id) if cover else None,
        cover.term_no if cover else None,
        incident.kind.value,
        incident.location_region,
        incident.occurred_at,
        incident.claimed_amount.currency,
        incident.claimed_amount.amount,
        incident.medical_amount.amount if incident.medical_amount else None,
        "routed" if routed else "refused",
        reasons,
        routed.insurer if routed else None,
        routed.limit_left.amount if routed else None,
        routed.deductible.amount if routed else None,
        routed.indicative_payable.amount if routed else None,
        "reported" if routed else "none",
        incident.model_dump_json(),
    )
