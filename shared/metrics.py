"""Prometheus metrics every service exposes."""

from __future__ import annotations

from prometheus_client import Counter, Histogram, start_http_server

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


def serve_metrics(port: int) -> None:
    if port:
        start_http_server(port, addr="127.0.0.1")
