-- Events kept until what they depend on arrives (shared.waiting), written in the transaction
-- that wrote their inbox row. `due_at` is when the timer hands an event back unasked: at its
-- deadline, or earlier for a recheck (a dependency committed by another instance in the very
-- moment the event was kept is found then, not only at the deadline).
CREATE TABLE waiting_events (
    event_id   uuid PRIMARY KEY,
    topic      text NOT NULL,
    dependency text NOT NULL,
    key        text NOT NULL,
    payload    bytea NOT NULL,
    since      timestamptz NOT NULL,
    deadline   timestamptz NOT NULL,
    due_at     timestamptz NOT NULL
);
CREATE INDEX waiting_events_awaited ON waiting_events (dependency, key);
CREATE INDEX waiting_events_due ON waiting_events (due_at);
