"""A1, A2, X1: binding a plan code to a device."""

from datetime import UTC, datetime, timedelta

from contracts.money import Money
from services.activation.domain import (
    Activate,
    ActivationRefusal,
    AwaitVideoReview,
    CodeState,
    NewTerm,
    PlanCode,
    Refuse,
    Term,
    add_months,
    decide_activation,
    decide_renewal,
    decide_video_review,
    price_problem,
)
from shared.catalogue import consumer_catalogue

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WINDOWS = consumer_catalogue().binding_windows
CODE = PlanCode("CR-ABCDEFGH", "care-refresh-1y", "mini-3", CodeState.SOLD)


def _decide(**overrides: object) -> object:
    arguments: dict[str, object] = {
        "code": CODE,
        "device_model": "mini-3",
        "kind": "aircraft",
        "device_activated_at": T0,
        "requested_at": T0 + timedelta(hours=47),
        "windows": WINDOWS,
    }
    arguments.update(overrides)
    return decide_activation(**arguments)  # type: ignore[arg-type]


def test_a1_x1_aircraft_binds_at_once_within_48_hours() -> None:
    assert _decide() == Activate(term_start=T0 + timedelta(hours=47))
    assert _decide(requested_at=T0 + timedelta(hours=48)) == Activate(
        term_start=T0 + timedelta(hours=48)
    )


def test_a1_later_binding_waits_for_a_video_review() -> None:
    assert _decide(requested_at=T0 + timedelta(hours=50)) == AwaitVideoReview()


def test_x1_handheld_has_thirty_days() -> None:
    late = T0 + timedelta(days=29)
    assert _decide(kind="handheld", requested_at=late) == Activate(term_start=late)
    assert _decide(kind="handheld", requested_at=T0 + timedelta(days=31)) == AwaitVideoReview()


def test_a1_unknown_device_activation_needs_a_video() -> None:
    assert _decide(device_activated_at=None, device_model=None) == AwaitVideoReview()


def test_a2_a_code_binds_once() -> None:
    used = PlanCode(CODE.code, CODE.sku, CODE.model, CodeState.ACTIVATED)
    assert _decide(code=used) == Refuse((ActivationRefusal.PLAN_CODE_ALREADY_USED,))


def test_a2_unknown_code_and_wrong_model_are_refused() -> None:
    assert _decide(code=None, kind=None) == Refuse((ActivationRefusal.PLAN_CODE_UNKNOWN,))
    assert _decide(device_model="air-3") == Refuse((ActivationRefusal.MODEL_MISMATCH,))


def test_a1_video_review_binds_from_approval_or_leaves_the_code_unused() -> None:
    assert decide_video_review(approved=True, reviewed_at=T0) == Activate(term_start=T0)
    assert decide_video_review(approved=False, reviewed_at=T0) == Refuse(
        (ActivationRefusal.VIDEO_REJECTED,)
    )


def test_term_end_keeps_the_wall_clock_and_clamps_to_month_end() -> None:
    assert add_months(T0, 12) == datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
    assert add_months(datetime(2024, 1, 31, tzinfo=UTC), 1) == datetime(2024, 2, 29, tzinfo=UTC)
    assert add_months(datetime(2024, 2, 29, tzinfo=UTC), 24) == datetime(2026, 2, 28, tzinfo=UTC)


YEAR_1 = Term(T0, add_months(T0, 12), 12)


def _renew(terms: list[Term], at: datetime, sku_months: int = 12, renewal: bool = True) -> object:
    return decide_renewal(
        code=CODE,
        sku_is_renewal=renewal,
        sku_months=sku_months,
        device_model="mini-3",
        terms=terms,
        requested_at=at,
    )


def test_a3_renewal_during_the_term_starts_when_it_ends() -> None:
    during = T0 + timedelta(days=200)
    assert _renew([YEAR_1], during) == NewTerm(YEAR_1.end, add_months(YEAR_1.end, 12))


def test_a3_renewal_up_to_15_days_after_expiry_starts_at_binding() -> None:
    at = YEAR_1.end + timedelta(days=15)
    assert _renew([YEAR_1], at) == NewTerm(at, add_months(at, 12))
    late = _renew([YEAR_1], YEAR_1.end + timedelta(days=16))
    assert late == Refuse((ActivationRefusal.RENEWAL_WINDOW_CLOSED,))


def test_a3_only_a_one_year_plan_renews() -> None:
    refused = _renew([YEAR_1], T0 + timedelta(days=30), sku_months=24, renewal=False)
    assert refused == Refuse((ActivationRefusal.RENEWAL_NEEDS_ONE_YEAR_PLAN,))


def test_a3_three_years_at_most_two_year_plus_one_year_is_the_end() -> None:
    two_years = Term(T0, add_months(T0, 24), 24)
    renewed = _renew([two_years], T0 + timedelta(days=600))
    assert isinstance(renewed, NewTerm)
    third = Term(renewed.term_start, renewed.term_end, 12)
    refused = _renew([two_years, third], third.start + timedelta(days=100))
    assert isinstance(refused, Refuse)
    assert ActivationRefusal.RENEWAL_BEYOND_THREE_YEARS in refused.reasons


def test_a3_x1_one_renewal_per_year_and_a_care_refresh_plus_renews_once_more() -> None:
    queued = Term(YEAR_1.end, add_months(YEAR_1.end, 12), 12)
    refused = _renew([YEAR_1, queued], T0 + timedelta(days=300))
    assert refused == Refuse((ActivationRefusal.RENEWAL_ALREADY_BOUGHT,))
    plus = Term(T0, add_months(T0, 12), 12)  # Care Refresh+ is a 12-month term too
    assert isinstance(_renew([plus], T0 + timedelta(days=100)), NewTerm)


def test_c10_a_barred_device_account_or_person_cannot_renew() -> None:
    refused = decide_renewal(
        code=CODE,
        sku_is_renewal=True,
        sku_months=12,
        device_model="mini-3",
        terms=[YEAR_1],
        requested_at=T0 + timedelta(days=100),
        barred=True,
    )
    assert refused == Refuse((ActivationRefusal.RENEWAL_BARRED,))


def test_x1_an_official_repair_invitation_opens_72_hours() -> None:
    invited = T0 + timedelta(days=90)
    late = invited + timedelta(hours=71)
    assert _decide(requested_at=late, repair_invitation_at=invited) == Activate(term_start=late)
    too_late = invited + timedelta(hours=73)
    assert _decide(requested_at=too_late, repair_invitation_at=invited) == AwaitVideoReview()


def test_p3_a_consumer_plan_costs_its_catalogue_price() -> None:
    list_price = consumer_catalogue().list_price("mini-3", "care-refresh-2y")
    assert list_price == Money.of("499", "PLN")
    assert price_problem(list_price, Money.of("499.00", "PLN")) is None
    assert price_problem(list_price, Money.of("99.00", "PLN")) == (
        "price 99.00 PLN is not the catalogue price 499.00 PLN (P3)"
    )
    assert price_problem(list_price, Money.of("120.00", "EUR")) is None  # no EUR prices known
    assert consumer_catalogue().list_price("mini-3", "care-refresh-plus") is None
