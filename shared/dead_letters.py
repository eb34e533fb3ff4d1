"""Dead letters: a message that cannot be applied goes to `<topic>.dlq` with the reason.

The dead letter keeps the original key and bytes untouched, so after a fix it can be replayed
onto its topic as it was (`careplan replay-dead-letters`). Transient failures are never
dead-lettered: they are raised, the offset is not committed, and the message comes again.
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker

from contracts.topics import DEAD_LETTER_SUFFIX
from shared.metrics import DEAD_LETTERS, EVENTS_HANDLED

log = structlog.get_logger(__name__)

REASON_HEADER = "dlq-reason"
_MAX_REASON_CHARS = 4000
# Every header a dead letter adds to the original record's own, and what it says (the AsyncAPI
# documents publish this list).
DEAD_LETTER_HEADERS = {
    REASON_HEADER: f"Why the record could not be applied, at most {_MAX_REASON_CHARS} characters",
    "dlq-error-type": "The error's class, e.g. ValidationError",
    "dlq-service": "The service that refused it",
    "dlq-original-topic": "The topic it was read from",
    "dlq-original-partition": "Its partition there",
    "dlq-original-offset": "Its offset there",
    "dlq-failed-at": "When it was refused (ISO 8601, UTC)",
}


class DeadLetters:
    """Publishes a record that cannot be applied to its topic's dead-letter topic."""

    def __init__(self, broker: KafkaBroker, service: str) -> None:
        self._broker = broker
        self._service = service

    async def send(self, record: ConsumerRecord[bytes, bytes], error: Exception) -> None:
        reason = str(error)
        kind = type(error).__name__
        topic = record.topic
        headers = {key: value.decode(errors="replace") for key, value in record.headers or ()}
        added = {
            REASON_HEADER: reason[:_MAX_REASON_CHARS],
            "dlq-error-type": kind,
            "dlq-service": self._service,
            "dlq-original-topic": topic,
            "dlq-original-partition": str(record.partition),
            "dlq-original-offset": str(record.offset),
            "dlq-failed-at": datetime.now(UTC).isoformat(),
        }
        headers.update(added)
        # The record's own correlation id header, if it had one: its bytes are not parsed again
        # here, hostile as they may be (a JSON nested thousands deep, 4 MiB of it).
        correlation_id = headers.get("correlation_id")
        await self._broker.publish(
            record.value or b"",
            topic=topic + DEAD_LETTER_SUFFIX,
            key=record.key,
            headers=headers,
            correlation_id=correlation_id,
        )
        EVENTS_HANDLED.labels(self._service, topic, "dead_lettered").inc()
        DEAD_LETTERS.labels(self._service, topic, kind).inc()
        log.warning(
            "dead_lettered",
            topic=topic,
            partition=record.partition,
            offset=record.offset,
            error_type=kind,
            reason=reason[:300],
            correlation_id=correlation_id,
        )
