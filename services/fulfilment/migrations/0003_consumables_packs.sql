-- F4: the consumables pack of a designated AG renewal (T40, T20P year 2; T30, T10 year 3).

-- Orders for a designated renewal, as commerce placed them. The first order of a plan code is
-- kept: the address given at purchase cannot be changed afterwards. The address is personal
-- data and lives here only (never published; the warehouse asks by pack id).
CREATE TABLE pack_orders (
    plan_code     text PRIMARY KEY,
    order_id      text NOT NULL,
    model         text NOT NULL,
    plan_year     integer NOT NULL CHECK (plan_year BETWEEN 2 AND 3),
    purchased_at  timestamptz NOT NULL,
    has_address   boolean NOT NULL,
    recipient     text,
    phone         text,
    province      text,
    city          text,
    district      text,
    street        text,
    postal_code   text,
    country       text,
    received_at   timestamptz NOT NULL DEFAULT now()
);

-- AG renewals activation bound: only a renewal actually bought brings a pack.
CREATE TABLE agricultural_renewals (
    plan_code   text PRIMARY KEY,
    plan_id     uuid NOT NULL,
    plan_year   integer NOT NULL CHECK (plan_year BETWEEN 2 AND 3),
    received_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE consumables_packs (
    pack_id      uuid PRIMARY KEY,
    plan_code    text NOT NULL UNIQUE,
    plan_id      uuid NOT NULL,
    model        text NOT NULL,
    plan_year    integer NOT NULL,
    state        text NOT NULL CHECK (state IN ('scheduled', 'held')),
    reason_code  text,
    items        text[] NOT NULL DEFAULT '{}',
    purchased_at timestamptz NOT NULL,
    due_by       timestamptz,
    decided_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (plan_id, plan_year)
);
