-- Wakes the outbox relays (they LISTEN on the channel `outbox`, shared.messaging.OUTBOX_CHANNEL)
-- when a transaction that wrote to the outbox commits: PostgreSQL delivers NOTIFY at commit.
-- A statement trigger saves every such transaction a NOTIFY round trip of its own.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NOTIFY outbox;
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
