-- The inbox: which events this service has applied, written in the same transaction as the
-- state change so that a redelivered event changes nothing.
CREATE TABLE inbox (
    event_id     uuid PRIMARY KEY,
    event_type   text NOT NULL,
    topic        text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
);

-- The outbox: events decided in a transaction wait here until the relay has published them.
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE,
    event_type   text NOT NULL,
    topic        text NOT NULL,
    key          text NOT NULL,
    payload      bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
