"""Fulfilment's batch handlers on a real database: replacements (F1, F3, X3, C10), consumables
packs (F4) and repair returns (F5, F2), each topic, events of one case or plan code in one batch,
and the events refused."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from contracts import topics
from contracts.activation import PlanRenewed, PlanRenewedPayload
from contracts.agricultural import AgriculturalTerm
from contracts.claims import ClaimFinalised, ClaimFinalisedPayload, ClaimOutcome, RefusedBy
from contracts.coverage import (
    DeductionApplied,
    DeductionAppliedPayload,
    PlanTerminated,
    PlanTerminatedPayload,
)
from contracts.envelope import Envelope
from contracts.fulfilment import (
    ConsumablesPackBeyondCalendar,
    ConsumablesPackHeld,
    ConsumablesPackScheduled,
    DeviceReplaced,
    PackAddressChangeRefused,
    PaymentRecorded,
    PreAuthorisationRequested,
    RecallOutcome,
    RefundReason,
    RefundRequested,
    RepairedUnitReturnArranged,
    ShipmentCancellationRequested,
    ShipmentRecallConcluded,
    ShipmentRequested,
    ShippingCharges,
    ShippingChargesQuoted,
)
from contracts.money import Money
from contracts.repairs import ReturnMethod
from contracts.topics import Topic
from contracts.upstream import (
    PreAuthorisationCaptured,
    PreAuthorisationClosedPayload,
    RefundSettled,
    RefundSettledPayload,
    ServiceMode,
    ShipmentAlreadyDispatched,
    ShipmentAlreadyDispatchedPayload,
    ShipmentCancelled,
    ShipmentCancelledPayload,
    ShippingChoice,
)
from services.fulfilment.app import service
from services.fulfilment.domain_agricultural import working_days_after
from shared.catalogue import consumer_catalogue
from shared.catalogue.agricultural import agricultural_catalogue
from simulation import factories
from tests.conftest import Stack
from tests.handlers.support import Handled, ServiceHarness

FEE = Money(amount=Decimal("99.00"), currency="EUR")
HALF = Money(amount=Decimal("49.50"), currency="EUR")
AG = agricultural_catalogue()

Delivery = tuple[Topic, Envelope]
Outcome = tuple[list[str], list[tuple[Any, ...]]]


@pytest.fixture
async def fulfilment(stack: Stack) -> AsyncIterator[ServiceHarness]:
    async with ServiceHarness.open(service, stack.database_url) as harness:
        yield harness


def deduction(
    fee: Money = FEE,
    *,
    plan_id: uuid.UUID | None = None,
    service_mode: ServiceMode = ServiceMode.STANDARD,
    customer_region: str = "EU",
) -> DeductionApplied:
    case_id = f"CASE-{uuid.uuid4().hex[:10]}"
    return DeductionApplied.new(
        DeductionAppliedPayload(
            case_id=case_id,
            plan_id=plan_id or uuid.uuid4(),
            sn=factories.new_serial(),
            model="mavic-3-pro",
            plan_region="EU",
            customer_region=customer_region,
            fee=fee,
            flyaway=False,
            service_mode=service_mode,
            replacements_left=1,
            flyaways_left=1,
        ),
        producer="coverage",
        correlation_id=case_id,
    )


def termination(plan_id: uuid.UUID) -> PlanTerminated:
    return PlanTerminated.new(
        PlanTerminatedPayload(
            plan_id=plan_id,
            sn=factories.new_serial(),
            case_id="CASE-FRAUD",
            reason_codes=["FRAUD_CONFIRMED"],
        ),
        producer="coverage",
        correlation_id="CASE-FRAUD",
    )


def captured(case_id: str, amount: Money) -> PreAuthorisationCaptured:
    return PreAuthorisationCaptured.new(
        PreAuthorisationClosedPayload(
            case_id=case_id, authorisation_id="AUTH-1", amount=amount, closed_at=factories.now()
        ),
        producer="payments",
        correlation_id=case_id,
    )


# F4: purchase times whose 30 working days stay inside the working-day calendar, or run past it.
INSIDE_CALENDAR = datetime(2026, 9, 21, 2, tzinfo=UTC)
PAST_CALENDAR = datetime(2026, 12, 2, 2, tzinfo=UTC)


def ag_renewal(plan_code: str, *, plan_id: uuid.UUID | None = None, year: int = 2) -> PlanRenewed:
    start = factories.now()
    return PlanRenewed.new(
        PlanRenewedPayload(
            plan_id=plan_id or uuid.uuid4(),
            plan_code=plan_code,
            sn=factories.new_serial(),
            sku=f"ag-care-renewal-{year}",
            term_no=year,
            term_start=start,
            term_end=start + timedelta(days=365),
            replacements=0,
            flyaways=0,
            purchased_at=start,
            agricultural=AgriculturalTerm(
                plan_year=year,
                base_quota=Money.of("20000.00", "CNY"),
                consumables_quota=Money.of("3000.00", "CNY"),
                deductible_rate=Decimal("0.10"),
                insurer="PICC",
            ),
        ),
        producer="activation",
        correlation_id=plan_code,
    )


async def replacement_states(harness: ServiceHarness) -> dict[str, str]:
    rows = await harness.rows("SELECT case_id, state FROM replacements")
    return {row["case_id"]: row["state"] for row in rows}


async def as_one_batch_and_one_by_one(
    stack: Stack, deliveries: Sequence[Delivery], books: str, *, after: Sequence[Delivery] = ()
) -> tuple[Outcome, Outcome]:
    """What `deliveries` leave in the `books` query and emit, applied as one batch and then,
    on a fresh database, one batch apiece (each time `after` a first batch): the two must
    agree. Across topics a batch keeps no order, as Kafka keeps none."""
    outcomes: list[Outcome] = []
    for batches in ([list(deliveries)], [[delivery] for delivery in deliveries]):
        async with ServiceHarness.open(service, stack.database_url) as harness:
            if after:
                await harness.deliver(*after)
            emitted: list[str] = []
            for batch in batches:
                handled = await harness.deliver(*batch)
                emitted += [type(event).__name__ for event in handled.events()]
            outcomes.append((emitted, [tuple(row) for row in await harness.rows(books)]))
    return outcomes[0], outcomes[1]


async def shipment_requested(harness: ServiceHarness) -> ShipmentRequested:
    """F1: a replacement deducted and paid for, its shipment requested."""
    deducted = deduction()
    shipped = await harness.deliver(
        (topics.COVERAGE_EVENTS, deducted),
        (topics.PAYMENT_SETTLEMENTS, factories.payment(deducted.payload.case_id, FEE)),
    )
    [request] = shipped.events(ShipmentRequested)
    assert isinstance(request, ShipmentRequested)
    return request


async def test_a_deduction_and_its_fee_in_one_batch_ship_once_then_the_dispatch_swaps_the_sn(
    fulfilment: ServiceHarness,
) -> None:
    """F1: paid, the replacement ships; F3: the dispatch announces old SN -> new SN."""
    deducted = deduction()
    case_id = deducted.payload.case_id
    paid = factories.payment(case_id, FEE)

    shipped = await fulfilment.deliver(
        (topics.COVERAGE_EVENTS, deducted), (topics.PAYMENT_SETTLEMENTS, paid)
    )

    [request] = shipped.events(ShipmentRequested)
    assert request.payload.case_id == case_id
    assert request.causation_id in {deducted.event_id, paid.event_id}
    assert request.correlation_id == case_id
    assert shipped.emitted[0].key == str(deducted.payload.plan_id)
    assert request.payload.customer_pays_shipping is False
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


async def test_f1_payments_before_the_deduction_add_up_and_each_counts_once(
    fulfilment: ServiceHarness,
) -> None:
    """F1: a payment may come first (its grace over, it is answered as not yet deducted); a
    payment delivered again under a new event id counts once and is answered with a copy, so
    half the fee twice over is still half; the rest ships it, free in the plan's region."""
    deducted = deduction()
    case_id = deducted.payload.case_id
    half = factories.payment(case_id, HALF)
    again = half.model_copy(update={"event_id": uuid.uuid4()})

    early = await fulfilment.deliver(
        (topics.PAYMENT_SETTLEMENTS, half), (topics.PAYMENT_SETTLEMENTS, again)
    )
    waiting = await fulfilment.deliver((topics.COVERAGE_EVENTS, deducted))
    assert await replacement_states(fulfilment) == {case_id: "awaiting_payment"}
    rest = await fulfilment.deliver((topics.PAYMENT_SETTLEMENTS, factories.payment(case_id, HALF)))

    first, copy = early.events(PaymentRecorded)
    assert early.events(ShipmentRequested) == waiting.emitted == []
    assert (first.payload.payment_id, first.payload.paid_for) == (
        half.payload.payment_id,
        "case_not_yet_deducted",
    )
    assert copy.payload == first.payload.model_copy(update={"copy_of": first.event_id})
    [request] = rest.events(ShipmentRequested)
    assert request.payload.customer_pays_shipping is False
    assert await replacement_states(fulfilment) == {case_id: "shipment_requested"}
    [(count, total)] = await fulfilment.rows("SELECT count(*), sum(amount) FROM payments")
    assert (count, total) == (2, FEE.amount)


async def test_f1_outside_the_plans_region_it_waits_for_shipping_and_customs_as_for_the_fee(
    fulfilment: ServiceHarness,
) -> None:
    """F1: the deduction prices shipping and customs from the catalogue (EU to PL: the
    default); the fee alone ships nothing, shipping and customs paid ship it, carrying them."""
    deducted = deduction(customer_region="PL")
    case_id = deducted.payload.case_id
    shipping, customs = Money.of("60.00", "USD"), Money.of("40.00", "USD")

    taken = await fulfilment.deliver((topics.COVERAGE_EVENTS, deducted))
    fee_only = await fulfilment.deliver(
        (topics.PAYMENT_SETTLEMENTS, factories.payment(case_id, FEE))
    )
    charges = await fulfilment.deliver(
        (topics.PAYMENT_SETTLEMENTS, factories.payment(case_id, Money.of("100.00", "USD")))
    )

    [quoted] = taken.events(ShippingChargesQuoted)
    assert (quoted.payload.shipping, quoted.payload.customs, quoted.payload.fee) == (
        shipping,
        customs,
        FEE,
    )
    assert [out.key for out in taken.emitted] == [str(deducted.payload.plan_id)]
    assert quoted.correlation_id == case_id
    assert fee_only.events(ShipmentRequested) == []
    [request] = charges.events(ShipmentRequested)
    assert request.payload.shipping_charges == ShippingCharges(
        shipping=shipping, customs=customs, settlement="paid"
    )
    [row] = await fulfilment.rows(
        "SELECT state, shipping_amount, customs_amount, charges_currency FROM replacements"
    )
    assert tuple(row) == ("shipment_requested", Decimal("60.00"), Decimal("40.00"), "USD")


async def test_f1_on_the_customers_documented_choice_it_ships_with_charges_billed_on_delivery(
    fulfilment: ServiceHarness,
) -> None:
    """F1: a fee paid first with the choice to have shipping and customs billed on delivery
    waits for the deduction and then ships it at once."""
    deducted = deduction(customer_region="PL")
    case_id = deducted.payload.case_id
    fee = factories.payment(case_id, FEE, shipping_choice=ShippingChoice.BILL_ON_DELIVERY)

    await fulfilment.deliver((topics.PAYMENT_SETTLEMENTS, fee))
    taken = await fulfilment.deliver((topics.COVERAGE_EVENTS, deducted))

    [request] = taken.events(ShipmentRequested)
    assert request.payload.shipping_charges is not None
    assert request.payload.shipping_charges.settlement == "billed_on_delivery"
    [row] = await fulfilment.rows("SELECT shipping_choice FROM payments")
    assert row["shipping_choice"] == "bill_on_delivery"


async def test_f1_two_payments_of_one_case_in_one_batch_ship_as_they_do_one_by_one(
    stack: Stack,
) -> None:
    deducted = deduction()
    case_id = deducted.payload.case_id
    deliveries = [
        (topics.COVERAGE_EVENTS, deducted),
        (topics.PAYMENT_SETTLEMENTS, factories.payment(case_id, HALF)),
        (topics.PAYMENT_SETTLEMENTS, factories.payment(case_id, HALF)),
    ]

    together, apart = await as_one_batch_and_one_by_one(
        stack, deliveries, "SELECT case_id, state, customer_pays_shipping FROM replacements"
    )

    assert together == apart
    assert together == (
        ["PaymentRecorded", "PaymentRecorded", "ShipmentRequested"],
        [(case_id, "shipment_requested", False)],
    )


async def test_x3_express_premium_ships_once_paid_and_pre_authorised_in_one_batch_or_apart(
    stack: Stack,
) -> None:
    """X3: the deduction asks for the product's value on the card; paid, it waits for the hold;
    placed, it ships; the capture closes the hold."""
    deducted = deduction(service_mode=ServiceMode.EXPRESS_PREMIUM)
    case_id = deducted.payload.case_id
    value = consumer_catalogue().product_value("mavic-3-pro")
    deliveries = [
        (topics.COVERAGE_EVENTS, deducted),
        (topics.PAYMENT_SETTLEMENTS, factories.payment(case_id, FEE)),
        (topics.PAYMENT_SETTLEMENTS, factories.pre_authorisation_placed(case_id, value)),
        (topics.PAYMENT_SETTLEMENTS, captured(case_id, value)),
    ]

    together, apart = await as_one_batch_and_one_by_one(
        stack,
        deliveries,
        "SELECT r.state, p.state, p.requested_amount, p.closed_amount"
        " FROM replacements r JOIN pre_authorisations p USING (case_id)",
    )

    assert together == apart
    assert together == (
        ["PreAuthorisationRequested", "PaymentRecorded", "ShipmentRequested"],
        [("shipment_requested", "captured", value.amount, value.amount)],
    )


async def test_x3_the_pre_authorisation_request_carries_the_products_value(
    fulfilment: ServiceHarness,
) -> None:
    deducted = deduction(service_mode=ServiceMode.EXPRESS_PREMIUM)

    handled = await fulfilment.deliver((topics.COVERAGE_EVENTS, deducted))

    [requested] = handled.events(PreAuthorisationRequested)
    assert requested.payload.amount == consumer_catalogue().product_value("mavic-3-pro")
    assert requested.correlation_id == deducted.payload.case_id
    assert handled.emitted[0].key == str(deducted.payload.plan_id)


async def test_c10_a_termination_cancels_the_replacements_waiting_in_its_batch_or_before(
    stack: Stack,
) -> None:
    """C10: after fraud, a replacement still waiting for its fee never ships, paid or not; one
    already requested from the warehouse is recalled."""
    plan_id = uuid.uuid4()
    shipped, waiting = deduction(plan_id=plan_id), deduction(plan_id=plan_id)
    paid_first = [
        (topics.COVERAGE_EVENTS, shipped),
        (topics.PAYMENT_SETTLEMENTS, factories.payment(shipped.payload.case_id, FEE)),
    ]
    deliveries = [
        (topics.COVERAGE_EVENTS, waiting),
        (topics.COVERAGE_EVENTS, termination(plan_id)),
        (topics.PAYMENT_SETTLEMENTS, factories.payment(waiting.payload.case_id, FEE)),
    ]

    together, apart = await as_one_batch_and_one_by_one(
        stack,
        deliveries,
        "SELECT case_id, state FROM replacements ORDER BY state",
        after=paid_first,
    )

    assert together == apart
    assert together == (
        ["ShipmentCancellationRequested", "PaymentRecorded"],
        [(waiting.payload.case_id, "cancelled"), (shipped.payload.case_id, "recall_requested")],
    )


def warehouse_answer(shipment_id: uuid.UUID, *, left: bool) -> Envelope:
    if left:
        return ShipmentAlreadyDispatched.new(
            ShipmentAlreadyDispatchedPayload(
                shipment_id=shipment_id,
                new_sn=factories.new_serial(),
                dispatched_at=factories.now(),
            ),
            producer="warehouse",
            correlation_id=str(shipment_id),
        )
    return ShipmentCancelled.new(
        ShipmentCancelledPayload(shipment_id=shipment_id, cancelled_at=factories.now()),
        producer="warehouse",
        correlation_id=str(shipment_id),
    )


@pytest.mark.parametrize("left", [False, True], ids=["cancelled", "already-dispatched"])
async def test_c10_a_recalled_unit_is_cancelled_or_owed_once_and_its_dispatch_inherits_nothing(
    fulfilment: ServiceHarness, left: bool
) -> None:
    """C10: the warehouse answers the recall once (a copy changes nothing); a unit that had left
    is owed at its value, and neither its dispatch nor the answer announces a new SN (F3)."""
    request = await shipment_requested(fulfilment)
    shipment_id, plan_id = request.payload.shipment_id, request.payload.plan_id
    answer = warehouse_answer(shipment_id, left=left)
    again = answer.model_copy(update={"event_id": uuid.uuid4()})
    dispatched = factories.dispatch(shipment_id, factories.new_serial(), request.payload.case_id)

    ended = await fulfilment.deliver((topics.COVERAGE_EVENTS, termination(plan_id)))
    answered = await fulfilment.deliver(
        (topics.WAREHOUSE_DISPATCHES, dispatched),
        (topics.WAREHOUSE_DISPATCHES, answer),
        (topics.WAREHOUSE_DISPATCHES, again),
    )

    [recall] = ended.events(ShipmentCancellationRequested)
    assert (recall.payload.shipment_id, recall.correlation_id) == (
        shipment_id,
        request.payload.case_id,
    )
    assert ended.emitted[0].key == str(plan_id)
    [concluded] = answered.events()
    assert isinstance(concluded, ShipmentRecallConcluded)
    assert concluded.causation_id == answer.event_id
    value = consumer_catalogue().product_value("mavic-3-pro")
    expected = (
        (RecallOutcome.ALREADY_DISPATCHED, value, "unit_owed", value.amount)
        if left
        else (RecallOutcome.CANCELLED, None, "cancelled", None)
    )
    [(state, owed)] = await fulfilment.rows("SELECT state, owed_amount FROM replacements")
    assert (concluded.payload.outcome, concluded.payload.customer_owes, state, owed) == expected


async def test_c10_an_answer_to_a_recall_never_requested_is_refused_alone(
    fulfilment: ServiceHarness,
) -> None:
    request = await shipment_requested(fulfilment)

    handled = await fulfilment.deliver(
        (topics.WAREHOUSE_DISPATCHES, warehouse_answer(request.payload.shipment_id, left=False))
    )

    assert list(handled.rejected) == [0]
    assert "no recall" in str(handled.rejected[0])
    assert await replacement_states(fulfilment) == {request.payload.case_id: "shipment_requested"}


def refused_finally(case_id: str) -> ClaimFinalised:
    return ClaimFinalised.new(
        ClaimFinalisedPayload(
            case_id=case_id,
            decision_id=uuid.uuid4(),
            sn=factories.new_serial(),
            model="mavic-3-pro",
            plan_id=None,
            outcome=ClaimOutcome.REFUSED,
            refused_by=RefusedBy.CLAIMS,
            reason_codes=["EXCLUDED_THEFT"],
        ),
        producer="claims",
        correlation_id=case_id,
    )


def refund_settled(refund: RefundRequested, refund_id: uuid.UUID | None = None) -> RefundSettled:
    return RefundSettled.new(
        RefundSettledPayload(
            refund_id=refund_id or refund.payload.refund_id,
            case_id=refund.payload.case_id,
            payment_id=refund.payload.payment_id,
            amount=refund.payload.amount,
            settled_at=factories.now(),
        ),
        producer="payments",
        correlation_id=refund.payload.case_id,
    )


async def test_x3_a_fee_paid_before_a_refusal_is_refunded_once_and_settled(
    fulfilment: ServiceHarness,
) -> None:
    """X3: an express basic fee paid before the claim; the claim refused: the fee is refunded.
    The payment sent again is answered with a copy and refunded nothing more; RefundSettled
    closes the refund, and one never requested is refused."""
    case_id = f"CASE-{uuid.uuid4().hex[:10]}"
    fee = factories.payment(case_id, FEE)
    again = fee.model_copy(update={"event_id": uuid.uuid4()})

    await fulfilment.deliver((topics.PAYMENT_SETTLEMENTS, fee))
    asked = await fulfilment.deliver((topics.CLAIMS_EVENTS, refused_finally(case_id)))
    copied = await fulfilment.deliver((topics.PAYMENT_SETTLEMENTS, again))
    [refund] = asked.events(RefundRequested)
    settled = await fulfilment.deliver(
        (topics.PAYMENT_SETTLEMENTS, refund_settled(refund)),
        (topics.PAYMENT_SETTLEMENTS, refund_settled(refund, refund_id=uuid.uuid4())),
    )

    assert (refund.payload.payment_id, refund.payload.amount, refund.payload.reason) == (
        fee.payload.payment_id,
        FEE,
        RefundReason.CLAIM_REFUSED,
    )
    assert asked.emitted[0].key == case_id
    [copy] = copied.events()
    assert isinstance(copy, PaymentRecorded) and copy.payload.copy_of is not None
    assert list(settled.rejected) == [1]
    rows = await fulfilment.rows("SELECT payment_id, state FROM refunds")
    assert [tuple(row) for row in rows] == [(fee.payload.payment_id, "settled")]


async def test_f1_a_fee_paid_twice_is_refunded_beyond_the_fee_in_one_batch_or_apart(
    stack: Stack,
) -> None:
    deducted = deduction()
    case_id = deducted.payload.case_id
    second = factories.payment(case_id, FEE)
    deliveries = [
        (topics.COVERAGE_EVENTS, deducted),
        (topics.PAYMENT_SETTLEMENTS, factories.payment(case_id, FEE)),
        (topics.PAYMENT_SETTLEMENTS, second),
        (topics.PAYMENT_SETTLEMENTS, second.model_copy(update={"event_id": uuid.uuid4()})),
    ]

    together, apart = await as_one_batch_and_one_by_one(
        stack, deliveries, "SELECT amount, reason, state FROM refunds"
    )

    assert together == apart
    assert together[0].count("RefundRequested") == 1
    assert together[1] == [(FEE.amount, "FEE_PAID_TWICE", "requested")]


async def test_f3_a_dispatch_delivered_twice_in_one_batch_announces_the_new_sn_once(
    fulfilment: ServiceHarness,
) -> None:
    request = await shipment_requested(fulfilment)
    case_id = request.payload.case_id
    first = factories.dispatch(request.payload.shipment_id, factories.new_serial(), case_id)
    again = first.model_copy(update={"event_id": uuid.uuid4()})

    handled = await fulfilment.deliver(
        (topics.WAREHOUSE_DISPATCHES, first), (topics.WAREHOUSE_DISPATCHES, again)
    )

    [replaced] = handled.events(DeviceReplaced)
    assert replaced.causation_id == first.event_id
    assert replaced.correlation_id == case_id
    [(new_sn,)] = await fulfilment.rows("SELECT new_sn FROM replacements")
    assert new_sn == first.payload.new_sn


async def test_a_dispatch_of_a_shipment_never_requested_is_refused_alone(
    fulfilment: ServiceHarness,
) -> None:
    request = await shipment_requested(fulfilment)
    case_id = request.payload.case_id
    unknown: Envelope = factories.dispatch(uuid.uuid4(), factories.new_serial(), "CASE-NONE")
    known = factories.dispatch(request.payload.shipment_id, factories.new_serial(), case_id)

    handled = await fulfilment.deliver(
        (topics.WAREHOUSE_DISPATCHES, unknown), (topics.WAREHOUSE_DISPATCHES, known)
    )

    assert list(handled.rejected) == [0]
    assert "was requested" in str(handled.rejected[0])
    assert [type(event) for event in handled.events()] == [DeviceReplaced]
    inbox = {row["event_id"] for row in await fulfilment.rows("SELECT event_id FROM inbox")}
    assert unknown.event_id not in inbox
    assert known.event_id in inbox


async def test_f4_an_order_and_its_renewal_in_one_batch_schedule_the_pack_as_apart(
    stack: Stack,
) -> None:
    """F4: the pack ships to the address given at purchase within 30 working days of it."""
    code = factories.new_ag_plan_code()
    order = factories.ag_plan_order(
        code, "ag-care-renewal-2", "T40", at=INSIDE_CALENDAR, address=factories.delivery_address()
    )
    deliveries = [(topics.PLAN_ORDERS, order), (topics.ACTIVATION_EVENTS, ag_renewal(code))]

    together, apart = await as_one_batch_and_one_by_one(
        stack, deliveries, "SELECT plan_code, state, due_by FROM consumables_packs"
    )

    due = working_days_after(order.payload.purchased_at, 30, AG.working_calendar, AG.zone)
    assert due.weekdays_only_after is None
    assert together == apart == (["ConsumablesPackScheduled"], [(code, "scheduled", due.due_by)])


async def test_f4_a_pack_counted_past_the_calendar_is_scheduled_on_weekdays_with_a_warning(
    fulfilment: ServiceHarness,
) -> None:
    """F4: 30 working days from 2 December 2026 run past the calendar's last day (31 December):
    the days beyond count as weekdays alone, and fulfilment says so beside the schedule."""
    code = factories.new_ag_plan_code()
    renewal = ag_renewal(code)
    order = factories.ag_plan_order(
        code, "ag-care-renewal-2", "T40", at=PAST_CALENDAR, address=factories.delivery_address()
    )

    handled = await fulfilment.deliver(
        (topics.PLAN_ORDERS, order), (topics.ACTIVATION_EVENTS, renewal)
    )

    [scheduled] = handled.events(ConsumablesPackScheduled)
    [warning] = handled.events(ConsumablesPackBeyondCalendar)
    last_day = AG.working_calendar.valid_until
    assert scheduled.payload.weekdays_only_after == warning.payload.calendar_valid_until == last_day
    assert warning.payload.due_by == scheduled.payload.due_by
    assert warning.payload.pack_id == scheduled.payload.pack_id
    assert [out.key for out in handled.emitted] == [str(renewal.payload.plan_id)] * 2
    [row] = await fulfilment.rows("SELECT weekdays_only_after FROM consumables_packs")
    assert row["weekdays_only_after"] == last_day


async def test_f4_an_address_change_after_purchase_is_refused_pack_address_fixed(
    fulfilment: ServiceHarness,
) -> None:
    """F4: commerce forwards the customer's request; it is refused, naming it, keyed by the
    plan code before the renewal is bound and by the plan after; the address stays."""
    code = factories.new_ag_plan_code()
    renewal = ag_renewal(code)
    address = factories.delivery_address()
    order = factories.ag_plan_order(
        code, "ag-care-renewal-2", "T40", at=INSIDE_CALENDAR, address=address
    )
    early = factories.pack_address_change(code, factories.delivery_address("No. 9 Late Lane"))
    late = factories.pack_address_change(code, factories.delivery_address("No. 9 Late Lane"))

    before = await fulfilment.deliver(
        (topics.PLAN_ORDERS, order), (topics.PACK_ADDRESS_CHANGES, early)
    )
    await fulfilment.deliver((topics.ACTIVATION_EVENTS, renewal))
    after = await fulfilment.deliver((topics.PACK_ADDRESS_CHANGES, late))

    [first] = before.events(PackAddressChangeRefused)
    [second] = after.events(PackAddressChangeRefused)
    assert (first.payload.request_id, first.payload.plan_id) == (early.payload.request_id, None)
    assert (second.payload.request_id, second.payload.plan_id) == (
        late.payload.request_id,
        renewal.payload.plan_id,
    )
    assert {first.payload.reason_code, second.payload.reason_code} == {"PACK_ADDRESS_FIXED"}
    assert [out.key for out in before.emitted] == [code]
    assert [out.key for out in after.emitted] == [str(renewal.payload.plan_id)]
    [kept] = await fulfilment.rows("SELECT street FROM pack_orders")
    assert kept["street"] == address.street


async def test_f4_the_first_order_keeps_its_address_and_a_renewal_bound_first_waits_for_it(
    fulfilment: ServiceHarness,
) -> None:
    """F4: no address, the pack is held; the address cannot be changed by a second order (it is
    refused PACK_ADDRESS_FIXED, naming the order); a renewal whose order is still to come waits
    for it."""
    code = factories.new_ag_plan_code()
    renewal = ag_renewal(code, year=3)
    first = factories.ag_plan_order(code, "ag-care-renewal-3", "T30")
    second = factories.ag_plan_order(
        code, "ag-care-renewal-3", "T30", address=factories.delivery_address()
    )

    bound = await fulfilment.deliver((topics.ACTIVATION_EVENTS, renewal))
    ordered = await fulfilment.deliver((topics.PLAN_ORDERS, first), (topics.PLAN_ORDERS, second))

    assert bound.emitted == []
    [held] = ordered.events(ConsumablesPackHeld)
    assert held.payload.reason_code == "PACK_ADDRESS_MISSING"
    [refused] = ordered.events(PackAddressChangeRefused)
    assert refused.payload.request_id == second.payload.order_id
    assert held.correlation_id == str(renewal.payload.plan_id)
    assert ordered.emitted[0].key == str(renewal.payload.plan_id)
    [kept] = await fulfilment.rows("SELECT order_id, has_address, street FROM pack_orders")
    assert tuple(kept) == (first.payload.order_id, False, None)


async def test_f4_orders_of_other_plans_and_renewals_without_a_designation_bring_no_pack(
    fulfilment: ServiceHarness,
) -> None:
    consumer = factories.plan_order(factories.new_plan_code(), "care-refresh-1y", "mavic-3-pro")
    code = factories.new_ag_plan_code()
    undesignated = factories.ag_plan_order(
        code, "ag-care-renewal-3", "T40", address=factories.delivery_address()
    )

    handled = await fulfilment.deliver(
        (topics.PLAN_ORDERS, consumer),
        (topics.PLAN_ORDERS, undesignated),
        (topics.ACTIVATION_EVENTS, ag_renewal(code, year=3)),
    )

    assert handled.emitted == []
    assert await fulfilment.rows("SELECT plan_code FROM pack_orders") == []
    assert len(await fulfilment.rows("SELECT plan_code FROM agricultural_renewals")) == 1


async def test_f4_a_second_plan_code_for_a_plans_year_is_refused_alone(
    fulfilment: ServiceHarness,
) -> None:
    """F4: a plan gets one pack per year: a second designated plan code bound to the same plan
    and year cannot be applied, and is refused without the first."""
    plan_id = uuid.uuid4()
    codes = [factories.new_ag_plan_code() for _ in range(2)]
    deliveries: list[Delivery] = []
    for code in codes:
        deliveries += [
            (
                topics.PLAN_ORDERS,
                factories.ag_plan_order(
                    code, "ag-care-renewal-2", "T40", address=factories.delivery_address()
                ),
            ),
            (topics.ACTIVATION_EVENTS, ag_renewal(code, plan_id=plan_id)),
        ]

    handled = await fulfilment.deliver(*deliveries)

    assert len(handled.rejected) == 1
    [scheduled] = handled.events(ConsumablesPackScheduled)
    [(state,)] = await fulfilment.rows("SELECT state FROM consumables_packs")
    assert (scheduled.payload.plan_id, state) == (plan_id, "scheduled")


async def test_f5_a_completion_reported_twice_in_one_batch_arranges_one_return_as_apart(
    stack: Stack,
) -> None:
    """F5, F2: the unit goes back once per case, the replaced parts kept."""
    shipped = factories.repair_completed("CASE-SHIP", factories.new_serial())
    collected = factories.repair_completed(
        "CASE-COLLECT", factories.new_serial(), method=ReturnMethod.COLLECT
    )
    again = factories.repair_completed("CASE-SHIP", shipped.payload.sn, method=ReturnMethod.COLLECT)
    deliveries = [(topics.REPAIR_COMPLETIONS, event) for event in (shipped, collected, again)]

    together, apart = await as_one_batch_and_one_by_one(
        stack,
        deliveries,
        "SELECT case_id, return_method, replaced_parts_retained FROM repair_returns"
        " ORDER BY case_id",
    )

    assert together == apart
    assert together == (
        ["RepairedUnitReturnArranged"] * 2,
        [("CASE-COLLECT", "collect", True), ("CASE-SHIP", "ship", True)],
    )


async def test_f5_the_return_is_announced_on_the_case(fulfilment: ServiceHarness) -> None:
    done = factories.repair_completed("CASE-R1", factories.new_serial())

    handled: Handled = await fulfilment.deliver((topics.REPAIR_COMPLETIONS, done))

    [arranged] = handled.events(RepairedUnitReturnArranged)
    assert (handled.emitted[0].key, arranged.correlation_id) == ("CASE-R1", "CASE-R1")
    assert arranged.payload.repair_completed_at == done.payload.completed_at
