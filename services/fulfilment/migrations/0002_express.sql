-- X3: express premium ships once the fee is paid and the card pre-authorisation is placed.
ALTER TABLE replacements ADD COLUMN service_mode text NOT NULL DEFAULT 'standard'
    CHECK (service_mode IN ('standard', 'express_basic', 'express_premium'));

-- Fee charged (payments), pre-authorisation placed, captured or released: separate facts.
CREATE TABLE pre_authorisations (
    case_id          text PRIMARY KEY,
    requested_amount numeric(18, 2) NOT NULL,
    currency         char(3) NOT NULL,
    authorisation_id text,
    state            text NOT NULL
        CHECK (state IN ('requested', 'placed', 'captured', 'released')),
    requested_at     timestamptz NOT NULL DEFAULT now(),
    placed_at        timestamptz,
    closed_at        timestamptz,
    closed_amount    numeric(18, 2)
);
