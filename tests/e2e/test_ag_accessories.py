"""AG accessory association (G1-G3, F3) through the running services."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from contracts import topics as t
from contracts.accessories import AccessoryType
from contracts.activation import (
    AccessoryAssociated,
    AccessoryAssociationRefused,
    AccessoryReleased,
)
from contracts.coverage import PlanInherited, PlanInheritedPayload
from contracts.envelope import Envelope
from contracts.waiting import WaitEnd, WaitOver
from simulation import factories as f
from simulation.kafka_io import EventLog, Upstream
from simulation.processes import Platform
from tests.e2e.journeys import activate_ag_plan, device_known

pytestmark = pytest.mark.e2e

SPRAY, SPREADING, LIFTING = AccessoryType.SPRAY, AccessoryType.SPREADING, AccessoryType.LIFTING
Answer = AccessoryAssociated | AccessoryAssociationRefused


async def _activate(
    upstream: Upstream, events: EventLog, accessory_sn: str, kind: AccessoryType, drone_sn: str
) -> Answer:
    """An accessory activated on a drone, and activation's answer about it on that drone."""
    activation = f.accessory_activation(accessory_sn, kind, drone_sn)
    await upstream.send(t.ACCESSORY_ACTIVATIONS, drone_sn, activation)
    (answer,) = await events.wait_for(
        Envelope,
        lambda e: (
            isinstance(e, AccessoryAssociated | AccessoryAssociationRefused)
            and e.causation_id == activation.event_id
        ),
    )
    assert isinstance(answer, AccessoryAssociated | AccessoryAssociationRefused)
    return answer


async def test_g1_g2_g3_associate_replace_release_and_never_move(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    drone, other_drone, t70 = f.new_serial(), f.new_serial(), f.new_serial()
    await device_known(platform, upstream, drone, "T100")
    await device_known(platform, upstream, other_drone, "T100")
    await device_known(platform, upstream, t70, "T70")
    spray, spreading, lifting, new_spray = (f.new_serial() for _ in range(4))

    # G1: activated on the drone, associated with it; G2: one of each type a T100 supports.
    for accessory_sn, kind in ((spray, SPRAY), (spreading, SPREADING), (lifting, LIFTING)):
        answer = await _activate(upstream, events, accessory_sn, kind, drone)
        assert isinstance(answer, AccessoryAssociated)
        assert (answer.payload.accessory_sn, answer.payload.accessory_type) == (accessory_sn, kind)
        assert answer.payload.drone_sn == drone
        assert answer.payload.replaced_accessory_sn is None

    # G3: a new spray system takes the old one's place; the old one is released.
    replaced = await _activate(upstream, events, new_spray, SPRAY, drone)
    assert isinstance(replaced, AccessoryAssociated)
    assert replaced.payload.replaced_accessory_sn == spray
    (released,) = await events.wait_for(
        AccessoryReleased, lambda e: e.payload.accessory_sn == spray
    )
    assert (released.payload.drone_sn, released.payload.replaced_by_sn) == (drone, new_spray)
    assert released.payload.accessory_type is SPRAY

    # G3: released for good, even on its own drone; associated accessories never move.
    again = await _activate(upstream, events, spray, SPRAY, drone)
    assert isinstance(again, AccessoryAssociationRefused)
    assert again.payload.reason_codes == ["ACCESSORY_RELEASED"]
    moved = await _activate(upstream, events, new_spray, SPRAY, other_drone)
    assert isinstance(moved, AccessoryAssociationRefused)
    assert moved.payload.reason_codes == ["ACCESSORY_ON_ANOTHER_DRONE"]

    # G2: a T70 has no spray system; G3: once activated there, it cannot go anywhere else.
    stray = f.new_serial()
    unsupported = await _activate(upstream, events, stray, SPRAY, t70)
    assert isinstance(unsupported, AccessoryAssociationRefused)
    assert unsupported.payload.reason_codes == ["ACCESSORY_TYPE_NOT_SUPPORTED"]
    elsewhere = await _activate(upstream, events, stray, SPRAY, other_drone)
    assert isinstance(elsewhere, AccessoryAssociationRefused)
    assert elsewhere.payload.reason_codes == ["ACCESSORY_ON_ANOTHER_DRONE"]

    # A drone nobody has reported is not associated with anything.
    nobodys = f.new_serial()
    unknown = await _activate(upstream, events, f.new_serial(), SPRAY, nobodys)
    assert isinstance(unknown, AccessoryAssociationRefused)
    assert unknown.payload.reason_codes == ["DRONE_UNKNOWN"]
    (over,) = await events.wait_for(
        WaitOver,
        lambda e: (e.payload.dependency, e.payload.key) == ("drone-of-accessory", nobodys),
    )
    assert over.payload.ended is WaitEnd.EXPIRED  # refused once its grace is over (G1)


async def test_g1_an_activation_resent_under_a_new_event_id_changes_nothing(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    drone, accessory_sn = f.new_serial(), f.new_serial()
    await device_known(platform, upstream, drone, "T70P")
    first = f.accessory_activation(accessory_sn, LIFTING, drone)
    await upstream.send(t.ACCESSORY_ACTIVATIONS, drone, first)
    await events.wait_for(AccessoryAssociated, lambda e: e.payload.accessory_sn == accessory_sn)
    resent = first.model_copy(update={"event_id": uuid.uuid4()})
    await upstream.send(t.ACCESSORY_ACTIVATIONS, drone, resent)
    # Same key, same partition: once the next activation is answered, the resend was handled.
    marker = await _activate(upstream, events, f.new_serial(), SPREADING, drone)
    assert isinstance(marker, AccessoryAssociated)
    assert len(events.of(Envelope, lambda e: e.causation_id == resent.event_id)) == 0
    assert (
        len(events.of(AccessoryAssociated, lambda e: e.payload.accessory_sn == accessory_sn)) == 1
    )


async def test_f3_g1_the_accessories_follow_the_plan_to_the_replacement_unit(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device, _ = await activate_ag_plan(
        platform, upstream, events, "T100", at=f.now() - timedelta(days=30)
    )
    spray, spreading = f.new_serial(), f.new_serial()
    for accessory_sn, kind in ((spray, SPRAY), (spreading, SPREADING)):
        assert isinstance(
            await _activate(upstream, events, accessory_sn, kind, device.sn), AccessoryAssociated
        )

    # Coverage moves the plan to the replacement unit (F3), as it announces it.
    new_sn = f.new_serial()
    inherited = PlanInherited.new(
        PlanInheritedPayload(
            plan_id=uuid.UUID(device.plan_id),
            case_id="CASE-AG-F3",
            old_sn=device.sn,
            new_sn=new_sn,
            term_end=f.now() + timedelta(days=300),
            replacements_left=0,
            flyaways_left=0,
        ),
        producer="coverage",
        correlation_id="CASE-AG-F3",
    )
    await upstream.send(t.COVERAGE_EVENTS, device.plan_id, inherited)
    followed = await events.wait_for(
        AccessoryAssociated, lambda e: e.payload.inherited_from_sn == device.sn, count=2
    )
    assert {(e.payload.accessory_sn, e.payload.drone_sn) for e in followed} == {
        (spray, new_sn),
        (spreading, new_sn),
    }
    # Installed on the new unit, they are already its own; on the old SN, no longer.
    back_on_old = await _activate(upstream, events, spray, SPRAY, device.sn)
    assert isinstance(back_on_old, AccessoryAssociationRefused)
    assert back_on_old.payload.reason_codes == ["ACCESSORY_ON_ANOTHER_DRONE"]
