-- A case's fate as claims tells it once (ClaimFinalised): the outcome in the end (refused when the
-- ledger refused what claims approved), why, and by whom.
ALTER TABLE cases
    ADD COLUMN final_outcome      text,
    ADD COLUMN final_reason_codes text[] NOT NULL DEFAULT '{}',
    ADD COLUMN final_refused_by   text;
