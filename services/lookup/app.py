"""The lookup service: the read model and HTTP API behind the lookup by SN (X5)."""

from __future__ import annotations

from pathlib import Path

from contracts import topics
from services.lookup import handlers
from services.lookup.api import create_api
from shared.http_server import HttpServer
from shared.runtime import Service

service = Service(
    "lookup",
    migrations=Path(__file__).parent / "migrations",
    owns=(),
    description="Projects the platform's events into a read model of each SN: its plan, terms, "
    "replacements and flyaways left, warranty, claims and replacements (X5, F3), and of what "
    "each insurer was claimed and answered, for its monthly bordereau (C7, C8, L1-L4). "
    "Publishes nothing; answers over HTTP.",
)
service.consumes(topics.DEVICE_ACTIVATIONS)(handlers.record_device_activation)
service.consumes(topics.ACTIVATION_EVENTS)(handlers.on_activation_event)
service.consumes(topics.COVERAGE_EVENTS)(handlers.on_coverage_event)
service.consumes(topics.REPAIR_ASSESSMENTS)(handlers.on_repair_event)
service.consumes(topics.CLAIMS_EVENTS)(handlers.on_claims_event)
service.consumes(topics.FULFILMENT_EVENTS)(handlers.on_fulfilment_event)
service.consumes(topics.INSURER_CLAIMS)(handlers.on_insurer_claim)
service.consumes(topics.INSURER_RESPONSES)(handlers.on_insurer_response)
service.consumes(topics.PAYMENT_SETTLEMENTS)(handlers.on_payment_event)
service.consumes(topics.WAITING)(handlers.on_waiting_event)

http = HttpServer(
    create_api(lambda: service.pool),
    service="lookup",
    host=service.settings.lookup_http_host,
    port=service.settings.lookup_http_port,
)
service.on_started(http.start)
service.on_stopping(http.stop)
