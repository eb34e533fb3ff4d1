"""Replaying ONE dead letter onto its original topic: recorded (who, when, which record), sent
once. A shared dead-letter topic holds one copy per consuming service that refused the record;
replaying one copy sends the original record once, and every consumer reads it again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import structlog

from services.operations import store
from services.operations.domain import replayed_headers
from services.operations.watch import KafkaWatch

log = structlog.get_logger(__name__)

Send = Callable[..., Awaitable[Any]]


class Replayer:
    def __init__(self, pool: asyncpg.Pool, watch: KafkaWatch, send: Send) -> None:
        self._pool = pool
        self._watch = watch
        self._send = send

    async def replay(self, topic: str, partition: int, offset: int, operator: str) -> str:
        """Send the record once and say what became of it; a second replay sends nothing."""
        try:
            letter = await store.dead_letter(self._pool, topic, partition, offset)
        except LookupError as unknown:
            return str(unknown)
        # The replay row and the send commit together: a failed send leaves no record of it.
        async with self._pool.acquire() as conn, conn.transaction():
            if not await store.claim_replay(conn, letter, operator):
                return f"{letter.reference} was replayed before"
            record = await self._watch.record_at(topic, partition, offset)
            headers = {k: v.decode(errors="replace") for k, v in replayed_headers(record.headers)}
            sent = await self._send(
                record.value or b"",
                topic=letter.original_topic,
                key=record.key,
                headers=headers,
                correlation_id=headers.get("correlation_id"),
            )
            await store.record_sent_offset(conn, letter, sent.offset)
        log.info(
            "dead_letter_replayed",
            dead_letter=letter.reference,
            operator=operator,
            original_topic=letter.original_topic,
            sent_partition=sent.partition,
            sent_offset=sent.offset,
        )
        return f"replayed by {operator} onto {letter.original_topic}/{sent.partition}/{sent.offset}"
