"""The insurers' rules (C8, L1-L4): pure functions over plain values and the AG catalogue.

Claims routes a third-party liability incident to the insurer that underwrote the drone's model,
with the limits and deductibles that apply, and follows the insurer's answers; it settles
nothing itself (L4). The base-quota part of an AG repair is reported the same way (C8).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum

from contracts.agricultural import PlanFamily
from contracts.claims import LiabilityIncidentRefusedPayload
from contracts.insurer import (
    InsurerAnswer,
    LiabilityClaimAnsweredPayload,
    LiabilityClaimReportedPayload,
)
from contracts.liability import LiabilityIncidentReportedPayload, LiabilityKind
from contracts.money import Money
from services.claims.domain import Outgoing
from services.claims.domain_plans import PlanTerm
from shared.catalogue.agricultural import agricultural_catalogue


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


def shanghai_date(moment: datetime) -> date:
    """M2: AG days are Asia/Shanghai days."""
    return moment.astimezone(agricultural_catalogue().zone).date()


def liability_limits(model: str) -> LiabilityLimits:
    """L1-L3 for the model's group, from the catalogue."""
    catalogue = agricultural_catalogue()
    cover = catalogue.liability
    sublimit = cover.medical_sublimit[catalogue.model(model).liability_group]
    return LiabilityLimits(
        region=cover.region,
        total_limit=catalogue.money(cover.total_limit),
        limits={
            LiabilityKind.THIRD_PARTY_PROPERTY: catalogue.money(cover.property_limit),
            LiabilityKind.THIRD_PARTY_INJURY: catalogue.money(cover.injury_limit),
            LiabilityKind.OPERATOR_ACCIDENT: catalogue.money(cover.operator_limit),
        },
        medical_sublimits={
            LiabilityKind.THIRD_PARTY_INJURY: catalogue.money(sublimit.third_party),
            LiabilityKind.OPERATOR_ACCIDENT: catalogue.money(sublimit.operator),
        },
        property_deductible=catalogue.money(cover.property_deductible),
        medical_deductible=catalogue.money(cover.medical_deductible),
    )


# L1-L4: an incident routed or refused, and the insurer's answer --------------------------------

PaidOut = Mapping[tuple[uuid.UUID, int], dict[LiabilityKind, Money]]


@dataclass(frozen=True)
class InsurerClaim:
    """C8, L4: a claim reported to an insurer (a case's base-quota part, or a liability
    incident), and the insurer's answer."""

    insurer: str | None = None
    state: InsurerClaimState = InsurerClaimState.NONE
    amount: Money | None = None  # C8: what was claimed from the base quota
    paid: Money | None = None
    reason: str | None = None
    answered_at: datetime | None = None


def follow_answer(
    claim: InsurerClaim,
    claimed: str,
    *,
    insurer: str,
    answer: InsurerAnswer,
    paid: Money | None,
    reason: str | None,
    at: datetime,
) -> InsurerClaim | None:
    """C8, L4: the claim after its insurer's answer, or None when the answer changes nothing
    (answer_claim); an answer from an insurer the claim was not reported to is an error."""
    if claim.insurer is not None and claim.insurer != insurer:
        raise UnknownClaimError(f"{claimed} was not reported to {insurer}")
    state = answer_claim(claim.state, answer)
    if state is None:
        return None
    return replace(
        claim,
        state=state,
        paid=paid or claim.paid,
        reason=claim.reason if reason is None else reason,
        answered_at=at,
    )


@dataclass(frozen=True)
class LiabilityClaim:
    """L4: a liability incident as claims follows it: routed to an insurer, or refused."""

    incident_id: str
    claim: InsurerClaim

    @property
    def key(self) -> str:
        return self.incident_id


@dataclass(frozen=True)
class RecordedIncident:
    """An incident as it was reported, and what claims decided of it."""

    report: LiabilityIncidentReportedPayload
    plan_id: uuid.UUID | None
    term_no: int | None
    routing: LiabilityRouting | None
    reasons: tuple[str, ...]
    claim: LiabilityClaim


@dataclass(frozen=True)
class IncidentDecided:
    incident: RecordedIncident
    outgoing: Outgoing


def liability_cover(found: PlanTerm, paid: PaidOut) -> LiabilityCover:
    """The term's liability cover, with what the insurer already paid out in that term (L2)."""
    term = found.term
    return LiabilityCover(
        plan_id=str(found.plan.plan_id),
        term_no=term.term_no,
        term_start=term.term_start,
        term_end=term.term_end,
        liability_cover=term.quotas is not None and term.quotas.liability_cover,
        insurer=term.insurer or "",
        policy_no=term.policy_no,
        paid=dict(paid.get((found.plan.plan_id, term.term_no), {})),
    )


def decide_liability_incident(
    report: LiabilityIncidentReportedPayload, found: PlanTerm | None, paid: PaidOut
) -> IncidentDecided:
    """L1-L4, P6: route the incident to the model's insurer with its limits, or refuse it."""
    if found is None or found.plan.family is not PlanFamily.AGRICULTURAL:
        return _refused(report, None, (LiabilityRefusal.NO_PLAN_FOR_SN,))
    cover = liability_cover(found, paid)
    facts = LiabilityIncident(
        kind=report.kind,
        location_region=report.location_region,
        occurred_at=report.occurred_at,
        claimed=report.claimed_amount,
        medical=report.medical_amount,
    )
    routed = route_liability(facts, cover, liability_limits(found.plan.model))
    if isinstance(routed, LiabilityRefused):
        return _refused(report, cover, routed.reasons)
    incident = RecordedIncident(
        report,
        found.plan.plan_id,
        cover.term_no,
        routed,
        (),
        LiabilityClaim(
            report.incident_id, InsurerClaim(routed.insurer, InsurerClaimState.REPORTED)
        ),
    )
    claim = LiabilityClaimReportedPayload(
        incident_id=report.incident_id,
        plan_id=found.plan.plan_id,
        term_no=cover.term_no,
        insurer=routed.insurer,
        policy_no=cover.policy_no,
        drone_sn=report.drone_sn,
        model=found.plan.model,
        kind=report.kind,
        location_region=report.location_region,
        occurred_at=report.occurred_at,
        incident_date=shanghai_date(report.occurred_at),
        claimed_amount=report.claimed_amount,
        medical_amount=report.medical_amount,
        limit=routed.limit,
        limit_left=routed.limit_left,
        total_limit_left=routed.total_limit_left,
        medical_sublimit=routed.medical_sublimit,
        deductible=routed.deductible,
        indicative_payable=routed.indicative_payable,
    )
    return IncidentDecided(incident, Outgoing(claim, report.incident_id, report.incident_id))


def _refused(
    report: LiabilityIncidentReportedPayload,
    cover: LiabilityCover | None,
    reasons: tuple[LiabilityRefusal, ...],
) -> IncidentDecided:
    plan_id = uuid.UUID(cover.plan_id) if cover else None
    codes = tuple(reason.value for reason in reasons)
    incident = RecordedIncident(
        report,
        plan_id,
        cover.term_no if cover else None,
        None,
        codes,
        LiabilityClaim(report.incident_id, InsurerClaim()),
    )
    refusal = LiabilityIncidentRefusedPayload(
        incident_id=report.incident_id,
        drone_sn=report.drone_sn,
        plan_id=plan_id,
        reason_codes=list(codes),
    )
    return IncidentDecided(incident, Outgoing(refusal, report.drone_sn, report.incident_id))


class UnknownClaimError(LookupError):
    pass


def answer_liability_claim(
    followed: LiabilityClaim | None, answer: LiabilityClaimAnsweredPayload
) -> LiabilityClaim | None:
    """L4: the incident after the insurer's answer, or None when the answer changes nothing."""
    if followed is None:
        raise UnknownClaimError(f"no liability incident {answer.incident_id} for the answer")
    answered = follow_answer(
        followed.claim,
        f"incident {answer.incident_id}",
        insurer=answer.insurer,
        answer=answer.answer,
        paid=answer.settled_amount,
        reason=answer.reason,
        at=answer.answered_at,
    )
    return None if answered is None else replace(followed, claim=answered)
