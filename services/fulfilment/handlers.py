"""Fulfilment's batch handlers: load the batch's books, decide each event in order, save, emit."""

from __future__ import annotations

from collections.abc import Sequence

from contracts.activation import ActivationEvent, PlanRenewed
from contracts.claims import ClaimFinalised, ClaimsEvent
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
    RefundSettled,
    WarehouseEvent,
)
from services.fulfilment import store
from services.fulfilment.domain import (
    Outgoing,
    Replacements,
    UnknownRecallError,
    UnknownRefundError,
    UnknownShipmentError,
)
from services.fulfilment.domain_agricultural import designated_order
from services.fulfilment.waiting import (
    AWAITED,
    CASE_OF_PAYMENT,
    RECALL_OF_ANSWER,
    REFUND_OF_SETTLEMENT,
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
    tx.resolve(RECALL_OF_ANSWER, {str(shipment) for shipment in book.recalled_shipments})
    tx.resolve(CASE_OF_PAYMENT, book.new_refused)
    tx.resolve(REFUND_OF_SETTLEMENT, {book.refunds[paid].case_id for paid in book.changed_refunds})


async def on_coverage_event(events: Sequence[CoverageEvent], tx: Transaction) -> None:
    """F1, X3: a deduction's replacement waits for its fee; C10: a fraud termination cancels
    the plan's replacements still waiting and recalls those requested from the warehouse."""
    book = await store.load_replacements(
        tx.conn,
        case_ids=[e.payload.case_id for e in events if isinstance(e, DeductionApplied)],
        plan_ids=[e.payload.plan_id for e in events if isinstance(e, PlanTerminated)],
    )
    for event in events:
        if isinstance(event, DeductionApplied):
            _emit(tx, event, book.take_deduction(event.payload))
        elif isinstance(event, PlanTerminated):
            _emit(tx, event, book.end_for_fraud(event.payload))
    await _save(tx, book)


async def on_payment_event(events: Sequence[PaymentEvent], tx: Transaction) -> None:
    """F1: fees charged add up, each answered; X3: the card pre-authorisation placed, captured
    or released; a refund settled. A replacement paid for (and pre-authorised) ships; what was
    paid beyond its fee, or on a case refused, is refunded. A payment for a case not deducted
    yet, a hold not requested yet or a refund not requested yet waits for it."""
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
            case RefundSettled(payload=settled):
                try:
                    book.settle_refund(settled)
                except UnknownRefundError as error:
                    raise EventRejectedError(event, error) from error
    await _save(tx, book)


async def refund_refused_claims(events: Sequence[ClaimsEvent], tx: Transaction) -> None:
    """X3: what was paid on a case finally refused (an express basic fee paid before the
    claim) is refunded, each payment once; a payment waiting for the case is answered now."""
    finals = [event for event in events if isinstance(event, ClaimFinalised)]
    book = await store.load_replacements(
        tx.conn, case_ids=[event.payload.case_id for event in finals]
    )
    for event in finals:
        _emit(tx, event, book.refuse_case(event.payload))
    await _save(tx, book)


async def on_warehouse_event(events: Sequence[WarehouseEvent], tx: Transaction) -> None:
    """F3: the warehouse names each replacement's SN; old SN -> new SN is announced once. C10:
    it answers each recall, cancelled or already dispatched. A dispatch of a shipment not
    requested yet, or an answer to a recall not requested yet, waits for it; after its grace
    it is refused."""
    book = await store.load_replacements(
        tx.conn, shipment_ids=[event.payload.shipment_id for event in events]
    )
    for event in events:
        shipment = str(event.payload.shipment_id)
        if isinstance(event, DispatchConfirmed):
            missing = book.missing_for_dispatch(event.payload)
        else:
            missing = book.missing_for_recall(event.payload)
        if missing and tx.wait(event, AWAITED[missing], shipment):
            continue
        try:
            if isinstance(event, DispatchConfirmed):
                _emit(tx, event, book.confirm_dispatch(event.payload))
            else:
                _emit(tx, event, book.conclude_recall(event.payload))
        except (UnknownShipmentError, UnknownRecallError) as error:
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
