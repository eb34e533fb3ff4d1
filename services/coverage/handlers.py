"""Coverage's adapters: the plan ledger in PostgreSQL, driven by the pure rules in domain.py."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from contracts.activation import ActivationEvent, PlanActivated, PlanRenewed
from contracts.agricultural import AgriculturalTerm, PlanFamily
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
    QuotaDeductionApplied,
    QuotaDeductionAppliedPayload,
    TermConfirmed,
    TermConfirmedPayload,
)
from contracts.envelope import Envelope
from contracts.fulfilment import DeviceReplaced, FulfilmentEvent
from contracts.insurer import InsurerResponseEvent, PolicyConfirmed
from contracts.money import Money
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
        "INSERT INTO plans (plan_id, sn, model, sku, region, family)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (plan_id) DO NOTHING RETURNING true",
        plan.plan_id,
        plan.sn,
        plan.model,
        plan.sku,
        plan.region,
        plan.family.value,
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
        plan.agricultural,
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
                family=plan.family,
                agricultural=plan.agricultural,
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
        renewal.agricultural,
    )
    if not added:
        return
    previous_end = None
    if renewal.previous_term_ends_at is not None:
        previous_end = await _end_previous_term(
            tx, renewal.plan_id, renewal.term_no, renewal.previous_term_ends_at
        )
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
                agricultural=renewal.agricultural,
                previous_term_ends_at=previous_end,
            ),
            producer=PRODUCER,
            correlation_id=str(renewal.plan_id),
            cause=event,
        ),
    )


async def _end_previous_term(
    tx: Transaction, plan_id: uuid.UUID, term_no: int, at: datetime
) -> datetime | None:
    """A4: a renewal bought before expiry ends the previous term at that moment."""
    row = await tx.conn.fetchrow(
        "SELECT * FROM plan_terms WHERE plan_id = $1 AND term_no < $2"
        " ORDER BY term_no DESC LIMIT 1",
        plan_id,
        term_no,
    )
    if row is None:
        return None
    ended = domain.end_for_renewal(_term_dates(row), at)
    if ended.ended_by_renewal_at is None:
        return None
    await tx.conn.execute(
        "UPDATE plan_terms SET term_end = $3, ended_by_renewal_at = $3"
        " WHERE plan_id = $1 AND term_no = $2",
        plan_id,
        row["term_no"],
        ended.end,
    )
    return ended.end


async def _add_term(
    tx: Transaction,
    plan_id: uuid.UUID,
    term_no: int,
    sku: str,
    term_start: datetime,
    term_end: datetime,
    replacements: int,
    flyaways: int,
    agricultural: AgriculturalTerm | None = None,
) -> bool:
    """A term with its entitlements: replacements (CR), or the two AG quotas (P5)."""
    ag = agricultural
    if ag is not None and ag.base_quota.currency != ag.consumables_quota.currency:
        raise ValueError(f"plan {plan_id}: the two quotas of a term must share a currency")
    return bool(
        await tx.conn.fetchval(
            "INSERT INTO plan_terms (plan_id, term_no, sku, term_start, term_end,"
            " replacements_total, flyaways_total, replacements_left, flyaways_left, state,"
            " plan_year, quota_currency, base_quota_total, base_quota_left,"
            " consumables_quota_total, consumables_quota_left, deductible_rate, insurer,"
            " liability_cover)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $6, $7, 'active', $8, $9, $10, $10, $11, $11,"
            " $12, $13, $14)"
            " ON CONFLICT (plan_id, term_no) DO NOTHING RETURNING true",
            plan_id,
            term_no,
            sku,
            term_start,
            term_end,
            replacements,
            flyaways,
            ag.plan_year if ag else None,
            ag.base_quota.currency if ag else None,
            ag.base_quota.amount if ag else None,
            ag.consumables_quota.amount if ag else None,
            ag.deductible_rate if ag else None,
            ag.insurer if ag else None,
            ag.liability_cover if ag else False,
        )
    )


async def on_claims_event(event: ClaimsEvent, tx: Transaction) -> None:
    if isinstance(event, ClaimDecided):
        if event.payload.outcome is ClaimOutcome.REPAIR:
            await apply_repair_split(event, tx)
        else:
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


async def _already_deducted(tx: Transaction, case_id: str) -> bool:
    return bool(
        await tx.conn.fetchval(
            "SELECT 1 FROM deductions WHERE case_id = $1"
            " UNION ALL SELECT 1 FROM quota_deductions WHERE case_id = $1"
            " UNION ALL SELECT 1 FROM refused_deductions WHERE case_id = $1",
            case_id,
        )
    )


async def apply_repair_split(event: ClaimDecided, tx: Transaction) -> None:
    """C7, P5, C9: take an AG repair off the term's quotas under the plan's row lock.

    The quote in the decision was priced on claims' read model; the ledger re-prices it against
    the real balances and publishes what it actually took.
    """
    claim = event.payload
    quote = claim.repair_split
    if claim.plan_id is None or quote is None:
        raise ValueError(f"repair decision for case {claim.case_id} names no plan or split")
    if await _already_deducted(tx, claim.case_id):
        return  # one case, one deduction
    plan = await _lock_plan(tx, str(claim.plan_id))
    term = await tx.conn.fetchrow(
        "SELECT * FROM plan_terms WHERE plan_id = $1 AND term_start <= $2 AND term_end > $2"
        " ORDER BY term_no DESC LIMIT 1",
        claim.plan_id,
        claim.incident_at,
    ) or await _latest_term(tx, str(claim.plan_id))
    plan_key = str(claim.plan_id)
    if plan["family"] != PlanFamily.AGRICULTURAL.value or term["base_quota_left"] is None:
        await _refuse(
            tx, event, claim.plan_id, [domain.DeductionRefusal.NOT_AN_AGRICULTURAL_PLAN.value]
        )
        return
    outcome = domain.take_from_quotas(
        _quota_ledger(plan, term), sn=claim.sn, incident_at=claim.incident_at, quote=quote
    )
    if isinstance(outcome, domain.DeductionRefused):
        await _refuse(tx, event, claim.plan_id, [reason.value for reason in outcome.reasons])
        return
    ledger, split = outcome.ledger, outcome.split
    await tx.conn.execute(
        "UPDATE plan_terms SET base_quota_left = $3, consumables_quota_left = $4, state = $5"
        " WHERE plan_id = $1 AND term_no = $2",
        claim.plan_id,
        term["term_no"],
        ledger.base_quota_left.amount,
        ledger.consumables_quota_left.amount,
        ledger.state.value,
    )
    await tx.conn.execute(
        "INSERT INTO quota_deductions (case_id, plan_id, term_no, currency, from_base_quota,"
        " from_consumables_quota, deductible, shortfall, not_covered, customer_share, split)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        claim.case_id,
        claim.plan_id,
        term["term_no"],
        split.repair_cost.currency,
        split.from_base_quota.amount,
        split.from_consumables_quota.amount,
        split.deductible.amount,
        split.shortfall.amount,
        split.not_covered.amount,
        split.customer_share.amount,
        split.model_dump_json(),
    )
    _publish(
        tx,
        plan_key,
        QuotaDeductionApplied.new(
            QuotaDeductionAppliedPayload(
                case_id=claim.case_id,
                plan_id=claim.plan_id,
                sn=claim.sn,
                model=plan["model"],
                term_no=term["term_no"],
                plan_region=plan["region"],
                customer_region=claim.customer_region,
                split=split,
                base_quota_left=ledger.base_quota_left,
                consumables_quota_left=ledger.consumables_quota_left,
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
                PlanExhaustedPayload(
                    plan_id=claim.plan_id,
                    sn=claim.sn,
                    term_no=term["term_no"],
                    reason_code=domain.BASE_QUOTA_REACHED,
                ),
                producer=PRODUCER,
                correlation_id=plan_key,
                cause=event,
            ),
        )


async def _refuse(
    tx: Transaction, event: ClaimDecided, plan_id: uuid.UUID, reasons: list[str]
) -> None:
    claim = event.payload
    await tx.conn.execute(
        "INSERT INTO refused_deductions (case_id, plan_id, reason_codes) VALUES ($1, $2, $3)",
        claim.case_id,
        plan_id,
        reasons,
    )
    _publish(
        tx,
        str(plan_id),
        DeductionRefused.new(
            DeductionRefusedPayload(case_id=claim.case_id, plan_id=plan_id, reason_codes=reasons),
            producer=PRODUCER,
            correlation_id=claim.case_id,
            cause=event,
        ),
    )


async def on_insurer_response(event: InsurerResponseEvent, tx: Transaction) -> None:
    if isinstance(event, PolicyConfirmed):
        await confirm_term(event, tx)


async def confirm_term(event: PolicyConfirmed, tx: Transaction) -> None:
    """A5: the insurer's electronic policy sets the exact dates of the term it covers."""
    policy = event.payload
    plan = await _lock_plan(tx, str(policy.plan_id))
    if plan["family"] != PlanFamily.AGRICULTURAL.value:
        raise ValueError(f"plan {policy.plan_id} is not an agricultural plan: no policy to confirm")
    rows = await tx.conn.fetch(
        "SELECT * FROM plan_terms WHERE plan_id = $1 ORDER BY term_no", policy.plan_id
    )
    term = domain.term_for_policy(
        [_term_dates(row) for row in rows], policy.policy_no, policy.term_start
    )
    confirmed = domain.confirm_policy(
        term, policy_no=policy.policy_no, start=policy.term_start, end=policy.term_end
    )
    current = next(row for row in rows if row["term_no"] == term.term_no)
    if (
        current["policy_no"] == confirmed.policy_no
        and current["term_start"] == confirmed.start
        and current["term_end"] == confirmed.end
        and current["insurer"] == policy.insurer
    ):
        return  # the same policy again: nothing changes
    await tx.conn.execute(
        "UPDATE plan_terms SET term_start = $3, term_end = $4, policy_no = $5, insurer = $6,"
        " policy_confirmed_at = now() WHERE plan_id = $1 AND term_no = $2",
        policy.plan_id,
        term.term_no,
        confirmed.start,
        confirmed.end,
        confirmed.policy_no,
        policy.insurer,
    )
    _publish(
        tx,
        str(policy.plan_id),
        TermConfirmed.new(
            TermConfirmedPayload(
                plan_id=policy.plan_id,
                sn=plan["sn"],
                term_no=term.term_no,
                policy_no=policy.policy_no,
                insurer=policy.insurer,
                term_start=confirmed.start,
                term_end=confirmed.end,
            ),
            producer=PRODUCER,
            correlation_id=str(policy.plan_id),
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


def _quota_ledger(plan: Any, term: Any) -> domain.QuotaLedger:
    currency = term["quota_currency"]
    return domain.QuotaLedger(
        sn=plan["sn"],
        term_start=term["term_start"],
        term_end=term["term_end"],
        base_quota_left=Money(amount=term["base_quota_left"], currency=currency),
        consumables_quota_left=Money(amount=term["consumables_quota_left"], currency=currency),
        deductible_rate=term["deductible_rate"],
        state=domain.PlanState(term["state"]),
        terminated=plan["state"] == "terminated",
    )


def _term_dates(row: Any) -> domain.TermDates:
    return domain.TermDates(
        term_no=row["term_no"],
        start=row["term_start"],
        end=row["term_end"],
        policy_no=row["policy_no"],
        ended_by_renewal_at=row["ended_by_renewal_at"],
    )


def _publish(tx: Transaction, plan_key: str, event: Envelope) -> None:
    tx.publish(COVERAGE_EVENTS, plan_key, event)
