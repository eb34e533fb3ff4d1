"""The claims service: adjudicates repair assessments into decisions."""

from __future__ import annotations

from pathlib import Path

from contracts import topics
from services.claims import handlers
from shared.runtime import Service

service = Service(
    "claims",
    migrations=Path(__file__).parent / "migrations",
    owns=(topics.CLAIMS_EVENTS,),
    description="Adjudicates assessments (C1-C6, X4) with reason codes and the fee (P2).",
)
service.consumes(topics.COVERAGE_EVENTS)(handlers.project_coverage_event)
service.consumes(topics.REPAIR_ASSESSMENTS)(handlers.on_repair_event)
service.consumes(topics.CLAIM_REVIEWS)(handlers.review_case)
