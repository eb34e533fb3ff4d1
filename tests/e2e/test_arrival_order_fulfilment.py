"""Fulfilment's answers do not depend on arrival order, driven as an outside system would: a fee
paid the moment the claim is decided, before fulfilment reads the deduction (coverage stopped),
waits for it, ships the replacement and is answered naming its payment (F1); a payment sent
again gets a copy of that answer; a dispatch of a shipment not requested yet waits before it is
refused (F3)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from contracts import topics as t
from contracts.claims import ClaimDecided
from contracts.fulfilment import PaymentRecorded, ShipmentRequested
from contracts.waiting import EventWaiting
from simulation import factories as f
from simulation.kafka_io import EventLog, Upstream
from simulation.processes import Platform
from tests.e2e.journeys import activate_plan

pytestmark = pytest.mark.e2e


def about(case_id: str) -> Callable[[Any], bool]:
    return lambda event: event.payload.case_id == case_id


async def test_f1_a_fee_paid_before_fulfilment_reads_its_deduction_ships_and_is_named(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    """The fee is paid the moment the claim is decided, while coverage is stopped: fulfilment
    reads the payment before the deduction, keeps it, and ships once coverage deducts."""
    device = await activate_plan(platform, upstream, events, "care-refresh-2y", "mavic-3")
    coverage = platform.process("coverage")
    await asyncio.to_thread(coverage.terminate)
    try:
        report = f.assessment(device.sn, device.model)
        case_id = report.payload.case_id
        await upstream.send(t.REPAIR_ASSESSMENTS, device.sn, report)
        (decided,) = await events.wait_for(ClaimDecided, about(case_id))
        assert decided.payload.fee is not None
        paid = f.payment(case_id, decided.payload.fee)
        await upstream.send(t.PAYMENT_SETTLEMENTS, case_id, paid)
        (kept,) = await events.wait_for(
            EventWaiting, lambda e: e.payload.waiting_event_id == paid.event_id
        )
    finally:
        coverage.start()
        await coverage.wait_started()

    (shipment,) = await events.wait_for(ShipmentRequested, about(case_id))
    (answer,) = await events.wait_for(PaymentRecorded, about(case_id))

    assert (kept.payload.dependency, kept.payload.key) == ("case-of-payment", case_id)
    assert answer.payload.payment_id == paid.payload.payment_id
    assert answer.causation_id == paid.event_id
    assert str(answer.payload.plan_id) == device.plan_id
    assert (answer.payload.paid_for, answer.payload.copy_of) == ("replacement_fee", None)
    assert str(shipment.payload.plan_id) == device.plan_id

    again = paid.model_copy(update={"event_id": uuid.uuid4()})
    await upstream.send(t.PAYMENT_SETTLEMENTS, case_id, again)
    (copy,) = await events.wait_for(PaymentRecorded, lambda e: e.causation_id == again.event_id)

    assert copy.payload == answer.payload.model_copy(update={"copy_of": answer.event_id})
    assert len(events.of(ShipmentRequested, about(case_id))) == 1
    assert len(events.of(PaymentRecorded, about(case_id))) == 2


async def test_f3_a_dispatch_before_its_shipment_waits_for_it_before_it_is_refused(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    shipment_id = uuid.uuid4()
    early = f.dispatch(shipment_id, f.new_serial(), "CASE-EARLY")
    await upstream.send(t.WAREHOUSE_DISPATCHES, str(shipment_id), early)

    (kept,) = await events.wait_for(
        EventWaiting, lambda e: e.payload.waiting_event_id == early.event_id
    )
    (letter,) = await events.wait_for_dead_letters(
        lambda letter: str(early.event_id).encode() in letter.value, count=1
    )

    assert (kept.payload.service, kept.payload.dependency) == ("fulfilment", "shipment-of-dispatch")
    assert kept.payload.key == str(shipment_id)
    assert "was requested" in letter.headers["dlq-reason"]
