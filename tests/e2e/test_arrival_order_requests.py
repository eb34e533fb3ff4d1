"""Activation's answers do not depend on arrival order, driven as an outside system would: a
request sent before its plan order, a renewal before the plan it renews, an accessory before its
drone's plan each wait and are decided when what they wait for comes (D2, A4, G1); every answer
names its request, and a request sent again gets a copy that changes nothing downstream."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from contracts import topics as t
from contracts.accessories import AccessoryType
from contracts.activation import AccessoryAssociated, PlanActivated, PlanRenewed
from contracts.coverage import CoverageExtended, CoverageOpened
from contracts.waiting import EventWaiting
from simulation import factories as f
from simulation.kafka_io import EventLog, Upstream
from simulation.processes import Platform
from tests.e2e.journeys import eventually, query

pytestmark = pytest.mark.e2e


def waiting_for(event_id: uuid.UUID, dependency: str) -> Callable[[Any], bool]:
    return lambda e: (e.payload.waiting_event_id, e.payload.dependency) == (event_id, dependency)


def on(sn: str) -> Callable[[Any], bool]:
    return lambda event: event.payload.sn == sn


async def device_known(platform: Platform, upstream: Upstream, sn: str, model: str) -> None:
    await upstream.send(t.DEVICE_ACTIVATIONS, sn, f.device_activation(sn, model))

    async def recorded() -> bool:
        return bool(await query(platform, "activation", "SELECT 1 FROM devices WHERE sn = $1", sn))

    await eventually(recorded, f"activation recorded the device {sn}")


async def test_d2_a_request_before_its_order_binds_once_and_a_resend_gets_a_copy(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    sn, code, model = f.new_serial(), f.new_plan_code(), "mini-3"
    await device_known(platform, upstream, sn, model)
    request = f.activation_request(code, sn)
    await upstream.send(t.ACTIVATION_REQUESTS, sn, request)
    await events.wait_for(EventWaiting, waiting_for(request.event_id, "order-of-request"))

    await upstream.send(t.PLAN_ORDERS, code, f.plan_order(code, "care-refresh-1y", model))
    (activated,) = await events.wait_for(PlanActivated, on(sn))
    assert activated.payload.request_id == request.payload.request_id
    assert activated.causation_id == request.event_id
    (opened,) = await events.wait_for(CoverageOpened, on(sn))

    resent = request.model_copy(update={"event_id": uuid.uuid4()})
    await upstream.send(t.ACTIVATION_REQUESTS, sn, resent)
    _, copy = await events.wait_for(PlanActivated, on(sn), count=2)
    assert copy.payload == activated.payload.model_copy(update={"copy_of": activated.event_id})
    assert copy.causation_id == resent.event_id

    # A renewal after the copy, on the same partition: once the readers have it, they read the
    # copy before it, and it opened no second plan anywhere.
    renewal_code = f.new_plan_code()
    await upstream.send(
        t.PLAN_ORDERS, renewal_code, f.plan_order(renewal_code, "care-refresh-1y", model)
    )
    renewing = f.activation_request(renewal_code, sn)
    await upstream.send(t.ACTIVATION_REQUESTS, sn, renewing)
    (renewed,) = await events.wait_for(PlanRenewed, on(sn))
    assert renewed.payload.request_id == renewing.payload.request_id
    await events.wait_for(CoverageExtended, lambda e: e.payload.plan_id == opened.payload.plan_id)

    async def lookup_has_the_renewal() -> bool:
        rows = await query(
            platform,
            "lookup",
            "SELECT term_no FROM plan_terms WHERE plan_id = $1",
            activated.payload.plan_id,
        )
        return len(rows) == 2

    await eventually(lookup_has_the_renewal, "the lookup shows the plan's two terms")
    assert len(events.of(CoverageOpened, on(sn))) == 1
    assert len(events.of(PlanActivated, on(sn))) == 2  # the answer and its copy
    ledger = await query(platform, "coverage", "SELECT plan_id FROM plans WHERE sn = $1", sn)
    assert [row["plan_id"] for row in ledger] == [activated.payload.plan_id]
    shown = await query(platform, "lookup", "SELECT plan_id FROM plans WHERE original_sn = $1", sn)
    assert [row["plan_id"] for row in shown] == [activated.payload.plan_id]


async def test_a4_a_renewal_sent_before_the_plan_it_renews_renews_it(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    sn, model = f.new_serial(), "T50"
    first, renewal = f.new_ag_plan_code(), f.new_ag_plan_code()
    await upstream.send(t.PLAN_ORDERS, first, f.ag_plan_order(first, "ag-care-year-1", model))
    await upstream.send(
        t.PLAN_ORDERS, renewal, f.ag_plan_order(renewal, "ag-care-renewal-2", model)
    )
    await device_known(platform, upstream, sn, model)
    renewing = f.activation_request(renewal, sn)
    await upstream.send(t.ACTIVATION_REQUESTS, sn, renewing)
    await events.wait_for(EventWaiting, waiting_for(renewing.event_id, "plan-of-renewal"))

    binding = f.activation_request(first, sn, f.now() - timedelta(days=360))
    await upstream.send(t.ACTIVATION_REQUESTS, sn, binding)

    (renewed,) = await events.wait_for(PlanRenewed, on(sn))
    (activated,) = events.of(PlanActivated, on(sn))
    assert renewed.payload.request_id == renewing.payload.request_id
    assert activated.payload.request_id == binding.payload.request_id
    assert (renewed.payload.plan_id, renewed.payload.term_no) == (activated.payload.plan_id, 2)


async def test_g1_an_accessory_activated_before_its_drones_plan_is_associated(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    drone, code, model = f.new_serial(), f.new_ag_plan_code(), "T100"
    spray = f.accessory_activation(f.new_serial(), AccessoryType.SPRAY, drone)
    await upstream.send(t.ACCESSORY_ACTIVATIONS, drone, spray)
    await events.wait_for(EventWaiting, waiting_for(spray.event_id, "drone-of-accessory"))

    await upstream.send(t.PLAN_ORDERS, code, f.ag_plan_order(code, "ag-care-year-1", model))
    await upstream.send(t.ACTIVATION_REQUESTS, drone, f.activation_request(code, drone))

    (associated,) = await events.wait_for(
        AccessoryAssociated, lambda e: e.payload.drone_sn == drone
    )
    assert associated.payload.accessory_sn == spray.payload.accessory_sn
    (activated,) = events.of(PlanActivated, on(drone))
    assert activated.payload.plan_code == code
