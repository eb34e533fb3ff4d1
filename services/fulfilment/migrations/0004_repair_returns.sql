-- F5: a repaired unit goes back to the customer once the repair is done, once per case.
CREATE TABLE repair_returns (
    case_id          text PRIMARY KEY,
    return_id        uuid NOT NULL UNIQUE,
    sn               text NOT NULL,
    service_point_id text NOT NULL,
    return_method    text NOT NULL CHECK (return_method IN ('ship', 'collect')),
    completed_at     timestamptz NOT NULL,
    -- F2: the replaced parts stay with the manufacturer as proof of service.
    replaced_parts_retained boolean NOT NULL DEFAULT true,
    arranged_at      timestamptz NOT NULL DEFAULT now()
);
