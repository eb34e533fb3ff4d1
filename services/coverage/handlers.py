"""Coverage's adapters: the plan ledger in PostgreSQL, driven by the pure rules in domain.py."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from contracts.activation import ActivationEvent, PlanActivated, PlanRenewed
from contracts.claims import ClaimDecided, ClaimOutcome, ClaimReversed, ClaimsEvent
from contracts.coverage import (
    CoverageExtended,
    CoverageExtendedPayload,
    CoverageOpened,
    CoverageOpenedPayload,
    DeductionApplied,
    DeductionAppliedPayload,
    DeductionRefused,
    DeductionRefusedPayload,
    PlanExhausted,
    PlanExhaustedPayload,
    PlanInherited,
    PlanInheritedPayload,
    PlanTerminated,
    PlanTerminatedPayload,
)
from contracts.envelope import Envelope
from contracts.fulfilment import DeviceReplaced, FulfilmentEvent
from contracts.topics import COVERAGE_EVENTS
from services.coverage import domain
from shared.messaging import Transaction

PRODUCER = "coverage"


class UnknownPlanError(LookupError):
    pass


async def on_activation_event(event: ActivationEvent, tx: Transaction) -> None:
    if isinstance(event, PlanActivated):
        await open_plan(event, tx)
    elif isinstance(event, PlanRenewed):
        await extend_plan(event, tx)


async def open_plan(event: PlanActivated, tx: Transaction) -> None:
    """P1: open the ledger with the plan's term and entitlements."""
    plan = event.payload
    opened = await tx.conn.fetchval(
        "INSERT INTO plans (plan_id, sn, model, sku, region) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (plan_id) DO NOTHING RETURNING true",
        plan.plan_id,
        plan.sn,
        plan.model,
        plan.sku,
        plan.region,
    )
    if not opened:
        return
    await _add_term(
        tx,
        plan.plan_id,
        1,
        plan.sku,
        plan.term_start,
        plan.term_end,
        plan.replacements,
        plan.flyaways,
    )
    await tx.conn.execute(
        "INSERT INTO plan_serials (plan_id, sn, since) VALUES ($1, $2, $3)",
        plan.plan_id,
        plan.sn,
        plan.term_start,
    )
    _publish(
        tx,
        str(plan.plan_id),
        CoverageOpened.new(
            CoverageOpenedPayload(
                plan_id=plan.plan_id,
                sn=plan.sn,
                model=plan.model,
                sku=plan.sku,
                region=plan.region,
                term_start=plan.term_start,
                term_end=plan.term_end,
                replacements_left=plan.replacements,
                flyaways_left=plan.flyaways,
            ),
            producer=PRODUCER,
            correlation_id=str(plan.plan_id),
            cause=event,
        ),
    )


async def extend_plan(event: PlanRenewed, tx: Transaction) -> None:
    """A3: a renewal adds a term with its own replacements; the plan keeps its id and SN."""
    renewal = event.payload
    await _lock_plan(tx, str(renewal.plan_id))
    added = await _add_term(
        tx,
        renewal.plan_id,
        renewal.term_no,
        renewal.sku,
        renewal.term_start,
        renewal.term_end,
        renewal.replacements,
        renewal.flyaways,
    )
    if not added:
        return
    _publish(
        tx,
        str(renewal.plan_id),
        CoverageExtended.new(
            CoverageExtendedPayload(
                plan_id=renewal.plan_id,
                sn=renewal.sn,
                sku=renewal.sku,
                term_no=renewal.term_no,
                term_start=renewal.term_start,
                term_end=renewal.term_end,
                replacements_left=renewal.replacements,
                flyaways_left=renewal.flyaways,
            ),
            producer=PRODUCER,
            correlation_id=str(renewal.plan_id),
            cause=event,
        ),
    )


async def _add_term(
    tx: Transaction,
    plan_id: uuid.UUID,
    term_no: int,
    sku: str,
    term_start: datetime,
    term_end: datetime,
    replacements: int,
    flyaways: int,
) -> bool:
    return bool(
        await tx.conn.fetchval(
            "INSERT INTO plan_terms (plan_id, term_no, sku, term_start, term_end,"
            " replacements_total, flyaways_total, replacements_left, flyaways_left, state)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $6, $7, 'active')"
            " ON CONFLICT (plan_id, term_no) DO NOTHING RETURNING true",
            plan_id,
            term_no,
            sku,
            term_start,
            term_end,
            replacements,
            flyaways,
        )
    )


async def on_claims_event(event: ClaimsEvent, tx: Transaction) -> None:
    if isinstance(event, ClaimDecided):
        await apply_claim_decision(event, tx)
    elif isinstance(event, ClaimReversed):
        await terminate_plan(event, tx)


async def terminate_plan(event: ClaimReversed, tx: Transaction) -> None:
    """C10: fraud ends the plan at once; nothing more is taken off or paid from it."""
    reversal = event.payload
    await _lock_plan(tx, str(reversal.plan_id))
    ended = await tx.conn.fetchval(
        "UPDATE plans SET state = 'terminated' WHERE plan_id = $1 AND state <> 'terminated'"
        " RETURNING sn",
        reversal.plan_id,
    )
    if ended is None:
        return
    _publish(
        tx,
        str(reversal.plan_id),
        PlanTerminated.new(
            PlanTerminatedPayload(
                plan_id=reversal.plan_id,
                sn=ended,
                case_id=reversal.case_id,
                reason_codes=reversal.reason_codes,
            ),
            producer=PRODUCER,
            correlation_id=reversal.case_id,
            cause=event,
        ),
    )


async def apply_claim_decision(event: ClaimDecided, tx: Transaction) -> None:
    """C5, C6, C9: an approved replacement takes one off the plan, or is refused by the ledger."""
    claim = event.payload
    if claim.outcome is not ClaimOutcome.REPLACEMENT or not claim.uses_replacement:
        return
    if claim.plan_id is None or claim.fee is None:
        raise ValueError(f"replacement decision for case {claim.case_id} names no plan or fee")
    if await tx.conn.fetchval(
        "SELECT 1 FROM deductions WHERE case_id = $1"
        " UNION ALL SELECT 1 FROM refused_deductions WHERE case_id = $1",
        claim.case_id,
    ):
        return  # the case was decided again upstream: one case, one deduction
    plan = await _lock_plan(tx, str(claim.plan_id))
    # The term in force at the incident pays; with none, the latest term explains the refusal.
    term = await tx.conn.fetchrow(
        "SELECT * FROM plan_terms WHERE plan_id = $1 AND term_start <= $2 AND term_end > $2",
        claim.plan_id,
        claim.incident_at,
    ) or await _latest_term(tx, str(claim.plan_id))
    outcome = domain.deduct_replacement(
        _ledger(plan, term), sn=claim.sn, flyaway=claim.flyaway, incident_at=claim.incident_at
    )
    plan_key = str(claim.plan_id)
    if isinstance(outcome, domain.DeductionRefused):
        reasons = [reason.value for reason in outcome.reasons]
        await tx.conn.execute(
            "INSERT INTO refused_deductions (case_id, plan_id, reason_codes) VALUES ($1, $2, $3)",
            claim.case_id,
            claim.plan_id,
            reasons,
        )
        _publish(
            tx,
            plan_key,
            DeductionRefused.new(
                DeductionRefusedPayload(
                    case_id=claim.case_id, plan_id=claim.plan_id, reason_codes=reasons
                ),
                producer=PRODUCER,
                correlation_id=claim.case_id,
                cause=event,
            ),
        )
        return
    ledger = outcome.ledger
    await tx.conn.execute(
        "UPDATE plan_terms SET replacements_left = $3, flyaways_left = $4, state = $5"
        " WHERE plan_id = $1 AND term_no = $2",
        claim.plan_id,
        term["term_no"],
        ledger.replacements_left,
        ledger.flyaways_left,
        ledger.state.value,
    )
    await tx.conn.execute(
        "INSERT INTO deductions (case_id, plan_id, term_no, flyaway, fee_amount, fee_currency)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        claim.case_id,
        claim.plan_id,
        term["term_no"],
        claim.flyaway,
        claim.fee.amount,
        claim.fee.currency,
    )
    _publish(
        tx,
        plan_key,
        DeductionApplied.new(
            DeductionAppliedPayload(
                case_id=claim.case_id,
                plan_id=claim.plan_id,
                sn=claim.sn,
                model=plan["model"],
                plan_region=plan["region"],
                customer_region=claim.customer_region,
                fee=claim.fee,
                flyaway=claim.flyaway,
                term_no=term["term_no"],
                service_mode=claim.service_mode,
                replacements_left=ledger.replacements_left,
                flyaways_left=ledger.flyaways_left,
            ),
            producer=PRODUCER,
            correlation_id=claim.case_id,
            cause=event,
        ),
    )
    if outcome.exhausted:
        _publish(
            tx,
            plan_key,
            PlanExhausted.new(
                PlanExhaustedPayload(plan_id=claim.plan_id, sn=claim.sn, term_no=term["term_no"]),
                producer=PRODUCER,
                correlation_id=plan_key,
                cause=event,
            ),
        )


async def on_fulfilment_event(event: FulfilmentEvent, tx: Transaction) -> None:
    if isinstance(event, DeviceReplaced):
        await move_plan_to_replacement(event, tx)


async def move_plan_to_replacement(event: DeviceReplaced, tx: Transaction) -> None:
    """F3: the replacement unit inherits the plan with its remaining term and replacements."""
    replaced = event.payload
    plan = await _lock_plan(tx, str(replaced.plan_id))
    term = await _latest_term(tx, str(replaced.plan_id))
    moved = domain.inherit(_ledger(plan, term), old_sn=replaced.old_sn, new_sn=replaced.new_sn)
    if moved is None:
        return
    await tx.conn.execute(
        "UPDATE plans SET sn = $2 WHERE plan_id = $1", replaced.plan_id, replaced.new_sn
    )
    await tx.conn.execute(
        "UPDATE plan_serials SET until = $3 WHERE plan_id = $1 AND sn = $2",
        replaced.plan_id,
        replaced.old_sn,
        replaced.dispatched_at,
    )
    await tx.conn.execute(
        "INSERT INTO plan_serials (plan_id, sn, since, case_id) VALUES ($1, $2, $3, $4)",
        replaced.plan_id,
        replaced.new_sn,
        replaced.dispatched_at,
        replaced.case_id,
    )
    _publish(
        tx,
        str(replaced.plan_id),
        PlanInherited.new(
            PlanInheritedPayload(
                plan_id=replaced.plan_id,
                case_id=replaced.case_id,
                old_sn=replaced.old_sn,
                new_sn=replaced.new_sn,
                term_end=moved.term_end,
                replacements_left=moved.replacements_left,
                flyaways_left=moved.flyaways_left,
            ),
            producer=PRODUCER,
            correlation_id=replaced.case_id,
            cause=event,
        ),
    )


async def _lock_plan(tx: Transaction, plan_id: str) -> Any:
    row = await tx.conn.fetchrow("SELECT * FROM plans WHERE plan_id = $1 FOR UPDATE", plan_id)
    if row is None:
        raise UnknownPlanError(f"no plan {plan_id}")
    return row


async def _latest_term(tx: Transaction, plan_id: str) -> Any:
    return await tx.conn.fetchrow(
        "SELECT * FROM plan_terms WHERE plan_id = $1 ORDER BY term_no DESC LIMIT 1", plan_id
    )


def _ledger(plan: Any, term: Any) -> domain.Ledger:
    return domain.Ledger(
        sn=plan["sn"],
        term_start=term["term_start"],
        term_end=term["term_end"],
        replacements_left=term["replacements_left"],
        flyaways_left=term["flyaways_left"],
        state=domain.PlanState(term["state"]),
        terminated=plan["state"] == "terminated",
    )


def _publish(tx: Transaction, plan_key: str, event: Envelope) -> None:
    tx.publish(COVERAGE_EVENTS, plan_key, event)
