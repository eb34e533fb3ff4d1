-- The agricultural plan in claims' read model (P5, C7, A5) and on its cases (C7, C8, G4, L1-L4).
ALTER TABLE plan_view ADD COLUMN family text NOT NULL DEFAULT 'consumer'
    CHECK (family IN ('consumer', 'agricultural'));

ALTER TABLE plan_view_terms
    ADD COLUMN plan_year integer,
    ADD COLUMN quota_currency char(3),
    ADD COLUMN base_quota_left numeric(18, 2),
    ADD COLUMN consumables_quota_left numeric(18, 2),
    ADD COLUMN deductible_rate numeric(6, 4),
    ADD COLUMN insurer text,
    ADD COLUMN liability_cover boolean NOT NULL DEFAULT false,
    ADD COLUMN policy_no text;

ALTER TABLE cases
    ADD COLUMN family text NOT NULL DEFAULT 'consumer',
    ADD COLUMN term_no integer,
    ADD COLUMN accessory_sn text,
    -- C7: the split as claims quoted it, and as the ledger actually took it.
    ADD COLUMN repair_split jsonb,
    ADD COLUMN ledger_split jsonb,
    ADD COLUMN customer_share_amount numeric(18, 2),
    ADD COLUMN customer_share_currency char(3),
    -- C8: the base-quota part reported to the model's insurer, and its answer.
    ADD COLUMN insurer text,
    ADD COLUMN insurer_state text NOT NULL DEFAULT 'none'
        CHECK (insurer_state IN ('none', 'reported', 'accepted', 'rejected', 'paid', 'withdrawn')),
    ADD COLUMN insurer_amount numeric(18, 2),
    ADD COLUMN insurer_paid_amount numeric(18, 2),
    ADD COLUMN insurer_reason text,
    ADD COLUMN insurer_answered_at timestamptz;

-- G4: which drone each accessory is associated with, projected from activation events.
CREATE TABLE accessory_associations (
    accessory_sn   text PRIMARY KEY,
    accessory_type text NOT NULL,
    drone_sn       text NOT NULL,
    state          text NOT NULL CHECK (state IN ('associated', 'released')),
    associated_at  timestamptz,
    released_at    timestamptz
);
CREATE INDEX accessory_associations_by_drone ON accessory_associations (drone_sn);

-- L1-L4: third-party liability incidents, routed to the insurer or refused, and their answer.
CREATE TABLE liability_incidents (
    incident_id        text PRIMARY KEY,
    drone_sn           text NOT NULL,
    plan_id            uuid,
    term_no            integer,
    kind               text NOT NULL,
    location_region    char(2) NOT NULL,
    occurred_at        timestamptz NOT NULL,
    currency           char(3) NOT NULL,
    claimed_amount     numeric(18, 2) NOT NULL,
    medical_amount     numeric(18, 2),
    outcome            text NOT NULL CHECK (outcome IN ('routed', 'refused')),
    reason_codes       text[] NOT NULL DEFAULT '{}',
    insurer            text,
    limit_left         numeric(18, 2),
    deductible         numeric(18, 2),
    indicative_payable numeric(18, 2),
    state              text NOT NULL DEFAULT 'none'
        CHECK (state IN ('none', 'reported', 'accepted', 'rejected', 'paid')),
    settled_amount     numeric(18, 2),
    insurer_reason     text,
    answered_at        timestamptz,
    report             jsonb NOT NULL,
    received_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX liability_incidents_by_term ON liability_incidents (plan_id, term_no);
