"""Exactly-once effects over at-least-once delivery: the inbox, the outbox and its relay.

A handler's state change, the ids of the events it consumed (inbox) and the events it decided
to publish (outbox) are written in ONE PostgreSQL transaction. The Kafka offset is committed only
after that transaction, so a crash anywhere ends in exactly one effect: a redelivered event finds
its id in the inbox and changes nothing; an event decided but not yet sent waits in the outbox.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncpg
import structlog

from contracts import serialise_event
from contracts.envelope import Envelope, Payload
from contracts.topics import Topic, envelope_for, topic_of
from shared.metrics import OUTBOX_PUBLISHED
from shared.milestones import log_milestone
from shared.retry import is_transient, transient_retries
from shared.tracing import TRACEPARENT, traceparent_for

if TYPE_CHECKING:
    from shared.db import Connection

log = structlog.get_logger(__name__)

OUTBOX_CHANNEL = "outbox"
_RELAY_LOCK = 7_201_002  # advisory lock id: one relay publishes at a time, keeping key order


@dataclass
class Transaction:
    """What a handler may touch: the connection inside the transaction, and the outbox."""

    conn: Connection
    producer: str
    outgoing: list[tuple[Topic, str, Envelope]] = field(default_factory=list)

    def emit(
        self,
        payload: Payload,
        *,
        key: str,
        cause: Envelope,
        correlation_id: str | None = None,
        envelope: type[Envelope] | None = None,
    ) -> Envelope:
        """Queue the event carrying `payload`, caused by `cause`, for the outbox.

        The envelope, its topic, the producer and the causation come from the contracts and the
        service; the correlation is the cause's unless the event starts a thread of its own (a
        case, a plan). `envelope` is needed only where one payload travels in two event types.
        """
        event_class = envelope or envelope_for(payload)
        event = event_class.new(
            payload,
            producer=self.producer,
            correlation_id=correlation_id or cause.correlation_id,
            cause=cause,
        )
        self.publish(topic_of(event_class), key, event)
        return event

    def publish(self, topic: Topic, key: str, event: Envelope) -> None:
        """Queue a finished event for `topic`: what `emit` does once it has built the envelope.
        Handlers emit; this is for a topic no contract names (the runtime's own tests)."""
        self.outgoing.append((topic, key, event))


BatchHandler = Callable[[Sequence[Any], Transaction], Awaitable[None]]


class EventRejectedError(Exception):
    """A batch handler names the event it cannot apply, and why."""

    def __init__(self, event: Envelope, error: Exception) -> None:
        super().__init__(event.event_id, error)
        self.event = event
        self.error = error


@dataclass(frozen=True)
class Delivery:
    """One event taken off `topic`, and the batch handler of that topic."""

    topic: str
    event: Envelope
    handle: BatchHandler


@dataclass(frozen=True)
class BatchOutcome:
    """What became of each delivery of a batch, by its position in the batch."""

    applied: list[int]
    duplicates: list[int]
    rejected: dict[int, Exception]


class _Rejected(Exception):
    """The batch was rolled back for a rejection: of the event at `index` when its handler named
    it, else of an event still to be found by applying the batch one event at a time."""

    def __init__(self, index: int | None, error: Exception) -> None:
        super().__init__(index, error)
        self.index = index
        self.error = error


async def apply_batch(
    pool: asyncpg.Pool, batch: Sequence[Delivery], *, producer: str, attempts: int
) -> BatchOutcome:
    """Apply every event of `batch` this service has not applied yet, in ONE transaction.

    The new events of each topic go to that topic's batch handler in one call, in the order they
    came, so a handler loads their context and writes their results with a statement per table
    instead of per event. An event whose handler fails for a reason of its own (not a transient
    one) is `rejected`, and nothing of it remains, its inbox row included, so a replay after a
    fix applies it. The first try runs the whole batch without savepoints; a rejection rolls it
    back, and the batch is applied again without the event its handler named (or, when it named
    none, with every event), one event at a time, each in a savepoint, so that further
    rejections cost only themselves. Transient database failures redo the whole transaction with
    backoff; a retry never half-applies.
    """
    rejected: dict[int, Exception] = {}
    isolated = False
    while True:
        try:
            async for attempt in transient_retries(attempts):
                with attempt:
                    outcome = await _apply_in_one_transaction(
                        pool, batch, rejected, producer=producer, isolated=isolated
                    )
                    return outcome
        except _Rejected as rejection:
            if rejection.index is not None:
                rejected[rejection.index] = rejection.error
            isolated = True
    raise AssertionError("unreachable: tenacity re-raises the last error")


async def _apply_in_one_transaction(
    pool: asyncpg.Pool,
    batch: Sequence[Delivery],
    rejected: dict[int, Exception],
    *,
    producer: str,
    isolated: bool,
) -> BatchOutcome:
    """Not `isolated`: one handler call per topic, and a rejection raises `_Rejected`, rolling
    everything back. `isolated`: one call per event, each in a savepoint, and its rejection is
    returned instead."""
    candidates = [index for index in range(len(batch)) if index not in rejected]
    async with pool.acquire() as conn, conn.transaction():
        first_seen = {
            row["event_id"]
            for row in await conn.fetch(
                "INSERT INTO inbox (event_id, event_type, topic) "
                "SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[]) "
                "ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
                [batch[index].event.event_id for index in candidates],
                [batch[index].event.event_type for index in candidates],
                [batch[index].topic for index in candidates],
            )
        }
        new: list[int] = []
        duplicates: list[int] = []
        for index in candidates:
            if batch[index].event.event_id in first_seen:
                first_seen.discard(batch[index].event.event_id)  # twice in one batch: once
                new.append(index)
            else:
                duplicates.append(index)
        tx = Transaction(conn, producer)
        if isolated:
            applied, also_rejected = await _apply_one_by_one(tx, batch, new)
        else:
            applied, also_rejected = new, {}
            for handle, indexes in _by_topic(batch, new):
                try:
                    await handle([batch[index].event for index in indexes], tx)
                except Exception as error:
                    if is_transient(error):
                        raise
                    raise _named_rejection(batch, indexes, error) from error
        await _write_outbox(conn, tx.outgoing)
    return BatchOutcome(applied, duplicates, rejected | also_rejected)


def _by_topic(
    batch: Sequence[Delivery], indexes: list[int]
) -> list[tuple[BatchHandler, list[int]]]:
    """The events of each topic, in the order they came; topics in order of first appearance
    (across topics Kafka promises no order, so none is implied here either)."""
    grouped: dict[str, tuple[BatchHandler, list[int]]] = {}
    for index in indexes:
        grouped.setdefault(batch[index].topic, (batch[index].handle, []))[1].append(index)
    return list(grouped.values())


def _named_rejection(batch: Sequence[Delivery], indexes: list[int], error: Exception) -> _Rejected:
    if isinstance(error, EventRejectedError):
        for index in indexes:
            if batch[index].event is error.event:
                return _Rejected(index, error.error)
    return _Rejected(None, error)


async def _apply_one_by_one(
    tx: Transaction, batch: Sequence[Delivery], indexes: list[int]
) -> tuple[list[int], dict[int, Exception]]:
    applied: list[int] = []
    rejected: dict[int, Exception] = {}
    for index in indexes:
        delivery = batch[index]
        queued = len(tx.outgoing)
        try:
            async with tx.conn.transaction():
                await delivery.handle([delivery.event], tx)
        except Exception as error:
            if is_transient(error):
                raise
            del tx.outgoing[queued:]
            rejected[index] = error.error if isinstance(error, EventRejectedError) else error
            await tx.conn.execute("DELETE FROM inbox WHERE event_id = $1", delivery.event.event_id)
            continue
        applied.append(index)
    return applied, rejected


async def _write_outbox(conn: Connection, outgoing: list[tuple[Topic, str, Envelope]]) -> None:
    if not outgoing:
        return
    await conn.execute(
        # Ids follow the order the events were decided in: the relay publishes by id.
        "INSERT INTO outbox (event_id, event_type, topic, key, payload, traceparent, "
        "correlation_id) "
        "SELECT event_id, event_type, topic, key, payload, traceparent, correlation_id "
        "FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::text[], "
        "$7::text[]) WITH ORDINALITY AS decided (event_id, event_type, topic, key, payload, "
        "traceparent, correlation_id, position) ORDER BY position",
        [event.event_id for _, _, event in outgoing],
        [event.event_type for _, _, event in outgoing],
        [topic.name for topic, _, _ in outgoing],
        [key for _, key, _ in outgoing],
        [serialise_event(event) for _, _, event in outgoing],
        [traceparent_for(event) for _, _, event in outgoing],
        [event.correlation_id for _, _, event in outgoing],
    )


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
                    # A short batch emptied the outbox as of its snapshot; anything committed
                    # since has notified, and the wait below returns at once.
                    while (
                        not self._stopping.is_set() and await self.drain_once() == self._batch_size
                    ):
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
            # Marked before they are sent, in the transaction that commits only once every send
            # is acknowledged: a failed send rolls the marks back.
            marked = await conn.fetch(
                "UPDATE outbox SET published_at = now() WHERE id IN ("
                "SELECT id FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1) "
                "RETURNING id, event_id, event_type, topic, key, payload, traceparent, "
                "correlation_id",
                self._batch_size,
            )
            if not marked:
                return 0
            rows = sorted(marked, key=lambda row: row["id"])
            pending = [
                await self._send(
                    bytes(row["payload"]),
                    topic=row["topic"],
                    key=row["key"].encode(),
                    headers=_headers(row),
                    # FastStream's own `correlation_id` header, set to the envelope's.
                    correlation_id=row["correlation_id"],
                    no_confirm=True,
                )
                for row in rows
            ]
            await asyncio.gather(*pending)
        OUTBOX_PUBLISHED.labels(self._service).inc(len(rows))
        for row in rows:
            log_milestone(self._service, row["event_type"], bytes(row["payload"]))
        return len(rows)


def _headers(row: asyncpg.Record) -> dict[str, str]:
    headers = {
        "content-type": "application/json",
        "event_type": row["event_type"],
        "event_id": str(row["event_id"]),
    }
    if row["traceparent"]:
        headers[TRACEPARENT] = row["traceparent"]
    return headers
