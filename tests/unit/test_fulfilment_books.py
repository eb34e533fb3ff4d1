"""F1, F3, X3, C10, F4: the books a fulfilment batch decides its events against, without a
database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from contracts.coverage import DeductionAppliedPayload, PlanTerminatedPayload
from contracts.fulfilment import (
    ConsumablesPackHeldPayload,
    DeviceReplacedPayload,
    PaymentRecordedPayload,
    PreAuthorisationRequestedPayload,
    RecallOutcome,
    RefundRequestedPayload,
    ShipmentCancellationRequestedPayload,
    ShipmentRecallConcludedPayload,
    ShipmentRequestedPayload,
    ShippingCharges,
    ShippingChargesQuotedPayload,
)
from contracts.money import Money
from contracts.upstream import (
    DispatchConfirmedPayload,
    PaymentSettledPayload,
    PreAuthorisationPlacedPayload,
    ServiceMode,
    ShipmentAlreadyDispatchedPayload,
    ShipmentCancelledPayload,
    ShippingChoice,
)
from services.fulfilment.domain import (
    Outgoing,
    Replacements,
    ReplacementState,
    UnknownRecallError,
    UnknownShipmentError,
)
from services.fulfilment.domain_agricultural import (
    PACK_ADDRESS_MISSING,
    AgriculturalRenewal,
    PackOrder,
    Packs,
)
from shared.catalogue import consumer_catalogue

AT = datetime(2026, 9, 21, 10, tzinfo=UTC)
FEE = Money.of("99.00", "EUR")
HALF = Money.of("49.50", "EUR")


def deduction(
    mode: ServiceMode = ServiceMode.STANDARD, customer_region: str = "EU"
) -> DeductionAppliedPayload:
    return DeductionAppliedPayload(
        case_id="CASE-1",
        plan_id=uuid.uuid4(),
        sn="1581F4XXB2210001",
        model="mavic-3-pro",
        plan_region="EU",
        customer_region=customer_region,
        fee=FEE,
        flyaway=False,
        service_mode=mode,
        replacements_left=1,
        flyaways_left=1,
    )


def paid(
    amount: Money,
    payment_id: str,
    shipping_choice: ShippingChoice = ShippingChoice.PAY_BEFORE_SHIPPING,
) -> PaymentSettledPayload:
    return PaymentSettledPayload(
        payment_id=payment_id,
        case_id="CASE-1",
        amount=amount,
        settled_at=AT,
        shipping_choice=shipping_choice,
    )


def terminated(plan_id: uuid.UUID, case_id: str = "CASE-1") -> PlanTerminatedPayload:
    return PlanTerminatedPayload(
        plan_id=plan_id, sn="1581F4XXB2210001", case_id=case_id, reason_codes=["FRAUD_CONFIRMED"]
    )


def requested(book: Replacements) -> ShipmentRequestedPayload:
    """F1: CASE-1 deducted and paid for, its unit requested from the warehouse."""
    book.take_deduction(deduction())
    [shipment] = answered(book.record_payment(paid(FEE, "PAY-1")), "PAY-1")
    assert isinstance(shipment.payload, ShipmentRequestedPayload)
    return shipment.payload


def answered(decided: list[Outgoing], payment_id: str) -> list[Outgoing]:
    """The decisions after the payment's answer, which comes first and names it (F1)."""
    answer, *rest = decided
    assert isinstance(answer.payload, PaymentRecordedPayload)
    assert (answer.payload.payment_id, answer.correlation_id) == (payment_id, "CASE-1")
    return rest


def test_f1_payments_add_up_each_once_and_the_replacement_ships_once_paid() -> None:
    book = Replacements({}, {}, {})

    assert answered(book.record_payment(paid(HALF, "PAY-1")), "PAY-1") == []
    again = book.record_payment(paid(HALF, "PAY-1"))  # the same payment, again
    assert answered(again, "PAY-1") == []
    assert book.take_deduction(deduction()) == []
    [shipment] = answered(book.record_payment(paid(HALF, "PAY-2")), "PAY-2")

    assert isinstance(shipment.payload, ShipmentRequestedPayload)
    assert not shipment.payload.customer_pays_shipping  # the plan's region ships free
    assert shipment.payload.shipping_charges is None
    assert (shipment.key, shipment.correlation_id) == (str(shipment.payload.plan_id), "CASE-1")
    [refund] = answered(book.record_payment(paid(HALF, "PAY-3")), "PAY-3")  # beyond the fee
    assert isinstance(refund.payload, RefundRequestedPayload)
    assert (refund.payload.payment_id, refund.payload.amount) == ("PAY-3", HALF)
    assert [p.payment_id for p in book.new_payments] == ["PAY-1", "PAY-2", "PAY-3"]
    assert book.replacements["CASE-1"].state is ReplacementState.SHIPMENT_REQUESTED


# F1: the catalogue's price from EU to PL is the default (EU plans are not in its table).
SHIPPING, CUSTOMS = Money.of("60.00", "USD"), Money.of("40.00", "USD")


def test_f1_outside_the_plans_region_shipping_and_customs_are_quoted_and_waited_for() -> None:
    book = Replacements({}, {}, {})
    deducted = deduction(customer_region="PL")

    [quoted] = book.take_deduction(deducted)
    assert quoted.payload == ShippingChargesQuotedPayload(
        case_id="CASE-1",
        plan_id=deducted.plan_id,
        old_sn=deducted.sn,
        plan_region="EU",
        ship_to_region="PL",
        fee=FEE,
        shipping=SHIPPING,
        customs=CUSTOMS,
    )
    assert answered(book.record_payment(paid(FEE, "PAY-1")), "PAY-1") == []  # the fee alone
    [shipment] = answered(book.record_payment(paid(Money.of("100.00", "USD"), "PAY-2")), "PAY-2")

    assert isinstance(shipment.payload, ShipmentRequestedPayload)
    assert shipment.payload.customer_pays_shipping
    assert shipment.payload.shipping_charges == ShippingCharges(
        shipping=SHIPPING, customs=CUSTOMS, settlement="paid"
    )


def test_f1_on_the_customers_documented_choice_it_ships_once_the_fee_is_paid() -> None:
    book = Replacements({}, {}, {})
    book.take_deduction(deduction(customer_region="PL"))

    paid_fee = paid(FEE, "PAY-1", ShippingChoice.BILL_ON_DELIVERY)
    [shipment] = answered(book.record_payment(paid_fee), "PAY-1")

    assert isinstance(shipment.payload, ShipmentRequestedPayload)
    assert shipment.payload.shipping_charges == ShippingCharges(
        shipping=SHIPPING, customs=CUSTOMS, settlement="billed_on_delivery"
    )
    assert book.new_payments[0].shipping_choice is ShippingChoice.BILL_ON_DELIVERY


def test_f1_a_payment_in_another_currency_is_answered_as_not_counting_and_ships_nothing() -> None:
    book = Replacements({}, {}, {})
    deducted = deduction()
    book.take_deduction(deducted)

    [answer] = book.record_payment(paid(Money.of("99.00", "USD"), "PAY-1"))

    assert isinstance(answer.payload, PaymentRecordedPayload)
    assert (answer.payload.paid_for, answer.payload.counts_towards_fee) == (
        "replacement_fee",
        False,
    )
    assert (answer.payload.plan_id, answer.key) == (deducted.plan_id, str(deducted.plan_id))
    assert book.replacements["CASE-1"].state is ReplacementState.AWAITING_PAYMENT


def test_x3_express_premium_asks_for_the_products_value_and_ships_once_it_is_held() -> None:
    book = Replacements({}, {}, {})
    value = consumer_catalogue().product_value("mavic-3-pro")

    deducted = deduction(ServiceMode.EXPRESS_PREMIUM)
    [requested] = book.take_deduction(deducted)
    assert requested.payload == PreAuthorisationRequestedPayload(
        case_id="CASE-1", plan_id=deducted.plan_id, amount=value
    )
    assert answered(book.record_payment(paid(FEE, "PAY-1")), "PAY-1") == []
    [shipment] = book.place_pre_authorisation(
        PreAuthorisationPlacedPayload(
            case_id="CASE-1", authorisation_id="AUTH-1", amount=value, placed_at=AT
        )
    )

    assert isinstance(shipment.payload, ShipmentRequestedPayload)
    assert book.pre_authorisations["CASE-1"].state == "placed"


def test_c10_a_termination_cancels_only_what_waits_for_its_fee() -> None:
    book = Replacements({}, {}, {})
    waiting = deduction()
    book.take_deduction(waiting)

    assert book.end_for_fraud(terminated(waiting.plan_id)) == []

    assert book.replacements["CASE-1"].state is ReplacementState.CANCELLED
    assert answered(book.record_payment(paid(FEE, "PAY-1")), "PAY-1") == []


def test_c10_a_unit_requested_is_recalled_and_one_cancelled_inherits_nothing() -> None:
    book = Replacements({}, {}, {})
    shipment = requested(book)

    [recall] = book.end_for_fraud(terminated(shipment.plan_id))
    [concluded] = book.conclude_recall(
        ShipmentCancelledPayload(shipment_id=shipment.shipment_id, cancelled_at=AT)
    )

    assert isinstance(recall.payload, ShipmentCancellationRequestedPayload)
    assert (recall.payload.shipment_id, recall.payload.reason_codes) == (
        shipment.shipment_id,
        ["FRAUD_CONFIRMED"],
    )
    assert isinstance(concluded.payload, ShipmentRecallConcludedPayload)
    assert (concluded.payload.outcome, concluded.payload.customer_owes) == (
        RecallOutcome.CANCELLED,
        None,
    )
    assert book.replacements["CASE-1"].state is ReplacementState.CANCELLED
    late = DispatchConfirmedPayload(
        shipment_id=shipment.shipment_id, new_sn="1581F4XXB2210002", dispatched_at=AT
    )
    assert book.confirm_dispatch(late) == []


def test_c10_a_unit_already_dispatched_is_owed_at_its_value_once_and_inherits_nothing() -> None:
    book = Replacements({}, {}, {})
    shipment = requested(book)
    book.end_for_fraud(terminated(shipment.plan_id))
    left = ShipmentAlreadyDispatchedPayload(
        shipment_id=shipment.shipment_id, new_sn="1581F4XXB2210002", dispatched_at=AT
    )
    dispatched = DispatchConfirmedPayload(
        shipment_id=shipment.shipment_id, new_sn="1581F4XXB2210002", dispatched_at=AT
    )

    assert book.confirm_dispatch(dispatched) == []
    [concluded] = book.conclude_recall(left)

    assert isinstance(concluded.payload, ShipmentRecallConcludedPayload)
    value = consumer_catalogue().product_value("mavic-3-pro")
    assert (concluded.payload.outcome, concluded.payload.new_sn) == (
        RecallOutcome.ALREADY_DISPATCHED,
        "1581F4XXB2210002",
    )
    assert concluded.payload.customer_owes == value
    assert book.replacements["CASE-1"].owed == value
    assert book.conclude_recall(left) == []
    assert book.confirm_dispatch(dispatched) == []


def test_c10_the_reversed_cases_unit_already_inherited_is_owed_without_asking_the_warehouse() -> (
    None
):
    book = Replacements({}, {}, {})
    shipment = requested(book)
    book.confirm_dispatch(
        DispatchConfirmedPayload(
            shipment_id=shipment.shipment_id, new_sn="1581F4XXB2210002", dispatched_at=AT
        )
    )

    assert book.end_for_fraud(terminated(shipment.plan_id, case_id="CASE-OTHER")) == []
    [owed] = book.end_for_fraud(terminated(shipment.plan_id))

    assert isinstance(owed.payload, ShipmentRecallConcludedPayload)
    assert owed.payload.outcome is RecallOutcome.ALREADY_DISPATCHED
    assert book.replacements["CASE-1"].state is ReplacementState.UNIT_OWED


def test_c10_an_answer_to_a_recall_never_requested_waits_then_is_refused() -> None:
    book = Replacements({}, {}, {})
    shipment = requested(book)
    answer = ShipmentCancelledPayload(shipment_id=shipment.shipment_id, cancelled_at=AT)

    assert book.missing_for_recall(answer) is not None
    with pytest.raises(UnknownRecallError, match="was requested"):
        book.conclude_recall(answer)
    book.end_for_fraud(terminated(shipment.plan_id))
    assert book.missing_for_recall(answer) is None


def test_f3_a_dispatch_names_the_new_sn_once_and_an_unknown_shipment_is_refused() -> None:
    book = Replacements({}, {}, {})
    book.take_deduction(deduction())
    [shipment] = answered(book.record_payment(paid(FEE, "PAY-1")), "PAY-1")
    assert isinstance(shipment.payload, ShipmentRequestedPayload)
    dispatched = DispatchConfirmedPayload(
        shipment_id=shipment.payload.shipment_id, new_sn="1581F4XXB2210002", dispatched_at=AT
    )

    [replaced] = book.confirm_dispatch(dispatched)

    assert isinstance(replaced.payload, DeviceReplacedPayload)
    assert (replaced.payload.old_sn, replaced.payload.new_sn) == (
        "1581F4XXB2210001",
        "1581F4XXB2210002",
    )
    assert book.confirm_dispatch(dispatched) == []
    with pytest.raises(UnknownShipmentError, match="was requested"):
        book.confirm_dispatch(dispatched.model_copy(update={"shipment_id": uuid.uuid4()}))


def test_f4_an_order_and_its_binding_decide_the_pack_once_whichever_comes_first() -> None:
    order = PackOrder("AG-CODE0001", "ORD-1", "T40", 2, AT, address=None)
    renewal = AgriculturalRenewal("AG-CODE0001", uuid.uuid4(), 2)
    book = Packs({}, {renewal.plan_code: renewal}, set())

    [held] = book.record_order(order)
    again = book.record_order(PackOrder("AG-CODE0001", "ORD-2", "T40", 2, AT, address=None))

    assert isinstance(held.payload, ConsumablesPackHeldPayload)
    assert held.payload.reason_code == PACK_ADDRESS_MISSING
    assert again == []
    assert [o.order_id for o in book.new_orders] == ["ORD-1"]
    assert len(book.new_packs) == 1
