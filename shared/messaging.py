"""Exactly-once effects over at-least-once delivery: the inbox, the outbox and its relay.

A handler's state change, the ids of the events it consumed (inbox) and the events it decided
to publish (outbox) are written in ONE PostgreSQL transaction. The Kafka offset is committed only
after that transaction, so a crash anywhere ends in exactly one effect: a redelivered event finds
its id in the inbox and changes nothing; an event decided but not yet sent waits in the outbox.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncpg
import structlog

from contracts import serialise_event
from contracts.envelope import Envelope
from contracts.topics import Topic
from shared.metrics import OUTBOX_PUBLISHED
from shared.retry import transient_retries

if TYPE_CHECKING:
    from shared.db import Connection

log = structlog.get_logger(__name__)

OUTBOX_CHANNEL = "outbox"
_RELAY_LOCK = 7_201_002  # advisory lock id: one relay publishes at a time, keeping key order


@dataclass
class Transaction:
    """What a handler may touch: the connection inside the transaction, and the outbox."""

    conn: Connection
    _outgoing: list[tuple[Topic, str, Envelope]] = field(default_factory=list)

    def publish(self, topic: Topic, key: str, event: Envelope) -> None:
        """Queue `event` for `topic`; it is written to the outbox when the transaction commits."""
        self._outgoing.append((topic, key, event))

    async def _write_outbox(self) -> None:
        if not self._outgoing:
            return
        await self.conn.executemany(
            "INSERT INTO outbox (event_id, event_type, topic, key, payload) "
            "VALUES ($1, $2, $3, $4, $5)",
            [
                (event.event_id, event.event_type, topic.name, key, serialise_event(event))
                for topic, key, event in self._outgoing
            ],
        )
        await self.conn.execute(f"NOTIFY {OUTBOX_CHANNEL}")


Apply = Callable[[Transaction], Awaitable[None]]


async def apply_once(
    pool: asyncpg.Pool, topic: str, event: Envelope, apply: Apply, *, attempts: int
) -> bool:
    """Run `apply` for `event` unless this service already did; False when it was a duplicate.

    Transient database failures are retried with backoff; the whole transaction is redone, so a
    retry never half-applies.
    """
    async for attempt in transient_retries(attempts):
        with attempt:
            async with pool.acquire() as conn, conn.transaction():
                first_time = await conn.fetchval(
                    "INSERT INTO inbox (event_id, event_type, topic) VALUES ($1, $2, $3) "
                    "ON CONFLICT (event_id) DO NOTHING RETURNING true",
                    event.event_id,
                    event.event_type,
                    topic,
                )
                if not first_time:
                    return False
                tx = Transaction(conn)
                await apply(tx)
                await tx._write_outbox()
                return True
    raise AssertionError("unreachable: tenacity re-raises the last error")


class OutboxRelay:
    """Publishes outbox rows in order with the idempotent producer, then marks them sent.

    It wakes on NOTIFY; a slow fallback poll covers notifications lost while the listening
    connection was being re-established.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        send: Callable[..., Awaitable[Any]],
        *,
        service: str,
        batch_size: int,
        fallback_poll_seconds: float,
    ) -> None:
        self._pool = pool
        self._send = send
        self._service = service
        self._batch_size = batch_size
        self._fallback_poll = fallback_poll_seconds
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Finish the batch in hand, then return from `run`: a batch cut short by cancellation
        would be sent but not marked, and sent again after the restart."""
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._listen_and_drain()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox_relay_failed")
                await asyncio.sleep(1.0)

    async def _listen_and_drain(self) -> None:
        async with self._pool.acquire() as listener:
            await listener.add_listener(OUTBOX_CHANNEL, self._on_notify)
            try:
                while not self._stopping.is_set():
                    self._wake.clear()
                    while not self._stopping.is_set() and await self.drain_once():
                        pass
                    try:
                        await asyncio.wait_for(self._wake.wait(), timeout=self._fallback_poll)
                    except TimeoutError:
                        if listener.is_closed():
                            return
            finally:
                if not listener.is_closed():
                    await listener.remove_listener(OUTBOX_CHANNEL, self._on_notify)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def drain_once(self) -> int:
        """Publish one batch of unpublished rows; returns how many were published."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _RELAY_LOCK)
            rows = await conn.fetch(
                "SELECT id, event_id, event_type, topic, key, payload FROM outbox "
                "WHERE published_at IS NULL ORDER BY id LIMIT $1",
                self._batch_size,
            )
            if not rows:
                return 0
            pending = [
                await self._send(
                    bytes(row["payload"]),
                    topic=row["topic"],
                    key=row["key"].encode(),
                    headers={
                        "content-type": "application/json",
                        "event_type": row["event_type"],
                        "event_id": str(row["event_id"]),
                    },
                    no_confirm=True,
                )
                for row in rows
            ]
            await asyncio.gather(*pending)
            await conn.execute(
                "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                [row["id"] for row in rows],
            )
        OUTBOX_PUBLISHED.labels(self._service).inc(len(rows))
        return len(rows)
