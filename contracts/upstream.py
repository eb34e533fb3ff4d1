"""Events published by the systems around us: commerce, devices, repair, payments, warehouse."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, EmailStr, Field, WithJsonSchema, model_validator

from contracts.envelope import Envelope, Payload
from contracts.money import Money
from contracts.serials import SerialNumber

PlanCode = Annotated[str, Field(pattern=r"^[A-Z0-9-]{6,40}$")]
ModelCode = Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{2,40}$", description="Catalogue model id")]
RegionCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]


class DeliveryAddress(Payload):
    """Personal data: where a consumables pack goes (F4). Only fulfilment keeps it."""

    recipient: str = Field(min_length=1, max_length=200)
    phone: str = Field(pattern=r"^\+?[0-9][0-9 -]{4,30}$")
    province: str = Field(min_length=1, max_length=100)
    city: str = Field(min_length=1, max_length=100)
    district: str | None = Field(default=None, max_length=100)
    street: str = Field(min_length=1, max_length=500)
    postal_code: str | None = Field(default=None, max_length=16)
    country: RegionCode = "CN"


class PlanOrderPlacedPayload(Payload):
    order_id: str = Field(min_length=1, max_length=64)
    plan_code: PlanCode
    sku: str = Field(min_length=1, max_length=64, description="Catalogue plan SKU")
    model: ModelCode
    region: RegionCode
    price: Money
    purchased_at: AwareDatetime
    plan_year: int | None = Field(
        default=None,
        ge=1,
        le=3,
        description="P4, AG only: 1 first year, 2 and 3 renewals; must agree with the SKU",
    )
    new_drone_bundle: bool = Field(
        default=False,
        description="P4, P6, AG only: a first-year plan gifted with a new-drone bundle, which "
        "also carries third-party liability cover",
    )
    pack_delivery_address: DeliveryAddress | None = Field(
        default=None,
        description="F4, AG designated renewals: where the consumables pack goes; it cannot be "
        "changed afterwards. Personal data: only fulfilment keeps it",
    )


class PlanOrderPlaced(Envelope):
    """A plan code was sold (commerce); it can now be activated once (A2)."""

    event_type: Literal["commerce.plan-order-placed"] = "commerce.plan-order-placed"
    payload: PlanOrderPlacedPayload


class PackAddressChangeRequestedPayload(Payload):
    request_id: str = Field(min_length=1, max_length=64)
    plan_code: PlanCode = Field(description="The designated renewal whose pack it would move")
    address: DeliveryAddress
    requested_at: AwareDatetime


class PackAddressChangeRequested(Envelope):
    """F4: the customer asked commerce, after the purchase, to send a consumables pack to
    another address. Commerce owns the order and its address, so it forwards the request."""

    event_type: Literal["commerce.pack-address-change-requested"] = (
        "commerce.pack-address-change-requested"
    )
    payload: PackAddressChangeRequestedPayload


class DeviceActivatedPayload(Payload):
    sn: SerialNumber
    model: ModelCode
    activated_at: AwareDatetime


class DeviceActivated(Envelope):
    """The device's own first activation: the start of its binding window (A1, X1)."""

    event_type: Literal["devices.device-activated"] = "devices.device-activated"
    payload: DeviceActivatedPayload


class Owner(Payload):
    """Personal data: it stays in the activation service, other services see only owner_id."""

    name: str = Field(min_length=1, max_length=200)
    # `format: email` alone is any text with an "@" to JSON Schema validators; the pattern
    # says what email-validator insists on too: a local part, and a domain with a dot.
    email: Annotated[
        EmailStr,
        WithJsonSchema(
            {"type": "string", "format": "email", "pattern": r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$"}
        ),
    ]


class ActivationRequestedPayload(Payload):
    request_id: str = Field(min_length=1, max_length=64)
    plan_code: PlanCode
    sn: SerialNumber
    owner: Owner
    requested_at: AwareDatetime
    repair_invitation_at: AwareDatetime | None = Field(
        default=None,
        description="X1: after an official repair, the invitation opens a 72-hour window",
    )


class ActivationRequested(Envelope):
    """The customer binds a plan code to a device (A1)."""

    event_type: Literal["activation.activation-requested"] = "activation.activation-requested"
    payload: ActivationRequestedPayload


class VideoReviewedPayload(Payload):
    request_id: str = Field(min_length=1, max_length=64)
    approved: bool
    reviewed_at: AwareDatetime


class VideoReviewed(Envelope):
    """A reviewer's verdict on the verification video of a late activation (A1)."""

    event_type: Literal["activation.video-reviewed"] = "activation.video-reviewed"
    payload: VideoReviewedPayload


class IncidentCause(StrEnum):
    """What the customer and the repair centre say happened (C2, C3, C6, X4)."""

    OPERATOR_ERROR = "operator_error"
    COLLISION = "collision"
    FALL = "fall"
    WATER_DAMAGE = "water_damage"
    SIGNAL_INTERFERENCE = "signal_interference"
    FLYAWAY = "flyaway"
    MANUFACTURING_DEFECT = "manufacturing_defect"
    LOSS = "loss"
    THEFT = "theft"
    UNSUITABLE_WEATHER = "unsuitable_weather"
    INTENTIONAL_DAMAGE = "intentional_damage"
    COSMETIC_DAMAGE = "cosmetic_damage"
    FORCE_MAJEURE = "force_majeure"
    UNAUTHORISED_MODIFICATION = "unauthorised_modification"
    THIRD_PARTY_PARTS = "third_party_parts"
    NATURAL_WEAR = "natural_wear"  # AG C3
    NON_MANUFACTURER_PAYLOAD = "non_manufacturer_payload"  # AG C3


class CustomerChoice(StrEnum):
    """C5: at the quote, the customer takes the plan's replacement or pays for a repair."""

    PLAN_REPLACEMENT = "plan_replacement"
    PAID_REPAIR = "paid_repair"


class ReturnedPart(Payload):
    """A part sent in with (or as) the device, and what its SN says (C4)."""

    part: str = Field(min_length=1, max_length=100)
    sn: SerialNumber | None = Field(default=None, description="None when the SN is missing")
    sn_readable: bool = True
    matches_body_record: bool = Field(
        default=True, description="The manufacturer's records bind this part to the body SN"
    )


class ServiceMode(StrEnum):
    """X3: standard, or express (basic: ships after the damaged unit arrives; premium: ships once
    the fee is paid, against a card pre-authorisation)."""

    STANDARD = "standard"
    EXPRESS_BASIC = "express_basic"
    EXPRESS_PREMIUM = "express_premium"


class AgriculturalActivity(StrEnum):
    """AG C2: what the drone was doing. Spraying and spreading are covered, lifting only on a
    model that supports a lifting system, anything else is not."""

    SPRAYING = "agricultural_spraying"
    SPREADING = "agricultural_spreading"
    LIFTING = "agricultural_lifting"
    NON_AGRICULTURAL = "non_agricultural"


class PartClass(StrEnum):
    """AG C7: the class of a repaired part. Only body parts can be paid from a quota."""

    BODY = "body"
    BATTERY = "battery"
    REMOTE_CONTROLLER = "remote_controller"
    CHARGER = "charger"
    GENERATOR = "generator"
    KIT_ACCESSORY = "kit_accessory"
    OPTIONAL_ACCESSORY = "optional_accessory"


MAX_REPAIR_LINES = 60  # keeps a decision with its line-by-line split well under MAX_EVENT_BYTES


class RepairLine(Payload):
    """AG C7: one priced line of the repair centre's quote (material plus labour)."""

    line_id: str = Field(min_length=1, max_length=64)
    part_code: str = Field(
        min_length=1, max_length=100, description="Catalogue part code, e.g. blade, arm, nozzle"
    )
    part_class: PartClass
    sn: SerialNumber | None = Field(default=None, description="The part's SN where it has one")
    bound_to_body: bool = Field(
        default=True, description="C4 AG: the manufacturer's records bind this part to the body SN"
    )
    material: Money
    labour: Money
    genuine: bool = Field(default=True, description="C7: a non-genuine part is never covered")

    @model_validator(mode="after")
    def _one_currency(self) -> RepairLine:
        if self.material.currency != self.labour.currency:
            raise ValueError(f"repair line {self.line_id}: material and labour in two currencies")
        return self

    @property
    def cost(self) -> Money:
        """The line's repair cost: material plus labour (seed 1.1.3)."""
        return self.material + self.labour


class AssessmentReportedPayload(Payload):
    case_id: str = Field(min_length=1, max_length=64)
    reported_sn: SerialNumber = Field(description="The SN the customer reported")
    unit_sn: SerialNumber | None = Field(
        default=None, description="The SN read on the returned unit; None if nothing came back"
    )
    model: ModelCode
    cause: IncidentCause
    incident_at: AwareDatetime
    assessed_at: AwareDatetime
    customer_region: RegionCode
    flight_record_provided: bool = False
    account_bound_at: AwareDatetime | None = Field(
        default=None, description="X2: when the owner's account was bound to the aircraft"
    )
    remote_controller_bound_at: AwareDatetime | None = Field(
        default=None, description="X2: when the remote controller was bound to the aircraft"
    )
    parts: list[ReturnedPart] = Field(default_factory=list, max_length=200)
    customer_choice: CustomerChoice = CustomerChoice.PLAN_REPLACEMENT
    service_mode: ServiceMode = ServiceMode.STANDARD
    battery_present: bool = Field(default=True, description="X3: checked on express units")
    activity: AgriculturalActivity | None = Field(
        default=None, description="AG C2: the work the drone was doing at the incident"
    )
    unit_complete: bool = Field(
        default=True, description="AG C3: the body and all its parts came back"
    )
    repair_lines: list[RepairLine] = Field(
        default_factory=list,
        max_length=MAX_REPAIR_LINES,
        description="AG C7: the priced repair, line by line",
    )
    accessory_sn: SerialNumber | None = Field(
        default=None, description="G4: the claim is on this accessory of the reported drone"
    )
    logistics_fee: Money | None = Field(
        default=None, description="AG C7: shipping of the case, always the customer's"
    )

    @model_validator(mode="after")
    def _repair_in_one_currency(self) -> AssessmentReportedPayload:
        currencies = {line.material.currency for line in self.repair_lines}
        if self.logistics_fee is not None:
            currencies.add(self.logistics_fee.currency)
        if len(currencies) > 1:
            raise ValueError(f"repair lines and logistics in several currencies: {currencies}")
        return self


class AssessmentReported(Envelope):
    """The repair centre's assessment of a device: where every claim starts."""

    event_type: Literal["repair.assessment-reported"] = "repair.assessment-reported"
    payload: AssessmentReportedPayload


class ExpressReplacementRequestedPayload(Payload):
    case_id: str = Field(min_length=1, max_length=64)
    sn: SerialNumber
    model: ModelCode
    cause: IncidentCause
    incident_at: AwareDatetime
    requested_at: AwareDatetime
    customer_region: RegionCode


class ExpressReplacementRequested(Envelope):
    """X3 premium: the customer asks for the replacement before sending the damaged unit in."""

    event_type: Literal["repair.express-replacement-requested"] = (
        "repair.express-replacement-requested"
    )
    payload: ExpressReplacementRequestedPayload


class ExpressUnitOverduePayload(Payload):
    case_id: str = Field(min_length=1, max_length=64)
    due_at: AwareDatetime


class ExpressUnitOverdue(Envelope):
    """X3: the damaged unit of an express premium case did not arrive in time.

    The repair system tracks inbound units and their deadlines, so it reports the miss.
    """

    event_type: Literal["repair.express-unit-overdue"] = "repair.express-unit-overdue"
    payload: ExpressUnitOverduePayload


RepairEvent = Annotated[
    AssessmentReported | ExpressReplacementRequested | ExpressUnitOverdue,
    Field(discriminator="event_type"),
]


class ShippingChoice(StrEnum):
    """F1: how a customer outside the plan's region settles the shipping and customs of a
    replacement: paid before the unit ships, or billed with its delivery."""

    PAY_BEFORE_SHIPPING = "pay_before_shipping"
    BILL_ON_DELIVERY = "bill_on_delivery"


class PaymentSettledPayload(Payload):
    payment_id: str = Field(min_length=1, max_length=64)
    case_id: str = Field(min_length=1, max_length=64)
    amount: Money
    settled_at: AwareDatetime
    shipping_choice: ShippingChoice = Field(
        default=ShippingChoice.PAY_BEFORE_SHIPPING,
        description="F1: the customer's documented choice, made with this payment, for the"
        " shipping and customs of a replacement outside the plan's region: bill_on_delivery"
        " ships it once the fee alone is paid",
    )


class PaymentSettled(Envelope):
    """The customer paid what a case asks of them (the replacement fee for CR)."""

    event_type: Literal["payments.payment-settled"] = "payments.payment-settled"
    payload: PaymentSettledPayload


class PreAuthorisationPlacedPayload(Payload):
    case_id: str = Field(min_length=1, max_length=64)
    authorisation_id: str = Field(min_length=1, max_length=64)
    amount: Money
    placed_at: AwareDatetime


class PreAuthorisationPlaced(Envelope):
    """X3: the card pre-authorisation of an express premium case is in place."""

    event_type: Literal["payments.pre-authorisation-placed"] = "payments.pre-authorisation-placed"
    payload: PreAuthorisationPlacedPayload


class PreAuthorisationClosedPayload(Payload):
    case_id: str = Field(min_length=1, max_length=64)
    authorisation_id: str = Field(min_length=1, max_length=64)
    amount: Money = Field(description="Captured: what was charged; released: what was freed")
    closed_at: AwareDatetime


class PreAuthorisationCaptured(Envelope):
    event_type: Literal["payments.pre-authorisation-captured"] = (
        "payments.pre-authorisation-captured"
    )
    payload: PreAuthorisationClosedPayload


class PreAuthorisationReleased(Envelope):
    event_type: Literal["payments.pre-authorisation-released"] = (
        "payments.pre-authorisation-released"
    )
    payload: PreAuthorisationClosedPayload


class RefundSettledPayload(Payload):
    refund_id: uuid.UUID = Field(description="The RefundRequested this answers")
    case_id: str = Field(min_length=1, max_length=64)
    payment_id: str = Field(min_length=1, max_length=64, description="The payment refunded")
    amount: Money
    settled_at: AwareDatetime


class RefundSettled(Envelope):
    """Payments gave back what fulfilment asked it to refund (RefundRequested): it closes it."""

    event_type: Literal["payments.refund-settled"] = "payments.refund-settled"
    payload: RefundSettledPayload


PaymentEvent = Annotated[
    PaymentSettled
    | PreAuthorisationPlaced
    | PreAuthorisationCaptured
    | PreAuthorisationReleased
    | RefundSettled,
    Field(discriminator="event_type"),
]


class DispatchConfirmedPayload(Payload):
    shipment_id: uuid.UUID
    new_sn: SerialNumber
    dispatched_at: AwareDatetime


class DispatchConfirmed(Envelope):
    """The warehouse shipped a unit: it names the replacement's SN (F3)."""

    event_type: Literal["warehouse.dispatch-confirmed"] = "warehouse.dispatch-confirmed"
    payload: DispatchConfirmedPayload


class ShipmentCancelledPayload(Payload):
    shipment_id: uuid.UUID
    cancelled_at: AwareDatetime


class ShipmentCancelled(Envelope):
    """C10: the warehouse stopped a unit fulfilment asked it to recall; nothing left."""

    event_type: Literal["warehouse.shipment-cancelled"] = "warehouse.shipment-cancelled"
    payload: ShipmentCancelledPayload


class ShipmentAlreadyDispatchedPayload(Payload):
    shipment_id: uuid.UUID
    new_sn: SerialNumber = Field(description="The unit that left")
    dispatched_at: AwareDatetime


class ShipmentAlreadyDispatched(Envelope):
    """C10: the unit fulfilment asked the warehouse to recall had already left."""

    event_type: Literal["warehouse.shipment-already-dispatched"] = (
        "warehouse.shipment-already-dispatched"
    )
    payload: ShipmentAlreadyDispatchedPayload


WarehouseEvent = Annotated[
    DispatchConfirmed | ShipmentCancelled | ShipmentAlreadyDispatched,
    Field(discriminator="event_type"),
]


class ReviewVerdict(StrEnum):
    UPHELD = "upheld"
    FRAUD = "fraud"


class ReviewConcludedPayload(Payload):
    case_id: str = Field(min_length=1, max_length=64)
    reviewer_id: str = Field(min_length=1, max_length=64)
    verdict: ReviewVerdict
    repair_cost: Money | None = Field(
        default=None, description="What the customer owes when the case is reversed (C10)"
    )
    concluded_at: AwareDatetime


class ReviewConcluded(Envelope):
    """A person reviewed an automated decision (C10)."""

    event_type: Literal["claims.review-concluded"] = "claims.review-concluded"
    payload: ReviewConcludedPayload
