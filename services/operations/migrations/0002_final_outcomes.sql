-- When a case's final outcome (ClaimFinalised) was seen: from then on its outcome and reasons are
-- the final ones, and the outcome and refusal panels count only cases that have one.
ALTER TABLE cases ADD COLUMN finalised_at timestamptz;
CREATE INDEX cases_finalised_at ON cases (finalised_at);
