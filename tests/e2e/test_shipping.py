"""Shipping and customs of a replacement outside the plan's region (F1), through the running
platform: priced from the catalogue, waited for as the fee is, or billed on delivery on the
customer's documented choice; the same region ships free. The lookup shows what is owed."""

from __future__ import annotations

import pytest

from contracts import topics as t
from contracts.claims import ClaimOutcome
from contracts.coverage import DeductionApplied, PlanInherited
from contracts.fulfilment import (
    PaymentRecorded,
    ShipmentRequested,
    ShippingCharges,
    ShippingChargesQuoted,
)
from contracts.money import Money
from contracts.upstream import ShippingChoice
from services.lookup.answer import LookupAnswer, ShippingChargesOut
from simulation import factories as f
from simulation.kafka_io import EventLog, Upstream
from simulation.processes import Platform
from tests.e2e.journeys import activate_plan, answer_when, claim, replace_unit

pytestmark = pytest.mark.e2e

# shared/catalogue/consumer.toml [shipping.routes.PL]: the demo's plans are bought in PL.
PL_TO_GB = (Money.of("35.00", "USD"), Money.of("30.00", "USD"))
PL_TO_DE = (Money.of("25.00", "USD"), Money.of("0.00", "USD"))


async def shown_charges(platform: Platform, sn: str, settlement: str) -> ShippingChargesOut:
    """The lookup's shipping charges of the SN's one replacement, once they read `settlement`."""

    def settled(answer: LookupAnswer) -> bool:
        charges = [r.shipping_charges for r in answer.replacements]
        return len(charges) == 1 and charges[0] is not None and charges[0].settlement == settlement

    answer = await answer_when(platform, sn, settled, f"shipping and customs {settlement}")
    shown = answer.replacements[0].shipping_charges
    assert shown is not None
    return shown


async def test_f1_outside_the_plans_region_the_replacement_waits_for_shipping_and_customs(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-1y", "air-3")
    old_sn = device.sn
    decided = await claim(upstream, events, device, customer_region="GB")
    assert decided.payload.outcome is ClaimOutcome.REPLACEMENT
    case_id = decided.payload.case_id
    (applied,) = await events.wait_for(DeductionApplied, lambda e: e.payload.case_id == case_id)
    (quote,) = await events.wait_for(ShippingChargesQuoted, lambda e: e.payload.case_id == case_id)
    assert (quote.payload.shipping, quote.payload.customs) == PL_TO_GB
    assert (quote.payload.plan_region, quote.payload.ship_to_region) == ("PL", "GB")
    assert quote.payload.fee == applied.payload.fee

    # The lookup shows what the customer owes before anything ships.
    owed = await shown_charges(platform, old_sn, "owed")
    assert (owed.shipping.amount, owed.customs.amount) == ("35.00", "30.00")

    fee = f.payment(case_id, applied.payload.fee)
    await upstream.send(t.PAYMENT_SETTLEMENTS, case_id, fee)
    await events.wait_for(PaymentRecorded, lambda e: e.payload.payment_id == fee.payload.payment_id)
    assert not events.of(ShipmentRequested, lambda e: e.payload.case_id == case_id)

    charges = f.payment(case_id, PL_TO_GB[0] + PL_TO_GB[1])
    await upstream.send(t.PAYMENT_SETTLEMENTS, case_id, charges)
    (shipment,) = await events.wait_for(ShipmentRequested, lambda e: e.payload.case_id == case_id)
    assert shipment.payload.customer_pays_shipping
    assert shipment.payload.shipping_charges == ShippingCharges(
        shipping=PL_TO_GB[0], customs=PL_TO_GB[1], settlement="paid"
    )
    assert (await shown_charges(platform, old_sn, "paid")).customs.amount == "30.00"


async def test_f1_on_the_customers_documented_choice_it_ships_with_charges_billed_on_delivery(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-1y", "mini-3")
    old_sn = device.sn
    decided = await claim(upstream, events, device, customer_region="DE")
    case_id = decided.payload.case_id
    (applied,) = await events.wait_for(DeductionApplied, lambda e: e.payload.case_id == case_id)
    await events.wait_for(ShippingChargesQuoted, lambda e: e.payload.case_id == case_id)

    billed = f.payment(
        case_id, applied.payload.fee, shipping_choice=ShippingChoice.BILL_ON_DELIVERY
    )
    await upstream.send(t.PAYMENT_SETTLEMENTS, case_id, billed)
    (shipment,) = await events.wait_for(ShipmentRequested, lambda e: e.payload.case_id == case_id)
    assert shipment.payload.shipping_charges == ShippingCharges(
        shipping=PL_TO_DE[0], customs=PL_TO_DE[1], settlement="billed_on_delivery"
    )
    shown = await shown_charges(platform, old_sn, "billed_on_delivery")
    assert (shown.shipping.amount, shown.customs.amount) == ("25.00", "0.00")


async def test_f1_the_plans_region_ships_free_with_nothing_quoted(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-1y", "mini-3")
    decided = await claim(upstream, events, device, customer_region="PL")
    case_id = decided.payload.case_id
    await replace_unit(platform, upstream, events, device, decided)

    (shipment,) = events.of(ShipmentRequested, lambda e: e.payload.case_id == case_id)
    assert not shipment.payload.customer_pays_shipping
    assert shipment.payload.shipping_charges is None
    assert events.of(PlanInherited, lambda e: e.payload.case_id == case_id)
    assert not events.of(ShippingChargesQuoted, lambda e: e.payload.case_id == case_id)
