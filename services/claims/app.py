"""The claims service: adjudicates repair assessments into decisions."""

from __future__ import annotations

from pathlib import Path

from contracts import topics
from services.claims import handlers
from services.claims.waiting import WAITS_FOR
from shared.runtime import Service

service = Service(
    "claims",
    migrations=Path(__file__).parent / "migrations",
    owns=(topics.CLAIMS_EVENTS, topics.INSURER_CLAIMS),
    description="Adjudicates assessments (CR C1-C6, X4; AG C1-C4, C7-C9, G4) with reason codes,"
    " the fee (P2) or the repair split (C7); reports to insurers (C8, L1-L4).",
    waits_for=WAITS_FOR,
)
service.consumes(topics.COVERAGE_EVENTS)(handlers.on_coverage_event)
service.consumes(topics.REPAIR_ASSESSMENTS)(handlers.on_repair_event)
service.consumes(topics.CLAIM_REVIEWS)(handlers.on_review)
service.consumes(topics.INSURER_RESPONSES)(handlers.on_insurer_response)
service.consumes(topics.LIABILITY_INCIDENTS)(handlers.on_liability_incident)
service.consumes(topics.ACTIVATION_EVENTS)(handlers.on_activation_event)
