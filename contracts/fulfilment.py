"""Events owned by the fulfilment service (topic `fulfilment.events.v1`, keyed by plan id)."""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from contracts.envelope import Envelope, Payload
from contracts.money import Money
from contracts.repairs import ReturnMethod
from contracts.serials import SerialNumber
from contracts.upstream import ModelCode, PlanCode, RegionCode


class ShippingCharges(Payload):
    """F1: what a replacement outside the plan's region costs the customer to ship."""

    shipping: Money
    customs: Money
    settlement: Literal["paid", "billed_on_delivery"] = Field(
        description="Paid before the unit ships, or billed with its delivery (the customer's"
        " documented choice, PaymentSettled.shipping_choice)"
    )


class ShipmentRequestedPayload(Payload):
    shipment_id: uuid.UUID
    case_id: str
    plan_id: uuid.UUID
    old_sn: SerialNumber
    model: ModelCode
    ship_to_region: RegionCode
    customer_pays_shipping: bool = Field(
        description="F1: true when the customer's region differs from the plan's region"
    )
    shipping_charges: ShippingCharges | None = Field(
        default=None, description="F1: None when the customer's region is the plan's (free)"
    )


class ShipmentRequested(Envelope):
    """Fee settled: the warehouse is asked for a replacement unit, with priority (F1)."""

    event_type: Literal["fulfilment.shipment-requested"] = "fulfilment.shipment-requested"
    payload: ShipmentRequestedPayload


class ShippingChargesQuotedPayload(Payload):
    case_id: str
    plan_id: uuid.UUID
    old_sn: SerialNumber = Field(description="The unit the replacement replaces")
    plan_region: RegionCode
    ship_to_region: RegionCode
    fee: Money = Field(description="The replacement fee, owed as well")
    shipping: Money = Field(description="F1: from the catalogue's table for the two regions")
    customs: Money


class ShippingChargesQuoted(Envelope):
    """F1: a replacement ships outside the plan's region; the customer owes its shipping and
    customs besides the fee, and it waits for them as for the fee, unless the customer chose to
    have them billed on delivery."""

    event_type: Literal["fulfilment.shipping-charges-quoted"] = "fulfilment.shipping-charges-quoted"
    payload: ShippingChargesQuotedPayload


class DeviceReplacedPayload(Payload):
    shipment_id: uuid.UUID
    case_id: str
    plan_id: uuid.UUID
    old_sn: SerialNumber
    new_sn: SerialNumber
    dispatched_at: AwareDatetime


class DeviceReplaced(Envelope):
    """The replacement left the warehouse: old SN -> new SN; the damaged unit is kept (F2, F3)."""

    event_type: Literal["fulfilment.device-replaced"] = "fulfilment.device-replaced"
    payload: DeviceReplacedPayload


class PreAuthorisationRequestedPayload(Payload):
    case_id: str
    plan_id: uuid.UUID
    amount: Money = Field(description="X3: up to the product's value")


class PreAuthorisationRequested(Envelope):
    """X3 premium: payments is asked to hold the product's value on the customer's card."""

    event_type: Literal["fulfilment.pre-authorisation-requested"] = (
        "fulfilment.pre-authorisation-requested"
    )
    payload: PreAuthorisationRequestedPayload


class ConsumablesPackScheduledPayload(Payload):
    pack_id: uuid.UUID = Field(description="The warehouse asks fulfilment for the address by it")
    plan_id: uuid.UUID
    plan_code: PlanCode = Field(description="The designated renewal that brings the pack")
    model: ModelCode
    plan_year: int = Field(ge=2, le=3)
    items: list[str] = Field(min_length=1, max_length=50)
    purchased_at: AwareDatetime
    due_by: AwareDatetime = Field(
        description="F4: the end (24:00 Asia/Shanghai) of the 30th working day after the purchase"
    )
    weekdays_only_after: date | None = Field(
        default=None,
        description="F4: the working-day calendar's last day, when the 30 working days run past"
        " it and the days after it were counted as weekdays alone (see"
        " ConsumablesPackBeyondCalendar)",
    )


class ConsumablesPackScheduled(Envelope):
    """F4: a designated AG renewal was bought; its model's pack ships to the address given at
    purchase (kept by fulfilment, never published) by `due_by`."""

    event_type: Literal["fulfilment.consumables-pack-scheduled"] = (
        "fulfilment.consumables-pack-scheduled"
    )
    payload: ConsumablesPackScheduledPayload


class ConsumablesPackBeyondCalendarPayload(Payload):
    pack_id: uuid.UUID
    plan_id: uuid.UUID
    plan_code: PlanCode
    calendar_valid_until: date = Field(description="The working-day calendar's last day")
    due_by: AwareDatetime = Field(description="Counted on weekdays alone past that day")


class ConsumablesPackBeyondCalendar(Envelope):
    """F4: a pack's 30 working days run past the working-day calendar; its due date counts the
    days beyond on weekdays alone, not knowing their public holidays. Extend the calendar."""

    event_type: Literal["fulfilment.consumables-pack-beyond-calendar"] = (
        "fulfilment.consumables-pack-beyond-calendar"
    )
    payload: ConsumablesPackBeyondCalendarPayload


class PackAddressChangeRefusedPayload(Payload):
    request_id: str = Field(
        description="The change request it answers, or the order id of a later order of the"
        " plan code with another address"
    )
    plan_code: PlanCode
    plan_id: uuid.UUID | None = Field(description="None when the renewal is not bound yet")
    reason_code: Literal["PACK_ADDRESS_FIXED"] = "PACK_ADDRESS_FIXED"


class PackAddressChangeRefused(Envelope):
    """F4: the address given at purchase cannot be changed afterwards. Keyed by plan id, or by
    plan code when the renewal is not bound yet."""

    event_type: Literal["fulfilment.pack-address-change-refused"] = (
        "fulfilment.pack-address-change-refused"
    )
    payload: PackAddressChangeRefusedPayload


class ConsumablesPackHeldPayload(Payload):
    plan_id: uuid.UUID
    plan_code: PlanCode
    model: ModelCode
    plan_year: int = Field(ge=2, le=3)
    reason_code: str = Field(description="Why it cannot ship, e.g. PACK_ADDRESS_MISSING")


class ConsumablesPackHeld(Envelope):
    """F4: a designated renewal's pack cannot be scheduled; customer service must step in."""

    event_type: Literal["fulfilment.consumables-pack-held"] = "fulfilment.consumables-pack-held"
    payload: ConsumablesPackHeldPayload


class RepairedUnitReturnArrangedPayload(Payload):
    return_id: uuid.UUID
    case_id: str
    sn: SerialNumber = Field(description="The repaired unit")
    return_method: ReturnMethod = Field(description="F5: shipped back, or collected")
    service_point_id: str
    repair_completed_at: AwareDatetime


class RepairedUnitReturnArranged(Envelope):
    """F5: the repair is done; the unit is shipped back or waits at the service point. The
    replaced parts are kept (F2). Keyed by case id: a repair need not be paid from a plan."""

    event_type: Literal["fulfilment.repaired-unit-return-arranged"] = (
        "fulfilment.repaired-unit-return-arranged"
    )
    payload: RepairedUnitReturnArrangedPayload


class PaymentRecordedPayload(Payload):
    payment_id: str = Field(description="The payment this answers")
    case_id: str
    plan_id: uuid.UUID | None = Field(
        description="The plan of the replacement it pays towards; None when no deduction of the"
        " case had been read by the end of its grace (it is kept and counts once one comes)"
    )
    amount: Money
    paid_for: Literal["replacement_fee", "case_not_yet_deducted", "case_refused"] = Field(
        description="F1: the replacement fee of its case, a case whose deduction is not known,"
        " or a case finally refused (the payment is refunded: RefundRequested)"
    )
    counts_towards_fee: bool = Field(
        description="F1: false when paid in another currency than the fee's (a case not"
        " deducted yet: true, its fee is not known)"
    )
    copy_of: uuid.UUID | None = Field(
        default=None,
        description="A payment sent again under its payment id: the event id of the answer it"
        " repeats; nothing is applied again",
    )


class PaymentRecorded(Envelope):
    """F1: fulfilment's one answer to a payment, naming it; a payment sent again gets a copy
    (`copy_of`). Keyed by plan id, or by case id when no deduction is known."""

    event_type: Literal["fulfilment.payment-recorded"] = "fulfilment.payment-recorded"
    payload: PaymentRecordedPayload


class ShipmentCancellationRequestedPayload(Payload):
    shipment_id: uuid.UUID
    case_id: str
    plan_id: uuid.UUID
    old_sn: SerialNumber
    reason_codes: list[str] = Field(
        min_length=1, description="C10: why the plan ended, e.g. FRAUD_CONFIRMED"
    )


class ShipmentCancellationRequested(Envelope):
    """C10: the plan ended after fraud while its unit was requested from the warehouse, which
    answers ShipmentCancelled or ShipmentAlreadyDispatched on warehouse.dispatches.v1."""

    event_type: Literal["fulfilment.shipment-cancellation-requested"] = (
        "fulfilment.shipment-cancellation-requested"
    )
    payload: ShipmentCancellationRequestedPayload


class RecallOutcome(StrEnum):
    CANCELLED = "cancelled"
    ALREADY_DISPATCHED = "already_dispatched"


class ShipmentRecallConcludedPayload(Payload):
    shipment_id: uuid.UUID
    case_id: str
    plan_id: uuid.UUID
    old_sn: SerialNumber
    outcome: RecallOutcome = Field(
        description="C10: the warehouse stopped the unit, or it had already left"
    )
    new_sn: SerialNumber | None = Field(
        default=None, description="The unit that left; it inherits no plan (F3 does not apply)"
    )
    customer_owes: Money | None = Field(
        default=None,
        description="C10: the unit's value (the catalogue's product value) when it had left",
    )
    concluded_at: AwareDatetime


class ShipmentRecallConcluded(Envelope):
    """C10: the end of a replacement recalled after fraud: cancelled, or already dispatched and
    owed by the customer. The plan stays terminated either way."""

    event_type: Literal["fulfilment.shipment-recall-concluded"] = (
        "fulfilment.shipment-recall-concluded"
    )
    payload: ShipmentRecallConcludedPayload


class RefundReason(StrEnum):
    CLAIM_REFUSED = "CLAIM_REFUSED"  # X3: an express basic fee paid before a claim refused
    FEE_PAID_TWICE = "FEE_PAID_TWICE"  # F1: paid beyond the fee, under another payment id


class RefundRequestedPayload(Payload):
    refund_id: uuid.UUID = Field(description="Payments answers RefundSettled naming it")
    payment_id: str = Field(description="The payment refunded; each is refunded at most once")
    case_id: str
    plan_id: uuid.UUID | None = Field(
        description="The plan of the case's replacement; None for a case refused"
    )
    amount: Money
    reason: RefundReason


class RefundRequested(Envelope):
    """Payments is asked to give back a payment, or the part of it beyond the case's fee. Keyed
    like the payment's answer: by plan id, or by case id when the case has no replacement."""

    event_type: Literal["fulfilment.refund-requested"] = "fulfilment.refund-requested"
    payload: RefundRequestedPayload


FulfilmentEvent = Annotated[
    ShipmentRequested
    | DeviceReplaced
    | PreAuthorisationRequested
    | ShippingChargesQuoted
    | ConsumablesPackScheduled
    | ConsumablesPackBeyondCalendar
    | ConsumablesPackHeld
    | PackAddressChangeRefused
    | RepairedUnitReturnArranged
    | PaymentRecorded
    | ShipmentCancellationRequested
    | ShipmentRecallConcluded
    | RefundRequested,
    Field(discriminator="event_type"),
]
