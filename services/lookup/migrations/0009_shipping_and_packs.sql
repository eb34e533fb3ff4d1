-- F1: what a replacement outside the plan's region costs to ship, and how it was settled.
ALTER TABLE replacements
    ADD COLUMN shipping_amount     numeric(18, 2),
    ADD COLUMN customs_amount      numeric(18, 2),
    ADD COLUMN charges_currency    text,
    ADD COLUMN shipping_settlement text;

-- F4: the consumables pack of a designated AG renewal, its due date (and the calendar's last day
-- when it was counted past it), and the latest address change refused (PACK_ADDRESS_FIXED).
CREATE TABLE packs (
    plan_code                 text PRIMARY KEY,
    plan_id                   uuid,
    pack_id                   uuid,
    plan_year                 integer,
    state                     text,
    due_by                    timestamptz,
    weekdays_only_after       date,
    reason_code               text,
    address_change_request    text,
    address_change_refused_at timestamptz
);
CREATE INDEX packs_by_plan ON packs (plan_id);
