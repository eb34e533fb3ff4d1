"""The consumer-replacement spine across the four services (C5, F1-F3), end to end."""

from __future__ import annotations

import pytest

from contracts.claims import ClaimOutcome
from contracts.coverage import PlanExhausted
from contracts.fulfilment import DeviceReplaced
from contracts.upstream import IncidentCause
from simulation.kafka_io import EventLog, Upstream
from simulation.processes import Platform
from tests.e2e.journeys import activate_plan, claim, query, replace_unit

pytestmark = pytest.mark.e2e


async def test_c5_f3_one_year_plan_allows_two_replacements_and_refuses_the_third(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-1y", "mavic-3-pro")
    (plan,) = await query(
        platform, "coverage", "SELECT * FROM plan_balances WHERE sn = $1", device.sn
    )
    assert (plan["replacements_left"], plan["flyaways_left"]) == (2, 1)  # P1
    serials = [device.sn]

    for left_after in (1, 0):
        decided = await claim(upstream, events, device)
        assert decided.payload.outcome is ClaimOutcome.REPLACEMENT
        assert decided.payload.fee is not None
        assert str(decided.payload.fee) == "199.00 USD"  # P2: the Mavic 3 Pro fee, schedule 2
        assert decided.payload.fee_schedule == "cr-2"
        old_sn = device.sn
        new_sn = await replace_unit(platform, upstream, events, device, decided)
        serials.append(new_sn)
        (moved,) = await query(
            platform,
            "coverage",
            "SELECT * FROM plan_balances WHERE plan_id = $1::uuid",
            device.plan_id,
        )
        assert moved["sn"] == new_sn  # F3: the plan lives on the replacement
        assert moved["term_end"] == plan["term_end"]  # ... with the same end date
        assert moved["replacements_left"] == left_after
        assert not await query(platform, "coverage", "SELECT 1 FROM plans WHERE sn = $1", old_sn)

    await events.wait_for(PlanExhausted, lambda e: str(e.payload.plan_id) == device.plan_id)
    third = await claim(upstream, events, device)
    assert third.payload.outcome is ClaimOutcome.REFUSED
    assert third.payload.reason_codes == ["NO_REPLACEMENTS_LEFT"]

    history = await query(
        platform,
        "coverage",
        "SELECT sn FROM plan_serials WHERE plan_id = $1::uuid ORDER BY since",
        device.plan_id,
    )
    assert [row["sn"] for row in history] == serials
    shipped = await query(
        platform,
        "fulfilment",
        "SELECT state, damaged_unit_retained, customer_pays_shipping FROM replacements"
        " WHERE plan_id = $1::uuid",
        device.plan_id,
    )
    assert [tuple(row) for row in shipped] == [("dispatched", True, False)] * 2  # F1, F2
    assert len(events.of(DeviceReplaced, lambda e: str(e.payload.plan_id) == device.plan_id)) == 2


@pytest.mark.parametrize(
    ("cause", "assessment", "reasons"),
    [
        (IncidentCause.THEFT, {}, ["EXCLUDED_THEFT"]),
        (IncidentCause.UNSUITABLE_WEATHER, {}, ["EXCLUDED_UNSUITABLE_WEATHER"]),
        (IncidentCause.COLLISION, {"unit_sn": "MISMATCH000001"}, ["SN_MISMATCH"]),
    ],
)
async def test_c3_c4_refused_claims_end_with_a_decision_and_reason_codes(
    platform: Platform,
    upstream: Upstream,
    events: EventLog,
    cause: IncidentCause,
    assessment: dict[str, str],
    reasons: list[str],
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-2y", "air-3")
    decided = await claim(upstream, events, device, cause, **assessment)
    assert decided.payload.outcome is ClaimOutcome.REFUSED
    assert decided.payload.reason_codes == reasons
    (case,) = await query(
        platform, "claims", "SELECT * FROM cases WHERE case_id = $1", decided.payload.case_id
    )
    assert case["reason_codes"] == reasons
    (plan,) = await query(
        platform, "coverage", "SELECT * FROM plan_balances WHERE sn = $1", device.sn
    )
    assert plan["replacements_left"] == 4  # a refusal takes nothing off the plan


async def test_f1_a_customer_outside_the_plans_region_pays_shipping(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-1y", "mini-3")
    decided = await claim(upstream, events, device, customer_region="DE")
    await replace_unit(platform, upstream, events, device, decided)
    (row,) = await query(
        platform,
        "fulfilment",
        "SELECT customer_pays_shipping FROM replacements WHERE case_id = $1",
        decided.payload.case_id,
    )
    assert row["customer_pays_shipping"] is True
