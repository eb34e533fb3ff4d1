-- C10: a replacement recalled after fraud: asked, then cancelled or already dispatched and owed
-- at the unit's value.
ALTER TABLE replacements ADD COLUMN recall_requested_at timestamptz;
ALTER TABLE replacements ADD COLUMN recall_outcome text;
ALTER TABLE replacements ADD COLUMN recall_concluded_at timestamptz;
ALTER TABLE replacements ADD COLUMN owed_amount numeric(18, 2);
ALTER TABLE replacements ADD COLUMN owed_currency char(3);
