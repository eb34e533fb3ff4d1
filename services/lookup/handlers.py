"""The lookup's batch handlers: every topic's batch is a projection of the read model (see
services.lookup.domain_projection): load the rows its events touch, apply each event in
order, save the rows changed."""

from __future__ import annotations

from collections.abc import Sequence

from contracts.activation import ActivationEvent, is_copy
from contracts.claims import ClaimsEvent
from contracts.coverage import CoverageEvent
from contracts.envelope import Envelope
from contracts.fulfilment import FulfilmentEvent
from contracts.insurer import InsurerClaimsEvent, InsurerResponseEvent
from contracts.upstream import DeviceActivated, PaymentEvent, RepairEvent
from contracts.waiting import WaitingEvent
from services.lookup import store
from services.lookup.domain import follow_waiting
from services.lookup.domain_projection import touched_by
from shared.messaging import Transaction


async def _project(events: Sequence[Envelope], tx: Transaction) -> None:
    model = await store.load_read_model(tx.conn, touched_by(events))
    for event in events:
        model.apply(event)
    await store.save_read_model(tx.conn, model)


async def record_device_activation(events: Sequence[DeviceActivated], tx: Transaction) -> None:
    """The device's first activation starts its warranty; a later report never moves it."""
    await _project(events, tx)


async def on_activation_event(events: Sequence[ActivationEvent], tx: Transaction) -> None:
    """A1, A3: the plan's binding and each term with its allowance; an answer sent again to a
    request sent again shows nothing new."""
    await _project([event for event in events if not is_copy(event)], tx)


async def on_coverage_event(events: Sequence[CoverageEvent], tx: Transaction) -> None:
    """The ledger: what is left on each term (C5, C6, C9), the plan's moves (F3), its end (C10)."""
    await _project(events, tx)


async def on_repair_event(events: Sequence[RepairEvent], tx: Transaction) -> None:
    """The cause of a case, from the assessment or the express request (X3); a case re-sent by
    the repair system keeps what was reported first."""
    await _project(events, tx)


async def on_claims_event(events: Sequence[ClaimsEvent], tx: Transaction) -> None:
    """The decision on each case (C1-C6, X4) with its reasons and fee (P2); a reversal (C10)."""
    await _project(events, tx)


async def on_fulfilment_event(events: Sequence[FulfilmentEvent], tx: Transaction) -> None:
    """F1: the shipment and who pays for it; F3: old SN -> new SN when it is dispatched."""
    await _project(events, tx)


async def on_insurer_claim(events: Sequence[InsurerClaimsEvent], tx: Transaction) -> None:
    """C8, L1-L4: what the platform reported to each insurer, for its bordereau."""
    await _project(events, tx)


async def on_insurer_response(events: Sequence[InsurerResponseEvent], tx: Transaction) -> None:
    """C8, L4: the insurers' answers to those claims; a policy (A5) is coverage's to apply."""
    await _project(events, tx)


async def on_payment_event(events: Sequence[PaymentEvent], tx: Transaction) -> None:
    """F1, X3: a refund settled by payments (the other payment events show nothing here)."""
    await _project(events, tx)


async def on_waiting_event(events: Sequence[WaitingEvent], tx: Transaction) -> None:
    """What a service keeps until what it depends on arrives, shown with its SN (X5)."""
    await store.follow_waits(tx.conn, *follow_waiting(events))
