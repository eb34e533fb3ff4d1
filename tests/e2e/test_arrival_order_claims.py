"""Claims' answers do not depend on arrival order, driven as an outside system would: a claim
sent the moment its plan is announced waits for claims to read the plan (D4, F3), a corrected
case gets an explicit answer, and two claims racing on the last replacement end with exactly
one final outcome each on claims.events.v1, one approval and one refusal (C5, C7)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from contracts import topics as t
from contracts.activation import PlanActivated
from contracts.claims import (
    CASE_ALREADY_DECIDED,
    ClaimDecided,
    ClaimDecisionRepublished,
    ClaimFinalised,
    ClaimOutcome,
    RefusedBy,
    ResubmissionRefused,
)
from contracts.coverage import DeductionApplied, QuotaDeductionApplied
from contracts.fulfilment import DeviceReplaced, ShipmentRequested
from contracts.upstream import IncidentCause
from simulation import factories as f
from simulation.kafka_io import EventLog, Upstream
from simulation.processes import Platform
from tests.e2e.ag_journeys import ag_claim, ledger_answer, open_ag_plan
from tests.e2e.journeys import Device, activate_plan, claim, eventually, query, request_activation

pytestmark = pytest.mark.e2e

ROUNDS = 10


def about(case_id: str) -> Callable[[Any], bool]:
    return lambda event: event.payload.case_id == case_id


async def plan_announced(platform: Platform, upstream: Upstream, events: EventLog) -> Device:
    """Sell a 1-Year plan and bind it; return as soon as activation announces PlanActivated,
    before coverage has opened the ledger or claims has read it."""
    model = "mavic-3"
    sn = await request_activation(platform, upstream, "care-refresh-1y", model)
    (activated,) = await events.wait_for(PlanActivated, lambda e: e.payload.sn == sn)
    return Device(sn, model, str(activated.payload.plan_id))


async def test_d4_a_claim_sent_the_moment_its_plan_is_activated_is_approved_every_time(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    async def claim_at_once() -> ClaimDecided:
        device = await plan_announced(platform, upstream, events)
        return await claim(upstream, events, device)

    decided = await asyncio.gather(*(claim_at_once() for _ in range(ROUNDS)))

    outcomes = [d.payload.outcome for d in decided]
    assert outcomes == [ClaimOutcome.REPLACEMENT] * ROUNDS, [
        d.payload.reason_codes for d in decided
    ]


async def test_f3_a_claim_on_the_new_sn_right_after_device_replaced_is_approved(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-2y", "mavic-3")
    first = await claim(upstream, events, device)
    case_id = first.payload.case_id
    (applied,) = await events.wait_for(DeductionApplied, about(case_id))
    await upstream.send(t.PAYMENT_SETTLEMENTS, case_id, f.payment(case_id, applied.payload.fee))
    (shipment,) = await events.wait_for(ShipmentRequested, about(case_id))
    new_sn = f.new_serial()
    await upstream.send(
        t.WAREHOUSE_DISPATCHES,
        str(shipment.payload.shipment_id),
        f.dispatch(shipment.payload.shipment_id, new_sn, case_id),
    )
    await events.wait_for(DeviceReplaced, about(case_id))

    on_new = await claim(upstream, events, Device(new_sn, device.model, device.plan_id))

    assert on_new.payload.outcome is ClaimOutcome.REPLACEMENT, on_new.payload.reason_codes
    assert str(on_new.payload.plan_id) == device.plan_id


async def test_a_corrected_case_is_refused_case_already_decided_and_a_retry_gets_a_copy(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    """Theft, then collision under the same case id: the theft's refusal stands and the second
    report is answered with its decision's id; the theft's report sent again gets a copy."""
    device = await activate_plan(platform, upstream, events, "care-refresh-1y", "mavic-3")
    theft = f.assessment(device.sn, device.model, IncidentCause.THEFT)
    case_id = theft.payload.case_id
    await upstream.send(t.REPAIR_ASSESSMENTS, device.sn, theft)
    (decided,) = await events.wait_for(ClaimDecided, about(case_id))
    (final,) = await events.wait_for(ClaimFinalised, about(case_id))

    collision = f.assessment(device.sn, device.model, IncidentCause.COLLISION, case_id=case_id)
    await upstream.send(t.REPAIR_ASSESSMENTS, device.sn, collision)
    (answer,) = await events.wait_for(ResubmissionRefused, about(case_id))
    retry = theft.model_copy(update={"event_id": uuid.uuid4()})
    await upstream.send(t.REPAIR_ASSESSMENTS, device.sn, retry)
    (copy,) = await events.wait_for(ClaimDecisionRepublished, about(case_id))

    assert answer.payload.reason_codes == [CASE_ALREADY_DECIDED]
    assert (answer.payload.decision_id, answer.causation_id) == (
        decided.event_id,
        collision.event_id,
    )
    assert (copy.payload.decision_id, copy.payload.final_outcome_id) == (
        decided.event_id,
        final.event_id,
    )
    assert copy.causation_id == retry.event_id
    assert len(events.of(ClaimDecided, about(case_id))) == 1


async def test_c5_two_claims_on_the_last_replacement_end_in_one_approval_and_one_refusal(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    """Both sent at once on a Care Refresh+ plan (one replacement): claims.events.v1 alone says
    who got it, with exactly one final outcome per case, and the dashboard counts them so."""
    device = await activate_plan(platform, upstream, events, "care-refresh-plus", "mavic-3-pro")
    reports = [f.assessment(device.sn, device.model) for _ in range(2)]
    await asyncio.gather(*(upstream.send(t.REPAIR_ASSESSMENTS, device.sn, r) for r in reports))
    cases = {report.payload.case_id for report in reports}

    finals = await events.wait_for(ClaimFinalised, lambda e: e.payload.case_id in cases, count=2)
    await events.wait_for(DeductionApplied, lambda e: e.payload.case_id in cases)

    by_case = {final.payload.case_id: final for final in finals}
    assert len(by_case) == 2
    outcomes = sorted(final.payload.outcome.value for final in finals)
    assert outcomes == ["refused", "replacement"]
    (refusal,) = [final for final in finals if final.payload.outcome is ClaimOutcome.REFUSED]
    assert (refusal.payload.refused_by, refusal.payload.reason_codes) == (
        RefusedBy.CLAIMS,
        ["NO_REPLACEMENTS_LEFT"],
    )
    approvals = events.of(
        ClaimDecided,
        lambda e: e.payload.case_id in cases and e.payload.outcome is ClaimOutcome.REPLACEMENT,
    )
    assert len(approvals) == 1
    assert len(events.of(ClaimFinalised, lambda e: e.payload.case_id in cases)) == 2

    async def dashboard_counts() -> bool:
        rows = await query(
            platform,
            "operations",
            "SELECT outcome FROM cases WHERE case_id = ANY($1) AND finalised_at IS NOT NULL",
            list(cases),
        )
        return sorted(row["outcome"] for row in rows) == outcomes

    await eventually(dashboard_counts, "the dashboard counts one approval and one refusal")


async def test_c7_two_repairs_racing_on_one_base_quota_are_quoted_what_the_ledger_takes(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    """C7: the second repair is quoted against what the first one's quote left, so both
    decisions announce what the ledger then takes, to the cent, and so does each final outcome."""
    device = await open_ag_plan(platform, upstream, events, "T40")  # base 20,000.00
    lines = [f.repair_line("frame", "15000.00")]
    decided = await asyncio.gather(*(ag_claim(upstream, events, device, lines) for _ in "ab"))

    for decision in decided:
        answer = await ledger_answer(events, decision.payload.case_id)
        assert isinstance(answer, QuotaDeductionApplied)
        assert decision.payload.repair_split == answer.payload.split
        (final,) = await events.wait_for(ClaimFinalised, about(decision.payload.case_id))
        assert final.payload.repair_split == answer.payload.split
    splits = [d.payload.repair_split for d in decided]
    quoted = sorted(split.from_base_quota.amount for split in splits if split is not None)
    assert quoted == [Decimal("5000.00"), Decimal("15000.00")]
