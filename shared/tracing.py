"""Traces across services (OpenTelemetry), carried on the wire as W3C `traceparent` headers.

Every event a service handles gets a span whose parent is the span that decided the event, read
from the record's `traceparent` header; every event published because of it (its causation id)
carries that span in its own `traceparent`, stored beside it in the outbox. One case, from the
assessment to the inheritance, is so one trace across claims, coverage and fulfilment. A batch
has a span of its own, linked from the spans of its events, which belong to many cases' traces.

Spans are always recorded, so that they can be propagated; they leave the process only when an
exporter is configured: OTLP over HTTP (`CAREPLAN_OTLP_ENDPOINT`) or JSON lines in a file
(`CAREPLAN_TRACE_FILE`, for tests and debugging).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import IO

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.trace import Link, NonRecordingSpan, Span, SpanContext, SpanKind

from contracts.envelope import Envelope

TRACEPARENT = "traceparent"

_tracer = trace.get_tracer("careplan")


def configure_tracing(
    service: str, *, otlp_endpoint: str | None, trace_file: Path | None
) -> TracerProvider:
    """Install the process's tracer provider; `shutdown()` on it flushes what is buffered."""
    provider = TracerProvider(resource=Resource.create({"service.name": f"careplan-{service}"}))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
    if trace_file:
        provider.add_span_processor(BatchSpanProcessor(_file_exporter(trace_file)))
    trace.set_tracer_provider(provider)
    return provider


def _file_exporter(path: Path) -> ConsoleSpanExporter:
    path.parent.mkdir(parents=True, exist_ok=True)
    out: IO[str] = path.open("a", encoding="utf-8")  # closed with the process
    return ConsoleSpanExporter(out=out, formatter=_one_line)


def _one_line(span: ReadableSpan) -> str:
    line: str = span.to_json(indent=None)
    return line + "\n"


def event_ids(event: Envelope) -> dict[str, str]:
    """The ids an operator follows an event by: its own, its correlation, its case and plan."""
    ids = {
        "event_id": str(event.event_id),
        "event_type": event.event_type,
        "correlation_id": event.correlation_id,
    }
    for name in ("case_id", "plan_id"):
        value = getattr(event.payload, name, None)
        if value is not None:
            ids[name] = str(value)
    return ids


@contextmanager
def batch_span(service: str, records: int) -> Iterator[Span]:
    with _tracer.start_as_current_span(
        f"{service} batch",
        kind=SpanKind.CONSUMER,
        attributes={"careplan.service": service, "messaging.batch.message_count": records},
    ) as span:
        yield span


def describe_batch(span: Span, events: Sequence[Envelope]) -> None:
    """The batch span names what it carried: its event types, cases and plans."""
    ids = [event_ids(event) for event in events]
    for name in ("event_type", "case_id", "plan_id"):
        values = sorted({found[name] for found in ids if name in found})
        span.set_attribute(f"careplan.{name}s", values)


# event id -> the span of its handling, for the batch in hand: what it causes carries it on.
_handling: ContextVar[dict[uuid.UUID, SpanContext] | None] = ContextVar(
    "careplan_handling", default=None
)


@contextmanager
def event_spans(
    service: str,
    batch: Span,
    received: Sequence[tuple[str, Sequence[tuple[str, bytes]], Envelope]],
) -> Iterator[list[Span]]:
    """A span for each (topic, headers, event) received, child of the span that published the
    event (if any) and linked to its batch's; ended when the batch is applied."""
    spans = [
        _tracer.start_span(
            f"{service} handle {event.event_type}",
            context=propagate.extract(
                {key: value.decode(errors="replace") for key, value in headers},
                context=Context(),
            ),
            kind=SpanKind.CONSUMER,
            links=[Link(batch.get_span_context())],
            attributes={f"careplan.{name}": value for name, value in event_ids(event).items()}
            | {"careplan.service": service, "messaging.destination.name": topic},
        )
        for topic, headers, event in received
    ]
    token = _handling.set(
        {
            event.event_id: span.get_span_context()
            for (_, _, event), span in zip(received, spans, strict=True)
        }
    )
    try:
        yield spans
    finally:
        _handling.reset(token)
        for span in spans:
            span.end()


def traceparent_for(event: Envelope) -> str | None:
    """The W3C traceparent an event is published with: that of the handling of its cause."""
    handling = _handling.get() or {}
    cause = handling.get(event.causation_id) if event.causation_id else None
    if cause is None:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(NonRecordingSpan(cause)))
    return carrier.get(TRACEPARENT)
