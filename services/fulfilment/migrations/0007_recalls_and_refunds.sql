-- C10: a unit requested from the warehouse when its plan ended for fraud is recalled; one that
-- had left is owed by the customer at the unit's value, and inherits no plan.
ALTER TABLE replacements DROP CONSTRAINT replacements_state_check;
ALTER TABLE replacements ADD CONSTRAINT replacements_state_check
    CHECK (state IN ('awaiting_payment', 'shipment_requested', 'dispatched', 'cancelled',
                     'recall_requested', 'unit_owed'));
ALTER TABLE replacements ADD COLUMN owed_amount numeric(18, 2);
ALTER TABLE replacements ADD COLUMN owed_currency char(3);

-- F1, X3: each refund, by the payment it gives back (in full, or the part beyond the fee): a
-- payment is refunded at most once, however often it is sent.
CREATE TABLE refunds (
    payment_id   text PRIMARY KEY,
    refund_id    uuid NOT NULL UNIQUE,
    case_id      text NOT NULL,
    amount       numeric(18, 2) NOT NULL CHECK (amount > 0),
    currency     char(3) NOT NULL,
    reason       text NOT NULL CHECK (reason IN ('CLAIM_REFUSED', 'FEE_PAID_TWICE')),
    state        text NOT NULL CHECK (state IN ('requested', 'settled')),
    requested_at timestamptz NOT NULL DEFAULT now(),
    settled_at   timestamptz
);
CREATE INDEX refunds_by_case ON refunds (case_id);

-- X3: the cases claims finally refused: what is paid on them is given back, even if it comes
-- after the refusal.
CREATE TABLE refused_cases (
    case_id    text PRIMARY KEY,
    refused_at timestamptz NOT NULL DEFAULT now()
);
