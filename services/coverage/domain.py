"""The plan ledger's rules (P1, A3-A5, C1, C5-C10, P5, F3): pure functions over plain values.

A batch's plans are loaded into a `PlanBook`; each event is decided against the book in the order
it came (`decide_activation`, `decide_claim`, `decide_fulfilment`, `decide_insurer_response`),
and the book keeps each decision's new state of the plan, its new rows and the events it emits.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from contracts.activation import (
    ActivationEvent,
    PlanActivated,
    PlanActivatedPayload,
    PlanRenewed,
    PlanRenewedPayload,
)
from contracts.agricultural import AgriculturalTerm, PlanFamily
from contracts.claims import (
    ClaimDecided,
    ClaimDecidedPayload,
    ClaimOutcome,
    ClaimReversed,
    ClaimReversedPayload,
    ClaimsEvent,
    RepairSplit,
)
from contracts.coverage import (
    CoverageExtendedPayload,
    CoverageOpenedPayload,
    DeductionAppliedPayload,
    DeductionRefusedPayload,
    PlanExhaustedPayload,
    PlanInheritedPayload,
    PlanTerminatedPayload,
    QuotaDeductionAppliedPayload,
    TermConfirmedPayload,
)
from contracts.envelope import Payload
from contracts.fulfilment import DeviceReplaced, DeviceReplacedPayload, FulfilmentEvent
from contracts.insurer import InsurerResponseEvent, PolicyConfirmed, PolicyConfirmedPayload
from contracts.money import Money
from contracts.repair_pricing import ClassifiedLine, price_repair


class PlanState(StrEnum):
    ACTIVE = "active"
    EXHAUSTED = "exhausted"


class DeductionRefusal(StrEnum):
    NO_REPLACEMENTS_LEFT = "NO_REPLACEMENTS_LEFT"
    FLYAWAY_LIMIT_REACHED = "FLYAWAY_LIMIT_REACHED"
    PLAN_NOT_IN_FORCE = "PLAN_NOT_IN_FORCE"
    SN_NOT_ON_PLAN = "SN_NOT_ON_PLAN"
    PLAN_TERMINATED = "PLAN_TERMINATED"
    BASE_QUOTA_EXHAUSTED = "BASE_QUOTA_EXHAUSTED"  # AG C9: the plan ended when it reached zero
    NOT_AN_AGRICULTURAL_PLAN = "NOT_AN_AGRICULTURAL_PLAN"


@dataclass(frozen=True)
class Ledger:
    """What a consumer plan has left."""

    sn: str
    term_start: datetime
    term_end: datetime
    replacements_left: int
    flyaways_left: int
    state: PlanState
    terminated: bool = False


@dataclass(frozen=True)
class Deducted:
    ledger: Ledger

    @property
    def exhausted(self) -> bool:
        return self.ledger.state is PlanState.EXHAUSTED


@dataclass(frozen=True)
class DeductionRefused:
    reasons: tuple[DeductionRefusal, ...]


def deduct_replacement(
    ledger: Ledger, *, sn: str, flyaway: bool, incident_at: datetime
) -> Deducted | DeductionRefused:
    """C5, C6: take one replacement (a flyaway counts inside the total); C9: none left ends it.

    The ledger is the last word: claims decides on a read model that may lag, so two approved
    claims racing for the last replacement meet here, under a row lock, and only one wins.
    """
    reasons: list[DeductionRefusal] = []
    if ledger.terminated:
        reasons.append(DeductionRefusal.PLAN_TERMINATED)  # C10
    if ledger.sn != sn:
        reasons.append(DeductionRefusal.SN_NOT_ON_PLAN)
    if not ledger.term_start <= incident_at < ledger.term_end:
        reasons.append(DeductionRefusal.PLAN_NOT_IN_FORCE)
    if ledger.replacements_left <= 0 or ledger.state is PlanState.EXHAUSTED:
        reasons.append(DeductionRefusal.NO_REPLACEMENTS_LEFT)
    elif flyaway and ledger.flyaways_left <= 0:
        reasons.append(DeductionRefusal.FLYAWAY_LIMIT_REACHED)
    if reasons:
        return DeductionRefused(tuple(reasons))
    left = ledger.replacements_left - 1
    return Deducted(
        replace(
            ledger,
            replacements_left=left,
            flyaways_left=min(ledger.flyaways_left - (1 if flyaway else 0), left),
            state=PlanState.EXHAUSTED if left == 0 else ledger.state,
        )
    )


def inherit(ledger: Ledger, *, old_sn: str, new_sn: str) -> Ledger | None:
    """F3: the replacement unit takes the plan as it stands; None when it already moved."""
    if ledger.sn != old_sn:
        return None
    return replace(ledger, sn=new_sn)


# C9 (AG): "repair costs reached the quota" ends the plan.
BASE_QUOTA_REACHED = "BASE_QUOTA_REACHED"


@dataclass(frozen=True)
class QuotaLedger:
    """What an AG term has left (P5): two balances in one currency that never mix."""

    sn: str
    term_start: datetime
    term_end: datetime
    base_quota_left: Money
    consumables_quota_left: Money
    deductible_rate: Decimal
    state: PlanState
    terminated: bool = False


@dataclass(frozen=True)
class QuotaDeducted:
    ledger: QuotaLedger
    split: RepairSplit  # what was actually taken, line by line

    @property
    def exhausted(self) -> bool:
        return self.ledger.state is PlanState.EXHAUSTED


def take_from_quotas(
    ledger: QuotaLedger, *, sn: str, incident_at: datetime, quote: RepairSplit
) -> QuotaDeducted | DeductionRefused:
    """C7, P5, C9: pay a quoted repair from the term's real balances, line by line, in order.

    Claims quotes against a read model that may lag; the ledger keeps claims' classification of
    each line (base quota, consumables quota, not covered) and its cost, and re-prices it here
    under the plan's row lock with its own deductible rate and balances, with the one pricing
    function claims quoted with (contracts.repair_pricing). When the base quota reaches zero the
    plan ends (C9).
    """
    reasons: list[DeductionRefusal] = []
    if ledger.terminated:
        reasons.append(DeductionRefusal.PLAN_TERMINATED)  # C10
    if ledger.sn != sn:
        reasons.append(DeductionRefusal.SN_NOT_ON_PLAN)
    if not ledger.term_start <= incident_at < ledger.term_end:
        reasons.append(DeductionRefusal.PLAN_NOT_IN_FORCE)  # C1, C9: expiry ends the plan
    if ledger.state is PlanState.EXHAUSTED or ledger.base_quota_left.amount <= 0:
        reasons.append(DeductionRefusal.BASE_QUOTA_EXHAUSTED)
    if reasons:
        return DeductionRefused(tuple(reasons))

    split = price_repair(
        [ClassifiedLine.of(line) for line in quote.lines],
        deductible_rate=ledger.deductible_rate,
        base_quota_left=ledger.base_quota_left,
        consumables_quota_left=ledger.consumables_quota_left,
        logistics_fee=quote.logistics_fee,
    )
    base = ledger.base_quota_left - split.from_base_quota
    return QuotaDeducted(
        replace(
            ledger,
            base_quota_left=base,
            consumables_quota_left=ledger.consumables_quota_left - split.from_consumables_quota,
            state=PlanState.EXHAUSTED if base.amount == 0 else ledger.state,
        ),
        split,
    )


@dataclass(frozen=True)
class TermDates:
    """A term's dates as the ledger holds them, with what set them (A4, A5)."""

    term_no: int
    start: datetime
    end: datetime
    policy_no: str | None = None
    ended_by_renewal_at: datetime | None = None


def end_for_renewal(term: TermDates, at: datetime) -> TermDates:
    """A4: an AG renewal bought in the 15 days before expiry ends the previous term at purchase.

    A moment after the term's end changes nothing (the term ended by itself); a moment at or
    before its start cannot be a renewal of it and changes nothing either.
    """
    if not term.start < at < term.end:
        return term
    return replace(term, end=at, ended_by_renewal_at=at)


def term_for_policy(terms: Sequence[TermDates], policy_no: str, start: datetime) -> TermDates:
    """A5: the term an electronic policy belongs to: the one already carrying that policy number,
    else the one whose start is nearest the policy's start (terms are a year apart), the later
    term on a tie."""
    if not terms:
        raise ValueError("a plan without terms has no policy to confirm")
    for term in terms:
        if term.policy_no == policy_no:
            return term
    return min(terms, key=lambda term: (abs(term.start - start), -term.term_no))


def confirm_policy(term: TermDates, *, policy_no: str, start: datetime, end: datetime) -> TermDates:
    """A5: the policy's dates become the term's dates; a term a renewal already ended early (A4)
    keeps that earlier end."""
    ended = term.ended_by_renewal_at
    if ended is not None and start < ended < end:
        end = ended
    return replace(term, start=start, end=end, policy_no=policy_no)


# The plan and its terms, as the ledger holds them --------------------------------------------


class InapplicableEventError(ValueError):
    """An event the ledger cannot apply at all (not a refusal it answers): it is dead-lettered."""


class UnknownPlanError(InapplicableEventError, LookupError):
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


# Decisions: each event against the book, in order ---------------------------------------------

LedgerEvent = ActivationEvent | ClaimsEvent | FulfilmentEvent | InsurerResponseEvent


def takes_from_plan(claim: ClaimDecidedPayload) -> bool:
    """C5: an approved replacement that uses one of the plan's; C7: an AG repair. A warranty
    repair (X4), a paid repair the customer chose (C5) and a refusal take nothing."""
    if claim.outcome is ClaimOutcome.REPLACEMENT:
        return claim.uses_replacement
    return claim.outcome is ClaimOutcome.REPAIR


def plan_concerned(event: LedgerEvent) -> uuid.UUID | None:
    """The plan an event acts on, if any: the plans a batch locks and loads."""
    if isinstance(event, ClaimDecided):
        return event.payload.plan_id if takes_from_plan(event.payload) else None
    if isinstance(
        event, PlanActivated | PlanRenewed | ClaimReversed | DeviceReplaced | PolicyConfirmed
    ):
        return event.payload.plan_id
    return None


def cases_settling(events: Iterable[LedgerEvent]) -> list[str]:
    """The cases whose decisions would take from a plan: one case, one deduction."""
    return [
        event.payload.case_id
        for event in events
        if isinstance(event, ClaimDecided) and takes_from_plan(event.payload)
    ]


def decide_activation(book: PlanBook, event: ActivationEvent) -> Decision:
    if isinstance(event, PlanActivated):
        return open_plan(book.plans.get(event.payload.plan_id), event.payload)
    if isinstance(event, PlanRenewed):
        return extend_plan(book.plan(event.payload.plan_id), event.payload)
    return NOTHING


def open_plan(existing: Plan | None, activated: PlanActivatedPayload) -> Decision:
    """P1: open the ledger with the plan's first term and its entitlements, once."""
    if existing is not None:
        return NOTHING
    plan_id = activated.plan_id
    term = Term.entitled(
        plan_id,
        term_no=1,
        sku=activated.sku,
        start=activated.term_start,
        end=activated.term_end,
        replacements=activated.replacements,
        flyaways=activated.flyaways,
        agricultural=activated.agricultural,
    )
    plan = Plan(
        plan_id,
        activated.sn,
        activated.model,
        activated.sku,
        activated.region,
        activated.family,
        (term,),
    )
    opened = CoverageOpenedPayload(
        plan_id=plan_id,
        sn=activated.sn,
        model=activated.model,
        sku=activated.sku,
        region=activated.region,
        term_start=activated.term_start,
        term_end=activated.term_end,
        replacements_left=activated.replacements,
        flyaways_left=activated.flyaways,
        family=activated.family,
        agricultural=activated.agricultural,
    )
    return Decision(
        plan,
        serials=(SerialHeld(plan_id, activated.sn, activated.term_start),),
        emits=(Outgoing(opened, plan_id, str(plan_id)),),
    )


def extend_plan(plan: Plan, renewed: PlanRenewedPayload) -> Decision:
    """A3: a renewal adds a term with its own entitlements; the plan keeps its id and SN. A4: an
    AG renewal bought before expiry ends the previous term at the purchase."""
    if plan.term(renewed.term_no) is not None:
        return NOTHING
    term = Term.entitled(
        plan.plan_id,
        term_no=renewed.term_no,
        sku=renewed.sku,
        start=renewed.term_start,
        end=renewed.term_end,
        replacements=renewed.replacements,
        flyaways=renewed.flyaways,
        agricultural=renewed.agricultural,
    )
    extended, previous_end = plan.with_term(term), None
    earlier = [kept for kept in plan.terms if kept.term_no < renewed.term_no]
    if renewed.previous_term_ends_at is not None and earlier:
        ended = end_for_renewal(earlier[-1].dates, renewed.previous_term_ends_at)
        if ended.ended_by_renewal_at is not None:
            previous_end = ended.end
            extended = extended.with_term(
                replace(earlier[-1], end=previous_end, ended_by_renewal_at=previous_end)
            )
    payload = CoverageExtendedPayload(
        plan_id=plan.plan_id,
        sn=renewed.sn,
        sku=renewed.sku,
        term_no=renewed.term_no,
        term_start=renewed.term_start,
        term_end=renewed.term_end,
        replacements_left=renewed.replacements,
        flyaways_left=renewed.flyaways,
        agricultural=renewed.agricultural,
        previous_term_ends_at=previous_end,
    )
    return Decision(extended, emits=(Outgoing(payload, plan.plan_id, str(plan.plan_id)),))


def decide_claim(book: PlanBook, event: ClaimsEvent) -> Decision:
    """C1, C5-C10: the ledger has the last word on a case, decided against the balances as the
    batch left them so far; one case takes one deduction, however often it was decided."""
    if isinstance(event, ClaimReversed):
        return terminate_plan(book.plan(event.payload.plan_id), event.payload)
    if not isinstance(event, ClaimDecided) or not takes_from_plan(event.payload):
        return NOTHING
    claim = event.payload
    settled = claim.case_id in book.settled_cases
    if claim.outcome is ClaimOutcome.REPAIR:
        if claim.plan_id is None or claim.repair_split is None:
            raise InapplicableEventError(
                f"repair decision for case {claim.case_id} names no plan or split"
            )
        return (
            NOTHING if settled else pay_repair(book.plan(claim.plan_id), claim, claim.repair_split)
        )
    if claim.plan_id is None or claim.fee is None:
        raise InapplicableEventError(
            f"replacement decision for case {claim.case_id} names no plan or fee"
        )
    return NOTHING if settled else take_replacement(book.plan(claim.plan_id), claim, claim.fee)


def terminate_plan(plan: Plan, reversal: ClaimReversedPayload) -> Decision:
    """C10: fraud ends the plan at once; nothing more is taken off or paid from it."""
    if plan.terminated:
        return NOTHING
    ended = PlanTerminatedPayload(
        plan_id=plan.plan_id,
        sn=plan.sn,
        case_id=reversal.case_id,
        reason_codes=reversal.reason_codes,
    )
    return Decision(
        replace(plan, terminated=True), emits=(Outgoing(ended, plan.plan_id, reversal.case_id),)
    )


def take_replacement(plan: Plan, claim: ClaimDecidedPayload, fee: Money) -> Decision:
    """C5, C6: one replacement off the term in force at the incident; C9: the last one exhausts
    the plan."""
    term = plan.term_in_force(claim.incident_at)
    outcome = deduct_replacement(
        plan.ledger(term), sn=claim.sn, flyaway=claim.flyaway, incident_at=claim.incident_at
    )
    if isinstance(outcome, DeductionRefused):
        return refuse(claim, plan.plan_id, outcome.reasons)
    left = outcome.ledger
    term = replace(
        term,
        replacements_left=left.replacements_left,
        flyaways_left=left.flyaways_left,
        state=left.state,
    )
    applied = DeductionAppliedPayload(
        case_id=claim.case_id,
        plan_id=plan.plan_id,
        sn=claim.sn,
        model=plan.model,
        plan_region=plan.region,
        customer_region=claim.customer_region,
        fee=fee,
        flyaway=claim.flyaway,
        term_no=term.term_no,
        service_mode=claim.service_mode,
        replacements_left=left.replacements_left,
        flyaways_left=left.flyaways_left,
    )
    return Decision(
        plan.with_term(term),
        ReplacementDeduction(claim.case_id, plan.plan_id, term.term_no, claim.flyaway, fee),
        emits=(
            Outgoing(applied, plan.plan_id, claim.case_id),
            *_exhausted(plan, claim.sn, term, outcome.exhausted),
        ),
    )


def pay_repair(plan: Plan, claim: ClaimDecidedPayload, quote: RepairSplit) -> Decision:
    """C7, P5: re-price the quoted repair against the real quotas of the term in force at the
    incident; C9: a base quota spent ends the plan."""
    term = plan.term_in_force(claim.incident_at)
    if plan.family is not PlanFamily.AGRICULTURAL or term.quotas is None:
        return refuse(claim, plan.plan_id, [DeductionRefusal.NOT_AN_AGRICULTURAL_PLAN])
    outcome = take_from_quotas(
        plan.quota_ledger(term, term.quotas),
        sn=claim.sn,
        incident_at=claim.incident_at,
        quote=quote,
    )
    if isinstance(outcome, DeductionRefused):
        return refuse(claim, plan.plan_id, outcome.reasons)
    left = outcome.ledger
    term = replace(
        term,
        quotas=replace(
            term.quotas,
            base_left=left.base_quota_left,
            consumables_left=left.consumables_quota_left,
        ),
        state=left.state,
    )
    taken = QuotaDeductionAppliedPayload(
        case_id=claim.case_id,
        plan_id=plan.plan_id,
        sn=claim.sn,
        model=plan.model,
        term_no=term.term_no,
        plan_region=plan.region,
        customer_region=claim.customer_region,
        split=outcome.split,
        base_quota_left=left.base_quota_left,
        consumables_quota_left=left.consumables_quota_left,
    )
    return Decision(
        plan.with_term(term),
        QuotaDeduction(claim.case_id, plan.plan_id, term.term_no, outcome.split),
        emits=(
            Outgoing(taken, plan.plan_id, claim.case_id),
            *_exhausted(plan, claim.sn, term, outcome.exhausted, BASE_QUOTA_REACHED),
        ),
    )


def _exhausted(
    plan: Plan, sn: str, term: Term, exhausted: bool, reason_code: str | None = None
) -> tuple[Outgoing, ...]:
    """C9: the plan ended by its last replacement or its spent base quota."""
    if not exhausted:
        return ()
    ended = PlanExhaustedPayload(
        plan_id=plan.plan_id, sn=sn, term_no=term.term_no, reason_code=reason_code
    )
    return (Outgoing(ended, plan.plan_id, str(plan.plan_id)),)


def refuse(
    claim: ClaimDecidedPayload, plan_id: uuid.UUID, reasons: Iterable[DeductionRefusal]
) -> Decision:
    """The ledger's refusal of a case, with its reasons (C1, C6, C9, C10)."""
    codes = tuple(reason.value for reason in reasons)
    refused = DeductionRefusedPayload(
        case_id=claim.case_id, plan_id=plan_id, reason_codes=list(codes)
    )
    return Decision(
        settlement=RefusedDeduction(claim.case_id, plan_id, codes),
        emits=(Outgoing(refused, plan_id, claim.case_id),),
    )


def decide_fulfilment(book: PlanBook, event: FulfilmentEvent) -> Decision:
    if isinstance(event, DeviceReplaced):
        return move_to_replacement(book.plan(event.payload.plan_id), event.payload)
    return NOTHING


def move_to_replacement(plan: Plan, replaced: DeviceReplacedPayload) -> Decision:
    """F3: the replacement unit inherits the plan with its remaining term and replacements; the
    old SN keeps its history but no plan."""
    moved = inherit(plan.ledger(plan.latest_term), old_sn=replaced.old_sn, new_sn=replaced.new_sn)
    if moved is None:
        return NOTHING
    inherited = PlanInheritedPayload(
        plan_id=plan.plan_id,
        case_id=replaced.case_id,
        old_sn=replaced.old_sn,
        new_sn=replaced.new_sn,
        term_end=moved.term_end,
        replacements_left=moved.replacements_left,
        flyaways_left=moved.flyaways_left,
    )
    at = replaced.dispatched_at
    return Decision(
        replace(plan, sn=replaced.new_sn),
        serials=(
            SerialReleased(plan.plan_id, replaced.old_sn, at),
            SerialHeld(plan.plan_id, replaced.new_sn, at, replaced.case_id),
        ),
        emits=(Outgoing(inherited, plan.plan_id, replaced.case_id),),
    )


def decide_insurer_response(
    book: PlanBook, event: InsurerResponseEvent, *, at: datetime
) -> Decision:
    if isinstance(event, PolicyConfirmed):
        return confirm_term(book.plan(event.payload.plan_id), event.payload, at=at)
    return NOTHING


def confirm_term(plan: Plan, policy: PolicyConfirmedPayload, *, at: datetime) -> Decision:
    """A5: the insurer's electronic policy sets the exact dates of the term it covers, once."""
    if plan.family is not PlanFamily.AGRICULTURAL:
        raise InapplicableEventError(
            f"plan {plan.plan_id} is not an agricultural plan: no policy to confirm"
        )
    dates = term_for_policy(
        [term.dates for term in plan.terms], policy.policy_no, policy.term_start
    )
    confirmed = confirm_policy(
        dates, policy_no=policy.policy_no, start=policy.term_start, end=policy.term_end
    )
    term = plan.terms[[kept.term_no for kept in plan.terms].index(dates.term_no)]
    if (term.policy_no, term.start, term.end, term.insurer) == (
        confirmed.policy_no,
        confirmed.start,
        confirmed.end,
        policy.insurer,
    ):
        return NOTHING  # the same policy again: nothing changes
    term = replace(
        term,
        start=confirmed.start,
        end=confirmed.end,
        policy_no=confirmed.policy_no,
        insurer=policy.insurer,
        policy_confirmed_at=at,
    )
    payload = TermConfirmedPayload(
        plan_id=plan.plan_id,
        sn=plan.sn,
        term_no=term.term_no,
        policy_no=policy.policy_no,
        insurer=policy.insurer,
        term_start=confirmed.start,
        term_end=confirmed.end,
    )
    return Decision(
        plan.with_term(term), emits=(Outgoing(payload, plan.plan_id, str(plan.plan_id)),)
    )
