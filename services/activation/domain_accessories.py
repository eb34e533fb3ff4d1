"""AG accessories (D3, G1-G3, F3): which drone's plan covers an accessory. Pure rules, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from contracts.accessories import AccessoryActivatedPayload, AccessoryType
from contracts.activation import (
    AccessoryAssociatedPayload,
    AccessoryAssociationRefusedPayload,
    AccessoryReleasedPayload,
)
from contracts.coverage import PlanInheritedPayload
from services.activation.domain import Outgoing
from shared.catalogue.agricultural import AgriculturalModel


class AccessoryRefusal(StrEnum):
    DRONE_UNKNOWN = "DRONE_UNKNOWN"
    ACCESSORY_TYPE_NOT_SUPPORTED = "ACCESSORY_TYPE_NOT_SUPPORTED"
    ACCESSORY_TYPE_MISMATCH = "ACCESSORY_TYPE_MISMATCH"
    ACCESSORY_ON_ANOTHER_DRONE = "ACCESSORY_ON_ANOTHER_DRONE"
    ACCESSORY_RELEASED = "ACCESSORY_RELEASED"
    ACCESSORY_NOT_NEW = "ACCESSORY_NOT_NEW"


class AccessoryState(StrEnum):
    ACTIVATED = "activated"  # seen activated on its drone, never associated
    ASSOCIATED = "associated"  # G1: covered by its drone's plan
    RELEASED = "released"  # G3: replaced; never covered again


@dataclass(frozen=True)
class AccessoryRecord:
    """What activation knows of an accessory: the one drone it may ever be associated with."""

    accessory_type: str
    drone_sn: str
    state: AccessoryState


@dataclass(frozen=True)
class Associate:
    """G1: associate the accessory; G3: `replaces` is the drone's previous one, to release."""

    replaces: str | None = None


@dataclass(frozen=True)
class AlreadyAssociated:
    """Activated again on its own drone: nothing changes."""


@dataclass(frozen=True)
class RefuseAssociation:
    reasons: tuple[AccessoryRefusal, ...]


AccessoryDecision = Associate | AlreadyAssociated | RefuseAssociation


def decide_accessory_activation(
    *,
    accessory_sn: str,
    accessory_type: str,
    drone_sn: str,
    drone_model: str | None,
    supported_types: tuple[str, ...],
    record: AccessoryRecord | None,
    current_of_type: str | None,
) -> AccessoryDecision:
    """G1-G3: an accessory activated on a drone is associated with it, unless the rules say no.

    `supported_types` are the drone model's accessory types (G2; none for a model outside the
    AG catalogue); `record` is what is known of the accessory; `current_of_type` the drone's
    associated accessory of that type, if any.
    """
    if (
        record is not None
        and record.state is AccessoryState.ASSOCIATED
        and record.drone_sn == drone_sn
        and record.accessory_type == accessory_type
    ):
        return AlreadyAssociated()
    reasons: list[AccessoryRefusal] = []
    if drone_model is None:
        reasons.append(AccessoryRefusal.DRONE_UNKNOWN)
    elif accessory_type not in supported_types:
        reasons.append(AccessoryRefusal.ACCESSORY_TYPE_NOT_SUPPORTED)  # G2
    if record is not None:
        if record.accessory_type != accessory_type:
            reasons.append(AccessoryRefusal.ACCESSORY_TYPE_MISMATCH)
        if record.state is AccessoryState.RELEASED:
            reasons.append(AccessoryRefusal.ACCESSORY_RELEASED)  # G3: never covered again
        elif record.drone_sn != drone_sn:
            reasons.append(AccessoryRefusal.ACCESSORY_ON_ANOTHER_DRONE)  # G2, G3: cannot move
        elif current_of_type not in (None, accessory_sn):
            reasons.append(AccessoryRefusal.ACCESSORY_NOT_NEW)  # G3: only a new one replaces
    if reasons:
        return RefuseAssociation(tuple(reasons))
    return Associate(replaces=current_of_type)


@dataclass(frozen=True)
class Accessory(AccessoryRecord):
    """An accessory as activation keeps it."""

    accessory_sn: str
    first_activated_at: datetime
    associated_at: datetime | None = None
    released_at: datetime | None = None
    replaced_by_sn: str | None = None


class ActivationOutcome(StrEnum):
    ASSOCIATED = "associated"
    UNCHANGED = "unchanged"
    REFUSED = "refused"


@dataclass(frozen=True)
class AccessoryActivationRecord:
    """An accessory activation reported, and what was decided."""

    accessory_sn: str
    drone_sn: str
    activated_at: datetime
    accessory_type: AccessoryType
    outcome: ActivationOutcome
    reasons: tuple[AccessoryRefusal, ...] = ()

    @property
    def key(self) -> tuple[str, str, datetime]:
        return (self.accessory_sn, self.drone_sn, self.activated_at)


@dataclass(frozen=True)
class AccessoriesChanged:
    """What a decision leaves: the activation's record (none for a plan moving), the new state of
    each accessory it touched and the events that say so."""

    accessories: tuple[Accessory, ...]
    events: tuple[Outgoing, ...]
    activation: AccessoryActivationRecord | None = None


@dataclass
class Fittings:
    """What a batch's activations and moves are decided against, kept up to date as they are."""

    accessories: dict[str, Accessory]
    drone_models: dict[str, str]
    seen: set[tuple[str, str, datetime]] = field(default_factory=set)

    _on_drone: dict[str, set[str]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        for accessory in self.accessories.values():
            self._on_drone.setdefault(accessory.drone_sn, set()).add(accessory.accessory_sn)

    def on_drone(self, drone_sn: str) -> list[Accessory]:
        """The accessories tied to the drone, released ones included, by serial number."""
        return sorted(
            (self.accessories[sn] for sn in self._on_drone.get(drone_sn, ())),
            key=lambda accessory: accessory.accessory_sn,
        )

    def associated_on(self, drone_sn: str, accessory_type: str) -> Accessory | None:
        return next(
            (
                accessory
                for accessory in self.on_drone(drone_sn)
                if accessory.accessory_type == accessory_type
                and accessory.state is AccessoryState.ASSOCIATED
            ),
            None,
        )

    def record(self, changed: AccessoriesChanged) -> None:
        for accessory in changed.accessories:
            held = self.accessories.get(accessory.accessory_sn)
            if held is not None:
                self._on_drone[held.drone_sn].discard(accessory.accessory_sn)
            self.accessories[accessory.accessory_sn] = accessory
            self._on_drone.setdefault(accessory.drone_sn, set()).add(accessory.accessory_sn)
        if changed.activation is not None:
            self.seen.add(changed.activation.key)


def activate_accessory(
    activation: AccessoryActivatedPayload,
    fittings: Fittings,
    models: dict[str, AgriculturalModel],
) -> AccessoriesChanged | None:
    """G1-G3: associate an accessory with the drone it was activated on, or say why not.

    None: the same activation, resent upstream under a new event id, was already decided.
    """
    accessory_sn, drone_sn, at = (
        activation.accessory_sn,
        activation.drone_sn,
        activation.activated_at,
    )
    if (accessory_sn, drone_sn, at) in fittings.seen:
        return None
    known = fittings.accessories.get(accessory_sn)
    current = fittings.associated_on(drone_sn, activation.accessory_type.value)
    drone_model = fittings.drone_models.get(drone_sn)
    decision = decide_accessory_activation(
        accessory_sn=accessory_sn,
        accessory_type=activation.accessory_type.value,
        drone_sn=drone_sn,
        drone_model=drone_model,
        supported_types=models[drone_model].accessories if drone_model in models else (),
        record=known,
        current_of_type=current.accessory_sn if current else None,
    )
    record = AccessoryActivationRecord(
        accessory_sn, drone_sn, at, activation.accessory_type, ActivationOutcome.UNCHANGED
    )
    if isinstance(decision, AlreadyAssociated):
        return AccessoriesChanged((), (), record)
    if isinstance(decision, RefuseAssociation):
        return _refuse_association(activation, known, decision, record)
    return _associate(activation, known, current, record)


def _refuse_association(
    activation: AccessoryActivatedPayload,
    known: Accessory | None,
    refusal: RefuseAssociation,
    record: AccessoryActivationRecord,
) -> AccessoriesChanged:
    # The first activation ties the accessory to that drone for good (G3).
    first_seen = () if known else (_first_seen(activation, AccessoryState.ACTIVATED),)
    refused = AccessoryAssociationRefusedPayload(
        accessory_sn=activation.accessory_sn,
        accessory_type=activation.accessory_type,
        drone_sn=activation.drone_sn,
        activated_at=activation.activated_at,
        reason_codes=[reason.value for reason in refusal.reasons],
    )
    return AccessoriesChanged(
        first_seen,
        (Outgoing(refused, activation.drone_sn, activation.accessory_sn),),
        replace(record, outcome=ActivationOutcome.REFUSED, reasons=refusal.reasons),
    )


def _associate(
    activation: AccessoryActivatedPayload,
    known: Accessory | None,
    current: Accessory | None,
    record: AccessoryActivationRecord,
) -> AccessoriesChanged:
    at, drone_sn, accessory_sn = (
        activation.activated_at,
        activation.drone_sn,
        activation.accessory_sn,
    )
    changed: list[Accessory] = []
    events: list[Outgoing] = []
    if current is not None:
        # G3: the new accessory takes the old one's place; the old one is never covered again.
        changed.append(
            replace(
                current, state=AccessoryState.RELEASED, released_at=at, replaced_by_sn=accessory_sn
            )
        )
        released = AccessoryReleasedPayload(
            accessory_sn=current.accessory_sn,
            accessory_type=activation.accessory_type,
            drone_sn=drone_sn,
            released_at=at,
            replaced_by_sn=accessory_sn,
        )
        events.append(Outgoing(released, drone_sn, accessory_sn))
    associated = (
        replace(known, state=AccessoryState.ASSOCIATED, associated_at=at)
        if known
        else _first_seen(activation, AccessoryState.ASSOCIATED)
    )
    changed.append(associated)
    payload = AccessoryAssociatedPayload(
        accessory_sn=accessory_sn,
        accessory_type=activation.accessory_type,
        drone_sn=drone_sn,
        associated_at=at,
        replaced_accessory_sn=current.accessory_sn if current else None,
    )
    events.append(Outgoing(payload, drone_sn, accessory_sn))
    return AccessoriesChanged(
        tuple(changed), tuple(events), replace(record, outcome=ActivationOutcome.ASSOCIATED)
    )


def _first_seen(activation: AccessoryActivatedPayload, state: AccessoryState) -> Accessory:
    at = activation.activated_at
    return Accessory(
        accessory_type=activation.accessory_type.value,
        drone_sn=activation.drone_sn,
        state=state,
        accessory_sn=activation.accessory_sn,
        first_activated_at=at,
        associated_at=at if state is AccessoryState.ASSOCIATED else None,
    )


def move_with_plan(
    inherited: PlanInheritedPayload, at: datetime, fittings: Fittings
) -> AccessoriesChanged:
    """F3: the replacement unit takes over the plan, and with it the accessories it covers; an
    accessory of a type the replacement already has associated stays behind (G2)."""
    taken = {
        accessory.accessory_type
        for accessory in fittings.on_drone(inherited.new_sn)
        if accessory.state is AccessoryState.ASSOCIATED
    }
    moved = tuple(
        replace(accessory, drone_sn=inherited.new_sn)
        for accessory in fittings.on_drone(inherited.old_sn)
        if accessory.state is not AccessoryState.RELEASED and accessory.accessory_type not in taken
    )
    events = tuple(
        Outgoing(
            AccessoryAssociatedPayload(
                accessory_sn=accessory.accessory_sn,
                accessory_type=AccessoryType(accessory.accessory_type),
                drone_sn=inherited.new_sn,
                associated_at=at,
                inherited_from_sn=inherited.old_sn,
            ),
            inherited.new_sn,
            str(inherited.plan_id),
        )
        for accessory in moved
        if accessory.state is AccessoryState.ASSOCIATED
    )
    return AccessoriesChanged(moved, events)
