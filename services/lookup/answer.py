"""The lookup's answer for one SN (X5): the JSON document the HTTP API returns and the CLI reads."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.claims import RepairSplit


class CoverState(StrEnum):
    """Where a plan, or one of its terms, stands at the moment of the lookup (C9, C10)."""

    ACTIVE = "active"
    EXHAUSTED = "exhausted"  # C9: the term used all its replacements
    EXPIRED = "expired"  # C9: the term ended
    UPCOMING = "upcoming"  # a renewal bought ahead: it starts when the current term ends (A3)
    TERMINATED = "terminated"  # C10: ended by a reviewer after fraud


class ReplacementStatus(StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"
    SHIPMENT_REQUESTED = "shipment_requested"
    DISPATCHED = "dispatched"
    RECALL_REQUESTED = "recall_requested"  # C10: fraud ended the plan; the warehouse is asked
    CANCELLED = "cancelled"  # C10: the warehouse stopped the unit
    ALREADY_DISPATCHED = "already_dispatched"  # C10: it had left; the customer owes its value


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class MoneyOut(_Out):
    """M1: an exact decimal amount as a string, with its ISO 4217 currency."""

    amount: str = Field(examples=["239.00"])
    currency: str = Field(examples=["USD"])


class AgriculturalOut(_Out):
    """An AG term's cover (P4-P6, C7): its two quotas, full and what is left, never mixed."""

    plan_year: int = Field(description="P4: 1 for the first year, 2 or 3 for a renewal")
    base_quota: MoneyOut = Field(description="P5: insurer-funded, for body repairs")
    base_quota_left: MoneyOut
    consumables_quota: MoneyOut = Field(description="P5: manufacturer-funded, consumables")
    consumables_quota_left: MoneyOut
    deductible_rate: str = Field(
        examples=["0.05"], description="C7: share of a base-quota line the customer pays"
    )
    insurer: str
    liability_cover: bool = Field(description="P6: third-party liability gifted with the drone")


class AccessoryState(StrEnum):
    ASSOCIATED = "associated"  # G1: covered by the drone's plan
    MOVED = "moved"  # F3: followed the plan to the replacement unit
    RELEASED = "released"  # G3: never covered again


class AccessoryOut(_Out):
    """An accessory associated with the SN (G1), released from it (G3) or moved on (F3)."""

    accessory_sn: str
    accessory_type: str
    state: AccessoryState
    associated_at: datetime | None
    inherited_from_sn: str | None = Field(description="F3: came with the plan from this drone")
    replaced_sn: str | None = Field(description="G3: the accessory it took the place of")
    released_at: datetime | None
    replaced_by_sn: str | None = Field(description="G3: the accessory that took its place")
    moved_to_sn: str | None = Field(description="F3: the drone it followed the plan to")


ENDED_AT = "C9: when the term ended, as the plan ledger announced it (TermEnded)"
END_REASON = (
    "C9: why: TERM_EXPIRED, RENEWAL_TOOK_OVER (A4), REPLACEMENTS_USED or BASE_QUOTA_REACHED"
)


class TermOut(_Out):
    term_no: int
    sku: str
    plan_name: str
    plan_code: str | None
    term_start: datetime
    term_end: datetime
    state: CoverState
    replacements_total: int | None
    flyaways_total: int | None
    replacements_left: int
    flyaways_left: int
    agricultural: AgriculturalOut | None = None
    ended_at: datetime | None = Field(default=None, description=ENDED_AT)
    end_reason: str | None = Field(default=None, description=END_REASON, examples=["TERM_EXPIRED"])


class TerminationOut(_Out):
    at: datetime
    case_id: str | None
    reason_codes: list[str]


class PlanOut(_Out):
    """The plan the SN holds now, with the term in view (in force, else the latest begun)."""

    plan_id: uuid.UUID
    sku: str
    plan_name: str
    region: str
    family: str = Field(default="consumer", description="D2: consumer or agricultural")
    state: CoverState
    activated_at: datetime | None = Field(description="When the plan was bound to a device (A1)")
    term_no: int
    term_start: datetime
    term_end: datetime
    ended_at: datetime | None = Field(default=None, description=ENDED_AT)
    end_reason: str | None = Field(default=None, description=END_REASON, examples=["TERM_EXPIRED"])
    replacements_left: int
    flyaways_left: int
    replacements_total: int | None
    flyaways_total: int | None
    coverage_end: datetime = Field(description="The end of the plan's last term (A3)")
    serials: list[str] = Field(description="Every SN the plan has been on, the first first (F3)")
    terms: list[TermOut]
    terminated: TerminationOut | None = None
    agricultural: AgriculturalOut | None = Field(
        default=None, description="AG plans: the term in view's quotas and cover (P4-P6, C7)"
    )


class SerialLink(_Out):
    """One side of a replacement: the other unit, the case, and when the swap was dispatched."""

    sn: str
    case_id: str
    at: datetime | None


class LedgerOut(_Out):
    """Coverage's answer to an approved replacement: applied, or refused with reasons (C5, C9)."""

    state: str
    reason_codes: list[str]
    term_no: int | None = Field(default=None, description="AG: the term whose quotas paid")
    split: RepairSplit | None = Field(
        default=None, description="AG C7: what the ledger actually took, against the balances"
    )


class InsurerClaimOut(_Out):
    """C8: the repair's base-quota part as claimed from the term's insurer, and where it is."""

    insurer: str
    state: str = Field(description="reported, accepted, paid, rejected or withdrawn (C10)")
    base_quota_amount: MoneyOut | None
    paid: MoneyOut | None
    bordereau: str | None = Field(
        description="M2: the month (YYYY-MM, Asia/Shanghai) of the insurer's bordereau that lists"
        " the repair: the month the ledger took it"
    )


class ReversalOut(_Out):
    """C10: a reviewer found fraud and reversed the case."""

    at: datetime
    reason_codes: list[str]
    customer_owes: MoneyOut | None


class ClaimOut(_Out):
    case_id: str
    sn: str | None
    cause: str | None
    incident_at: datetime | None
    decided_at: datetime | None
    outcome: str
    reason_codes: list[str]
    rules_applied: list[str]
    flyaway: bool
    fee: MoneyOut | None
    fee_schedule: str | None = Field(description="The fee schedule that priced the fee (P2)")
    service_mode: str | None = Field(description="standard, express_basic or express_premium (X3)")
    ledger: LedgerOut | None
    reversal: ReversalOut | None
    family: str | None = None
    accessory_sn: str | None = Field(default=None, description="G4: the claim was on it")
    repair_split: RepairSplit | None = Field(
        default=None, description="AG C7: the split line by line as claims quoted it"
    )
    final_outcome: str | None = Field(
        default=None,
        description="The case's fate (ClaimFinalised): the decision's outcome, or refused when "
        "the ledger refused what claims approved; None until the ledger answered",
    )
    final_reason_codes: list[str] = Field(
        default_factory=list, description="Why the case was refused in the end, by whom below"
    )
    final_refused_by: str | None = Field(default=None, description="claims or ledger")
    insurer_claim: InsurerClaimOut | None = Field(
        default=None, description="AG C8: the base-quota part claimed from the insurer"
    )


class ShipmentOut(_Out):
    shipment_id: uuid.UUID
    ship_to_region: str | None
    customer_pays_shipping: bool | None = Field(description="F1: regions differ")
    requested_at: datetime | None
    dispatched_at: datetime | None


class ShippingChargesOut(_Out):
    shipping: MoneyOut
    customs: MoneyOut
    settlement: Literal["owed", "paid", "billed_on_delivery"] = Field(
        description="F1: owed until the unit ships; then paid before it, or billed on delivery"
    )


class ReplacementOut(_Out):
    case_id: str
    old_sn: str
    new_sn: str | None
    status: ReplacementStatus
    plan_moved: bool = Field(description="F3: coverage moved the plan to the new SN")
    term_no: int | None
    flyaway: bool | None
    fee: MoneyOut | None
    customer_owes: MoneyOut | None = Field(
        default=None, description="C10: the value of a unit that left on a plan ended for fraud"
    )
    shipping_charges: ShippingChargesOut | None = Field(
        default=None, description="F1: None when the plan's region ships free"
    )
    replaced_at: datetime | None
    shipment: ShipmentOut | None


class RefundOut(_Out):
    """F1, X3: a payment given back: an express basic fee of a case refused, or a fee paid
    twice; settled once payments says the money is back."""

    case_id: str
    payment_id: str
    amount: MoneyOut | None
    reason: str | None = Field(description="CLAIM_REFUSED or FEE_PAID_TWICE")
    requested_at: datetime | None
    settled_at: datetime | None = Field(description="None until payments settles it")


class WaitingOut(_Out):
    """An event a service keeps until what it depends on arrives, e.g. an assessment read
    before its plan; at its deadline it is answered as it stands."""

    service: str
    dependency: str = Field(description="What it waits for, e.g. plan-of-assessment")
    key: str = Field(description="The SN, plan code or case it waits on")
    event_type: str | None
    since: datetime | None
    deadline: datetime | None


class AddressChangeRefusedOut(_Out):
    request_id: str
    refused_at: datetime | None
    reason_code: Literal["PACK_ADDRESS_FIXED"] = "PACK_ADDRESS_FIXED"


class PackOut(_Out):
    """F4: the consumables pack of a designated AG renewal."""

    plan_code: str
    plan_year: int | None
    state: Literal["scheduled", "held", "not_decided"]
    due_by: datetime | None
    weekdays_only_after: date | None = Field(
        description="The working-day calendar's last day, when the 30 working days ran past it"
        " and the days after it were counted as weekdays alone"
    )
    reason_code: str | None = Field(description="Why it is held, e.g. PACK_ADDRESS_MISSING")
    address_change_refused: AddressChangeRefusedOut | None = Field(
        description="The latest request to change the address given at purchase (refused)"
    )


class LookupAnswer(_Out):
    """X5: what the platform knows of one SN, from its own events."""

    sn: str
    model: str | None
    activated_at: datetime | None = Field(description="The device's own first activation")
    warranty_end: datetime | None = Field(
        description="First activation + the catalogue's warranty months; a replacement unit "
        "keeps the original unit's (F3)"
    )
    warranty_from_sn: str | None = Field(description="The SN whose first activation counts")
    plan: PlanOut | None = Field(description="None when the SN holds no plan, e.g. replaced (F3)")
    replaced_by: SerialLink | None
    replacement_of: SerialLink | None
    claims: list[ClaimOut]
    replacements: list[ReplacementOut]
    accessories: list[AccessoryOut] = Field(
        default_factory=list, description="AG accessories of this drone (G1, G3, F3)"
    )
    refunds: list[RefundOut] = Field(
        default_factory=list, description="Payments of its cases given back (F1, X3)"
    )
    packs: list[PackOut] = Field(
        default_factory=list, description="F4: consumables packs of the plan's AG renewals"
    )
    waiting: list[WaitingOut] = Field(
        default_factory=list,
        description="Events about this SN, its plan codes or cases that a service keeps "
        "until what they depend on arrives",
    )
    as_of: datetime


class Problem(_Out):
    detail: str
