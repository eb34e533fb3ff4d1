"""Two claims racing for a plan's last replacement: exactly one wins, every time (C5, C9)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from contracts import topics as t
from contracts.claims import ClaimDecided, ClaimOutcome
from contracts.coverage import DeductionApplied, DeductionRefused
from contracts.envelope import Envelope
from simulation import factories as f
from simulation.kafka_io import EventLog, Upstream
from simulation.processes import Platform
from tests.e2e.journeys import activate_plan, query

pytestmark = pytest.mark.e2e

ROUNDS = 10


def about(cases: set[str]) -> Callable[[Any], bool]:
    return lambda event: event.payload.case_id in cases


def ledger_answer(cases: set[str]) -> Callable[[Envelope], bool]:
    def answered(event: Envelope) -> bool:
        return isinstance(event, DeductionApplied | DeductionRefused) and (
            event.payload.case_id in cases
        )

    return answered


async def test_two_claims_on_the_last_replacement_exactly_one_wins_every_time(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    devices = await asyncio.gather(
        *(
            activate_plan(platform, upstream, events, "care-refresh-plus", "mavic-3-pro")
            for _ in range(ROUNDS)
        )
    )
    pairs = [
        (device, f.assessment(device.sn, device.model), f.assessment(device.sn, device.model))
        for device in devices
    ]
    await asyncio.gather(
        *(
            upstream.send(t.REPAIR_ASSESSMENTS, device.sn, report)
            for device, *reports in pairs
            for report in reports
        )
    )
    for device, first, second in pairs:
        cases = {first.payload.case_id, second.payload.case_id}
        decided = await events.wait_for(ClaimDecided, about(cases), count=2)
        approved = {
            e.payload.case_id for e in decided if e.payload.outcome is ClaimOutcome.REPLACEMENT
        }

        # Whichever claims approved, the ledger answers each approval exactly once.
        await events.wait_for(Envelope, ledger_answer(approved), count=len(approved))
        won = events.of(DeductionApplied, about(cases))
        assert len(won) == 1, f"{device.sn}: {len(won)} deductions for one replacement"
        (plan,) = await query(
            platform,
            "coverage",
            "SELECT replacements_left FROM plan_balances WHERE sn = $1",
            device.sn,
        )
        assert plan["replacements_left"] == 0
