"""C9 through the running services: the ledger announces each term's end once (TermEnded), at
its end date, at a renewal's takeover (A4) and when an AG base quota is spent; across its own
restart and with two instances; claims, the lookup and the dashboard follow it.

A term that ends seconds from now is one bought a year ago, minus those seconds: the clock is
the services' own, the test only chooses when the plan was bought."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from contracts import topics as t
from contracts.agricultural import PlanFamily
from contracts.claims import ClaimDecided, ClaimDecidedPayload, ClaimOutcome
from contracts.coverage import CoverageOpened, PlanExhausted, TermEnded, TermEndReason
from services.activation.domain import add_months
from services.lookup.answer import CoverState
from simulation import factories as f
from simulation.agricultural import base_quota_split
from simulation.kafka_io import EventLog, Upstream
from simulation.processes import Platform
from tests.e2e.ag_journeys import open_ag_plan
from tests.e2e.journeys import (
    Device,
    activate_ag_plan,
    activate_plan,
    answer_when,
    claim,
    eventually,
    query,
    renew_ag,
)

pytestmark = pytest.mark.e2e

# Long enough for activation and the ledger to open the plan before its term ends.
ENDS_IN = timedelta(seconds=20)


async def plan_ending_at(
    platform: Platform, upstream: Upstream, events: EventLog, end: datetime
) -> tuple[Device, datetime]:
    """A consumer 1-Year plan bound a year before `end`; returns it and its term's end."""
    device = await activate_plan(
        platform, upstream, events, "care-refresh-1y", "mini-3", at=add_months(end, -12)
    )
    (opened,) = events.of(CoverageOpened, lambda e: str(e.payload.plan_id) == device.plan_id)
    assert opened.payload.term_end > f.now(), "the term ended before the ledger opened it"
    return device, opened.payload.term_end


async def term_ends(events: EventLog, device: Device) -> list[TermEnded]:
    return await events.wait_for(
        TermEnded, lambda e: str(e.payload.plan_id) == device.plan_id, timeout=90
    )


async def announced_once(platform: Platform, device: Device) -> None:
    """The ledger decided one TermEnded for the plan, and it has been published."""
    rows = await query(
        platform,
        "coverage",
        "SELECT published_at FROM outbox WHERE event_type = 'coverage.term-ended' AND key = $1",
        device.plan_id,
    )
    assert len(rows) == 1, rows
    assert rows[0]["published_at"] is not None


async def test_c9_a_term_is_announced_at_its_end_and_claims_the_lookup_and_dashboard_follow(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device, end = await plan_ending_at(platform, upstream, events, f.now() + ENDS_IN)

    (ended,) = await term_ends(events, device)

    assert (ended.payload.reason, ended.payload.ended_at) == (TermEndReason.TERM_EXPIRED, end)
    assert ended.payload.term_no == 1 and ended.payload.continued_by_term_no is None
    assert ended.occurred_at >= end  # announced at its end, never before
    await announced_once(platform, device)

    shown = await answer_when(
        platform,
        device.sn,
        lambda a: a.plan is not None and a.plan.end_reason is not None,
        "the term's end",
    )
    assert shown.plan is not None
    assert shown.plan.state is CoverState.EXPIRED
    assert (shown.plan.ended_at, shown.plan.end_reason) == (end, "TERM_EXPIRED")

    async def on_the_dashboard() -> bool:
        rows = await query(
            platform,
            "operations",
            "SELECT reason FROM term_ends WHERE plan_id = $1::uuid",
            device.plan_id,
        )
        return [row["reason"] for row in rows] == ["TERM_EXPIRED"]

    await eventually(on_the_dashboard, "the dashboard counts the term's end")

    # C1, C9: a claim filed after the announced end is refused (once no renewal came).
    late = await claim(upstream, events, device, incident_at=end - timedelta(hours=1))
    assert late.payload.outcome is ClaimOutcome.REFUSED
    assert "CLAIM_FILED_AFTER_TERM" in late.payload.reason_codes


async def test_a4_c9_a_renewal_taking_over_ends_the_ag_term_at_its_purchase(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device, _ = await activate_ag_plan(
        platform, upstream, events, "T25", at=f.now() - timedelta(days=360)
    )
    bought = f.now() - timedelta(minutes=5)

    await renew_ag(platform, upstream, events, device, "ag-care-renewal-2", purchased_at=bought)

    (ended,) = await term_ends(events, device)
    assert ended.payload.reason is TermEndReason.RENEWAL_TOOK_OVER
    assert (ended.payload.term_no, ended.payload.ended_at) == (1, bought)
    assert ended.payload.continued_by_term_no == 2
    await announced_once(platform, device)


async def test_c9_an_ag_base_quota_spent_ends_the_term(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await open_ag_plan(platform, upstream, events, "T40")
    case_id = f"QUOTA-{uuid.uuid4().hex[:10]}"
    spent = ClaimDecided.new(
        ClaimDecidedPayload(
            case_id=case_id,
            sn=device.sn,
            model="T40",
            plan_id=uuid.UUID(device.plan_id),
            outcome=ClaimOutcome.REPAIR,
            incident_at=f.now() - timedelta(hours=1),
            rules_applied=["C7"],
            customer_region="CN",
            family=PlanFamily.AGRICULTURAL,
            repair_split=base_quota_split("20000.00"),
        ),
        producer="claims",
        correlation_id=case_id,
    )

    await upstream.send(t.CLAIMS_EVENTS, case_id, spent)

    (ended,) = await term_ends(events, device)
    assert ended.payload.reason is TermEndReason.BASE_QUOTA_REACHED
    assert events.of(PlanExhausted, lambda e: str(e.payload.plan_id) == device.plan_id)
    await announced_once(platform, device)


async def test_c9_a_term_that_ended_while_the_ledger_was_down_is_announced_once_on_its_return(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device, end = await plan_ending_at(platform, upstream, events, f.now() + ENDS_IN)
    coverage = platform.process("coverage")
    coverage.terminate()
    try:

        async def past_the_end() -> bool:
            return f.now() > end

        await eventually(past_the_end, "the term's end has come", timeout=60)
        assert events.of(TermEnded, lambda e: str(e.payload.plan_id) == device.plan_id) == []
    finally:
        coverage.start()
        await coverage.wait_started()

    (ended,) = await term_ends(events, device)
    assert (ended.payload.reason, ended.payload.ended_at) == (TermEndReason.TERM_EXPIRED, end)
    await announced_once(platform, device)


async def test_c9_two_ledger_instances_announce_each_term_once(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    second = platform.process("coverage", "2")
    second.start()
    try:
        await second.wait_started()
        end = f.now() + ENDS_IN + timedelta(seconds=10)
        devices = [(await plan_ending_at(platform, upstream, events, end))[0] for _ in range(4)]
        for device in devices:
            await term_ends(events, device)
    finally:
        second.terminate()
    for device in devices:
        await announced_once(platform, device)
