"""Fulfilment's adapters: replacements waiting for payment, shipments and dispatches, and the
consumables packs of designated AG renewals."""

from __future__ import annotations

import uuid
from typing import Any

from contracts.activation import ActivationEvent, PlanRenewed
from contracts.coverage import CoverageEvent, DeductionApplied, PlanTerminated
from contracts.envelope import Envelope
from contracts.fulfilment import (
    ConsumablesPackHeld,
    ConsumablesPackHeldPayload,
    ConsumablesPackScheduled,
    ConsumablesPackScheduledPayload,
    DeviceReplaced,
    DeviceReplacedPayload,
    PreAuthorisationRequested,
    PreAuthorisationRequestedPayload,
    RepairedUnitReturnArranged,
    RepairedUnitReturnArrangedPayload,
    ShipmentRequested,
    ShipmentRequestedPayload,
)
from contracts.repairs import RepairCompleted
from contracts.topics import FULFILMENT_EVENTS
from contracts.upstream import (
    DispatchConfirmed,
    PaymentEvent,
    PaymentSettled,
    PlanOrderPlaced,
    PreAuthorisationCaptured,
    PreAuthorisationPlaced,
    PreAuthorisationReleased,
    ServiceMode,
)
from services.fulfilment.domain import (
    HoldPack,
    SchedulePack,
    arrange_return,
    customer_pays_shipping,
    decide_pack,
    fee_settled,
    ready_to_ship,
)
from shared.catalogue import consumer_catalogue
from shared.catalogue.agricultural import agricultural_catalogue
from shared.messaging import Transaction

PRODUCER = "fulfilment"


class UnknownShipmentError(LookupError):
    pass


async def on_coverage_event(event: CoverageEvent, tx: Transaction) -> None:
    if isinstance(event, DeductionApplied):
        await await_payment(event, tx)
    elif isinstance(event, PlanTerminated):
        await cancel_unshipped(event, tx)


async def cancel_unshipped(event: PlanTerminated, tx: Transaction) -> None:
    """C10: after fraud, a replacement still waiting for its fee is not shipped, paid or not."""
    await tx.conn.execute(
        "UPDATE replacements SET state = 'cancelled' WHERE plan_id = $1"
        " AND state = 'awaiting_payment'",
        event.payload.plan_id,
    )


async def await_payment(event: DeductionApplied, tx: Transaction) -> None:
    """A replacement was taken off the plan: it ships once its fee is paid (F1)."""
    deduction = event.payload
    created = await tx.conn.fetchval(
        "INSERT INTO replacements (case_id, plan_id, old_sn, model, plan_region,"
        " customer_region, fee_amount, fee_currency, flyaway, state, service_mode)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'awaiting_payment', $10)"
        " ON CONFLICT (case_id) DO NOTHING RETURNING true",
        deduction.case_id,
        deduction.plan_id,
        deduction.sn,
        deduction.model,
        deduction.plan_region,
        deduction.customer_region,
        deduction.fee.amount,
        deduction.fee.currency,
        deduction.flyaway,
        deduction.service_mode.value,
    )
    if created and deduction.service_mode is ServiceMode.EXPRESS_PREMIUM:
        await _request_pre_authorisation(tx, event)
    await _request_shipment_if_paid(tx, deduction.case_id, event)


async def _request_pre_authorisation(tx: Transaction, event: DeductionApplied) -> None:
    """X3: hold the product's value on the customer's card while the damaged unit travels."""
    deduction = event.payload
    amount = consumer_catalogue().product_value(deduction.model)
    await tx.conn.execute(
        "INSERT INTO pre_authorisations (case_id, requested_amount, currency, state)"
        " VALUES ($1, $2, $3, 'requested')",
        deduction.case_id,
        amount.amount,
        amount.currency,
    )
    tx.publish(
        FULFILMENT_EVENTS,
        str(deduction.plan_id),
        PreAuthorisationRequested.new(
            PreAuthorisationRequestedPayload(
                case_id=deduction.case_id, plan_id=deduction.plan_id, amount=amount
            ),
            producer=PRODUCER,
            correlation_id=deduction.case_id,
            cause=event,
        ),
    )


async def on_payment_event(event: PaymentEvent, tx: Transaction) -> None:
    match event:
        case PaymentSettled():
            await record_payment(event, tx)
        case PreAuthorisationPlaced(payload=placed):
            await tx.conn.execute(
                "UPDATE pre_authorisations SET state = 'placed', authorisation_id = $2,"
                " placed_at = $3 WHERE case_id = $1 AND state = 'requested'",
                placed.case_id,
                placed.authorisation_id,
                placed.placed_at,
            )
            await _request_shipment_if_paid(tx, placed.case_id, event)
        case PreAuthorisationCaptured(payload=closed) | PreAuthorisationReleased(payload=closed):
            state = "captured" if isinstance(event, PreAuthorisationCaptured) else "released"
            await tx.conn.execute(
                "UPDATE pre_authorisations SET state = $2, closed_at = $3, closed_amount = $4"
                " WHERE case_id = $1",
                closed.case_id,
                state,
                closed.closed_at,
                closed.amount.amount,
            )


async def record_payment(event: PaymentSettled, tx: Transaction) -> None:
    """F1: the fee charged; several payments for one case add up."""
    payment = event.payload
    await tx.conn.execute(
        "INSERT INTO payments (payment_id, case_id, amount, currency, settled_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (payment_id) DO NOTHING",
        payment.payment_id,
        payment.case_id,
        payment.amount.amount,
        payment.amount.currency,
        payment.settled_at,
    )
    await _request_shipment_if_paid(tx, payment.case_id, event)


async def confirm_dispatch(event: DispatchConfirmed, tx: Transaction) -> None:
    """F3: the warehouse names the replacement's SN; announce old SN -> new SN."""
    dispatch = event.payload
    row = await tx.conn.fetchrow(
        "SELECT * FROM replacements WHERE shipment_id = $1 FOR UPDATE", dispatch.shipment_id
    )
    if row is None:
        raise UnknownShipmentError(f"no shipment {dispatch.shipment_id} was requested")
    if row["state"] == "dispatched":
        return
    await tx.conn.execute(
        "UPDATE replacements SET state = 'dispatched', new_sn = $2, dispatched_at = $3"
        " WHERE case_id = $1",
        row["case_id"],
        dispatch.new_sn,
        dispatch.dispatched_at,
    )
    _publish(
        tx,
        row,
        DeviceReplaced.new(
            DeviceReplacedPayload(
                shipment_id=dispatch.shipment_id,
                case_id=row["case_id"],
                plan_id=row["plan_id"],
                old_sn=row["old_sn"],
                new_sn=dispatch.new_sn,
                dispatched_at=dispatch.dispatched_at,
            ),
            producer=PRODUCER,
            correlation_id=row["case_id"],
            cause=event,
        ),
    )


async def _request_shipment_if_paid(tx: Transaction, case_id: str, cause: Envelope) -> None:
    # The deduction and the payment of a case arrive on different topics and may be handled at
    # the same moment: each would miss the other's uncommitted row and neither would ship.
    # Taking the case's lock here makes the second one see what the first committed.
    await tx.conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", case_id)
    row = await tx.conn.fetchrow(
        "SELECT * FROM replacements WHERE case_id = $1 FOR UPDATE", case_id
    )
    if row is None or row["state"] != "awaiting_payment":
        return
    paid = {
        payment["currency"]: payment["total"]
        for payment in await tx.conn.fetch(
            "SELECT currency, sum(amount) AS total FROM payments WHERE case_id = $1"
            " GROUP BY currency",
            case_id,
        )
    }
    pre_authorisation = await tx.conn.fetchval(
        "SELECT state FROM pre_authorisations WHERE case_id = $1", case_id
    )
    if not ready_to_ship(
        fee_paid=fee_settled(fee=row["fee_amount"], fee_currency=row["fee_currency"], paid=paid),
        express_premium=row["service_mode"] == ServiceMode.EXPRESS_PREMIUM.value,
        pre_authorisation=pre_authorisation,
    ):
        return
    shipment_id = uuid.uuid4()
    pays_shipping = customer_pays_shipping(
        customer_region=row["customer_region"], plan_region=row["plan_region"]
    )
    await tx.conn.execute(
        "UPDATE replacements SET state = 'shipment_requested', shipment_id = $2,"
        " customer_pays_shipping = $3 WHERE case_id = $1",
        case_id,
        shipment_id,
        pays_shipping,
    )
    _publish(
        tx,
        row,
        ShipmentRequested.new(
            ShipmentRequestedPayload(
                shipment_id=shipment_id,
                case_id=case_id,
                plan_id=row["plan_id"],
                old_sn=row["old_sn"],
                model=row["model"],
                ship_to_region=row["customer_region"],
                customer_pays_shipping=pays_shipping,
            ),
            producer=PRODUCER,
            correlation_id=case_id,
            cause=cause,
        ),
    )


def _publish(tx: Transaction, replacement: Any, event: Envelope) -> None:
    tx.publish(FULFILMENT_EVENTS, str(replacement["plan_id"]), event)


async def record_pack_order(event: PlanOrderPlaced, tx: Transaction) -> None:
    """F4: keep the delivery address of a designated AG renewal, as given at purchase.

    Other orders are not kept (nothing to ship, and no personal data without a purpose). A
    second order for the same plan code changes nothing: the address cannot be changed.
    """
    order = event.payload
    catalogue = agricultural_catalogue()
    if order.sku not in catalogue.plans or order.model not in catalogue.models:
        return
    plan_year = catalogue.plan(order.sku).plan_year
    if order.plan_year not in (None, plan_year) or catalogue.pack(order.model, plan_year) is None:
        return  # activation dead-letters an inconsistent order: it is never bound
    address = order.pack_delivery_address
    await tx.conn.execute(
        "INSERT INTO pack_orders (plan_code, order_id, model, plan_year, purchased_at,"
        " has_address, recipient, phone, province, city, district, street, postal_code, country)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        " ON CONFLICT (plan_code) DO NOTHING",
        order.plan_code,
        order.order_id,
        order.model,
        plan_year,
        order.purchased_at,
        address is not None,
        address.recipient if address else None,
        address.phone if address else None,
        address.province if address else None,
        address.city if address else None,
        address.district if address else None,
        address.street if address else None,
        address.postal_code if address else None,
        address.country if address else None,
    )
    await _schedule_pack_if_bought(tx, order.plan_code, event)


async def on_activation_event(event: ActivationEvent, tx: Transaction) -> None:
    """F4: an AG renewal bound by activation may bring a consumables pack."""
    if not isinstance(event, PlanRenewed):
        return
    renewal, term = event.payload, event.payload.agricultural
    if term is None:
        return
    await tx.conn.execute(
        "INSERT INTO agricultural_renewals (plan_code, plan_id, plan_year) VALUES ($1, $2, $3)"
        " ON CONFLICT (plan_code) DO NOTHING",
        renewal.plan_code,
        renewal.plan_id,
        term.plan_year,
    )
    await _schedule_pack_if_bought(tx, renewal.plan_code, event)


async def _schedule_pack_if_bought(tx: Transaction, plan_code: str, cause: Envelope) -> None:
    # The order and the renewal arrive on different topics, in either order and possibly at
    # the same moment: the plan code's lock makes the second one see what the first committed.
    await tx.conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", "pack:" + plan_code)
    if await tx.conn.fetchval("SELECT 1 FROM consumables_packs WHERE plan_code = $1", plan_code):
        return
    row = await tx.conn.fetchrow(
        "SELECT o.model, o.purchased_at, o.has_address, r.plan_id, r.plan_year"
        " FROM pack_orders o JOIN agricultural_renewals r USING (plan_code)"
        " WHERE o.plan_code = $1",
        plan_code,
    )
    if row is None:
        return  # not a designated renewal, or its order or its binding is still to come
    catalogue = agricultural_catalogue()
    decision = decide_pack(
        pack=catalogue.pack(row["model"], row["plan_year"]),
        address_given=row["has_address"],
        purchased_at=row["purchased_at"],
        working_days=catalogue.pack_due_working_days,
        calendar=catalogue.working_calendar,
        zone=catalogue.zone,
    )
    if decision is None:
        return
    pack_id = uuid.uuid4()
    scheduled = isinstance(decision, SchedulePack)
    await tx.conn.execute(
        "INSERT INTO consumables_packs (pack_id, plan_code, plan_id, model, plan_year, state,"
        " reason_code, items, purchased_at, due_by)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        pack_id,
        plan_code,
        row["plan_id"],
        row["model"],
        row["plan_year"],
        "scheduled" if scheduled else "held",
        decision.reason_code if isinstance(decision, HoldPack) else None,
        list(decision.items) if isinstance(decision, SchedulePack) else [],
        row["purchased_at"],
        decision.due_by if isinstance(decision, SchedulePack) else None,
    )
    published: Envelope
    if isinstance(decision, SchedulePack):
        published = ConsumablesPackScheduled.new(
            ConsumablesPackScheduledPayload(
                pack_id=pack_id,
                plan_id=row["plan_id"],
                plan_code=plan_code,
                model=row["model"],
                plan_year=row["plan_year"],
                items=list(decision.items),
                purchased_at=row["purchased_at"],
                due_by=decision.due_by,
            ),
            producer=PRODUCER,
            correlation_id=str(row["plan_id"]),
            cause=cause,
        )
    else:
        published = ConsumablesPackHeld.new(
            ConsumablesPackHeldPayload(
                plan_id=row["plan_id"],
                plan_code=plan_code,
                model=row["model"],
                plan_year=row["plan_year"],
                reason_code=decision.reason_code,
            ),
            producer=PRODUCER,
            correlation_id=str(row["plan_id"]),
            cause=cause,
        )
    tx.publish(FULFILMENT_EVENTS, str(row["plan_id"]), published)


async def return_repaired_unit(event: RepairCompleted, tx: Transaction) -> None:
    """F5: the repair is done; the unit goes back to the customer (F2: the parts are kept)."""
    done = event.payload
    await tx.conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", "return:" + done.case_id)
    arrangement = arrange_return(
        already_arranged=bool(
            await tx.conn.fetchval("SELECT 1 FROM repair_returns WHERE case_id = $1", done.case_id)
        ),
        return_method=done.return_method.value,
        service_point_id=done.service_point_id,
    )
    if arrangement is None:
        return
    return_id = uuid.uuid4()
    await tx.conn.execute(
        "INSERT INTO repair_returns (case_id, return_id, sn, service_point_id, return_method,"
        " completed_at, replaced_parts_retained) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        done.case_id,
        return_id,
        done.sn,
        arrangement.service_point_id,
        arrangement.return_method,
        done.completed_at,
        arrangement.replaced_parts_retained,
    )
    tx.publish(
        FULFILMENT_EVENTS,
        done.case_id,
        RepairedUnitReturnArranged.new(
            RepairedUnitReturnArrangedPayload(
                return_id=return_id,
                case_id=done.case_id,
                sn=done.sn,
                return_method=done.return_method,
                service_point_id=arrangement.service_point_id,
                repair_completed_at=done.completed_at,
            ),
            producer=PRODUCER,
            correlation_id=done.case_id,
            cause=event,
        ),
    )
