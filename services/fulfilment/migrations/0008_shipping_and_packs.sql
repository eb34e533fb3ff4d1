-- F1: a replacement outside the plan's region carries the shipping and customs the customer
-- owes (priced from the catalogue at the deduction) and how they were settled.
ALTER TABLE replacements
    ADD COLUMN shipping_amount  numeric(18, 2),
    ADD COLUMN customs_amount   numeric(18, 2),
    ADD COLUMN charges_currency char(3),
    ADD CONSTRAINT replacements_charges_check
        CHECK ((shipping_amount IS NULL) = (customs_amount IS NULL)
               AND (shipping_amount IS NULL) = (charges_currency IS NULL));

-- F1: the customer's documented choice, made with a payment: shipping and customs paid before
-- the unit ships, or billed on delivery.
ALTER TABLE payments ADD COLUMN shipping_choice text NOT NULL DEFAULT 'pay_before_shipping'
    CHECK (shipping_choice IN ('pay_before_shipping', 'bill_on_delivery'));

-- F4: a pack whose 30 working days ran past the working-day calendar: its last day (the days
-- after it were counted as weekdays alone).
ALTER TABLE consumables_packs ADD COLUMN weekdays_only_after date;
