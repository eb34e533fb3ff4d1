-- F1: what a replacement outside the plan's region costs to ship, and how it was settled.
ALTER TABLE replacements
    ADD COLUMN shipping_amount     numeric(18, 2),
    ADD COLUMN customs_amount      numeric(18, 2),
    ADD COLUMN charges_currency    text,
    ADD COLUMN shipping_settlement text;
