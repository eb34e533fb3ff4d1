"""The lookup's projection: every event it reads becomes an upsert of the read model.

Events of one plan arrive in order on the coverage and fulfilment topics (keyed by plan id),
but the six topics interleave in any order. So each handler writes only what its event knows,
keyed by SN, plan id or case id, and never needs a row another topic writes: the first value
seen for a fact stays, and what is left on a term only ever goes down.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from contracts.activation import (
    AccessoryAssociated,
    AccessoryReleased,
    ActivationEvent,
    PlanActivated,
    PlanRenewed,
)
from contracts.agricultural import AgriculturalTerm
from contracts.claims import ClaimDecided, ClaimReversed, ClaimsEvent
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
)
from contracts.fulfilment import DeviceReplaced, FulfilmentEvent, ShipmentRequested
from contracts.upstream import (
    AssessmentReported,
    DeviceActivated,
    ExpressReplacementRequested,
    RepairEvent,
)
from shared.messaging import Transaction


async def record_device_activation(event: DeviceActivated, tx: Transaction) -> None:
    """The device's first activation starts its warranty; a later report never moves it."""
    device = event.payload
    await tx.conn.execute(
        "INSERT INTO devices (sn, model, first_activated_at) VALUES ($1, $2, $3)"
        " ON CONFLICT (sn) DO UPDATE SET first_activated_at ="
        " LEAST(devices.first_activated_at, EXCLUDED.first_activated_at)",
        device.sn,
        device.model,
        device.activated_at,
    )


async def on_activation_event(event: ActivationEvent, tx: Transaction) -> None:
    """A1, A3: the plan's binding and each term with its allowance."""
    match event:
        case PlanActivated(payload=plan):
            await tx.conn.execute(
                "INSERT INTO plans (plan_id, original_sn, model, sku, region, plan_code,"
                " activated_at, purchased_at, family) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                " ON CONFLICT (plan_id) DO UPDATE SET plan_code = EXCLUDED.plan_code,"
                " activated_at = EXCLUDED.activated_at, purchased_at = EXCLUDED.purchased_at,"
                " family = EXCLUDED.family",
                plan.plan_id,
                plan.sn,
                plan.model,
                plan.sku,
                plan.region,
                plan.plan_code,
                plan.term_start,
                plan.purchased_at,
                plan.family.value,
            )
            await _term_bought(
                tx,
                plan.plan_id,
                1,
                plan.sku,
                plan.plan_code,
                plan.term_start,
                plan.term_end,
                plan.replacements,
                plan.flyaways,
            )
            await _ag_term(tx, plan.plan_id, 1, plan.agricultural)
        case PlanRenewed(payload=renewal):
            await _term_bought(
                tx,
                renewal.plan_id,
                renewal.term_no,
                renewal.sku,
                renewal.plan_code,
                renewal.term_start,
                renewal.term_end,
                renewal.replacements,
                renewal.flyaways,
            )
            await _ag_term(tx, renewal.plan_id, renewal.term_no, renewal.agricultural)
            await _previous_term_ended(
                tx, renewal.plan_id, renewal.term_no, renewal.previous_term_ends_at
            )
        case AccessoryAssociated(payload=association):
            await tx.conn.execute(
                "INSERT INTO accessories (accessory_sn, drone_sn, accessory_type, associated_at,"
                " inherited_from_sn, replaced_sn) VALUES ($1, $2, $3, $4, $5, $6)"
                " ON CONFLICT (accessory_sn, drone_sn) DO UPDATE SET"
                " associated_at = COALESCE(accessories.associated_at, EXCLUDED.associated_at),"
                " inherited_from_sn ="
                " COALESCE(accessories.inherited_from_sn, EXCLUDED.inherited_from_sn),"
                " replaced_sn = COALESCE(accessories.replaced_sn, EXCLUDED.replaced_sn)",
                association.accessory_sn,
                association.drone_sn,
                association.accessory_type.value,
                association.associated_at,
                association.inherited_from_sn,
                association.replaced_accessory_sn,
            )
        case AccessoryReleased(payload=release):
            await tx.conn.execute(
                "INSERT INTO accessories (accessory_sn, drone_sn, accessory_type, released_at,"
                " replaced_by_sn) VALUES ($1, $2, $3, $4, $5)"
                " ON CONFLICT (accessory_sn, drone_sn) DO UPDATE SET"
                " released_at = COALESCE(accessories.released_at, EXCLUDED.released_at),"
                " replaced_by_sn = COALESCE(accessories.replaced_by_sn, EXCLUDED.replaced_by_sn)",
                release.accessory_sn,
                release.drone_sn,
                release.accessory_type.value,
                release.released_at,
                release.replaced_by_sn,
            )


async def _ag_term(
    tx: Transaction, plan_id: uuid.UUID, term_no: int, cover: AgriculturalTerm | None
) -> None:
    """P4-P6, C7: an AG term's year, quotas, deductible, insurer and liability cover. The row
    exists: the caller has just upserted it. What is left is coverage's, never touched here."""
    if cover is None:
        return
    await tx.conn.execute(
        "UPDATE plan_terms SET plan_year = $3, base_quota = $4, consumables_quota = $5,"
        " quota_currency = $6, deductible_rate = $7, insurer = $8, liability_cover = $9"
        " WHERE plan_id = $1 AND term_no = $2",
        plan_id,
        term_no,
        cover.plan_year,
        cover.base_quota.amount,
        cover.consumables_quota.amount,
        cover.base_quota.currency,
        cover.deductible_rate,
        cover.insurer,
        cover.liability_cover,
    )


async def _term_bought(
    tx: Transaction,
    plan_id: uuid.UUID,
    term_no: int,
    sku: str,
    plan_code: str,
    term_start: datetime,
    term_end: datetime,
    replacements: int,
    flyaways: int,
) -> None:
    await tx.conn.execute(
        "INSERT INTO plan_terms (plan_id, term_no, sku, plan_code, term_start, term_end,"
        " replacements_total, flyaways_total) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (plan_id, term_no) DO UPDATE SET plan_code = EXCLUDED.plan_code,"
        " replacements_total = EXCLUDED.replacements_total,"
        " flyaways_total = EXCLUDED.flyaways_total",
        plan_id,
        term_no,
        sku,
        plan_code,
        term_start,
        term_end,
        replacements,
        flyaways,
    )


async def on_coverage_event(event: CoverageEvent, tx: Transaction) -> None:
    """The ledger: what is left on each term (C5, C6, C9), the plan's moves (F3), its end (C10)."""
    conn = tx.conn
    match event:
        case CoverageOpened(payload=plan):
            await conn.execute(
                "INSERT INTO plans (plan_id, original_sn, model, sku, region, family)"
                " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (plan_id) DO UPDATE SET"
                " family = COALESCE(plans.family, EXCLUDED.family)",
                plan.plan_id,
                plan.sn,
                plan.model,
                plan.sku,
                plan.region,
                plan.family.value,
            )
            await _term_left(
                tx,
                plan.plan_id,
                1,
                plan.sku,
                plan.term_start,
                plan.term_end,
                plan.replacements_left,
                plan.flyaways_left,
            )
            await _ag_term_opened(tx, plan.plan_id, 1, plan.agricultural)
        case CoverageExtended(payload=term):
            await _term_left(
                tx,
                term.plan_id,
                term.term_no,
                term.sku,
                term.term_start,
                term.term_end,
                term.replacements_left,
                term.flyaways_left,
            )
            await _ag_term_opened(tx, term.plan_id, term.term_no, term.agricultural)
            await _previous_term_ended(tx, term.plan_id, term.term_no, term.previous_term_ends_at)
        case QuotaDeductionApplied(payload=taken):
            await conn.execute(
                "UPDATE plan_terms SET"
                " base_quota_left = LEAST(base_quota_left, $3),"
                " consumables_quota_left = LEAST(consumables_quota_left, $4)"
                " WHERE plan_id = $1 AND term_no = $2",
                taken.plan_id,
                taken.term_no,
                taken.base_quota_left.amount,
                taken.consumables_quota_left.amount,
            )
            await _ledger_answered(tx, taken.case_id, taken.plan_id, taken.sn, "applied", [])
            await conn.execute(
                "UPDATE cases SET ledger_split = $2::jsonb, ledger_term_no = $3 WHERE case_id = $1",
                taken.case_id,
                taken.split.model_dump_json(),
                taken.term_no,
            )
        case DeductionApplied(payload=deduction):
            await conn.execute(
                "UPDATE plan_terms SET"
                " replacements_left = LEAST(replacements_left, $3),"
                " flyaways_left = LEAST(flyaways_left, $4)"
                " WHERE plan_id = $1 AND term_no = $2",
                deduction.plan_id,
                deduction.term_no,
                deduction.replacements_left,
                deduction.flyaways_left,
            )
            await _ledger_answered(
                tx, deduction.case_id, deduction.plan_id, deduction.sn, "applied", []
            )
            await _replacement(
                tx,
                _Replacement(
                    case_id=deduction.case_id,
                    plan_id=deduction.plan_id,
                    old_sn=deduction.sn,
                    term_no=deduction.term_no,
                    flyaway=deduction.flyaway,
                    fee_amount=deduction.fee.amount,
                    fee_currency=deduction.fee.currency,
                    deducted_at=event.occurred_at,
                ),
            )
        case DeductionRefused(payload=refusal):
            await _ledger_answered(
                tx, refusal.case_id, refusal.plan_id, None, "refused", refusal.reason_codes
            )
        case PlanExhausted(payload=exhausted):
            await conn.execute(
                "UPDATE plan_terms SET exhausted = true WHERE plan_id = $1 AND term_no = $2",
                exhausted.plan_id,
                exhausted.term_no,
            )
        case PlanTerminated(payload=terminated):
            await conn.execute(
                "UPDATE plans SET terminated_at = COALESCE(terminated_at, $2),"
                " termination_case = COALESCE(termination_case, $3),"
                " termination_codes = COALESCE(termination_codes, $4) WHERE plan_id = $1",
                terminated.plan_id,
                event.occurred_at,
                terminated.case_id,
                terminated.reason_codes,
            )
        case PlanInherited(payload=inherited):
            await _replacement(
                tx,
                _Replacement(
                    case_id=inherited.case_id,
                    plan_id=inherited.plan_id,
                    old_sn=inherited.old_sn,
                    new_sn=inherited.new_sn,
                    inherited_at=event.occurred_at,
                ),
            )


async def _ag_term_opened(
    tx: Transaction, plan_id: uuid.UUID, term_no: int, cover: AgriculturalTerm | None
) -> None:
    """P5: the ledger opened an AG term with its full quotas; what is left only goes down."""
    if cover is None:
        return
    await _ag_term(tx, plan_id, term_no, cover)
    await tx.conn.execute(
        "UPDATE plan_terms SET base_quota_left = LEAST(base_quota_left, $3),"
        " consumables_quota_left = LEAST(consumables_quota_left, $4)"
        " WHERE plan_id = $1 AND term_no = $2",
        plan_id,
        term_no,
        cover.base_quota.amount,
        cover.consumables_quota.amount,
    )


async def _previous_term_ended(
    tx: Transaction, plan_id: uuid.UUID, term_no: int, ends_at: datetime | None
) -> None:
    """A4: an AG renewal bought before expiry ends the previous term at its purchase."""
    if ends_at is None:
        return
    await tx.conn.execute(
        "UPDATE plan_terms SET term_end = LEAST(term_end, $3) WHERE plan_id = $1 AND term_no = $2",
        plan_id,
        term_no - 1,
        ends_at,
    )


async def _term_left(
    tx: Transaction,
    plan_id: uuid.UUID,
    term_no: int,
    sku: str,
    term_start: datetime,
    term_end: datetime,
    replacements_left: int,
    flyaways_left: int,
) -> None:
    await tx.conn.execute(
        "INSERT INTO plan_terms (plan_id, term_no, sku, term_start, term_end, replacements_left,"
        " flyaways_left) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (plan_id, term_no) DO UPDATE SET"
        " replacements_left = LEAST(plan_terms.replacements_left, EXCLUDED.replacements_left),"
        " flyaways_left = LEAST(plan_terms.flyaways_left, EXCLUDED.flyaways_left)",
        plan_id,
        term_no,
        sku,
        term_start,
        term_end,
        replacements_left,
        flyaways_left,
    )


async def _ledger_answered(
    tx: Transaction,
    case_id: str,
    plan_id: uuid.UUID,
    sn: str | None,
    state: str,
    reason_codes: list[str],
) -> None:
    await tx.conn.execute(
        "INSERT INTO cases (case_id, plan_id, sn, ledger_state, ledger_reason_codes)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (case_id) DO UPDATE SET"
        " plan_id = COALESCE(cases.plan_id, EXCLUDED.plan_id),"
        " sn = COALESCE(cases.sn, EXCLUDED.sn),"
        " ledger_state = EXCLUDED.ledger_state,"
        " ledger_reason_codes = EXCLUDED.ledger_reason_codes",
        case_id,
        plan_id,
        sn,
        state,
        reason_codes,
    )


async def on_repair_event(event: RepairEvent, tx: Transaction) -> None:
    """The cause of a case, from the assessment or the express request (X3); a case re-sent by
    the repair system keeps what was reported first."""
    match event:
        case AssessmentReported(payload=report):
            await _case_reported(
                tx,
                report.case_id,
                report.reported_sn,
                report.model,
                report.cause.value,
                report.incident_at,
                report.assessed_at,
            )
        case ExpressReplacementRequested(payload=request):
            await _case_reported(
                tx,
                request.case_id,
                request.sn,
                request.model,
                request.cause.value,
                request.incident_at,
                request.requested_at,
            )


async def _case_reported(
    tx: Transaction,
    case_id: str,
    sn: str,
    model: str,
    cause: str,
    incident_at: datetime,
    assessed_at: datetime,
) -> None:
    await tx.conn.execute(
        "INSERT INTO cases (case_id, sn, model, cause, incident_at, assessed_at)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (case_id) DO UPDATE SET"
        " sn = COALESCE(cases.sn, EXCLUDED.sn),"
        " model = COALESCE(cases.model, EXCLUDED.model),"
        " cause = COALESCE(cases.cause, EXCLUDED.cause),"
        " incident_at = COALESCE(cases.incident_at, EXCLUDED.incident_at),"
        " assessed_at = COALESCE(cases.assessed_at, EXCLUDED.assessed_at)",
        case_id,
        sn,
        model,
        cause,
        incident_at,
        assessed_at,
    )


async def on_claims_event(event: ClaimsEvent, tx: Transaction) -> None:
    """The decision on each case (C1-C6, X4) with its reasons and fee (P2); a reversal (C10)."""
    if isinstance(event, ClaimDecided):
        claim = event.payload
        await tx.conn.execute(
            "INSERT INTO cases (case_id, sn, plan_id, model, incident_at, outcome, decided_at,"
            " reason_codes, rules_applied, flyaway, fee_amount, fee_currency, fee_schedule,"
            " service_mode, family, accessory_sn, quoted_split) VALUES ($1, $2, $3, $4, $5, $6,"
            " $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17::jsonb)"
            " ON CONFLICT (case_id) DO UPDATE SET sn = EXCLUDED.sn,"
            " plan_id = COALESCE(EXCLUDED.plan_id, cases.plan_id), model = EXCLUDED.model,"
            " incident_at = EXCLUDED.incident_at, outcome = EXCLUDED.outcome,"
            " decided_at = EXCLUDED.decided_at, reason_codes = EXCLUDED.reason_codes,"
            " rules_applied = EXCLUDED.rules_applied, flyaway = EXCLUDED.flyaway,"
            " fee_amount = EXCLUDED.fee_amount, fee_currency = EXCLUDED.fee_currency,"
            " fee_schedule = EXCLUDED.fee_schedule, service_mode = EXCLUDED.service_mode,"
            " family = EXCLUDED.family, accessory_sn = EXCLUDED.accessory_sn,"
            " quoted_split = EXCLUDED.quoted_split",
            claim.case_id,
            claim.sn,
            claim.plan_id,
            claim.model,
            claim.incident_at,
            claim.outcome.value,
            event.occurred_at,
            claim.reason_codes,
            claim.rules_applied,
            claim.flyaway,
            claim.fee.amount if claim.fee else None,
            claim.fee.currency if claim.fee else None,
            claim.fee_schedule,
            claim.service_mode.value,
            claim.family.value,
            claim.accessory_sn,
            claim.repair_split.model_dump_json() if claim.repair_split else None,
        )
    elif isinstance(event, ClaimReversed):
        reversal = event.payload
        await tx.conn.execute(
            "INSERT INTO cases (case_id, sn, plan_id, reversed_at, reversal_codes, owed_amount,"
            " owed_currency) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT (case_id) DO UPDATE SET sn = COALESCE(cases.sn, EXCLUDED.sn),"
            " plan_id = COALESCE(cases.plan_id, EXCLUDED.plan_id),"
            " reversed_at = EXCLUDED.reversed_at, reversal_codes = EXCLUDED.reversal_codes,"
            " owed_amount = EXCLUDED.owed_amount, owed_currency = EXCLUDED.owed_currency",
            reversal.case_id,
            reversal.sn,
            reversal.plan_id,
            event.occurred_at,
            reversal.reason_codes,
            reversal.customer_owes.amount,
            reversal.customer_owes.currency,
        )


async def on_fulfilment_event(event: FulfilmentEvent, tx: Transaction) -> None:
    """F1: the shipment and who pays for it; F3: old SN -> new SN when it is dispatched."""
    match event:
        case ShipmentRequested(payload=shipment):
            await _replacement(
                tx,
                _Replacement(
                    case_id=shipment.case_id,
                    plan_id=shipment.plan_id,
                    old_sn=shipment.old_sn,
                    shipment_id=shipment.shipment_id,
                    ship_to_region=shipment.ship_to_region,
                    customer_pays_shipping=shipment.customer_pays_shipping,
                    shipment_requested_at=event.occurred_at,
                ),
            )
        case DeviceReplaced(payload=replaced):
            await _replacement(
                tx,
                _Replacement(
                    case_id=replaced.case_id,
                    plan_id=replaced.plan_id,
                    old_sn=replaced.old_sn,
                    new_sn=replaced.new_sn,
                    shipment_id=replaced.shipment_id,
                    dispatched_at=replaced.dispatched_at,
                ),
            )


@dataclass(frozen=True)
class _Replacement:
    """What one event knows of a replacement case; None where it says nothing."""

    case_id: str
    plan_id: uuid.UUID
    old_sn: str
    new_sn: str | None = None
    term_no: int | None = None
    flyaway: bool | None = None
    fee_amount: Decimal | None = None
    fee_currency: str | None = None
    deducted_at: datetime | None = None
    shipment_id: uuid.UUID | None = None
    ship_to_region: str | None = None
    customer_pays_shipping: bool | None = None
    shipment_requested_at: datetime | None = None
    dispatched_at: datetime | None = None
    inherited_at: datetime | None = None


_FILLED_IN = (
    "new_sn",
    "term_no",
    "flyaway",
    "fee_amount",
    "fee_currency",
    "deducted_at",
    "shipment_id",
    "ship_to_region",
    "customer_pays_shipping",
    "shipment_requested_at",
    "dispatched_at",
    "inherited_at",
)
_UPSERT_REPLACEMENT = (
    "INSERT INTO replacements (case_id, plan_id, old_sn, "
    + ", ".join(_FILLED_IN)
    + ") VALUES ("
    + ", ".join(f"${n}" for n in range(1, len(_FILLED_IN) + 4))
    + ") ON CONFLICT (case_id) DO UPDATE SET "
    + ", ".join(
        f"{column} = COALESCE(replacements.{column}, EXCLUDED.{column})" for column in _FILLED_IN
    )
)


async def _replacement(tx: Transaction, facts: _Replacement) -> None:
    await tx.conn.execute(
        _UPSERT_REPLACEMENT,
        facts.case_id,
        facts.plan_id,
        facts.old_sn,
        *(getattr(facts, column) for column in _FILLED_IN),
    )
