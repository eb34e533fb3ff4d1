"""Reads of the read model, each in one snapshot: for one SN, as the records domain.py works on;
for an insurer's month, as domain_bordereau.py works on."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from contracts.claims import RepairSplit
from services.lookup.domain import (
    AccessoryRecord,
    AgriculturalTermRecord,
    CaseRecord,
    DeviceRecord,
    Findings,
    PackRecord,
    PlanRecord,
    RefundRecord,
    ReplacementRecord,
    TermRecord,
    WaitRecord,
)
from services.lookup.domain_bordereau import InsurerClaimRow, LedgerRepair

if TYPE_CHECKING:
    from shared.db import Connection

PACK_COLUMNS = [column.name for column in fields(PackRecord)]


async def findings(conn: Connection, sn: str) -> Findings:
    """Everything that touches `sn` (already normalised, D1): its device, the plans it was ever
    on (bound to it, or moved to or from it by a replacement), their cases and replacements."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        plan_ids = [
            row["plan_id"]
            for row in await conn.fetch(
                "SELECT plan_id FROM plans WHERE original_sn = $1"
                " UNION SELECT plan_id FROM replacements WHERE old_sn = $1 OR new_sn = $1",
                sn,
            )
        ]
        plan_rows = await conn.fetch("SELECT * FROM plans WHERE plan_id = ANY($1)", plan_ids)
        term_rows = await conn.fetch(
            "SELECT * FROM plan_terms WHERE plan_id = ANY($1) ORDER BY plan_id, term_no", plan_ids
        )
        replacement_rows = await conn.fetch(
            "SELECT * FROM replacements WHERE plan_id = ANY($1) OR old_sn = $2 OR new_sn = $2",
            plan_ids,
            sn,
        )
        case_rows = await conn.fetch(
            "SELECT * FROM cases WHERE sn = $1 OR plan_id = ANY($2)", sn, plan_ids
        )
        serials = {sn, *(row["original_sn"] for row in plan_rows)}
        device_rows = await conn.fetch("SELECT * FROM devices WHERE sn = ANY($1)", sorted(serials))
        accessory_rows = await conn.fetch(
            "SELECT * FROM accessories WHERE accessory_sn IN"
            " (SELECT accessory_sn FROM accessories WHERE drone_sn = $1)",
            sn,
        )
        awaited = {sn, *(row["case_id"] for row in case_rows)} | {
            code for row in [*plan_rows, *term_rows] if (code := row["plan_code"]) is not None
        }
        refund_rows = await conn.fetch(
            "SELECT * FROM refunds WHERE case_id = ANY($1)", [row["case_id"] for row in case_rows]
        )
        pack_rows = await conn.fetch(
            "SELECT * FROM packs WHERE plan_id = ANY($1) OR plan_code = ANY($2)",
            plan_ids,
            sorted(code for row in term_rows if (code := row["plan_code"]) is not None),
        )
        wait_rows = await conn.fetch(
            "SELECT * FROM waits WHERE key = ANY($1) AND ended IS NULL", sorted(awaited)
        )
        claim_rows = await conn.fetch(
            f"SELECT {', '.join(f.name for f in fields(InsurerClaimRow))} FROM insurer_claims"
            " WHERE claim_id = ANY($1)",
            [row["case_id"] for row in case_rows],
        )

    terms: dict[Any, list[TermRecord]] = {}
    for row in term_rows:
        terms.setdefault(row["plan_id"], []).append(
            TermRecord(
                term_no=row["term_no"],
                sku=row["sku"],
                term_start=row["term_start"],
                term_end=row["term_end"],
                plan_code=row["plan_code"],
                replacements_total=row["replacements_total"],
                flyaways_total=row["flyaways_total"],
                replacements_left=row["replacements_left"],
                flyaways_left=row["flyaways_left"],
                exhausted=row["exhausted"],
                agricultural=_agricultural(row),
                ended_at=row["ended_at"],
                end_reason=row["end_reason"],
            )
        )
    return Findings(
        sn=sn,
        devices={
            row["sn"]: DeviceRecord(row["sn"], row["model"], row["first_activated_at"])
            for row in device_rows
        },
        packs=[PackRecord(**{column: row[column] for column in PACK_COLUMNS}) for row in pack_rows],
        plans=[
            PlanRecord(
                plan_id=row["plan_id"],
                original_sn=row["original_sn"],
                model=row["model"],
                sku=row["sku"],
                region=row["region"],
                terms=tuple(terms[row["plan_id"]]),
                activated_at=row["activated_at"],
                terminated_at=row["terminated_at"],
                termination_case=row["termination_case"],
                termination_codes=tuple(row["termination_codes"] or ()),
                family=row["family"],
            )
            for row in plan_rows
            if row["plan_id"] in terms  # a plan row always comes with its first term
        ],
        cases=[
            CaseRecord(
                case_id=row["case_id"],
                sn=row["sn"],
                plan_id=row["plan_id"],
                outcome=row["outcome"],
                model=row["model"],
                cause=row["cause"],
                incident_at=row["incident_at"],
                assessed_at=row["assessed_at"],
                decided_at=row["decided_at"],
                reason_codes=tuple(row["reason_codes"]),
                rules_applied=tuple(row["rules_applied"]),
                flyaway=row["flyaway"],
                fee_amount=row["fee_amount"],
                fee_currency=row["fee_currency"],
                fee_schedule=row["fee_schedule"],
                service_mode=row["service_mode"],
                ledger_state=row["ledger_state"],
                ledger_reason_codes=tuple(row["ledger_reason_codes"]),
                reversed_at=row["reversed_at"],
                reversal_codes=tuple(row["reversal_codes"]),
                owed_amount=row["owed_amount"],
                owed_currency=row["owed_currency"],
                family=row["family"],
                accessory_sn=row["accessory_sn"],
                quoted_split=_split(row["quoted_split"]),
                ledger_split=_split(row["ledger_split"]),
                ledger_term_no=row["ledger_term_no"],
                ledger_at=row["ledger_at"],
                final_outcome=row["final_outcome"],
                final_reason_codes=tuple(row["final_reason_codes"]),
                final_refused_by=row["final_refused_by"],
            )
            for row in case_rows
        ],
        replacements=[
            ReplacementRecord(
                case_id=row["case_id"],
                plan_id=row["plan_id"],
                old_sn=row["old_sn"],
                new_sn=row["new_sn"],
                term_no=row["term_no"],
                flyaway=row["flyaway"],
                fee_amount=row["fee_amount"],
                fee_currency=row["fee_currency"],
                deducted_at=row["deducted_at"],
                shipment_id=row["shipment_id"],
                ship_to_region=row["ship_to_region"],
                customer_pays_shipping=row["customer_pays_shipping"],
                shipping_amount=row["shipping_amount"],
                customs_amount=row["customs_amount"],
                charges_currency=row["charges_currency"],
                shipping_settlement=row["shipping_settlement"],
                shipment_requested_at=row["shipment_requested_at"],
                dispatched_at=row["dispatched_at"],
                inherited_at=row["inherited_at"],
                recall_requested_at=row["recall_requested_at"],
                recall_outcome=row["recall_outcome"],
                recall_concluded_at=row["recall_concluded_at"],
                owed_amount=row["owed_amount"],
                owed_currency=row["owed_currency"],
            )
            for row in replacement_rows
        ],
        refunds=[
            RefundRecord(
                refund_id=row["refund_id"],
                case_id=row["case_id"],
                payment_id=row["payment_id"],
                amount=row["amount"],
                currency=row["currency"],
                reason=row["reason"],
                requested_at=row["requested_at"],
                settled_at=row["settled_at"],
            )
            for row in refund_rows
        ],
        accessories=[
            AccessoryRecord(
                accessory_sn=row["accessory_sn"],
                drone_sn=row["drone_sn"],
                accessory_type=row["accessory_type"],
                associated_at=row["associated_at"],
                inherited_from_sn=row["inherited_from_sn"],
                replaced_sn=row["replaced_sn"],
                released_at=row["released_at"],
                replaced_by_sn=row["replaced_by_sn"],
            )
            for row in accessory_rows
        ],
        waits=[
            WaitRecord(
                event_id=row["event_id"],
                service=row["service"],
                dependency=row["dependency"],
                key=row["key"],
                event_type=row["event_type"],
                since=row["since"],
                deadline=row["deadline"],
            )
            for row in wait_rows
        ],
        insurer_claims={row["claim_id"]: InsurerClaimRow(**dict(row)) for row in claim_rows},
    )


def _agricultural(row: Any) -> AgriculturalTermRecord | None:
    """An AG term's cover, once activation or coverage has said what it is."""
    if row["plan_year"] is None:
        return None
    return AgriculturalTermRecord(
        plan_year=row["plan_year"],
        base_quota=row["base_quota"],
        consumables_quota=row["consumables_quota"],
        currency=row["quota_currency"],
        deductible_rate=row["deductible_rate"],
        insurer=row["insurer"],
        liability_cover=row["liability_cover"],
        base_quota_left=row["base_quota_left"],
        consumables_quota_left=row["consumables_quota_left"],
    )


def _split(stored: str | None) -> RepairSplit | None:
    """asyncpg hands jsonb back as its text."""
    return None if stored is None else RepairSplit.model_validate_json(stored)


async def database_answers(conn: Connection) -> bool:
    return bool(await conn.fetchval("SELECT true"))


async def bordereau_facts(
    conn: Connection, insurer: str, start: datetime, end: datetime
) -> tuple[list[LedgerRepair], dict[str, InsurerClaimRow]]:
    """C7, C8, L4: the ledger's AG repairs on the insurer's terms deducted between `start` and
    `end`, and the claims reported to the insurer that those repairs name or that were reported,
    answered or withdrawn in that time."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        repair_rows = await conn.fetch(
            "SELECT c.case_id, c.plan_id, c.ledger_term_no, c.sn,"
            " coalesce(c.model, p.model) AS model, c.ledger_at, c.ledger_split"
            " FROM cases c"
            " JOIN plan_terms t ON t.plan_id = c.plan_id AND t.term_no = c.ledger_term_no"
            " LEFT JOIN plans p ON p.plan_id = c.plan_id"
            " WHERE t.insurer = $1 AND c.ledger_at >= $2 AND c.ledger_at < $3"
            " AND c.ledger_split IS NOT NULL",
            insurer,
            start,
            end,
        )
        case_ids = [row["case_id"] for row in repair_rows]
        claim_rows = await conn.fetch(
            f"SELECT {', '.join(f.name for f in fields(InsurerClaimRow))} FROM insurer_claims"
            " WHERE insurer = $1 AND (claim_id = ANY($4)"
            " OR reported_at >= $2 AND reported_at < $3"
            " OR answered_at >= $2 AND answered_at < $3"
            " OR withdrawn_at >= $2 AND withdrawn_at < $3)",
            insurer,
            start,
            end,
            case_ids,
        )
    repairs = [
        LedgerRepair(
            case_id=row["case_id"],
            plan_id=row["plan_id"],
            term_no=row["ledger_term_no"],
            sn=row["sn"],
            model=row["model"],
            deducted_at=row["ledger_at"],
            split=RepairSplit.model_validate_json(row["ledger_split"]),
        )
        for row in repair_rows
    ]
    claims = {row["claim_id"]: InsurerClaimRow(**dict(row)) for row in claim_rows}
    return repairs, claims
