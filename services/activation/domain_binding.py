"""Binding terms (A1-A6, P3-P6, X1, C10, F3): what a request, a review, a policy, a replacement
or a reversal leaves in activation's books and says to the others. Pure, no I/O.

`decide_request` picks the family's rule (services.activation.domain) by the code's family, and
`bind_term` binds the term it allows, whatever the family, first term or renewal, and carries
the event that says so. A batch's decisions run in order against one `Binding`, brought up to
date after each, so that two requests on one code or device decide as they would one by one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from contracts.activation import (
    ActivationPendingPayload,
    ActivationRefusedPayload,
    PlanActivatedPayload,
    PlanRenewedPayload,
)
from contracts.agricultural import AgriculturalTerm, PlanFamily
from contracts.claims import ClaimReversedPayload
from contracts.money import Money
from contracts.upstream import (
    ActivationRequestedPayload,
    DeviceActivatedPayload,
    PlanOrderPlacedPayload,
)
from services.activation.domain import (
    Activate,
    ActivationRefusal,
    AgriculturalTermHeld,
    AwaitVideoReview,
    CodeState,
    NewTerm,
    Outgoing,
    PlanCode,
    Refuse,
    Term,
    add_months,
    decide_activation,
    decide_agricultural_activation,
    decide_agricultural_renewal,
    decide_renewal,
    decide_video_review,
    follow_policy,
    liability_cover,
    order_problems,
    price_problem,
    refuse_other_family,
)
from shared.catalogue import ConsumerCatalogue, consumer_catalogue
from shared.catalogue.agricultural import AgriculturalCatalogue, agricultural_catalogue

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


class Missing(StrEnum):
    """What a request may be read before, that its decision depends on."""

    ORDER = "order"  # D2: the order that sold its code
    DEVICE = "device"  # A1: the device's first activation, which starts the binding window
    PLAN = "plan"  # A4: the plan an AG renewal extends


def missing_for(asked: ActivationRequestedPayload, binding: Binding) -> tuple[Missing, str] | None:
    """What the request needs that activation has not read, and its key (None: nothing).

    Without the order the code is unknown (D2); without the device's first activation a
    consumer request is outside every binding window and would wait for a video (A1); an AG
    year-2 or year-3 code on a device without a plan would be refused FIRST_YEAR_PLAN_REQUIRED
    (A4). A consumer 1-Year code binds a first term as well as a renewal, so it waits for no
    plan.
    """
    code = binding.codes.get(asked.plan_code)
    if code is None:
        return Missing.ORDER, asked.plan_code
    if asked.sn in binding.plans:
        return None
    if code.family is PlanFamily.AGRICULTURAL:
        return (Missing.PLAN, asked.sn) if code.plan_year != 1 else None
    if asked.sn not in binding.devices:
        return Missing.DEVICE, asked.sn
    return None


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
    allowed: NewTerm,
    new_plan_id: uuid.UUID,
    books: Catalogues,
) -> Decided:
    """A2-A4, A6, P4-P6: the code's term on the device, a plan's first term or its next one.

    The same for both families: the code is used up (A2); a renewal extends the plan of the
    device's first term, held by that term's owner, and an AG renewal bought before expiry ends
    the previous term then (A4); the event says what the term gives.
    """
    grant = term_grant(code, allowed.plan_year, books)
    cut_short: tuple[BoundTerm, ...] = ()
    payload: PlanActivatedPayload | PlanRenewedPayload
    if plan is None:
        term = _term_of(code, request, new_plan_id, 1, request.owner_id, allowed)
        payload = _plan_activated(term, code, grant, request.request_id)
    else:
        latest = plan.latest
        owner_id = plan.terms[0].owner_id
        term = _term_of(code, request, latest.plan_id, latest.term_no + 1, owner_id, allowed)
        if allowed.previous_term_ends_at is not None:
            cut_short = (
                replace(latest, end=allowed.previous_term_ends_at, scheduled_end=latest.end),
            )
        payload = _plan_renewed(
            term, code, grant, allowed.previous_term_ends_at, request.request_id
        )
    return Decided(
        replace(request, state=RequestState.ACTIVATED, reasons=()),
        replace(code, state=CodeState.ACTIVATED),
        (*cut_short, term),
        Outgoing(payload, key=request.sn, correlation_id=str(term.plan_id)),
    )


def _term_of(
    code: SoldCode,
    request: RequestRecord,
    plan_id: uuid.UUID,
    term_no: int,
    owner_id: uuid.UUID,
    allowed: NewTerm,
) -> BoundTerm:
    return BoundTerm(
        plan_id=plan_id,
        term_no=term_no,
        plan_code=code.code,
        sn=request.sn,
        owner_id=owner_id,
        sku=code.sku,
        start=allowed.term_start,
        end=allowed.term_end,
        plan_year=allowed.plan_year,
    )


def _plan_activated(
    term: BoundTerm, code: SoldCode, grant: TermGrant, request_id: str
) -> PlanActivatedPayload:
    return PlanActivatedPayload(
        plan_id=term.plan_id,
        plan_code=code.code,
        sn=term.sn,
        model=code.model,
        sku=code.sku,
        region=code.region,
        owner_id=term.owner_id,
        term_start=term.start,
        term_end=term.end,
        replacements=grant.replacements,
        flyaways=grant.flyaways,
        purchased_at=code.purchased_at,
        family=code.family,
        agricultural=grant.agricultural,
        request_id=request_id,
    )


def _plan_renewed(
    term: BoundTerm,
    code: SoldCode,
    grant: TermGrant,
    previous_term_ends_at: datetime | None,
    request_id: str,
) -> PlanRenewedPayload:
    return PlanRenewedPayload(
        plan_id=term.plan_id,
        plan_code=code.code,
        sn=term.sn,
        sku=code.sku,
        term_no=term.term_no,
        term_start=term.start,
        term_end=term.end,
        replacements=grant.replacements,
        flyaways=grant.flyaways,
        purchased_at=code.purchased_at,
        agricultural=grant.agricultural,
        previous_term_ends_at=previous_term_ends_at,
        request_id=request_id,
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


# A request's answer, and its copy for the request sent again ---------------------------------

AnswerPayload = (
    PlanActivatedPayload | PlanRenewedPayload | ActivationPendingPayload | ActivationRefusedPayload
)


@dataclass(frozen=True)
class Answer:
    """The answer a request got: the event that carried it, and what it said."""

    request_id: str
    event_id: uuid.UUID
    outgoing: Outgoing


def copy_of(answer: Answer) -> Outgoing:
    """A request sent again under its id gets the answer it got, marked as a copy of that event;
    the first answer stands, whatever the request says this time."""
    sent = answer.outgoing
    return replace(sent, payload=sent.payload.model_copy(update={"copy_of": answer.event_id}))


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
