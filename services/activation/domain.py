"""Activation rules (A1-A6, P3-P6, X1, C10): pure functions over plain values, no I/O.

The consumer (CR) and agricultural (AG) rules of who may bind which term sit side by side;
`decide_request` picks them by the code's family, and `bind_term` binds the term they allow,
whatever the family, first term or renewal, and says so in the event it carries.
"""

from __future__ import annotations

import calendar
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from contracts.activation import (
    ActivationPendingPayload,
    ActivationRefusedPayload,
    PlanActivatedPayload,
    PlanRenewedPayload,
)
from contracts.agricultural import AgriculturalTerm, PlanFamily
from contracts.claims import ClaimReversedPayload
from contracts.envelope import Payload
from contracts.money import Money
from contracts.upstream import (
    ActivationRequestedPayload,
    DeviceActivatedPayload,
    PlanOrderPlacedPayload,
)
from shared.catalogue import BindingWindows, ConsumerCatalogue, ProductKind, consumer_catalogue
from shared.catalogue.agricultural import AgriculturalCatalogue, agricultural_catalogue


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


# Plan codes, devices and terms as activation keeps them ------------------------------------------


@dataclass(frozen=True)
class Catalogues:
    """What the rules read from the catalogues: consumer plans (P1-P3, X1), AG plans (P4-P6)."""

    consumer: ConsumerCatalogue
    agricultural: AgriculturalCatalogue


def catalogues() -> Catalogues:
    return Catalogues(consumer_catalogue(), agricultural_catalogue())


@dataclass(frozen=True)
class SoldCode(PlanCode):
    """A plan code as it was sold: its family and, for AG, its plan year (D2, P4, P6), and the
    region it was bought in (A6)."""

    order_id: str
    price: Money
    family: PlanFamily
    region: str
    purchased_at: datetime
    plan_year: int | None  # AG only (P4)
    new_drone_bundle: bool  # P6


@dataclass(frozen=True)
class Device:
    """A device's own first activation, which starts its binding window (A1, X1)."""

    sn: str
    model: str
    activated_at: datetime


@dataclass(frozen=True)
class BoundTerm:
    """One term of a plan, as activation bound it."""

    plan_id: uuid.UUID
    term_no: int
    plan_code: str
    sn: str
    owner_id: uuid.UUID
    sku: str
    start: datetime
    end: datetime
    plan_year: int | None = None  # AG only (P4)
    scheduled_end: datetime | None = None  # A4: the end it was bound with, when cut short


@dataclass(frozen=True)
class Plan:
    """A device's plan: the family and model its first code was sold for, and its terms in order."""

    family: PlanFamily
    model: str
    terms: tuple[BoundTerm, ...]

    @property
    def latest(self) -> BoundTerm:
        return self.terms[-1]

    def with_term(self, term: BoundTerm) -> Plan:
        others = tuple(held for held in self.terms if held.term_no != term.term_no)
        return replace(self, terms=tuple(sorted((*others, term), key=lambda t: t.term_no)))


class RequestState(StrEnum):
    ACTIVATED = "activated"
    PENDING = "pending"  # A1: waiting for the video review
    REFUSED = "refused"


@dataclass(frozen=True)
class RequestRecord:
    """An activation request and what became of it."""

    request_id: str
    plan_code: str
    sn: str
    owner_id: uuid.UUID
    requested_at: datetime
    state: RequestState
    reasons: tuple[ActivationRefusal, ...] = ()


_UNDECIDED = RequestState.PENDING  # every decision sets the state it leaves the request in


@dataclass(frozen=True)
class Outgoing:
    """An event a decision emits: its payload, the key it is published under, its thread."""

    payload: Payload
    key: str
    correlation_id: str


@dataclass(frozen=True)
class Decided:
    """What a request or a video review decided: the request's record, the code's new state when
    it changed, the terms bound or cut short (A4), and the event that says so."""

    request: RequestRecord
    code: SoldCode | None
    terms: tuple[BoundTerm, ...]
    event: Outgoing


@dataclass
class Binding:
    """What a batch's requests are decided against, brought up to date after each decision so
    that the next request on the same code or device sees it (A2: a code binds once)."""

    codes: dict[str, SoldCode]
    devices: dict[str, Device]
    plans: dict[str, Plan]  # by the SN the plan is on
    barred: frozenset[tuple[str, str]]  # C10: (kind, value)

    def record(self, decided: Decided) -> None:
        code = decided.code
        if code is None:
            return
        self.codes[code.code] = code
        for term in decided.terms:
            held = self.plans.get(term.sn)
            self.plans[term.sn] = (
                held.with_term(term) if held else Plan(code.family, code.model, (term,))
            )


# Selling a code (D2, P3, P4, P6) ---------------------------------------------------------------


class InconsistentPlanOrderError(ValueError):
    pass


def sell_code(order: PlanOrderPlacedPayload, books: Catalogues) -> SoldCode:
    """D2, P3, P4, P6: the code the order sold; the SKU decides the family and, for AG, the year.

    The order's delivery address (F4) is personal data that fulfilment alone keeps: it is not
    part of the code. An unknown SKU or model, or an inconsistent order, is refused.
    """
    ag = books.agricultural
    agricultural = order.sku in ag.plans
    plan_year = ag.plan(order.sku).plan_year if agricultural else None
    problems = [] if agricultural else _consumer_price_problems(order, books.consumer)
    problems += order_problems(
        agricultural_sku=agricultural,
        sku_plan_year=plan_year,
        order_plan_year=order.plan_year,
        new_drone_bundle=order.new_drone_bundle,
        model_is_agricultural=order.model in ag.models,
    )
    if problems:
        raise InconsistentPlanOrderError(f"order {order.order_id}: {'; '.join(problems)}")
    return SoldCode(
        code=order.plan_code,
        sku=order.sku,
        model=order.model,
        state=CodeState.SOLD,
        order_id=order.order_id,
        price=order.price,
        family=PlanFamily.AGRICULTURAL if agricultural else PlanFamily.CONSUMER,
        region=order.region,
        purchased_at=order.purchased_at,
        plan_year=plan_year,
        new_drone_bundle=order.new_drone_bundle,
    )


def _consumer_price_problems(
    order: PlanOrderPlacedPayload, catalogue: ConsumerCatalogue
) -> list[str]:
    if order.model not in catalogue.models:
        return []  # order_problems names a model of the wrong family
    problem = price_problem(catalogue.list_price(order.model, order.sku), order.price)
    return [problem] if problem else []


def first_activations(activations: list[DeviceActivatedPayload]) -> list[Device]:
    """A1: a device's first activation starts its binding window; later ones do not move it."""
    first: dict[str, Device] = {}
    for seen in activations:
        held = first.get(seen.sn)
        at = seen.activated_at if held is None else min(held.activated_at, seen.activated_at)
        first[seen.sn] = Device(seen.sn, held.model if held else seen.model, at)
    return list(first.values())


# Binding a term, for both families (A1-A4, A6, P4-P6, X1, C10) -----------------------------------


def decide_request(
    asked: ActivationRequestedPayload,
    owner_id: uuid.UUID,
    binding: Binding,
    books: Catalogues,
    new_plan_id: uuid.UUID,
) -> Decided:
    """A1-A4, D2, P4: bind the code's term to the device, wait for a video, or refuse.

    A device without a plan starts one; a device with a plan renews it: a device keeps to one
    term at a time (A2). A code of one family never binds to a device covered by the other.
    """
    request = RequestRecord(
        asked.request_id, asked.plan_code, asked.sn, owner_id, asked.requested_at, _UNDECIDED
    )
    code = binding.codes.get(request.plan_code)
    if code is None:
        return _refused(request, Refuse((ActivationRefusal.PLAN_CODE_UNKNOWN,)))
    plan = binding.plans.get(request.sn)
    if plan is not None and plan.family is not code.family:
        return _refused(request, refuse_other_family(code))
    allowed: NewTerm | AwaitVideoReview | Refuse
    if plan is None:
        device = binding.devices.get(request.sn)
        allowed = _first_term(code, device, asked.requested_at, asked.repair_invitation_at, books)
    else:
        email = asked.owner.email.lower()
        barred = is_barred(binding.barred, sn=request.sn, owner_id=owner_id, email=email)
        allowed = _next_term(code, plan, request.requested_at, barred, books)
    if isinstance(allowed, Refuse):
        return _refused(request, allowed)
    if isinstance(allowed, AwaitVideoReview):
        return _pending(request, code, allowed)
    return bind_term(request, code, plan, allowed, new_plan_id, books)


def _first_term(
    code: SoldCode,
    device: Device | None,
    requested_at: datetime,
    repair_invitation_at: datetime | None,
    books: Catalogues,
) -> NewTerm | AwaitVideoReview | Refuse:
    if code.family is PlanFamily.AGRICULTURAL:
        ag = books.agricultural
        return decide_agricultural_activation(
            code=code,
            plan_year=code.plan_year,
            device_model=device.model if device else None,
            requested_at=requested_at,
            term_months=ag.term_months,
            zone=ag.zone,
        )
    catalogue = books.consumer
    decision = decide_activation(
        code=code,
        device_model=device.model if device else None,
        kind=catalogue.model(code.model).kind,
        device_activated_at=device.activated_at if device else None,
        requested_at=requested_at,
        windows=catalogue.binding_windows,
        repair_invitation_at=repair_invitation_at,
    )
    if isinstance(decision, Activate):
        return consumer_term(code, decision, catalogue)
    return decision


def consumer_term(code: PlanCode, activate: Activate, catalogue: ConsumerCatalogue) -> NewTerm:
    """P1: a consumer term runs the SKU's months from the binding."""
    return NewTerm(
        activate.term_start, add_months(activate.term_start, catalogue.plan(code.sku).months)
    )


def _next_term(
    code: SoldCode, plan: Plan, requested_at: datetime, barred: bool, books: Catalogues
) -> NewTerm | Refuse:
    if code.family is PlanFamily.AGRICULTURAL:
        ag = books.agricultural
        latest = plan.latest
        return decide_agricultural_renewal(
            code=code,
            plan_year=code.plan_year,
            device_model=plan.model,
            current=AgriculturalTermHeld(latest.plan_year, latest.start, latest.end),
            purchased_at=code.purchased_at,
            window_days=ag.renewal_window_days,
            term_months=ag.term_months,
            zone=ag.zone,
            barred=barred,
        )
    catalogue = books.consumer
    sku = catalogue.plan(code.sku)
    return decide_renewal(
        code=code,
        sku_is_renewal=sku.renewal,
        sku_months=sku.months,
        device_model=plan.model,
        terms=[Term(term.start, term.end, catalogue.plan(term.sku).months) for term in plan.terms],
        requested_at=requested_at,
        barred=barred,
    )


@dataclass(frozen=True)
class TermGrant:
    """What a term gives: replacements (P1) or, for AG, the year's quotas and insurer (P5)."""

    replacements: int
    flyaways: int
    agricultural: AgriculturalTerm | None


def term_grant(code: SoldCode, plan_year: int | None, books: Catalogues) -> TermGrant:
    """P1: a consumer term's replacements; P5, C7, L4, P6: an AG year's quotas, deductible,
    insurer and liability cover, from the AG catalogue."""
    if code.family is PlanFamily.CONSUMER or plan_year is None:
        sku = books.consumer.plan(code.sku)
        return TermGrant(sku.replacements, sku.flyaways, None)
    ag = books.agricultural
    return TermGrant(
        replacements=0,
        flyaways=0,
        agricultural=AgriculturalTerm(
            plan_year=plan_year,
            base_quota=ag.base_quota(code.model, plan_year),
            consumables_quota=ag.consumables_quota(code.model, plan_year),
            deductible_rate=ag.deductible_rate(code.model, plan_year),
            insurer=ag.model(code.model).insurer,
            liability_cover=liability_cover(
                new_drone_bundle=code.new_drone_bundle, plan_year=plan_year
            ),
        ),
    )


def bind_term(
    request: RequestRecord,
    code: SoldCode,
    plan: Plan | None,
    dates: NewTerm,
    new_plan_id: uuid.UUID,
    books: Catalogues,
) -> Decided:
    """A2-A4, A6, P4-P6: the code's term on the device, a plan's first term or its next one.

    The same for both families: the code is used up (A2); a renewal extends the plan of the
    device's first term, held by that term's owner, and an AG renewal bought before expiry ends
    the previous term then (A4); the event says what the term gives.
    """
    grant = term_grant(code, dates.plan_year, books)
    cut_short: tuple[BoundTerm, ...] = ()
    payload: PlanActivatedPayload | PlanRenewedPayload
    if plan is None:
        term = BoundTerm(
            new_plan_id,
            1,
            code.code,
            request.sn,
            request.owner_id,
            code.sku,
            dates.term_start,
            dates.term_end,
            dates.plan_year,
        )
        payload = PlanActivatedPayload(
            plan_id=term.plan_id,
            plan_code=code.code,
            sn=request.sn,
            model=code.model,
            sku=code.sku,
            region=code.region,
            owner_id=request.owner_id,
            term_start=term.start,
            term_end=term.end,
            replacements=grant.replacements,
            flyaways=grant.flyaways,
            purchased_at=code.purchased_at,
            family=code.family,
            agricultural=grant.agricultural,
        )
    else:
        latest = plan.latest
        term = BoundTerm(
            latest.plan_id,
            latest.term_no + 1,
            code.code,
            request.sn,
            plan.terms[0].owner_id,
            code.sku,
            dates.term_start,
            dates.term_end,
            dates.plan_year,
        )
        if dates.previous_term_ends_at is not None:
            cut_short = (
                replace(latest, end=dates.previous_term_ends_at, scheduled_end=latest.end),
            )
        payload = PlanRenewedPayload(
            plan_id=term.plan_id,
            plan_code=code.code,
            sn=request.sn,
            sku=code.sku,
            term_no=term.term_no,
            term_start=term.start,
            term_end=term.end,
            replacements=grant.replacements,
            flyaways=grant.flyaways,
            purchased_at=code.purchased_at,
            agricultural=grant.agricultural,
            previous_term_ends_at=dates.previous_term_ends_at,
        )
    return Decided(
        replace(request, state=RequestState.ACTIVATED, reasons=()),
        replace(code, state=CodeState.ACTIVATED),
        (*cut_short, term),
        Outgoing(payload, key=request.sn, correlation_id=str(term.plan_id)),
    )


def _pending(request: RequestRecord, code: SoldCode, wait: AwaitVideoReview) -> Decided:
    """A1: the code is held for the request until the video is reviewed."""
    return Decided(
        replace(request, state=RequestState.PENDING),
        replace(code, state=CodeState.PENDING),
        (),
        Outgoing(
            ActivationPendingPayload(
                request_id=request.request_id,
                plan_code=request.plan_code,
                sn=request.sn,
                reason_code=wait.reason_code,
            ),
            key=request.sn,
            correlation_id=request.request_id,
        ),
    )


def _refused(request: RequestRecord, refusal: Refuse, code: SoldCode | None = None) -> Decided:
    return Decided(
        replace(request, state=RequestState.REFUSED, reasons=refusal.reasons),
        code,
        (),
        Outgoing(
            ActivationRefusedPayload(
                request_id=request.request_id,
                plan_code=request.plan_code,
                sn=request.sn,
                reason_codes=[reason.value for reason in refusal.reasons],
            ),
            key=request.sn,
            correlation_id=request.request_id,
        ),
    )


def decide_review(
    request: RequestRecord,
    code: SoldCode,
    *,
    approved: bool,
    reviewed_at: datetime,
    new_plan_id: uuid.UUID,
    books: Catalogues,
) -> Decided | None:
    """A1: the video review decides a pending request: approved, the consumer plan's first term
    is bound from the approval; rejected, the code is unused again. A request no longer pending
    was already decided (None: a second verdict changes nothing)."""
    if request.state is not RequestState.PENDING:
        return None
    verdict = decide_video_review(approved=approved, reviewed_at=reviewed_at)
    if isinstance(verdict, Refuse):
        return _refused(request, verdict, replace(code, state=CodeState.SOLD))
    return bind_term(
        request, code, None, consumer_term(code, verdict, books.consumer), new_plan_id, books
    )


# Following the plan (A5, F3) and barring after fraud (C10) ---------------------------------------


def confirm_term(term: BoundTerm, *, start: datetime, end: datetime) -> BoundTerm:
    """A5: the term takes the dates of the insurer's policy; a term an early renewal cut short
    keeps that end (A4), and the end it was scheduled with becomes the policy's."""
    ended_early = term.end if term.scheduled_end is not None else None
    followed_start, followed_end = follow_policy(
        ended_by_renewal_at=ended_early, start=start, end=end
    )
    return replace(
        term,
        start=followed_start,
        end=followed_end,
        scheduled_end=None if term.scheduled_end is None else end,
    )


def move_plan(terms: list[BoundTerm], new_sn: str) -> list[BoundTerm]:
    """F3, X6: the replacement unit takes over the plan, so its terms, renewals to come
    included, are bound to the replacement's SN."""
    return [replace(term, sn=new_sn) for term in terms]


class BarKind(StrEnum):
    DEVICE = "device"
    ACCOUNT = "account"
    PERSON = "person"


@dataclass(frozen=True)
class Bar:
    """C10: a device, an account or a person barred from renewals by a reversed case."""

    kind: BarKind
    value: str
    case_id: str


@dataclass(frozen=True)
class PlanHolder:
    """Who holds a plan bound here: the SN it is on now, and its owner."""

    sn: str
    owner_id: uuid.UUID
    email: str


def bars_after_fraud(reversal: ClaimReversedPayload, holder: PlanHolder) -> list[Bar]:
    """C10: a reversed case bars the device, its account and the person from renewals; the plan
    may already live on a replacement unit (F3), and that device is barred too."""
    case_id = reversal.case_id
    return [
        Bar(BarKind.DEVICE, reversal.sn, case_id),
        Bar(BarKind.DEVICE, holder.sn, case_id),
        Bar(BarKind.ACCOUNT, str(holder.owner_id), case_id),
        Bar(BarKind.PERSON, holder.email, case_id),
    ]


def is_barred(
    barred: frozenset[tuple[str, str]], *, sn: str, owner_id: uuid.UUID, email: str
) -> bool:
    """C10: a renewal is refused when the device, the account or the person is barred."""
    return bool(
        {
            (BarKind.DEVICE.value, sn),
            (BarKind.ACCOUNT.value, str(owner_id)),
            (BarKind.PERSON.value, email),
        }
        & barred
    )
