"""Consumer-plan rules through the running services (A1, C4-C6, X1, X2, X4)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contracts import topics as t
from contracts.activation import ActivationPending, ActivationRefused, PlanActivated
from contracts.claims import ClaimDecided, ClaimOutcome
from contracts.coverage import CoverageOpened
from contracts.money import Money
from contracts.upstream import CustomerChoice, IncidentCause, ReturnedPart
from contracts.waiting import WaitEnd, WaitOver
from simulation import factories as f
from simulation.kafka_io import EventLog, Upstream
from simulation.processes import Platform
from tests.e2e.journeys import activate_plan, claim, eventually, query, replace_unit

pytestmark = pytest.mark.e2e


async def test_c6_two_year_mavic_3_pro_four_replacements_two_flyaways(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-2y", "mavic-3-pro")
    for _ in range(2):
        flown = await claim(upstream, events, device, IncidentCause.FLYAWAY)
        assert flown.payload.outcome is ClaimOutcome.REPLACEMENT
        assert flown.payload.flyaway
        assert str(flown.payload.fee) == "699.00 USD"  # X2: the flyaway fee
        await replace_unit(platform, upstream, events, device, flown)

    third_flyaway = await claim(upstream, events, device, IncidentCause.FLYAWAY)
    assert third_flyaway.payload.reason_codes == ["FLYAWAY_LIMIT_REACHED"]

    for _ in range(2):
        crashed = await claim(upstream, events, device, IncidentCause.FALL)
        assert crashed.payload.outcome is ClaimOutcome.REPLACEMENT
        await replace_unit(platform, upstream, events, device, crashed)

    fifth = await claim(upstream, events, device, IncidentCause.COLLISION)
    assert fifth.payload.outcome is ClaimOutcome.REFUSED
    assert fifth.payload.reason_codes == ["NO_REPLACEMENTS_LEFT"]
    (plan,) = await query(
        platform, "coverage", "SELECT * FROM plan_balances WHERE plan_id = $1::uuid", device.plan_id
    )
    assert (plan["replacements_left"], plan["flyaways_left"], plan["state"]) == (0, 0, "exhausted")
    deductions = await query(
        platform,
        "coverage",
        "SELECT flyaway FROM deductions WHERE plan_id = $1::uuid ORDER BY applied_at",
        device.plan_id,
    )
    assert [row["flyaway"] for row in deductions] == [True, True, False, False]


async def test_x2_a_flyaway_without_the_app_binding_is_refused(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-1y", "air-3")
    decided = await claim(upstream, events, device, IncidentCause.FLYAWAY, app_bound=False)
    assert decided.payload.reason_codes == ["FLYAWAY_APP_BINDING_MISSING"]


async def _late_activation(
    platform: Platform, upstream: Upstream, events: EventLog
) -> tuple[str, str, str]:
    sn, code = f.new_serial(), f.new_plan_code()
    await upstream.send(t.PLAN_ORDERS, code, f.plan_order(code, "care-refresh-1y", "mini-3"))
    await upstream.send(
        t.DEVICE_ACTIVATIONS, sn, f.device_activation(sn, "mini-3", f.now() - timedelta(hours=50))
    )

    async def known() -> bool:
        return bool(await query(platform, "activation", "SELECT 1 FROM devices WHERE sn = $1", sn))

    await eventually(known, f"activation recorded the device {sn}")
    request = f.activation_request(code, sn)
    await upstream.send(t.ACTIVATION_REQUESTS, sn, request)
    (pending,) = await events.wait_for(ActivationPending, lambda e: e.payload.sn == sn)
    assert pending.payload.reason_code == "VIDEO_REVIEW_REQUIRED"
    return sn, code, request.payload.request_id


async def test_a1_mini_3_bound_50_hours_late_waits_for_its_video_then_binds(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    sn, code, request_id = await _late_activation(platform, upstream, events)
    (row,) = await query(
        platform, "activation", "SELECT state FROM plan_codes WHERE plan_code = $1", code
    )
    assert row["state"] == "pending"
    assert not events.of(PlanActivated, lambda e: e.payload.sn == sn)

    await upstream.send(t.VIDEO_REVIEWS, request_id, f.video_review(request_id, approved=True))
    (activated,) = await events.wait_for(PlanActivated, lambda e: e.payload.sn == sn)
    assert activated.payload.plan_code == code
    await events.wait_for(CoverageOpened, lambda e: e.payload.sn == sn)


async def test_a1_a_rejected_video_leaves_the_code_unused(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    sn, code, request_id = await _late_activation(platform, upstream, events)
    await upstream.send(t.VIDEO_REVIEWS, request_id, f.video_review(request_id, approved=False))
    (refused,) = await events.wait_for(ActivationRefused, lambda e: e.payload.sn == sn)
    assert refused.payload.reason_codes == ["VIDEO_REJECTED"]
    (row,) = await query(
        platform, "activation", "SELECT state FROM plan_codes WHERE plan_code = $1", code
    )
    assert row["state"] == "sold"  # the code can still be bound
    assert not events.of(PlanActivated, lambda e: e.payload.sn == sn)


async def test_a2_a_code_binds_once(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-1y", "avata")
    (code_row,) = await query(
        platform, "activation", "SELECT plan_code FROM plan_terms WHERE sn = $1", device.sn
    )
    other = f.new_serial()
    await upstream.send(t.DEVICE_ACTIVATIONS, other, f.device_activation(other, "avata"))
    await upstream.send(
        t.ACTIVATION_REQUESTS, other, f.activation_request(code_row["plan_code"], other)
    )
    (refused,) = await events.wait_for(ActivationRefused, lambda e: e.payload.sn == other)
    assert "PLAN_CODE_ALREADY_USED" in refused.payload.reason_codes


async def test_x4_c4_c5_warranty_parts_and_the_customers_choice(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-1y", "mavic-3-classic")
    warranty = await claim(upstream, events, device, IncidentCause.MANUFACTURING_DEFECT)
    assert warranty.payload.outcome is ClaimOutcome.WARRANTY_REPAIR
    foreign_part = ReturnedPart(
        part="gimbal camera", sn="GIMBAL00000001", matches_body_record=False
    )
    parts = await claim(upstream, events, device, parts=(foreign_part,))
    assert parts.payload.reason_codes == ["PART_SN_MISMATCH"]
    chose = await claim(upstream, events, device, choice=CustomerChoice.PAID_REPAIR)
    assert chose.payload.outcome is ClaimOutcome.PAID_REPAIR_CHOSEN
    assert chose.payload.fee is None
    (plan,) = await query(
        platform, "coverage", "SELECT * FROM plan_balances WHERE sn = $1", device.sn
    )
    assert plan["replacements_left"] == 2  # none of the three used a replacement


async def test_x1_an_official_repair_invitation_binds_within_72_hours(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    sn, code = f.new_serial(), f.new_plan_code()
    await upstream.send(t.PLAN_ORDERS, code, f.plan_order(code, "care-refresh-1y", "air-2s"))
    await upstream.send(
        t.DEVICE_ACTIVATIONS, sn, f.device_activation(sn, "air-2s", f.now() - timedelta(days=90))
    )

    async def known() -> bool:
        sql = "SELECT 1 FROM devices WHERE sn = $1"
        return bool(await query(platform, "activation", sql, sn))

    await eventually(known, f"activation recorded the device {sn}")
    invited = f.now() - timedelta(hours=10)
    request = f.activation_request(code, sn, repair_invitation_at=invited)
    await upstream.send(t.ACTIVATION_REQUESTS, sn, request)
    (activated,) = await events.wait_for(PlanActivated, lambda e: e.payload.sn == sn)
    assert activated.payload.term_start == request.payload.requested_at


async def test_d1_serials_are_normalised_before_any_comparison(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-1y", "mini-2")
    sloppy = f"  {device.sn.lower()} "
    report = f.assessment(sloppy, device.model, unit_sn=device.sn.lower())
    assert report.payload.reported_sn == device.sn
    raw = report.model_dump_json().replace(device.sn, sloppy, 1).encode()
    await upstream.send_raw(t.REPAIR_ASSESSMENTS.name, device.sn, raw)
    (decided,) = await events.wait_for(
        ClaimDecided, lambda e: e.payload.case_id == report.payload.case_id
    )
    assert decided.payload.outcome is ClaimOutcome.REPLACEMENT
    assert decided.payload.sn == device.sn


async def test_p3_an_order_at_the_wrong_price_is_dead_lettered_and_its_code_never_binds(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    code, sn = f.new_plan_code(), f.new_serial()
    order = f.plan_order(code, "care-refresh-1y", "mini-3")
    cheap = order.model_copy(
        update={"payload": order.payload.model_copy(update={"price": Money.of("9.99", "PLN")})}
    )
    await upstream.send(t.PLAN_ORDERS, code, cheap)
    letter = await events.wait_for_dead_letter(lambda letter: code.encode() in letter.value)
    assert "is not the catalogue price 299.00 PLN (P3)" in letter.headers["dlq-reason"]
    await upstream.send(t.DEVICE_ACTIVATIONS, sn, f.device_activation(sn, "mini-3"))
    await upstream.send(t.ACTIVATION_REQUESTS, sn, f.activation_request(code, sn))
    (refused,) = await events.wait_for(ActivationRefused, lambda e: e.payload.sn == sn)
    assert "PLAN_CODE_UNKNOWN" in refused.payload.reason_codes
    # Refused only once its wait for an order that never came is over (D2).
    (over,) = await events.wait_for(
        WaitOver, lambda e: (e.payload.dependency, e.payload.key) == ("order-of-request", code)
    )
    assert over.payload.ended is WaitEnd.EXPIRED
