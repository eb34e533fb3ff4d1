"""The plan ledger in PostgreSQL: a batch's plans loaded under their row locks, and what the batch
decided written back with one statement per table."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from contracts.agricultural import PlanFamily
from contracts.coverage import TermEndReason
from contracts.money import Money
from services.coverage.domain.ledger import PlanState
from services.coverage.domain.plan import Plan, PlanBook, Quotas, Term

if TYPE_CHECKING:
    from shared.db import Connection


async def load_book(
    conn: Connection, plan_ids: Iterable[uuid.UUID | None], case_ids: Iterable[str] = ()
) -> PlanBook:
    """The plans a batch acts on, locked in a stable order for the whole batch: a second instance
    deciding on the same plan waits here until this batch commits, so the ledger is the final
    guard (C5, C9, P5). Their terms are read after the lock, as that instance left them."""
    ids = sorted({plan_id for plan_id in plan_ids if plan_id is not None})
    if not ids:
        return PlanBook({})
    plans = await conn.fetch(
        "SELECT plan_id, sn, model, sku, region, family, state FROM plans"
        " WHERE plan_id = ANY($1::uuid[]) ORDER BY plan_id FOR UPDATE",
        ids,
    )
    terms: dict[uuid.UUID, list[Term]] = {row["plan_id"]: [] for row in plans}
    for row in await conn.fetch(
        "SELECT * FROM plan_terms WHERE plan_id = ANY($1::uuid[]) ORDER BY plan_id, term_no", ids
    ):
        terms[row["plan_id"]].append(_term(row))
    loaded = {row["plan_id"]: _plan(row, terms[row["plan_id"]]) for row in plans}
    return PlanBook(loaded, await _settled_cases(conn, case_ids))


async def plans_with_ended_terms(conn: Connection, now: datetime, limit: int) -> list[uuid.UUID]:
    """C9: plans in force with a term that ended by `now` and was not announced, locked; those
    another instance holds are skipped, not waited on, so each is announced by one instance."""
    rows = await conn.fetch(
        # Driven from the terms' partial indexes, not from every plan.
        "SELECT plan_id FROM plans WHERE state = 'active' AND plan_id IN (SELECT plan_id"
        " FROM plan_terms WHERE ended_at IS NULL AND (term_end <= $1 OR state = 'exhausted'))"
        " ORDER BY plan_id LIMIT $2 FOR UPDATE SKIP LOCKED",
        now,
        limit,
    )
    return [row["plan_id"] for row in rows]


async def _settled_cases(conn: Connection, case_ids: Iterable[str]) -> set[str]:
    """The cases that already took, or were refused, a deduction: one case, one deduction."""
    cases = sorted(set(case_ids))
    if not cases:
        return set()
    rows = await conn.fetch(
        "SELECT case_id FROM deductions WHERE case_id = ANY($1::text[])"
        " UNION SELECT case_id FROM quota_deductions WHERE case_id = ANY($1::text[])"
        " UNION SELECT case_id FROM refused_deductions WHERE case_id = ANY($1::text[])",
        cases,
    )
    return {row["case_id"] for row in rows}


async def save_book(conn: Connection, book: PlanBook) -> None:
    """The final state of every plan and term the batch touched, and its new rows, once."""
    await _insert_plans(conn, book.opened_plans())
    await _update_plans(conn, book.changed_plans())
    await _insert_terms(conn, book.new_terms())
    await _update_terms(conn, book.changed_terms())
    await _record_serials(conn, book)
    await _record_settlements(conn, book)


async def _insert_plans(conn: Connection, plans: list[Plan]) -> None:
    if not plans:
        return
    await conn.execute(
        "INSERT INTO plans (plan_id, sn, model, sku, region, family, state)"
        " SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],"
        " $6::text[], $7::text[])",
        [plan.plan_id for plan in plans],
        [plan.sn for plan in plans],
        [plan.model for plan in plans],
        [plan.sku for plan in plans],
        [plan.region for plan in plans],
        [plan.family.value for plan in plans],
        [_plan_state(plan) for plan in plans],
    )


async def _update_plans(conn: Connection, plans: list[Plan]) -> None:
    if not plans:
        return
    await conn.execute(
        "UPDATE plans SET sn = changed.sn, state = changed.state"
        " FROM unnest($1::uuid[], $2::text[], $3::text[]) AS changed (plan_id, sn, state)"
        " WHERE plans.plan_id = changed.plan_id",
        [plan.plan_id for plan in plans],
        [plan.sn for plan in plans],
        [_plan_state(plan) for plan in plans],
    )


async def _insert_terms(conn: Connection, terms: list[tuple[uuid.UUID, Term]]) -> None:
    if not terms:
        return
    await conn.executemany(
        "INSERT INTO plan_terms (plan_id, term_no, sku, term_start, term_end,"
        " replacements_total, flyaways_total, replacements_left, flyaways_left, state,"
        " base_quota_left, consumables_quota_left, plan_year, quota_currency, base_quota_total,"
        " consumables_quota_total, deductible_rate, insurer, liability_cover, policy_no,"
        " policy_confirmed_at, ended_by_renewal_at, ended_at, end_reason)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,"
        " $18, $19, $20, $21, $22, $23, $24)",
        [
            (
                plan_id,
                term.term_no,
                term.sku,
                term.start,
                term.end,
                term.replacements_total,
                term.flyaways_total,
                *_balances(term),
                *_quota_terms(term.quotas),
                term.insurer,
                term.quotas.liability_cover if term.quotas else False,
                term.policy_no,
                term.policy_confirmed_at,
                *_end(term),
            )
            for plan_id, term in terms
        ],
    )


async def _update_terms(conn: Connection, terms: list[tuple[uuid.UUID, Term]]) -> None:
    """What a term's events change: its balances (C5-C9), its dates (A4, A5), its policy and its
    announced end (C9)."""
    if not terms:
        return
    await conn.executemany(
        "UPDATE plan_terms SET term_start = $3, term_end = $4, replacements_left = $5,"
        " flyaways_left = $6, state = $7, base_quota_left = $8, consumables_quota_left = $9,"
        " insurer = $10, policy_no = $11, policy_confirmed_at = $12, ended_by_renewal_at = $13,"
        " ended_at = $14, end_reason = $15 WHERE plan_id = $1 AND term_no = $2",
        [
            (
                plan_id,
                term.term_no,
                term.start,
                term.end,
                *_balances(term),
                term.insurer,
                term.policy_no,
                term.policy_confirmed_at,
                *_end(term),
            )
            for plan_id, term in terms
        ],
    )


async def _record_serials(conn: Connection, book: PlanBook) -> None:
    """F3: every SN a plan has lived on; a serial held and released in one batch is both."""
    if book.serials_held:
        await conn.executemany(
            "INSERT INTO plan_serials (plan_id, sn, since, case_id) VALUES ($1, $2, $3, $4)",
            [(held.plan_id, held.sn, held.since, held.case_id) for held in book.serials_held],
        )
    if book.serials_released:
        await conn.executemany(
            "UPDATE plan_serials SET until = $3 WHERE plan_id = $1 AND sn = $2",
            [(gone.plan_id, gone.sn, gone.until) for gone in book.serials_released],
        )


async def _record_settlements(conn: Connection, book: PlanBook) -> None:
    if book.replacement_deductions:
        await conn.executemany(
            "INSERT INTO deductions (case_id, plan_id, term_no, flyaway, fee_amount, fee_currency)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            [
                (taken.case_id, taken.plan_id, taken.term_no, taken.flyaway, *_money(taken.fee))
                for taken in book.replacement_deductions
            ],
        )
    if book.quota_deductions:
        await conn.executemany(
            "INSERT INTO quota_deductions (case_id, plan_id, term_no, currency, from_base_quota,"
            " from_consumables_quota, deductible, shortfall, not_covered, customer_share, split)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            [
                (
                    paid.case_id,
                    paid.plan_id,
                    paid.term_no,
                    paid.split.repair_cost.currency,
                    paid.split.from_base_quota.amount,
                    paid.split.from_consumables_quota.amount,
                    paid.split.deductible.amount,
                    paid.split.shortfall.amount,
                    paid.split.not_covered.amount,
                    paid.split.customer_share.amount,
                    paid.split.model_dump_json(),
                )
                for paid in book.quota_deductions
            ],
        )
    if book.refused_deductions:
        await conn.executemany(
            "INSERT INTO refused_deductions (case_id, plan_id, reason_codes) VALUES ($1, $2, $3)",
            [
                (refused.case_id, refused.plan_id, list(refused.reasons))
                for refused in book.refused_deductions
            ],
        )


def _plan(row: Any, terms: list[Term]) -> Plan:
    return Plan(
        plan_id=row["plan_id"],
        sn=row["sn"],
        model=row["model"],
        sku=row["sku"],
        region=row["region"],
        family=PlanFamily(row["family"]),
        terms=tuple(terms),
        terminated=row["state"] == "terminated",
    )


def _plan_state(plan: Plan) -> str:
    return "terminated" if plan.terminated else "active"


def _term(row: Any) -> Term:
    quotas = None
    currency = row["quota_currency"]
    if currency is not None:
        quotas = Quotas(
            plan_year=row["plan_year"],
            base_total=Money(amount=row["base_quota_total"], currency=currency),
            base_left=Money(amount=row["base_quota_left"], currency=currency),
            consumables_total=Money(amount=row["consumables_quota_total"], currency=currency),
            consumables_left=Money(amount=row["consumables_quota_left"], currency=currency),
            deductible_rate=row["deductible_rate"],
            liability_cover=row["liability_cover"],
        )
    return Term(
        term_no=row["term_no"],
        sku=row["sku"],
        start=row["term_start"],
        end=row["term_end"],
        replacements_total=row["replacements_total"],
        flyaways_total=row["flyaways_total"],
        replacements_left=row["replacements_left"],
        flyaways_left=row["flyaways_left"],
        state=PlanState(row["state"]),
        quotas=quotas,
        insurer=row["insurer"],
        policy_no=row["policy_no"],
        policy_confirmed_at=row["policy_confirmed_at"],
        ended_by_renewal_at=row["ended_by_renewal_at"],
        ended_at=row["ended_at"],
        end_reason=TermEndReason(row["end_reason"]) if row["end_reason"] else None,
    )


def _end(term: Term) -> tuple[Any, ...]:
    """ended_by_renewal_at, ended_at, end_reason."""
    reason = term.end_reason.value if term.end_reason else None
    return (term.ended_by_renewal_at, term.ended_at, reason)


def _balances(term: Term) -> tuple[Any, ...]:
    """replacements_left, flyaways_left, state, base_quota_left, consumables_quota_left."""
    quotas = term.quotas
    return (
        term.replacements_left,
        term.flyaways_left,
        term.state.value,
        quotas.base_left.amount if quotas else None,
        quotas.consumables_left.amount if quotas else None,
    )


def _quota_terms(quotas: Quotas | None) -> tuple[Any, ...]:
    """plan_year, quota_currency, base_quota_total, consumables_quota_total, deductible_rate."""
    if quotas is None:
        return (None, None, None, None, None)
    return (
        quotas.plan_year,
        quotas.base_total.currency,
        quotas.base_total.amount,
        quotas.consumables_total.amount,
        quotas.deductible_rate,
    )


def _money(money: Money) -> tuple[Any, ...]:
    return (money.amount, money.currency)
