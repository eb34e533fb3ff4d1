"""Agricultural-plan journeys through the running platform, driven only through Kafka topics.

The real journey through activation is `tests.e2e.journeys.activate_ag_plan` / `renew_ag`. Here
an AG plan can also be opened the way coverage learns of one: a `PlanActivated` (family
agricultural, with the catalogue's `AgriculturalTerm`) on `activation.events.v1`, which places a
term anywhere in time (long expired, say) without the activation rules in the way.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from contracts import topics as t
from contracts.activation import (
    PlanActivated,
    PlanActivatedPayload,
)
from contracts.agricultural import PlanFamily
from contracts.claims import ClaimDecided
from contracts.coverage import (
    CoverageOpened,
    DeductionRefused,
    QuotaDeductionApplied,
)
from contracts.envelope import Envelope
from contracts.upstream import RepairLine
from simulation import factories as f
from simulation.agricultural import YEAR, ag_term
from simulation.kafka_io import EventLog, Upstream
from simulation.processes import Platform
from tests.e2e.journeys import Device, claims_sees_plan_on, eventually, query


async def open_ag_plan(
    platform: Platform,
    upstream: Upstream,
    events: EventLog,
    model: str,
    *,
    term_start: datetime | None = None,
    plan_year: int = 1,
    liability_cover: bool = False,
) -> Device:
    """A first AG term bound to a new drone, as activation announces it (P4, P5)."""
    sn, plan_id = f.new_serial(), uuid.uuid4()
    start = term_start or f.now() - timedelta(days=30)
    activated = PlanActivated.new(
        PlanActivatedPayload(
            plan_id=plan_id,
            plan_code=f"AG-{uuid.uuid4().hex[:10].upper()}",
            sn=sn,
            model=model,
            sku="ag-care-year-1" if plan_year == 1 else f"ag-care-renewal-{plan_year}",
            region="CN",
            owner_id=uuid.uuid4(),
            term_start=start,
            term_end=start + YEAR,
            replacements=0,
            flyaways=0,
            purchased_at=start,
            family=PlanFamily.AGRICULTURAL,
            agricultural=ag_term(model, plan_year, liability_cover=liability_cover),
        ),
        producer="activation",
        correlation_id=sn,
    )
    await upstream.send(t.ACTIVATION_EVENTS, sn, activated)
    await events.wait_for(CoverageOpened, lambda e: e.payload.plan_id == plan_id)
    await claims_sees_plan_on(platform, sn)
    return Device(sn, model, str(plan_id))


async def ag_claim(
    upstream: Upstream,
    events: EventLog,
    device: Device,
    lines: list[RepairLine],
    **assessment: Any,
) -> ClaimDecided:
    """The repair centre reports a priced AG repair; wait for claims' decision."""
    report = f.ag_assessment(device.sn, device.model, lines, **assessment)
    await upstream.send(t.REPAIR_ASSESSMENTS, device.sn, report)
    (decided,) = await events.wait_for(
        ClaimDecided, lambda e: e.payload.case_id == report.payload.case_id
    )
    return decided


async def ledger_answer(events: EventLog, case_id: str) -> QuotaDeductionApplied | DeductionRefused:
    """What the ledger did with an AG repair decision: took it (what it took), or refused it."""
    (answer,) = await events.wait_for(
        Envelope,
        lambda e: (
            isinstance(e, QuotaDeductionApplied | DeductionRefused) and e.payload.case_id == case_id
        ),
    )
    assert isinstance(answer, QuotaDeductionApplied | DeductionRefused)
    return answer


async def claims_sees_base_quota(platform: Platform, device: Device, amount: str) -> None:
    """Wait until claims' read model shows the ledger's base balance (it lags the ledger)."""

    async def projected() -> bool:
        rows = await query(
            platform,
            "claims",
            "SELECT base_quota_left FROM plan_view_terms WHERE plan_id = $1::uuid"
            " ORDER BY term_no DESC LIMIT 1",
            device.plan_id,
        )
        return bool(rows) and rows[0]["base_quota_left"] == Decimal(amount)

    await eventually(projected, f"claims sees a base quota of {amount} on {device.sn}")
