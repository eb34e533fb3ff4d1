"""Claims' SQL: the plan read model, the cases, the accessories and the liability incidents, as
domain values. Each loads a whole batch's rows with one statement per table and writes them back
with one statement per table; the rows a batch changes are locked in one statement, in key
order, so two instances never wait on each other in a circle."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from contracts.agricultural import PlanFamily
from contracts.claims import ClaimOutcome, RepairSplit
from contracts.liability import LiabilityKind
from contracts.money import Money
from contracts.upstream import AgriculturalActivity, IncidentCause, ReviewVerdict, ServiceMode
from services.claims.domain import Rows
from services.claims.domain_agricultural import AccessoryRecord, AccessoryView
from services.claims.domain_cases import (
    Case,
    LedgerState,
    PreAuthorisation,
    UnitState,
)
from services.claims.domain_insurers import (
    InsurerClaim,
    InsurerClaimState,
    LiabilityClaim,
    PaidOut,
    RecordedIncident,
)
from services.claims.domain_plans import (
    PlanRecord,
    PlanTerm,
    Quotas,
    Reserved,
    TermKey,
    TermRecord,
)

if TYPE_CHECKING:
    from shared.db import Connection


def _money(amount: Decimal | None, currency: str | None) -> Money | None:
    return None if amount is None or currency is None else Money(amount=amount, currency=currency)


def _split(json: str | None) -> RepairSplit | None:
    return None if json is None else RepairSplit.model_validate_json(json)


# The plan read model -------------------------------------------------------------------------

_PLAN_COLUMNS = "plan_id, sn, model, sku, region, family, state AS plan_state"


def _plan(row: Any) -> PlanRecord:
    return PlanRecord(
        plan_id=row["plan_id"],
        sn=row["sn"],
        model=row["model"],
        sku=row["sku"],
        region=row["region"],
        family=PlanFamily(row["family"]),
        terminated=row["plan_state"] == "terminated",
    )


def _term(row: Any) -> TermRecord:
    currency = row["quota_currency"]
    quotas = (
        None
        if row["plan_year"] is None
        else Quotas(
            plan_year=row["plan_year"],
            base_quota_left=Money(amount=row["base_quota_left"], currency=currency),
            consumables_quota_left=Money(amount=row["consumables_quota_left"], currency=currency),
            deductible_rate=row["deductible_rate"],
            liability_cover=row["liability_cover"],
        )
    )
    return TermRecord(
        plan_id=row["plan_id"],
        term_no=row["term_no"],
        term_start=row["term_start"],
        term_end=row["term_end"],
        replacements_left=row["replacements_left"],
        flyaways_left=row["flyaways_left"],
        replacements_used=row["replacements_used"],
        exhausted=row["state"] == "exhausted",
        quotas=quotas,
        insurer=row["insurer"],
        policy_no=row["policy_no"],
    )


_PLANS_ON = (
    "SELECT p.plan_id, p.sn, p.model, p.sku, p.region, p.family, p.state AS plan_state, t.*"
    " FROM plan_view p JOIN plan_view_terms t USING (plan_id) WHERE p.sn = ANY($1::text[])"
)


async def plans_on(conn: Connection, sns: Collection[str]) -> dict[str, list[PlanTerm]]:
    """The plan on each SN, once per term: what incidents are judged against."""
    return _plans_by_sn(await conn.fetch(_PLANS_ON, list(sns))) if sns else {}


async def lock_plans_on(conn: Connection, sns: Collection[str]) -> dict[str, list[PlanTerm]]:
    """The plan on each SN, once per term, locked as the ledger's answers lock it
    (`lock_plans`): what the batch reserves on a plan is read after whatever the ledger said
    about it last was saved, and the next batch on the plan sees this one's reservations."""
    if not sns:
        return {}
    rows = await conn.fetch(f"{_PLANS_ON} ORDER BY p.plan_id FOR UPDATE OF p", list(sns))
    return _plans_by_sn(rows)


def _plans_by_sn(rows: Sequence[Any]) -> dict[str, list[PlanTerm]]:
    found: dict[str, list[PlanTerm]] = {}
    for row in rows:
        found.setdefault(row["sn"], []).append(PlanTerm(_plan(row), _term(row)))
    return found


async def lock_plans(
    conn: Connection, plan_ids: Collection[uuid.UUID]
) -> Rows[uuid.UUID, PlanRecord]:
    if not plan_ids:
        return Rows({})
    rows = await conn.fetch(
        f"SELECT {_PLAN_COLUMNS} FROM plan_view WHERE plan_id = ANY($1::uuid[])"
        " ORDER BY plan_id FOR UPDATE",
        list(plan_ids),
    )
    return Rows.of(_plan(row) for row in rows)


async def plan_terms(
    conn: Connection, plan_ids: Collection[uuid.UUID]
) -> Rows[TermKey, TermRecord]:
    """Every term of the plans; callers hold the plans' locks (`lock_plans`)."""
    if not plan_ids:
        return Rows({})
    rows = await conn.fetch(
        "SELECT * FROM plan_view_terms WHERE plan_id = ANY($1::uuid[])", list(plan_ids)
    )
    return Rows.of(_term(row) for row in rows)


async def reservations(
    conn: Connection, plan_ids: Collection[uuid.UUID]
) -> dict[TermKey, Reserved]:
    """C5-C7: what the approvals the ledger has not answered hold on each term of the plans
    (`Case.reservation`, in SQL); callers hold the plans' locks."""
    if not plan_ids:
        return {}
    rows = await conn.fetch(
        "SELECT plan_id, term_no, count(*) FILTER (WHERE uses_replacement) AS replacements,"
        " count(*) FILTER (WHERE uses_replacement AND flyaway) AS flyaways,"
        " coalesce(sum((repair_split->'from_base_quota'->>'amount')::numeric), 0) AS base,"
        " coalesce(sum((repair_split->'from_consumables_quota'->>'amount')::numeric), 0)"
        " AS consumables FROM cases WHERE plan_id = ANY($1::uuid[])"
        " AND ledger_state = 'pending' AND review_verdict IS DISTINCT FROM 'fraud'"
        " AND term_no IS NOT NULL GROUP BY plan_id, term_no",
        list(plan_ids),
    )
    return {
        (row["plan_id"], row["term_no"]): Reserved(
            row["replacements"], row["flyaways"], row["base"], row["consumables"]
        )
        for row in rows
    }


async def plans_of_cases(conn: Connection, case_ids: Collection[str]) -> set[uuid.UUID]:
    """The plans the cases were decided on; a case's plan never changes, so no lock is needed
    to read it before the plans are locked."""
    if not case_ids:
        return set()
    rows = await conn.fetch(
        "SELECT DISTINCT plan_id FROM cases WHERE case_id = ANY($1::text[])"
        " AND plan_id IS NOT NULL",
        list(case_ids),
    )
    return {row["plan_id"] for row in rows}


async def save_plans(conn: Connection, plans: Rows[uuid.UUID, PlanRecord]) -> None:
    touched = plans.touched()
    if not touched:
        return
    await conn.execute(
        "INSERT INTO plan_view (plan_id, sn, model, sku, region, family, state)"
        " SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],"
        " $6::text[], $7::text[])"
        " ON CONFLICT (plan_id) DO UPDATE SET sn = EXCLUDED.sn, state = EXCLUDED.state",
        [plan.plan_id for plan in touched],
        [plan.sn for plan in touched],
        [plan.model for plan in touched],
        [plan.sku for plan in touched],
        [plan.region for plan in touched],
        [plan.family.value for plan in touched],
        ["terminated" if plan.terminated else "active" for plan in touched],
    )


async def save_terms(conn: Connection, terms: Rows[TermKey, TermRecord]) -> None:
    touched = terms.touched()
    if not touched:
        return
    quotas = [term.quotas for term in touched]
    await conn.execute(
        "INSERT INTO plan_view_terms (plan_id, term_no, term_start, term_end, replacements_left,"
        " flyaways_left, replacements_used, state, plan_year, quota_currency, base_quota_left,"
        " consumables_quota_left, deductible_rate, insurer, liability_cover, policy_no)"
        " SELECT * FROM unnest($1::uuid[], $2::int[], $3::timestamptz[], $4::timestamptz[],"
        " $5::int[], $6::int[], $7::int[], $8::text[], $9::int[], $10::text[], $11::numeric[],"
        " $12::numeric[], $13::numeric[], $14::text[], $15::bool[], $16::text[])"
        " ON CONFLICT (plan_id, term_no) DO UPDATE SET term_start = EXCLUDED.term_start,"
        " term_end = EXCLUDED.term_end, replacements_left = EXCLUDED.replacements_left,"
        " flyaways_left = EXCLUDED.flyaways_left,"
        " replacements_used = EXCLUDED.replacements_used, state = EXCLUDED.state,"
        " base_quota_left = EXCLUDED.base_quota_left,"
        " consumables_quota_left = EXCLUDED.consumables_quota_left,"
        " insurer = EXCLUDED.insurer, policy_no = EXCLUDED.policy_no",
        [term.plan_id for term in touched],
        [term.term_no for term in touched],
        [term.term_start for term in touched],
        [term.term_end for term in touched],
        [term.replacements_left for term in touched],
        [term.flyaways_left for term in touched],
        [term.replacements_used for term in touched],
        ["exhausted" if term.exhausted else "active" for term in touched],
        [q.plan_year if q else None for q in quotas],
        [q.base_quota_left.currency if q else None for q in quotas],
        [q.base_quota_left.amount if q else None for q in quotas],
        [q.consumables_quota_left.amount if q else None for q in quotas],
        [q.deductible_rate if q else None for q in quotas],
        [term.insurer for term in touched],
        [q.liability_cover if q else False for q in quotas],
        [term.policy_no for term in touched],
    )


# Cases ---------------------------------------------------------------------------------------


def _case(row: Any) -> Case:
    share_currency = row["customer_share_currency"]
    return Case(
        case_id=row["case_id"],
        reported_sn=row["reported_sn"],
        model=row["model"],
        plan_id=row["plan_id"],
        cause=IncidentCause(row["cause"]),
        incident_at=row["incident_at"],
        assessed_at=row["assessed_at"],
        outcome=ClaimOutcome(row["outcome"]),
        reason_codes=tuple(row["reason_codes"]),
        rules_applied=tuple(row["rules_applied"]),
        assessment=row["assessment"],
        service_mode=ServiceMode(row["service_mode"]),
        customer_region=row["customer_region"],
        family=PlanFamily(row["family"]),
        uses_replacement=row["uses_replacement"],
        flyaway=row["flyaway"],
        fee=_money(row["fee_amount"], row["fee_currency"]),
        fee_schedule=row["fee_schedule"],
        ledger_state=LedgerState(row["ledger_state"]),
        ledger_reasons=tuple(row["ledger_reasons"]),
        unit_state=UnitState(row["unit_state"]),
        pre_authorisation=(
            PreAuthorisation(row["pre_authorisation"]) if row["pre_authorisation"] else None
        ),
        pre_authorisation_reasons=tuple(row["pre_authorisation_reasons"]),
        review_verdict=ReviewVerdict(row["review_verdict"]) if row["review_verdict"] else None,
        reviewer_id=row["reviewer_id"],
        customer_owes=_money(row["customer_owes_amount"], row["customer_owes_currency"]),
        activity=AgriculturalActivity(row["activity"]) if row["activity"] else None,
        term_no=row["term_no"],
        accessory_sn=row["accessory_sn"],
        repair_split=_split(row["repair_split"]),
        ledger_split=_split(row["ledger_split"]),
        customer_share=_money(row["customer_share_amount"], share_currency),
        insurer_claim=InsurerClaim(
            insurer=row["insurer"],
            state=InsurerClaimState(row["insurer_state"]),
            amount=_money(row["insurer_amount"], share_currency),  # C8: in the quotas' currency
            paid=_money(row["insurer_paid_amount"], share_currency),
            reason=row["insurer_reason"],
            answered_at=row["insurer_answered_at"],
        ),
        decision_id=row["decision_id"],
        final_id=row["final_id"],
        unit_report=row["unit_report"],
    )


async def lock_cases(conn: Connection, case_ids: Collection[str]) -> Rows[str, Case]:
    if not case_ids:
        return Rows({})
    rows = await conn.fetch(
        "SELECT *, assessment->>'activity' AS activity,"
        " assessment->>'customer_region' AS customer_region FROM cases"
        " WHERE case_id = ANY($1::text[]) ORDER BY case_id FOR UPDATE",
        list(case_ids),
    )
    return Rows.of(_case(row) for row in rows)


def _amount(money: Money | None) -> Decimal | None:
    return None if money is None else money.amount


def _currency(money: Money | None) -> str | None:
    return None if money is None else money.currency


def _json(split: RepairSplit | None) -> str | None:
    return None if split is None else split.model_dump_json()


def _progress(case: Case) -> tuple[Any, ...]:
    """What follows a decision: the ledger's answer, the express unit, the review, the insurer."""
    claim = case.insurer_claim
    return (
        case.ledger_state.value,
        list(case.ledger_reasons),
        case.unit_state.value,
        case.pre_authorisation.value if case.pre_authorisation else None,
        list(case.pre_authorisation_reasons),
        case.review_verdict.value if case.review_verdict else None,
        case.reviewer_id,
        _amount(case.customer_owes),
        _currency(case.customer_owes),
        case.term_no,
        _json(case.ledger_split),
        _amount(case.customer_share),
        _currency(case.customer_share),
        claim.insurer,
        claim.state.value,
        _amount(claim.amount),
        _amount(claim.paid),
        claim.reason,
        claim.answered_at,
        case.final_id,
        case.unit_report,
    )


_PROGRESS = (
    "ledger_state, ledger_reasons, unit_state, pre_authorisation, pre_authorisation_reasons,"
    " review_verdict, reviewer_id, customer_owes_amount, customer_owes_currency, term_no,"
    " ledger_split, customer_share_amount, customer_share_currency, insurer, insurer_state,"
    " insurer_amount, insurer_paid_amount, insurer_reason, insurer_answered_at, final_id,"
    " unit_report"
)


def _decided(case: Case) -> tuple[Any, ...]:
    return (
        case.case_id,
        case.reported_sn,
        case.model,
        case.plan_id,
        case.cause.value,
        case.incident_at,
        case.assessed_at,
        case.outcome.value,
        list(case.reason_codes),
        list(case.rules_applied),
        case.uses_replacement,
        case.flyaway,
        _amount(case.fee),
        _currency(case.fee),
        case.fee_schedule,
        case.assessment,
        case.service_mode.value,
        case.family.value,
        case.accessory_sn,
        _json(case.repair_split),
        case.decision_id,
    )


_DECIDED = (
    "case_id, reported_sn, model, plan_id, cause, incident_at, assessed_at, outcome,"
    " reason_codes, rules_applied, uses_replacement, flyaway, fee_amount, fee_currency,"
    " fee_schedule, assessment, service_mode, family, accessory_sn, repair_split, decision_id"
)


def _placeholders(start: int, count: int) -> str:
    return ", ".join(f"${n}" for n in range(start, start + count))


async def save_cases(conn: Connection, cases: Rows[str, Case]) -> None:
    """The cases a batch opened, with one statement, and the progress of those it moved on."""
    if new := cases.new():
        width = len(_decided(new[0])) + len(_progress(new[0]))
        await conn.executemany(
            f"INSERT INTO cases ({_DECIDED}, {_PROGRESS}) VALUES ({_placeholders(1, width)})",
            [(*_decided(case), *_progress(case)) for case in new],
        )
    if changed := cases.changed():
        width = len(_progress(changed[0]))
        await conn.executemany(
            f"UPDATE cases SET ({_PROGRESS}) = ROW({_placeholders(2, width)}) WHERE case_id = $1",
            [(case.case_id, *_progress(case)) for case in changed],
        )


# G4: accessories -----------------------------------------------------------------------------


async def accessories(conn: Connection, accessory_sns: Collection[str]) -> dict[str, AccessoryView]:
    if not accessory_sns:
        return {}
    rows = await conn.fetch(
        "SELECT accessory_sn, drone_sn, state FROM accessory_associations"
        " WHERE accessory_sn = ANY($1::text[])",
        list(accessory_sns),
    )
    return {
        row["accessory_sn"]: AccessoryView(row["drone_sn"], row["state"] == "released")
        for row in rows
    }


async def lock_accessories(
    conn: Connection, accessory_sns: Collection[str]
) -> Rows[str, AccessoryRecord]:
    """The accessories, locked first: an accessory not seen yet has no row to lock."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext(sn)) FROM unnest($1::text[]) AS sn ORDER BY sn",
        sorted(accessory_sns),
    )
    rows = await conn.fetch(
        "SELECT * FROM accessory_associations WHERE accessory_sn = ANY($1::text[])",
        list(accessory_sns),
    )
    return Rows.of(
        AccessoryRecord(
            accessory_sn=row["accessory_sn"],
            accessory_type=row["accessory_type"],
            drone_sn=row["drone_sn"],
            released=row["state"] == "released",
            associated_at=row["associated_at"],
            released_at=row["released_at"],
        )
        for row in rows
    )


async def save_accessories(conn: Connection, found: Rows[str, AccessoryRecord]) -> None:
    touched = found.touched()
    if not touched:
        return
    await conn.execute(
        "INSERT INTO accessory_associations (accessory_sn, accessory_type, drone_sn, state,"
        " associated_at, released_at) SELECT * FROM unnest($1::text[], $2::text[], $3::text[],"
        " $4::text[], $5::timestamptz[], $6::timestamptz[])"
        " ON CONFLICT (accessory_sn) DO UPDATE SET drone_sn = EXCLUDED.drone_sn,"
        " state = EXCLUDED.state, associated_at = EXCLUDED.associated_at,"
        " released_at = EXCLUDED.released_at",
        [row.accessory_sn for row in touched],
        [row.accessory_type for row in touched],
        [row.drone_sn for row in touched],
        ["released" if row.released else "associated" for row in touched],
        [row.associated_at for row in touched],
        [row.released_at for row in touched],
    )


# L1-L4: liability incidents ------------------------------------------------------------------


async def known_incidents(conn: Connection, incident_ids: Collection[str]) -> set[str]:
    if not incident_ids:
        return set()
    rows = await conn.fetch(
        "SELECT incident_id FROM liability_incidents WHERE incident_id = ANY($1::text[])",
        list(incident_ids),
    )
    return {row["incident_id"] for row in rows}


async def liability_paid(conn: Connection, sns: Collection[str]) -> PaidOut:
    """L2: what the insurers already paid out, per term of the plans on the SNs and per kind."""
    if not sns:
        return {}
    rows = await conn.fetch(
        "SELECT plan_id, term_no, kind, currency, sum(settled_amount) AS paid"
        " FROM liability_incidents WHERE plan_id IN ("
        " SELECT plan_id FROM plan_view WHERE sn = ANY($1::text[]))"
        " AND state = 'paid' AND settled_amount IS NOT NULL"
        " GROUP BY plan_id, term_no, kind, currency",
        list(sns),
    )
    paid: dict[tuple[uuid.UUID, int], dict[LiabilityKind, Money]] = {}
    for row in rows:
        paid.setdefault((row["plan_id"], row["term_no"]), {})[LiabilityKind(row["kind"])] = Money(
            amount=row["paid"], currency=row["currency"]
        )
    return paid


async def record_incidents(conn: Connection, incidents: Sequence[RecordedIncident]) -> None:
    if not incidents:
        return
    await conn.executemany(
        "INSERT INTO liability_incidents (incident_id, drone_sn, plan_id, term_no, kind,"
        " location_region, occurred_at, currency, claimed_amount, medical_amount, outcome,"
        " reason_codes, insurer, limit_left, deductible, indicative_payable, state, report)"
        f" VALUES ({_placeholders(1, 18)})",
        [
            (
                incident.report.incident_id,
                incident.report.drone_sn,
                incident.plan_id,
                incident.term_no,
                incident.report.kind.value,
                incident.report.location_region,
                incident.report.occurred_at,
                incident.report.claimed_amount.currency,
                incident.report.claimed_amount.amount,
                _amount(incident.report.medical_amount),
                "routed" if incident.routing else "refused",
                list(incident.reasons),
                incident.claim.claim.insurer,
                incident.routing.limit_left.amount if incident.routing else None,
                incident.routing.deductible.amount if incident.routing else None,
                incident.routing.indicative_payable.amount if incident.routing else None,
                incident.claim.claim.state.value,
                incident.report.model_dump_json(),
            )
            for incident in incidents
        ],
    )


async def lock_liability_claims(
    conn: Connection, incident_ids: Collection[str]
) -> Rows[str, LiabilityClaim]:
    if not incident_ids:
        return Rows({})
    rows = await conn.fetch(
        "SELECT incident_id, insurer, state, currency, settled_amount, insurer_reason,"
        " answered_at FROM liability_incidents WHERE incident_id = ANY($1::text[])"
        " ORDER BY incident_id FOR UPDATE",
        list(incident_ids),
    )
    return Rows.of(
        LiabilityClaim(
            row["incident_id"],
            InsurerClaim(
                insurer=row["insurer"],
                state=InsurerClaimState(row["state"]),
                paid=_money(row["settled_amount"], row["currency"]),
                reason=row["insurer_reason"],
                answered_at=row["answered_at"],
            ),
        )
        for row in rows
    )


async def save_liability_claims(conn: Connection, claims: Rows[str, LiabilityClaim]) -> None:
    changed = claims.changed()
    if not changed:
        return
    await conn.execute(
        "UPDATE liability_incidents AS i SET state = a.state, settled_amount = a.settled,"
        " insurer_reason = a.reason, answered_at = a.answered_at"
        " FROM unnest($1::text[], $2::text[], $3::numeric[], $4::text[], $5::timestamptz[])"
        " AS a (incident_id, state, settled, reason, answered_at)"
        " WHERE i.incident_id = a.incident_id",
        [followed.incident_id for followed in changed],
        [followed.claim.state.value for followed in changed],
        [_amount(followed.claim.paid) for followed in changed],
        [followed.claim.reason for followed in changed],
        [followed.claim.answered_at for followed in changed],
    )
