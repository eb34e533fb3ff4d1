"""F1, X3: refunds of a fee paid on a case refused or paid twice, each payment once, without a
database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from contracts.claims import ClaimFinalisedPayload, ClaimOutcome, RefusedBy
from contracts.fulfilment import PaymentRecordedPayload, RefundReason, RefundRequestedPayload
from contracts.money import Money
from contracts.upstream import PaymentSettledPayload, RefundSettledPayload
from services.fulfilment.domain import Outgoing, Replacements, UnknownRefundError
from services.fulfilment.domain_refunds import (
    RefundState,
    refunds_beyond_fee,
    refunds_of_refused_case,
)
from tests.unit.test_fulfilment_books import FEE, deduction

AT = datetime(2026, 9, 21, 10, tzinfo=UTC)


def paid(amount: Money, payment_id: str, minutes: int = 0) -> PaymentSettledPayload:
    return PaymentSettledPayload(
        payment_id=payment_id,
        case_id="CASE-1",
        amount=amount,
        settled_at=AT + timedelta(minutes=minutes),
    )


def refused() -> ClaimFinalisedPayload:
    return ClaimFinalisedPayload(
        case_id="CASE-1",
        decision_id=uuid.uuid4(),
        sn="1581F4XXB2210001",
        model="mavic-3-pro",
        plan_id=None,
        outcome=ClaimOutcome.REFUSED,
        refused_by=RefusedBy.CLAIMS,
        reason_codes=["EXCLUDED_THEFT"],
    )


def refunds(decided: list[Outgoing]) -> list[RefundRequestedPayload]:
    return [out.payload for out in decided if isinstance(out.payload, RefundRequestedPayload)]


def test_f1_beyond_the_fee_is_given_back_from_the_latest_payments_each_once() -> None:
    first, second = paid(FEE, "PAY-1"), paid(Money.of("50.00", "EUR"), "PAY-2", minutes=1)
    other = paid(Money.of("99.00", "USD"), "PAY-3", minutes=2)

    [(payment, back)] = refunds_beyond_fee(FEE, [first, second, other], {})

    assert (payment.payment_id, back) == ("PAY-2", Money.of("50.00", "EUR"))
    assert refunds_beyond_fee(FEE, [first, second], {"PAY-2": Decimal("50.00")}) == []
    assert refunds_beyond_fee(FEE, [first], {}) == []


def test_x3_a_refused_case_gives_back_every_payment_not_refunded_yet() -> None:
    first, second = paid(FEE, "PAY-1"), paid(FEE, "PAY-2", minutes=1)

    given = refunds_of_refused_case([second, first], {"PAY-1"})

    assert [(p.payment_id, amount) for p, amount in given] == [("PAY-2", FEE)]


def test_f1_a_fee_paid_twice_is_refunded_once_even_when_the_payment_is_sent_again() -> None:
    book = Replacements({}, {}, {})
    book.take_deduction(deduction())
    book.record_payment(paid(FEE, "PAY-1"))

    twice = paid(FEE, "PAY-2", minutes=1)
    [refund] = refunds(book.record_payment(twice))
    again = book.record_payment(twice)

    assert (refund.payment_id, refund.amount, refund.reason) == (
        "PAY-2",
        FEE,
        RefundReason.FEE_PAID_TWICE,
    )
    assert refunds(again) == []
    assert refunds(book.take_deduction(deduction())) == []


def test_x3_an_express_basic_fee_paid_before_a_refusal_is_refunded_once_then_settled() -> None:
    book = Replacements({}, {}, {})
    book.record_payment(paid(FEE, "PAY-1"))

    [refund] = refunds(book.refuse_case(refused()))
    late = book.record_payment(paid(FEE, "PAY-2", minutes=1))

    assert (refund.payment_id, refund.amount, refund.reason, refund.plan_id) == (
        "PAY-1",
        FEE,
        RefundReason.CLAIM_REFUSED,
        None,
    )
    assert refunds(book.refuse_case(refused())) == []
    answer, later = late
    assert isinstance(answer.payload, PaymentRecordedPayload)
    assert (answer.payload.paid_for, answer.payload.counts_towards_fee) == ("case_refused", False)
    assert isinstance(later.payload, RefundRequestedPayload)
    assert later.payload.payment_id == "PAY-2"
    settled = RefundSettledPayload(
        refund_id=refund.refund_id,
        case_id="CASE-1",
        payment_id="PAY-1",
        amount=FEE,
        settled_at=AT,
    )
    book.settle_refund(settled)
    assert book.refunds["PAY-1"].state is RefundState.SETTLED
    with pytest.raises(UnknownRefundError, match="was requested"):
        book.settle_refund(settled.model_copy(update={"refund_id": uuid.uuid4()}))
