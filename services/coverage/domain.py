"""The plan ledger's rules (C1, C5, C6, C9, F3): pure functions over plain values."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum


class PlanState(StrEnum):
    ACTIVE = "active"
    EXHAUSTED = "exhausted"


class DeductionRefusal(StrEnum):
    NO_REPLACEMENTS_LEFT = "NO_REPLACEMENTS_LEFT"
    FLYAWAY_LIMIT_REACHED = "FLYAWAY_LIMIT_REACHED"
    PLAN_NOT_IN_FORCE = "PLAN_NOT_IN_FORCE"
    SN_NOT_ON_PLAN = "SN_NOT_ON_PLAN"
    PLAN_TERMINATED = "PLAN_TERMINATED"


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
