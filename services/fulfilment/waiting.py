"""What an event fulfilment reads may come before (shared.waiting): each is kept until what it
depends on is saved, or its grace period is over, instead of being dropped or refused for what
fulfilment has not read yet."""

from __future__ import annotations

from services.fulfilment.domain import Missing
from shared.waiting import DEFAULT_GRACE, Dependency

CASE_OF_PAYMENT = Dependency(
    "case-of-payment",
    "a fee payment (PaymentSettled on payments.settlements.v1) for a case whose deduction"
    " fulfilment has not read",
    "the case's deduction (DeductionApplied on coverage.events.v1)",
    DEFAULT_GRACE,
)
REQUEST_OF_PRE_AUTHORISATION = Dependency(
    "request-of-pre-authorisation",
    "an express pre-authorisation placed, captured or released (payments.settlements.v1) for a"
    " case whose pre-authorisation fulfilment has not requested yet",
    "the express premium case's deduction (DeductionApplied on coverage.events.v1), which"
    " requests it (X3)",
    DEFAULT_GRACE,
)
SHIPMENT_OF_DISPATCH = Dependency(
    "shipment-of-dispatch",
    "a warehouse dispatch (DispatchConfirmed on warehouse.dispatches.v1) of a shipment"
    " fulfilment has not requested",
    "the shipment's request (fulfilment's ShipmentRequested, once fee and hold are in)",
    DEFAULT_GRACE,
)
RECALL_OF_ANSWER = Dependency(
    "recall-of-answer",
    "the warehouse's answer (ShipmentCancelled or ShipmentAlreadyDispatched on"
    " warehouse.dispatches.v1) to a cancellation fulfilment has not requested",
    "the cancellation request (fulfilment's ShipmentCancellationRequested, once the plan of a"
    " requested shipment is terminated, C10)",
    DEFAULT_GRACE,
)
REFUND_OF_SETTLEMENT = Dependency(
    "refund-of-settlement",
    "a refund settled (RefundSettled on payments.settlements.v1) that fulfilment has not requested",
    "the refund's request (fulfilment's RefundRequested, saved with the case's payments)",
    DEFAULT_GRACE,
)
WAITS_FOR = (
    CASE_OF_PAYMENT,
    REQUEST_OF_PRE_AUTHORISATION,
    SHIPMENT_OF_DISPATCH,
    RECALL_OF_ANSWER,
    REFUND_OF_SETTLEMENT,
)

# What an event the domain finds something missing for waits on.
AWAITED = {
    Missing.CASE: CASE_OF_PAYMENT,
    Missing.PRE_AUTHORISATION: REQUEST_OF_PRE_AUTHORISATION,
    Missing.SHIPMENT: SHIPMENT_OF_DISPATCH,
    Missing.RECALL: RECALL_OF_ANSWER,
    Missing.REFUND: REFUND_OF_SETTLEMENT,
}
