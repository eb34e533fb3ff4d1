"""The runtime library of every service: settings, Kafka, PostgreSQL, inbox, outbox."""
