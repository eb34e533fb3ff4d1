"""Claims' read model of the plans (A3, A4, A5, C1): each plan and its terms as the ledger's
coverage events describe them; pure functions over plain values."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from contracts.agricultural import AgriculturalTerm, PlanFamily
from contracts.coverage import (
    CoverageEvent,
    CoverageExtended,
    CoverageOpened,
    DeductionApplied,
    PlanExhausted,
    PlanInherited,
    PlanTerminated,
    QuotaDeductionApplied,
    TermConfirmed,
    TermEnded,
    TermEndedPayload,
)
from contracts.money import Money

TermKey = tuple[uuid.UUID, int]


class UnknownPlanError(LookupError):
    pass


@dataclass(frozen=True)
class PlanRecord:
    """A plan as claims knows it: on which SN, of which model and family, ended on review or not."""

    plan_id: uuid.UUID
    sn: str
    model: str
    sku: str
    region: str
    family: PlanFamily
    terminated: bool = False

    @property
    def key(self) -> uuid.UUID:
        return self.plan_id


@dataclass(frozen=True)
class Quotas:
    """An AG term's balances and terms of cover (P5, P6, C7, A5)."""

    plan_year: int
    base_quota_left: Money
    consumables_quota_left: Money
    deductible_rate: Decimal
    liability_cover: bool


@dataclass(frozen=True)
class TermRecord:
    """One term of a plan (A3): its dates, what is left of it, and for AG its quotas."""

    plan_id: uuid.UUID
    term_no: int
    term_start: datetime
    term_end: datetime
    replacements_left: int
    flyaways_left: int
    replacements_used: int = 0
    exhausted: bool = False
    quotas: Quotas | None = None
    insurer: str | None = None  # L4, C8: who underwrites the term's base quota and liability
    policy_no: str | None = None  # A5

    @property
    def key(self) -> TermKey:
        return (self.plan_id, self.term_no)


@dataclass(frozen=True)
class PlanTerm:
    """A plan with one of its terms: what a case or an incident is judged against."""

    plan: PlanRecord
    term: TermRecord


def term_at(terms: list[PlanTerm], at: datetime) -> PlanTerm | None:
    """The term in force at `at`; with none, the latest term (C1 then refuses the claim)."""
    if not terms:
        return None
    return max(
        terms,
        key=lambda found: (found.term.term_start <= at < found.term.term_end, found.term.term_no),
    )


@dataclass(frozen=True)
class Reserved:
    """What approvals the ledger has not answered yet hold on one term (C5, C6, C7): claims'
    view of the term has that much less left until the ledger's answer replaces the figures."""

    replacements: int = 0
    flyaways: int = 0
    base_quota: Decimal = Decimal(0)
    consumables_quota: Decimal = Decimal(0)

    def __add__(self, other: Reserved) -> Reserved:
        return Reserved(
            self.replacements + other.replacements,
            self.flyaways + other.flyaways,
            self.base_quota + other.base_quota,
            self.consumables_quota + other.consumables_quota,
        )

    def __sub__(self, other: Reserved) -> Reserved:
        return Reserved(
            self.replacements - other.replacements,
            self.flyaways - other.flyaways,
            self.base_quota - other.base_quota,
            self.consumables_quota - other.consumables_quota,
        )


def _less(balance: Money, reserved: Decimal) -> Money:
    return Money(amount=max(balance.amount - reserved, Decimal(0)), currency=balance.currency)


def available(found: PlanTerm, reserved: Reserved) -> PlanTerm:
    """The term as a new case may take from it: the ledger's figures less what is reserved.
    A reserved replacement counts as used, so the next one is priced after it (P2)."""
    term = found.term
    quotas = term.quotas
    if quotas is not None:
        quotas = replace(
            quotas,
            base_quota_left=_less(quotas.base_quota_left, reserved.base_quota),
            consumables_quota_left=_less(quotas.consumables_quota_left, reserved.consumables_quota),
        )
    left = replace(
        term,
        replacements_left=max(term.replacements_left - reserved.replacements, 0),
        flyaways_left=max(term.flyaways_left - reserved.flyaways, 0),
        replacements_used=term.replacements_used + reserved.replacements,
        quotas=quotas,
    )
    return PlanTerm(found.plan, left)


def sns_with_plans(
    plans: Mapping[uuid.UUID, PlanRecord],
    saved_plans: Iterable[PlanRecord],
    saved_terms: Iterable[TermRecord],
) -> set[str]:
    """The SNs a batch of coverage events gave a plan or a term to: opened, moved to a
    replacement unit (F3), renewed (A3). What an assessment or an incident on them waits for."""
    sns = {plan.sn for plan in saved_plans}
    return sns | {plans[term.plan_id].sn for term in saved_terms if term.plan_id in plans}


def ended_by_reversal(plan: PlanRecord | None) -> tuple[PlanRecord, ...]:
    """C10: fraud ends the plan. Claims' view ends it with its own reversal, before the ledger's
    PlanTerminated comes back, so that nothing more is approved on it meanwhile."""
    if plan is None or plan.terminated:
        return ()
    return (replace(plan, terminated=True),)


@dataclass(frozen=True)
class Projected:
    """The plan and term rows an event changed, in their new state."""

    plans: tuple[PlanRecord, ...] = ()
    terms: tuple[TermRecord, ...] = ()


def _quotas(ag: AgriculturalTerm | None) -> Quotas | None:
    if ag is None:
        return None
    return Quotas(
        plan_year=ag.plan_year,
        base_quota_left=ag.base_quota,
        consumables_quota_left=ag.consumables_quota,
        deductible_rate=ag.deductible_rate,
        liability_cover=ag.liability_cover,
    )


def project_coverage(
    event: CoverageEvent,
    plans: Mapping[uuid.UUID, PlanRecord],
    terms: Mapping[TermKey, TermRecord],
) -> Projected:
    """Follow the ledger: a plan opened or extended brings its term (A3; an early end of the
    previous term, A4), an insurer's policy sets a term's dates (A5), a deduction what is left
    (C5, C7), an exhaustion or an announced end (C9), a termination (C10) or an inheritance
    (F3) the plan's state."""
    match event:
        case CoverageOpened(payload=opened):
            new_plan = () if opened.plan_id in plans else (_opened_plan(event),)
            return Projected(new_plan, _new_term(terms, _opened_term(event)))
        case CoverageExtended(payload=extended):
            if extended.plan_id not in plans:
                raise UnknownPlanError(f"no plan {extended.plan_id} to extend")
            return Projected((), _extended_terms(event, terms))
        case TermConfirmed(payload=confirmed):
            return _changed_term(
                terms,
                (confirmed.plan_id, confirmed.term_no),
                lambda term: replace(
                    term,
                    term_start=confirmed.term_start,
                    term_end=confirmed.term_end,
                    policy_no=confirmed.policy_no,
                    insurer=confirmed.insurer,
                ),
            )
        case QuotaDeductionApplied(payload=applied):
            return _changed_term(
                terms,
                (applied.plan_id, applied.term_no),
                lambda term: replace(
                    term,
                    quotas=None
                    if term.quotas is None
                    else replace(
                        term.quotas,
                        base_quota_left=applied.base_quota_left,
                        consumables_quota_left=applied.consumables_quota_left,
                    ),
                ),
            )
        case DeductionApplied(payload=deduction):
            return _changed_term(
                terms,
                (deduction.plan_id, deduction.term_no),
                lambda term: replace(
                    term,
                    replacements_left=deduction.replacements_left,
                    flyaways_left=deduction.flyaways_left,
                    replacements_used=term.replacements_used + 1,
                ),
            )
        case PlanExhausted(payload=exhausted):
            return _changed_term(
                terms,
                (exhausted.plan_id, exhausted.term_no),
                lambda term: replace(term, exhausted=True),
            )
        case TermEnded(payload=ended):
            return _changed_term(
                terms, (ended.plan_id, ended.term_no), lambda term: _ended(term, ended)
            )
        case PlanTerminated(payload=terminated):
            return _changed_plan(
                plans, terminated.plan_id, lambda plan: replace(plan, terminated=True)
            )
        case PlanInherited(payload=inherited):
            return _changed_plan(
                plans, inherited.plan_id, lambda plan: replace(plan, sn=inherited.new_sn)
            )
    return Projected()  # DeductionRefused: nothing of the plan changes


def _ended(term: TermRecord, ended: TermEndedPayload) -> TermRecord:
    """C9: a term the ledger announced ended takes no claim after that moment: one used up is
    exhausted, one whose time ran out (or a renewal took over, A4) ends then."""
    if ended.reason.used_up:
        return replace(term, exhausted=True, replacements_left=0, flyaways_left=0)
    return replace(term, term_end=min(term.term_end, ended.ended_at))


def _opened_plan(event: CoverageOpened) -> PlanRecord:
    opened = event.payload
    return PlanRecord(
        opened.plan_id, opened.sn, opened.model, opened.sku, opened.region, opened.family
    )


def _opened_term(event: CoverageOpened) -> TermRecord:
    opened = event.payload
    return TermRecord(
        plan_id=opened.plan_id,
        term_no=1,
        term_start=opened.term_start,
        term_end=opened.term_end,
        replacements_left=opened.replacements_left,
        flyaways_left=opened.flyaways_left,
        quotas=_quotas(opened.agricultural),
        insurer=opened.agricultural.insurer if opened.agricultural else None,
    )


def _new_term(terms: Mapping[TermKey, TermRecord], term: TermRecord) -> tuple[TermRecord, ...]:
    return () if (term.plan_id, term.term_no) in terms else (term,)


def _extended_terms(
    event: CoverageExtended, terms: Mapping[TermKey, TermRecord]
) -> tuple[TermRecord, ...]:
    extended = event.payload
    new = _new_term(
        terms,
        TermRecord(
            plan_id=extended.plan_id,
            term_no=extended.term_no,
            term_start=extended.term_start,
            term_end=extended.term_end,
            replacements_left=extended.replacements_left,
            flyaways_left=extended.flyaways_left,
            quotas=_quotas(extended.agricultural),
            insurer=extended.agricultural.insurer if extended.agricultural else None,
        ),
    )
    earlier = [
        term_no
        for plan_id, term_no in terms
        if plan_id == extended.plan_id and term_no < extended.term_no
    ]
    if extended.previous_term_ends_at is None or not earlier:
        return new
    previous = terms[(extended.plan_id, max(earlier))]
    return (*new, replace(previous, term_end=extended.previous_term_ends_at))  # A4


def _changed_term(
    terms: Mapping[TermKey, TermRecord], key: TermKey, change: Callable[[TermRecord], TermRecord]
) -> Projected:
    term = terms.get(key)
    return Projected() if term is None else Projected((), (change(term),))


def _changed_plan(
    plans: Mapping[uuid.UUID, PlanRecord],
    plan_id: uuid.UUID,
    change: Callable[[PlanRecord], PlanRecord],
) -> Projected:
    plan = plans.get(plan_id)
    return Projected() if plan is None else Projected((change(plan),))
