"""The coverage service: the plan ledger."""

from __future__ import annotations

from pathlib import Path

from contracts import topics
from services.coverage import handlers
from shared.runtime import Service

service = Service(
    "coverage",
    migrations=Path(__file__).parent / "migrations",
    owns=(topics.COVERAGE_EVENTS,),
    description="The plan ledger: terms, replacements and AG quotas left, deductions,"
    " inheritance (F3) and the end of each term, announced once (C9).",
)
service.on_clock(handlers.announce_term_ends)
service.consumes(topics.ACTIVATION_EVENTS)(handlers.on_activation_event)
service.consumes(topics.CLAIMS_EVENTS)(handlers.on_claims_event)
service.consumes(topics.FULFILMENT_EVENTS)(handlers.on_fulfilment_event)
service.consumes(topics.INSURER_RESPONSES)(handlers.on_insurer_response)
