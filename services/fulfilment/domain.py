"""Fulfilment rules (F1-F3): pure functions over plain values."""

from __future__ import annotations

from decimal import Decimal


def customer_pays_shipping(*, customer_region: str, plan_region: str) -> bool:
    """F1: shipping is free only when the customer's region is the plan's region."""
    return customer_region != plan_region


def fee_settled(*, fee: Decimal, fee_currency: str, paid: dict[str, Decimal]) -> bool:
    """F1: the unit ships once the customer has paid the whole fee, in the fee's currency."""
    return paid.get(fee_currency, Decimal(0)) >= fee


def ready_to_ship(*, fee_paid: bool, express_premium: bool, pre_authorisation: str | None) -> bool:
    """F1: a replacement ships once its fee is paid; X3: express premium also needs the card
    pre-authorisation in place (basic ships after the unit arrived, so after its decision)."""
    return fee_paid and (not express_premium or pre_authorisation == "placed")
