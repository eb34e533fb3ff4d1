-- The lookup's read model (X5), projected from the devices, activation, coverage, claims,
-- fulfilment and repair topics. Topics interleave in any order, so no row waits for another:
-- every table is keyed by what its events carry (SN, plan id, case id) and written by upserts
-- that only fill in what they know.

-- Devices as the devices platform reports them: the first activation starts the warranty.
CREATE TABLE devices (
    sn                 text PRIMARY KEY,
    model              text NOT NULL,
    first_activated_at timestamptz NOT NULL
);

-- One row per plan, from PlanActivated (activation) or CoverageOpened (coverage), whichever
-- comes first. original_sn is the SN the plan was bound to; the SN it is on now follows from
-- the replacements that moved it (F3).
CREATE TABLE plans (
    plan_id           uuid PRIMARY KEY,
    original_sn       text NOT NULL,
    model             text NOT NULL,
    sku               text NOT NULL,
    region            text NOT NULL,
    plan_code         text,
    activated_at      timestamptz,
    purchased_at      timestamptz,
    terminated_at     timestamptz,
    termination_case  text,
    termination_codes text[]
);
CREATE INDEX plans_by_original_sn ON plans (original_sn);

-- Terms of a plan (A3). Totals come from activation, what is left from coverage; within a term
-- what is left only ever goes down, so the smallest value seen is the latest.
CREATE TABLE plan_terms (
    plan_id            uuid NOT NULL,
    term_no            integer NOT NULL CHECK (term_no >= 1),
    sku                text NOT NULL,
    plan_code          text,
    term_start         timestamptz NOT NULL,
    term_end           timestamptz NOT NULL,
    replacements_total integer,
    flyaways_total     integer,
    replacements_left  integer,
    flyaways_left      integer,
    exhausted          boolean NOT NULL DEFAULT false,
    PRIMARY KEY (plan_id, term_no)
);

-- One row per case: the assessment (cause), the decision, the ledger's answer, a review.
CREATE TABLE cases (
    case_id              text PRIMARY KEY,
    sn                   text,
    plan_id              uuid,
    model                text,
    cause                text,
    incident_at          timestamptz,
    assessed_at          timestamptz,
    outcome              text,
    decided_at           timestamptz,
    reason_codes         text[] NOT NULL DEFAULT '{}',
    rules_applied        text[] NOT NULL DEFAULT '{}',
    flyaway              boolean NOT NULL DEFAULT false,
    fee_amount           numeric(18, 2),
    fee_currency         char(3),
    fee_schedule         text,
    service_mode         text,
    ledger_state         text CHECK (ledger_state IN ('applied', 'refused')),
    ledger_reason_codes  text[] NOT NULL DEFAULT '{}',
    reversed_at          timestamptz,
    reversal_codes       text[] NOT NULL DEFAULT '{}',
    owed_amount          numeric(18, 2),
    owed_currency        char(3)
);
CREATE INDEX cases_by_sn ON cases (sn);
CREATE INDEX cases_by_plan ON cases (plan_id);

-- One row per replacement case: the deduction, the shipment, the dispatch (old SN -> new SN)
-- and the plan's move to the new unit (F3). The first value seen for a column stays.
CREATE TABLE replacements (
    case_id                text PRIMARY KEY,
    plan_id                uuid NOT NULL,
    old_sn                 text NOT NULL,
    new_sn                 text,
    term_no                integer,
    flyaway                boolean,
    fee_amount             numeric(18, 2),
    fee_currency           char(3),
    deducted_at            timestamptz,
    shipment_id            uuid,
    ship_to_region         text,
    customer_pays_shipping boolean,
    shipment_requested_at  timestamptz,
    dispatched_at          timestamptz,
    inherited_at           timestamptz
);
CREATE INDEX replacements_by_plan ON replacements (plan_id);
CREATE INDEX replacements_by_old_sn ON replacements (old_sn);
CREATE INDEX replacements_by_new_sn ON replacements (new_sn);
