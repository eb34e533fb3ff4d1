"""F1, X3: an express basic fee paid before a claim that is then refused, and a fee paid twice,
are refunded to payments with the amount and the reason; RefundSettled closes each. Nothing is
refunded twice, however often the payment is sent, and the lookup shows each refund."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from contracts import topics as t
from contracts.claims import ClaimFinalised, ClaimOutcome
from contracts.coverage import DeductionApplied
from contracts.fulfilment import PaymentRecorded, RefundReason, RefundRequested
from contracts.upstream import IncidentCause, ServiceMode
from shared.catalogue import consumer_catalogue
from simulation import factories as f
from simulation.kafka_io import EventLog, Upstream
from simulation.processes import Platform
from tests.e2e.journeys import activate_plan, answer_when, eventually, query

pytestmark = pytest.mark.e2e


async def settle(upstream: Upstream, refund: RefundRequested) -> None:
    """Payments: the money is back on the customer's card."""
    asked = refund.payload
    settled = f.refund_settled(asked.refund_id, asked.case_id, asked.payment_id, asked.amount)
    await upstream.send(t.PAYMENT_SETTLEMENTS, refund.payload.case_id, settled)


async def answered(platform: Platform, events: EventLog, again_id: uuid.UUID, case_id: str) -> None:
    """The payment sent again was read and answered with a copy."""

    async def read() -> bool:
        sql = "SELECT count(*) AS n FROM inbox WHERE event_id = $1"
        return bool((await query(platform, "fulfilment", sql, again_id))[0]["n"] == 1)

    await eventually(read, "fulfilment read the payment sent again")
    await events.wait_for(
        PaymentRecorded,
        lambda e: e.payload.case_id == case_id and e.payload.copy_of is not None,
    )


async def settled_in_fulfilment(platform: Platform, case_id: str) -> None:
    async def closed() -> bool:
        sql = "SELECT state FROM refunds WHERE case_id = $1"
        return [row["state"] for row in await query(platform, "fulfilment", sql, case_id)] == [
            "settled"
        ]

    await eventually(closed, f"fulfilment closed the refund of {case_id}")


async def test_x3_an_express_basic_fee_paid_before_a_refused_claim_is_refunded_once(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-1y", "mini-3")
    report = f.assessment(
        device.sn, device.model, IncidentCause.THEFT, service_mode=ServiceMode.EXPRESS_BASIC
    )
    case_id = report.payload.case_id
    fee, _ = consumer_catalogue().replacement_fee(
        device.model, flyaway=False, replacements_used=0, at=f.now()
    )
    paid = f.payment(case_id, fee)
    await upstream.send(t.PAYMENT_SETTLEMENTS, case_id, paid)
    await upstream.send(t.REPAIR_ASSESSMENTS, device.sn, report)

    (final,) = await events.wait_for(ClaimFinalised, lambda e: e.payload.case_id == case_id)
    assert final.payload.outcome is ClaimOutcome.REFUSED
    (refund,) = await events.wait_for(RefundRequested, lambda e: e.payload.case_id == case_id)
    assert (refund.payload.payment_id, refund.payload.amount, refund.payload.reason) == (
        paid.payload.payment_id,
        fee,
        RefundReason.CLAIM_REFUSED,
    )
    (answer,) = await events.wait_for(
        PaymentRecorded, lambda e: e.payload.case_id == case_id and e.payload.copy_of is None
    )
    assert answer.payload.paid_for == "case_refused"

    again = paid.model_copy(update={"event_id": uuid.uuid4()})
    await upstream.send(t.PAYMENT_SETTLEMENTS, case_id, again)
    await answered(platform, events, again.event_id, case_id)
    await settle(upstream, refund)
    await settled_in_fulfilment(platform, case_id)
    assert len(events.of(RefundRequested, lambda e: e.payload.case_id == case_id)) == 1

    shown = await answer_when(
        platform,
        device.sn,
        lambda a: any(r.settled_at is not None for r in a.refunds),
        "the refund settled",
    )
    (line,) = shown.refunds
    assert (line.case_id, line.reason) == (case_id, "CLAIM_REFUSED")
    assert line.amount is not None and Decimal(line.amount.amount) == fee.amount


async def test_f1_a_fee_paid_twice_is_refunded_beyond_the_fee_once(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-2y", "air-3")
    report = f.assessment(device.sn, device.model)
    case_id = report.payload.case_id
    await upstream.send(t.REPAIR_ASSESSMENTS, device.sn, report)
    (applied,) = await events.wait_for(DeductionApplied, lambda e: e.payload.case_id == case_id)
    fee = applied.payload.fee
    first, second = f.payment(case_id, fee), f.payment(case_id, fee)
    await upstream.send(t.PAYMENT_SETTLEMENTS, case_id, first)
    await upstream.send(t.PAYMENT_SETTLEMENTS, case_id, second)

    (refund,) = await events.wait_for(RefundRequested, lambda e: e.payload.case_id == case_id)
    assert (refund.payload.payment_id, refund.payload.amount, refund.payload.reason) == (
        second.payload.payment_id,
        fee,
        RefundReason.FEE_PAID_TWICE,
    )
    assert refund.payload.plan_id == applied.payload.plan_id
    again = second.model_copy(update={"event_id": uuid.uuid4()})
    await upstream.send(t.PAYMENT_SETTLEMENTS, case_id, again)
    await answered(platform, events, again.event_id, case_id)
    await settle(upstream, refund)
    await settled_in_fulfilment(platform, case_id)
    assert len(events.of(RefundRequested, lambda e: e.payload.case_id == case_id)) == 1

    shown = await answer_when(
        platform,
        device.sn,
        lambda a: any(r.settled_at is not None for r in a.refunds),
        "the refund settled",
    )
    (line,) = shown.refunds
    assert (line.payment_id, line.reason) == (second.payload.payment_id, "FEE_PAID_TWICE")
