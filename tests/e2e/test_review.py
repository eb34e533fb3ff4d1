"""C10: a reviewer who finds fraud reverses the case, ends the plan and bars renewals."""

from __future__ import annotations

import pytest

from contracts import topics as t
from contracts.activation import ActivationRefused
from contracts.claims import ClaimOutcome, ClaimReversed
from contracts.coverage import DeductionApplied, PlanTerminated
from contracts.fulfilment import ShipmentRequested
from contracts.money import Money
from contracts.upstream import ReviewConcluded, ReviewConcludedPayload, ReviewVerdict
from simulation import factories as f
from simulation.kafka_io import EventLog, Upstream
from simulation.processes import Platform
from tests.e2e.journeys import activate_plan, claim, eventually, query, renew

pytestmark = pytest.mark.e2e


def _review(case_id: str, verdict: ReviewVerdict, cost: Money | None) -> ReviewConcluded:
    return ReviewConcluded.new(
        ReviewConcludedPayload(
            case_id=case_id,
            reviewer_id="REVIEWER-7",
            verdict=verdict,
            repair_cost=cost,
            concluded_at=f.now(),
        ),
        producer="review-desk",
        correlation_id=case_id,
    )


async def test_c10_fraud_reverses_the_case_terminates_the_plan_and_bars_renewals(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-2y", "air-3")
    decided = await claim(upstream, events, device)
    assert decided.payload.outcome is ClaimOutcome.REPLACEMENT
    case_id = decided.payload.case_id

    cost = Money.of("1450.00", "PLN")
    await upstream.send(t.CLAIM_REVIEWS, case_id, _review(case_id, ReviewVerdict.FRAUD, cost))
    (reversed_,) = await events.wait_for(ClaimReversed, lambda e: e.payload.case_id == case_id)
    assert reversed_.payload.customer_owes == cost
    assert reversed_.payload.reason_codes == ["FRAUD_FOUND"]
    await events.wait_for(PlanTerminated, lambda e: str(e.payload.plan_id) == device.plan_id)

    async def cancelled() -> bool:
        sql = "SELECT state FROM replacements WHERE case_id = $1"
        rows = await query(platform, "fulfilment", sql, case_id)
        return bool(rows) and rows[0]["state"] == "cancelled"

    await eventually(cancelled, "fulfilment cancelled the unshipped replacement")
    (applied,) = await events.wait_for(DeductionApplied, lambda e: e.payload.case_id == case_id)
    await upstream.send(t.PAYMENT_SETTLEMENTS, case_id, f.payment(case_id, applied.payload.fee))

    async def paid() -> bool:
        sql = "SELECT 1 FROM payments WHERE case_id = $1"
        return bool(await query(platform, "fulfilment", sql, case_id))

    await eventually(paid, "fulfilment recorded the late fee")
    assert not events.of(ShipmentRequested, lambda e: e.payload.case_id == case_id)

    (plan,) = await query(
        platform,
        "coverage",
        "SELECT plan_state FROM plan_balances WHERE plan_id = $1::uuid",
        device.plan_id,
    )
    assert plan["plan_state"] == "terminated"

    async def claims_knows() -> bool:
        rows = await query(
            platform,
            "claims",
            "SELECT state FROM plan_view WHERE plan_id = $1::uuid",
            device.plan_id,
        )
        return bool(rows[0]["state"] == "terminated")

    await eventually(claims_knows, "claims' read model shows the plan terminated")
    after = await claim(upstream, events, device)
    assert after.payload.reason_codes == ["PLAN_TERMINATED"]

    async def barred() -> bool:
        rows = await query(
            platform, "activation", "SELECT kind FROM barred WHERE case_id = $1", case_id
        )
        return {row["kind"] for row in rows} == {"device", "account", "person"}

    await eventually(barred, "activation barred the device, the account and the person")
    renewal = await renew(platform, upstream, events, device, f.now())
    assert isinstance(renewal, ActivationRefused)
    assert "RENEWAL_BARRED" in renewal.payload.reason_codes


async def test_c10_an_upheld_review_changes_nothing_and_a_review_of_no_case_is_dead_lettered(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-1y", "mini-3")
    decided = await claim(upstream, events, device)
    case_id = decided.payload.case_id
    await upstream.send(t.CLAIM_REVIEWS, case_id, _review(case_id, ReviewVerdict.UPHELD, None))
    unknown = _review("CASE-NOT-THERE", ReviewVerdict.FRAUD, Money.of("10.00", "PLN"))
    await upstream.send(t.CLAIM_REVIEWS, case_id, unknown)  # same key: handled after the first
    letter = await events.wait_for_dead_letter(
        lambda letter: (
            letter.headers.get("event_id", "") == "" and b"CASE-NOT-THERE" in letter.value
        )
    )
    assert "no case CASE-NOT-THERE" in letter.headers["dlq-reason"]
    (case,) = await query(
        platform, "claims", "SELECT review_verdict FROM cases WHERE case_id = $1", case_id
    )
    assert case["review_verdict"] == "upheld"
    assert not events.of(ClaimReversed, lambda e: e.payload.case_id == case_id)
