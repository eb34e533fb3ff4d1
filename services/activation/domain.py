"""Activation rules (A1, A2, X1): pure functions over plain values, no I/O."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from shared.catalogue import BindingWindows, ProductKind


class CodeState(StrEnum):
    SOLD = "sold"
    PENDING = "pending"
    ACTIVATED = "activated"


class ActivationRefusal(StrEnum):
    PLAN_CODE_UNKNOWN = "PLAN_CODE_UNKNOWN"
    PLAN_CODE_ALREADY_USED = "PLAN_CODE_ALREADY_USED"
    MODEL_MISMATCH = "MODEL_MISMATCH"
    VIDEO_REJECTED = "VIDEO_REJECTED"
    RENEWAL_NEEDS_ONE_YEAR_PLAN = "RENEWAL_NEEDS_ONE_YEAR_PLAN"
    RENEWAL_WINDOW_CLOSED = "RENEWAL_WINDOW_CLOSED"
    RENEWAL_ALREADY_BOUGHT = "RENEWAL_ALREADY_BOUGHT"
    RENEWAL_BEYOND_THREE_YEARS = "RENEWAL_BEYOND_THREE_YEARS"
    RENEWAL_BARRED = "RENEWAL_BARRED"


PENDING_VIDEO_REVIEW = "VIDEO_REVIEW_REQUIRED"


@dataclass(frozen=True)
class PlanCode:
    code: str
    sku: str
    model: str
    state: CodeState


@dataclass(frozen=True)
class Activate:
    term_start: datetime


@dataclass(frozen=True)
class AwaitVideoReview:
    reason_code: str = PENDING_VIDEO_REVIEW


@dataclass(frozen=True)
class Refuse:
    reasons: tuple[ActivationRefusal, ...]


@dataclass(frozen=True)
class Renew:
    term_start: datetime
    term_end: datetime


@dataclass(frozen=True)
class Term:
    start: datetime
    end: datetime
    months: int


ActivationDecision = Activate | AwaitVideoReview | Refuse

RENEWAL_GRACE = timedelta(days=15)  # A3: up to 15 days after the term expired
MAX_COVERAGE_MONTHS = 36  # A3: never more than 3 years in all


def add_months(moment: datetime, months: int) -> datetime:
    """The same wall-clock time `months` later, clamped to the month's last day (a term's end)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def within_binding_window(
    kind: ProductKind,
    device_activated_at: datetime | None,
    requested_at: datetime,
    windows: BindingWindows,
    repair_invitation_at: datetime | None = None,
) -> bool:
    """A1, X1: 48 h (aircraft, gimbal) or 30 days (handheld) from the device's activation, or
    72 h from the invitation after an official repair."""
    if repair_invitation_at is not None and timedelta(0) <= requested_at - repair_invitation_at <= (
        timedelta(hours=windows.after_invitation_hours)
    ):
        return True
    if device_activated_at is None:
        return False
    return requested_at - device_activated_at <= timedelta(hours=windows.hours_for(kind))


def decide_activation(
    *,
    code: PlanCode | None,
    device_model: str | None,
    kind: ProductKind | None,
    device_activated_at: datetime | None,
    requested_at: datetime,
    windows: BindingWindows,
    repair_invitation_at: datetime | None = None,
) -> ActivationDecision:
    """A1, A2: bind at once inside the window, wait for a video outside it, refuse otherwise.

    Only for a device without a plan: a code bound to a device that has one is a renewal
    (`decide_renewal`), which is how a device keeps to one term at a time (A2).
    """
    if code is None or kind is None:
        return Refuse((ActivationRefusal.PLAN_CODE_UNKNOWN,))
    reasons: list[ActivationRefusal] = []
    if code.state is not CodeState.SOLD:
        reasons.append(ActivationRefusal.PLAN_CODE_ALREADY_USED)  # A2: a code binds once
    if device_model is not None and device_model != code.model:
        reasons.append(ActivationRefusal.MODEL_MISMATCH)  # D2: the plan was sold for a model
    if reasons:
        return Refuse(tuple(reasons))
    if within_binding_window(
        kind, device_activated_at, requested_at, windows, repair_invitation_at
    ):
        return Activate(term_start=requested_at)
    return AwaitVideoReview()


def decide_video_review(*, approved: bool, reviewed_at: datetime) -> Activate | Refuse:
    """A1: an approved video binds the plan from the approval; a rejected one leaves it unused."""
    if approved:
        return Activate(term_start=reviewed_at)
    return Refuse((ActivationRefusal.VIDEO_REJECTED,))


def decide_renewal(
    *,
    code: PlanCode,
    sku_is_renewal: bool,
    sku_months: int,
    device_model: str,
    terms: list[Term],
    requested_at: datetime,
    barred: bool = False,
) -> Renew | Refuse:
    """A3, X1: a 1-Year plan bought during the term or up to 15 days after it; 3 years at most.

    Bought during the term, the new term starts when the current one ends; bought after the
    expiry, it starts at binding (no cover is given back for the days in between).
    """
    reasons: list[ActivationRefusal] = []
    if barred:
        reasons.append(ActivationRefusal.RENEWAL_BARRED)  # C10: device, account or person
    if code.state is not CodeState.SOLD:
        reasons.append(ActivationRefusal.PLAN_CODE_ALREADY_USED)
    if device_model != code.model:
        reasons.append(ActivationRefusal.MODEL_MISMATCH)
    if not sku_is_renewal:
        reasons.append(ActivationRefusal.RENEWAL_NEEDS_ONE_YEAR_PLAN)
    latest = max(terms, key=lambda term: term.end)
    if requested_at > latest.end + RENEWAL_GRACE:
        reasons.append(ActivationRefusal.RENEWAL_WINDOW_CLOSED)
    if latest.start > requested_at:
        reasons.append(ActivationRefusal.RENEWAL_ALREADY_BOUGHT)  # X1: once per year
    if sum(term.months for term in terms) + sku_months > MAX_COVERAGE_MONTHS:
        reasons.append(ActivationRefusal.RENEWAL_BEYOND_THREE_YEARS)
    if reasons:
        return Refuse(tuple(reasons))
    start = max(latest.end, requested_at)
    return Renew(term_start=start, term_end=add_months(start, sku_months))
