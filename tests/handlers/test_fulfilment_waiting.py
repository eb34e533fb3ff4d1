"""Fulfilment waits instead of dropping or refusing for what it has not read yet: a fee payment
for a case not deducted yet (F1), an express hold's news for a hold not requested yet (X3), a
dispatch of a shipment not requested yet (F3); answered as before once the grace is over. Every
payment is answered, naming it; one sent again gets a copy."""

from __future__ import annotations

import uuid
from datetime import timedelta

from contracts import topics
from contracts.envelope import Envelope
from contracts.fulfilment import (
    DeviceReplaced,
    PaymentRecorded,
    PreAuthorisationRequested,
    ShipmentRequested,
)
from contracts.topics import Topic
from contracts.upstream import ServiceMode
from contracts.waiting import EventWaiting, WaitOver
from services.fulfilment.app import service
from shared.catalogue import consumer_catalogue
from simulation import factories
from tests.conftest import Stack
from tests.handlers.support import ServiceHarness
from tests.handlers.test_fulfilment import FEE, deduction, fulfilment, shipment_requested

__all__ = ["fulfilment"]  # the harness fixture, shared with the other fulfilment handler tests

GRACE = timedelta(minutes=15)


async def waiting(harness: ServiceHarness) -> list[tuple[str, str]]:
    rows = await harness.rows("SELECT dependency, key FROM waiting_events ORDER BY key")
    return [(row["dependency"], row["key"]) for row in rows]


async def payments(harness: ServiceHarness) -> list[tuple[str, str]]:
    rows = await harness.rows("SELECT payment_id, case_id FROM payments ORDER BY payment_id")
    return [(row["payment_id"], row["case_id"]) for row in rows]


async def test_f1_a_payment_before_its_deduction_waits_and_is_answered_when_it_comes(
    fulfilment: ServiceHarness,
) -> None:
    fulfilment.grace = GRACE
    deducted = deduction()
    case_id = deducted.payload.case_id
    paid = factories.payment(case_id, FEE)

    kept = await fulfilment.deliver((topics.PAYMENT_SETTLEMENTS, paid))
    assert kept.events(PaymentRecorded) == [] and len(kept.events(EventWaiting)) == 1
    assert await waiting(fulfilment) == [("case-of-payment", case_id)]
    assert await payments(fulfilment) == []

    handled = await fulfilment.deliver((topics.COVERAGE_EVENTS, deducted))

    [answer] = handled.events(PaymentRecorded)
    assert answer.causation_id == paid.event_id
    assert answer.payload.payment_id == paid.payload.payment_id
    assert (answer.payload.case_id, answer.payload.plan_id) == (case_id, deducted.payload.plan_id)
    assert (answer.payload.paid_for, answer.payload.counts_towards_fee) == ("replacement_fee", True)
    assert answer.payload.amount == FEE and answer.payload.copy_of is None
    [request] = handled.events(ShipmentRequested)
    assert request.payload.case_id == case_id
    assert len(handled.events(WaitOver)) == 1
    assert await waiting(fulfilment) == []


async def test_f1_a_payment_and_its_deduction_in_one_batch_ship_in_either_order(
    stack: Stack,
) -> None:
    """Across topics a batch keeps no order: the payment first or the deduction first."""
    shipped = []
    for first_payment in (True, False):
        async with ServiceHarness.open(service, stack.database_url) as harness:
            harness.grace = GRACE
            deducted = deduction()
            paid = factories.payment(deducted.payload.case_id, FEE)
            pair: list[tuple[Topic, Envelope]] = [
                (topics.PAYMENT_SETTLEMENTS, paid),
                (topics.COVERAGE_EVENTS, deducted),
            ]
            handled = await harness.deliver(*(pair if first_payment else reversed(pair)))
            [answer] = handled.events(PaymentRecorded)
            assert answer.payload.plan_id == deducted.payload.plan_id
            assert await waiting(harness) == []
            shipped.append(
                [
                    type(event).__name__
                    for event in handled.events()
                    if not isinstance(event, EventWaiting | WaitOver)
                ]
            )
    assert shipped == [["PaymentRecorded", "ShipmentRequested"]] * 2


async def test_f1_a_payment_whose_case_never_comes_is_answered_after_its_grace_and_counts_later(
    fulfilment: ServiceHarness,
) -> None:
    """An express basic fee is paid before any assessment (X3): after the grace it is recorded
    as it was before waiting existed, and the deduction that comes later finds it paid."""
    fulfilment.grace = GRACE
    deducted = deduction()
    case_id = deducted.payload.case_id
    paid = factories.payment(case_id, FEE)
    await fulfilment.deliver((topics.PAYMENT_SETTLEMENTS, paid))

    expired = await fulfilment.expire_waiting()

    [answer] = expired.events(PaymentRecorded)
    assert (answer.payload.payment_id, answer.payload.plan_id) == (paid.payload.payment_id, None)
    assert answer.payload.paid_for == "case_not_yet_deducted"
    assert expired.emitted[0].key == case_id
    assert await payments(fulfilment) == [(paid.payload.payment_id, case_id)]
    later = await fulfilment.deliver((topics.COVERAGE_EVENTS, deducted))
    assert [type(event) for event in later.events()] == [ShipmentRequested]


async def test_f1_a_payment_sent_again_is_answered_with_a_copy_and_applied_once(
    fulfilment: ServiceHarness,
) -> None:
    """Sent again under its payment id (a new event id): a copy naming the first answer, in a
    later batch or while the first still waits; the fee is counted once."""
    fulfilment.grace = GRACE
    deducted = deduction()
    case_id = deducted.payload.case_id
    half = factories.payment(case_id, FEE.model_copy(update={"amount": FEE.amount / 2}))
    again = half.model_copy(update={"event_id": uuid.uuid4()})
    await fulfilment.deliver((topics.PAYMENT_SETTLEMENTS, half))
    await fulfilment.deliver((topics.PAYMENT_SETTLEMENTS, again))
    assert await waiting(fulfilment) == [("case-of-payment", case_id)] * 2

    resolved = await fulfilment.deliver((topics.COVERAGE_EVENTS, deducted))
    once_more = half.model_copy(update={"event_id": uuid.uuid4()})
    later = await fulfilment.deliver((topics.PAYMENT_SETTLEMENTS, once_more))

    first, copy = resolved.events(PaymentRecorded)
    [late_copy] = later.events(PaymentRecorded)
    assert (first.causation_id, copy.causation_id) == (half.event_id, again.event_id)
    original = first.payload.model_copy(update={"copy_of": first.event_id})
    assert copy.payload == late_copy.payload == original
    assert resolved.events(ShipmentRequested) == later.events(ShipmentRequested) == []
    assert await payments(fulfilment) == [(half.payload.payment_id, case_id)]
    [(answers,)] = await fulfilment.rows("SELECT count(*) FROM payment_answers")
    assert answers == 1


async def test_x3_a_hold_placed_before_its_request_waits_and_ships_the_paid_replacement(
    fulfilment: ServiceHarness,
) -> None:
    """Before waiting existed, a hold placed before the deduction was read was dropped and the
    express premium replacement never shipped."""
    fulfilment.grace = GRACE
    deducted = deduction(service_mode=ServiceMode.EXPRESS_PREMIUM)
    case_id = deducted.payload.case_id
    value = consumer_catalogue().product_value("mavic-3-pro")
    placed = factories.pre_authorisation_placed(case_id, value)

    kept = await fulfilment.deliver((topics.PAYMENT_SETTLEMENTS, placed))
    assert kept.events(ShipmentRequested) == []
    assert await waiting(fulfilment) == [("request-of-pre-authorisation", case_id)]

    handled = await fulfilment.deliver(
        (topics.PAYMENT_SETTLEMENTS, factories.payment(case_id, FEE)),
        (topics.COVERAGE_EVENTS, deducted),
    )

    answered = [e for e in handled.events() if not isinstance(e, EventWaiting | WaitOver)]
    assert [type(event) for event in answered] == [
        PreAuthorisationRequested,
        PaymentRecorded,
        ShipmentRequested,
    ]
    [(state,)] = await fulfilment.rows("SELECT state FROM pre_authorisations")
    assert state == "placed"
    assert await waiting(fulfilment) == []


async def test_x3_a_hold_never_requested_is_passed_by_after_its_grace(
    fulfilment: ServiceHarness,
) -> None:
    fulfilment.grace = GRACE
    value = consumer_catalogue().product_value("mavic-3-pro")
    await fulfilment.deliver(
        (topics.PAYMENT_SETTLEMENTS, factories.pre_authorisation_placed("CASE-NONE", value))
    )

    expired = await fulfilment.expire_waiting()

    assert [type(event) for event in expired.events()] == [WaitOver]
    assert await fulfilment.rows("SELECT 1 FROM pre_authorisations") == []
    assert await waiting(fulfilment) == []


async def test_f3_a_dispatch_before_its_shipment_waits_and_is_refused_after_its_grace(
    fulfilment: ServiceHarness,
) -> None:
    fulfilment.grace = GRACE
    unknown = factories.dispatch(uuid.uuid4(), factories.new_serial(), "CASE-NONE")

    kept = await fulfilment.deliver((topics.WAREHOUSE_DISPATCHES, unknown))
    assert kept.rejected == {} and len(kept.events(EventWaiting)) == 1
    assert await waiting(fulfilment) == [("shipment-of-dispatch", str(unknown.payload.shipment_id))]

    expired = await fulfilment.expire_waiting()

    assert "was requested" in str(expired.rejected_waiting[unknown.event_id])
    assert expired.events(DeviceReplaced) == []
    assert await waiting(fulfilment) == []


async def test_f3_a_dispatch_kept_while_another_instance_requests_its_shipment_is_confirmed(
    fulfilment: ServiceHarness,
) -> None:
    """The shipment committed by another instance while the dispatch was kept: the recheck
    finds it and announces old SN -> new SN."""
    fulfilment.grace = GRACE
    request = await shipment_requested(fulfilment)
    early_id = uuid.uuid4()
    dispatch = factories.dispatch(early_id, factories.new_serial(), request.payload.case_id)
    await fulfilment.deliver((topics.WAREHOUSE_DISPATCHES, dispatch))
    assert await waiting(fulfilment) == [("shipment-of-dispatch", str(early_id))]
    await fulfilment.rows(
        "UPDATE replacements SET shipment_id = $1 WHERE shipment_id = $2",
        early_id,
        request.payload.shipment_id,
    )

    rechecked = await fulfilment.expire_waiting()

    [replaced] = rechecked.events(DeviceReplaced)
    assert replaced.causation_id == dispatch.event_id
    assert replaced.payload.new_sn == dispatch.payload.new_sn
