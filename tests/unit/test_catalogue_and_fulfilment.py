"""P1-P3 catalogue data, P2 fee schedules, F1 shipping and payment."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from contracts.money import Money
from services.fulfilment.domain import (
    customer_pays_shipping,
    owed_before_shipping,
    owed_settled,
    ready_to_ship,
)
from shared.catalogue import UnknownCatalogueEntryError, consumer_catalogue

CATALOGUE = consumer_catalogue()


def test_p1_plan_entitlements() -> None:
    one, two, plus = (
        CATALOGUE.plan(s) for s in ("care-refresh-1y", "care-refresh-2y", "care-refresh-plus")
    )
    assert (one.replacements, one.flyaways, one.months) == (2, 1, 12)
    assert (two.replacements, two.flyaways, two.months) == (4, 2, 24)
    assert plus.replacements == 1


def test_p3_prices_are_catalogue_data() -> None:
    assert CATALOGUE.model("mavic-3-pro").prices_pln == (Decimal(1199), Decimal(1899))
    assert CATALOGUE.model("mini-se").prices_pln == (Decimal(149), Decimal(249))


def test_p2_fees_are_flat_under_2_0_and_escalated_under_1_0() -> None:
    after = datetime(2024, 1, 1, tzinfo=UTC)
    before = datetime(2023, 1, 1, tzinfo=UTC)
    fees = [
        CATALOGUE.replacement_fee("mavic-3-pro-cine", flyaway=False, replacements_used=n, at=after)
        for n in range(3)
    ]
    assert fees == [(Money.of("239", "USD"), "cr-2")] * 3
    old = [
        CATALOGUE.replacement_fee(
            "mavic-3-pro-cine", flyaway=False, replacements_used=n, at=before
        )[0]
        for n in range(3)
    ]
    assert [fee.amount for fee in old] == [Decimal(239), Decimal(299), Decimal(349)]


def test_x2_flyaway_fee_is_its_own_and_unknown_models_are_refused() -> None:
    at = datetime(2024, 1, 1, tzinfo=UTC)
    fee, _ = CATALOGUE.replacement_fee("mavic-3", flyaway=True, replacements_used=0, at=at)
    assert fee == Money.of("739", "USD")
    with pytest.raises(UnknownCatalogueEntryError, match="no flyaway fee"):
        CATALOGUE.replacement_fee("avata", flyaway=True, replacements_used=0, at=at)
    with pytest.raises(UnknownCatalogueEntryError, match="unknown model"):
        CATALOGUE.model("mavic-9")


def test_f1_shipping_is_free_only_in_the_plans_region() -> None:
    assert not customer_pays_shipping(customer_region="PL", plan_region="PL")
    assert customer_pays_shipping(customer_region="DE", plan_region="PL")


def test_f1_the_unit_ships_once_the_whole_fee_is_paid_in_its_currency() -> None:
    fee = [Money.of("239.00", "USD")]
    assert owed_settled(owed=fee, paid={"USD": Decimal("239.00")})
    assert not owed_settled(owed=fee, paid={"USD": Decimal("238.99")})
    assert not owed_settled(owed=fee, paid={"EUR": Decimal("500")})


def test_f1_shipping_and_customs_are_priced_per_plan_region_and_ship_to_region() -> None:
    assert CATALOGUE.shipping_charges(plan_region="PL", ship_to_region="GB") == (
        Money.of("35.00", "USD"),
        Money.of("30.00", "USD"),
    )
    assert CATALOGUE.shipping_charges(plan_region="GB", ship_to_region="PL") == (
        Money.of("60.00", "USD"),  # a pair the table does not list costs the default
        Money.of("40.00", "USD"),
    )


def test_f1_what_is_owed_before_shipping_adds_shipping_and_customs_unless_billed() -> None:
    fee, shipping, customs = Money.of("99", "EUR"), Money.of("25", "USD"), Money.of("5", "USD")
    owed = owed_before_shipping(fee=fee, shipping=shipping, customs=customs, bill_on_delivery=False)
    assert owed == [fee, shipping, customs]
    assert not owed_settled(owed=owed, paid={"EUR": Decimal(99), "USD": Decimal("29.99")})
    assert owed_settled(owed=owed, paid={"EUR": Decimal(99), "USD": Decimal(30)})
    billed = owed_before_shipping(
        fee=fee, shipping=shipping, customs=customs, bill_on_delivery=True
    )
    assert billed == [fee]
    assert owed_before_shipping(fee=fee, shipping=None, customs=None, bill_on_delivery=False) == [
        fee
    ]


def test_x3_express_premium_ships_once_paid_and_pre_authorised() -> None:
    assert ready_to_ship(fee_paid=True, express_premium=False, pre_authorisation=None)
    assert not ready_to_ship(fee_paid=False, express_premium=False, pre_authorisation=None)
    assert not ready_to_ship(fee_paid=True, express_premium=True, pre_authorisation="requested")
    assert ready_to_ship(fee_paid=True, express_premium=True, pre_authorisation="placed")


def test_x3_the_pre_authorisation_holds_the_products_value() -> None:
    assert CATALOGUE.product_value("mavic-3-pro") == Money.of("2199", "USD")
