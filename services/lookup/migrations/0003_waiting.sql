-- What the services keep waiting for a dependency (platform.waiting.v1, shared.waiting), and
-- when each wait ended. `key` is what is waited for: an SN, a plan code, a case or shipment id.
CREATE TABLE waits (
    event_id   uuid PRIMARY KEY,
    service    text NOT NULL,
    dependency text NOT NULL,
    key        text NOT NULL,
    event_type text,
    topic      text,
    since      timestamptz,
    deadline   timestamptz,
    ended      text,
    ended_at   timestamptz
);
CREATE INDEX waits_key ON waits (key) WHERE ended IS NULL;
