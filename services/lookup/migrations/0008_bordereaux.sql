-- The insurers' bordereaux (C7, C8, L1-L4). A repair paid from a base quota is dated by the
-- ledger's QuotaDeductionApplied (ledger_at); what the platform reported to an insurer
-- (insurer.claims.v1) and what the insurer answered (insurer.responses.v1) is one row per
-- claim, keyed by the case or incident id. Either topic may be read first, so every column is
-- filled in by whichever event knows it.
ALTER TABLE cases ADD COLUMN ledger_at timestamptz;

CREATE TABLE insurer_claims (
    claim_id           text PRIMARY KEY,
    kind               text NOT NULL CHECK (kind IN ('base_quota', 'liability')),
    insurer            text NOT NULL,
    plan_id            uuid,
    term_no            integer,
    policy_no          text,
    sn                 text,
    model              text,
    incident_date      date,
    reported_at        timestamptz,
    currency           char(3),
    base_quota_amount  numeric(18, 2),
    deductible         numeric(18, 2),
    liability_kind     text,
    claimed_amount     numeric(18, 2),
    limit_amount       numeric(18, 2),
    limit_left         numeric(18, 2),
    total_limit_left   numeric(18, 2),
    medical_sublimit   numeric(18, 2),
    indicative_payable numeric(18, 2),
    withdrawn_at       timestamptz,
    answer             text,
    answered_at        timestamptz,
    paid_amount        numeric(18, 2),
    answer_reason      text
);
CREATE INDEX insurer_claims_reported ON insurer_claims (insurer, reported_at);
CREATE INDEX insurer_claims_answered ON insurer_claims (insurer, answered_at);
CREATE INDEX cases_ledger_at ON cases (ledger_at) WHERE ledger_at IS NOT NULL;
