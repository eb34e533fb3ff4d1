-- C9: when the ledger announced that a term ended (TermEnded), and why.
ALTER TABLE plan_terms
    ADD COLUMN ended_at   timestamptz,
    ADD COLUMN end_reason text;
