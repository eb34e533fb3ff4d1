"""Each event decided against the batch's book, in the order it came."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from contracts.activation import (
    ActivationEvent,
    PlanActivated,
    PlanActivatedPayload,
    PlanRenewed,
    PlanRenewedPayload,
    is_copy,
)
from contracts.agricultural import PlanFamily
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
    TermEndedPayload,
)
from contracts.fulfilment import DeviceReplaced, DeviceReplacedPayload, FulfilmentEvent
from contracts.insurer import InsurerResponseEvent, PolicyConfirmed, PolicyConfirmedPayload
from contracts.money import Money
from services.coverage.domain.ledger import (
    BASE_QUOTA_REACHED,
    DeductionRefusal,
    DeductionRefused,
    confirm_policy,
    deduct_replacement,
    end_for_renewal,
    inherit,
    take_from_quotas,
    term_end,
    term_for_policy,
)
from services.coverage.domain.plan import (
    NOTHING,
    Decision,
    InapplicableEventError,
    Outgoing,
    Plan,
    PlanBook,
    QuotaDeduction,
    RefusedDeduction,
    ReplacementDeduction,
    SerialHeld,
    SerialReleased,
    Term,
)

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
    if is_copy(event):
        return NOTHING  # an answer sent again to a request sent again: bound once
    if isinstance(event, PlanActivated):
        return open_plan(book.plans.get(event.payload.plan_id), event.payload)
    if isinstance(event, PlanRenewed):
        return extend_plan(book.plan(event.payload.plan_id), event.payload, at=event.occurred_at)
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


def extend_plan(plan: Plan, renewed: PlanRenewedPayload, *, at: datetime) -> Decision:
    """A3: a renewal adds a term with its own entitlements; the plan keeps its id and SN. A4: an
    AG renewal bought before expiry ends the previous term at the purchase, announced with it
    (C9)."""
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
    return with_ends(
        Decision(extended, emits=(Outgoing(payload, plan.plan_id, str(plan.plan_id)),)), at
    )


def decide_claim(book: PlanBook, event: ClaimsEvent) -> Decision:
    """C1, C5-C10: the ledger has the last word on a case, decided against the balances as the
    batch left them so far; one case takes one deduction, however often it was decided. A term
    it uses up ends at the decision's time (C9), so a batch decides as one by one would."""
    if isinstance(event, ClaimReversed):
        return terminate_plan(book.plan(event.payload.plan_id), event.payload)
    if not isinstance(event, ClaimDecided) or not takes_from_plan(event.payload):
        return NOTHING
    claim, at = event.payload, event.occurred_at
    settled = claim.case_id in book.settled_cases
    if claim.outcome is ClaimOutcome.REPAIR:
        if claim.plan_id is None or claim.repair_split is None:
            raise InapplicableEventError(
                f"repair decision for case {claim.case_id} names no plan or split"
            )
        if settled:
            return NOTHING
        return pay_repair(book.plan(claim.plan_id), claim, claim.repair_split, at=at)
    if claim.plan_id is None or claim.fee is None:
        raise InapplicableEventError(
            f"replacement decision for case {claim.case_id} names no plan or fee"
        )
    return (
        NOTHING if settled else take_replacement(book.plan(claim.plan_id), claim, claim.fee, at=at)
    )


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


def take_replacement(
    plan: Plan, claim: ClaimDecidedPayload, fee: Money, *, at: datetime
) -> Decision:
    """C5, C6: one replacement off the term in force at the incident; C9: the last one exhausts
    the plan and ends the term."""
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
    decided = Decision(
        plan.with_term(term),
        ReplacementDeduction(claim.case_id, plan.plan_id, term.term_no, claim.flyaway, fee),
        emits=(
            Outgoing(applied, plan.plan_id, claim.case_id),
            *_exhausted(plan, claim.sn, term, outcome.exhausted),
        ),
    )
    return with_ends(decided, at)


def pay_repair(
    plan: Plan, claim: ClaimDecidedPayload, quote: RepairSplit, *, at: datetime
) -> Decision:
    """C7, P5: re-price the quoted repair against the real quotas of the term in force at the
    incident; C9: a base quota spent ends the plan and the term."""
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
    decided = Decision(
        plan.with_term(term),
        QuotaDeduction(claim.case_id, plan.plan_id, term.term_no, outcome.split),
        emits=(
            Outgoing(taken, plan.plan_id, claim.case_id),
            *_exhausted(plan, claim.sn, term, outcome.exhausted, BASE_QUOTA_REACHED),
        ),
    )
    return with_ends(decided, at)


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


def end_terms(plan: Plan, at: datetime) -> Decision:
    """C9: every term of the plan that has ended by `at` and was not announced yet, announced
    once (TermEnded), with when it ended and why, and the term that carries the plan on from
    that moment, if any. A plan terminated on review (C10) ended with its PlanTerminated."""
    if plan.terminated:
        return NOTHING
    ended, emits = plan, []
    for term in plan.terms:
        if term.ended_at is not None:
            continue
        end = term_end(term.dates, term.state, quota_based=term.quotas is not None, at=at)
        if end is None:
            continue
        ended = ended.with_term(replace(term, ended_at=end.at, end_reason=end.reason))
        announced = TermEndedPayload(
            plan_id=plan.plan_id,
            sn=plan.sn,
            term_no=term.term_no,
            ended_at=end.at,
            reason=end.reason,
            continued_by_term_no=next(
                (
                    later.term_no
                    for later in plan.terms
                    if later.term_no > term.term_no and later.holds(end.at)
                ),
                None,
            ),
        )
        emits.append(Outgoing(announced, plan.plan_id, str(plan.plan_id)))
    return Decision(ended, emits=tuple(emits)) if emits else NOTHING


def with_ends(decision: Decision, at: datetime) -> Decision:
    """The decision, with the ends of the terms it ended announced after what it emits (C9)."""
    if decision.plan is None:
        return decision
    ended = end_terms(decision.plan, at)
    if ended.plan is None:
        return decision
    return replace(decision, plan=ended.plan, emits=(*decision.emits, *ended.emits))


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
    term = next(kept for kept in plan.terms if kept.term_no == dates.term_no)
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
