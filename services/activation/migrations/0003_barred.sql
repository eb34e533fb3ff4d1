-- C10: after fraud, the device, its account and the person may not buy renewals.
CREATE TABLE barred (
    kind      text NOT NULL CHECK (kind IN ('device', 'account', 'person')),
    value     text NOT NULL,
    case_id   text NOT NULL,
    barred_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, value)
);
