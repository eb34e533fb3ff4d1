"""The operations service's SQL: its view of the cases, the dead letters and the replays."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import asyncpg

from contracts.money import Money
from services.operations.domain import CaseFact, DeadLetter, Stage, TermEnd

if TYPE_CHECKING:
    from shared.db import Connection


def _amount(money: Money | None) -> Decimal | None:
    return None if money is None else money.amount


async def record_case_facts(conn: Connection, facts: Sequence[CaseFact]) -> None:
    """Each fact merged into its case, in order: one round trip for the batch."""
    if not facts:
        return
    await conn.executemany(
        "INSERT INTO cases (case_id, stage, plan_id, family, outcome, reasons, decided_at, "
        "currency, fee, from_base_quota, from_consumables_quota, customer_share, updated_at, "
        "finalised_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) "
        "ON CONFLICT (case_id) DO UPDATE SET "
        "stage = greatest(cases.stage, excluded.stage), "
        "plan_id = coalesce(excluded.plan_id, cases.plan_id), "
        "family = coalesce(excluded.family, cases.family), "
        # The final outcome's word stands, whichever of the case's events came last.
        "outcome = CASE WHEN cases.finalised_at IS NOT NULL THEN cases.outcome "
        "ELSE coalesce(excluded.outcome, cases.outcome) END, "
        "reasons = CASE WHEN cases.finalised_at IS NOT NULL OR excluded.outcome IS NULL "
        "THEN cases.reasons ELSE excluded.reasons END, "
        "finalised_at = coalesce(cases.finalised_at, excluded.finalised_at), "
        "decided_at = coalesce(cases.decided_at, excluded.decided_at), "
        "currency = coalesce(excluded.currency, cases.currency), "
        "fee = coalesce(excluded.fee, cases.fee), "
        "from_base_quota = coalesce(excluded.from_base_quota, cases.from_base_quota), "
        "from_consumables_quota = "
        "coalesce(excluded.from_consumables_quota, cases.from_consumables_quota), "
        "customer_share = coalesce(excluded.customer_share, cases.customer_share), "
        "updated_at = greatest(cases.updated_at, excluded.updated_at)",
        [
            (
                fact.case_id,
                int(fact.stage),
                fact.plan_id,
                fact.family,
                fact.outcome,
                list(fact.reasons),
                fact.at if fact.outcome is not None else None,
                fact.currency,
                _amount(fact.fee),
                _amount(fact.from_base_quota),
                _amount(fact.from_consumables_quota),
                _amount(fact.customer_share),
                fact.at,
                fact.at if fact.final else None,
            )
            for fact in facts
        ],
    )


async def record_term_ends(conn: Connection, ended: Sequence[TermEnd]) -> None:
    """C9: each term's end once, however often its announcement is read."""
    if not ended:
        return
    await conn.execute(
        "INSERT INTO term_ends (plan_id, term_no, sn, ended_at, reason, announced_at)"
        " SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::timestamptz[],"
        " $5::text[], $6::timestamptz[]) ON CONFLICT DO NOTHING",
        [end.plan_id for end in ended],
        [end.term_no for end in ended],
        [end.sn for end in ended],
        [end.ended_at for end in ended],
        [end.reason for end in ended],
        [end.announced_at for end in ended],
    )


async def record_dead_letters(pool: asyncpg.Pool, letters: list[DeadLetter]) -> None:
    if not letters:
        return
    await pool.executemany(
        'INSERT INTO dead_letters (topic, partition, "offset", service, reason, error_type, '
        "original_topic, original_partition, original_offset, failed_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
        [
            (
                letter.topic,
                letter.partition,
                letter.offset,
                letter.service,
                letter.reason,
                letter.error_type,
                letter.original_topic,
                letter.original_partition,
                letter.original_offset,
                letter.failed_at,
            )
            for letter in letters
        ],
    )


async def dead_letter(pool: asyncpg.Pool, topic: str, partition: int, offset: int) -> DeadLetter:
    row = await pool.fetchrow(
        'SELECT * FROM dead_letters WHERE topic = $1 AND partition = $2 AND "offset" = $3',
        topic,
        partition,
        offset,
    )
    if row is None:
        raise LookupError(f"no dead letter {topic}/{partition}/{offset}")
    return DeadLetter(**{name: row[name] for name in DeadLetter.__dataclass_fields__})


async def claim_replay(conn: Connection, letter: DeadLetter, operator: str) -> bool:
    """Record that `operator` replays `letter`; False if it was replayed before."""
    claimed = await conn.fetchval(
        'INSERT INTO replays (topic, partition, "offset", replayed_by, sent_to) '
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true",
        letter.topic,
        letter.partition,
        letter.offset,
        operator,
        letter.original_topic,
    )
    return bool(claimed)


async def record_sent_offset(conn: Connection, letter: DeadLetter, offset: int) -> None:
    await conn.execute(
        'UPDATE replays SET sent_offset = $4 WHERE topic = $1 AND partition = $2 AND "offset" = $3',
        letter.topic,
        letter.partition,
        letter.offset,
        offset,
    )


@dataclass(frozen=True)
class CaseBoard:
    """What the dashboard shows of the cases."""

    by_stage: list[dict[str, Any]]
    decisions_per_minute: list[dict[str, Any]]
    refusal_reasons: list[dict[str, Any]]
    money: list[dict[str, Any]]
    recent: list[dict[str, Any]]
    dead_letters: list[dict[str, Any]]
    term_ends_by_reason: list[dict[str, Any]]
    recent_term_ends: list[dict[str, Any]]


async def case_board(pool: asyncpg.Pool) -> CaseBoard:
    async with pool.acquire() as conn:
        by_stage = await conn.fetch(
            "SELECT stage, coalesce(family, 'unknown') AS family, count(*) AS cases "
            "FROM cases GROUP BY 1, 2 ORDER BY 1, 2"
        )
        # Outcomes and refusals are counted from the cases' final outcomes alone: one per case,
        # an approval the ledger refused counted as the refusal it became.
        per_minute = await conn.fetch(
            "SELECT to_char(date_trunc('minute', finalised_at), 'HH24:MI') AS minute, outcome, "
            "count(*) AS decisions FROM cases "
            "WHERE finalised_at > now() - interval '10 minutes' GROUP BY 1, 2 ORDER BY 1, 2"
        )
        reasons = await conn.fetch(
            "SELECT reason, count(*) AS cases FROM cases, unnest(reasons) AS reason "
            "WHERE finalised_at IS NOT NULL AND outcome = 'refused' "
            "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 8"
        )
        money = await conn.fetch(
            # A fee is taken once the ledger deducted the replacement, not at the decision.
            "SELECT currency, "
            "sum(fee) FILTER (WHERE stage >= $1 AND stage <> $2) AS fees, "
            "sum(from_base_quota) AS base_quota, "
            "sum(from_consumables_quota) AS consumables_quota, "
            "sum(customer_share) FILTER (WHERE stage >= $1 AND stage <> $2) AS customer_share "
            "FROM cases WHERE currency IS NOT NULL GROUP BY 1 ORDER BY 1",
            int(Stage.DEDUCTED),
            int(Stage.LEDGER_REFUSED),
        )
        recent = await conn.fetch(
            "SELECT case_id, stage, coalesce(family, '') AS family, coalesce(outcome, '') "
            "AS outcome, reasons, currency, coalesce(customer_share, fee) AS amount "
            "FROM cases ORDER BY updated_at DESC, case_id LIMIT 15"
        )
        letters = await conn.fetch(
            "SELECT d.*, r.replayed_by, r.replayed_at FROM dead_letters d LEFT JOIN replays r "
            'USING (topic, partition, "offset") ORDER BY d.failed_at DESC LIMIT 30'
        )
        ends_by_reason = await conn.fetch(
            "SELECT reason, count(*) AS terms FROM term_ends GROUP BY 1 ORDER BY 2 DESC, 1"
        )
        recent_ends = await conn.fetch(
            "SELECT * FROM term_ends ORDER BY announced_at DESC, plan_id LIMIT 10"
        )
    return CaseBoard(
        by_stage=[
            {"stage": Stage(row["stage"]).label, "family": row["family"], "cases": row["cases"]}
            for row in by_stage
        ],
        decisions_per_minute=[dict(row) for row in per_minute],
        refusal_reasons=[dict(row) for row in reasons],
        money=[dict(row) for row in money],
        recent=[dict(row) | {"stage": Stage(row["stage"]).label} for row in recent],
        dead_letters=[dict(row) for row in letters],
        term_ends_by_reason=[dict(row) for row in ends_by_reason],
        recent_term_ends=[dict(row) for row in recent_ends],
    )
