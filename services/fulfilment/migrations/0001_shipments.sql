-- One row per approved replacement, from the deduction to the dispatch of the new unit.
CREATE TABLE replacements (
    case_id           text PRIMARY KEY,
    plan_id           uuid NOT NULL,
    old_sn            text NOT NULL,
    model             text NOT NULL,
    plan_region       text NOT NULL,
    customer_region   text NOT NULL,
    fee_amount        numeric(18, 2) NOT NULL,
    fee_currency      char(3) NOT NULL,
    flyaway           boolean NOT NULL,
    state             text NOT NULL
        CHECK (state IN ('awaiting_payment', 'shipment_requested', 'dispatched')),
    shipment_id       uuid UNIQUE,
    customer_pays_shipping boolean,
    new_sn            text,
    dispatched_at     timestamptz,
    -- F2: the damaged unit is kept by the manufacturer as proof of service.
    damaged_unit_retained boolean NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now()
);

-- Payments may arrive before the deduction they pay for: kept on their own, summed per case.
CREATE TABLE payments (
    payment_id text PRIMARY KEY,
    case_id    text NOT NULL,
    amount     numeric(18, 2) NOT NULL,
    currency   char(3) NOT NULL,
    settled_at timestamptz NOT NULL
);
CREATE INDEX payments_by_case ON payments (case_id);
