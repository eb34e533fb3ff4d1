"""The lookup's projection (X5): how each event the lookup reads changes the read model's rows.

Events of one plan arrive in order on the coverage and fulfilment topics (keyed by plan id),
but the six topics interleave in any order. So each event fills in only what it knows, keyed by
SN, plan id or case id, and never needs a row another topic writes: the first value seen for a
fact stays, what is left on a term only ever goes down, and a claim's decision is the latest one.

A batch's rows are loaded first (`touched_by` names them), every event is applied to them here
in order, and the rows changed are saved once: two events on one row in one batch leave it as
they would one batch apiece.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar, cast

from contracts.activation import (
    AccessoryAssociated,
    AccessoryAssociatedPayload,
    AccessoryReleased,
    AccessoryReleasedPayload,
    PlanActivated,
    PlanActivatedPayload,
    PlanRenewed,
    PlanRenewedPayload,
)
from contracts.agricultural import AgriculturalTerm
from contracts.claims import (
    ClaimDecided,
    ClaimDecidedPayload,
    ClaimFinalised,
    ClaimFinalisedPayload,
    ClaimReversed,
    ClaimReversedPayload,
)
from contracts.coverage import (
    CoverageExtended,
    CoverageExtendedPayload,
    CoverageOpened,
    CoverageOpenedPayload,
    DeductionApplied,
    DeductionAppliedPayload,
    DeductionRefused,
    DeductionRefusedPayload,
    PlanExhausted,
    PlanExhaustedPayload,
    PlanInherited,
    PlanInheritedPayload,
    PlanTerminated,
    PlanTerminatedPayload,
    QuotaDeductionApplied,
    QuotaDeductionAppliedPayload,
    TermEnded,
    TermEndedPayload,
)
from contracts.envelope import Envelope
from contracts.fulfilment import (
    ConsumablesPackHeld,
    ConsumablesPackHeldPayload,
    ConsumablesPackScheduled,
    ConsumablesPackScheduledPayload,
    DeviceReplaced,
    DeviceReplacedPayload,
    PackAddressChangeRefused,
    PackAddressChangeRefusedPayload,
    RefundRequested,
    ShipmentCancellationRequested,
    ShipmentCancellationRequestedPayload,
    ShipmentRecallConcluded,
    ShipmentRecallConcludedPayload,
    ShipmentRequested,
    ShipmentRequestedPayload,
    ShippingChargesQuoted,
    ShippingChargesQuotedPayload,
)
from contracts.insurer import (
    InsurerClaimAnswered,
    InsurerClaimAnsweredPayload,
    InsurerClaimReported,
    InsurerClaimReportedPayload,
    InsurerClaimWithdrawn,
    LiabilityClaimAnswered,
    LiabilityClaimAnsweredPayload,
    LiabilityClaimReported,
    LiabilityClaimReportedPayload,
)
from contracts.upstream import (
    AssessmentReported,
    AssessmentReportedPayload,
    DeviceActivated,
    DeviceActivatedPayload,
    ExpressReplacementRequested,
    ExpressReplacementRequestedPayload,
    RefundSettled,
)
from services.lookup.domain import (
    AccessoryRecord,
    CaseRecord,
    DeviceRecord,
    PackRecord,
    RefundRecord,
    ReplacementRecord,
)
from services.lookup.domain_bordereau import InsurerClaimRow


@dataclass(frozen=True)
class PlanRow:
    """A plan as activation (its binding) and coverage (its opening and end) know it."""

    plan_id: uuid.UUID
    original_sn: str
    model: str
    sku: str
    region: str
    plan_code: str | None = None
    activated_at: datetime | None = None
    purchased_at: datetime | None = None
    terminated_at: datetime | None = None
    termination_case: str | None = None
    termination_codes: tuple[str, ...] | None = None
    family: str | None = None


@dataclass(frozen=True)
class TermRow:
    """A term (A3): totals from activation (P1), what is left from coverage; an AG term's cover
    (P4-P6) and what is left of its quotas (P5)."""

    plan_id: uuid.UUID
    term_no: int
    sku: str
    term_start: datetime
    term_end: datetime
    plan_code: str | None = None
    replacements_total: int | None = None
    flyaways_total: int | None = None
    replacements_left: int | None = None
    flyaways_left: int | None = None
    exhausted: bool = False
    plan_year: int | None = None
    base_quota: Decimal | None = None
    consumables_quota: Decimal | None = None
    quota_currency: str | None = None
    deductible_rate: Decimal | None = None
    insurer: str | None = None
    liability_cover: bool | None = None
    base_quota_left: Decimal | None = None
    consumables_quota_left: Decimal | None = None
    ended_at: datetime | None = None  # C9: as the ledger announced it (TermEnded)
    end_reason: str | None = None


@dataclass
class Touched:
    """The keys of the rows a batch's events may change."""

    sns: set[str] = field(default_factory=set)
    plan_ids: set[uuid.UUID] = field(default_factory=set)
    term_plan_ids: set[uuid.UUID] = field(default_factory=set)
    case_ids: set[str] = field(default_factory=set)
    replacement_case_ids: set[str] = field(default_factory=set)
    accessory_sns: set[str] = field(default_factory=set)
    insurer_claim_ids: set[str] = field(default_factory=set)
    refund_ids: set[uuid.UUID] = field(default_factory=set)
    pack_codes: set[str] = field(default_factory=set)


def touched_by(events: Iterable[Envelope]) -> Touched:
    """Which rows each event of `apply` reads or writes."""
    touched = Touched()
    for event in events:
        match event:
            case DeviceActivated(payload=device):
                touched.sns.add(device.sn)
            case PlanActivated(payload=plan):
                touched.plan_ids.add(plan.plan_id)
                touched.term_plan_ids.add(plan.plan_id)
            case CoverageOpened(payload=plan):
                touched.plan_ids.add(plan.plan_id)
                touched.term_plan_ids.add(plan.plan_id)
            case PlanTerminated(payload=terminated):
                touched.plan_ids.add(terminated.plan_id)
            case PlanRenewed(payload=term) | CoverageExtended(payload=term):
                touched.term_plan_ids.add(term.plan_id)
            case PlanExhausted(payload=exhausted):
                touched.term_plan_ids.add(exhausted.plan_id)
            case TermEnded(payload=ended):
                touched.term_plan_ids.add(ended.plan_id)
            case QuotaDeductionApplied(payload=taken):
                touched.term_plan_ids.add(taken.plan_id)
                touched.case_ids.add(taken.case_id)
            case DeductionApplied(payload=deduction):
                touched.term_plan_ids.add(deduction.plan_id)
                touched.case_ids.add(deduction.case_id)
                touched.replacement_case_ids.add(deduction.case_id)
            case (
                DeductionRefused(payload=case)
                | AssessmentReported(payload=case)
                | ExpressReplacementRequested(payload=case)
                | ClaimDecided(payload=case)
                | ClaimFinalised(payload=case)
                | ClaimReversed(payload=case)
            ):
                touched.case_ids.add(case.case_id)
            case (
                PlanInherited(payload=replacement)
                | ShipmentRequested(payload=replacement)
                | ShippingChargesQuoted(payload=replacement)
                | DeviceReplaced(payload=replacement)
                | ShipmentCancellationRequested(payload=replacement)
                | ShipmentRecallConcluded(payload=replacement)
            ):
                touched.replacement_case_ids.add(replacement.case_id)
            case AccessoryAssociated(payload=accessory) | AccessoryReleased(payload=accessory):
                touched.accessory_sns.add(accessory.accessory_sn)
            case (
                InsurerClaimReported(payload=claim)
                | InsurerClaimWithdrawn(payload=claim)
                | InsurerClaimAnswered(payload=claim)
            ):
                touched.insurer_claim_ids.add(claim.case_id)
            case LiabilityClaimReported(payload=claim) | LiabilityClaimAnswered(payload=claim):
                touched.insurer_claim_ids.add(claim.incident_id)
            case RefundRequested(payload=refund) | RefundSettled(payload=refund):
                touched.refund_ids.add(refund.refund_id)
            case (
                ConsumablesPackScheduled(payload=pack)
                | ConsumablesPackHeld(payload=pack)
                | PackAddressChangeRefused(payload=pack)
            ):
                touched.pack_codes.add(pack.plan_code)
    return touched


K = TypeVar("K")
R = TypeVar("R")
Ordered = TypeVar("Ordered", int, Decimal, datetime)


@dataclass
class Rows(Generic[K, R]):
    """The loaded rows of one table by key, and the keys of those the batch changed."""

    by_key: dict[K, R]
    changed: set[K] = field(default_factory=set)

    def get(self, key: K) -> R | None:
        return self.by_key.get(key)

    def put(self, key: K, row: R) -> None:
        self.by_key[key] = row
        self.changed.add(key)


def _first(old: Any, new: Any) -> Any:
    """The first value seen stays (SQL COALESCE)."""
    return old if old is not None else new


def _least(old: Ordered | None, new: Ordered | None) -> Ordered | None:
    """What only goes down: the smallest value seen, a missing one ignored (SQL LEAST)."""
    if old is None or new is None:
        return new if old is None else old
    return min(old, new)


def _filled_in(old: R | None, new: R, columns: Sequence[str]) -> R:
    """`old` with each of `columns` it does not know yet taken from `new`; `new` when there
    is no `old` yet."""
    if old is None:
        return new
    filled = {column: _first(getattr(old, column), getattr(new, column)) for column in columns}
    return cast(R, replace(cast(Any, old), **filled))


_REPLACEMENT_FACTS = tuple(
    f.name for f in fields(ReplacementRecord) if f.name not in {"case_id", "plan_id", "old_sn"}
)
_REFUND_FACTS = ("amount", "currency", "reason", "requested_at", "settled_at")
_ACCESSORY_ASSOCIATION = ("associated_at", "inherited_from_sn", "replaced_sn")
_ACCESSORY_RELEASE = ("released_at", "replaced_by_sn")
_CASE_REPORT = ("sn", "model", "cause", "incident_at", "assessed_at")
_TERMINATION = ("terminated_at", "termination_case", "termination_codes")
# What the platform reported of a claim; its withdrawal and the insurer's answer are other
# events' columns.
_CLAIM_REPORT = tuple(
    f.name
    for f in fields(InsurerClaimRow)
    if f.name not in {"claim_id", "kind", "insurer", "withdrawn_at"}
    and f.name not in {"answer", "answered_at", "paid_amount", "answer_reason"}
)
# C8, L4: a claim only moves forward; rejected and paid are final.
_ANSWER_RANK = {"accepted": 1, "rejected": 2, "paid": 2}
_PACK_FACTS = tuple(f.name for f in fields(PackRecord) if f.name != "plan_code")


@dataclass
class ReadModel:
    """The rows of the read model a batch touches, as its events leave them."""

    devices: Rows[str, DeviceRecord]
    plans: Rows[uuid.UUID, PlanRow]
    terms: Rows[tuple[uuid.UUID, int], TermRow]
    cases: Rows[str, CaseRecord]
    replacements: Rows[str, ReplacementRecord]
    accessories: Rows[tuple[str, str], AccessoryRecord]
    insurer_claims: Rows[str, InsurerClaimRow]
    refunds: Rows[uuid.UUID, RefundRecord]
    packs: Rows[str, PackRecord]

    def apply(self, event: Envelope) -> None:
        """Project one event; events that change nothing the lookup shows are passed by."""
        match event:
            case DeviceActivated(payload=device):
                self._device_activated(device)
            case PlanActivated(payload=plan):
                self._plan_activated(plan)
            case PlanRenewed(payload=renewal):
                self._plan_renewed(renewal)
            case AccessoryAssociated(payload=association):
                self._accessory_associated(association)
            case AccessoryReleased(payload=release):
                self._accessory_released(release)
            case CoverageOpened(payload=opened):
                self._coverage_opened(opened)
            case CoverageExtended(payload=extended):
                self._coverage_extended(extended)
            case QuotaDeductionApplied(payload=taken):
                self._quota_taken(taken, event.occurred_at)
            case DeductionApplied(payload=deduction):
                self._deduction_applied(deduction, event.occurred_at)
            case DeductionRefused(payload=refusal):
                self._deduction_refused(refusal)
            case PlanExhausted(payload=exhausted):
                self._term_exhausted(exhausted)
            case TermEnded(payload=ended):
                self._term_ended(ended)
            case PlanTerminated(payload=terminated):
                self._plan_terminated(terminated, event.occurred_at)
            case PlanInherited(payload=inherited):
                self._plan_inherited(inherited, event.occurred_at)
            case AssessmentReported(payload=report):
                self._assessed(report)
            case ExpressReplacementRequested(payload=request):
                self._express_requested(request)
            case ClaimDecided(payload=claim):
                self._claim_decided(claim, event.occurred_at)
            case ClaimFinalised(payload=final):
                self._claim_finalised(final)
            case ClaimReversed(payload=reversal):
                self._claim_reversed(reversal, event.occurred_at)
            case ShippingChargesQuoted(payload=quote):
                self._shipping_quoted(quote)
            case ShipmentRequested(payload=shipment):
                self._shipment_requested(shipment, event.occurred_at)
            case DeviceReplaced(payload=replaced):
                self._device_replaced(replaced)
            case InsurerClaimReported(payload=claim):
                self._insurer_claim_reported(claim, event.occurred_at)
            case LiabilityClaimReported(payload=claim):
                self._liability_claim_reported(claim, event.occurred_at)
            case InsurerClaimWithdrawn(payload=withdrawal):
                self._insurer_claim_withdrawn(withdrawal.case_id, withdrawal.insurer, event)
            case InsurerClaimAnswered(payload=answer):
                self._insurer_answered(answer)
            case LiabilityClaimAnswered(payload=answer):
                self._insurer_answered(answer)
            case ShipmentCancellationRequested(payload=recall):
                self._recall_requested(recall, event.occurred_at)
            case ShipmentRecallConcluded(payload=concluded):
                self._recall_concluded(concluded)
            case RefundRequested(payload=requested):
                self._refund(
                    RefundRecord(
                        requested.refund_id,
                        requested.case_id,
                        requested.payment_id,
                        amount=requested.amount.amount,
                        currency=requested.amount.currency,
                        reason=requested.reason.value,
                        requested_at=event.occurred_at,
                    )
                )
            case RefundSettled(payload=settled):
                self._refund(
                    RefundRecord(
                        settled.refund_id,
                        settled.case_id,
                        settled.payment_id,
                        settled_at=settled.settled_at,
                    )
                )
            case ConsumablesPackScheduled(payload=scheduled):
                self._pack_scheduled(scheduled)
            case ConsumablesPackHeld(payload=held):
                self._pack_held(held)
            case PackAddressChangeRefused(payload=refused):
                self._pack_address_change_refused(refused, event.occurred_at)

    # Devices ------------------------------------------------------------------------------

    def _device_activated(self, device: DeviceActivatedPayload) -> None:
        """The device's first activation starts its warranty; a later report never moves it."""
        known = self.devices.get(device.sn)
        first = DeviceRecord(device.sn, device.model, device.activated_at)
        if known is not None:
            first = replace(
                known, first_activated_at=min(known.first_activated_at, first.first_activated_at)
            )
        self.devices.put(device.sn, first)

    # Plans and terms: activation ----------------------------------------------------------

    def _plan_activated(self, plan: PlanActivatedPayload) -> None:
        """A1: activation's binding names the plan code, its dates and its family; A3, P1: its
        first term with its allowance."""
        bound = PlanRow(
            plan.plan_id,
            plan.sn,
            plan.model,
            plan.sku,
            plan.region,
            plan_code=plan.plan_code,
            activated_at=plan.term_start,
            purchased_at=plan.purchased_at,
            family=plan.family.value,
        )
        known = self.plans.get(plan.plan_id)
        if known is not None:
            bound = replace(
                known,
                plan_code=bound.plan_code,
                activated_at=bound.activated_at,
                purchased_at=bound.purchased_at,
                family=bound.family,
            )
        self.plans.put(plan.plan_id, bound)
        self._term_bought(
            TermRow(plan.plan_id, 1, plan.sku, plan.term_start, plan.term_end),
            plan.plan_code,
            (plan.replacements, plan.flyaways),
        )
        self._cover_set(plan.plan_id, 1, plan.agricultural)

    def _plan_renewed(self, renewal: PlanRenewedPayload) -> None:
        """A3, X1, A4: a renewal adds a term with its allowance (and an AG term's cover)."""
        self._term_bought(
            TermRow(
                renewal.plan_id,
                renewal.term_no,
                renewal.sku,
                renewal.term_start,
                renewal.term_end,
            ),
            renewal.plan_code,
            (renewal.replacements, renewal.flyaways),
        )
        self._cover_set(renewal.plan_id, renewal.term_no, renewal.agricultural)
        self._previous_term_ended(renewal.plan_id, renewal.term_no, renewal.previous_term_ends_at)

    def _term_bought(self, term: TermRow, plan_code: str, allowance: tuple[int, int]) -> None:
        """A3, P1: the term activation bound, with its plan code and allowance."""
        known = self.terms.get((term.plan_id, term.term_no))
        replacements, flyaways = allowance
        self.terms.put(
            (term.plan_id, term.term_no),
            replace(
                known or term,
                plan_code=plan_code,
                replacements_total=replacements,
                flyaways_total=flyaways,
            ),
        )

    def _cover_set(self, plan_id: uuid.UUID, term_no: int, cover: AgriculturalTerm | None) -> None:
        """P4-P6, C7: an AG term's year, quotas, deductible, insurer and liability cover. The row
        exists: the caller has just written it. What is left is coverage's, never set here."""
        term = self.terms.get((plan_id, term_no))
        if cover is None or term is None:
            return
        self.terms.put(
            (plan_id, term_no),
            replace(
                term,
                plan_year=cover.plan_year,
                base_quota=cover.base_quota.amount,
                consumables_quota=cover.consumables_quota.amount,
                quota_currency=cover.base_quota.currency,
                deductible_rate=cover.deductible_rate,
                insurer=cover.insurer,
                liability_cover=cover.liability_cover,
            ),
        )

    def _previous_term_ended(
        self, plan_id: uuid.UUID, term_no: int, ends_at: datetime | None
    ) -> None:
        """A4: an AG renewal bought before expiry ends the previous term at its purchase."""
        previous = self.terms.get((plan_id, term_no - 1))
        if ends_at is None or previous is None:
            return
        self.terms.put(
            (plan_id, term_no - 1), replace(previous, term_end=min(previous.term_end, ends_at))
        )

    # Plans and terms: the ledger ----------------------------------------------------------

    def _coverage_opened(self, opened: CoverageOpenedPayload) -> None:
        """The ledger opened the plan's first term; the family is the first one seen (D2)."""
        plan = PlanRow(
            opened.plan_id,
            opened.sn,
            opened.model,
            opened.sku,
            opened.region,
            family=opened.family.value,
        )
        self.plans.put(
            opened.plan_id, _filled_in(self.plans.get(opened.plan_id), plan, ("family",))
        )
        self._term_left(
            TermRow(opened.plan_id, 1, opened.sku, opened.term_start, opened.term_end),
            (opened.replacements_left, opened.flyaways_left),
            opened.agricultural,
        )

    def _coverage_extended(self, extended: CoverageExtendedPayload) -> None:
        """A3, A4: the ledger opened a further term; an early AG renewal ends the one before."""
        self._term_left(
            TermRow(
                extended.plan_id,
                extended.term_no,
                extended.sku,
                extended.term_start,
                extended.term_end,
            ),
            (extended.replacements_left, extended.flyaways_left),
            extended.agricultural,
        )
        self._previous_term_ended(
            extended.plan_id, extended.term_no, extended.previous_term_ends_at
        )

    def _term_left(
        self, term: TermRow, left: tuple[int, int], cover: AgriculturalTerm | None
    ) -> None:
        """C5, C6: what the ledger leaves on a term only goes down; P5: it opened an AG term
        with its full quotas."""
        key = (term.plan_id, term.term_no)
        self.terms.put(key, self.terms.get(key) or term)
        replacements, flyaways = left
        self._taken_off_term(key, replacements_left=replacements, flyaways_left=flyaways)
        if cover is not None:
            self._cover_set(term.plan_id, term.term_no, cover)
            self._taken_off_term(
                key,
                base_quota_left=cover.base_quota.amount,
                consumables_quota_left=cover.consumables_quota.amount,
            )

    def _taken_off_term(self, key: tuple[uuid.UUID, int], **left: int | Decimal) -> None:
        """C5, C6, C9, P5: what is left on a term is the smallest value the ledger gave."""
        term = self.terms.get(key)
        if term is None:
            return
        lower: dict[str, Any] = {
            column: _least(getattr(term, column), value) for column, value in left.items()
        }
        self.terms.put(key, replace(term, **lower))

    def _quota_taken(self, taken: QuotaDeductionAppliedPayload, at: datetime) -> None:
        """P5, C7: the ledger took a repair's split off the AG term's quotas."""
        self._taken_off_term(
            (taken.plan_id, taken.term_no),
            base_quota_left=taken.base_quota_left.amount,
            consumables_quota_left=taken.consumables_quota_left.amount,
        )
        self._ledger_answered(
            CaseRecord(
                taken.case_id,
                sn=taken.sn,
                plan_id=taken.plan_id,
                ledger_state="applied",
                ledger_split=taken.split,
                ledger_term_no=taken.term_no,
                ledger_at=at,
            )
        )

    def _deduction_applied(self, deduction: DeductionAppliedPayload, at: datetime) -> None:
        """C5, C6: the ledger took a replacement off the term; F1: the replacement's fee."""
        self._taken_off_term(
            (deduction.plan_id, deduction.term_no),
            replacements_left=deduction.replacements_left,
            flyaways_left=deduction.flyaways_left,
        )
        self._ledger_answered(
            CaseRecord(
                deduction.case_id,
                sn=deduction.sn,
                plan_id=deduction.plan_id,
                ledger_state="applied",
            )
        )
        self._replacement(
            ReplacementRecord(
                case_id=deduction.case_id,
                plan_id=deduction.plan_id,
                old_sn=deduction.sn,
                term_no=deduction.term_no,
                flyaway=deduction.flyaway,
                fee_amount=deduction.fee.amount,
                fee_currency=deduction.fee.currency,
                deducted_at=at,
            )
        )

    def _deduction_refused(self, refusal: DeductionRefusedPayload) -> None:
        """C9: the ledger refused the case, and why."""
        self._ledger_answered(
            CaseRecord(
                refusal.case_id,
                plan_id=refusal.plan_id,
                ledger_state="refused",
                ledger_reason_codes=tuple(refusal.reason_codes),
            )
        )

    def _term_exhausted(self, exhausted: PlanExhaustedPayload) -> None:
        """C5: nothing is left on the term."""
        key = (exhausted.plan_id, exhausted.term_no)
        term = self.terms.get(key)
        if term is not None:
            self.terms.put(key, replace(term, exhausted=True))

    def _term_ended(self, ended: TermEndedPayload) -> None:
        """C9: the term ended then, for that reason; a term used up is exhausted as well."""
        key = (ended.plan_id, ended.term_no)
        term = self.terms.get(key)
        if term is not None:
            used_up = ended.reason.used_up
            self.terms.put(
                key,
                replace(
                    term,
                    term_end=min(term.term_end, ended.ended_at) if not used_up else term.term_end,
                    exhausted=term.exhausted or used_up,
                    ended_at=ended.ended_at,
                    end_reason=ended.reason.value,
                ),
            )

    def _plan_terminated(self, terminated: PlanTerminatedPayload, at: datetime) -> None:
        """C10: the plan ended for fraud; the first termination seen stays."""
        known = self.plans.get(terminated.plan_id)
        if known is None:
            return
        ended = replace(
            known,
            terminated_at=at,
            termination_case=terminated.case_id,
            termination_codes=tuple(terminated.reason_codes),
        )
        self.plans.put(known.plan_id, _filled_in(known, ended, _TERMINATION))

    def _plan_inherited(self, inherited: PlanInheritedPayload, at: datetime) -> None:
        """F3: the plan moved to the replacement unit."""
        self._replacement(
            ReplacementRecord(
                case_id=inherited.case_id,
                plan_id=inherited.plan_id,
                old_sn=inherited.old_sn,
                new_sn=inherited.new_sn,
                inherited_at=at,
            )
        )

    # Cases --------------------------------------------------------------------------------

    def _ledger_answered(self, answer: CaseRecord) -> None:
        """C9: the ledger's latest answer to a case (applied or refused), and its split."""
        known = self.cases.get(answer.case_id)
        if known is not None:
            answer = replace(
                known,
                plan_id=_first(known.plan_id, answer.plan_id),
                sn=_first(known.sn, answer.sn),
                ledger_state=answer.ledger_state,
                ledger_reason_codes=answer.ledger_reason_codes,
                ledger_split=_first(answer.ledger_split, known.ledger_split),
                ledger_term_no=_first(answer.ledger_term_no, known.ledger_term_no),
                ledger_at=_first(answer.ledger_at, known.ledger_at),
            )
        self.cases.put(answer.case_id, answer)

    def _assessed(self, report: AssessmentReportedPayload) -> None:
        """The cause of a case, from the repair centre's assessment."""
        self._case_reported(
            CaseRecord(
                report.case_id,
                sn=report.reported_sn,
                model=report.model,
                cause=report.cause.value,
                incident_at=report.incident_at,
                assessed_at=report.assessed_at,
            )
        )

    def _express_requested(self, request: ExpressReplacementRequestedPayload) -> None:
        """X3: the cause of an express case, from its request."""
        self._case_reported(
            CaseRecord(
                request.case_id,
                sn=request.sn,
                model=request.model,
                cause=request.cause.value,
                incident_at=request.incident_at,
                assessed_at=request.requested_at,
            )
        )

    def _case_reported(self, report: CaseRecord) -> None:
        """A case re-sent by the repair system keeps what was reported first."""
        known = self.cases.get(report.case_id)
        self.cases.put(report.case_id, _filled_in(known, report, _CASE_REPORT))

    def _claim_decided(self, claim: ClaimDecidedPayload, at: datetime) -> None:
        """C1-C6, X4, P2: the decision on a case with its reasons and fee; a review's new
        decision replaces the one before."""
        known = self.cases.get(claim.case_id) or CaseRecord(claim.case_id)
        self.cases.put(
            claim.case_id,
            replace(
                known,
                sn=claim.sn,
                plan_id=_first(claim.plan_id, known.plan_id),
                model=claim.model,
                incident_at=claim.incident_at,
                outcome=claim.outcome.value,
                decided_at=at,
                reason_codes=tuple(claim.reason_codes),
                rules_applied=tuple(claim.rules_applied),
                flyaway=claim.flyaway,
                fee_amount=claim.fee.amount if claim.fee else None,
                fee_currency=claim.fee.currency if claim.fee else None,
                fee_schedule=claim.fee_schedule,
                service_mode=claim.service_mode.value,
                family=claim.family.value,
                accessory_sn=claim.accessory_sn,
                quoted_split=claim.repair_split,
            ),
        )

    def _claim_finalised(self, final: ClaimFinalisedPayload) -> None:
        """The case's fate, told once by claims: its outcome in the end and why it was refused."""
        known = self.cases.get(final.case_id) or CaseRecord(final.case_id)
        self.cases.put(
            final.case_id,
            replace(
                known,
                sn=_first(known.sn, final.sn),
                plan_id=_first(known.plan_id, final.plan_id),
                final_outcome=final.outcome.value,
                final_reason_codes=tuple(final.reason_codes),
                final_refused_by=final.refused_by.value if final.refused_by else None,
            ),
        )

    def _claim_reversed(self, reversal: ClaimReversedPayload, at: datetime) -> None:
        """C10: the decision reversed on review, and what the customer owes."""
        known = self.cases.get(reversal.case_id) or CaseRecord(reversal.case_id)
        self.cases.put(
            reversal.case_id,
            replace(
                known,
                sn=_first(known.sn, reversal.sn),
                plan_id=_first(known.plan_id, reversal.plan_id),
                reversed_at=at,
                reversal_codes=tuple(reversal.reason_codes),
                owed_amount=reversal.customer_owes.amount,
                owed_currency=reversal.customer_owes.currency,
            ),
        )

    # Replacements and accessories ---------------------------------------------------------

    def _shipment_requested(self, shipment: ShipmentRequestedPayload, at: datetime) -> None:
        """F1: the shipment and who pays for it."""
        self._replacement(
            ReplacementRecord(
                case_id=shipment.case_id,
                plan_id=shipment.plan_id,
                old_sn=shipment.old_sn,
                shipment_id=shipment.shipment_id,
                ship_to_region=shipment.ship_to_region,
                customer_pays_shipping=shipment.customer_pays_shipping,
                shipping_settlement=(
                    shipment.shipping_charges.settlement if shipment.shipping_charges else None
                ),
                shipment_requested_at=at,
            )
        )

    def _shipping_quoted(self, quote: ShippingChargesQuotedPayload) -> None:
        """F1: the shipping and customs a replacement outside the plan's region costs."""
        self._replacement(
            ReplacementRecord(
                case_id=quote.case_id,
                plan_id=quote.plan_id,
                old_sn=quote.old_sn,
                ship_to_region=quote.ship_to_region,
                shipping_amount=quote.shipping.amount,
                customs_amount=quote.customs.amount,
                charges_currency=quote.shipping.currency,
            )
        )

    def _device_replaced(self, replaced: DeviceReplacedPayload) -> None:
        """F3: old SN -> new SN when the replacement is dispatched."""
        self._replacement(
            ReplacementRecord(
                case_id=replaced.case_id,
                plan_id=replaced.plan_id,
                old_sn=replaced.old_sn,
                new_sn=replaced.new_sn,
                shipment_id=replaced.shipment_id,
                dispatched_at=replaced.dispatched_at,
            )
        )

    def _recall_requested(self, recall: ShipmentCancellationRequestedPayload, at: datetime) -> None:
        """C10: fraud ended the plan while the unit was requested; the warehouse is asked."""
        self._replacement(
            ReplacementRecord(
                case_id=recall.case_id,
                plan_id=recall.plan_id,
                old_sn=recall.old_sn,
                shipment_id=recall.shipment_id,
                recall_requested_at=at,
            )
        )

    def _recall_concluded(self, concluded: ShipmentRecallConcludedPayload) -> None:
        """C10: the unit was stopped, or had left and is owed at its value."""
        owed = concluded.customer_owes
        self._replacement(
            ReplacementRecord(
                case_id=concluded.case_id,
                plan_id=concluded.plan_id,
                old_sn=concluded.old_sn,
                new_sn=concluded.new_sn,
                shipment_id=concluded.shipment_id,
                recall_outcome=concluded.outcome.value,
                recall_concluded_at=concluded.concluded_at,
                owed_amount=owed.amount if owed else None,
                owed_currency=owed.currency if owed else None,
            )
        )

    def _refund(self, facts: RefundRecord) -> None:
        """F1, X3: a refund asked, then settled, in either order; the first value seen stays."""
        known = self.refunds.get(facts.refund_id)
        self.refunds.put(facts.refund_id, _filled_in(known, facts, _REFUND_FACTS))

    def _replacement(self, facts: ReplacementRecord) -> None:
        """F1, F3: what one event knows of a replacement case; the first value seen stays."""
        known = self.replacements.get(facts.case_id)
        self.replacements.put(facts.case_id, _filled_in(known, facts, _REPLACEMENT_FACTS))

    def _pack_scheduled(self, pack: ConsumablesPackScheduledPayload) -> None:
        """F4: the pack and its due date, and whether it was counted past the calendar."""
        self._pack(
            PackRecord(
                pack.plan_code,
                plan_id=pack.plan_id,
                pack_id=pack.pack_id,
                plan_year=pack.plan_year,
                state="scheduled",
                due_by=pack.due_by,
                weekdays_only_after=pack.weekdays_only_after,
            )
        )

    def _pack_held(self, pack: ConsumablesPackHeldPayload) -> None:
        """F4: a pack that cannot be scheduled, and why."""
        self._pack(
            PackRecord(
                pack.plan_code,
                plan_id=pack.plan_id,
                plan_year=pack.plan_year,
                state="held",
                reason_code=pack.reason_code,
            )
        )

    def _pack_address_change_refused(
        self, refused: PackAddressChangeRefusedPayload, at: datetime
    ) -> None:
        """F4: the latest address change refused (PACK_ADDRESS_FIXED) replaces the one before."""
        known = self.packs.get(refused.plan_code) or PackRecord(refused.plan_code)
        self.packs.put(
            refused.plan_code,
            replace(
                known,
                plan_id=_first(known.plan_id, refused.plan_id),
                address_change_request=refused.request_id,
                address_change_refused_at=at,
            ),
        )

    def _pack(self, facts: PackRecord) -> None:
        known = self.packs.get(facts.plan_code)
        self.packs.put(facts.plan_code, _filled_in(known, facts, _PACK_FACTS))

    def _accessory_associated(self, association: AccessoryAssociatedPayload) -> None:
        """G1, F3: an accessory associated with a drone, or moved with the plan to a new one."""
        self._accessory(
            AccessoryRecord(
                association.accessory_sn,
                association.drone_sn,
                association.accessory_type.value,
                associated_at=association.associated_at,
                inherited_from_sn=association.inherited_from_sn,
                replaced_sn=association.replaced_accessory_sn,
            ),
            _ACCESSORY_ASSOCIATION,
        )

    def _accessory_released(self, release: AccessoryReleasedPayload) -> None:
        """G3: an accessory released from a drone; one projected first still lands."""
        self._accessory(
            AccessoryRecord(
                release.accessory_sn,
                release.drone_sn,
                release.accessory_type.value,
                released_at=release.released_at,
                replaced_by_sn=release.replaced_by_sn,
            ),
            _ACCESSORY_RELEASE,
        )

    def _accessory(self, facts: AccessoryRecord, columns: Sequence[str]) -> None:
        key = (facts.accessory_sn, facts.drone_sn)
        self.accessories.put(key, _filled_in(self.accessories.get(key), facts, columns))

    # Insurers: the claims reported to them and their answers (C8, L4) ---------------------

    def _insurer_claim_reported(self, claim: InsurerClaimReportedPayload, at: datetime) -> None:
        """C8: the base-quota part of a repair, reported to the term's insurer."""
        self._insurer_claim(
            InsurerClaimRow(
                claim.case_id,
                "base_quota",
                claim.insurer,
                plan_id=claim.plan_id,
                term_no=claim.term_no,
                policy_no=claim.policy_no,
                sn=claim.sn,
                model=claim.model,
                incident_date=claim.incident_date,
                reported_at=at,
                currency=claim.base_quota_amount.currency,
                base_quota_amount=claim.base_quota_amount.amount,
                deductible=claim.deductible.amount,
            ),
            _CLAIM_REPORT,
        )

    def _liability_claim_reported(self, claim: LiabilityClaimReportedPayload, at: datetime) -> None:
        """L1-L4: a liability incident routed to the model's insurer with its limits."""
        self._insurer_claim(
            InsurerClaimRow(
                claim.incident_id,
                "liability",
                claim.insurer,
                plan_id=claim.plan_id,
                term_no=claim.term_no,
                policy_no=claim.policy_no,
                sn=claim.drone_sn,
                model=claim.model,
                incident_date=claim.incident_date,
                reported_at=at,
                currency=claim.claimed_amount.currency,
                deductible=claim.deductible.amount,
                liability_kind=claim.kind.value,
                claimed_amount=claim.claimed_amount.amount,
                limit_amount=claim.limit.amount,
                limit_left=claim.limit_left.amount,
                total_limit_left=claim.total_limit_left.amount,
                medical_sublimit=claim.medical_sublimit.amount if claim.medical_sublimit else None,
                indicative_payable=claim.indicative_payable.amount,
            ),
            _CLAIM_REPORT,
        )

    def _insurer_claim_withdrawn(self, case_id: str, insurer: str, event: Envelope) -> None:
        """C10: a reversed case's claim is withdrawn; the first withdrawal seen stays."""
        self._insurer_claim(
            InsurerClaimRow(case_id, "base_quota", insurer, withdrawn_at=event.occurred_at),
            ("withdrawn_at",),
        )

    def _insurer_answered(
        self, answer: InsurerClaimAnsweredPayload | LiabilityClaimAnsweredPayload
    ) -> None:
        """C8, L4: the insurer's answer. A claim only moves forward (accepted, then paid or
        rejected), so a late or repeated answer keeps the one that went furthest."""
        if isinstance(answer, InsurerClaimAnsweredPayload):
            claim_id, kind, paid = answer.case_id, "base_quota", answer.amount
        else:
            claim_id, kind, paid = answer.incident_id, "liability", answer.settled_amount
        known = self.insurer_claims.get(claim_id) or InsurerClaimRow(claim_id, kind, answer.insurer)
        if _ANSWER_RANK[answer.answer.value] <= _ANSWER_RANK.get(known.answer or "", 0):
            return
        self.insurer_claims.put(
            claim_id,
            replace(
                known,
                answer=answer.answer.value,
                answered_at=answer.answered_at,
                paid_amount=paid.amount if paid else known.paid_amount,
                currency=_first(known.currency, paid.currency if paid else None),
                answer_reason=answer.reason,
            ),
        )

    def _insurer_claim(self, facts: InsurerClaimRow, columns: Sequence[str]) -> None:
        known = self.insurer_claims.get(facts.claim_id)
        self.insurer_claims.put(facts.claim_id, _filled_in(known, facts, columns))
