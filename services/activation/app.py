"""The activation service: plan codes, devices, activation requests, video reviews and AG
accessory associations."""

from __future__ import annotations

from pathlib import Path

from contracts import topics
from services.activation import handlers
from shared.messaging import each_event
from shared.runtime import Service

service = Service(
    "activation",
    migrations=Path(__file__).parent / "migrations",
    owns=(topics.ACTIVATION_EVENTS,),
    description=(
        "Binds plan codes to devices (A1, A2, X1, P4), renews plans (A3, A4), associates AG"
        " accessories with drones (G1-G3) and owns the owners' personal data."
    ),
)
service.consumes(topics.PLAN_ORDERS)(each_event(handlers.record_plan_order))
service.consumes(topics.DEVICE_ACTIVATIONS)(each_event(handlers.record_device_activation))
service.consumes(topics.ACTIVATION_REQUESTS)(each_event(handlers.request_activation))
service.consumes(topics.VIDEO_REVIEWS)(each_event(handlers.review_video))
service.consumes(topics.COVERAGE_EVENTS)(each_event(handlers.follow_coverage))
service.consumes(topics.CLAIMS_EVENTS)(each_event(handlers.bar_after_fraud))
service.consumes(topics.ACCESSORY_ACTIVATIONS)(each_event(handlers.activate_accessory))
