-- The agricultural plan (P4-P6, C7, C9, A4, A5): a term holds two balances that never mix, the
-- deductible rate of its plan year, its insurer and, once the insurer confirms it, its policy.
ALTER TABLE plans ADD COLUMN family text NOT NULL DEFAULT 'consumer'
    CHECK (family IN ('consumer', 'agricultural'));

ALTER TABLE plan_terms
    ADD COLUMN plan_year integer CHECK (plan_year BETWEEN 1 AND 3),
    ADD COLUMN quota_currency char(3),
    ADD COLUMN base_quota_total numeric(18, 2) CHECK (base_quota_total >= 0),
    ADD COLUMN base_quota_left numeric(18, 2) CHECK (base_quota_left >= 0),
    ADD COLUMN consumables_quota_total numeric(18, 2) CHECK (consumables_quota_total >= 0),
    ADD COLUMN consumables_quota_left numeric(18, 2) CHECK (consumables_quota_left >= 0),
    ADD COLUMN deductible_rate numeric(6, 4) CHECK (deductible_rate BETWEEN 0 AND 1),
    ADD COLUMN insurer text,
    ADD COLUMN liability_cover boolean NOT NULL DEFAULT false,
    ADD COLUMN policy_no text,
    ADD COLUMN policy_confirmed_at timestamptz,
    ADD COLUMN ended_by_renewal_at timestamptz,
    -- P5: a balance is never above what the term started with, never below zero.
    ADD CONSTRAINT base_quota_within_total CHECK (base_quota_left <= base_quota_total),
    ADD CONSTRAINT consumables_quota_within_total
        CHECK (consumables_quota_left <= consumables_quota_total);

-- One row per AG case the ledger paid from a term's quotas: what it actually took (C7).
CREATE TABLE quota_deductions (
    case_id                text PRIMARY KEY,
    plan_id                uuid NOT NULL REFERENCES plans (plan_id),
    term_no                integer NOT NULL,
    currency               char(3) NOT NULL,
    from_base_quota        numeric(18, 2) NOT NULL CHECK (from_base_quota >= 0),
    from_consumables_quota numeric(18, 2) NOT NULL CHECK (from_consumables_quota >= 0),
    deductible             numeric(18, 2) NOT NULL CHECK (deductible >= 0),
    shortfall              numeric(18, 2) NOT NULL CHECK (shortfall >= 0),
    not_covered            numeric(18, 2) NOT NULL CHECK (not_covered >= 0),
    customer_share         numeric(18, 2) NOT NULL CHECK (customer_share >= 0),
    split                  jsonb NOT NULL,
    applied_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quota_deductions_by_plan ON quota_deductions (plan_id, term_no);

-- The view gains the AG balances (new columns go last: the view is replaced, not rewritten).
CREATE OR REPLACE VIEW plan_balances AS
SELECT p.plan_id, p.sn, p.model, p.region, p.state AS plan_state, t.term_no, t.sku,
       t.term_start, t.term_end, t.replacements_total, t.flyaways_total,
       t.replacements_left, t.flyaways_left, t.state,
       p.family, t.plan_year, t.quota_currency, t.base_quota_left, t.consumables_quota_left,
       t.deductible_rate, t.insurer, t.policy_no
FROM plans p
JOIN LATERAL (
    SELECT * FROM plan_terms WHERE plan_terms.plan_id = p.plan_id ORDER BY term_no DESC LIMIT 1
) t ON true;
