"""A1, A2, X1: binding a plan code to a device."""

from datetime import UTC, datetime, timedelta

from services.activation.domain import (
    Activate,
    ActivationRefusal,
    AwaitVideoReview,
    CodeState,
    PlanCode,
    Refuse,
    add_months,
    decide_activation,
    decide_video_review,
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
        "device_has_active_term": False,
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


def test_a2_a_code_binds_once_and_a_device_holds_one_term() -> None:
    used = PlanCode(CODE.code, CODE.sku, CODE.model, CodeState.ACTIVATED)
    assert _decide(code=used) == Refuse((ActivationRefusal.PLAN_CODE_ALREADY_USED,))
    assert _decide(device_has_active_term=True) == Refuse(
        (ActivationRefusal.DEVICE_ALREADY_COVERED,)
    )


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
