"""The lookup by SN (X5, F3, A3, C9): pure functions from the read model's records to the answer.

The read model keeps what each topic said, keyed by SN, plan id and case id. Which plan an SN
holds now, which term is in view, what state it is in and when the warranty ends are decided
here, at the moment of the lookup, so the projection never has to know the order its events
arrived in.
"""

from __future__ import annotations

import calendar
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from contracts.claims import RepairSplit
from contracts.waiting import EventWaiting, WaitingEvent
from services.lookup.answer import (
    AccessoryOut,
    AccessoryState,
    AddressChangeRefusedOut,
    AgriculturalOut,
    ClaimOut,
    CoverState,
    InsurerClaimOut,
    LedgerOut,
    LookupAnswer,
    MoneyOut,
    PackOut,
    PlanOut,
    RefundOut,
    ReplacementOut,
    ReplacementStatus,
    ReversalOut,
    SerialLink,
    ShipmentOut,
    ShippingChargesOut,
    TerminationOut,
    TermOut,
    WaitingOut,
)
from services.lookup.domain_bordereau import InsurerClaimRow, bordereau_month

# --------------------------------------------------------------------------------------------
# What the read model holds
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceRecord:
    sn: str
    model: str
    first_activated_at: datetime


@dataclass(frozen=True)
class AgriculturalTermRecord:
    """An AG term's cover (P4-P6) and, once coverage has spoken, what is left of its quotas."""

    plan_year: int
    base_quota: Decimal
    consumables_quota: Decimal
    currency: str
    deductible_rate: Decimal
    insurer: str
    liability_cover: bool
    base_quota_left: Decimal | None = None  # None until coverage has spoken
    consumables_quota_left: Decimal | None = None


@dataclass(frozen=True)
class TermRecord:
    term_no: int
    sku: str
    term_start: datetime
    term_end: datetime
    plan_code: str | None = None
    replacements_total: int | None = None  # from activation (P1)
    flyaways_total: int | None = None
    replacements_left: int | None = None  # from coverage; None until coverage has spoken
    flyaways_left: int | None = None
    exhausted: bool = False
    agricultural: AgriculturalTermRecord | None = None
    ended_at: datetime | None = None  # C9: when the ledger announced its end, and why
    end_reason: str | None = None


@dataclass(frozen=True)
class PlanRecord:
    plan_id: uuid.UUID
    original_sn: str
    model: str
    sku: str
    region: str
    terms: tuple[TermRecord, ...]
    activated_at: datetime | None = None
    terminated_at: datetime | None = None
    termination_case: str | None = None
    termination_codes: tuple[str, ...] = ()
    family: str | None = None


@dataclass(frozen=True)
class CaseRecord:
    case_id: str
    sn: str | None = None
    plan_id: uuid.UUID | None = None
    outcome: str | None = None  # None until claims has decided
    model: str | None = None
    cause: str | None = None
    incident_at: datetime | None = None
    assessed_at: datetime | None = None
    decided_at: datetime | None = None
    reason_codes: tuple[str, ...] = ()
    rules_applied: tuple[str, ...] = ()
    flyaway: bool = False
    fee_amount: Decimal | None = None
    fee_currency: str | None = None
    fee_schedule: str | None = None
    service_mode: str | None = None
    ledger_state: str | None = None
    ledger_reason_codes: tuple[str, ...] = ()
    reversed_at: datetime | None = None
    reversal_codes: tuple[str, ...] = ()
    owed_amount: Decimal | None = None
    owed_currency: str | None = None
    family: str | None = None
    accessory_sn: str | None = None
    quoted_split: RepairSplit | None = None  # AG C7: as claims quoted it
    ledger_split: RepairSplit | None = None  # AG C7: what the ledger took
    ledger_term_no: int | None = None
    ledger_at: datetime | None = None  # AG C7: when the ledger took the split (the bordereau)
    final_outcome: str | None = None  # the case's fate, from ClaimFinalised
    final_reason_codes: tuple[str, ...] = ()
    final_refused_by: str | None = None


@dataclass(frozen=True)
class ReplacementRecord:
    case_id: str
    plan_id: uuid.UUID
    old_sn: str
    new_sn: str | None = None
    term_no: int | None = None
    flyaway: bool | None = None
    fee_amount: Decimal | None = None
    fee_currency: str | None = None
    deducted_at: datetime | None = None
    shipment_id: uuid.UUID | None = None
    ship_to_region: str | None = None
    customer_pays_shipping: bool | None = None
    shipping_amount: Decimal | None = None  # F1: outside the plan's region
    customs_amount: Decimal | None = None
    charges_currency: str | None = None
    shipping_settlement: str | None = None  # paid or billed_on_delivery, once it ships
    shipment_requested_at: datetime | None = None
    dispatched_at: datetime | None = None
    inherited_at: datetime | None = None  # coverage moved the plan to new_sn (F3)
    recall_requested_at: datetime | None = None  # C10: the warehouse asked to stop the unit
    recall_outcome: str | None = None  # C10: cancelled, or already_dispatched
    recall_concluded_at: datetime | None = None
    owed_amount: Decimal | None = None  # C10: the value of a unit that left after all
    owed_currency: str | None = None


@dataclass(frozen=True)
class RefundRecord:
    """F1, X3: a payment of a case given back: asked by fulfilment, settled by payments."""

    refund_id: uuid.UUID
    case_id: str
    payment_id: str
    amount: Decimal | None = None
    currency: str | None = None
    reason: str | None = None
    requested_at: datetime | None = None
    settled_at: datetime | None = None


@dataclass(frozen=True)
class PackRecord:
    """F4: the consumables pack of a designated AG renewal, by its plan code."""

    plan_code: str
    plan_id: uuid.UUID | None = None
    pack_id: uuid.UUID | None = None
    plan_year: int | None = None
    state: str | None = None  # scheduled or held
    due_by: datetime | None = None
    weekdays_only_after: date | None = None  # the calendar's last day, when counted past it
    reason_code: str | None = None  # why it is held
    address_change_request: str | None = None  # the latest change refused PACK_ADDRESS_FIXED
    address_change_refused_at: datetime | None = None


@dataclass(frozen=True)
class AccessoryRecord:
    """One accessory on one drone (G1, G3); a move with the plan is a row on the new drone."""

    accessory_sn: str
    drone_sn: str
    accessory_type: str
    associated_at: datetime | None = None
    inherited_from_sn: str | None = None
    replaced_sn: str | None = None
    released_at: datetime | None = None
    replaced_by_sn: str | None = None


@dataclass(frozen=True)
class Findings:
    """Everything the read model holds that touches one SN."""

    sn: str
    devices: Mapping[str, DeviceRecord]  # the SN's own, and its plans' original units'
    plans: Sequence[PlanRecord]  # every plan the SN was ever on
    cases: Sequence[CaseRecord]  # cases on the SN, and on those plans
    replacements: Sequence[ReplacementRecord]  # of those plans, or naming the SN
    accessories: Sequence[AccessoryRecord] = ()  # on the SN, and those rows' other drones
    waits: Sequence[WaitRecord] = ()  # events kept for the SN, its plan codes or its cases
    insurer_claims: Mapping[str, InsurerClaimRow] = field(default_factory=dict)  # by case id
    refunds: Sequence[RefundRecord] = ()  # of its cases
    packs: Sequence[PackRecord] = ()  # F4: of those plans' renewals


@dataclass(frozen=True)
class WaitEnded:
    """A wait over: the event was decided, or answered at its deadline."""

    event_id: uuid.UUID
    service: str
    dependency: str
    key: str
    ended: str
    at: datetime


@dataclass(frozen=True)
class WaitRecord:
    """An event a service keeps until what it depends on arrives (shared.waiting)."""

    event_id: uuid.UUID
    service: str
    dependency: str
    key: str
    event_type: str | None
    since: datetime | None
    deadline: datetime | None


# --------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------


def add_months(moment: datetime, months: int) -> datetime:
    """The same wall-clock time `months` later, clamped to the month's last day."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def warranty_end(first_activation: datetime, warranty_months: int) -> datetime:
    """X5: the official warranty runs from the device's first activation."""
    return add_months(first_activation, warranty_months)


def serial_chain(original_sn: str, replacements: Iterable[ReplacementRecord]) -> list[str]:
    """F3: the SNs a plan has been on, from the original through each move coverage made.

    Only a `PlanInherited` moves a plan (the ledger has the last word); the moves may have been
    projected in any order, so the chain is followed from the original SN.
    """
    moves = {r.old_sn: r.new_sn for r in replacements if r.inherited_at is not None and r.new_sn}
    chain = [original_sn]
    while chain[-1] in moves and moves[chain[-1]] not in chain:
        chain.append(moves[chain[-1]])
    return chain


def term_state(term: TermRecord, now: datetime) -> CoverState:
    """C9: a term is over when it expires or when it has used all its replacements."""
    if now < term.term_start:
        return CoverState.UPCOMING
    if now >= term.term_end:  # an announced end (TermEnded) set it, when earlier
        return CoverState.EXPIRED
    if term.agricultural is not None:  # C9: an AG term ends when its base quota is spent
        left = base_quota_left(term.agricultural)
        return CoverState.EXHAUSTED if term.exhausted or left <= 0 else CoverState.ACTIVE
    if term.exhausted or replacements_left(term) <= 0:
        return CoverState.EXHAUSTED
    return CoverState.ACTIVE


def term_in_view(terms: Sequence[TermRecord], now: datetime) -> TermRecord:
    """The term in force; else the latest one that has begun; else the first one to come."""
    ordered = sorted(terms, key=lambda term: term.term_no)
    if not ordered:
        raise ValueError("a plan has at least one term")
    begun = [term for term in ordered if term.term_start <= now]
    in_force = [term for term in begun if now < term.term_end]
    if in_force:
        return in_force[-1]
    return begun[-1] if begun else ordered[0]


def plan_state(plan: PlanRecord, now: datetime) -> CoverState:
    if plan.terminated_at is not None and plan.terminated_at <= now:
        return CoverState.TERMINATED  # C10
    return term_state(term_in_view(plan.terms, now), now)


def replacements_left(term: TermRecord) -> int:
    """What coverage says is left; before coverage has spoken, the plan's full allowance."""
    if term.replacements_left is not None:
        return term.replacements_left
    return term.replacements_total or 0


def base_quota_left(cover: AgriculturalTermRecord) -> Decimal:
    """What coverage says is left of the base quota; before it has spoken, the full quota."""
    return cover.base_quota if cover.base_quota_left is None else cover.base_quota_left


def consumables_quota_left(cover: AgriculturalTermRecord) -> Decimal:
    if cover.consumables_quota_left is None:
        return cover.consumables_quota
    return cover.consumables_quota_left


def rate_text(rate: Decimal) -> str:
    """A rate as exact text with at least two decimals: 0.05, 0.075, 0.10."""
    digits = f"{rate:.4f}".rstrip("0")
    whole, _, fraction = digits.partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}"


def accessory_state(record: AccessoryRecord, moved_to: str | None) -> AccessoryState:
    """G3: a release is final; F3: an association that followed the plan left this drone."""
    if record.released_at is not None:
        return AccessoryState.RELEASED
    if moved_to is not None:
        return AccessoryState.MOVED
    return AccessoryState.ASSOCIATED


def flyaways_left(term: TermRecord) -> int:
    if term.flyaways_left is not None:
        return term.flyaways_left
    return min(term.flyaways_total or 0, replacements_left(term))


def replacement_status(replacement: ReplacementRecord) -> ReplacementStatus:
    if replacement.recall_outcome is not None:
        return ReplacementStatus(replacement.recall_outcome)
    if replacement.recall_requested_at is not None:
        return ReplacementStatus.RECALL_REQUESTED
    if replacement.new_sn is not None:
        return ReplacementStatus.DISPATCHED
    if replacement.shipment_id is not None:
        return ReplacementStatus.SHIPMENT_REQUESTED
    return ReplacementStatus.AWAITING_PAYMENT


# --------------------------------------------------------------------------------------------
# The answer
# --------------------------------------------------------------------------------------------


def assemble(
    found: Findings,
    *,
    now: datetime,
    warranty_months: int,
    plan_names: Mapping[str, str],
) -> LookupAnswer | None:
    """X5: the answer for `found.sn`, or None when the platform has never heard of it."""
    sn = found.sn
    device = found.devices.get(sn)
    own_cases = [case for case in found.cases if case.sn == sn]
    naming = [r for r in found.replacements if sn in (r.old_sn, r.new_sn)]
    if device is None and not found.plans and not own_cases and not naming and not found.waits:
        return None

    by_plan: dict[uuid.UUID, list[ReplacementRecord]] = defaultdict(list)
    for replacement in found.replacements:
        by_plan[replacement.plan_id].append(replacement)
    chains = {
        plan.plan_id: serial_chain(plan.original_sn, by_plan[plan.plan_id]) for plan in found.plans
    }

    # F3: the SN holds a plan only while it is the last SN of the plan's chain.
    holding = [plan for plan in found.plans if chains[plan.plan_id][-1] == sn]
    plan = max(holding, key=_plan_began, default=None)
    lineage = plan or next(
        (p for p in found.plans if sn in chains[p.plan_id] or _named_by(p, naming)), None
    )

    # F3: a replacement unit keeps the original unit's remaining warranty.
    warranty_sn = lineage.original_sn if lineage else sn
    warranty_device = found.devices.get(warranty_sn)

    if plan is not None:
        cases = [c for c in found.cases if c.plan_id == plan.plan_id or c.sn == sn]
        replacements = by_plan[plan.plan_id]
    else:
        cases, replacements = own_cases, naming

    replaced_by = max(
        (r for r in naming if r.old_sn == sn and r.new_sn is not None),
        key=_replacement_moment,
        default=None,
    )
    replacement_of = next((r for r in naming if r.new_sn == sn), None)
    if device is not None:
        model: str | None = device.model
    elif lineage is not None:
        model = lineage.model
    else:
        model = next((case.model for case in own_cases if case.model), None)
    return LookupAnswer(
        sn=sn,
        model=model,
        activated_at=device.first_activated_at if device else None,
        warranty_end=(
            warranty_end(warranty_device.first_activated_at, warranty_months)
            if warranty_device
            else None
        ),
        warranty_from_sn=warranty_sn if warranty_device else None,
        plan=(_plan_out(plan, chains[plan.plan_id], now, plan_names) if plan is not None else None),
        replaced_by=(
            SerialLink(
                sn=replaced_by.new_sn,
                case_id=replaced_by.case_id,
                at=replaced_by.dispatched_at or replaced_by.inherited_at,
            )
            if replaced_by is not None and replaced_by.new_sn is not None
            else None
        ),
        replacement_of=(
            SerialLink(
                sn=replacement_of.old_sn,
                case_id=replacement_of.case_id,
                at=replacement_of.dispatched_at or replacement_of.inherited_at,
            )
            if replacement_of is not None
            else None
        ),
        claims=[
            _claim_out(case, found.insurer_claims.get(case.case_id))
            for case in sorted(cases, key=_case_moment)
            if case.outcome is not None
        ],
        replacements=[_replacement_out(r) for r in sorted(replacements, key=_replacement_moment)],
        accessories=_accessories_out(sn, found.accessories),
        refunds=[
            RefundOut(
                case_id=r.case_id,
                payment_id=r.payment_id,
                amount=_money(r.amount, r.currency),
                reason=r.reason,
                requested_at=r.requested_at,
                settled_at=r.settled_at,
            )
            for r in sorted(found.refunds, key=lambda r: (r.case_id, r.payment_id))
        ],
        packs=[_pack_out(pack) for pack in sorted(found.packs, key=lambda p: p.plan_year or 0)],
        waiting=[
            WaitingOut(
                service=wait.service,
                dependency=wait.dependency,
                key=wait.key,
                event_type=wait.event_type,
                since=wait.since,
                deadline=wait.deadline,
            )
            for wait in sorted(found.waits, key=lambda wait: (wait.since or now, wait.key))
        ],
        as_of=now,
    )


def _pack_out(pack: PackRecord) -> PackOut:
    """F4: the pack, its due date (and whether it was counted past the calendar), and the
    latest address change refused."""
    return PackOut(
        plan_code=pack.plan_code,
        plan_year=pack.plan_year,
        state=pack.state or "not_decided",
        due_by=pack.due_by,
        weekdays_only_after=pack.weekdays_only_after,
        reason_code=pack.reason_code,
        address_change_refused=(
            AddressChangeRefusedOut(
                request_id=pack.address_change_request, refused_at=pack.address_change_refused_at
            )
            if pack.address_change_request is not None
            else None
        ),
    )


def _accessories_out(sn: str, records: Iterable[AccessoryRecord]) -> list[AccessoryOut]:
    """The SN's accessories: associated first, then those moved on or released, each by time."""
    records = list(records)
    moves = {
        (r.accessory_sn, r.inherited_from_sn): r.drone_sn for r in records if r.inherited_from_sn
    }
    shown = []
    for record in records:
        if record.drone_sn != sn:
            continue
        moved_to = moves.get((record.accessory_sn, sn))
        shown.append(
            AccessoryOut(
                accessory_sn=record.accessory_sn,
                accessory_type=record.accessory_type,
                state=accessory_state(record, moved_to),
                associated_at=record.associated_at,
                inherited_from_sn=record.inherited_from_sn,
                replaced_sn=record.replaced_sn,
                released_at=record.released_at,
                replaced_by_sn=record.replaced_by_sn,
                moved_to_sn=moved_to,
            )
        )
    order = list(AccessoryState)
    return sorted(
        shown,
        key=lambda a: (order.index(a.state), a.associated_at or _EPOCH, a.accessory_sn),
    )


def _agricultural_out(cover: AgriculturalTermRecord | None) -> AgriculturalOut | None:
    if cover is None:
        return None
    return AgriculturalOut(
        plan_year=cover.plan_year,
        base_quota=MoneyOut(amount=f"{cover.base_quota:.2f}", currency=cover.currency),
        base_quota_left=MoneyOut(amount=f"{base_quota_left(cover):.2f}", currency=cover.currency),
        consumables_quota=MoneyOut(
            amount=f"{cover.consumables_quota:.2f}", currency=cover.currency
        ),
        consumables_quota_left=MoneyOut(
            amount=f"{consumables_quota_left(cover):.2f}", currency=cover.currency
        ),
        deductible_rate=rate_text(cover.deductible_rate),
        insurer=cover.insurer,
        liability_cover=cover.liability_cover,
    )


def _named_by(plan: PlanRecord, naming: Iterable[ReplacementRecord]) -> bool:
    return any(r.plan_id == plan.plan_id for r in naming)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _plan_began(plan: PlanRecord) -> datetime:
    return plan.activated_at or min(term.term_start for term in plan.terms)


def _case_moment(case: CaseRecord) -> tuple[datetime, str]:
    return (case.incident_at or case.decided_at or _EPOCH, case.case_id)


def _replacement_moment(r: ReplacementRecord) -> tuple[datetime, str]:
    moment = r.deducted_at or r.shipment_requested_at or r.dispatched_at or r.inherited_at
    return (moment or _EPOCH, r.case_id)


def _money(amount: Decimal | None, currency: str | None) -> MoneyOut | None:
    if amount is None or currency is None:
        return None
    return MoneyOut(amount=f"{amount:.2f}", currency=currency)


def _term_out(term: TermRecord, now: datetime, plan_names: Mapping[str, str]) -> TermOut:
    return TermOut(
        term_no=term.term_no,
        sku=term.sku,
        plan_name=plan_names.get(term.sku, term.sku),
        plan_code=term.plan_code,
        term_start=term.term_start,
        term_end=term.term_end,
        state=term_state(term, now),
        replacements_total=term.replacements_total,
        flyaways_total=term.flyaways_total,
        replacements_left=replacements_left(term),
        flyaways_left=flyaways_left(term),
        agricultural=_agricultural_out(term.agricultural),
        ended_at=term.ended_at,
        end_reason=term.end_reason,
    )


def _plan_out(
    plan: PlanRecord, serials: list[str], now: datetime, plan_names: Mapping[str, str]
) -> PlanOut:
    term = term_in_view(plan.terms, now)
    return PlanOut(
        plan_id=plan.plan_id,
        sku=term.sku,
        plan_name=plan_names.get(term.sku, term.sku),
        region=plan.region,
        family=plan.family or ("agricultural" if term.agricultural else "consumer"),
        state=plan_state(plan, now),
        activated_at=plan.activated_at,
        term_no=term.term_no,
        term_start=term.term_start,
        term_end=term.term_end,
        ended_at=term.ended_at,
        end_reason=term.end_reason,
        replacements_left=replacements_left(term),
        flyaways_left=flyaways_left(term),
        replacements_total=term.replacements_total,
        flyaways_total=term.flyaways_total,
        coverage_end=max(t.term_end for t in plan.terms),
        serials=serials,
        terms=[_term_out(t, now, plan_names) for t in sorted(plan.terms, key=lambda t: t.term_no)],
        terminated=(
            TerminationOut(
                at=plan.terminated_at,
                case_id=plan.termination_case,
                reason_codes=list(plan.termination_codes),
            )
            if plan.terminated_at is not None
            else None
        ),
        agricultural=_agricultural_out(term.agricultural),
    )


def _insurer_claim_out(case: CaseRecord, claim: InsurerClaimRow | None) -> InsurerClaimOut | None:
    """C8: the claim on the insurer, with the bordereau month of the ledger's deduction (M2)."""
    if claim is None or claim.kind != "base_quota":
        return None
    currency = claim.currency
    return InsurerClaimOut(
        insurer=claim.insurer,
        state="withdrawn" if claim.withdrawn_at else claim.answer or "reported",
        base_quota_amount=_money(claim.base_quota_amount, currency),
        paid=_money(claim.paid_amount, currency),
        bordereau=bordereau_month(case.ledger_at) if case.ledger_at else None,
    )


def _claim_out(case: CaseRecord, claim: InsurerClaimRow | None) -> ClaimOut:
    return ClaimOut(
        case_id=case.case_id,
        sn=case.sn,
        cause=case.cause,
        incident_at=case.incident_at,
        decided_at=case.decided_at,
        outcome=case.outcome or "undecided",
        reason_codes=list(case.reason_codes),
        rules_applied=list(case.rules_applied),
        flyaway=case.flyaway,
        fee=_money(case.fee_amount, case.fee_currency),
        fee_schedule=case.fee_schedule,
        service_mode=case.service_mode,
        ledger=(
            LedgerOut(
                state=case.ledger_state,
                reason_codes=list(case.ledger_reason_codes),
                term_no=case.ledger_term_no,
                split=case.ledger_split,
            )
            if case.ledger_state is not None
            else None
        ),
        reversal=(
            ReversalOut(
                at=case.reversed_at,
                reason_codes=list(case.reversal_codes),
                customer_owes=_money(case.owed_amount, case.owed_currency),
            )
            if case.reversed_at is not None
            else None
        ),
        family=case.family,
        accessory_sn=case.accessory_sn,
        repair_split=case.quoted_split,
        final_outcome=case.final_outcome,
        final_reason_codes=list(case.final_reason_codes),
        final_refused_by=case.final_refused_by,
        insurer_claim=_insurer_claim_out(case, claim),
    )


def _replacement_out(r: ReplacementRecord) -> ReplacementOut:
    return ReplacementOut(
        case_id=r.case_id,
        old_sn=r.old_sn,
        new_sn=r.new_sn,
        status=replacement_status(r),
        plan_moved=r.inherited_at is not None,
        term_no=r.term_no,
        flyaway=r.flyaway,
        fee=_money(r.fee_amount, r.fee_currency),
        customer_owes=_money(r.owed_amount, r.owed_currency),
        shipping_charges=_shipping_charges(r),
        replaced_at=r.dispatched_at or r.inherited_at,
        shipment=(
            ShipmentOut(
                shipment_id=r.shipment_id,
                ship_to_region=r.ship_to_region,
                customer_pays_shipping=r.customer_pays_shipping,
                requested_at=r.shipment_requested_at,
                dispatched_at=r.dispatched_at,
            )
            if r.shipment_id is not None
            else None
        ),
    )


def _shipping_charges(r: ReplacementRecord) -> ShippingChargesOut | None:
    """F1: what shipping outside the plan's region costs, and whether it is still owed."""
    shipping = _money(r.shipping_amount, r.charges_currency)
    customs = _money(r.customs_amount, r.charges_currency)
    if shipping is None or customs is None:
        return None
    return ShippingChargesOut(
        shipping=shipping, customs=customs, settlement=r.shipping_settlement or "owed"
    )


def follow_waiting(
    events: Iterable[WaitingEvent],
) -> tuple[list[WaitRecord], list[WaitEnded]]:
    """What the services announced on platform.waiting.v1: waits begun, and waits over."""
    begun, over = [], []
    for event in events:
        if isinstance(event, EventWaiting):
            p = event.payload
            begun.append(
                WaitRecord(
                    p.waiting_event_id,
                    p.service,
                    p.dependency,
                    p.key,
                    p.waiting_event_type,
                    p.waiting_since,
                    p.deadline,
                )
            )
        else:
            q = event.payload
            over.append(
                WaitEnded(
                    q.waiting_event_id,
                    q.service,
                    q.dependency,
                    q.key,
                    q.ended.value,
                    event.occurred_at,
                )
            )
    return begun, over
