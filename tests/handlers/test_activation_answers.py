"""Every activation request gets one final answer that names it, and a request sent again under
its id gets a copy of that answer, naming the original, instead of a second decision (A1, A2)."""

from __future__ import annotations

from datetime import timedelta

from contracts import topics
from contracts.activation import (
    ActivationPending,
    ActivationRefused,
    PlanActivated,
    is_copy,
)
from simulation import factories as f
from tests.handlers.support import ServiceHarness
from tests.handlers.test_activation import Delivery, activation, device, sold_consumer_code

__all__ = ["activation"]  # the harness fixture, shared with the other activation handler tests

GRACE = timedelta(minutes=15)


async def test_a2_a_refused_request_sent_again_gets_a_copy_of_its_refusal(
    activation: ServiceHarness,
) -> None:
    sn = await device(activation, "mini-3")
    request = f.activation_request(f.new_plan_code(), sn)  # grace 0: refused at once

    [refused] = (await activation.deliver((topics.ACTIVATION_REQUESTS, request))).events()
    resent = await activation.deliver(
        (
            topics.ACTIVATION_REQUESTS,
            f.activation_request(f.new_plan_code(), sn, request_id=request.payload.request_id),
        )
    )

    assert isinstance(refused, ActivationRefused) and not is_copy(refused)
    [copy] = resent.events()
    assert isinstance(copy, ActivationRefused) and is_copy(copy)
    assert copy.payload == refused.payload.model_copy(update={"copy_of": refused.event_id})


async def test_a2_a_request_sent_again_with_other_facts_gets_the_first_answer_and_binds_nothing(
    activation: ServiceHarness,
) -> None:
    code, other = await sold_consumer_code(activation), await sold_consumer_code(activation)
    sn = await device(activation, "mini-3")
    request = f.activation_request(code, sn)
    [activated] = (await activation.deliver((topics.ACTIVATION_REQUESTS, request))).events()

    resent = await activation.deliver(
        (
            topics.ACTIVATION_REQUESTS,
            f.activation_request(other, sn, request_id=request.payload.request_id),
        )
    )

    [copy] = resent.events(PlanActivated)
    assert copy.payload.copy_of == activated.event_id
    assert copy.payload.plan_code == code
    codes = await activation.rows("SELECT plan_code, state FROM plan_codes ORDER BY state")
    assert {row["plan_code"]: row["state"] for row in codes} == {
        code: "activated",
        other: "sold",
    }


async def test_a1_a_request_sent_twice_in_one_batch_is_decided_once_and_copied_once(
    activation: ServiceHarness,
) -> None:
    code, sn = await sold_consumer_code(activation), await device(activation, "mini-3")
    request = f.activation_request(code, sn)
    again = f.activation_request(code, sn, request_id=request.payload.request_id)

    handled = await activation.deliver(
        (topics.ACTIVATION_REQUESTS, request), (topics.ACTIVATION_REQUESTS, again)
    )

    original, copy = handled.events(PlanActivated)
    assert not is_copy(original) and copy.payload.copy_of == original.event_id
    assert copy.causation_id == again.event_id
    assert len(await activation.rows("SELECT 1 FROM plan_terms")) == 1


async def test_a1_a_pending_request_sent_again_is_answered_pending_then_with_the_reviews_verdict(
    activation: ServiceHarness,
) -> None:
    code = await sold_consumer_code(activation)
    sn = await device(activation, "mini-3", f.now() - timedelta(days=10))
    request = f.activation_request(code, sn)
    await activation.deliver((topics.ACTIVATION_REQUESTS, request))

    def again() -> Delivery:
        return (
            topics.ACTIVATION_REQUESTS,
            f.activation_request(code, sn, request_id=request.payload.request_id),
        )

    [pending_copy] = (await activation.deliver(again())).events()
    reviewed = await activation.deliver(
        (topics.VIDEO_REVIEWS, f.video_review(request.payload.request_id, approved=True))
    )
    [verdict_copy] = (await activation.deliver(again())).events()

    assert isinstance(pending_copy, ActivationPending) and is_copy(pending_copy)
    [activated] = reviewed.events(PlanActivated)
    assert activated.payload.request_id == request.payload.request_id
    assert isinstance(verdict_copy, PlanActivated)
    assert verdict_copy.payload.copy_of == activated.event_id


async def test_d2_a_request_waiting_for_its_order_and_sent_again_is_decided_once(
    activation: ServiceHarness,
) -> None:
    activation.grace = GRACE
    code, sn = f.new_plan_code(), await device(activation, "mini-3")
    request = f.activation_request(code, sn)
    again = f.activation_request(code, sn, request_id=request.payload.request_id)
    order = (topics.PLAN_ORDERS, f.plan_order(code, "care-refresh-1y", "mini-3"))
    await activation.deliver((topics.ACTIVATION_REQUESTS, request))

    kept = await activation.deliver((topics.ACTIVATION_REQUESTS, again))
    assert kept.events(PlanActivated) == []
    handled = await activation.deliver(order)

    original, copy = handled.events(PlanActivated)
    assert original.causation_id == request.event_id and not is_copy(original)
    assert copy.causation_id == again.event_id and copy.payload.copy_of == original.event_id
    assert len(await activation.rows("SELECT 1 FROM plan_terms")) == 1


async def test_d2_a_request_sent_again_in_the_batch_of_its_order_is_decided_once(
    activation: ServiceHarness,
) -> None:
    activation.grace = GRACE
    code, sn = f.new_plan_code(), await device(activation, "mini-3")
    request = f.activation_request(code, sn)
    again = f.activation_request(code, sn, request_id=request.payload.request_id)
    await activation.deliver((topics.ACTIVATION_REQUESTS, request))

    handled = await activation.deliver(
        (topics.ACTIVATION_REQUESTS, again),
        (topics.PLAN_ORDERS, f.plan_order(code, "care-refresh-1y", "mini-3")),
    )

    original, copy = handled.events(PlanActivated)
    assert original.causation_id == request.event_id
    assert copy.payload.copy_of == original.event_id
