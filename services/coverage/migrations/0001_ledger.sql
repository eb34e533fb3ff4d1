CREATE TABLE plans (
    plan_id            uuid PRIMARY KEY,
    sn                 text NOT NULL UNIQUE,
    model              text NOT NULL,
    sku                text NOT NULL,
    region             text NOT NULL,
    term_start         timestamptz NOT NULL,
    term_end           timestamptz NOT NULL,
    replacements_total integer NOT NULL CHECK (replacements_total >= 0),
    flyaways_total     integer NOT NULL CHECK (flyaways_total >= 0),
    replacements_left  integer NOT NULL CHECK (replacements_left >= 0),
    flyaways_left      integer NOT NULL CHECK (flyaways_left >= 0),
    state              text NOT NULL CHECK (state IN ('active', 'exhausted')),
    opened_at          timestamptz NOT NULL DEFAULT now()
);

-- One row per case that took something off a plan: the case id makes a retried claim harmless.
CREATE TABLE deductions (
    case_id      text PRIMARY KEY,
    plan_id      uuid NOT NULL REFERENCES plans (plan_id),
    flyaway      boolean NOT NULL,
    fee_amount   numeric(18, 2) NOT NULL,
    fee_currency char(3) NOT NULL,
    applied_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deductions_by_plan ON deductions (plan_id);

CREATE TABLE refused_deductions (
    case_id      text PRIMARY KEY,
    plan_id      uuid NOT NULL REFERENCES plans (plan_id),
    reason_codes text[] NOT NULL,
    refused_at   timestamptz NOT NULL DEFAULT now()
);

-- Every SN a plan has lived on (F3): the old SN keeps its history but no plan.
CREATE TABLE plan_serials (
    plan_id  uuid NOT NULL REFERENCES plans (plan_id),
    sn       text NOT NULL,
    since    timestamptz NOT NULL,
    until    timestamptz,
    case_id  text,
    PRIMARY KEY (plan_id, sn)
);
