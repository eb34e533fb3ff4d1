"""Dead letters: a message that cannot be applied goes to `<topic>.dlq` with the reason.

The dead letter keeps the original key and bytes untouched, so after a fix it can be replayed
onto its topic as it was (`careplan replay-dead-letters`). Transient failures are never
dead-lettered: they are raised, the offset is not committed, and the message comes again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

import structlog
from faststream import BaseMiddleware
from faststream.kafka import KafkaBroker
from faststream.message import StreamMessage

from contracts.topics import DEAD_LETTER_SUFFIX
from shared.metrics import EVENTS_HANDLED
from shared.retry import is_transient

log = structlog.get_logger(__name__)

REASON_HEADER = "dlq-reason"
_MAX_REASON_CHARS = 4000


class DeadLetterMiddleware(BaseMiddleware):
    """Turns any non-transient failure of a handler into a dead letter and lets the offset go on."""

    def __init__(self, msg: Any, /, *, context: Any, broker: KafkaBroker, service: str) -> None:
        super().__init__(msg, context=context)
        self._broker = broker
        self._service = service

    async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
        try:
            return await call_next(msg)
        except Exception as error:
            if is_transient(error):
                raise
            await self._dead_letter(msg, str(error), type(error).__name__)
            return None

    async def _dead_letter(self, msg: StreamMessage[Any], reason: str, kind: str) -> None:
        record = msg.raw_message
        topic = record.topic
        headers = {key: value.decode(errors="replace") for key, value in record.headers or ()}
        headers.update(
            {
                REASON_HEADER: reason[:_MAX_REASON_CHARS],
                "dlq-error-type": kind,
                "dlq-service": self._service,
                "dlq-original-topic": topic,
                "dlq-original-partition": str(record.partition),
                "dlq-original-offset": str(record.offset),
                "dlq-failed-at": datetime.now(UTC).isoformat(),
            }
        )
        await self._broker.publish(
            msg.body, topic=topic + DEAD_LETTER_SUFFIX, key=record.key, headers=headers
        )
        EVENTS_HANDLED.labels(self._service, topic, "dead_lettered").inc()
        log.warning(
            "dead_lettered", topic=topic, offset=record.offset, error_type=kind, reason=reason[:300]
        )


def install_dead_letters(broker: KafkaBroker, service: str) -> None:
    broker.add_middleware(partial(DeadLetterMiddleware, broker=broker, service=service))
