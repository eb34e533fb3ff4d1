"""Graceful shutdown: SIGTERM mid-stream finishes or abandons the message in hand without
committing what was not applied, and a restart resumes exactly where the service stopped."""

from __future__ import annotations

import asyncio

import pytest

from contracts import topics as t
from contracts.claims import ClaimDecided
from simulation import factories as f
from simulation.kafka_io import EventLog, Upstream
from simulation.processes import Platform
from tests.e2e.journeys import activate_plan, query

pytestmark = pytest.mark.e2e

CASES = 60


async def test_sigterm_mid_stream_loses_nothing_and_applies_nothing_twice(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-2y", "mavic-3")
    reports = [f.assessment(device.sn, device.model) for _ in range(CASES)]
    case_ids = {report.payload.case_id for report in reports}
    await asyncio.gather(*(upstream.send(t.REPAIR_ASSESSMENTS, device.sn, r) for r in reports))

    claims = platform.process("claims")
    await events.wait_for(ClaimDecided, lambda e: e.payload.case_id in case_ids)
    exit_code = await asyncio.to_thread(claims.terminate)
    assert exit_code == 0  # a graceful stop, not a crash

    claims.start()
    await claims.wait_started()
    decided = await events.wait_for(
        ClaimDecided, lambda e: e.payload.case_id in case_ids, count=CASES, timeout=120
    )
    assert sorted(e.payload.case_id for e in decided) == sorted(case_ids)  # each exactly once
    assert len({e.event_id for e in decided}) == CASES  # not even re-sent after the stop
    rows = await query(
        platform,
        "claims",
        "SELECT count(*) AS n FROM cases WHERE case_id = ANY($1::text[])",
        list(case_ids),
    )
    assert rows[0]["n"] == CASES
