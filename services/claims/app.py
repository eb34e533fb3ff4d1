"""The claims service: adjudicates repair assessments into decisions."""

from __future__ import annotations

from pathlib import Path

from contracts import topics
from services.claims import agricultural, handlers
from shared.messaging import each_event
from shared.runtime import Service

service = Service(
    "claims",
    migrations=Path(__file__).parent / "migrations",
    owns=(topics.CLAIMS_EVENTS, topics.INSURER_CLAIMS),
    description="Adjudicates assessments (CR C1-C6, X4; AG C1-C4, C7-C9, G4) with reason codes,"
    " the fee (P2) or the repair split (C7); reports to insurers (C8, L1-L4).",
)
service.consumes(topics.COVERAGE_EVENTS)(each_event(handlers.project_coverage_event))
service.consumes(topics.REPAIR_ASSESSMENTS)(each_event(handlers.on_repair_event))
service.consumes(topics.CLAIM_REVIEWS)(each_event(handlers.review_case))
service.consumes(topics.INSURER_RESPONSES)(each_event(agricultural.on_insurer_response))
service.consumes(topics.LIABILITY_INCIDENTS)(each_event(agricultural.route_liability_incident))
service.consumes(topics.ACTIVATION_EVENTS)(each_event(agricultural.project_accessory_event))
