"""Express replacement (X3, C5, X2): paid first, pre-authorised, and settled on the unit."""

from __future__ import annotations

import pytest

from contracts import topics as t
from contracts.claims import (
    ClaimDecided,
    ClaimOutcome,
    PreAuthorisationCaptureRequested,
    PreAuthorisationReleaseRequested,
)
from contracts.coverage import DeductionApplied, PlanInherited
from contracts.fulfilment import PaymentRecorded, PreAuthorisationRequested, ShipmentRequested
from contracts.upstream import IncidentCause, ServiceMode
from contracts.waiting import EventWaiting
from shared.catalogue import consumer_catalogue
from simulation import factories as f
from simulation.kafka_io import EventLog, Upstream
from simulation.processes import Platform
from tests.e2e.journeys import Device, activate_plan, eventually, query

pytestmark = pytest.mark.e2e


async def _premium_replacement(
    platform: Platform, upstream: Upstream, events: EventLog, device: Device
) -> str:
    """Request express premium, pay the fee, place the pre-authorisation, get the unit shipped."""
    request = f.express_request(device.sn, device.model)
    case_id = request.payload.case_id
    await upstream.send(t.REPAIR_ASSESSMENTS, device.sn, request)
    (decided,) = await events.wait_for(ClaimDecided, lambda e: e.payload.case_id == case_id)
    assert decided.payload.outcome is ClaimOutcome.REPLACEMENT
    assert decided.payload.service_mode is ServiceMode.EXPRESS_PREMIUM
    (applied,) = await events.wait_for(DeductionApplied, lambda e: e.payload.case_id == case_id)
    (hold,) = await events.wait_for(
        PreAuthorisationRequested, lambda e: e.payload.case_id == case_id
    )
    assert str(hold.payload.amount) == "1099.00 USD"  # the Air 3's value

    await upstream.send(t.PAYMENT_SETTLEMENTS, case_id, f.payment(case_id, applied.payload.fee))

    async def fee_recorded() -> bool:
        sql = "SELECT 1 FROM payments WHERE case_id = $1"
        return bool(await query(platform, "fulfilment", sql, case_id))

    await eventually(fee_recorded, "fulfilment recorded the fee")
    assert not events.of(ShipmentRequested, lambda e: e.payload.case_id == case_id)

    placed = f.pre_authorisation_placed(case_id, hold.payload.amount)
    await upstream.send(t.PAYMENT_SETTLEMENTS, case_id, placed)
    (shipment,) = await events.wait_for(ShipmentRequested, lambda e: e.payload.case_id == case_id)
    new_sn = f.new_serial()
    dispatch = f.dispatch(shipment.payload.shipment_id, new_sn, case_id)
    await upstream.send(t.WAREHOUSE_DISPATCHES, str(shipment.payload.shipment_id), dispatch)
    await events.wait_for(PlanInherited, lambda e: e.payload.case_id == case_id)
    return case_id


async def test_x3_premium_ships_before_the_unit_and_a_unit_without_battery_is_captured(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-2y", "air-3")
    old_sn = device.sn
    case_id = await _premium_replacement(platform, upstream, events, device)
    arrival = f.assessment(old_sn, device.model, case_id=case_id, battery_present=False)
    await upstream.send(t.REPAIR_ASSESSMENTS, old_sn, arrival)
    (capture,) = await events.wait_for(
        PreAuthorisationCaptureRequested, lambda e: e.payload.case_id == case_id
    )
    assert capture.payload.reason_codes == ["BATTERY_MISSING"]
    assert len(events.of(ClaimDecided, lambda e: e.payload.case_id == case_id)) == 1


async def test_x3_premium_released_when_the_unit_arrives_whole_captured_when_it_is_late(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-2y", "air-3")
    old_sn = device.sn
    on_time = await _premium_replacement(platform, upstream, events, device)
    await upstream.send(
        t.REPAIR_ASSESSMENTS, old_sn, f.assessment(old_sn, device.model, case_id=on_time)
    )
    await events.wait_for(PreAuthorisationReleaseRequested, lambda e: e.payload.case_id == on_time)

    (moved,) = await events.wait_for(PlanInherited, lambda e: e.payload.case_id == on_time)
    device.sn = moved.payload.new_sn
    late = await _premium_replacement(platform, upstream, events, device)
    await upstream.send(t.REPAIR_ASSESSMENTS, device.sn, f.unit_overdue(late))
    (capture,) = await events.wait_for(
        PreAuthorisationCaptureRequested, lambda e: e.payload.case_id == late
    )
    assert capture.payload.reason_codes == ["UNIT_NOT_RECEIVED_IN_TIME"]
    (case,) = await query(
        platform,
        "claims",
        "SELECT unit_state, pre_authorisation FROM cases WHERE case_id = $1",
        late,
    )
    assert (case["unit_state"], case["pre_authorisation"]) == ("overdue", "capture_requested")


async def test_x2_express_is_refused_for_a_flyaway(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-1y", "mavic-3")
    request = f.express_request(device.sn, device.model, IncidentCause.FLYAWAY)
    await upstream.send(t.REPAIR_ASSESSMENTS, device.sn, request)
    (decided,) = await events.wait_for(
        ClaimDecided, lambda e: e.payload.case_id == request.payload.case_id
    )
    assert "EXPRESS_NOT_FOR_FLYAWAY" in decided.payload.reason_codes


async def test_x3_c5_express_basic_is_paid_first_and_ships_once_adjudicated(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-1y", "mini-3")
    report = f.assessment(device.sn, device.model, service_mode=ServiceMode.EXPRESS_BASIC)
    case_id = report.payload.case_id
    fee, _ = consumer_catalogue().replacement_fee(
        device.model, flyaway=False, replacements_used=0, at=f.now()
    )
    paid = f.payment(case_id, fee)
    await upstream.send(t.PAYMENT_SETTLEMENTS, case_id, paid)
    # Read before the unit came in, the fee is kept for the case's deduction (case-of-payment).
    (kept,) = await events.wait_for(
        EventWaiting, lambda e: e.payload.waiting_event_id == paid.event_id
    )
    assert (kept.payload.dependency, kept.payload.key) == ("case-of-payment", case_id)
    await upstream.send(t.REPAIR_ASSESSMENTS, device.sn, report)
    (shipment,) = await events.wait_for(ShipmentRequested, lambda e: e.payload.case_id == case_id)
    (answer,) = await events.wait_for(PaymentRecorded, lambda e: e.payload.case_id == case_id)
    assert shipment.payload.old_sn == device.sn
    assert (answer.payload.payment_id, answer.payload.paid_for) == (
        paid.payload.payment_id,
        "replacement_fee",
    )
    assert not events.of(PreAuthorisationRequested, lambda e: e.payload.case_id == case_id)
