"""What a term has left, and what a case may take from it (C1, C5-C10, P5, A4, A5)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from contracts.claims import RepairSplit
from contracts.coverage import TermEndReason
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


@dataclass(frozen=True)
class TermEnd:
    """When a term ended, and why (C9)."""

    reason: TermEndReason
    at: datetime


def term_end(
    dates: TermDates, state: PlanState, *, quota_based: bool, at: datetime
) -> TermEnd | None:
    """C9: how a term has ended by `at`, if it has. Its last replacement used or its base quota
    spent ends it then (or at its end date, if that came first); otherwise its end date ends
    it, which an AG renewal bought before expiry moved to the purchase (A4)."""
    if state is PlanState.EXHAUSTED:
        used = TermEndReason.BASE_QUOTA_REACHED if quota_based else TermEndReason.REPLACEMENTS_USED
        return TermEnd(used, min(at, dates.end))
    if dates.end > at:
        return None
    if dates.ended_by_renewal_at is not None:
        return TermEnd(TermEndReason.RENEWAL_TOOK_OVER, dates.end)
    return TermEnd(TermEndReason.TERM_EXPIRED, dates.end)


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
