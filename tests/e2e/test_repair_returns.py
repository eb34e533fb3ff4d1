"""F5, F2: a repaired unit goes back to the customer when the repair is done."""

from __future__ import annotations

import uuid

import pytest

from contracts import topics as t
from contracts.fulfilment import RepairedUnitReturnArranged
from contracts.repairs import ReturnMethod
from simulation import factories as f
from simulation.kafka_io import EventLog, Upstream
from simulation.processes import Platform
from tests.e2e.journeys import eventually, query

pytestmark = pytest.mark.e2e


async def test_f5_f2_the_repaired_unit_is_shipped_back_or_collected_once_per_case(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    shipped_case, sn = f"CASE-{uuid.uuid4().hex[:12]}", f.new_serial()
    done = f.repair_completed(shipped_case, sn)
    await upstream.send(t.REPAIR_COMPLETIONS, shipped_case, done)
    (arranged,) = await events.wait_for(
        RepairedUnitReturnArranged, lambda e: e.payload.case_id == shipped_case
    )
    assert (arranged.payload.sn, arranged.payload.return_method) == (sn, ReturnMethod.SHIP)
    assert arranged.payload.service_point_id == "SP-SHENZHEN-01"
    assert arranged.payload.repair_completed_at == done.payload.completed_at

    # Reported again under a new event id, even with another method: the unit went back once.
    again = f.repair_completed(shipped_case, sn, method=ReturnMethod.COLLECT)
    await upstream.send(t.REPAIR_COMPLETIONS, shipped_case, again)

    async def handled() -> bool:
        rows = await query(
            platform, "fulfilment", "SELECT 1 FROM inbox WHERE event_id = $1", again.event_id
        )
        return bool(rows)

    await eventually(handled, "fulfilment handled the second report")
    (kept,) = await query(
        platform,
        "fulfilment",
        "SELECT return_method, replaced_parts_retained FROM repair_returns WHERE case_id = $1",
        shipped_case,
    )
    assert (kept["return_method"], kept["replaced_parts_retained"]) == ("ship", True)
    assert (
        len(events.of(RepairedUnitReturnArranged, lambda e: e.payload.case_id == shipped_case)) == 1
    )

    collected_case = f"CASE-{uuid.uuid4().hex[:12]}"
    await upstream.send(
        t.REPAIR_COMPLETIONS,
        collected_case,
        f.repair_completed(collected_case, f.new_serial(), method=ReturnMethod.COLLECT),
    )
    (waiting,) = await events.wait_for(
        RepairedUnitReturnArranged, lambda e: e.payload.case_id == collected_case
    )
    assert waiting.payload.return_method is ReturnMethod.COLLECT
