-- C10: a unit requested from the warehouse when its plan ended for fraud is recalled; one that
-- had left is owed by the customer at the unit's value, and inherits no plan.
ALTER TABLE replacements DROP CONSTRAINT replacements_state_check;
ALTER TABLE replacements ADD CONSTRAINT replacements_state_check
    CHECK (state IN ('awaiting_payment', 'shipment_requested', 'dispatched', 'cancelled',
                     'recall_requested', 'unit_owed'));
ALTER TABLE replacements ADD COLUMN owed_amount numeric(18, 2);
ALTER TABLE replacements ADD COLUMN owed_currency char(3);
