"""Fulfilment's batch handlers: load the batch's books, decide each event in order, save, emit."""

from __future__ import annotations

from collections.abc import Sequence

from contracts.activation import ActivationEvent, PlanRenewed
from contracts.coverage import CoverageEvent, DeductionApplied, PlanTerminated
from contracts.envelope import Envelope
from contracts.repairs import RepairCompleted
from contracts.upstream import (
    DispatchConfirmed,
    PackAddressChangeRequested,
    PaymentEvent,
    PaymentSettled,
    PlanOrderPlaced,
    PreAuthorisationCaptured,
    PreAuthorisationPlaced,
    PreAuthorisationReleased,
)
from services.fulfilment import store
from services.fulfilment.domain import Outgoing, Replacements, UnknownShipmentError
from services.fulfilment.domain_agricultural import designated_order
from services.fulfilment.waiting import (
    AWAITED,
    CASE_OF_PAYMENT,
    REQUEST_OF_PRE_AUTHORISATION,
    SHIPMENT_OF_DISPATCH,
)
from shared.messaging import EventRejectedError, Transaction


def _emit(tx: Transaction, cause: Envelope, decided: list[Outgoing]) -> list[Envelope]:
    return [
        tx.emit(out.payload, key=out.key, cause=cause, correlation_id=out.correlation_id)
        for out in decided
    ]


async def _save(tx: Transaction, book: Replacements) -> None:
    """Save the book; what it now holds resolves the events kept for it, in this transaction."""
    await store.save_replacements(tx.conn, book)
    tx.resolve(CASE_OF_PAYMENT, book.changed)
    tx.resolve(REQUEST_OF_PRE_AUTHORISATION, book.changed_pre_authorisations)
    tx.resolve(SHIPMENT_OF_DISPATCH, {str(shipment) for shipment in book.requested_shipments})


async def on_coverage_event(events: Sequence[CoverageEvent], tx: Transaction) -> None:
    """F1, X3: a deduction's replacement waits for its fee; C10: a fraud termination cancels
    the plan's replacements still waiting."""
    book = await store.load_replacements(
        tx.conn,
        case_ids=[e.payload.case_id for e in events if isinstance(e, DeductionApplied)],
        plan_ids=[e.payload.plan_id for e in events if isinstance(e, PlanTerminated)],
    )
    for event in events:
        if isinstance(event, DeductionApplied):
            _emit(tx, event, book.take_deduction(event.payload))
        elif isinstance(event, PlanTerminated):
            book.cancel_unshipped(event.payload.plan_id)
    await _save(tx, book)


async def on_payment_event(events: Sequence[PaymentEvent], tx: Transaction) -> None:
    """F1: fees charged add up, each answered; X3: the card pre-authorisation placed, captured
    or released. A replacement paid for (and pre-authorised) ships. A payment for a case not
    deducted yet, or a hold not requested yet, waits for it."""
    book = await store.load_replacements(
        tx.conn,
        case_ids=[event.payload.case_id for event in events],
        payment_ids=[e.payload.payment_id for e in events if isinstance(e, PaymentSettled)],
    )
    for event in events:
        missing = book.missing_for_payment(event.payload)
        if missing is not None and tx.wait(event, AWAITED[missing], event.payload.case_id):
            continue
        match event:
            case PaymentSettled(payload=settled):
                book.record_answers(_emit(tx, event, book.record_payment(settled)))
            case PreAuthorisationPlaced(payload=placed):
                _emit(tx, event, book.place_pre_authorisation(placed))
            case PreAuthorisationCaptured(payload=closed):
                book.close_pre_authorisation(closed, "captured")
            case PreAuthorisationReleased(payload=closed):
                book.close_pre_authorisation(closed, "released")
    await _save(tx, book)


async def confirm_dispatches(events: Sequence[DispatchConfirmed], tx: Transaction) -> None:
    """F3: the warehouse names each replacement's SN; old SN -> new SN is announced once. A
    dispatch of a shipment not requested yet waits for it; after its grace it is refused."""
    book = await store.load_replacements(
        tx.conn, shipment_ids=[event.payload.shipment_id for event in events]
    )
    for event in events:
        missing = book.missing_for_dispatch(event.payload)
        if missing and tx.wait(event, AWAITED[missing], str(event.payload.shipment_id)):
            continue
        try:
            _emit(tx, event, book.confirm_dispatch(event.payload))
        except UnknownShipmentError as error:
            raise EventRejectedError(event, error) from error
    await store.save_replacements(tx.conn, book)


async def record_pack_orders(events: Sequence[PlanOrderPlaced], tx: Transaction) -> None:
    """F4: the orders of designated AG renewals, with the address given at purchase."""
    orders = [(event, order) for event in events if (order := designated_order(event.payload))]
    packs = await store.load_packs(tx.conn, [order.plan_code for _, order in orders])
    for event, order in orders:
        _emit(tx, event, packs.record_order(order))
    await store.save_packs(tx.conn, packs)


async def refuse_pack_address_changes(
    events: Sequence[PackAddressChangeRequested], tx: Transaction
) -> None:
    """F4: the address given at purchase cannot be changed; each request is refused, naming it."""
    packs = await store.load_packs(tx.conn, [event.payload.plan_code for event in events])
    for event in events:
        _emit(tx, event, packs.change_address(event.payload))


async def on_activation_event(events: Sequence[ActivationEvent], tx: Transaction) -> None:
    """F4: an AG renewal bound by activation may bring a consumables pack."""
    renewals = [e for e in events if isinstance(e, PlanRenewed) and e.payload.agricultural]
    packs = await store.load_packs(tx.conn, [event.payload.plan_code for event in renewals])
    for event in renewals:
        _emit(tx, event, packs.record_renewal(event.payload))
    await store.save_packs(tx.conn, packs)


async def return_repaired_units(events: Sequence[RepairCompleted], tx: Transaction) -> None:
    """F5, F2: each repaired unit goes back to its customer, once per case."""
    returns = await store.load_repair_returns(tx.conn, [event.payload.case_id for event in events])
    for event in events:
        _emit(tx, event, returns.arrange(event.payload))
    await store.save_repair_returns(tx.conn, returns)
