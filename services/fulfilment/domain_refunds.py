"""Refunds (F1, X3): what a case's payments give back, as pure rules. The replacements book
(services/fulfilment/domain.py) applies them and keeps each payment refunded at most once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, TypeVar

from contracts.fulfilment import RefundReason
from contracts.money import Money


class RefundState(StrEnum):
    REQUESTED = "requested"
    SETTLED = "settled"  # payments answered RefundSettled


@dataclass(frozen=True)
class Refund:
    """A payment given back, in full or the part of it beyond the fee: once per payment."""

    refund_id: uuid.UUID
    payment_id: str
    case_id: str
    amount: Money
    reason: RefundReason
    state: RefundState = RefundState.REQUESTED
    settled_at: datetime | None = None


class Paid(Protocol):
    """What refunds look at in a payment."""

    @property
    def payment_id(self) -> str: ...
    @property
    def amount(self) -> Money: ...
    @property
    def settled_at(self) -> datetime: ...


P = TypeVar("P", bound=Paid)


def refunds_of_refused_case(paid: list[P], refunded: set[str]) -> list[tuple[P, Money]]:
    """X3: a fee paid before a claim that is then refused is given back whole, each payment
    not refunded yet."""
    return [(p, p.amount) for p in _by_time(paid) if p.payment_id not in refunded]


def refunds_beyond_fee(
    fee: Money, paid: list[P], refunded: dict[str, Decimal]
) -> list[tuple[P, Money]]:
    """F1: what a case was paid in the fee's currency beyond its fee (a fee paid twice, under
    two payment ids) is given back, from the latest payments first, each payment once."""
    same = [p for p in paid if p.amount.currency == fee.currency]
    beyond = sum((p.amount.amount for p in same), Decimal(0)) - fee.amount
    beyond -= sum((refunded.get(p.payment_id, Decimal(0)) for p in same), Decimal(0))
    given: list[tuple[P, Money]] = []
    for p in reversed(_by_time(same)):
        if beyond <= 0:
            break
        if p.payment_id in refunded:
            continue
        back = min(beyond, p.amount.amount)
        given.append((p, Money(amount=back, currency=fee.currency)))
        beyond -= back
    return given


def _by_time(paid: list[P]) -> list[P]:
    return sorted(paid, key=lambda p: (p.settled_at, p.payment_id))
