-- Personal data lives here and nowhere else: other services know only owner_id.
CREATE TABLE owners (
    owner_id   uuid PRIMARY KEY,
    email      text NOT NULL UNIQUE,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE plan_codes (
    plan_code     text PRIMARY KEY,
    order_id      text NOT NULL,
    sku           text NOT NULL,
    model         text NOT NULL,
    region        text NOT NULL,
    price_amount  numeric(18, 2) NOT NULL,
    price_currency char(3) NOT NULL,
    purchased_at  timestamptz NOT NULL,
    state         text NOT NULL DEFAULT 'sold' CHECK (state IN ('sold', 'pending', 'activated'))
);

-- The device's own first activation starts its binding window (A1, X1).
CREATE TABLE devices (
    sn           text PRIMARY KEY,
    model        text NOT NULL,
    activated_at timestamptz NOT NULL
);

CREATE TABLE activation_requests (
    request_id   text PRIMARY KEY,
    plan_code    text NOT NULL,
    sn           text NOT NULL,
    owner_id     uuid REFERENCES owners (owner_id),
    requested_at timestamptz NOT NULL,
    state        text NOT NULL CHECK (state IN ('activated', 'pending', 'refused')),
    reason_codes text[] NOT NULL DEFAULT '{}',
    decided_at   timestamptz NOT NULL DEFAULT now()
);

-- Terms bound here; the ledger of what a plan has left is the coverage service's.
CREATE TABLE plan_terms (
    plan_id    uuid PRIMARY KEY,
    plan_code  text NOT NULL UNIQUE REFERENCES plan_codes (plan_code),
    sn         text NOT NULL,
    owner_id   uuid NOT NULL REFERENCES owners (owner_id),
    term_start timestamptz NOT NULL,
    term_end   timestamptz NOT NULL
);
CREATE INDEX plan_terms_by_sn ON plan_terms (sn, term_end);
