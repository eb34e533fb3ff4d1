-- C10: a replacement recalled after fraud: asked, then cancelled or already dispatched and owed
-- at the unit's value.
ALTER TABLE replacements ADD COLUMN recall_requested_at timestamptz;
ALTER TABLE replacements ADD COLUMN recall_outcome text;
ALTER TABLE replacements ADD COLUMN recall_concluded_at timestamptz;
ALTER TABLE replacements ADD COLUMN owed_amount numeric(18, 2);
ALTER TABLE replacements ADD COLUMN owed_currency char(3);

-- F1, X3: refunds of a case's payments, asked by fulfilment and settled by payments.
CREATE TABLE refunds (
    refund_id    uuid PRIMARY KEY,
    case_id      text NOT NULL,
    payment_id   text NOT NULL,
    amount       numeric(18, 2),
    currency     char(3),
    reason       text,
    requested_at timestamptz,
    settled_at   timestamptz
);
CREATE INDEX refunds_by_case ON refunds (case_id);
