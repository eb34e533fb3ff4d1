"""Upstream events as the storefront, devices, repair centre, payments and warehouse send them."""

from __future__ import annotations

import random
import string
import uuid
from datetime import UTC, datetime, timedelta

from contracts.accessories import AccessoryActivated, AccessoryActivatedPayload, AccessoryType
from contracts.insurer import (
    InsurerAnswer,
    InsurerClaimAnswered,
    InsurerClaimAnsweredPayload,
    LiabilityClaimAnswered,
    LiabilityClaimAnsweredPayload,
    PolicyConfirmed,
    PolicyConfirmedPayload,
)
from contracts.liability import (
    LiabilityIncidentReported,
    LiabilityIncidentReportedPayload,
    LiabilityKind,
)
from contracts.money import Money
from contracts.repairs import RepairCompleted, RepairCompletedPayload, ReturnMethod
from contracts.upstream import (
    ActivationRequested,
    ActivationRequestedPayload,
    AgriculturalActivity,
    AssessmentReported,
    AssessmentReportedPayload,
    CustomerChoice,
    DeliveryAddress,
    DeviceActivated,
    DeviceActivatedPayload,
    DispatchConfirmed,
    DispatchConfirmedPayload,
    ExpressReplacementRequested,
    ExpressReplacementRequestedPayload,
    ExpressUnitOverdue,
    ExpressUnitOverduePayload,
    IncidentCause,
    Owner,
    PackAddressChangeRequested,
    PackAddressChangeRequestedPayload,
    PartClass,
    PaymentSettled,
    PaymentSettledPayload,
    PlanOrderPlaced,
    PlanOrderPlacedPayload,
    PreAuthorisationPlaced,
    PreAuthorisationPlacedPayload,
    RefundSettled,
    RefundSettledPayload,
    RepairLine,
    ReturnedPart,
    ServiceMode,
    ShipmentAlreadyDispatched,
    ShipmentAlreadyDispatchedPayload,
    ShipmentCancelled,
    ShipmentCancelledPayload,
    ShippingChoice,
    VideoReviewed,
    VideoReviewedPayload,
)
from shared.catalogue import consumer_catalogue


def now() -> datetime:
    return datetime.now(UTC)


def new_serial(rng: random.Random | None = None) -> str:
    rng = rng or random.Random()
    return "".join(rng.choices(string.ascii_uppercase + string.digits, k=14))


def new_plan_code(rng: random.Random | None = None) -> str:
    rng = rng or random.Random()
    return "CR-" + "".join(rng.choices(string.ascii_uppercase + string.digits, k=10))


def plan_order(
    plan_code: str, sku: str, model: str, region: str = "PL", at: datetime | None = None
) -> PlanOrderPlaced:
    price = consumer_catalogue().model(model).prices_pln[0 if sku != "care-refresh-2y" else 1]
    order_id = f"ORD-{uuid.uuid4().hex[:12]}"
    return PlanOrderPlaced.new(
        PlanOrderPlacedPayload(
            order_id=order_id,
            plan_code=plan_code,
            sku=sku,
            model=model,
            region=region,
            price=Money(amount=price, currency="PLN"),
            purchased_at=at or now(),
        ),
        producer="commerce",
        correlation_id=order_id,
    )


def device_activation(sn: str, model: str, at: datetime | None = None) -> DeviceActivated:
    return DeviceActivated.new(
        DeviceActivatedPayload(sn=sn, model=model, activated_at=at or now()),
        producer="devices",
        correlation_id=sn,
    )


def activation_request(
    plan_code: str,
    sn: str,
    at: datetime | None = None,
    request_id: str | None = None,
    repair_invitation_at: datetime | None = None,
    owner: Owner | None = None,
) -> ActivationRequested:
    request_id = request_id or f"REQ-{uuid.uuid4().hex[:12]}"
    return ActivationRequested.new(
        ActivationRequestedPayload(
            request_id=request_id,
            plan_code=plan_code,
            sn=sn,
            owner=owner or Owner(name="Ola Nowak", email=f"owner.{sn.lower()}@example.com"),
            requested_at=at or now(),
            repair_invitation_at=repair_invitation_at,
        ),
        producer="storefront",
        correlation_id=request_id,
    )


def video_review(request_id: str, approved: bool) -> VideoReviewed:
    return VideoReviewed.new(
        VideoReviewedPayload(request_id=request_id, approved=approved, reviewed_at=now()),
        producer="review-desk",
        correlation_id=request_id,
    )


def assessment(
    sn: str,
    model: str,
    cause: IncidentCause = IncidentCause.COLLISION,
    *,
    case_id: str | None = None,
    unit_sn: str | None = None,
    customer_region: str = "PL",
    incident_at: datetime | None = None,
    flight_record: bool = True,
    app_bound: bool = True,
    parts: tuple[ReturnedPart, ...] = (),
    choice: CustomerChoice = CustomerChoice.PLAN_REPLACEMENT,
    service_mode: ServiceMode = ServiceMode.STANDARD,
    battery_present: bool = True,
) -> AssessmentReported:
    case_id = case_id or f"CASE-{uuid.uuid4().hex[:12]}"
    reported = now()
    # The app's account and controller binding, as the repair system reads it (X2).
    bound_at = (incident_at or reported) - timedelta(days=1) if app_bound else None
    return AssessmentReported.new(
        AssessmentReportedPayload(
            case_id=case_id,
            reported_sn=sn,
            unit_sn=None if cause is IncidentCause.FLYAWAY else (unit_sn or sn),
            model=model,
            cause=cause,
            incident_at=incident_at or reported,
            assessed_at=reported,
            customer_region=customer_region,
            flight_record_provided=flight_record,
            account_bound_at=bound_at,
            remote_controller_bound_at=bound_at,
            parts=list(parts),
            customer_choice=choice,
            service_mode=service_mode,
            battery_present=battery_present,
        ),
        producer="repair-system",
        correlation_id=case_id,
    )


def payment(
    case_id: str,
    amount: Money,
    *,
    shipping_choice: ShippingChoice = ShippingChoice.PAY_BEFORE_SHIPPING,
) -> PaymentSettled:
    return PaymentSettled.new(
        PaymentSettledPayload(
            payment_id=f"PAY-{uuid.uuid4().hex[:12]}",
            case_id=case_id,
            amount=amount,
            settled_at=now(),
            shipping_choice=shipping_choice,
        ),
        producer="payments",
        correlation_id=case_id,
    )


def dispatch(shipment_id: uuid.UUID, new_sn: str, case_id: str) -> DispatchConfirmed:
    return DispatchConfirmed.new(
        DispatchConfirmedPayload(shipment_id=shipment_id, new_sn=new_sn, dispatched_at=now()),
        producer="warehouse",
        correlation_id=case_id,
    )


def shipment_cancelled(shipment_id: uuid.UUID) -> ShipmentCancelled:
    """C10: the warehouse stopped a unit it was asked to recall."""
    return ShipmentCancelled.new(
        ShipmentCancelledPayload(shipment_id=shipment_id, cancelled_at=now()),
        producer="warehouse",
        correlation_id=str(shipment_id),
    )


def shipment_already_dispatched(shipment_id: uuid.UUID, new_sn: str) -> ShipmentAlreadyDispatched:
    """C10: the unit the warehouse was asked to recall had already left."""
    return ShipmentAlreadyDispatched.new(
        ShipmentAlreadyDispatchedPayload(
            shipment_id=shipment_id, new_sn=new_sn, dispatched_at=now()
        ),
        producer="warehouse",
        correlation_id=str(shipment_id),
    )


def refund_settled(
    refund_id: uuid.UUID, case_id: str, payment_id: str, amount: Money
) -> RefundSettled:
    """Payments: the refund fulfilment asked for is back on the customer's card."""
    return RefundSettled.new(
        RefundSettledPayload(
            refund_id=refund_id,
            case_id=case_id,
            payment_id=payment_id,
            amount=amount,
            settled_at=now(),
        ),
        producer="payments",
        correlation_id=case_id,
    )


def express_request(
    sn: str,
    model: str,
    cause: IncidentCause = IncidentCause.COLLISION,
    customer_region: str = "PL",
) -> ExpressReplacementRequested:
    case_id = f"CASE-{uuid.uuid4().hex[:12]}"
    at = now()
    return ExpressReplacementRequested.new(
        ExpressReplacementRequestedPayload(
            case_id=case_id,
            sn=sn,
            model=model,
            cause=cause,
            incident_at=at,
            requested_at=at,
            customer_region=customer_region,
        ),
        producer="repair-system",
        correlation_id=case_id,
    )


def unit_overdue(case_id: str) -> ExpressUnitOverdue:
    return ExpressUnitOverdue.new(
        ExpressUnitOverduePayload(case_id=case_id, due_at=now()),
        producer="repair-system",
        correlation_id=case_id,
    )


def pre_authorisation_placed(case_id: str, amount: Money) -> PreAuthorisationPlaced:
    return PreAuthorisationPlaced.new(
        PreAuthorisationPlacedPayload(
            case_id=case_id,
            authorisation_id=f"AUTH-{uuid.uuid4().hex[:12]}",
            amount=amount,
            placed_at=now(),
        ),
        producer="payments",
        correlation_id=case_id,
    )


# The agricultural plan (P4, P6, F4, G1) ----------------------------------------------------------


def new_ag_plan_code(rng: random.Random | None = None) -> str:
    rng = rng or random.Random()
    return "AG-" + "".join(rng.choices(string.ascii_uppercase + string.digits, k=10))


def delivery_address(street: str = "No. 8 Nongye Road", **overrides: str) -> DeliveryAddress:
    """F4: where a consumables pack goes (personal data: only fulfilment keeps it)."""
    fields = {
        "recipient": "Wang Fang",
        "phone": "+86 138 0000 0000",
        "province": "Heilongjiang",
        "city": "Jiamusi",
        "district": "Fuyuan",
        "street": street,
        "postal_code": "156500",
    }
    fields.update(overrides)
    return DeliveryAddress.model_validate(fields)


def pack_address_change(plan_code: str, address: DeliveryAddress) -> PackAddressChangeRequested:
    """F4: the customer asks commerce to send the pack elsewhere after the purchase."""
    return PackAddressChangeRequested.new(
        PackAddressChangeRequestedPayload(
            request_id=f"ADDR-{uuid.uuid4().hex[:12]}",
            plan_code=plan_code,
            address=address,
            requested_at=now(),
        ),
        producer="commerce",
        correlation_id=plan_code,
    )


def ag_plan_order(
    plan_code: str,
    sku: str,
    model: str,
    *,
    at: datetime | None = None,
    new_drone_bundle: bool = False,
    address: DeliveryAddress | None = None,
    plan_year: int | None = None,
    price: Money | None = None,
    order_id: str | None = None,
) -> PlanOrderPlaced:
    """An AG plan sold in mainland China (CNY); a bundle's first year is gifted (P4, P6)."""
    order_id = order_id or f"ORD-{uuid.uuid4().hex[:12]}"
    gifted = new_drone_bundle and sku == "ag-care-year-1"
    return PlanOrderPlaced.new(
        PlanOrderPlacedPayload(
            order_id=order_id,
            plan_code=plan_code,
            sku=sku,
            model=model,
            region="CN",
            price=price or Money.of("0.00" if gifted else "1980.00", "CNY"),
            purchased_at=at or now(),
            plan_year=plan_year,
            new_drone_bundle=new_drone_bundle,
            pack_delivery_address=address,
        ),
        producer="commerce",
        correlation_id=order_id,
    )


def accessory_activation(
    accessory_sn: str, accessory_type: AccessoryType, drone_sn: str, at: datetime | None = None
) -> AccessoryActivated:
    """G1: an accessory (spray, spreading or lifting system) activated on a drone."""
    return AccessoryActivated.new(
        AccessoryActivatedPayload(
            accessory_sn=accessory_sn,
            accessory_type=accessory_type,
            drone_sn=drone_sn,
            activated_at=at or now(),
        ),
        producer="devices",
        correlation_id=accessory_sn,
    )


def repair_completed(
    case_id: str,
    sn: str,
    *,
    method: ReturnMethod = ReturnMethod.SHIP,
    service_point_id: str = "SP-SHENZHEN-01",
    at: datetime | None = None,
) -> RepairCompleted:
    """F5: the repair centre finished a repair; the unit goes back to the customer."""
    return RepairCompleted.new(
        RepairCompletedPayload(
            case_id=case_id,
            sn=sn,
            service_point_id=service_point_id,
            return_method=method,
            completed_at=at or now(),
        ),
        producer="repair-system",
        correlation_id=case_id,
    )


# The agricultural repair centre and the insurers (C7, C8, A5, L1-L4) --------------------------


def repair_line(
    part_code: str,
    material: str,
    labour: str = "0.00",
    *,
    part_class: PartClass = PartClass.BODY,
    line_id: str | None = None,
    genuine: bool = True,
    bound_to_body: bool = True,
    sn: str | None = None,
) -> RepairLine:
    """One priced line of an AG repair quote, in CNY."""
    return RepairLine(
        line_id=line_id or f"L-{uuid.uuid4().hex[:8]}",
        part_code=part_code,
        part_class=part_class,
        sn=sn,
        bound_to_body=bound_to_body,
        material=Money.of(material, "CNY"),
        labour=Money.of(labour, "CNY"),
        genuine=genuine,
    )


def ag_assessment(
    sn: str,
    model: str,
    lines: list[RepairLine],
    *,
    cause: IncidentCause = IncidentCause.FALL,
    activity: AgriculturalActivity | None = AgriculturalActivity.SPRAYING,
    case_id: str | None = None,
    unit_sn: str | None = None,
    incident_at: datetime | None = None,
    assessed_at: datetime | None = None,
    flight_record: bool = True,
    unit_complete: bool = True,
    accessory_sn: str | None = None,
    logistics_fee: str | None = None,
    parts: tuple[ReturnedPart, ...] = (),
    choice: CustomerChoice = CustomerChoice.PLAN_REPLACEMENT,
) -> AssessmentReported:
    """The repair centre's assessment of an AG drone: its priced repair lines (C7)."""
    case_id = case_id or f"CASE-{uuid.uuid4().hex[:12]}"
    assessed = assessed_at or now()
    return AssessmentReported.new(
        AssessmentReportedPayload(
            case_id=case_id,
            reported_sn=sn,
            unit_sn=unit_sn or sn,
            model=model,
            cause=cause,
            incident_at=incident_at or assessed - timedelta(days=1),
            assessed_at=assessed,
            customer_region="CN",
            flight_record_provided=flight_record,
            parts=list(parts),
            customer_choice=choice,
            activity=activity,
            unit_complete=unit_complete,
            repair_lines=lines,
            accessory_sn=accessory_sn,
            logistics_fee=Money.of(logistics_fee, "CNY") if logistics_fee else None,
        ),
        producer="repair-system",
        correlation_id=case_id,
    )


def policy_confirmed(
    plan_id: uuid.UUID | str,
    term_start: datetime,
    term_end: datetime,
    insurer: str = "zhongan",
    policy_no: str | None = None,
) -> PolicyConfirmed:
    """A5: the insurer's electronic policy for a plan term."""
    policy_no = policy_no or f"POL-{uuid.uuid4().hex[:10].upper()}"
    return PolicyConfirmed.new(
        PolicyConfirmedPayload(
            plan_id=uuid.UUID(str(plan_id)),
            policy_no=policy_no,
            insurer=insurer,
            term_start=term_start,
            term_end=term_end,
        ),
        producer=f"insurer-{insurer}",
        correlation_id=str(plan_id),
    )


def insurer_claim_answer(
    case_id: str, insurer: str, answer: InsurerAnswer, amount: str | None = None
) -> InsurerClaimAnswered:
    """C8: the insurer's answer to a reported base-quota claim."""
    return InsurerClaimAnswered.new(
        InsurerClaimAnsweredPayload(
            case_id=case_id,
            insurer=insurer,
            answer=answer,
            amount=Money.of(amount, "CNY") if amount else None,
            answered_at=now(),
        ),
        producer=f"insurer-{insurer}",
        correlation_id=case_id,
    )


def liability_incident(
    drone_sn: str,
    kind: LiabilityKind,
    claimed: str,
    *,
    medical: str | None = None,
    region: str = "CN",
    occurred_at: datetime | None = None,
    incident_id: str | None = None,
) -> LiabilityIncidentReported:
    """L1-L3: a third-party liability incident, as the liability desk reports it."""
    incident_id = incident_id or f"LIAB-{uuid.uuid4().hex[:12]}"
    return LiabilityIncidentReported.new(
        LiabilityIncidentReportedPayload(
            incident_id=incident_id,
            drone_sn=drone_sn,
            kind=kind,
            location_region=region,
            occurred_at=occurred_at or now() - timedelta(hours=3),
            claimed_amount=Money.of(claimed, "CNY"),
            medical_amount=Money.of(medical, "CNY") if medical else None,
        ),
        producer="liability-desk",
        correlation_id=incident_id,
    )


def liability_answer(
    incident_id: str, insurer: str, answer: InsurerAnswer, settled: str | None = None
) -> LiabilityClaimAnswered:
    """L4: the insurer's answer to a routed liability incident."""
    return LiabilityClaimAnswered.new(
        LiabilityClaimAnsweredPayload(
            incident_id=incident_id,
            insurer=insurer,
            answer=answer,
            settled_amount=Money.of(settled, "CNY") if settled else None,
            answered_at=now(),
        ),
        producer=f"insurer-{insurer}",
        correlation_id=incident_id,
    )
