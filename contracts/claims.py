"""Events owned by the claims service (topic `claims.events.v1`, keyed by the reported SN)."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, model_validator

from contracts.agricultural import PlanFamily
from contracts.envelope import Envelope, Payload
from contracts.money import Money, Rate
from contracts.serials import SerialNumber
from contracts.upstream import MAX_REPAIR_LINES, ModelCode, PartClass, RegionCode, ServiceMode


class ClaimOutcome(StrEnum):
    REPLACEMENT = "replacement"
    WARRANTY_REPAIR = "warranty_repair"
    PAID_REPAIR_CHOSEN = "paid_repair_chosen"
    REFUSED = "refused"
    REPAIR = "repair"  # AG C7: a covered repair, paid line by line from the quotas


class LineCoverage(StrEnum):
    """AG C7: which balance a repair line is paid from, if any."""

    BASE_QUOTA = "base_quota"
    CONSUMABLES_QUOTA = "consumables_quota"
    NOT_COVERED = "not_covered"


class RepairLineSplit(Payload):
    """One priced line split between the quotas and the customer (C7). Exact, in one currency:
    cost = from_base_quota + from_consumables_quota + deductible + shortfall + not_covered."""

    line_id: str = Field(min_length=1, max_length=64)
    part_code: str = Field(min_length=1, max_length=100)
    part_class: PartClass
    coverage: LineCoverage
    reason_codes: list[str] = Field(
        default_factory=list, description="Why the line is not covered (C4, C7); else empty"
    )
    cost: Money = Field(description="Material plus labour")
    from_base_quota: Money
    from_consumables_quota: Money
    deductible: Money = Field(description="C7: the customer's share of a base-quota line")
    shortfall: Money = Field(description="C7: the part above the remaining balance")
    not_covered: Money

    @model_validator(mode="after")
    def _adds_up(self) -> RepairLineSplit:
        parts = (
            self.from_base_quota
            + self.from_consumables_quota
            + self.deductible
            + self.shortfall
            + self.not_covered
        )
        if parts != self.cost:
            raise ValueError(f"line {self.line_id}: the split {parts} is not the cost {self.cost}")
        return self


class RepairSplit(Payload):
    """AG C7: a repair split line by line. Quotas pay repair services, never cash (C8): every
    amount taken from a quota is part of a line's repair cost."""

    deductible_rate: Rate
    lines: list[RepairLineSplit] = Field(max_length=MAX_REPAIR_LINES)
    repair_cost: Money
    from_base_quota: Money
    from_consumables_quota: Money
    deductible: Money
    shortfall: Money
    not_covered: Money
    logistics_fee: Money
    customer_share: Money = Field(
        description="Deductible + shortfall + not covered + logistics: paid before the repair"
    )
    base_quota_before: Money = Field(description="The balance the split was computed against")
    consumables_quota_before: Money

    @model_validator(mode="after")
    def _adds_up(self) -> RepairSplit:
        zero = Money.zero(self.repair_cost.currency)
        totals = {
            "repair_cost": sum((line.cost for line in self.lines), zero),
            "from_base_quota": sum((line.from_base_quota for line in self.lines), zero),
            "from_consumables_quota": sum(
                (line.from_consumables_quota for line in self.lines), zero
            ),
            "deductible": sum((line.deductible for line in self.lines), zero),
            "shortfall": sum((line.shortfall for line in self.lines), zero),
            "not_covered": sum((line.not_covered for line in self.lines), zero),
        }
        for name, total in totals.items():
            if getattr(self, name) != total:
                raise ValueError(f"{name} {getattr(self, name)} is not the lines' sum {total}")
        share = self.deductible + self.shortfall + self.not_covered + self.logistics_fee
        if self.customer_share != share:
            raise ValueError(f"customer share {self.customer_share} is not {share}")
        if self.from_base_quota.amount > self.base_quota_before.amount or (
            self.from_consumables_quota.amount > self.consumables_quota_before.amount
        ):
            raise ValueError("a quota cannot pay more than its balance (P5)")
        return self


class ClaimDecidedPayload(Payload):
    case_id: str
    sn: SerialNumber
    model: ModelCode
    plan_id: uuid.UUID | None
    outcome: ClaimOutcome
    incident_at: AwareDatetime
    reason_codes: list[str] = Field(
        default_factory=list, description="Why a claim was refused; empty when approved"
    )
    rules_applied: list[str] = Field(
        default_factory=list, description="Rule numbers that decided the case, e.g. C1, C5"
    )
    uses_replacement: bool = False
    flyaway: bool = False
    fee: Money | None = None
    fee_schedule: str | None = Field(
        default=None, description="Version of the fee schedule that priced the replacement (P2)"
    )
    customer_region: RegionCode
    service_mode: ServiceMode = ServiceMode.STANDARD
    family: PlanFamily = PlanFamily.CONSUMER
    repair_split: RepairSplit | None = Field(
        default=None, description="AG C7: the repair split line by line, as claims quoted it"
    )
    accessory_sn: SerialNumber | None = Field(
        default=None, description="G4: the claim was on this accessory of the drone"
    )


class ClaimDecided(Envelope):
    """The adjudication of one assessment: the decision, its reasons and its money."""

    event_type: Literal["claims.claim-decided"] = "claims.claim-decided"
    payload: ClaimDecidedPayload


class RefusedBy(StrEnum):
    """Who refused a case: claims' adjudication, or the ledger that has the last word (C5, C7)."""

    CLAIMS = "claims"
    LEDGER = "ledger"


class ClaimFinalisedPayload(Payload):
    """A case's fate, once: what claims decided, or what the ledger made of an approval that
    takes from the plan. Approvals carry the amounts taken, refusals the reasons."""

    case_id: str
    decision_id: uuid.UUID = Field(description="The event id of the case's ClaimDecided")
    sn: SerialNumber
    model: ModelCode
    plan_id: uuid.UUID | None
    family: PlanFamily = PlanFamily.CONSUMER
    outcome: ClaimOutcome = Field(
        description="The decision's outcome; refused when the ledger refused what claims approved"
    )
    refused_by: RefusedBy | None = Field(default=None, description="None when not refused")
    reason_codes: list[str] = Field(
        default_factory=list, description="Claims' reasons, or the ledger's; empty when approved"
    )
    term_no: int | None = Field(default=None, description="The term the ledger took from")
    uses_replacement: bool = False
    flyaway: bool = False
    fee: Money | None = Field(default=None, description="C5, P2: the replacement's fee")
    fee_schedule: str | None = None
    repair_split: RepairSplit | None = Field(
        default=None, description="AG C7: the split as the ledger took it"
    )


class ClaimFinalised(Envelope):
    """The final outcome of a case: exactly one per case on claims.events.v1."""

    event_type: Literal["claims.claim-finalised"] = "claims.claim-finalised"
    payload: ClaimFinalisedPayload


class ClaimDecisionRepublishedPayload(Payload):
    """A case sent again with the same facts is answered again: the decision and final outcome
    it already had, with their event ids. A copy, never a second decision."""

    case_id: str
    decision_id: uuid.UUID = Field(description="The event id of the decision repeated here")
    decision: ClaimDecidedPayload
    final_outcome_id: uuid.UUID | None = Field(
        default=None, description="The event id of the case's ClaimFinalised, once it has one"
    )
    final_outcome: ClaimFinalisedPayload | None = None


class ClaimDecisionRepublished(Envelope):
    """The answer to a case re-sent unchanged: the decision already taken, published again."""

    event_type: Literal["claims.claim-decision-republished"] = "claims.claim-decision-republished"
    payload: ClaimDecisionRepublishedPayload


CASE_ALREADY_DECIDED = "CASE_ALREADY_DECIDED"


class ResubmissionRefusedPayload(Payload):
    case_id: str
    sn: SerialNumber = Field(description="The SN the case was decided on")
    decision_id: uuid.UUID = Field(description="The event id of the decision that stands")
    outcome: ClaimOutcome = Field(description="The outcome of the decision that stands")
    reason_codes: list[str] = Field(min_length=1, description="CASE_ALREADY_DECIDED")


class ResubmissionRefused(Envelope):
    """A decided case sent again with other facts: refused, the decision stands; other facts
    are a new case (its own case id), and a decision is changed only by a review (C10)."""

    event_type: Literal["claims.resubmission-refused"] = "claims.resubmission-refused"
    payload: ResubmissionRefusedPayload


class ClaimReversedPayload(Payload):
    case_id: str
    plan_id: uuid.UUID
    sn: SerialNumber
    reviewer_id: str
    reason_codes: list[str] = Field(min_length=1)
    customer_owes: Money


class ClaimReversed(Envelope):
    """A reviewer found fraud: the case is reversed, the plan ends, renewals are barred (C10)."""

    event_type: Literal["claims.claim-reversed"] = "claims.claim-reversed"
    payload: ClaimReversedPayload


class PreAuthorisationDecisionPayload(Payload):
    case_id: str
    reason_codes: list[str] = Field(
        default_factory=list, description="Why it is captured; empty when released"
    )


class PreAuthorisationCaptureRequested(Envelope):
    """X3: capture the express premium pre-authorisation in full (unit late, wrong SN or no
    battery)."""

    event_type: Literal["claims.pre-authorisation-capture-requested"] = (
        "claims.pre-authorisation-capture-requested"
    )
    payload: PreAuthorisationDecisionPayload


class PreAuthorisationReleaseRequested(Envelope):
    """X3: the damaged unit arrived whole and on time: free the pre-authorisation."""

    event_type: Literal["claims.pre-authorisation-release-requested"] = (
        "claims.pre-authorisation-release-requested"
    )
    payload: PreAuthorisationDecisionPayload


class LiabilityIncidentRefusedPayload(Payload):
    incident_id: str
    drone_sn: SerialNumber
    plan_id: uuid.UUID | None
    reason_codes: list[str] = Field(min_length=1)


class LiabilityIncidentRefused(Envelope):
    """A third-party liability incident was not routed to an insurer (L1, P6); reasons say why."""

    event_type: Literal["claims.liability-incident-refused"] = "claims.liability-incident-refused"
    payload: LiabilityIncidentRefusedPayload


ClaimsEvent = Annotated[
    ClaimDecided
    | ClaimFinalised
    | ClaimDecisionRepublished
    | ResubmissionRefused
    | ClaimReversed
    | PreAuthorisationCaptureRequested
    | PreAuthorisationReleaseRequested
    | LiabilityIncidentRefused,
    Field(discriminator="event_type"),
]
