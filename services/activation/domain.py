"""Activation's rules (A1-A5, P3-P6, X1, D2, C10): who may bind which term, consumer (CR) and
agricultural (AG) side by side. Pure functions over plain values, no I/O."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from contracts.envelope import Payload
from contracts.money import Money
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
    # AG (P4, A4)
    FIRST_YEAR_PLAN_REQUIRED = "FIRST_YEAR_PLAN_REQUIRED"
    RENEWAL_YEAR_MISMATCH = "RENEWAL_YEAR_MISMATCH"
    RENEWAL_WINDOW_NOT_OPEN = "RENEWAL_WINDOW_NOT_OPEN"


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
class NewTerm:
    """The term a rule allows: when it runs and, for AG, its plan year (P4) and the new end of
    the current term when the renewal cuts it short (A4)."""

    term_start: datetime
    term_end: datetime
    plan_year: int | None = None
    previous_term_ends_at: datetime | None = None


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
) -> NewTerm | Refuse:
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
    return NewTerm(term_start=start, term_end=add_months(start, sku_months))


# The agricultural plan (P4, P6, A4, M2) -----------------------------------------------------------


@dataclass(frozen=True)
class AgriculturalTermHeld:
    """The device's current AG term as activation bound it (None: the term is not an AG one)."""

    plan_year: int | None
    start: datetime
    end: datetime


def order_problems(
    *,
    agricultural_sku: bool,
    sku_plan_year: int | None,
    order_plan_year: int | None,
    new_drone_bundle: bool,
    model_is_agricultural: bool,
) -> list[str]:
    """D2, P4, P6: what makes a plan order inconsistent (empty: it can be recorded).

    The SKU decides the family and, for AG, the plan year; the order's own plan year, when it
    gives one, must agree; a new-drone bundle gifts only a first-year AG plan.
    """
    problems: list[str] = []
    if agricultural_sku:
        if not model_is_agricultural:
            problems.append("an agricultural plan SKU sold for a model outside the AG catalogue")
        if order_plan_year is not None and order_plan_year != sku_plan_year:
            problems.append(f"plan_year {order_plan_year} but the SKU is year {sku_plan_year}")
        if new_drone_bundle and sku_plan_year != 1:
            problems.append("a new-drone bundle gifts only a first-year plan")
    else:
        if model_is_agricultural:
            problems.append("a consumer plan SKU sold for an agricultural model")
        if order_plan_year is not None or new_drone_bundle:
            problems.append("plan_year and new_drone_bundle are for agricultural plans only")
    return problems


def price_problem(list_price: Money | None, price: Money) -> str | None:
    """P3: a consumer plan sold in a currency the catalogue prices costs the catalogue price.

    Only PLN prices are known (seed 001); an order in another currency is taken as priced.
    """
    if list_price is None or price.currency != list_price.currency:
        return None
    if price.amount != list_price.amount:
        return f"price {price} is not the catalogue price {list_price} (P3)"
    return None


def liability_cover(*, new_drone_bundle: bool, plan_year: int) -> bool:
    """P6: third-party liability comes with a first-year plan gifted with a new-drone bundle."""
    return new_drone_bundle and plan_year == 1


def refuse_other_family(code: PlanCode) -> Refuse:
    """D2: a code for one plan family cannot bind to a device covered by the other."""
    reasons = [ActivationRefusal.MODEL_MISMATCH]
    if code.state is not CodeState.SOLD:
        reasons.insert(0, ActivationRefusal.PLAN_CODE_ALREADY_USED)
    return Refuse(tuple(reasons))


def agricultural_term_end(start: datetime, months: int, zone: ZoneInfo) -> datetime:
    """P4, M2: `months` later, running to the end (24:00 in `zone`) of the day they end.

    An AG term covers whole days at its end, as the insurer's policy does, so the renewal
    bought after expiry, which starts at the next midnight (A4), follows it with no gap.
    """
    end = add_months(start.astimezone(zone), months)
    midnight = end.replace(hour=0, minute=0, second=0, microsecond=0)
    if end != midnight:
        end = datetime.combine(end.date() + timedelta(days=1), time(0), tzinfo=zone)
    return end.astimezone(UTC)


def day_after_expiry(term_end: datetime, zone: ZoneInfo) -> datetime:
    """A4: 00:00 in `zone` on the day after the term's expiry date (its last covered day)."""
    expiry_date = (term_end - timedelta(microseconds=1)).astimezone(zone).date()
    return datetime.combine(expiry_date + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)


def decide_agricultural_activation(
    *,
    code: PlanCode,
    plan_year: int | None,
    device_model: str | None,
    requested_at: datetime,
    term_months: int,
    zone: ZoneInfo,
) -> NewTerm | Refuse:
    """P4, A2: a device without a plan binds a first-year AG plan (gifted or bought) at once.

    The 48-hour binding window and the video review are the consumer plan's (A1, X1); the AG
    agreement has neither, so the term starts at the binding.
    """
    reasons: list[ActivationRefusal] = []
    if code.state is not CodeState.SOLD:
        reasons.append(ActivationRefusal.PLAN_CODE_ALREADY_USED)
    if device_model is not None and device_model != code.model:
        reasons.append(ActivationRefusal.MODEL_MISMATCH)
    if plan_year != 1:
        reasons.append(ActivationRefusal.FIRST_YEAR_PLAN_REQUIRED)  # a renewal needs a plan
    if reasons:
        return Refuse(tuple(reasons))
    return NewTerm(
        term_start=requested_at,
        term_end=agricultural_term_end(requested_at, term_months, zone),
        plan_year=1,
    )


def decide_agricultural_renewal(
    *,
    code: PlanCode,
    plan_year: int | None,
    device_model: str,
    current: AgriculturalTermHeld,
    purchased_at: datetime,
    window_days: int,
    term_months: int,
    zone: ZoneInfo,
    barred: bool = False,
) -> NewTerm | Refuse:
    """A4: the next plan year, bought from 15 days before the current term expires to 15 after.

    Bought before expiry, the new term starts at the purchase and the current one ends then;
    bought after, it starts at 00:00 (Asia/Shanghai) on the day after the expiry date. The
    window is half-open, [end - 15 days, end + 15 days): with a term that ends at midnight, the
    15 days up to and including the expiry date and the 15 days after it.
    """
    reasons: list[ActivationRefusal] = []
    if barred:
        reasons.append(ActivationRefusal.RENEWAL_BARRED)  # C10
    if code.state is not CodeState.SOLD:
        reasons.append(ActivationRefusal.PLAN_CODE_ALREADY_USED)
    if device_model != code.model:
        reasons.append(ActivationRefusal.MODEL_MISMATCH)
    if current.plan_year is None or plan_year != current.plan_year + 1:
        reasons.append(ActivationRefusal.RENEWAL_YEAR_MISMATCH)  # P4: year 2 after 1, 3 after 2
    window = timedelta(days=window_days)
    if purchased_at < current.end - window:
        reasons.append(ActivationRefusal.RENEWAL_WINDOW_NOT_OPEN)
    if purchased_at >= current.end + window:
        reasons.append(ActivationRefusal.RENEWAL_WINDOW_CLOSED)
    if reasons or plan_year is None:  # a code without a year is a mismatch, reported above
        return Refuse(tuple(reasons))
    if purchased_at < current.end:
        start, previous_ends = purchased_at, purchased_at
    else:
        start, previous_ends = day_after_expiry(current.end, zone), None
    return NewTerm(
        term_start=start,
        term_end=agricultural_term_end(start, term_months, zone),
        plan_year=plan_year,
        previous_term_ends_at=previous_ends,
    )


def follow_policy(
    *, ended_by_renewal_at: datetime | None, start: datetime, end: datetime
) -> tuple[datetime, datetime]:
    """A5: the insurer's policy sets the term's dates, but a term a renewal bought before expiry
    already ended (A4) keeps that earlier end (as the ledger does)."""
    if ended_by_renewal_at is not None and start < ended_by_renewal_at < end:
        return start, ended_by_renewal_at
    return start, end


@dataclass(frozen=True)
class Outgoing:
    """An event a decision emits: its payload, the key it is published under, its thread."""

    payload: Payload
    key: str
    correlation_id: str
