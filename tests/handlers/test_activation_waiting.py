"""Activation waits instead of refusing for what it has not read yet: a request before the order
of its code (D2), before its device's first activation (A1) or before the plan it renews (A4),
a video review before its request (A1), an accessory before its drone (G1); later requests on a
device keep behind an earlier one still waiting. Each is answered as before once its grace is
over."""

from __future__ import annotations

from datetime import timedelta

from contracts import topics
from contracts.accessories import AccessoryType
from contracts.activation import (
    AccessoryAssociated,
    AccessoryAssociationRefused,
    ActivationPending,
    ActivationRefused,
    PlanActivated,
    PlanRenewed,
)
from contracts.waiting import EventWaiting, WaitOver
from simulation import factories as f
from tests.handlers.support import ServiceHarness
from tests.handlers.test_activation import activation, device, sold_consumer_code

__all__ = ["activation"]  # the harness fixture, shared with the other activation handler tests

GRACE = timedelta(minutes=15)


async def waiting(harness: ServiceHarness) -> list[tuple[str, str]]:
    rows = await harness.rows("SELECT dependency, key FROM waiting_events ORDER BY since")
    return [(row["dependency"], row["key"]) for row in rows]


async def test_d2_a_request_before_its_order_waits_and_binds_when_the_order_comes(
    activation: ServiceHarness,
) -> None:
    activation.grace = GRACE
    code, sn = f.new_plan_code(), await device(activation, "mini-3")
    request = f.activation_request(code, sn)

    kept = await activation.deliver((topics.ACTIVATION_REQUESTS, request))
    assert kept.events(ActivationRefused) == [] and len(kept.events(EventWaiting)) == 1
    assert await waiting(activation) == [("order-of-request", code)]

    handled = await activation.deliver(
        (topics.PLAN_ORDERS, f.plan_order(code, "care-refresh-1y", "mini-3"))
    )

    [activated] = handled.events(PlanActivated)
    assert (activated.payload.plan_code, activated.payload.sn) == (code, sn)
    assert activated.payload.request_id == request.payload.request_id
    assert activated.causation_id == request.event_id
    [over] = handled.events(WaitOver)
    assert over.payload.waiting_event_id == request.event_id
    assert await waiting(activation) == []


async def test_d2_a_request_and_its_order_in_one_batch_bind_in_either_order(
    activation: ServiceHarness,
) -> None:
    activation.grace = GRACE
    for request_first in (True, False):
        code, sn = f.new_plan_code(), await device(activation, "mini-3")
        request = (topics.ACTIVATION_REQUESTS, f.activation_request(code, sn))
        order = (topics.PLAN_ORDERS, f.plan_order(code, "care-refresh-1y", "mini-3"))

        handled = await activation.deliver(
            *((request, order) if request_first else (order, request))
        )

        assert handled.events(ActivationRefused) == []
        [activated] = handled.events(PlanActivated)
        assert activated.payload.sn == sn
    assert await waiting(activation) == []


async def test_d2_a_request_whose_order_never_comes_is_refused_once_the_grace_is_over(
    activation: ServiceHarness,
) -> None:
    activation.grace = GRACE
    code, sn = f.new_plan_code(), await device(activation, "mini-3")
    request = f.activation_request(code, sn)
    await activation.deliver((topics.ACTIVATION_REQUESTS, request))

    expired = await activation.expire_waiting()

    [refused] = expired.events(ActivationRefused)
    assert refused.payload.reason_codes == ["PLAN_CODE_UNKNOWN"]
    assert refused.payload.request_id == request.payload.request_id
    assert await waiting(activation) == []


async def test_a1_a_request_before_its_devices_activation_binds_instead_of_awaiting_a_video(
    activation: ServiceHarness,
) -> None:
    activation.grace = GRACE
    code, sn = await sold_consumer_code(activation), f.new_serial()
    request = f.activation_request(code, sn)

    kept = await activation.deliver((topics.ACTIVATION_REQUESTS, request))
    assert kept.events(ActivationPending) == []
    assert await waiting(activation) == [("device-of-request", sn)]
    handled = await activation.deliver(
        (topics.DEVICE_ACTIVATIONS, f.device_activation(sn, "mini-3"))
    )

    [activated] = handled.events(PlanActivated)
    assert activated.payload.request_id == request.payload.request_id

    other_code, other_sn = await sold_consumer_code(activation), f.new_serial()
    together = await activation.deliver(
        (topics.ACTIVATION_REQUESTS, f.activation_request(other_code, other_sn)),
        (topics.DEVICE_ACTIVATIONS, f.device_activation(other_sn, "mini-3")),
    )
    assert [event.payload.sn for event in together.events(PlanActivated)] == [other_sn]


async def test_a1_a_request_whose_device_is_never_seen_awaits_a_video_after_the_grace(
    activation: ServiceHarness,
) -> None:
    activation.grace = GRACE
    code, sn = await sold_consumer_code(activation), f.new_serial()
    await activation.deliver((topics.ACTIVATION_REQUESTS, f.activation_request(code, sn)))

    expired = await activation.expire_waiting()

    [pending] = expired.events(ActivationPending)
    assert pending.payload.reason_code == "VIDEO_REVIEW_REQUIRED"


async def ag_codes(activation: ServiceHarness, model: str = "T50") -> tuple[str, str]:
    first, renewal = f.new_ag_plan_code(), f.new_ag_plan_code()
    await activation.deliver(
        (topics.PLAN_ORDERS, f.ag_plan_order(first, "ag-care-year-1", model)),
        (topics.PLAN_ORDERS, f.ag_plan_order(renewal, "ag-care-renewal-2", model)),
    )
    return first, renewal


async def test_a4_a_renewal_before_the_plan_it_renews_waits_and_renews_it(
    activation: ServiceHarness,
) -> None:
    activation.grace = GRACE
    first, renewal = await ag_codes(activation)
    sn = await device(activation, "T50")
    renewing = f.activation_request(renewal, sn)
    bound_first = f.activation_request(first, sn, f.now() - timedelta(days=360))

    kept = await activation.deliver((topics.ACTIVATION_REQUESTS, renewing))
    assert kept.events(ActivationRefused) == []
    assert await waiting(activation) == [("plan-of-renewal", sn)]
    handled = await activation.deliver((topics.ACTIVATION_REQUESTS, bound_first))

    [activated] = handled.events(PlanActivated)
    [renewed] = handled.events(PlanRenewed)
    assert activated.payload.request_id == bound_first.payload.request_id
    assert renewed.payload.request_id == renewing.payload.request_id
    assert (renewed.payload.plan_id, renewed.payload.term_no) == (activated.payload.plan_id, 2)

    first, renewal = await ag_codes(activation)
    sn = await device(activation, "T50")
    together = await activation.deliver(
        (topics.ACTIVATION_REQUESTS, f.activation_request(renewal, sn)),
        (
            topics.ACTIVATION_REQUESTS,
            f.activation_request(first, sn, f.now() - timedelta(days=360)),
        ),
    )
    assert [
        type(event) for event in together.events() if getattr(event.payload, "sn", None) == sn
    ] == [
        PlanActivated,
        PlanRenewed,
    ]


async def test_a4_a_renewal_with_no_plan_is_refused_first_year_required_after_the_grace(
    activation: ServiceHarness,
) -> None:
    activation.grace = GRACE
    _, renewal = await ag_codes(activation)
    sn = await device(activation, "T50")
    await activation.deliver((topics.ACTIVATION_REQUESTS, f.activation_request(renewal, sn)))

    expired = await activation.expire_waiting()

    [refused] = expired.events(ActivationRefused)
    assert refused.payload.reason_codes == ["FIRST_YEAR_PLAN_REQUIRED"]


async def test_a1_a_later_request_on_a_device_keeps_behind_an_earlier_one_still_waiting(
    activation: ServiceHarness,
) -> None:
    activation.grace = GRACE
    late_code, known_code = f.new_plan_code(), await sold_consumer_code(activation)
    sn = await device(activation, "mini-3")
    earlier = f.activation_request(late_code, sn)
    later = f.activation_request(known_code, sn)

    kept = await activation.deliver(
        (topics.ACTIVATION_REQUESTS, earlier), (topics.ACTIVATION_REQUESTS, later)
    )
    assert kept.events(PlanActivated) == kept.events(ActivationRefused) == []
    assert await waiting(activation) == [
        ("order-of-request", late_code),
        ("earlier-request-of-device", sn),
    ]
    handled = await activation.deliver(
        (topics.PLAN_ORDERS, f.plan_order(late_code, "care-refresh-1y", "mini-3"))
    )

    answers = [
        e
        for e in handled.events()
        if isinstance(e, PlanActivated | PlanRenewed | ActivationRefused)
    ]
    assert [answer.payload.request_id for answer in answers] == [
        earlier.payload.request_id,
        later.payload.request_id,
    ]
    assert isinstance(answers[0], PlanActivated)  # the code bought first binds first (A2)
    assert await waiting(activation) == []


async def test_a1_a_video_review_before_its_request_waits_and_decides_it(
    activation: ServiceHarness,
) -> None:
    activation.grace = GRACE
    code = await sold_consumer_code(activation)
    sn = await device(activation, "mini-3", f.now() - timedelta(days=10))
    request = f.activation_request(code, sn)
    review = f.video_review(request.payload.request_id, approved=True)

    kept = await activation.deliver((topics.VIDEO_REVIEWS, review))
    assert kept.rejected == {}
    assert await waiting(activation) == [("request-of-video-review", request.payload.request_id)]
    handled = await activation.deliver((topics.ACTIVATION_REQUESTS, request))

    assert [
        type(event) for event in handled.events() if getattr(event.payload, "sn", None) == sn
    ] == [
        ActivationPending,
        PlanActivated,
    ]
    [activated] = handled.events(PlanActivated)
    assert activated.causation_id == review.event_id
    assert activated.payload.request_id == request.payload.request_id

    other = f.activation_request(
        await sold_consumer_code(activation),
        sn := await device(activation, "mini-3", f.now() - timedelta(days=10)),
    )
    together = await activation.deliver(
        (topics.VIDEO_REVIEWS, f.video_review(other.payload.request_id, approved=False)),
        (topics.ACTIVATION_REQUESTS, other),
    )
    [refused] = together.events(ActivationRefused)
    assert refused.payload.reason_codes == ["VIDEO_REJECTED"]


async def test_a1_a_video_review_of_a_request_never_read_is_dead_lettered_after_the_grace(
    activation: ServiceHarness,
) -> None:
    activation.grace = GRACE
    review = f.video_review("REQ-never-sent", approved=True)
    await activation.deliver((topics.VIDEO_REVIEWS, review))

    expired = await activation.expire_waiting()

    assert list(expired.rejected_waiting) == [review.event_id]
    assert "REQ-never-sent" in str(expired.rejected_waiting[review.event_id])


async def test_g1_an_accessory_before_its_drone_waits_and_is_associated_when_the_drone_comes(
    activation: ServiceHarness,
) -> None:
    activation.grace = GRACE
    drone = f.new_serial()
    spray = f.accessory_activation(f.new_serial(), AccessoryType.SPRAY, drone)

    kept = await activation.deliver((topics.ACCESSORY_ACTIVATIONS, spray))
    assert kept.events(AccessoryAssociationRefused) == []
    assert await waiting(activation) == [("drone-of-accessory", drone)]
    handled = await activation.deliver(
        (topics.DEVICE_ACTIVATIONS, f.device_activation(drone, "T100"))
    )

    [associated] = handled.events(AccessoryAssociated)
    assert associated.payload.drone_sn == drone

    other = f.new_serial()
    together = await activation.deliver(
        (
            topics.ACCESSORY_ACTIVATIONS,
            f.accessory_activation(f.new_serial(), AccessoryType.SPRAY, other),
        ),
        (topics.DEVICE_ACTIVATIONS, f.device_activation(other, "T100")),
    )
    assert [event.payload.drone_sn for event in together.events(AccessoryAssociated)] == [other]


async def test_g1_an_accessory_on_a_drone_bound_to_a_plan_later_is_associated(
    activation: ServiceHarness,
) -> None:
    activation.grace = GRACE
    first, _ = await ag_codes(activation, "T100")
    drone = f.new_serial()
    await activation.deliver(
        (
            topics.ACCESSORY_ACTIVATIONS,
            f.accessory_activation(f.new_serial(), AccessoryType.SPRAY, drone),
        )
    )
    activation.grace = timedelta(0)  # the request alone may not wait for the drone's activation
    handled = await activation.deliver(
        (topics.ACTIVATION_REQUESTS, f.activation_request(first, drone))
    )

    assert len(handled.events(PlanActivated)) == 1
    assert len(handled.events(AccessoryAssociated)) == 1


async def test_g1_an_accessory_whose_drone_never_comes_is_refused_after_the_grace(
    activation: ServiceHarness,
) -> None:
    activation.grace = GRACE
    drone = f.new_serial()
    await activation.deliver(
        (
            topics.ACCESSORY_ACTIVATIONS,
            f.accessory_activation(f.new_serial(), AccessoryType.SPRAY, drone),
        )
    )

    expired = await activation.expire_waiting()

    [refused] = expired.events(AccessoryAssociationRefused)
    assert refused.payload.reason_codes == ["DRONE_UNKNOWN"]
