"""Adjudication of a consumer-plan case (C1-C6, X2-X4) and the checks both plan families share
(C1, C4, C10); pure functions over plain values. The agricultural plan's rules are in
domain_agricultural.py, the insurers' in domain_insurers.py, the case's steps in domain_cases.py."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from contracts.claims import ClaimOutcome
from contracts.envelope import Envelope, Payload
from contracts.upstream import (
    CustomerChoice,
    IncidentCause,
    ServiceMode,
)


class ClaimRefusal(StrEnum):
    NO_PLAN_FOR_SN = "NO_PLAN_FOR_SN"
    PLAN_TERMINATED = "PLAN_TERMINATED"
    SN_MISMATCH = "SN_MISMATCH"
    SN_UNREADABLE_OR_MISSING = "SN_UNREADABLE_OR_MISSING"
    PART_SN_MISMATCH = "PART_SN_MISMATCH"
    UNIT_NOT_RETURNED = "UNIT_NOT_RETURNED"
    INCIDENT_OUTSIDE_TERM = "INCIDENT_OUTSIDE_TERM"
    CLAIM_FILED_AFTER_TERM = "CLAIM_FILED_AFTER_TERM"
    NO_REPLACEMENTS_LEFT = "NO_REPLACEMENTS_LEFT"
    FLYAWAY_LIMIT_REACHED = "FLYAWAY_LIMIT_REACHED"
    FLYAWAY_NOT_ELIGIBLE = "FLYAWAY_NOT_ELIGIBLE"
    FLYAWAY_WITHOUT_FLIGHT_RECORD = "FLYAWAY_WITHOUT_FLIGHT_RECORD"
    FLYAWAY_APP_BINDING_MISSING = "FLYAWAY_APP_BINDING_MISSING"
    EXPRESS_NOT_FOR_FLYAWAY = "EXPRESS_NOT_FOR_FLYAWAY"
    EXCLUDED_LOSS = "EXCLUDED_LOSS"
    EXCLUDED_THEFT = "EXCLUDED_THEFT"
    EXCLUDED_UNSUITABLE_WEATHER = "EXCLUDED_UNSUITABLE_WEATHER"
    EXCLUDED_INTENTIONAL_DAMAGE = "EXCLUDED_INTENTIONAL_DAMAGE"
    EXCLUDED_COSMETIC_DAMAGE = "EXCLUDED_COSMETIC_DAMAGE"
    EXCLUDED_FORCE_MAJEURE = "EXCLUDED_FORCE_MAJEURE"
    EXCLUDED_UNAUTHORISED_MODIFICATION = "EXCLUDED_UNAUTHORISED_MODIFICATION"
    EXCLUDED_THIRD_PARTY_PARTS = "EXCLUDED_THIRD_PARTY_PARTS"
    EXCLUDED_NATURAL_WEAR = "EXCLUDED_NATURAL_WEAR"
    EXCLUDED_NON_MANUFACTURER_PAYLOAD = "EXCLUDED_NON_MANUFACTURER_PAYLOAD"
    # The agricultural plan (C2, C3 AG, C7, C9, G4).
    EXCLUDED_CAUSE_NOT_COVERED = "EXCLUDED_CAUSE_NOT_COVERED"
    EXCLUDED_NO_FLIGHT_DATA = "EXCLUDED_NO_FLIGHT_DATA"
    EXCLUDED_NON_AGRICULTURAL_USE = "EXCLUDED_NON_AGRICULTURAL_USE"
    EXCLUDED_LIFTING_NOT_SUPPORTED = "EXCLUDED_LIFTING_NOT_SUPPORTED"
    ACTIVITY_NOT_REPORTED = "ACTIVITY_NOT_REPORTED"
    EXCLUDED_UNIT_NOT_COMPLETE = "EXCLUDED_UNIT_NOT_COMPLETE"
    BASE_QUOTA_EXHAUSTED = "BASE_QUOTA_EXHAUSTED"
    NO_REPAIR_LINES = "NO_REPAIR_LINES"
    REPAIR_CURRENCY_MISMATCH = "REPAIR_CURRENCY_MISMATCH"
    EXPRESS_NOT_FOR_AGRICULTURAL = "EXPRESS_NOT_FOR_AGRICULTURAL"
    ACCESSORY_NOT_ASSOCIATED = "ACCESSORY_NOT_ASSOCIATED"
    ACCESSORY_RELEASED = "ACCESSORY_RELEASED"
    ACCESSORY_ASSOCIATED_WITH_OTHER_DRONE = "ACCESSORY_ASSOCIATED_WITH_OTHER_DRONE"


# C2: causes a replacement covers. C3: each exclusion has its own reason code.
COVERED_CAUSES = frozenset(
    {
        IncidentCause.OPERATOR_ERROR,
        IncidentCause.COLLISION,
        IncidentCause.FALL,
        IncidentCause.WATER_DAMAGE,
        IncidentCause.SIGNAL_INTERFERENCE,
    }
)
EXCLUSIONS = {
    IncidentCause.LOSS: ClaimRefusal.EXCLUDED_LOSS,
    IncidentCause.THEFT: ClaimRefusal.EXCLUDED_THEFT,
    IncidentCause.UNSUITABLE_WEATHER: ClaimRefusal.EXCLUDED_UNSUITABLE_WEATHER,
    IncidentCause.INTENTIONAL_DAMAGE: ClaimRefusal.EXCLUDED_INTENTIONAL_DAMAGE,
    IncidentCause.COSMETIC_DAMAGE: ClaimRefusal.EXCLUDED_COSMETIC_DAMAGE,
    IncidentCause.FORCE_MAJEURE: ClaimRefusal.EXCLUDED_FORCE_MAJEURE,
    IncidentCause.UNAUTHORISED_MODIFICATION: ClaimRefusal.EXCLUDED_UNAUTHORISED_MODIFICATION,
    IncidentCause.THIRD_PARTY_PARTS: ClaimRefusal.EXCLUDED_THIRD_PARTY_PARTS,
    IncidentCause.NATURAL_WEAR: ClaimRefusal.EXCLUDED_NATURAL_WEAR,
    IncidentCause.NON_MANUFACTURER_PAYLOAD: ClaimRefusal.EXCLUDED_NON_MANUFACTURER_PAYLOAD,
}


@dataclass(frozen=True)
class PartCheck:
    sn_present_and_readable: bool
    matches_body_record: bool


@dataclass(frozen=True)
class Assessment:
    reported_sn: str
    unit_sn: str | None
    cause: IncidentCause
    incident_at: datetime
    assessed_at: datetime
    flight_record_provided: bool
    account_bound_at: datetime | None = None
    remote_controller_bound_at: datetime | None = None
    parts: tuple[PartCheck, ...] = ()
    customer_choice: CustomerChoice = CustomerChoice.PLAN_REPLACEMENT
    service_mode: ServiceMode = ServiceMode.STANDARD


@dataclass(frozen=True)
class PlanView:
    """What claims knows of a plan, projected from coverage events (may lag the ledger)."""

    plan_id: str
    term_start: datetime
    term_end: datetime
    replacements_left: int
    flyaways_left: int
    replacements_used: int
    flyaway_eligible: bool
    terminated: bool = False


@dataclass(frozen=True)
class Decision:
    outcome: ClaimOutcome
    reasons: tuple[ClaimRefusal, ...]
    rules: tuple[str, ...]
    uses_replacement: bool = False
    flyaway: bool = False


def part_refusals(parts: Sequence[PartCheck]) -> list[ClaimRefusal]:
    """C4: every part's SN present, readable and matching the body's record."""
    reasons: list[ClaimRefusal] = []
    if any(not part.sn_present_and_readable for part in parts):
        reasons.append(ClaimRefusal.SN_UNREADABLE_OR_MISSING)
    if any(not part.matches_body_record for part in parts):
        reasons.append(ClaimRefusal.PART_SN_MISMATCH)
    return reasons


class TermInForce(Protocol):
    @property
    def term_start(self) -> datetime: ...
    @property
    def term_end(self) -> datetime: ...
    @property
    def terminated(self) -> bool: ...


def term_refusals(
    plan: TermInForce, incident_at: datetime, assessed_at: datetime
) -> tuple[list[str], list[ClaimRefusal]]:
    """C1 (the incident within the term, the claim filed before its end) and C10 (a plan
    terminated on review covers nothing): the rules applied and the refusals found."""
    rules = ["C1"]
    reasons: list[ClaimRefusal] = []
    if plan.terminated:
        rules.append("C10")
        reasons.append(ClaimRefusal.PLAN_TERMINATED)
    if not plan.term_start <= incident_at < plan.term_end:
        reasons.append(ClaimRefusal.INCIDENT_OUTSIDE_TERM)
    if assessed_at >= plan.term_end:
        reasons.append(ClaimRefusal.CLAIM_FILED_AFTER_TERM)
    return rules, reasons


def adjudicate(assessment: Assessment, plan: PlanView | None) -> Decision:
    """Decide one consumer-plan case. Every refusal reason found is reported, not only the first."""
    if plan is None:
        return Decision(ClaimOutcome.REFUSED, (ClaimRefusal.NO_PLAN_FOR_SN,), ("D4",))
    reasons: list[ClaimRefusal] = []
    rules: list[str] = []
    flyaway = assessment.cause is IncidentCause.FLYAWAY

    rules.append("C4")
    if flyaway:
        pass  # nothing comes back from a flyaway: the flight record stands in for the unit (C6)
    elif assessment.unit_sn is None:
        reasons.append(ClaimRefusal.UNIT_NOT_RETURNED)
    elif assessment.unit_sn != assessment.reported_sn:
        reasons.append(ClaimRefusal.SN_MISMATCH)
    reasons += part_refusals(assessment.parts)

    term_rules, term_reasons = term_refusals(plan, assessment.incident_at, assessment.assessed_at)
    rules += term_rules
    reasons += term_reasons

    if assessment.cause is IncidentCause.MANUFACTURING_DEFECT:
        rules.append("X4")
        if reasons:
            return Decision(ClaimOutcome.REFUSED, tuple(reasons), tuple(rules))
        return Decision(ClaimOutcome.WARRANTY_REPAIR, (), tuple(rules))

    if assessment.cause in EXCLUSIONS:
        rules.append("C3")
        reasons.append(EXCLUSIONS[assessment.cause])
    elif flyaway:
        rules.append("C6")
        if assessment.service_mode is not ServiceMode.STANDARD:
            reasons.append(ClaimRefusal.EXPRESS_NOT_FOR_FLYAWAY)  # X2
        if not plan.flyaway_eligible:
            reasons.append(ClaimRefusal.FLYAWAY_NOT_ELIGIBLE)
        if not assessment.flight_record_provided:
            reasons.append(ClaimRefusal.FLYAWAY_WITHOUT_FLIGHT_RECORD)
        if plan.flyaways_left <= 0:
            reasons.append(ClaimRefusal.FLYAWAY_LIMIT_REACHED)
        if not _bound_before(assessment.account_bound_at, assessment.incident_at) or not (
            _bound_before(assessment.remote_controller_bound_at, assessment.incident_at)
        ):
            reasons.append(ClaimRefusal.FLYAWAY_APP_BINDING_MISSING)  # X2
    else:
        rules.append("C2")

    rules.append("C5")
    if plan.replacements_left <= 0:
        reasons.append(ClaimRefusal.NO_REPLACEMENTS_LEFT)
    if reasons:
        return Decision(ClaimOutcome.REFUSED, tuple(reasons), tuple(rules))
    if assessment.customer_choice is CustomerChoice.PAID_REPAIR:
        # C5: recorded as the customer's choice; the plan keeps its replacement.
        return Decision(ClaimOutcome.PAID_REPAIR_CHOSEN, (), tuple(rules), flyaway=flyaway)
    return Decision(
        ClaimOutcome.REPLACEMENT, (), tuple(rules), uses_replacement=True, flyaway=flyaway
    )


def _bound_before(bound_at: datetime | None, incident_at: datetime) -> bool:
    return bound_at is not None and bound_at < incident_at


FRAUD_FOUND = "FRAUD_FOUND"


class PreAuthorisationCapture(StrEnum):
    UNIT_NOT_RECEIVED_IN_TIME = "UNIT_NOT_RECEIVED_IN_TIME"
    SN_MISMATCH = "SN_MISMATCH"
    BATTERY_MISSING = "BATTERY_MISSING"


def check_express_unit(
    *, reported_sn: str, unit_sn: str | None, battery_present: bool
) -> tuple[PreAuthorisationCapture, ...]:
    """X3: the reasons to capture an express premium pre-authorisation in full; none: release."""
    reasons = []
    if unit_sn != reported_sn:
        reasons.append(PreAuthorisationCapture.SN_MISMATCH)
    if not battery_present:
        reasons.append(PreAuthorisationCapture.BATTERY_MISSING)
    return tuple(reasons)


K = TypeVar("K")
K_co = TypeVar("K_co", covariant=True)


class Keyed(Protocol[K_co]):
    @property
    def key(self) -> K_co: ...


V = TypeVar("V", bound=Keyed[Any])


@dataclass(frozen=True)
class Outgoing:
    """An event a decision emits: its payload, the key it travels under, and its thread (the
    case or the incident). `envelope` only where one payload travels in two event types."""

    payload: Payload
    key: str
    correlation_id: str
    envelope: type[Envelope] | None = None


@dataclass
class Rows(Generic[K, V]):
    """The rows of one table a batch works on: as it found them, and as its decisions left them.

    Decisions are taken one event after the other against `now`, so two events on one key in a
    batch see each other exactly as they would in two batches.
    """

    found: dict[K, V]
    now: dict[K, V] = field(init=False)

    def __post_init__(self) -> None:
        self.now = dict(self.found)

    @classmethod
    def of(cls, rows: Iterable[V]) -> Rows[K, V]:
        return cls({row.key: row for row in rows})

    def get(self, key: K) -> V | None:
        return self.now.get(key)

    def put(self, *rows: V) -> None:
        for row in rows:
            self.now[row.key] = row

    def new(self) -> list[V]:
        return [row for key, row in self.now.items() if key not in self.found]

    def changed(self) -> list[V]:
        return [
            row for key, row in self.now.items() if key in self.found and self.found[key] != row
        ]

    def touched(self) -> list[V]:
        return self.new() + self.changed()
