"""Fulfilment's SQL: the books of a batch loaded with one statement per table, and saved with one
statement per table.

Race guards, taken for the whole batch in one statement and in key order so that two instances
never wait on each other in a cycle: a case's lock serialises its deduction, payments and
pre-authorisation (each would otherwise miss the other's uncommitted rows and none would ship);
a plan code's lock does the same for a pack's order and its binding; a case's return lock keeps
a repeated completion from arranging a second return.
"""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal
from typing import TYPE_CHECKING
from uuid import UUID

from contracts.fulfilment import PaymentRecordedPayload, RefundReason
from contracts.money import Money
from contracts.upstream import DeliveryAddress, ServiceMode, ShippingChoice
from services.fulfilment.domain import (
    Payment,
    PaymentAnswer,
    PreAuthorisation,
    RepairReturns,
    Replacement,
    Replacements,
    ReplacementState,
)
from services.fulfilment.domain_agricultural import (
    AgriculturalRenewal,
    HoldPack,
    PackOrder,
    Packs,
    SchedulePack,
)
from services.fulfilment.domain_refunds import Refund, RefundState

if TYPE_CHECKING:
    from shared.db import Connection

CASE_LOCK = ""  # a case's lock is keyed by its bare id, as it always was
PACK_LOCK = "pack:"
RETURN_LOCK = "return:"


async def _lock(conn: Connection, prefix: str, keys: Collection[str]) -> None:
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext(k)) FROM unnest($1::text[]) AS k ORDER BY k",
        sorted({prefix + key for key in keys}),
    )


async def load_replacements(
    conn: Connection,
    *,
    case_ids: Collection[str] = (),
    plan_ids: Collection[UUID] = (),
    shipment_ids: Collection[UUID] = (),
    payment_ids: Collection[str] = (),
) -> Replacements:
    """The replacements of the cases, plans and shipments named, locked; with the payments and
    pre-authorisations of the cases named, whose locks are taken first."""
    if case_ids:
        await _lock(conn, CASE_LOCK, case_ids)
    rows = await conn.fetch(
        "SELECT case_id, plan_id, old_sn, model, plan_region, customer_region, fee_amount,"
        " fee_currency, flyaway, service_mode, state, shipment_id, customer_pays_shipping,"
        " new_sn, dispatched_at, owed_amount, owed_currency, shipping_amount, customs_amount,"
        " charges_currency FROM replacements"
        " WHERE case_id = ANY($1::text[]) OR plan_id = ANY($2::uuid[])"
        " OR shipment_id = ANY($3::uuid[]) ORDER BY case_id FOR UPDATE",
        list(case_ids),
        list(plan_ids),
        list(shipment_ids),
    )
    replacements = {
        row["case_id"]: Replacement(
            case_id=row["case_id"],
            plan_id=row["plan_id"],
            old_sn=row["old_sn"],
            model=row["model"],
            plan_region=row["plan_region"],
            customer_region=row["customer_region"],
            fee=Money(amount=row["fee_amount"], currency=row["fee_currency"]),
            flyaway=row["flyaway"],
            service_mode=ServiceMode(row["service_mode"]),
            state=ReplacementState(row["state"]),
            shipment_id=row["shipment_id"],
            customer_pays_shipping=row["customer_pays_shipping"],
            new_sn=row["new_sn"],
            dispatched_at=row["dispatched_at"],
            owed=_money(row["owed_amount"], row["owed_currency"]),
            shipping=_money(row["shipping_amount"], row["charges_currency"]),
            customs=_money(row["customs_amount"], row["charges_currency"]),
        )
        for row in rows
    }
    if not case_ids:
        return Replacements(replacements, {}, {})
    return Replacements(
        replacements,
        await _payments(conn, case_ids, payment_ids),
        await _pre_authorisations(conn, case_ids),
        answers=await _payment_answers(conn, payment_ids),
        refunds=await _refunds(conn, case_ids),
        refused=await _refused(conn, case_ids),
    )


async def _refunds(conn: Connection, case_ids: Collection[str]) -> dict[str, Refund]:
    rows = await conn.fetch(
        "SELECT payment_id, refund_id, case_id, amount, currency, reason, state, settled_at"
        " FROM refunds WHERE case_id = ANY($1::text[])",
        list(case_ids),
    )
    return {
        row["payment_id"]: Refund(
            refund_id=row["refund_id"],
            payment_id=row["payment_id"],
            case_id=row["case_id"],
            amount=Money(amount=row["amount"], currency=row["currency"]),
            reason=RefundReason(row["reason"]),
            state=RefundState(row["state"]),
            settled_at=row["settled_at"],
        )
        for row in rows
    }


async def _refused(conn: Connection, case_ids: Collection[str]) -> set[str]:
    rows = await conn.fetch(
        "SELECT case_id FROM refused_cases WHERE case_id = ANY($1::text[])", list(case_ids)
    )
    return {row["case_id"] for row in rows}


def _money(amount: Decimal | None, currency: str | None) -> Money | None:
    return None if amount is None or currency is None else Money(amount=amount, currency=currency)


async def _payment_answers(
    conn: Connection, payment_ids: Collection[str]
) -> dict[str, PaymentAnswer]:
    if not payment_ids:
        return {}
    rows = await conn.fetch(
        "SELECT payment_id, event_id, answer::text AS answer FROM payment_answers"
        " WHERE payment_id = ANY($1::text[])",
        list(payment_ids),
    )
    return {
        row["payment_id"]: PaymentAnswer(
            row["payment_id"],
            row["event_id"],
            PaymentRecordedPayload.model_validate_json(row["answer"]),
        )
        for row in rows
    }


async def _payments(
    conn: Connection, case_ids: Collection[str], payment_ids: Collection[str]
) -> dict[str, Payment]:
    rows = await conn.fetch(
        "SELECT payment_id, case_id, amount, currency, settled_at, shipping_choice FROM payments"
        " WHERE case_id = ANY($1::text[]) OR payment_id = ANY($2::text[])",
        list(case_ids),
        list(payment_ids),
    )
    return {
        row["payment_id"]: Payment(
            payment_id=row["payment_id"],
            case_id=row["case_id"],
            amount=Money(amount=row["amount"], currency=row["currency"]),
            settled_at=row["settled_at"],
            shipping_choice=ShippingChoice(row["shipping_choice"]),
        )
        for row in rows
    }


async def _pre_authorisations(
    conn: Connection, case_ids: Collection[str]
) -> dict[str, PreAuthorisation]:
    rows = await conn.fetch(
        "SELECT case_id, requested_amount, currency, state, authorisation_id, placed_at,"
        " closed_at, closed_amount FROM pre_authorisations WHERE case_id = ANY($1::text[])",
        list(case_ids),
    )
    return {
        row["case_id"]: PreAuthorisation(
            case_id=row["case_id"],
            requested=Money(amount=row["requested_amount"], currency=row["currency"]),
            state=row["state"],
            authorisation_id=row["authorisation_id"],
            placed_at=row["placed_at"],
            closed_at=row["closed_at"],
            closed_amount=row["closed_amount"],
        )
        for row in rows
    }


async def save_replacements(conn: Connection, book: Replacements) -> None:
    """The replacements, payments and pre-authorisations the batch changed or added."""
    changed = [book.replacements[case_id] for case_id in sorted(book.changed)]
    if changed:
        await conn.execute(
            "INSERT INTO replacements (case_id, plan_id, old_sn, model, plan_region,"
            " customer_region, fee_amount, fee_currency, flyaway, service_mode, state,"
            " shipment_id, customer_pays_shipping, new_sn, dispatched_at, owed_amount,"
            " owed_currency, shipping_amount, customs_amount, charges_currency)"
            " SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[],"
            " $6::text[], $7::numeric[], $8::text[], $9::bool[], $10::text[], $11::text[],"
            " $12::uuid[], $13::bool[], $14::text[], $15::timestamptz[], $16::numeric[],"
            " $17::text[], $18::numeric[], $19::numeric[], $20::text[])"
            " ON CONFLICT (case_id) DO UPDATE SET state = EXCLUDED.state,"
            " shipment_id = EXCLUDED.shipment_id,"
            " customer_pays_shipping = EXCLUDED.customer_pays_shipping,"
            " new_sn = EXCLUDED.new_sn, dispatched_at = EXCLUDED.dispatched_at,"
            " owed_amount = EXCLUDED.owed_amount, owed_currency = EXCLUDED.owed_currency",
            [r.case_id for r in changed],
            [r.plan_id for r in changed],
            [r.old_sn for r in changed],
            [r.model for r in changed],
            [r.plan_region for r in changed],
            [r.customer_region for r in changed],
            [r.fee.amount for r in changed],
            [r.fee.currency for r in changed],
            [r.flyaway for r in changed],
            [r.service_mode.value for r in changed],
            [r.state.value for r in changed],
            [r.shipment_id for r in changed],
            [r.customer_pays_shipping for r in changed],
            [r.new_sn for r in changed],
            [r.dispatched_at for r in changed],
            [r.owed.amount if r.owed else None for r in changed],
            [r.owed.currency if r.owed else None for r in changed],
            [r.shipping.amount if r.shipping else None for r in changed],
            [r.customs.amount if r.customs else None for r in changed],
            [r.shipping.currency if r.shipping else None for r in changed],
        )
    if book.new_payments:
        await conn.execute(
            "INSERT INTO payments (payment_id, case_id, amount, currency, settled_at,"
            " shipping_choice) SELECT * FROM unnest($1::text[], $2::text[], $3::numeric[],"
            " $4::text[], $5::timestamptz[], $6::text[]) ON CONFLICT (payment_id) DO NOTHING",
            [p.payment_id for p in book.new_payments],
            [p.case_id for p in book.new_payments],
            [p.amount.amount for p in book.new_payments],
            [p.amount.currency for p in book.new_payments],
            [p.settled_at for p in book.new_payments],
            [p.shipping_choice.value for p in book.new_payments],
        )
    if book.new_answers:
        await conn.execute(
            "INSERT INTO payment_answers (payment_id, event_id, answer)"
            " SELECT * FROM unnest($1::text[], $2::uuid[], $3::jsonb[])",
            [a.payment_id for a in book.new_answers],
            [a.event_id for a in book.new_answers],
            [a.answer.model_dump_json() for a in book.new_answers],
        )
    await _save_refunds(conn, book)
    held = [book.pre_authorisations[case_id] for case_id in sorted(book.changed_pre_authorisations)]
    if held:
        await conn.execute(
            "INSERT INTO pre_authorisations (case_id, requested_amount, currency, state,"
            " authorisation_id, placed_at, closed_at, closed_amount)"
            " SELECT * FROM unnest($1::text[], $2::numeric[], $3::text[], $4::text[],"
            " $5::text[], $6::timestamptz[], $7::timestamptz[], $8::numeric[])"
            " ON CONFLICT (case_id) DO UPDATE SET state = EXCLUDED.state,"
            " authorisation_id = EXCLUDED.authorisation_id, placed_at = EXCLUDED.placed_at,"
            " closed_at = EXCLUDED.closed_at, closed_amount = EXCLUDED.closed_amount",
            [h.case_id for h in held],
            [h.requested.amount for h in held],
            [h.requested.currency for h in held],
            [h.state for h in held],
            [h.authorisation_id for h in held],
            [h.placed_at for h in held],
            [h.closed_at for h in held],
            [h.closed_amount for h in held],
        )


async def _save_refunds(conn: Connection, book: Replacements) -> None:
    if book.new_refused:
        await conn.execute(
            "INSERT INTO refused_cases (case_id) SELECT * FROM unnest($1::text[])"
            " ON CONFLICT (case_id) DO NOTHING",
            sorted(book.new_refused),
        )
    refunds = [book.refunds[payment_id] for payment_id in sorted(book.changed_refunds)]
    if refunds:
        await conn.execute(
            "INSERT INTO refunds (payment_id, refund_id, case_id, amount, currency, reason,"
            " state, settled_at) SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[],"
            " $4::numeric[], $5::text[], $6::text[], $7::text[], $8::timestamptz[])"
            " ON CONFLICT (payment_id) DO UPDATE SET state = EXCLUDED.state,"
            " settled_at = EXCLUDED.settled_at",
            [r.payment_id for r in refunds],
            [r.refund_id for r in refunds],
            [r.case_id for r in refunds],
            [r.amount.amount for r in refunds],
            [r.amount.currency for r in refunds],
            [r.reason.value for r in refunds],
            [r.state.value for r in refunds],
            [r.settled_at for r in refunds],
        )


_ADDRESS = ("recipient", "phone", "province", "city", "district", "street", "postal_code")


async def load_packs(conn: Connection, plan_codes: Collection[str]) -> Packs:
    """The orders, bindings and pack decisions of the plan codes, under their locks."""
    if not plan_codes:
        return Packs({}, {}, set())
    await _lock(conn, PACK_LOCK, plan_codes)
    codes = list(plan_codes)
    orders = await conn.fetch(
        "SELECT plan_code, order_id, model, plan_year, purchased_at, has_address, country, "
        + ", ".join(_ADDRESS)
        + " FROM pack_orders WHERE plan_code = ANY($1::text[])",
        codes,
    )
    renewals = await conn.fetch(
        "SELECT plan_code, plan_id, plan_year FROM agricultural_renewals"
        " WHERE plan_code = ANY($1::text[])",
        codes,
    )
    decided = await conn.fetch(
        "SELECT plan_code FROM consumables_packs WHERE plan_code = ANY($1::text[])", codes
    )
    return Packs(
        orders={
            row["plan_code"]: PackOrder(
                plan_code=row["plan_code"],
                order_id=row["order_id"],
                model=row["model"],
                plan_year=row["plan_year"],
                purchased_at=row["purchased_at"],
                address=DeliveryAddress(
                    country=row["country"], **{column: row[column] for column in _ADDRESS}
                )
                if row["has_address"]
                else None,
            )
            for row in orders
        },
        renewals={
            row["plan_code"]: AgriculturalRenewal(
                row["plan_code"], row["plan_id"], row["plan_year"]
            )
            for row in renewals
        },
        decided={row["plan_code"] for row in decided},
    )


async def save_packs(conn: Connection, book: Packs) -> None:
    """The orders and bindings the batch kept first, and the packs it decided."""
    if book.new_orders:
        addresses = [order.address for order in book.new_orders]
        await conn.execute(
            "INSERT INTO pack_orders (plan_code, order_id, model, plan_year, purchased_at,"
            " has_address, country, "
            + ", ".join(_ADDRESS)
            + ") SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[],"
            " $5::timestamptz[], $6::bool[], $7::text[], $8::text[], $9::text[], $10::text[],"
            " $11::text[], $12::text[], $13::text[], $14::text[])"
            " ON CONFLICT (plan_code) DO NOTHING",
            [order.plan_code for order in book.new_orders],
            [order.order_id for order in book.new_orders],
            [order.model for order in book.new_orders],
            [order.plan_year for order in book.new_orders],
            [order.purchased_at for order in book.new_orders],
            [address is not None for address in addresses],
            [address.country if address else None for address in addresses],
            *(
                [getattr(address, column) if address else None for address in addresses]
                for column in _ADDRESS
            ),
        )
    if book.new_renewals:
        await conn.execute(
            "INSERT INTO agricultural_renewals (plan_code, plan_id, plan_year)"
            " SELECT * FROM unnest($1::text[], $2::uuid[], $3::int[])"
            " ON CONFLICT (plan_code) DO NOTHING",
            [renewal.plan_code for renewal in book.new_renewals],
            [renewal.plan_id for renewal in book.new_renewals],
            [renewal.plan_year for renewal in book.new_renewals],
        )
    if book.new_packs:
        packs = book.new_packs
        await conn.executemany(
            "INSERT INTO consumables_packs (pack_id, plan_code, plan_id, model, plan_year, state,"
            " reason_code, items, purchased_at, due_by, weekdays_only_after)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            [
                (
                    pack.pack_id,
                    pack.order.plan_code,
                    pack.renewal.plan_id,
                    pack.order.model,
                    pack.renewal.plan_year,
                    "scheduled" if isinstance(pack.decision, SchedulePack) else "held",
                    pack.decision.reason_code if isinstance(pack.decision, HoldPack) else None,
                    list(pack.decision.items) if isinstance(pack.decision, SchedulePack) else [],
                    pack.order.purchased_at,
                    pack.decision.due.due_by if isinstance(pack.decision, SchedulePack) else None,
                    pack.decision.due.weekdays_only_after
                    if isinstance(pack.decision, SchedulePack)
                    else None,
                )
                for pack in packs
            ],
        )


async def load_repair_returns(conn: Connection, case_ids: Collection[str]) -> RepairReturns:
    """The cases whose repaired unit already goes back, under their return locks."""
    if not case_ids:
        return RepairReturns(set())
    await _lock(conn, RETURN_LOCK, case_ids)
    rows = await conn.fetch(
        "SELECT case_id FROM repair_returns WHERE case_id = ANY($1::text[])", list(case_ids)
    )
    return RepairReturns({row["case_id"] for row in rows})


async def save_repair_returns(conn: Connection, book: RepairReturns) -> None:
    if not book.new:
        return
    await conn.execute(
        "INSERT INTO repair_returns (case_id, return_id, sn, service_point_id, return_method,"
        " completed_at, replaced_parts_retained) SELECT * FROM unnest($1::text[], $2::uuid[],"
        " $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::bool[])",
        [arranged.case_id for arranged in book.new],
        [arranged.return_id for arranged in book.new],
        [arranged.sn for arranged in book.new],
        [arranged.arrangement.service_point_id for arranged in book.new],
        [arranged.arrangement.return_method for arranged in book.new],
        [arranged.completed_at for arranged in book.new],
        [arranged.arrangement.replaced_parts_retained for arranged in book.new],
    )
