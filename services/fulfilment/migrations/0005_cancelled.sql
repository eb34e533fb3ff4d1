-- C10: a replacement of a plan terminated for fraud, still waiting for its fee, never ships.
ALTER TABLE replacements DROP CONSTRAINT replacements_state_check;
ALTER TABLE replacements ADD CONSTRAINT replacements_state_check
    CHECK (state IN ('awaiting_payment', 'shipment_requested', 'dispatched', 'cancelled'));
