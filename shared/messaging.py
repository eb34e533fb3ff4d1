"""Exactly-once effects over at-least-once delivery: the inbox, the outbox and its relay.

A handler's state change, the ids of the events it consumed (inbox) and the events it decided
to publish (outbox) are written in ONE PostgreSQL transaction. The Kafka offset is committed only
after that transaction, so a crash anywhere ends in exactly one effect: a redelivered event finds
its id in the inbox and changes nothing; an event decided but not yet sent waits in the outbox.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import structlog

from contracts import serialise_event
from contracts.envelope import Envelope, Payload
from contracts.topics import BY_NAME, Topic, envelope_for, topic_of
from contracts.waiting import EventWaitingPayload, WaitEnd, WaitOverPayload
from shared import waiting
from shared.metrics import OUTBOX_PUBLISHED, WAITS_ENDED
from shared.milestones import log_milestone
from shared.retry import is_transient, transient_retries
from shared.tracing import TRACEPARENT, traceparent_for

if TYPE_CHECKING:
    from shared.db import Connection

log = structlog.get_logger(__name__)

OUTBOX_CHANNEL = "outbox"
_RELAY_LOCK = 7_201_002  # advisory lock id: one relay publishes at a time, keeping key order


BatchHandler = Callable[[Sequence[Any], "Transaction"], Awaitable[None]]
# A job on the service's clock: given the clock's time, it does what is due by then in the
# transaction and answers how much it did (0: nothing was due).
ClockJob = Callable[["Transaction", datetime], Awaitable[int]]


@dataclass(frozen=True)
class WaitingRoom:
    """How a service keeps events that came before what they depend on (shared.waiting): the
    handler of each topic it reads, to hand kept events back to, and the grace periods."""

    handlers: Mapping[str, BatchHandler]
    graces: Mapping[str, timedelta] = field(default_factory=dict)
    recheck: timedelta = timedelta(seconds=30)


NO_WAITING = WaitingRoom({})


@dataclass
class Transaction:
    """What a handler may touch: the connection inside the transaction, the outbox, and the
    waiting room."""

    conn: Connection
    producer: str
    room: WaitingRoom = NO_WAITING
    outgoing: list[tuple[Topic, str, Envelope]] = field(default_factory=list)
    kept: dict[uuid.UUID, waiting.Kept] = field(default_factory=dict)
    resolved: dict[str, set[str]] = field(default_factory=dict)
    # Kept events being handed back: when each was first kept, and whether its grace is over.
    handed_back: dict[uuid.UUID, waiting.HandedBack] = field(default_factory=dict)

    def wait(self, event: Envelope, dependency: waiting.Dependency, key: str) -> bool:
        """Keep `event` until `dependency` is resolved for `key`: True, and the handler leaves
        it for now (no row, no event). False when its grace period is over (or is zero): the
        handler answers it now, as it stands."""
        back = self.handed_back.get(event.event_id)
        if back is not None and back.expired:
            return False
        grace = self.room.graces.get(dependency.name, dependency.grace)
        now = datetime.now(UTC)
        since = back.since if back is not None else now
        deadline = since + grace
        if deadline <= now:
            return False
        self.kept[event.event_id] = waiting.Kept(
            event.event_id,
            topic_of(type(event)).name,
            dependency.name,
            key,
            serialise_event(event),
            since,
            deadline,
            min(deadline, now + self.room.recheck),
        )
        if back is None:
            self.emit(
                EventWaitingPayload(
                    service=self.producer,
                    dependency=dependency.name,
                    key=key,
                    waiting_event_id=event.event_id,
                    waiting_event_type=event.event_type,
                    waiting_topic=topic_of(type(event)).name,
                    waiting_since=since,
                    deadline=deadline,
                ),
                key=key,
                cause=event,
            )
        return True

    def resolve(self, dependency: waiting.Dependency, keys: Iterable[str]) -> None:
        """What this transaction saved satisfies `dependency` for `keys`: the events kept for
        them are handed back to their handlers in this transaction, after the batch's."""
        self.resolved.setdefault(dependency.name, set()).update(keys)

    def emit(
        self,
        payload: Payload,
        *,
        key: str,
        cause: Envelope | None,
        correlation_id: str | None = None,
        envelope: type[Envelope] | None = None,
        occurred_at: datetime | None = None,
    ) -> Envelope:
        """Queue the event carrying `payload`, caused by `cause`, for the outbox.

        The envelope, its topic, the producer and the causation come from the contracts and the
        service; the correlation is the cause's unless the event starts a thread of its own (a
        case, a plan). An event of the service's clock has no cause and names its correlation.
        `envelope` is needed only where one payload travels in two event types; `occurred_at`
        where the event must bear the instant its rows were written with.
        """
        correlation = correlation_id or (cause.correlation_id if cause else None)
        if correlation is None:
            raise ValueError("an event without a cause must name its correlation id")
        event_class = envelope or envelope_for(payload)
        event = event_class.new(
            payload,
            producer=self.producer,
            correlation_id=correlation,
            cause=cause,
            occurred_at=occurred_at,
        )
        self.publish(topic_of(event_class), key, event)
        return event

    def publish(self, topic: Topic, key: str, event: Envelope) -> None:
        """Queue a finished event for `topic`: what `emit` does once it has built the envelope.
        Handlers emit; this is for a topic no contract names (the runtime's own tests)."""
        self.outgoing.append((topic, key, event))


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
    # Kept events handed back in the batch's transaction that their handler rejected.
    rejected_waiting: list[tuple[waiting.HandedBack, Exception]] = field(default_factory=list)


class _Rejected(Exception):
    """The batch was rolled back for a rejection: of the event at `index` when its handler named
    it, else of an event still to be found by applying the batch one event at a time."""

    def __init__(self, index: int | None, error: Exception) -> None:
        super().__init__(index, error)
        self.index = index
        self.error = error


async def apply_batch(
    pool: asyncpg.Pool,
    batch: Sequence[Delivery],
    *,
    producer: str,
    attempts: int,
    room: WaitingRoom = NO_WAITING,
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
                        pool, batch, rejected, producer=producer, isolated=isolated, room=room
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
    room: WaitingRoom,
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
        tx = Transaction(conn, producer, room)
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
        rejected_waiting = await settle_waiting(tx)
        await _write_outbox(conn, tx.outgoing)
    return BatchOutcome(applied, duplicates, rejected | also_rejected, rejected_waiting)


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
            tx.kept.pop(delivery.event.event_id, None)
            rejected[index] = error.error if isinstance(error, EventRejectedError) else error
            await tx.conn.execute("DELETE FROM inbox WHERE event_id = $1", delivery.event.event_id)
            continue
        applied.append(index)
    return applied, rejected


MAX_HAND_BACK_ROUNDS = 20  # a chain of dependencies resolved in one transaction, at most


async def settle_waiting(tx: Transaction) -> list[tuple[waiting.HandedBack, Exception]]:
    """Hand back the kept events this transaction resolved (they may resolve others, or wait
    again), then keep what still waits. Returns the events handed back that their handler
    rejected: nothing of them remains but their inbox row, and they are the caller's to
    dead-letter."""
    rejected: list[tuple[waiting.HandedBack, Exception]] = []
    for _ in range(MAX_HAND_BACK_ROUNDS):
        if not tx.resolved:
            break
        resolved, tx.resolved = tx.resolved, {}
        # Kept earlier in this transaction and resolved in it too: found by the same query.
        await waiting.keep(tx.conn, list(tx.kept.values()))
        tx.kept.clear()
        rejected += await hand_back(tx, await waiting.take_resolved(tx.conn, resolved))
    await waiting.keep(tx.conn, list(tx.kept.values()))
    tx.kept.clear()
    return rejected


async def hand_back(
    tx: Transaction, events: list[waiting.HandedBack]
) -> list[tuple[waiting.HandedBack, Exception]]:
    """Each topic's kept events to its handler, in the order they were first kept, each topic
    in a savepoint; a rejection there redoes that topic one event at a time."""
    rejected: list[tuple[waiting.HandedBack, Exception]] = []
    by_topic: dict[str, list[tuple[waiting.HandedBack, Envelope]]] = {}
    for back in events:
        tx.handed_back[back.event_id] = back
        try:
            event = BY_NAME[back.topic].parse(back.payload)
        except (KeyError, ValueError) as error:  # kept under a contract since changed
            rejected.append((back, error))
            continue
        by_topic.setdefault(back.topic, []).append((back, event))
    for topic, kept in by_topic.items():
        handle = tx.room.handlers[topic]
        marks = (len(tx.outgoing), set(tx.kept))
        try:
            async with tx.conn.transaction():
                await handle([event for _, event in kept], tx)
        except Exception as error:
            if is_transient(error):
                raise
            _undo(tx, *marks)
            for back, event in kept:
                marks = (len(tx.outgoing), set(tx.kept))
                try:
                    async with tx.conn.transaction():
                        await handle([event], tx)
                except Exception as one_error:
                    if is_transient(one_error):
                        raise
                    _undo(tx, *marks)
                    rejected.append(
                        (
                            back,
                            one_error.error
                            if isinstance(one_error, EventRejectedError)
                            else one_error,
                        )
                    )
    for back, event in (pair for kept in by_topic.values() for pair in kept):
        if back.event_id not in tx.kept:  # not waiting again
            ended = WaitEnd.EXPIRED if back.expired else WaitEnd.RESOLVED
            WAITS_ENDED.labels(tx.producer, back.dependency, ended.value).inc()
            tx.emit(
                WaitOverPayload(
                    service=tx.producer,
                    dependency=back.dependency,
                    key=back.key,
                    waiting_event_id=back.event_id,
                    ended=ended,
                ),
                key=back.key,
                cause=event,
            )
    return rejected


def _undo(tx: Transaction, queued: int, kept_before: set[uuid.UUID]) -> None:
    del tx.outgoing[queued:]
    for event_id in set(tx.kept) - kept_before:
        del tx.kept[event_id]


async def hand_back_due(
    pool: asyncpg.Pool, *, producer: str, room: WaitingRoom, limit: int = 500
) -> tuple[int, list[tuple[waiting.HandedBack, Exception]]]:
    """One pass of the service's clock: the kept events due (recheck or deadline) handed back
    in one transaction. Returns how many, and those their handler rejected."""
    async with pool.acquire() as conn, conn.transaction():
        due = await waiting.take_due(conn, limit)
        if not due:
            return 0, []
        tx = Transaction(conn, producer, room)
        rejected = await hand_back(tx, due)
        rejected += await settle_waiting(tx)
        await _write_outbox(conn, tx.outgoing)
    return len(due), rejected


async def run_clock_job(pool: asyncpg.Pool, job: ClockJob, *, producer: str, now: datetime) -> int:
    """One pass of a job on the service's clock, in one transaction with the outbox: what it
    decides and what it emits commit together. Returns how much it did."""
    async with pool.acquire() as conn, conn.transaction():
        tx = Transaction(conn, producer)
        done = await job(tx, now)
        await _write_outbox(conn, tx.outgoing)
    return done


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
                        # Not wait_for, which can swallow a cancellation in 3.11.
                        async with asyncio.timeout(self._fallback_poll):
                            await self._wake.wait()
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
