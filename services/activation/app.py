"""The activation service: plan codes, devices, activation requests and video reviews."""

from __future__ import annotations

from pathlib import Path

from contracts import topics
from services.activation import handlers
from shared.runtime import Service

service = Service(
    "activation",
    migrations=Path(__file__).parent / "migrations",
    owns=(topics.ACTIVATION_EVENTS,),
    description="Binds plan codes to devices (A1, A2, X1) and owns the owners' personal data.",
)
service.consumes(topics.PLAN_ORDERS)(handlers.record_plan_order)
service.consumes(topics.DEVICE_ACTIVATIONS)(handlers.record_device_activation)
service.consumes(topics.ACTIVATION_REQUESTS)(handlers.request_activation)
service.consumes(topics.VIDEO_REVIEWS)(handlers.review_video)
service.consumes(topics.COVERAGE_EVENTS)(handlers.follow_inheritance)
service.consumes(topics.CLAIMS_EVENTS)(handlers.bar_after_fraud)
