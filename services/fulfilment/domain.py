"""Fulfilment rules for replacements (F1-F3, X3, C10 and its recalls, refunds) and repair returns
(F5, F2): pure functions over plain values, and the in-memory books a batch decides its
events against.

A book holds the rows of the batch's cases as the batch leaves them: each decision updates it
and returns the events it causes, so two events on one case in one batch see each other exactly
as they would one batch apiece.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from contracts.claims import ClaimFinalisedPayload, ClaimOutcome
from contracts.coverage import DeductionAppliedPayload, PlanTerminatedPayload
from contracts.envelope import Envelope, Payload
from contracts.fulfilment import (
    DeviceReplacedPayload,
    PaymentRecorded,
    PaymentRecordedPayload,
    PreAuthorisationRequestedPayload,
    RecallOutcome,
    RefundReason,
    RefundRequestedPayload,
    RepairedUnitReturnArrangedPayload,
    ShipmentCancellationRequestedPayload,
    ShipmentRecallConcludedPayload,
    ShipmentRequestedPayload,
    ShippingCharges,
    ShippingChargesQuotedPayload,
)
from contracts.money import Money
from contracts.repairs import RepairCompletedPayload
from contracts.upstream import (
    DispatchConfirmedPayload,
    PaymentSettledPayload,
    PreAuthorisationClosedPayload,
    PreAuthorisationPlacedPayload,
    RefundSettledPayload,
    ServiceMode,
    ShipmentAlreadyDispatchedPayload,
    ShipmentCancelledPayload,
    ShippingChoice,
)
from services.fulfilment.domain_refunds import (
    Refund,
    RefundState,
    refunds_beyond_fee,
    refunds_of_refused_case,
)
from shared.catalogue import consumer_catalogue


@dataclass(frozen=True)
class Outgoing:
    """An event a decision causes: its payload, its key and the thread it belongs to."""

    payload: Payload
    key: str
    correlation_id: str


def customer_pays_shipping(*, customer_region: str, plan_region: str) -> bool:
    """F1: shipping is free only when the customer's region is the plan's region."""
    return customer_region != plan_region


def owed_before_shipping(
    *, fee: Money, shipping: Money | None, customs: Money | None, bill_on_delivery: bool
) -> list[Money]:
    """F1: what the customer pays before the unit ships: the fee, and outside the plan's region
    its shipping and customs too, unless they chose to have those billed on delivery."""
    if bill_on_delivery:
        return [fee]
    return [fee, *(charge for charge in (shipping, customs) if charge is not None)]


def owed_settled(*, owed: Sequence[Money], paid: dict[str, Decimal]) -> bool:
    """F1: the unit ships once the customer has paid all that is owed, each in its currency."""
    due: dict[str, Decimal] = {}
    for amount in owed:
        due[amount.currency] = due.get(amount.currency, Decimal(0)) + amount.amount
    return all(paid.get(currency, Decimal(0)) >= total for currency, total in due.items())


def ready_to_ship(*, fee_paid: bool, express_premium: bool, pre_authorisation: str | None) -> bool:
    """F1: a replacement ships once its fee is paid; X3: express premium also needs the card
    pre-authorisation in place (basic ships after the unit arrived, so after its decision)."""
    return fee_paid and (not express_premium or pre_authorisation == "placed")


class ReplacementState(StrEnum):
    """Where a replacement stands, from its deduction to the unit that left or did not."""

    AWAITING_PAYMENT = "awaiting_payment"
    SHIPMENT_REQUESTED = "shipment_requested"
    DISPATCHED = "dispatched"
    CANCELLED = "cancelled"
    RECALL_REQUESTED = "recall_requested"  # C10: the warehouse is asked to stop the unit
    UNIT_OWED = "unit_owed"  # C10: the unit left after all; the customer owes its value


# C10: the states of a replacement whose unit the warehouse was asked to recall.
RECALLED = frozenset(
    {ReplacementState.RECALL_REQUESTED, ReplacementState.CANCELLED, ReplacementState.UNIT_OWED}
)


@dataclass(frozen=True)
class Replacement:
    """One approved replacement, from its deduction to the dispatch of the new unit."""

    case_id: str
    plan_id: uuid.UUID
    old_sn: str
    model: str
    plan_region: str
    customer_region: str
    fee: Money
    flyaway: bool
    service_mode: ServiceMode
    shipping: Money | None = None  # F1: priced when the customer's region is not the plan's
    customs: Money | None = None
    state: ReplacementState = ReplacementState.AWAITING_PAYMENT
    shipment_id: uuid.UUID | None = None
    customer_pays_shipping: bool | None = None
    new_sn: str | None = None
    dispatched_at: datetime | None = None
    owed: Money | None = None


def unit_owed(model: str) -> Money:
    """C10: a unit that left on a case reversed for fraud is owed at the unit's value, the
    figure an express premium hold takes (X3)."""
    return consumer_catalogue().product_value(model)


@dataclass(frozen=True)
class Payment:
    """F1: part or all of a case's fee, charged; it may come before the deduction it pays."""

    payment_id: str
    case_id: str
    amount: Money
    settled_at: datetime
    shipping_choice: ShippingChoice = ShippingChoice.PAY_BEFORE_SHIPPING


@dataclass(frozen=True)
class PreAuthorisation:
    """X3: the product's value held on the customer's card while the damaged unit travels."""

    case_id: str
    requested: Money
    state: str = "requested"
    authorisation_id: str | None = None
    placed_at: datetime | None = None
    closed_at: datetime | None = None
    closed_amount: Decimal | None = None


@dataclass(frozen=True)
class PaymentAnswer:
    """The answer a payment got (F1), kept so that the payment sent again gets its copy."""

    payment_id: str
    event_id: uuid.UUID
    answer: PaymentRecordedPayload


class UnknownShipmentError(LookupError):
    pass


class UnknownRecallError(LookupError):
    pass


class UnknownRefundError(LookupError):
    pass


class Missing(StrEnum):
    """What an event may be read before (services/fulfilment/waiting.py says for how long)."""

    CASE = "case"  # the deduction a payment pays for
    PRE_AUTHORISATION = "pre-authorisation"  # the X3 request a hold answers
    SHIPMENT = "shipment"  # the shipment a dispatch confirms
    RECALL = "recall"  # the cancellation request the warehouse answers
    REFUND = "refund"  # the refund request payments answers


RecallAnswer = ShipmentCancelledPayload | ShipmentAlreadyDispatchedPayload

PaymentUpdate = (
    PaymentSettledPayload
    | PreAuthorisationPlacedPayload
    | PreAuthorisationClosedPayload
    | RefundSettledPayload
)


@dataclass
class Replacements:
    """The replacements, payments and pre-authorisations of a batch's cases."""

    replacements: dict[str, Replacement]
    payments: dict[str, Payment]
    pre_authorisations: dict[str, PreAuthorisation]
    changed: set[str] = field(default_factory=set)
    new_payments: list[Payment] = field(default_factory=list)
    changed_pre_authorisations: set[str] = field(default_factory=set)
    answers: dict[str, PaymentAnswer] = field(default_factory=dict)
    new_answers: list[PaymentAnswer] = field(default_factory=list)
    requested_shipments: set[uuid.UUID] = field(default_factory=set)
    recalled_shipments: set[uuid.UUID] = field(default_factory=set)
    refunds: dict[str, Refund] = field(default_factory=dict)  # by the payment refunded
    changed_refunds: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)  # cases finally refused
    new_refused: set[str] = field(default_factory=set)

    def missing_for_payment(self, update: PaymentUpdate) -> Missing | None:
        """F1: a payment not answered yet for a case with no deduction in view waits for it;
        X3: a hold's news for a case whose hold was not requested yet waits for the request."""
        if isinstance(update, PaymentSettledPayload):
            if update.payment_id in self.answers or update.case_id in self.replacements:
                return None
            return None if update.case_id in self.refused else Missing.CASE
        if isinstance(update, RefundSettledPayload):
            known = any(r.refund_id == update.refund_id for r in self.refunds.values())
            return None if known else Missing.REFUND
        return None if update.case_id in self.pre_authorisations else Missing.PRE_AUTHORISATION

    def missing_for_dispatch(self, dispatch: DispatchConfirmedPayload) -> Missing | None:
        """F3: a dispatch of a shipment not requested yet waits for the request."""
        return None if self._by_shipment(dispatch.shipment_id) else Missing.SHIPMENT

    def missing_for_recall(self, answer: RecallAnswer) -> Missing | None:
        """C10: the warehouse's answer to a cancellation fulfilment has not requested waits."""
        recalled = self._by_shipment(answer.shipment_id)
        if recalled is None or recalled.state is ReplacementState.SHIPMENT_REQUESTED:
            return Missing.RECALL
        return None

    def take_deduction(self, deduction: DeductionAppliedPayload) -> list[Outgoing]:
        """A replacement was taken off the plan: it ships once its fee is paid, and outside the
        plan's region its shipping and customs, priced here (F1); express premium first holds
        the product's value on the card (X3). A case is taken once."""
        if deduction.case_id in self.replacements:
            return self._ship_if_ready(deduction.case_id) + self._refunds(deduction.case_id)
        shipping = customs = None
        if customer_pays_shipping(
            customer_region=deduction.customer_region, plan_region=deduction.plan_region
        ):
            shipping, customs = consumer_catalogue().shipping_charges(
                plan_region=deduction.plan_region, ship_to_region=deduction.customer_region
            )
        taken = Replacement(
            case_id=deduction.case_id,
            plan_id=deduction.plan_id,
            old_sn=deduction.sn,
            model=deduction.model,
            plan_region=deduction.plan_region,
            customer_region=deduction.customer_region,
            fee=deduction.fee,
            flyaway=deduction.flyaway,
            service_mode=deduction.service_mode,
            shipping=shipping,
            customs=customs,
        )
        self._update(taken)
        requested = []
        if shipping is not None and customs is not None:
            requested.append(_quoted(taken, shipping, customs))
        if deduction.service_mode is ServiceMode.EXPRESS_PREMIUM:
            requested.append(self._request_pre_authorisation(deduction))
        return requested + self._ship_if_ready(deduction.case_id) + self._refunds(deduction.case_id)

    def _request_pre_authorisation(self, deduction: DeductionAppliedPayload) -> Outgoing:
        value = consumer_catalogue().product_value(deduction.model)
        self._update_pre_authorisation(PreAuthorisation(deduction.case_id, value))
        return Outgoing(
            PreAuthorisationRequestedPayload(
                case_id=deduction.case_id, plan_id=deduction.plan_id, amount=value
            ),
            key=str(deduction.plan_id),
            correlation_id=deduction.case_id,
        )

    def record_payment(self, settled: PaymentSettledPayload) -> list[Outgoing]:
        """F1: the fee charged; several payments for one case add up, each once. Each payment
        is answered, naming it; one sent again gets a copy of its answer, nothing more."""
        answered = self.answers.get(settled.payment_id)
        if answered is not None:
            copy = answered.answer.model_copy(update={"copy_of": answered.event_id})
            return [_answer(copy)]
        payment = self.payments.get(settled.payment_id)
        if payment is None:
            payment = Payment(
                settled.payment_id,
                settled.case_id,
                settled.amount,
                settled.settled_at,
                settled.shipping_choice,
            )
            self.payments[payment.payment_id] = payment
            self.new_payments.append(payment)
        return [
            _answer(self._payment_answer(payment)),
            *self._ship_if_ready(payment.case_id),
            *self._refunds(payment.case_id),
        ]

    def _payment_answer(self, payment: Payment) -> PaymentRecordedPayload:
        """F1: what a payment paid for: its case's replacement fee, if the deduction is known."""
        paid_for = self.replacements.get(payment.case_id)
        if paid_for is None and payment.case_id in self.refused:
            return PaymentRecordedPayload(
                payment_id=payment.payment_id,
                case_id=payment.case_id,
                plan_id=None,
                amount=payment.amount,
                paid_for="case_refused",
                counts_towards_fee=False,
            )
        return PaymentRecordedPayload(
            payment_id=payment.payment_id,
            case_id=payment.case_id,
            plan_id=paid_for.plan_id if paid_for else None,
            amount=payment.amount,
            paid_for="replacement_fee" if paid_for else "case_not_yet_deducted",
            counts_towards_fee=paid_for is None
            or payment.amount.currency in {owed.currency for owed in self._owed(paid_for)},
        )

    def refuse_case(self, final: ClaimFinalisedPayload) -> list[Outgoing]:
        """X3: a case finally refused gives back what was paid on it (an express basic fee is
        paid before the claim is decided), and what is paid on it later."""
        if final.outcome is not ClaimOutcome.REFUSED or final.case_id in self.replacements:
            return []
        if final.case_id not in self.refused:
            self.refused.add(final.case_id)
            self.new_refused.add(final.case_id)
        return self._refunds(final.case_id)

    def settle_refund(self, settled: RefundSettledPayload) -> None:
        """Payments gave the refund back: it is closed, once."""
        refund = next((r for r in self.refunds.values() if r.refund_id == settled.refund_id), None)
        if refund is None:
            raise UnknownRefundError(f"no refund {settled.refund_id} was requested")
        if refund.state is RefundState.REQUESTED:
            self._update_refund(
                replace(refund, state=RefundState.SETTLED, settled_at=settled.settled_at)
            )

    def _refunds(self, case_id: str) -> list[Outgoing]:
        """F1: what the case was paid beyond its replacement's fee; X3: all it was paid, when
        it was refused. Each payment is refunded at most once, however often it is sent."""
        paid = [p for p in self.payments.values() if p.case_id == case_id]
        replacement = self.replacements.get(case_id)
        if replacement is not None:
            refunded = {r.payment_id: r.amount.amount for r in self.refunds.values()}
            given = refunds_beyond_fee(replacement.fee, paid, refunded)
            reason = RefundReason.FEE_PAID_TWICE
        elif case_id in self.refused:
            given = refunds_of_refused_case(paid, set(self.refunds))
            reason = RefundReason.CLAIM_REFUSED
        else:
            return []
        plan_id = replacement.plan_id if replacement else None
        decided = []
        for payment, amount in given:
            refund = Refund(uuid.uuid4(), payment.payment_id, case_id, amount, reason)
            self._update_refund(refund)
            decided.append(
                Outgoing(
                    RefundRequestedPayload(
                        refund_id=refund.refund_id,
                        payment_id=payment.payment_id,
                        case_id=case_id,
                        plan_id=plan_id,
                        amount=amount,
                        reason=reason,
                    ),
                    key=str(plan_id) if plan_id else case_id,
                    correlation_id=case_id,
                )
            )
        return decided

    def _update_refund(self, refund: Refund) -> None:
        self.refunds[refund.payment_id] = refund
        self.changed_refunds.add(refund.payment_id)

    def record_answers(self, sent: list[Envelope]) -> None:
        """Keep each payment's first answer, by its event id, for the copies."""
        for event in sent:
            if isinstance(event, PaymentRecorded) and event.payload.copy_of is None:
                answer = PaymentAnswer(event.payload.payment_id, event.event_id, event.payload)
                self.answers[answer.payment_id] = answer
                self.new_answers.append(answer)

    def place_pre_authorisation(self, placed: PreAuthorisationPlacedPayload) -> list[Outgoing]:
        """X3: the hold is in place; an express premium replacement paid for now ships."""
        held = self.pre_authorisations.get(placed.case_id)
        if held is not None and held.state == "requested":
            self._update_pre_authorisation(
                replace(
                    held,
                    state="placed",
                    authorisation_id=placed.authorisation_id,
                    placed_at=placed.placed_at,
                )
            )
        return self._ship_if_ready(placed.case_id)

    def close_pre_authorisation(self, closed: PreAuthorisationClosedPayload, state: str) -> None:
        """X3: the hold was captured (the damaged unit never came) or released."""
        held = self.pre_authorisations.get(closed.case_id)
        if held is not None:
            self._update_pre_authorisation(
                replace(
                    held,
                    state=state,
                    closed_at=closed.closed_at,
                    closed_amount=closed.amount.amount,
                )
            )

    def end_for_fraud(self, terminated: PlanTerminatedPayload) -> list[Outgoing]:
        """C10: after fraud, nothing more ships on the plan. A replacement still waiting for its
        fee is cancelled, paid or not; a unit requested from the warehouse is recalled; the
        reversed case's unit that already left is owed at its value."""
        decided: list[Outgoing] = []
        for replacement in sorted(self.replacements.values(), key=lambda r: r.case_id):
            if replacement.plan_id != terminated.plan_id:
                continue
            if replacement.state is ReplacementState.AWAITING_PAYMENT:
                self._update(replace(replacement, state=ReplacementState.CANCELLED))
            elif replacement.state is ReplacementState.SHIPMENT_REQUESTED:
                decided.append(self._recall(replacement, terminated.reason_codes))
            elif (
                replacement.state is ReplacementState.DISPATCHED
                and replacement.case_id == terminated.case_id
                and replacement.new_sn is not None
                and replacement.dispatched_at is not None
            ):
                decided.append(
                    self._owe_unit(replacement, replacement.new_sn, replacement.dispatched_at)
                )
        return decided

    def _recall(self, replacement: Replacement, reason_codes: list[str]) -> Outgoing:
        assert replacement.shipment_id is not None  # a requested shipment has its id
        self._update(replace(replacement, state=ReplacementState.RECALL_REQUESTED))
        self.recalled_shipments.add(replacement.shipment_id)
        return Outgoing(
            ShipmentCancellationRequestedPayload(
                shipment_id=replacement.shipment_id,
                case_id=replacement.case_id,
                plan_id=replacement.plan_id,
                old_sn=replacement.old_sn,
                reason_codes=reason_codes,
            ),
            key=str(replacement.plan_id),
            correlation_id=replacement.case_id,
        )

    def conclude_recall(self, answer: RecallAnswer) -> list[Outgoing]:
        """C10: the warehouse stopped the unit, or it had left: then the customer owes the
        unit's value, and the new unit inherits nothing (F3 does not apply). Answered once."""
        recalled = self._by_shipment(answer.shipment_id)
        if recalled is None or recalled.state not in RECALLED:
            raise UnknownRecallError(f"no recall of shipment {answer.shipment_id} was requested")
        if recalled.state is not ReplacementState.RECALL_REQUESTED:
            return []
        if isinstance(answer, ShipmentAlreadyDispatchedPayload):
            return [self._owe_unit(recalled, answer.new_sn, answer.dispatched_at)]
        self._update(replace(recalled, state=ReplacementState.CANCELLED))
        return [self._concluded(recalled, RecallOutcome.CANCELLED, answer.cancelled_at)]

    def _owe_unit(self, replacement: Replacement, new_sn: str, at: datetime) -> Outgoing:
        owed = replace(
            replacement,
            state=ReplacementState.UNIT_OWED,
            new_sn=new_sn,
            dispatched_at=at,
            owed=unit_owed(replacement.model),
        )
        self._update(owed)
        return self._concluded(owed, RecallOutcome.ALREADY_DISPATCHED, at)

    def _concluded(
        self, replacement: Replacement, outcome: RecallOutcome, at: datetime
    ) -> Outgoing:
        assert replacement.shipment_id is not None  # only a requested shipment is recalled
        return Outgoing(
            ShipmentRecallConcludedPayload(
                shipment_id=replacement.shipment_id,
                case_id=replacement.case_id,
                plan_id=replacement.plan_id,
                old_sn=replacement.old_sn,
                outcome=outcome,
                new_sn=replacement.new_sn if outcome is RecallOutcome.ALREADY_DISPATCHED else None,
                customer_owes=replacement.owed,
                concluded_at=at,
            ),
            key=str(replacement.plan_id),
            correlation_id=replacement.case_id,
        )

    def _by_shipment(self, shipment_id: uuid.UUID) -> Replacement | None:
        return next((r for r in self.replacements.values() if r.shipment_id == shipment_id), None)

    def confirm_dispatch(self, dispatch: DispatchConfirmedPayload) -> list[Outgoing]:
        """F3: the warehouse names the replacement's SN; announce old SN -> new SN, once. C10: a
        unit recalled inherits nothing; the warehouse's answer to the recall says what it owes."""
        shipped = self._by_shipment(dispatch.shipment_id)
        if shipped is None:
            raise UnknownShipmentError(f"no shipment {dispatch.shipment_id} was requested")
        if shipped.state is not ReplacementState.SHIPMENT_REQUESTED:
            return []
        self._update(
            replace(
                shipped,
                state=ReplacementState.DISPATCHED,
                new_sn=dispatch.new_sn,
                dispatched_at=dispatch.dispatched_at,
            )
        )
        return [
            Outgoing(
                DeviceReplacedPayload(
                    shipment_id=dispatch.shipment_id,
                    case_id=shipped.case_id,
                    plan_id=shipped.plan_id,
                    old_sn=shipped.old_sn,
                    new_sn=dispatch.new_sn,
                    dispatched_at=dispatch.dispatched_at,
                ),
                key=str(shipped.plan_id),
                correlation_id=shipped.case_id,
            )
        ]

    def _ship_if_ready(self, case_id: str) -> list[Outgoing]:
        """F1, X3: request the shipment of a replacement paid for (and pre-authorised)."""
        waiting = self.replacements.get(case_id)
        if waiting is None or waiting.state is not ReplacementState.AWAITING_PAYMENT:
            return []
        held = self.pre_authorisations.get(case_id)
        if not ready_to_ship(
            fee_paid=owed_settled(owed=self._owed(waiting), paid=self._paid(case_id)),
            express_premium=waiting.service_mode is ServiceMode.EXPRESS_PREMIUM,
            pre_authorisation=held.state if held else None,
        ):
            return []
        shipment_id = uuid.uuid4()
        pays_shipping = customer_pays_shipping(
            customer_region=waiting.customer_region, plan_region=waiting.plan_region
        )
        self._update(
            replace(
                waiting,
                state=ReplacementState.SHIPMENT_REQUESTED,
                shipment_id=shipment_id,
                customer_pays_shipping=pays_shipping,
            )
        )
        self.requested_shipments.add(shipment_id)
        return [
            Outgoing(
                ShipmentRequestedPayload(
                    shipment_id=shipment_id,
                    case_id=case_id,
                    plan_id=waiting.plan_id,
                    old_sn=waiting.old_sn,
                    model=waiting.model,
                    ship_to_region=waiting.customer_region,
                    customer_pays_shipping=pays_shipping,
                    shipping_charges=self._charges(waiting),
                ),
                key=str(waiting.plan_id),
                correlation_id=case_id,
            )
        ]

    def _bills_on_delivery(self, case_id: str) -> bool:
        """F1: the customer documented, with a payment of the case, that shipping and customs
        are billed with the delivery."""
        return any(
            payment.case_id == case_id
            and payment.shipping_choice is ShippingChoice.BILL_ON_DELIVERY
            for payment in self.payments.values()
        )

    def _owed(self, replacement: Replacement) -> list[Money]:
        return owed_before_shipping(
            fee=replacement.fee,
            shipping=replacement.shipping,
            customs=replacement.customs,
            bill_on_delivery=self._bills_on_delivery(replacement.case_id),
        )

    def _charges(self, replacement: Replacement) -> ShippingCharges | None:
        if replacement.shipping is None or replacement.customs is None:
            return None
        billed = self._bills_on_delivery(replacement.case_id)
        return ShippingCharges(
            shipping=replacement.shipping,
            customs=replacement.customs,
            settlement="billed_on_delivery" if billed else "paid",
        )

    def _paid(self, case_id: str) -> dict[str, Decimal]:
        paid: dict[str, Decimal] = {}
        for payment in self.payments.values():
            if payment.case_id == case_id:
                currency = payment.amount.currency
                paid[currency] = paid.get(currency, Decimal(0)) + payment.amount.amount
        return paid

    def _update(self, replacement: Replacement) -> None:
        self.replacements[replacement.case_id] = replacement
        self.changed.add(replacement.case_id)

    def _update_pre_authorisation(self, held: PreAuthorisation) -> None:
        self.pre_authorisations[held.case_id] = held
        self.changed_pre_authorisations.add(held.case_id)


def _quoted(replacement: Replacement, shipping: Money, customs: Money) -> Outgoing:
    """F1: the shipping and customs a replacement outside the plan's region costs."""
    return Outgoing(
        ShippingChargesQuotedPayload(
            case_id=replacement.case_id,
            plan_id=replacement.plan_id,
            old_sn=replacement.old_sn,
            plan_region=replacement.plan_region,
            ship_to_region=replacement.customer_region,
            fee=replacement.fee,
            shipping=shipping,
            customs=customs,
        ),
        key=str(replacement.plan_id),
        correlation_id=replacement.case_id,
    )


def _answer(answer: PaymentRecordedPayload) -> Outgoing:
    key = str(answer.plan_id) if answer.plan_id else answer.case_id
    return Outgoing(answer, key=key, correlation_id=answer.case_id)


@dataclass(frozen=True)
class ReturnArrangement:
    """F5: how the repaired unit goes back; F2: the replaced parts are kept."""

    return_method: str
    service_point_id: str
    replaced_parts_retained: bool = True


def arrange_return(
    *, already_arranged: bool, return_method: str, service_point_id: str
) -> ReturnArrangement | None:
    """F5: when the repair is done, the unit is shipped back or waits at the service point, as
    the repair centre says; a case's unit goes back once, whatever is reported again."""
    if already_arranged:
        return None
    return ReturnArrangement(return_method=return_method, service_point_id=service_point_id)


@dataclass(frozen=True)
class RepairReturn:
    return_id: uuid.UUID
    case_id: str
    sn: str
    arrangement: ReturnArrangement
    completed_at: datetime


@dataclass
class RepairReturns:
    """The cases of a batch whose repaired unit already goes back, and the returns it adds."""

    arranged: set[str]
    new: list[RepairReturn] = field(default_factory=list)

    def arrange(self, done: RepairCompletedPayload) -> list[Outgoing]:
        """F5, F2: the repair is done; the unit goes back to the customer, once per case."""
        arrangement = arrange_return(
            already_arranged=done.case_id in self.arranged,
            return_method=done.return_method.value,
            service_point_id=done.service_point_id,
        )
        if arrangement is None:
            return []
        arranged = RepairReturn(uuid.uuid4(), done.case_id, done.sn, arrangement, done.completed_at)
        self.arranged.add(done.case_id)
        self.new.append(arranged)
        return [
            Outgoing(
                RepairedUnitReturnArrangedPayload(
                    return_id=arranged.return_id,
                    case_id=done.case_id,
                    sn=done.sn,
                    return_method=done.return_method,
                    service_point_id=arrangement.service_point_id,
                    repair_completed_at=done.completed_at,
                ),
                key=done.case_id,
                correlation_id=done.case_id,
            )
        ]
