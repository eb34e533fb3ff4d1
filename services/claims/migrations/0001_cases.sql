-- Claims' own read model of the plans, projected from coverage events.
CREATE TABLE plan_view (
    plan_id           uuid PRIMARY KEY,
    sn                text NOT NULL UNIQUE,
    model             text NOT NULL,
    sku               text NOT NULL,
    region            text NOT NULL,
    term_start        timestamptz NOT NULL,
    term_end          timestamptz NOT NULL,
    replacements_left integer NOT NULL,
    flyaways_left     integer NOT NULL,
    replacements_used integer NOT NULL DEFAULT 0,
    state             text NOT NULL DEFAULT 'active'
);

-- One row per case: the assessment, the decision, the rules that decided it and its money.
CREATE TABLE cases (
    case_id          text PRIMARY KEY,
    reported_sn      text NOT NULL,
    model            text NOT NULL,
    plan_id          uuid,
    cause            text NOT NULL,
    incident_at      timestamptz NOT NULL,
    assessed_at      timestamptz NOT NULL,
    outcome          text NOT NULL,
    reason_codes     text[] NOT NULL,
    rules_applied    text[] NOT NULL,
    uses_replacement boolean NOT NULL,
    flyaway          boolean NOT NULL,
    fee_amount       numeric(18, 2),
    fee_currency     char(3),
    fee_schedule     text,
    ledger_state     text NOT NULL DEFAULT 'none'
        CHECK (ledger_state IN ('none', 'pending', 'applied', 'refused')),
    ledger_reasons   text[] NOT NULL DEFAULT '{}',
    assessment       jsonb NOT NULL,
    decided_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cases_by_plan ON cases (plan_id);
CREATE INDEX cases_by_sn ON cases (reported_sn);
