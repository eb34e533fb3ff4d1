-- C10: a person's review of an automated decision, and the plan's end it may cause.
ALTER TABLE cases ADD COLUMN review_verdict text;
ALTER TABLE cases ADD COLUMN reviewer_id text;
ALTER TABLE cases ADD COLUMN customer_owes_amount numeric(18, 2);
ALTER TABLE cases ADD COLUMN customer_owes_currency char(3);
ALTER TABLE plan_view ADD COLUMN state text NOT NULL DEFAULT 'active'
    CHECK (state IN ('active', 'terminated'));
