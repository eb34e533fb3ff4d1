-- What the relay puts in the Kafka headers beside the event: the trace it belongs to (W3C
-- traceparent of the span that decided it) and the envelope's correlation id.
ALTER TABLE outbox ADD COLUMN traceparent text, ADD COLUMN correlation_id text;
