"""What an event activation reads may come before (shared.waiting): each is kept until what it
depends on is saved, or its grace period is over, instead of being refused or decided without it.
"""

from __future__ import annotations

from services.activation.domain_binding import Missing
from shared.waiting import DEFAULT_GRACE, Dependency

ORDER_OF_REQUEST = Dependency(
    "order-of-request",
    "an activation request (activation.requests.v1) whose plan code has no order",
    "the order that sold the code (PlanOrderPlaced on commerce.plan-orders.v1)",
    DEFAULT_GRACE,
)
DEVICE_OF_REQUEST = Dependency(
    "device-of-request",
    "a consumer activation request (activation.requests.v1) on a device without a plan"
    " whose first activation has not been read (A1)",
    "the device's first activation (DeviceActivated on devices.activations.v1)",
    DEFAULT_GRACE,
)
PLAN_OF_RENEWAL = Dependency(
    "plan-of-renewal",
    "an AG year-2 or year-3 activation request (activation.requests.v1) on a device"
    " without a plan (A4)",
    "the plan the renewal extends: bound here by an earlier request or video review, or moved"
    " to the SN (PlanInherited on coverage.events.v1)",
    DEFAULT_GRACE,
)
EARLIER_REQUEST_OF_DEVICE = Dependency(
    "earlier-request-of-device",
    "an activation request (activation.requests.v1) on a device with an earlier"
    " request still waiting",
    "the decision of that earlier request, so requests on one device are decided in order",
    DEFAULT_GRACE,
)
REQUEST_OF_VIDEO_REVIEW = Dependency(
    "request-of-video-review",
    "a video review (activation.video-reviews.v1) of a request activation has not read",
    "the activation request (activation.requests.v1)",
    DEFAULT_GRACE,
)
DRONE_OF_ACCESSORY = Dependency(
    "drone-of-accessory",
    "an AG accessory activation (accessories.activations.v1) on a drone activation"
    " knows neither by its activation nor by a plan (G1)",
    "the drone: its first activation (DeviceActivated) or a plan bound to it or moved to it"
    " (PlanInherited)",
    DEFAULT_GRACE,
)
WAITS_FOR = (
    ORDER_OF_REQUEST,
    DEVICE_OF_REQUEST,
    PLAN_OF_RENEWAL,
    EARLIER_REQUEST_OF_DEVICE,
    REQUEST_OF_VIDEO_REVIEW,
    DRONE_OF_ACCESSORY,
)

# What a request the rules find something missing for waits on.
AWAITED = {
    Missing.ORDER: ORDER_OF_REQUEST,
    Missing.DEVICE: DEVICE_OF_REQUEST,
    Missing.PLAN: PLAN_OF_RENEWAL,
}
# What a request waits for that later requests on its device wait behind: a renewal waiting
# for its plan holds none, since the request that binds that plan may be the next one read.
OF_REQUEST = (ORDER_OF_REQUEST, DEVICE_OF_REQUEST)
