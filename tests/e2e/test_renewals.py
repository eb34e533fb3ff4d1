"""Consumer-plan renewals (A3, X1) through the running services."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contracts.activation import ActivationRefused, PlanRenewed
from contracts.claims import ClaimOutcome
from contracts.coverage import CoverageExtended, DeductionApplied
from simulation import factories as f
from simulation.kafka_io import EventLog, Upstream
from simulation.processes import Platform
from tests.e2e.journeys import activate_plan, claim, query, renew

pytestmark = pytest.mark.e2e


async def test_a3_renewal_15_days_after_expiry_is_accepted_16_days_is_refused(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    started = f.now() - timedelta(days=400)
    device = await activate_plan(
        platform, upstream, events, "care-refresh-1y", "mini-3", at=started
    )
    (term,) = await query(
        platform, "coverage", "SELECT * FROM plan_balances WHERE sn = $1", device.sn
    )
    expired = term["term_end"]

    late = await renew(platform, upstream, events, device, expired + timedelta(days=16))
    assert isinstance(late, ActivationRefused)
    assert late.payload.reason_codes == ["RENEWAL_WINDOW_CLOSED"]

    on_time = await renew(platform, upstream, events, device, expired + timedelta(days=15))
    assert isinstance(on_time, PlanRenewed)
    assert str(on_time.payload.plan_id) == device.plan_id
    assert on_time.payload.term_start == expired + timedelta(days=15)
    await events.wait_for(CoverageExtended, lambda e: str(e.payload.plan_id) == device.plan_id)

    # The renewal term has its own replacements: a claim today is paid from term 2.
    decided = await claim(upstream, events, device)
    assert decided.payload.outcome is ClaimOutcome.REPLACEMENT
    (applied,) = await events.wait_for(
        DeductionApplied, lambda e: e.payload.case_id == decided.payload.case_id
    )
    assert (applied.payload.term_no, applied.payload.replacements_left) == (2, 1)


async def test_a3_a_two_year_plus_one_year_device_is_refused_a_further_renewal(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-2y", "mavic-3-pro")
    first = await renew(platform, upstream, events, device, f.now())
    assert isinstance(first, PlanRenewed)
    (term,) = await query(
        platform,
        "activation",
        "SELECT term_end FROM plan_terms WHERE plan_id = $1::uuid AND term_no = 1",
        device.plan_id,
    )
    assert first.payload.term_start == term["term_end"]  # bought during the term: no overlap

    further = await renew(platform, upstream, events, device, f.now())
    assert isinstance(further, ActivationRefused)
    assert "RENEWAL_BEYOND_THREE_YEARS" in further.payload.reason_codes
