-- A plan is the device's coverage across terms: the first term and its renewals (A3).
ALTER TABLE plan_terms DROP CONSTRAINT plan_terms_pkey;
ALTER TABLE plan_terms ADD COLUMN term_no integer NOT NULL DEFAULT 1;
ALTER TABLE plan_terms ADD COLUMN sku text;
UPDATE plan_terms t SET sku = c.sku FROM plan_codes c WHERE c.plan_code = t.plan_code;
ALTER TABLE plan_terms ALTER COLUMN sku SET NOT NULL;
ALTER TABLE plan_terms ADD PRIMARY KEY (plan_id, term_no);
