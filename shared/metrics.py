"""Prometheus metrics every service exposes, on by default on its documented port."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

# A service's port is CAREPLAN_METRICS_PORT_BASE plus its offset (9301 ... 9306 by default);
# CAREPLAN_METRICS_PORT overrides it, and 0 turns the endpoint off.
METRICS_PORT_OFFSETS = {
    "activation": 1,
    "coverage": 2,
    "claims": 3,
    "fulfilment": 4,
    "lookup": 5,
    "operations": 6,
}

EVENTS_HANDLED = Counter(
    "careplan_events_handled_total",
    "Events taken off a topic, by outcome (applied, duplicate, dead_lettered)",
    ["service", "topic", "outcome"],
)
BATCH_SECONDS = Histogram(
    "careplan_batch_handle_seconds",
    "Time to apply one batch of records, dead letters included",
    ["service"],
)
OUTBOX_PUBLISHED = Counter(
    "careplan_outbox_published_total", "Events the outbox relay published", ["service"]
)
OUTBOX_BACKLOG = Gauge("careplan_outbox_backlog", "Outbox rows not published yet", ["service"])
OUTBOX_OLDEST_SECONDS = Gauge(
    "careplan_outbox_oldest_unsent_seconds",
    "Age of the oldest outbox row not published yet (0 when none waits)",
    ["service"],
)
EVENTS_WAITING = Gauge(
    "careplan_events_waiting",
    "Events kept until what they depend on arrives (shared.waiting), by dependency",
    ["service", "dependency"],
)
WAITS_ENDED = Counter(
    "careplan_waits_ended_total",
    "Kept events handed back to their handler: resolved, or expired after their grace",
    ["service", "dependency", "ended"],
)
DECISIONS = Counter(
    "careplan_decisions_total",
    "Claim decisions published, by outcome and reason code (none for an approval)",
    ["service", "outcome", "reason"],
)
PACKS_BEYOND_CALENDAR = Counter(
    "careplan_packs_beyond_calendar_total",
    "F4: consumables packs whose 30 working days ran past the working-day calendar, counted on"
    " weekdays alone beyond it (extend the calendar)",
    ["service"],
)
DEAD_LETTERS = Counter(
    "careplan_dead_letters_total",
    "Records sent to a dead-letter topic, by original topic and kind of error",
    ["service", "topic", "reason"],
)
# Measured by the operations service, from the broker's offsets.
CONSUMER_LAG = Gauge(
    "careplan_consumer_lag",
    "Records a service's consumer group has not committed past, per partition",
    ["group", "topic", "partition"],
)
DEAD_LETTER_RECORDS = Gauge(
    "careplan_dead_letter_records", "Records kept in each dead-letter topic", ["topic"]
)
HTTP_REQUESTS = Counter(
    "careplan_http_requests_total",
    "HTTP requests answered, by route and status",
    ["service", "route", "status"],
)


def metrics_port(service: str, *, base: int, explicit: int | None) -> int:
    """The port to serve on; 0 (off) for a service with no documented port, such as a test's."""
    if explicit is not None:
        return explicit
    offset = METRICS_PORT_OFFSETS.get(service)
    return 0 if offset is None else base + offset


def serve_metrics(port: int) -> None:
    if port:
        start_http_server(port, addr="127.0.0.1")
