"""The insurers' rules (C8, L1-L4): pure functions over plain values.

Claims routes a third-party liability incident to the insurer that underwrote the drone's model,
with the limits and deductibles that apply, and follows the insurer's answers; it settles
nothing itself (L4). The base-quota part of an AG repair is reported the same way (C8).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from contracts.insurer import InsurerAnswer
from contracts.liability import LiabilityKind
from contracts.money import Money


class LiabilityRefusal(StrEnum):
    NO_PLAN_FOR_SN = "NO_PLAN_FOR_SN"
    LIABILITY_OUTSIDE_MAINLAND_CHINA = "LIABILITY_OUTSIDE_MAINLAND_CHINA"  # L1
    NO_LIABILITY_COVER = "NO_LIABILITY_COVER"  # P6: only first-year plans of a new-drone bundle
    INCIDENT_OUTSIDE_TERM = "INCIDENT_OUTSIDE_TERM"
    LIABILITY_LIMIT_EXHAUSTED = "LIABILITY_LIMIT_EXHAUSTED"  # L1, L2: the insurer paid it all
    LIABILITY_CURRENCY_MISMATCH = "LIABILITY_CURRENCY_MISMATCH"  # M1: limits are in CNY


@dataclass(frozen=True)
class LiabilityLimits:
    """L1-L3 for one model group, from the catalogue."""

    region: str
    total_limit: Money
    limits: dict[LiabilityKind, Money]
    medical_sublimits: dict[LiabilityKind, Money]  # per accident; injury and operator only
    property_deductible: Money
    medical_deductible: Money


@dataclass(frozen=True)
class LiabilityCover:
    """The AG term in force at the incident, as claims' read model knows it."""

    plan_id: str
    term_no: int
    term_start: datetime
    term_end: datetime
    liability_cover: bool
    insurer: str
    policy_no: str | None
    paid: dict[LiabilityKind, Money]  # what the insurer already paid out in this term


@dataclass(frozen=True)
class LiabilityIncident:
    kind: LiabilityKind
    location_region: str
    occurred_at: datetime
    claimed: Money
    medical: Money | None


@dataclass(frozen=True)
class LiabilityRouting:
    insurer: str
    limit: Money
    limit_left: Money
    total_limit_left: Money
    medical_sublimit: Money | None
    deductible: Money
    indicative_payable: Money


@dataclass(frozen=True)
class LiabilityRefused:
    reasons: tuple[LiabilityRefusal, ...]


def _floor_zero(amount: Money) -> Money:
    return amount if amount.amount > 0 else Money.zero(amount.currency)


def _least(*amounts: Money) -> Money:
    return min(amounts, key=lambda money: money.amount)


def route_liability(
    incident: LiabilityIncident, cover: LiabilityCover | None, limits: LiabilityLimits
) -> LiabilityRouting | LiabilityRefused:
    """L1-L4: route an incident with the limits that apply, or refuse it with every reason.

    The kind limits and the 600,000 total are per policy term, less what the insurer already
    paid in that term; the medical sub-limits and the deductibles are per accident (L2, L3).
    Property pays above a 200 deductible; injury and operator accident pay medical costs above a
    200 deductible up to the sub-limit, and death or disability without deductible. The payable
    amount is an estimate for the insurer, who settles (L4).
    """
    if cover is None:
        return LiabilityRefused((LiabilityRefusal.NO_PLAN_FOR_SN,))
    reasons: list[LiabilityRefusal] = []
    if incident.location_region != limits.region:
        reasons.append(LiabilityRefusal.LIABILITY_OUTSIDE_MAINLAND_CHINA)
    if not cover.liability_cover:
        reasons.append(LiabilityRefusal.NO_LIABILITY_COVER)
    if not cover.term_start <= incident.occurred_at < cover.term_end:
        reasons.append(LiabilityRefusal.INCIDENT_OUTSIDE_TERM)
    currency = limits.total_limit.currency
    if incident.claimed.currency != currency:
        return LiabilityRefused((*reasons, LiabilityRefusal.LIABILITY_CURRENCY_MISMATCH))
    zero = Money.zero(currency)
    limit = limits.limits[incident.kind]
    limit_left = _floor_zero(limit - cover.paid.get(incident.kind, zero))
    total_left = _floor_zero(limits.total_limit - sum(cover.paid.values(), zero))
    if limit_left.amount == 0 or total_left.amount == 0:
        reasons.append(LiabilityRefusal.LIABILITY_LIMIT_EXHAUSTED)
    if reasons:
        return LiabilityRefused(tuple(reasons))

    sublimit = limits.medical_sublimits.get(incident.kind)
    if incident.kind is LiabilityKind.THIRD_PARTY_PROPERTY or sublimit is None:
        deductible = _least(limits.property_deductible, incident.claimed)
        payable = incident.claimed - deductible
    else:
        medical = incident.medical or zero
        deductible = _least(limits.medical_deductible, medical)
        death_or_disability = incident.claimed - medical  # no deductible (L3)
        payable = _least(medical - deductible, sublimit) + death_or_disability
    return LiabilityRouting(
        insurer=cover.insurer,
        limit=limit,
        limit_left=limit_left,
        total_limit_left=total_left,
        medical_sublimit=sublimit,
        deductible=deductible,
        indicative_payable=_least(payable, limit_left, total_left),
    )


class InsurerClaimState(StrEnum):
    NONE = "none"
    REPORTED = "reported"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    PAID = "paid"
    WITHDRAWN = "withdrawn"


_RANK = {
    InsurerClaimState.REPORTED: 1,
    InsurerClaimState.ACCEPTED: 2,
    InsurerClaimState.REJECTED: 3,
    InsurerClaimState.PAID: 3,
}
_FINAL = frozenset(
    {InsurerClaimState.REJECTED, InsurerClaimState.PAID, InsurerClaimState.WITHDRAWN}
)


class UnexpectedAnswerError(ValueError):
    """The insurer answered a claim the platform never reported to it."""


def answer_claim(current: InsurerClaimState, answer: InsurerAnswer) -> InsurerClaimState | None:
    """The state after the insurer's answer, or None when the answer changes nothing.

    A claim moves forward only: reported -> accepted -> paid, or to rejected from reported or
    accepted. A late or repeated answer (accepted after paid, anything after a final answer or a
    withdrawal) is kept out of the state. An answer to a claim never reported is an error.
    """
    if current is InsurerClaimState.NONE:
        raise UnexpectedAnswerError("no claim was reported to the insurer for this case")
    if current in _FINAL:
        return None
    after = InsurerClaimState(answer.value)
    if _RANK[after] <= _RANK[current]:
        return None
    return after
