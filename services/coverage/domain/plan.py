"""The plan and its terms as the ledger holds them, what a decision adds, and a batch's book."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from contracts.agricultural import AgriculturalTerm, PlanFamily
from contracts.claims import RepairSplit
from contracts.coverage import TermEndReason
from contracts.envelope import Payload
from contracts.money import Money
from services.coverage.domain.ledger import Ledger, PlanState, QuotaLedger, TermDates


class InapplicableEventError(ValueError):
    """An event the ledger cannot apply at all (not a refusal it answers): it is dead-lettered."""


class UnknownPlanError(InapplicableEventError):
    def __init__(self, plan_id: uuid.UUID) -> None:
        super().__init__(f"no plan {plan_id}")


@dataclass(frozen=True)
class Quotas:
    """An AG term's two balances in one currency, and its plan year's deductible (P5, C7)."""

    plan_year: int
    base_total: Money
    base_left: Money
    consumables_total: Money
    consumables_left: Money
    deductible_rate: Decimal
    liability_cover: bool = False


@dataclass(frozen=True)
class Term:
    """A term with its entitlements: replacements (CR) or the two quotas (AG), and its dates as
    the renewals (A4) and the insurer's policy (A5) set them."""

    term_no: int
    sku: str
    start: datetime
    end: datetime
    replacements_total: int
    flyaways_total: int
    replacements_left: int
    flyaways_left: int
    state: PlanState = PlanState.ACTIVE
    quotas: Quotas | None = None
    insurer: str | None = None
    policy_no: str | None = None
    policy_confirmed_at: datetime | None = None
    ended_by_renewal_at: datetime | None = None
    ended_at: datetime | None = None  # C9: announced (TermEnded) when set
    end_reason: TermEndReason | None = None

    @classmethod
    def entitled(
        cls,
        plan_id: uuid.UUID,
        *,
        term_no: int,
        sku: str,
        start: datetime,
        end: datetime,
        replacements: int,
        flyaways: int,
        agricultural: AgriculturalTerm | None,
    ) -> Term:
        """A new term with all its entitlements left (P1, P5)."""
        ag = agricultural
        if ag is not None and ag.base_quota.currency != ag.consumables_quota.currency:
            raise InapplicableEventError(
                f"plan {plan_id}: the two quotas of a term must share a currency"
            )
        quotas = None
        if ag is not None:
            quotas = Quotas(
                plan_year=ag.plan_year,
                base_total=ag.base_quota,
                base_left=ag.base_quota,
                consumables_total=ag.consumables_quota,
                consumables_left=ag.consumables_quota,
                deductible_rate=ag.deductible_rate,
                liability_cover=ag.liability_cover,
            )
        return cls(
            term_no=term_no,
            sku=sku,
            start=start,
            end=end,
            replacements_total=replacements,
            flyaways_total=flyaways,
            replacements_left=replacements,
            flyaways_left=flyaways,
            quotas=quotas,
            insurer=ag.insurer if ag else None,
        )

    @property
    def dates(self) -> TermDates:
        return TermDates(
            self.term_no, self.start, self.end, self.policy_no, self.ended_by_renewal_at
        )

    def holds(self, at: datetime) -> bool:
        return self.start <= at < self.end


@dataclass(frozen=True)
class Plan:
    """A plan on its device's SN, with its terms in order (A3)."""

    plan_id: uuid.UUID
    sn: str
    model: str
    sku: str
    region: str
    family: PlanFamily
    terms: tuple[Term, ...]
    terminated: bool = False

    def term(self, term_no: int) -> Term | None:
        return next((term for term in self.terms if term.term_no == term_no), None)

    @property
    def latest_term(self) -> Term:
        return self.terms[-1]

    def term_in_force(self, at: datetime) -> Term:
        """C1: the term whose dates hold `at` (the later one where two meet); with none, the latest
        term, whose dates explain the refusal."""
        holding = [term for term in self.terms if term.holds(at)]
        return holding[-1] if holding else self.latest_term

    def with_term(self, term: Term) -> Plan:
        others = [kept for kept in self.terms if kept.term_no != term.term_no]
        return replace(self, terms=tuple(sorted([*others, term], key=lambda t: t.term_no)))

    def ledger(self, term: Term) -> Ledger:
        return Ledger(
            sn=self.sn,
            term_start=term.start,
            term_end=term.end,
            replacements_left=term.replacements_left,
            flyaways_left=term.flyaways_left,
            state=term.state,
            terminated=self.terminated,
        )

    def quota_ledger(self, term: Term, quotas: Quotas) -> QuotaLedger:
        return QuotaLedger(
            sn=self.sn,
            term_start=term.start,
            term_end=term.end,
            base_quota_left=quotas.base_left,
            consumables_quota_left=quotas.consumables_left,
            deductible_rate=quotas.deductible_rate,
            state=term.state,
            terminated=self.terminated,
        )


# What a decision adds to the ledger ------------------------------------------------------------


@dataclass(frozen=True)
class ReplacementDeduction:
    """C5, C6: one replacement taken off a term, for the case's fee."""

    case_id: str
    plan_id: uuid.UUID
    term_no: int
    flyaway: bool
    fee: Money


@dataclass(frozen=True)
class QuotaDeduction:
    """C7: what a repair actually took off a term's quotas."""

    case_id: str
    plan_id: uuid.UUID
    term_no: int
    split: RepairSplit


@dataclass(frozen=True)
class RefusedDeduction:
    case_id: str
    plan_id: uuid.UUID
    reasons: tuple[str, ...]


Settlement = ReplacementDeduction | QuotaDeduction | RefusedDeduction


@dataclass(frozen=True)
class SerialHeld:
    """F3: an SN the plan lives on from `since`; `case_id` names the replacement that brought it."""

    plan_id: uuid.UUID
    sn: str
    since: datetime
    case_id: str | None = None


@dataclass(frozen=True)
class SerialReleased:
    plan_id: uuid.UUID
    sn: str
    until: datetime


@dataclass(frozen=True)
class Outgoing:
    """An event to emit, keyed by its plan, in the thread (correlation) it belongs to."""

    payload: Payload
    plan_id: uuid.UUID
    correlation_id: str


@dataclass(frozen=True)
class Decision:
    """What one event did: the plan as it now stands (None: unchanged), the rows it adds and the
    events it emits, in order."""

    plan: Plan | None = None
    settlement: Settlement | None = None
    serials: tuple[SerialHeld | SerialReleased, ...] = ()
    emits: tuple[Outgoing, ...] = ()


NOTHING = Decision()


@dataclass
class PlanBook:
    """A batch's plans as loaded, and what the batch decided on them since, in order."""

    loaded: Mapping[uuid.UUID, Plan]
    settled_cases: set[str] = field(default_factory=set)
    plans: dict[uuid.UUID, Plan] = field(init=False)
    replacement_deductions: list[ReplacementDeduction] = field(default_factory=list)
    quota_deductions: list[QuotaDeduction] = field(default_factory=list)
    refused_deductions: list[RefusedDeduction] = field(default_factory=list)
    serials_held: list[SerialHeld] = field(default_factory=list)
    serials_released: list[SerialReleased] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.plans = dict(self.loaded)

    def plan(self, plan_id: uuid.UUID) -> Plan:
        if plan_id not in self.plans:
            raise UnknownPlanError(plan_id)
        return self.plans[plan_id]

    def record(self, decision: Decision) -> None:
        if decision.plan is not None:
            self.plans[decision.plan.plan_id] = decision.plan
        settled = decision.settlement
        if isinstance(settled, ReplacementDeduction):
            self.replacement_deductions.append(settled)
        elif isinstance(settled, QuotaDeduction):
            self.quota_deductions.append(settled)
        elif isinstance(settled, RefusedDeduction):
            self.refused_deductions.append(settled)
        if settled is not None:
            self.settled_cases.add(settled.case_id)
        for serial in decision.serials:
            if isinstance(serial, SerialHeld):
                self.serials_held.append(serial)
            else:
                self.serials_released.append(serial)

    def opened_plans(self) -> list[Plan]:
        return [plan for plan_id, plan in self.plans.items() if plan_id not in self.loaded]

    def changed_plans(self) -> list[Plan]:
        """Loaded plans whose own row changed: a new SN (F3) or a termination (C10)."""
        return [
            plan
            for plan_id, plan in self.plans.items()
            if plan_id in self.loaded
            and (plan.sn, plan.terminated)
            != (self.loaded[plan_id].sn, self.loaded[plan_id].terminated)
        ]

    def new_terms(self) -> list[tuple[uuid.UUID, Term]]:
        return [
            (plan.plan_id, term)
            for plan in self.plans.values()
            for term in plan.terms
            if self._as_loaded(plan.plan_id, term.term_no) is None
        ]

    def changed_terms(self) -> list[tuple[uuid.UUID, Term]]:
        return [
            (plan.plan_id, term)
            for plan in self.plans.values()
            for term in plan.terms
            if self._as_loaded(plan.plan_id, term.term_no) not in (None, term)
        ]

    def _as_loaded(self, plan_id: uuid.UUID, term_no: int) -> Term | None:
        loaded = self.loaded.get(plan_id)
        return loaded.term(term_no) if loaded else None
