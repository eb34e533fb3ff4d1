"""C10: a replacement already requested from the warehouse when fraud ends its plan is
recalled. The warehouse answers cancelled, or already dispatched: the case then owes the unit's
value and the unit inherits nothing. The plan stays terminated either way, and the lookup says
what became of the unit."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from contracts import topics as t
from contracts.claims import ClaimOutcome, ClaimReversed
from contracts.coverage import DeductionApplied, PlanInherited, PlanTerminated
from contracts.envelope import Envelope
from contracts.fulfilment import (
    DeviceReplaced,
    RecallOutcome,
    ShipmentCancellationRequested,
    ShipmentRecallConcluded,
    ShipmentRequested,
)
from contracts.money import Money
from contracts.upstream import (
    ReviewConcluded,
    ReviewConcludedPayload,
    ReviewVerdict,
    ShipmentAlreadyDispatched,
    ShipmentAlreadyDispatchedPayload,
    ShipmentCancelled,
    ShipmentCancelledPayload,
)
from services.lookup.answer import ReplacementStatus
from shared.catalogue import consumer_catalogue
from simulation import factories as f
from simulation.kafka_io import EventLog, Upstream
from simulation.processes import Platform
from tests.e2e.journeys import activate_plan, answer_when, claim, eventually, query

pytestmark = pytest.mark.e2e


def warehouse_answer(shipment_id: uuid.UUID, new_sn: str | None) -> Envelope:
    """The warehouse's answer to a cancellation: stopped (no SN), or the unit that left."""
    if new_sn is None:
        return ShipmentCancelled.new(
            ShipmentCancelledPayload(shipment_id=shipment_id, cancelled_at=f.now()),
            producer="warehouse",
            correlation_id=str(shipment_id),
        )
    return ShipmentAlreadyDispatched.new(
        ShipmentAlreadyDispatchedPayload(
            shipment_id=shipment_id, new_sn=new_sn, dispatched_at=f.now()
        ),
        producer="warehouse",
        correlation_id=str(shipment_id),
    )


@pytest.mark.parametrize("left", [False, True], ids=["cancelled", "already-dispatched"])
async def test_c10_a_unit_requested_when_fraud_is_found_is_recalled(
    platform: Platform, upstream: Upstream, events: EventLog, left: bool
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-2y", "air-3")
    decided = await claim(upstream, events, device)
    assert decided.payload.outcome is ClaimOutcome.REPLACEMENT
    case_id = decided.payload.case_id
    (applied,) = await events.wait_for(DeductionApplied, lambda e: e.payload.case_id == case_id)
    await upstream.send(t.PAYMENT_SETTLEMENTS, case_id, f.payment(case_id, applied.payload.fee))
    (shipment,) = await events.wait_for(ShipmentRequested, lambda e: e.payload.case_id == case_id)
    shipment_id = shipment.payload.shipment_id

    review = ReviewConcluded.new(
        ReviewConcludedPayload(
            case_id=case_id,
            reviewer_id="REVIEWER-7",
            verdict=ReviewVerdict.FRAUD,
            repair_cost=Money.of("1450.00", "PLN"),
            concluded_at=f.now(),
        ),
        producer="review-desk",
        correlation_id=case_id,
    )
    await upstream.send(t.CLAIM_REVIEWS, case_id, review)
    await events.wait_for(ClaimReversed, lambda e: e.payload.case_id == case_id)
    (recall,) = await events.wait_for(
        ShipmentCancellationRequested, lambda e: e.payload.shipment_id == shipment_id
    )
    assert recall.payload.case_id == case_id

    new_sn = f.new_serial() if left else None
    answer = warehouse_answer(shipment_id, new_sn)
    if new_sn is not None:
        # The warehouse's own dispatch confirmation comes too: it must not move the plan (F3).
        await upstream.send(
            t.WAREHOUSE_DISPATCHES, str(shipment_id), f.dispatch(shipment_id, new_sn, case_id)
        )
    await upstream.send(t.WAREHOUSE_DISPATCHES, str(shipment_id), answer)
    # Sent again under a new event id: answered once.
    again = answer.model_copy(update={"event_id": uuid.uuid4()})
    await upstream.send(t.WAREHOUSE_DISPATCHES, str(shipment_id), again)
    (concluded,) = await events.wait_for(
        ShipmentRecallConcluded, lambda e: e.payload.shipment_id == shipment_id
    )
    value = consumer_catalogue().product_value("air-3")
    if left:
        assert concluded.payload.outcome is RecallOutcome.ALREADY_DISPATCHED
        assert (concluded.payload.new_sn, concluded.payload.customer_owes) == (new_sn, value)
    else:
        assert concluded.payload.outcome is RecallOutcome.CANCELLED
        assert concluded.payload.customer_owes is None

    async def answered_once() -> bool:
        sql = "SELECT count(*) AS n FROM inbox WHERE event_id = $1"
        rows = await query(platform, "fulfilment", sql, again.event_id)
        return bool(rows[0]["n"] == 1)

    await eventually(answered_once, "fulfilment read the answer sent again")
    assert len(events.of(ShipmentRecallConcluded, lambda e: e.payload.case_id == case_id)) == 1
    assert not events.of(DeviceReplaced, lambda e: e.payload.case_id == case_id)
    assert not events.of(PlanInherited, lambda e: e.payload.case_id == case_id)
    await events.wait_for(PlanTerminated, lambda e: str(e.payload.plan_id) == device.plan_id)
    (plan,) = await query(
        platform,
        "coverage",
        "SELECT sn, plan_state FROM plan_balances WHERE plan_id = $1::uuid",
        device.plan_id,
    )
    assert (plan["sn"], plan["plan_state"]) == (device.sn, "terminated")

    expected = ReplacementStatus.ALREADY_DISPATCHED if left else ReplacementStatus.CANCELLED
    shown = await answer_when(
        platform,
        device.sn,
        lambda a: any(r.status is expected for r in a.replacements),
        f"the replacement {expected.value}",
    )
    (replacement,) = shown.replacements
    owes = replacement.customer_owes
    if left:
        assert owes is not None
        assert (Decimal(owes.amount), owes.currency) == (value.amount, value.currency)
    else:
        assert owes is None
