"""The composition root: what needs every service (the `careplan` command, the Kafka ACLs) lives
here, so that `shared/`, the runtime library, never depends on a service."""
