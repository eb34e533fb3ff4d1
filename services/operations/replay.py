"""Replaying ONE dead letter onto its original topic: recorded (who, when, which record), sent
once. A shared dead-letter topic holds one copy per consuming service that refused the record;
replaying one copy sends the original record once, and every consumer reads it again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata

from services.operations import store
from services.operations.domain import replayed_headers
from services.operations.watch import KafkaWatch
from shared.db import create_pool
from shared.kafka_security import client_options
from shared.settings import ServiceSettings

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


async def replay_from_terminal(settings: ServiceSettings, reference: str, operator: str) -> str:
    """`careplan replay-dead-letter`: the dashboard's replay, from a terminal.

    `reference` is `<dead-letter topic>/<partition>/<offset>`, as the dashboard shows it.
    """
    topic, partition, offset = reference.rsplit("/", 2)
    pool = await create_pool(settings.dsn_for("operations"), min_size=1, max_size=2)
    watch = KafkaWatch(settings)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_idempotence=True,
        acks="all",
        **client_options(settings),
    )
    await watch.start()
    await producer.start()

    async def send(
        value: bytes,
        *,
        topic: str,
        key: bytes | None,
        headers: dict[str, str],
        correlation_id: str | None,
    ) -> RecordMetadata:
        wire = [(name, value.encode()) for name, value in headers.items()]
        return await producer.send_and_wait(topic, value, key=key, headers=wire)

    try:
        return await Replayer(pool, watch, send).replay(
            topic, int(partition), int(offset), operator
        )
    finally:
        await producer.stop()
        await watch.stop()
        await pool.close()
