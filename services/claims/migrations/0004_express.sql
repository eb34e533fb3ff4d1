-- X3: express cases. Premium ships before the damaged unit arrives; its arrival (or its absence
-- by the deadline) decides whether the card pre-authorisation is captured or released.
ALTER TABLE cases ADD COLUMN service_mode text NOT NULL DEFAULT 'standard'
    CHECK (service_mode IN ('standard', 'express_basic', 'express_premium'));
ALTER TABLE cases ADD COLUMN unit_state text NOT NULL DEFAULT 'not_applicable'
    CHECK (unit_state IN ('not_applicable', 'awaiting_unit', 'received', 'overdue'));
ALTER TABLE cases ADD COLUMN pre_authorisation text
    CHECK (pre_authorisation IN ('capture_requested', 'release_requested'));
ALTER TABLE cases ADD COLUMN pre_authorisation_reasons text[] NOT NULL DEFAULT '{}';
