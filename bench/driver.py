"""The load driver, taught the agricultural repair's end: the ledger's quota deduction.

`simulation.load.Driver` ends a case at a decision that is not a replacement, at the ledger's
refusal or when the replacement inherits the plan. An AG repair (outcome `repair`) is decided
first and then taken off the term's quotas by coverage (`QuotaDeductionApplied`): that is its
final event here. Nothing else changes: payments and the warehouse are played as before.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from contracts import topics as t
from contracts.claims import ClaimOutcome
from contracts.coverage import QuotaDeductionApplied
from contracts.envelope import Envelope
from contracts.upstream import AssessmentReported
from simulation import factories as f
from simulation.load import CaseTrack, Device, Driver

FINAL_AG_OUTCOMES = (ClaimOutcome.REPLACEMENT, ClaimOutcome.REPAIR)


@dataclass
class BenchCaseTrack(CaseTrack):
    agricultural: bool = False
    quota_deductions: dict[uuid.UUID, QuotaDeductionApplied] = field(default_factory=dict)

    @property
    def final(self) -> bool:
        if not self.agricultural:
            return super().final
        if self.ledger_refusals or self.quota_deductions:
            return True
        return any(e.payload.outcome not in FINAL_AG_OUTCOMES for e in self.decided.values())


class BenchDriver(Driver):
    """The load driver with AG repairs among the cases."""

    async def __aenter__(self) -> BenchDriver:
        await super().__aenter__()
        return self

    def ag_assessment(self, device: Device) -> AssessmentReported:
        """A priced AG repair: body lines from the base quota, a blade from the consumables."""
        lines = [
            f.repair_line("arm", "3600.00", "600.00"),
            f.repair_line("motor", "1500.00", "300.00"),
            f.repair_line("blade", "260.00", "40.00"),
        ]
        case_id = f"{self.run_id}-{uuid.uuid4().hex[:12]}"
        return f.ag_assessment(device.sn, device.model, lines, case_id=case_id)

    async def report(self, device: Device, report: AssessmentReported) -> None:
        self.cases[report.payload.case_id] = BenchCaseTrack(
            report.payload.case_id,
            device.sn,
            sent_at=time.monotonic(),
            agricultural=bool(report.payload.repair_lines),
        )
        self.sent.cases[report.payload.case_id] = report
        await self.send(t.REPAIR_ASSESSMENTS, device.sn, report)

    def _route(self, event: Envelope) -> None:
        super()._route(event)
        if isinstance(event, QuotaDeductionApplied):
            track = self.cases.get(event.payload.case_id)
            if isinstance(track, BenchCaseTrack):
                track.quota_deductions[event.event_id] = event
                if track.final and track.final_at is None:
                    track.final_at = time.monotonic()
