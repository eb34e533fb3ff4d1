"""The activation service: plan codes, devices, activation requests, video reviews and AG
accessory associations."""

from __future__ import annotations

from pathlib import Path

from contracts import topics
from services.activation import handlers
from services.activation.waiting import WAITS_FOR
from shared.runtime import Service

service = Service(
    "activation",
    migrations=Path(__file__).parent / "migrations",
    owns=(topics.ACTIVATION_EVENTS,),
    description=(
        "Binds plan codes to devices (A1, A2, X1, P4), renews plans (A3, A4), associates AG"
        " accessories with drones (G1-G3) and owns the owners' personal data."
    ),
    waits_for=WAITS_FOR,
)
service.consumes(topics.PLAN_ORDERS)(handlers.on_plan_orders)
service.consumes(topics.DEVICE_ACTIVATIONS)(handlers.on_device_activations)
service.consumes(topics.ACTIVATION_REQUESTS)(handlers.on_activation_requests)
service.consumes(topics.VIDEO_REVIEWS)(handlers.on_video_reviews)
service.consumes(topics.COVERAGE_EVENTS)(handlers.on_coverage_events)
service.consumes(topics.CLAIMS_EVENTS)(handlers.on_claims_events)
service.consumes(topics.ACCESSORY_ACTIVATIONS)(handlers.on_accessory_activations)
