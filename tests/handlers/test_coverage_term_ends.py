"""C9 on the ledger's clock, on a real database: each term's end announced once (TermEnded), at
its end date, at a renewal's takeover (A4), or with the deduction that used it up; the clock is
the test's, so a term ends without waiting a year."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from contracts.coverage import PlanExhausted, TermEnded, TermEndReason
from services.coverage.app import service
from tests.conftest import Stack
from tests.handlers.support import ServiceHarness
from tests.handlers.test_coverage import (
    START,
    YEAR,
    activation,
    activations,
    agricultural,
    claims,
    decision,
    renewal,
    repair,
    reversal,
)

END = START + YEAR


@pytest.fixture
async def coverage(stack: Stack) -> AsyncIterator[ServiceHarness]:
    async with ServiceHarness.open(service, stack.database_url) as harness:
        yield harness


async def test_c9_a_term_is_announced_once_at_its_end_by_the_ledgers_clock(
    coverage: ServiceHarness,
) -> None:
    plan = activation()
    await coverage.deliver(activations(plan))

    assert (await coverage.run_clock(END - timedelta(seconds=1))).emitted == []
    [ended] = (await coverage.run_clock(END)).events(TermEnded)
    assert (ended.payload.plan_id, ended.payload.term_no) == (plan.payload.plan_id, 1)
    assert (ended.payload.reason, ended.payload.ended_at) == (TermEndReason.TERM_EXPIRED, END)
    assert ended.payload.continued_by_term_no is None  # the plan has expired
    assert ended.correlation_id == str(plan.payload.plan_id) and ended.causation_id is None
    # The ledger down over the end: the next pass, however late, announces nothing again.
    assert (await coverage.run_clock(END + timedelta(days=30))).emitted == []
    [term] = await coverage.rows("SELECT ended_at, end_reason FROM plan_terms")
    assert (term["ended_at"], term["end_reason"]) == (END, "TERM_EXPIRED")


async def test_c9_a_renewal_carries_the_plan_on_from_the_end_of_its_term(
    coverage: ServiceHarness,
) -> None:
    plan = activation()
    await coverage.deliver(activations(plan), activations(renewal(plan, start=END)))

    [ended] = (await coverage.run_clock(END + timedelta(seconds=1))).events(TermEnded)
    assert (ended.payload.term_no, ended.payload.reason) == (1, TermEndReason.TERM_EXPIRED)
    assert ended.payload.continued_by_term_no == 2


async def test_a4_c9_an_ag_renewal_bought_before_expiry_ends_the_term_at_its_purchase(
    coverage: ServiceHarness,
) -> None:
    plan = activation(ag=agricultural())
    bought = END - timedelta(days=10)
    renewed = renewal(plan, start=bought, ag=agricultural(2), previous_term_ends_at=bought)
    await coverage.deliver(activations(plan), activations(renewed))

    [ended] = (await coverage.run_clock(bought)).events(TermEnded)
    assert (ended.payload.term_no, ended.payload.ended_at) == (1, bought)
    assert ended.payload.reason is TermEndReason.RENEWAL_TOOK_OVER
    assert ended.payload.continued_by_term_no == 2
    assert (await coverage.run_clock(END)).emitted == []  # its old end date: already ended


async def test_c9_the_last_replacement_ends_the_term_with_the_deduction_and_only_then(
    coverage: ServiceHarness,
) -> None:
    plan = activation(replacements=1, flyaways=0)
    await coverage.deliver(activations(plan))

    last = decision(plan)
    handled = await coverage.deliver(claims(last))

    [exhausted] = handled.events(PlanExhausted)
    [ended] = handled.events(TermEnded)
    assert ended.payload.reason is TermEndReason.REPLACEMENTS_USED
    assert exhausted.payload.term_no == ended.payload.term_no == 1
    assert ended.payload.ended_at == last.occurred_at  # when the case that used it was decided
    assert handled.emitted[-1].event is ended  # after the deduction and the exhaustion
    assert (await coverage.run_clock(END)).emitted == []


async def test_c9_an_ag_base_quota_spent_ends_the_term(coverage: ServiceHarness) -> None:
    plan = activation(ag=agricultural(base="20000.00"))
    await coverage.deliver(activations(plan))

    handled = await coverage.deliver(claims(repair(plan, "20000.00")))

    [ended] = handled.events(TermEnded)
    assert ended.payload.reason is TermEndReason.BASE_QUOTA_REACHED
    assert (await coverage.run_clock(END)).emitted == []


async def test_c10_a_terminated_plan_ended_with_its_termination_not_at_its_term_end(
    coverage: ServiceHarness,
) -> None:
    plan = activation()
    await coverage.deliver(activations(plan))
    await coverage.deliver(claims(reversal(plan, "CASE-FRAUD")))

    assert (await coverage.run_clock(END)).emitted == []


async def test_c9_two_clocks_at_once_announce_each_term_once(coverage: ServiceHarness) -> None:
    """Two instances' passes at the same moment: SKIP LOCKED gives each plan to one of them."""
    plans = [activation() for _ in range(30)]
    await coverage.deliver(*(activations(plan) for plan in plans))

    await asyncio.gather(*(coverage.run_clock(END) for _ in range(2)))
    await coverage.run_clock(END)  # whatever a skipping pass left

    # Read from the outbox as a whole: each pass's own view would include the other's rows.
    announced = await coverage.rows(
        "SELECT key FROM outbox WHERE event_type = 'coverage.term-ended' ORDER BY key"
    )
    assert [row["key"] for row in announced] == sorted(str(p.payload.plan_id) for p in plans)
