"""P4, P6, A2, A4, C10, G1-G3, M2: the agricultural plan at activation, as pure rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.activation.domain import (
    ActivationRefusal,
    AgriculturalTermHeld,
    CodeState,
    NewTerm,
    PlanCode,
    Refuse,
    agricultural_term_end,
    day_after_expiry,
    decide_agricultural_activation,
    decide_agricultural_renewal,
    follow_policy,
    liability_cover,
    order_problems,
    refuse_other_family,
)
from services.activation.domain_accessories import (
    AccessoryRecord,
    AccessoryRefusal,
    AccessoryState,
    AlreadyAssociated,
    Associate,
    RefuseAssociation,
    decide_accessory_activation,
)
from shared.catalogue.agricultural import agricultural_catalogue

CATALOGUE = agricultural_catalogue()
SHANGHAI = ZoneInfo("Asia/Shanghai")
FIRST_YEAR = PlanCode("AG-FIRSTYEAR1", "ag-care-year-1", "T50", CodeState.SOLD)
YEAR_2 = PlanCode("AG-RENEWAL2A", "ag-care-renewal-2", "T50", CodeState.SOLD)


def shanghai(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


# The catalogue --------------------------------------------------------------------------------


def test_p4_the_catalogue_sells_a_first_year_plan_and_two_renewals_of_12_months() -> None:
    assert {sku: plan.plan_year for sku, plan in CATALOGUE.plans.items()} == {
        "ag-care-year-1": 1,
        "ag-care-renewal-2": 2,
        "ag-care-renewal-3": 3,
    }
    assert CATALOGUE.term_months == 12
    assert CATALOGUE.renewal_window_days == 15
    with pytest.raises(LookupError):
        CATALOGUE.plan("care-refresh-1y")


# Orders ---------------------------------------------------------------------------------------


def _problems(**overrides: object) -> list[str]:
    arguments: dict[str, object] = {
        "agricultural_sku": True,
        "sku_plan_year": 1,
        "order_plan_year": None,
        "new_drone_bundle": False,
        "model_is_agricultural": True,
    }
    arguments.update(overrides)
    return order_problems(**arguments)  # type: ignore[arg-type]


def test_p4_an_ag_order_may_give_its_plan_year_but_it_must_agree_with_the_sku() -> None:
    assert _problems() == []
    assert _problems(order_plan_year=1, new_drone_bundle=True) == []
    assert _problems(sku_plan_year=2, order_plan_year=3) == ["plan_year 3 but the SKU is year 2"]


def test_p6_a_new_drone_bundle_gifts_only_a_first_year_plan() -> None:
    assert _problems(sku_plan_year=2, new_drone_bundle=True) == [
        "a new-drone bundle gifts only a first-year plan"
    ]


def test_d2_the_sku_and_the_model_are_of_one_family() -> None:
    assert _problems(model_is_agricultural=False) != []
    consumer = {"agricultural_sku": False, "sku_plan_year": None, "model_is_agricultural": False}
    assert _problems(**consumer) == []
    assert _problems(**consumer, new_drone_bundle=True) != []
    assert _problems(**consumer, order_plan_year=1) != []
    assert _problems(**{**consumer, "model_is_agricultural": True}) != []


def test_p6_liability_cover_only_with_a_bundle_in_the_first_year() -> None:
    assert liability_cover(new_drone_bundle=True, plan_year=1)
    assert not liability_cover(new_drone_bundle=False, plan_year=1)
    assert not liability_cover(new_drone_bundle=True, plan_year=2)


# Terms ----------------------------------------------------------------------------------------


def test_p4_m2_an_ag_term_runs_12_months_to_the_end_of_its_last_shanghai_day() -> None:
    start = shanghai(2026, 3, 1, 10, 30)
    assert agricultural_term_end(start, 12, SHANGHAI) == shanghai(2027, 3, 2)
    # 20:00 UTC on 1 March is already 2 March in Shanghai: the day that counts is Shanghai's.
    late_utc = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
    assert agricultural_term_end(late_utc, 12, SHANGHAI) == shanghai(2027, 3, 3)
    # A term starting at a Shanghai midnight ends at one, exactly 12 months later.
    assert agricultural_term_end(shanghai(2026, 3, 2), 12, SHANGHAI) == shanghai(2027, 3, 2)
    assert agricultural_term_end(start, 12, SHANGHAI).tzinfo is UTC


def test_a4_m2_the_day_after_expiry_starts_at_the_next_shanghai_midnight() -> None:
    # A term ending at a midnight expired the day before: the next day starts at that midnight.
    assert day_after_expiry(shanghai(2027, 3, 2), SHANGHAI) == shanghai(2027, 3, 2)
    # A term the insurer ended during a day (A5): the next day starts at the following midnight.
    assert day_after_expiry(shanghai(2027, 3, 1, 10), SHANGHAI) == shanghai(2027, 3, 2)
    assert day_after_expiry(datetime(2027, 3, 1, 17, 0, tzinfo=UTC), SHANGHAI) == shanghai(
        2027, 3, 3
    )


# First year (P4, A2) --------------------------------------------------------------------------


def _activate(**overrides: object) -> object:
    arguments: dict[str, object] = {
        "code": FIRST_YEAR,
        "plan_year": 1,
        "device_model": "T50",
        "requested_at": shanghai(2026, 3, 1, 10, 30),
        "term_months": 12,
        "zone": SHANGHAI,
    }
    arguments.update(overrides)
    return decide_agricultural_activation(**arguments)  # type: ignore[arg-type]


def test_p4_a_first_year_plan_binds_at_once_whatever_the_device_age() -> None:
    # No 48-hour window and no video review: those are the consumer plan's (A1, X1).
    assert _activate() == NewTerm(
        term_start=shanghai(2026, 3, 1, 10, 30), term_end=shanghai(2027, 3, 2), plan_year=1
    )
    assert isinstance(_activate(device_model=None), NewTerm)


def test_p4_a_renewal_code_cannot_start_a_plan() -> None:
    assert _activate(code=YEAR_2, plan_year=2) == Refuse(
        (ActivationRefusal.FIRST_YEAR_PLAN_REQUIRED,)
    )


def test_a2_d2_an_ag_code_binds_once_and_only_to_its_model() -> None:
    used = PlanCode(FIRST_YEAR.code, FIRST_YEAR.sku, "T50", CodeState.ACTIVATED)
    assert _activate(code=used) == Refuse((ActivationRefusal.PLAN_CODE_ALREADY_USED,))
    assert _activate(device_model="T40") == Refuse((ActivationRefusal.MODEL_MISMATCH,))
    assert refuse_other_family(FIRST_YEAR) == Refuse((ActivationRefusal.MODEL_MISMATCH,))
    assert refuse_other_family(used) == Refuse(
        (ActivationRefusal.PLAN_CODE_ALREADY_USED, ActivationRefusal.MODEL_MISMATCH)
    )


# Renewals (A4) --------------------------------------------------------------------------------

EXPIRY = shanghai(2027, 3, 2)  # the end of 1 March 2027, the expiry date
CURRENT = AgriculturalTermHeld(plan_year=1, start=shanghai(2026, 3, 1, 10, 30), end=EXPIRY)


def _renew(**overrides: object) -> object:
    arguments: dict[str, object] = {
        "code": YEAR_2,
        "plan_year": 2,
        "device_model": "T50",
        "current": CURRENT,
        "purchased_at": EXPIRY - timedelta(days=3),
        "window_days": 15,
        "term_months": 12,
        "zone": SHANGHAI,
    }
    arguments.update(overrides)
    return decide_agricultural_renewal(**arguments)  # type: ignore[arg-type]


def test_a4_bought_before_expiry_starts_at_purchase_and_ends_the_previous_term_then() -> None:
    bought = shanghai(2027, 2, 20, 15, 45)
    assert _renew(purchased_at=bought) == NewTerm(
        term_start=bought,
        term_end=shanghai(2028, 2, 21),
        plan_year=2,
        previous_term_ends_at=bought,
    )


def test_a4_bought_after_expiry_starts_at_00_00_shanghai_the_day_after_the_expiry_date() -> None:
    bought = shanghai(2027, 3, 10, 9)
    assert _renew(purchased_at=bought) == NewTerm(
        term_start=shanghai(2027, 3, 2),
        term_end=shanghai(2028, 3, 2),
        plan_year=2,
        previous_term_ends_at=None,
    )
    # A term the insurer ended during the day: the renewal starts at the next midnight.
    adjusted = AgriculturalTermHeld(1, CURRENT.start, shanghai(2027, 3, 1, 10, 30))
    renewal = _renew(current=adjusted, purchased_at=bought)
    assert isinstance(renewal, NewTerm)
    assert renewal.term_start == shanghai(2027, 3, 2)


def test_a4_the_window_is_15_days_before_expiry_to_15_days_after() -> None:
    opens, closes = EXPIRY - timedelta(days=15), EXPIRY + timedelta(days=15)
    assert isinstance(_renew(purchased_at=opens), NewTerm)
    assert _renew(purchased_at=opens - timedelta(seconds=1)) == Refuse(
        (ActivationRefusal.RENEWAL_WINDOW_NOT_OPEN,)
    )
    assert isinstance(_renew(purchased_at=closes - timedelta(seconds=1)), NewTerm)
    assert _renew(purchased_at=closes) == Refuse((ActivationRefusal.RENEWAL_WINDOW_CLOSED,))
    # Bought at the very moment of expiry: after it, so from the next midnight, which is now.
    assert _renew(purchased_at=EXPIRY) == NewTerm(
        term_start=EXPIRY, term_end=shanghai(2028, 3, 2), plan_year=2, previous_term_ends_at=None
    )


def test_a4_p4_a_renewal_is_the_next_plan_year() -> None:
    year_3 = PlanCode("AG-RENEWAL3A", "ag-care-renewal-3", "T50", CodeState.SOLD)
    assert _renew(code=year_3, plan_year=3) == Refuse((ActivationRefusal.RENEWAL_YEAR_MISMATCH,))
    second = AgriculturalTermHeld(2, EXPIRY, shanghai(2028, 3, 2))
    in_window = shanghai(2028, 2, 25)
    assert _renew(current=second, purchased_at=in_window) == Refuse(
        (ActivationRefusal.RENEWAL_YEAR_MISMATCH,)
    )
    assert isinstance(
        _renew(code=year_3, plan_year=3, current=second, purchased_at=in_window), NewTerm
    )
    third = AgriculturalTermHeld(3, shanghai(2028, 3, 2), shanghai(2029, 3, 2))
    assert _renew(code=year_3, plan_year=3, current=third, purchased_at=shanghai(2029, 3, 1)) == (
        Refuse((ActivationRefusal.RENEWAL_YEAR_MISMATCH,))
    )


def test_a5_the_policy_sets_the_terms_dates_but_not_over_an_early_renewal() -> None:
    start, end = shanghai(2026, 3, 2), shanghai(2027, 3, 2)
    assert follow_policy(ended_by_renewal_at=None, start=start, end=end) == (start, end)
    cut = shanghai(2027, 2, 20, 15)
    assert follow_policy(ended_by_renewal_at=cut, start=start, end=end) == (start, cut)
    # A policy ending before the renewal's purchase ends the term there.
    early = shanghai(2027, 2, 10)
    assert follow_policy(ended_by_renewal_at=cut, start=start, end=early) == (start, early)


def test_a5_a4_the_window_follows_the_term_end_the_policy_set() -> None:
    bought = shanghai(2027, 2, 10)  # 20 days before the end activation bound
    assert _renew(purchased_at=bought) == Refuse((ActivationRefusal.RENEWAL_WINDOW_NOT_OPEN,))
    policy = AgriculturalTermHeld(1, shanghai(2026, 2, 20), shanghai(2027, 2, 20))
    assert isinstance(_renew(current=policy, purchased_at=bought), NewTerm)


def test_c10_a4_a_barred_device_account_or_person_cannot_renew() -> None:
    assert _renew(barred=True) == Refuse((ActivationRefusal.RENEWAL_BARRED,))


def test_a4_every_reason_is_reported() -> None:
    used = PlanCode(YEAR_2.code, YEAR_2.sku, "T40", CodeState.ACTIVATED)
    decision = _renew(code=used, plan_year=3, purchased_at=EXPIRY + timedelta(days=40))
    assert decision == Refuse(
        (
            ActivationRefusal.PLAN_CODE_ALREADY_USED,
            ActivationRefusal.MODEL_MISMATCH,
            ActivationRefusal.RENEWAL_YEAR_MISMATCH,
            ActivationRefusal.RENEWAL_WINDOW_CLOSED,
        )
    )


# Accessories (G1-G3) --------------------------------------------------------------------------

DRONE, OTHER_DRONE = "T100DRONE0001", "T100DRONE0002"
NEW, OLD = "SPRAYSYSTEM0002", "SPRAYSYSTEM0001"


def _accessory(**overrides: object) -> object:
    arguments: dict[str, object] = {
        "accessory_sn": NEW,
        "accessory_type": "spray",
        "drone_sn": DRONE,
        "drone_model": "T100",
        "supported_types": CATALOGUE.model("T100").accessories,
        "record": None,
        "current_of_type": None,
    }
    arguments.update(overrides)
    return decide_accessory_activation(**arguments)  # type: ignore[arg-type]


def test_g1_a_new_accessory_is_associated_with_the_drone_it_is_activated_on() -> None:
    assert _accessory() == Associate(replaces=None)


def test_g2_only_the_types_the_drone_model_supports() -> None:
    assert CATALOGUE.model("T70").accessories == ("spreading", "lifting")
    t70 = {"drone_model": "T70", "supported_types": CATALOGUE.model("T70").accessories}
    assert _accessory(**t70) == RefuseAssociation((AccessoryRefusal.ACCESSORY_TYPE_NOT_SUPPORTED,))
    assert _accessory(**t70, accessory_type="lifting") == Associate()
    # A model without accessories (T50) or outside the AG catalogue supports none.
    assert _accessory(drone_model="T50", supported_types=()) == RefuseAssociation(
        (AccessoryRefusal.ACCESSORY_TYPE_NOT_SUPPORTED,)
    )
    assert _accessory(drone_model=None, supported_types=()) == RefuseAssociation(
        (AccessoryRefusal.DRONE_UNKNOWN,)
    )


def test_g2_g3_a_new_accessory_replaces_the_drones_current_one_of_its_type() -> None:
    assert _accessory(current_of_type=OLD) == Associate(replaces=OLD)


def test_g3_an_accessory_activated_or_associated_elsewhere_cannot_move() -> None:
    for state in (AccessoryState.ACTIVATED, AccessoryState.ASSOCIATED):
        record = AccessoryRecord("spray", OTHER_DRONE, state)
        assert _accessory(record=record) == RefuseAssociation(
            (AccessoryRefusal.ACCESSORY_ON_ANOTHER_DRONE,)
        )


def test_g3_a_released_accessory_is_never_covered_again() -> None:
    released = AccessoryRecord("spray", DRONE, AccessoryState.RELEASED)
    assert _accessory(record=released) == RefuseAssociation((AccessoryRefusal.ACCESSORY_RELEASED,))
    assert _accessory(record=released, current_of_type=OLD) == RefuseAssociation(
        (AccessoryRefusal.ACCESSORY_RELEASED,)
    )


def test_g3_only_a_never_activated_accessory_replaces_another() -> None:
    seen_before = AccessoryRecord("spray", DRONE, AccessoryState.ACTIVATED)
    assert _accessory(record=seen_before, current_of_type=OLD) == RefuseAssociation(
        (AccessoryRefusal.ACCESSORY_NOT_NEW,)
    )
    # Seen on this drone before (say, before the drone was known) and nothing to replace: fine.
    assert _accessory(record=seen_before) == Associate()


def test_g1_activated_again_on_its_own_drone_changes_nothing() -> None:
    associated = AccessoryRecord("spray", DRONE, AccessoryState.ASSOCIATED)
    assert _accessory(record=associated, current_of_type=NEW) == AlreadyAssociated()


def test_g3_an_accessory_keeps_the_type_it_was_first_seen_as() -> None:
    record = AccessoryRecord("spreading", DRONE, AccessoryState.ACTIVATED)
    assert _accessory(record=record) == RefuseAssociation(
        (AccessoryRefusal.ACCESSORY_TYPE_MISMATCH,)
    )
