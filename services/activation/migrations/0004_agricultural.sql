-- The agricultural plan (P4, P6, A4): what a sold code is, and the plan year of each term.
-- A code's delivery address (F4) is not kept here: only fulfilment keeps it.
ALTER TABLE plan_codes ADD COLUMN family text NOT NULL DEFAULT 'consumer'
    CHECK (family IN ('consumer', 'agricultural'));
ALTER TABLE plan_codes ADD COLUMN plan_year integer CHECK (plan_year BETWEEN 1 AND 3);
ALTER TABLE plan_codes ADD COLUMN new_drone_bundle boolean NOT NULL DEFAULT false;

ALTER TABLE plan_terms ADD COLUMN plan_year integer CHECK (plan_year BETWEEN 1 AND 3);
-- A4: a renewal bought before expiry ends the previous term at the purchase; term_end is then
-- the effective end and scheduled_end the end it was bound with.
ALTER TABLE plan_terms ADD COLUMN scheduled_end timestamptz;

-- G1-G3: an accessory is tied to the one drone it was first activated on (moved only with the
-- plan to a replacement unit, F3), associated with it or not, and released for good.
CREATE TABLE accessories (
    accessory_sn       text PRIMARY KEY,
    accessory_type     text NOT NULL CHECK (accessory_type IN ('spray', 'spreading', 'lifting')),
    drone_sn           text NOT NULL,
    state              text NOT NULL CHECK (state IN ('activated', 'associated', 'released')),
    first_activated_at timestamptz NOT NULL,
    associated_at      timestamptz,
    released_at        timestamptz,
    replaced_by_sn     text
);
-- G2: one associated accessory of each type per drone.
CREATE UNIQUE INDEX accessories_one_of_each_type
    ON accessories (drone_sn, accessory_type) WHERE state = 'associated';

-- Every activation reported, with what was decided; the business key catches upstream resends.
CREATE TABLE accessory_activations (
    accessory_sn   text NOT NULL,
    drone_sn       text NOT NULL,
    activated_at   timestamptz NOT NULL,
    accessory_type text NOT NULL,
    outcome        text NOT NULL CHECK (outcome IN ('associated', 'unchanged', 'refused')),
    reason_codes   text[] NOT NULL DEFAULT '{}',
    decided_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (accessory_sn, drone_sn, activated_at)
);
