"""What the dashboard makes of the platform's events, dead letters and offsets: pure rules."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from contracts.claims import ClaimDecided, ClaimFinalised, ClaimOutcome, ClaimReversed, RefusedBy
from contracts.coverage import (
    DeductionApplied,
    DeductionRefused,
    PlanInherited,
    QuotaDeductionApplied,
    TermEnded,
)
from contracts.envelope import Envelope
from contracts.fulfilment import DeviceReplaced, ShipmentRequested
from contracts.money import Money


class Stage(IntEnum):
    """How far a case has gone; a case shows the furthest stage any of its events reached,
    since the topics arrive in any order."""

    DECIDED = 1
    REFUSED = 2
    DEDUCTED = 3
    LEDGER_REFUSED = 4
    SHIPPING = 5
    REPLACED = 6
    INHERITED = 7
    REVERSED = 8

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", " ")


@dataclass(frozen=True)
class CaseFact:
    """What one event says about its case; None fields say nothing."""

    @property
    def currency(self) -> str | None:
        amounts = (self.fee, self.from_base_quota, self.from_consumables_quota, self.customer_share)
        return next((money.currency for money in amounts if money is not None), None)

    case_id: str
    stage: Stage
    at: datetime
    plan_id: uuid.UUID | None = None
    family: str | None = None
    outcome: str | None = None
    reasons: tuple[str, ...] = ()  # the decision's reason codes, or the final outcome's
    final: bool = False  # the case's final outcome (ClaimFinalised): what the counts count
    fee: Money | None = None
    from_base_quota: Money | None = None
    from_consumables_quota: Money | None = None
    customer_share: Money | None = None


@dataclass(frozen=True)
class TermEnd:
    """C9: a term the ledger announced ended: when, why, and when it said so."""

    plan_id: uuid.UUID
    term_no: int
    sn: str
    ended_at: datetime
    reason: str
    announced_at: datetime


def term_end(event: Envelope) -> TermEnd | None:
    if not isinstance(event, TermEnded):
        return None
    ended = event.payload
    return TermEnd(
        ended.plan_id,
        ended.term_no,
        ended.sn,
        ended.ended_at,
        ended.reason.value,
        event.occurred_at,
    )


def case_fact(event: Envelope) -> CaseFact | None:
    """The fact an event adds to its case, or None for events the dashboard does not follow."""
    at = event.occurred_at
    match event:
        case ClaimDecided(payload=decided):
            refused = decided.outcome is ClaimOutcome.REFUSED
            split = decided.repair_split
            return CaseFact(
                decided.case_id,
                Stage.REFUSED if refused else Stage.DECIDED,
                at,
                plan_id=decided.plan_id,
                family=decided.family.value,
                outcome=decided.outcome.value,
                reasons=tuple(decided.reason_codes),
                fee=decided.fee,
                customer_share=split.customer_share if split else None,
            )
        case ClaimFinalised(payload=final):
            split = final.repair_split
            return CaseFact(
                final.case_id,
                _final_stage(final.refused_by, taken=final.uses_replacement or split is not None),
                at,
                plan_id=final.plan_id,
                family=final.family.value,
                outcome=final.outcome.value,
                reasons=tuple(final.reason_codes),
                fee=final.fee,
                from_base_quota=split.from_base_quota if split else None,
                from_consumables_quota=split.from_consumables_quota if split else None,
                customer_share=split.customer_share if split else None,
                final=True,
            )
        case DeductionApplied(payload=applied):
            return CaseFact(applied.case_id, Stage.DEDUCTED, at, plan_id=applied.plan_id)
        case QuotaDeductionApplied(payload=applied):
            return CaseFact(
                applied.case_id,
                Stage.DEDUCTED,
                at,
                plan_id=applied.plan_id,
                # What the ledger actually took replaces what claims quoted.
                from_base_quota=applied.split.from_base_quota,
                from_consumables_quota=applied.split.from_consumables_quota,
                customer_share=applied.split.customer_share,
            )
        case DeductionRefused(payload=refused):
            return CaseFact(refused.case_id, Stage.LEDGER_REFUSED, at, plan_id=refused.plan_id)
        case ShipmentRequested(payload=shipment):
            return CaseFact(shipment.case_id, Stage.SHIPPING, at, plan_id=shipment.plan_id)
        case DeviceReplaced(payload=replaced):
            return CaseFact(replaced.case_id, Stage.REPLACED, at, plan_id=replaced.plan_id)
        case PlanInherited(payload=inherited):
            return CaseFact(inherited.case_id, Stage.INHERITED, at, plan_id=inherited.plan_id)
        case ClaimReversed(payload=reversed_):
            return CaseFact(reversed_.case_id, Stage.REVERSED, at, plan_id=reversed_.plan_id)
    return None


def _final_stage(refused_by: RefusedBy | None, *, taken: bool) -> Stage:
    """How far a final outcome says its case went: refused by claims or by the ledger, or
    approved, with something taken from the plan or not."""
    if refused_by is RefusedBy.LEDGER:
        return Stage.LEDGER_REFUSED
    if refused_by is RefusedBy.CLAIMS:
        return Stage.REFUSED
    return Stage.DEDUCTED if taken else Stage.DECIDED


@dataclass(frozen=True, order=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int
    end: int

    @property
    def lag(self) -> int:
        return max(self.end - self.committed, 0)


def consumer_lag(
    group: str, committed: dict[tuple[str, int], int], ends: dict[tuple[str, int], int]
) -> list[PartitionLag]:
    """Lag per partition the group has committed on: the records it has not committed past."""
    return sorted(
        PartitionLag(group, topic, partition, offset, ends.get((topic, partition), offset))
        for (topic, partition), offset in committed.items()
    )


def service_of_group(group: str) -> str | None:
    """`careplan-claims.inbound` -> `claims`; None for groups that are not a service's."""
    if group.startswith("careplan-") and group.endswith(".inbound"):
        return group.removeprefix("careplan-").removesuffix(".inbound")
    return None


@dataclass(frozen=True)
class DeadLetter:
    """One record of a dead-letter topic, as the refusing service described it."""

    topic: str
    partition: int
    offset: int
    service: str
    reason: str
    error_type: str
    original_topic: str
    original_partition: int | None
    original_offset: int | None
    failed_at: str

    @property
    def reference(self) -> str:
        """How an operator names it: `<dead-letter topic>/<partition>/<offset>`."""
        return f"{self.topic}/{self.partition}/{self.offset}"


def dead_letter(topic: str, partition: int, offset: int, headers: dict[str, str]) -> DeadLetter:
    def number(name: str) -> int | None:
        value = headers.get(name, "")
        return int(value) if value.isdigit() else None

    return DeadLetter(
        topic=topic,
        partition=partition,
        offset=offset,
        service=headers.get("dlq-service", "unknown"),
        reason=headers.get("dlq-reason", ""),
        error_type=headers.get("dlq-error-type", "unknown"),
        original_topic=headers.get("dlq-original-topic", topic.removesuffix(".dlq")),
        original_partition=number("dlq-original-partition"),
        original_offset=number("dlq-original-offset"),
        failed_at=headers.get("dlq-failed-at", ""),
    )


def replayed_headers(headers: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """A replayed record carries its original headers, without what the dead-lettering added."""
    return [(name, value) for name, value in headers if not name.startswith("dlq-")]
