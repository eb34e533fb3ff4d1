-- C9: when each term ended and why, set in the transaction that announced it (TermEnded), so
-- each term is announced once, whichever instance of the ledger's clock finds it first.
ALTER TABLE plan_terms
    ADD COLUMN ended_at timestamptz,
    ADD COLUMN end_reason text CHECK (end_reason IN ('TERM_EXPIRED', 'RENEWAL_TOOK_OVER',
                                                     'REPLACEMENTS_USED', 'BASE_QUOTA_REACHED')),
    ADD CONSTRAINT ended_with_reason CHECK ((ended_at IS NULL) = (end_reason IS NULL));

-- What the clock looks for, each second: terms not yet announced, by end, and terms used up
-- but not announced (only those exhausted before this migration: a deduction that uses a term
-- up announces its end itself).
CREATE INDEX plan_terms_to_announce ON plan_terms (term_end) WHERE ended_at IS NULL;
CREATE INDEX plan_terms_used_up_unannounced ON plan_terms (plan_id)
    WHERE ended_at IS NULL AND state = 'exhausted';
