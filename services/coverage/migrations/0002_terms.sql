-- A plan lives across terms: the first one and its renewals (A3). Entitlements belong to a term,
-- so a renewal brings fresh replacements and the old term's unused ones end with it.
CREATE TABLE plan_terms (
    plan_id            uuid NOT NULL REFERENCES plans (plan_id),
    term_no            integer NOT NULL CHECK (term_no >= 1),
    sku                text NOT NULL,
    term_start         timestamptz NOT NULL,
    term_end           timestamptz NOT NULL CHECK (term_end > term_start),
    replacements_total integer NOT NULL CHECK (replacements_total >= 0),
    flyaways_total     integer NOT NULL CHECK (flyaways_total >= 0),
    replacements_left  integer NOT NULL CHECK (replacements_left >= 0),
    flyaways_left      integer NOT NULL CHECK (flyaways_left >= 0),
    state              text NOT NULL CHECK (state IN ('active', 'exhausted')),
    PRIMARY KEY (plan_id, term_no)
);

INSERT INTO plan_terms (plan_id, term_no, sku, term_start, term_end, replacements_total,
                        flyaways_total, replacements_left, flyaways_left, state)
SELECT plan_id, 1, sku, term_start, term_end, replacements_total, flyaways_total,
       replacements_left, flyaways_left, state
FROM plans;

ALTER TABLE plans
    DROP COLUMN term_start, DROP COLUMN term_end, DROP COLUMN replacements_total,
    DROP COLUMN flyaways_total, DROP COLUMN replacements_left, DROP COLUMN flyaways_left,
    DROP COLUMN state;
ALTER TABLE plans ADD COLUMN state text NOT NULL DEFAULT 'active'
    CHECK (state IN ('active', 'terminated'));

ALTER TABLE deductions ADD COLUMN term_no integer NOT NULL DEFAULT 1;

-- Each plan with its latest term: what an operator or a test reads as "the plan's balance".
CREATE VIEW plan_balances AS
SELECT p.plan_id, p.sn, p.model, p.region, p.state AS plan_state, t.term_no, t.sku,
       t.term_start, t.term_end, t.replacements_total, t.flyaways_total,
       t.replacements_left, t.flyaways_left, t.state
FROM plans p
JOIN LATERAL (
    SELECT * FROM plan_terms WHERE plan_terms.plan_id = p.plan_id ORDER BY term_no DESC LIMIT 1
) t ON true;
