"""Fulfilment's batch handlers on a real database (F1, F3)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from contracts import topics
from contracts.coverage import DeductionApplied, DeductionAppliedPayload
from contracts.envelope import Envelope
from contracts.fulfilment import DeviceReplaced, ShipmentRequested
from contracts.money import Money
from services.fulfilment.app import service
from simulation import factories
from tests.conftest import Stack
from tests.handlers.support import ServiceHarness


@pytest.fixture
async def fulfilment(stack: Stack) -> AsyncIterator[ServiceHarness]:
    async with ServiceHarness.open(service, stack.database_url) as harness:
        yield harness


def deduction(fee: Money) -> DeductionApplied:
    case_id = f"CASE-{uuid.uuid4().hex[:10]}"
    return DeductionApplied.new(
        DeductionAppliedPayload(
            case_id=case_id,
            plan_id=uuid.uuid4(),
            sn=factories.new_serial(),
            model="mavic-3-pro",
            plan_region="EU",
            customer_region="EU",
            fee=fee,
            flyaway=False,
            replacements_left=1,
            flyaways_left=1,
        ),
        producer="coverage",
        correlation_id=case_id,
    )


async def test_a_deduction_and_its_fee_in_one_batch_ship_once_then_the_dispatch_swaps_the_sn(
    fulfilment: ServiceHarness,
) -> None:
    """F1: paid, the replacement ships; F3: the dispatch announces old SN -> new SN."""
    fee = Money(amount=Decimal("99.00"), currency="EUR")
    deducted = deduction(fee)
    case_id = deducted.payload.case_id
    paid = factories.payment(case_id, fee)

    shipped = await fulfilment.deliver(
        (topics.COVERAGE_EVENTS, deducted), (topics.PAYMENT_SETTLEMENTS, paid)
    )

    [request] = shipped.events(ShipmentRequested)
    assert request.payload.case_id == case_id
    assert request.causation_id in {deducted.event_id, paid.event_id}
    assert shipped.emitted[0].key == str(deducted.payload.plan_id)
    new_sn = factories.new_serial()
    swapped = await fulfilment.deliver(
        (
            topics.WAREHOUSE_DISPATCHES,
            factories.dispatch(request.payload.shipment_id, new_sn, case_id),
        )
    )
    [replaced] = swapped.events(DeviceReplaced)
    assert (replaced.payload.old_sn, replaced.payload.new_sn) == (deducted.payload.sn, new_sn)
    assert [row["state"] for row in await fulfilment.rows("SELECT state FROM replacements")] == [
        "dispatched"
    ]


async def test_a_dispatch_of_a_shipment_never_requested_is_refused_alone(
    fulfilment: ServiceHarness,
) -> None:
    unknown: Envelope = factories.dispatch(uuid.uuid4(), factories.new_serial(), "CASE-NONE")

    handled = await fulfilment.deliver((topics.WAREHOUSE_DISPATCHES, unknown))

    assert list(handled.rejected) == [0]
    assert "was requested" in str(handled.rejected[0])
    assert await fulfilment.rows("SELECT event_id FROM inbox") == []
