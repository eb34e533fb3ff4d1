-- The agricultural plan in the lookup (X5 with P4-P6, C7, G1-G3). Every column is filled in by
-- whichever event knows it first, as in 0001: topics still interleave in any order.

-- D2: the plan's family; NULL until an event that carries it is projected (consumer before).
ALTER TABLE plans ADD COLUMN family text;

-- An AG term's cover (P4-P6) from activation or coverage, and what is left of its two quotas
-- from coverage. Within a term a quota only ever goes down, so the smallest value seen is the
-- latest (as with replacements_left).
ALTER TABLE plan_terms
    ADD COLUMN plan_year              integer,
    ADD COLUMN base_quota             numeric(18, 2),
    ADD COLUMN consumables_quota      numeric(18, 2),
    ADD COLUMN quota_currency         char(3),
    ADD COLUMN deductible_rate        numeric(6, 4),
    ADD COLUMN insurer                text,
    ADD COLUMN liability_cover        boolean,
    ADD COLUMN base_quota_left        numeric(18, 2),
    ADD COLUMN consumables_quota_left numeric(18, 2);

-- An AG case's money (C7): the split as claims quoted it (ClaimDecided.repair_split) and what
-- the ledger took (QuotaDeductionApplied.split), each the contract's RepairSplit as JSON; the
-- term it was taken from; the accessory a claim was on (G4).
ALTER TABLE cases
    ADD COLUMN family        text,
    ADD COLUMN accessory_sn  text,
    ADD COLUMN quoted_split  jsonb,
    ADD COLUMN ledger_split  jsonb,
    ADD COLUMN ledger_term_no integer;

-- Accessories associated with a drone and released from it (G1, G3, F3), one row per accessory
-- and drone: an association that followed the plan to a replacement unit is a new row on the new
-- drone, naming the drone it came from. A release projected before its association still lands.
CREATE TABLE accessories (
    accessory_sn      text NOT NULL,
    drone_sn          text NOT NULL,
    accessory_type    text NOT NULL,
    associated_at     timestamptz,
    inherited_from_sn text,
    replaced_sn       text,
    released_at       timestamptz,
    replaced_by_sn    text,
    PRIMARY KEY (accessory_sn, drone_sn)
);
CREATE INDEX accessories_by_drone ON accessories (drone_sn);
