"""A service process: its broker, database pool, migrations, outbox relay and handlers.

Handlers are batch handlers, one per topic: `async def handler(events, tx)`. The runtime takes
records in batches from one consumer for all the service's topics, hands each topic's new events
to its handler in one transaction per batch with the inbox and outbox (shared.messaging), and
commits the batch's Kafka offsets only after that transaction committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import structlog
import uvloop
from aiokafka import ConsumerRecord
from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.message import StreamMessage
from faststream.specification import AsyncAPI
from opentelemetry.trace import Span, StatusCode

from contracts.envelope import Envelope
from contracts.topics import WAITING, Topic
from shared.db import SHARED_MIGRATIONS, apply_migrations, create_pool
from shared.dead_letters import DeadLetters
from shared.health import sample_outbox
from shared.kafka_admin import DEAD_LETTER_MAX_BYTES
from shared.kafka_security import broker_security
from shared.log import configure_logging
from shared.messaging import (
    BatchHandler,
    ClockJob,
    Delivery,
    OutboxRelay,
    WaitingRoom,
    apply_batch,
    hand_back_due,
    run_clock_job,
)
from shared.metrics import BATCH_SECONDS, EVENTS_HANDLED, metrics_port, serve_metrics
from shared.settings import ServiceSettings
from shared.tracing import (
    batch_span,
    configure_tracing,
    describe_batch,
    event_ids,
    event_spans,
)
from shared.waiting import Dependency, HandedBack, graces, sample_waiting

log = structlog.get_logger(__name__)

Hook = Callable[[], Awaitable[None]]


class Service:
    def __init__(
        self,
        name: str,
        *,
        migrations: Path,
        owns: tuple[Topic, ...],
        description: str,
        settings: ServiceSettings | None = None,
        also_reads: tuple[str, ...] = (),
        replays_onto: tuple[str, ...] = (),
        watches_lag: bool = False,
        waits_for: tuple[Dependency, ...] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`also_reads`, `replays_onto` and `watches_lag` declare what a service does with Kafka
        beside consuming and publishing events, for its grants (shared.kafka_acls): topics it
        reads with clients of its own, topics it replays dead letters onto, and whether it
        reads every service group's offsets. `waits_for` lists what an event it reads may
        come before (shared.waiting); such a service announces what it keeps on
        `platform.waiting.v1`. `clock` is the service's time, which its clock jobs
        (`on_clock`) are run with."""
        self.name = name
        self.clock = clock
        self.description = description
        self.waits_for = waits_for
        self.owns = (*owns, WAITING) if waits_for else owns
        self.also_reads = also_reads
        self.replays_onto = replays_onto
        self.watches_lag = watches_lag
        self.settings = settings or ServiceSettings()
        self._migrations = migrations
        self._pool: asyncpg.Pool | None = None
        self._clock_jobs: list[ClockJob] = []
        self._started_hooks: list[Hook] = []
        self._stopping_hooks: list[Hook] = []
        self.consumed: dict[str, tuple[Topic, BatchHandler]] = {}
        self.broker = KafkaBroker(
            # A list: FastStream hands a string to aiokafka as one address, commas and all.
            self.settings.kafka_bootstrap_servers.split(","),
            client_id=f"careplan-{name}-{self.settings.instance}",
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
            max_request_size=DEAD_LETTER_MAX_BYTES + 64 * 1024,  # room for a dead letter's headers
            graceful_timeout=30.0,
            security=broker_security(self.settings),
            logger=None,
        )
        self._dead_letters = DeadLetters(self.broker, name)
        self._due = asyncio.Event()  # a batch came: kept events may be due
        self._room = WaitingRoom({})

    @property
    def waiting_room(self) -> WaitingRoom:
        """The handlers kept events go back to, and each dependency's grace period."""
        return WaitingRoom(
            {name: handler for name, (_, handler) in self.consumed.items()},
            graces(
                self.waits_for,
                every=self.settings.waiting_grace_seconds,
                overrides=self.settings.waiting_grace,
            ),
            timedelta(seconds=self.settings.waiting_recheck_seconds),
        )

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError(f"{self.name} is not started: no database pool yet")
        return self._pool

    def on_started(self, hook: Hook) -> Hook:
        """Run `hook` once the database, broker and relay are up, before `service_started`."""
        self._started_hooks.append(hook)
        return hook

    def on_stopping(self, hook: Hook) -> Hook:
        """Run `hook` first at shutdown, while the broker and the database pool still run."""
        self._stopping_hooks.append(hook)
        return hook

    def on_clock(self, job: ClockJob) -> ClockJob:
        """Run `job(tx, now)` on the service's clock, every `waiting_check_seconds` and after
        each batch, until it answers 0. What it does is kept in the database, so a restart
        resumes where it was; a job must lock what it takes with SKIP LOCKED, so that two
        instances never take the same thing."""
        self._clock_jobs.append(job)
        return job

    @property
    def clock_jobs(self) -> tuple[ClockJob, ...]:
        return tuple(self._clock_jobs)

    def consumes(self, topic: Topic) -> Callable[[BatchHandler], BatchHandler]:
        """Register `handler(events, tx)` for the events of `topic`: each batch's new events
        of that topic, in the order they came."""

        def register(handler: BatchHandler) -> BatchHandler:
            if topic.name in self.consumed:
                raise ValueError(f"{self.name} already has a handler for {topic.name}")
            self.consumed[topic.name] = (topic, handler)
            return handler

        return register

    @property
    def group_id(self) -> str:
        return f"careplan-{self.name}.inbound"

    def _subscribe(self) -> None:
        """One consumer, in one group, for every topic the service reads.

        Records come in batches (what one poll returns, up to `consume_batch_size`, across its
        topics), and a batch is applied in one transaction (shared.messaging.apply_batch); the
        batch's offsets are committed once, after that transaction committed (ack policy
        NACK_ON_ERROR: sought back to the batch's first records when it raises). One consumer
        instead of one per topic saves a fetch loop, a heartbeat and a transaction per topic,
        and a service's batches never deadlock on each other's rows.
        """

        async def on_batch(message: KafkaMessage) -> None:
            await self._handle_batch(message.raw_message)

        async def parsed_record_by_record(message: StreamMessage[Any]) -> None:
            # Each record is parsed on its own, with its topic's contract, so that one bad
            # record is dead-lettered alone and not its batch.
            return None

        self.broker.subscriber(
            *self.consumed,
            batch=True,
            max_records=self.settings.consume_batch_size,
            batch_timeout_ms=self.settings.consume_poll_timeout_ms,
            decoder=parsed_record_by_record,
            group_id=self.group_id,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            max_poll_interval_ms=120_000,
            fetch_min_bytes=self.settings.consume_fetch_min_bytes,
            fetch_max_wait_ms=self.settings.consume_fetch_max_wait_ms,
        )(on_batch)

    async def _handle_batch(self, records: tuple[ConsumerRecord[bytes, bytes], ...]) -> None:
        with batch_span(self.name, len(records)) as span:
            await self._handle_batch_in(span, records)

    async def _handle_batch_in(
        self, span: Span, records: tuple[ConsumerRecord[bytes, bytes], ...]
    ) -> None:
        started = time.perf_counter()
        batch: list[Delivery] = []
        sources: list[ConsumerRecord[bytes, bytes]] = []
        unapplicable: list[tuple[ConsumerRecord[bytes, bytes], Exception]] = []
        for record in records:
            topic, handler = self.consumed[record.topic]
            try:
                # The contract decides what is valid, byte for byte, for every service alike.
                event = topic.parse(record.value or b"")
            except Exception as error:
                unapplicable.append((record, error))
            else:
                batch.append(Delivery(topic.name, event, handler))
                sources.append(record)
        describe_batch(span, [delivery.event for delivery in batch])
        received = [
            (record.topic, record.headers or (), delivery.event)
            for record, delivery in zip(sources, batch, strict=True)
        ]
        with event_spans(self.name, span, received) as spans:
            outcome = await apply_batch(
                self.pool,
                batch,
                producer=self.name,
                attempts=self.settings.transient_retry_attempts,
                room=self._room,
            )
            for index, cause in outcome.rejected.items():
                spans[index].record_exception(cause)
                spans[index].set_status(StatusCode.ERROR, "dead-lettered")
        refused = {id(sources[index]): batch[index].event for index in outcome.rejected}
        unapplicable += [(sources[index], cause) for index, cause in outcome.rejected.items()]
        # After the commit and before the offsets: a crash in between sends them again, and a
        # rejected event left no trace to skip it by.
        await asyncio.gather(
            *(
                self._dead_letter(record, cause, refused.get(id(record)))
                for record, cause in unapplicable
            ),
            *(self._dead_letter_kept(kept, cause) for kept, cause in outcome.rejected_waiting),
        )
        self._due.set()
        for outcome_name, indexes in (
            ("applied", outcome.applied),
            ("duplicate", outcome.duplicates),
        ):
            for index in indexes:
                EVENTS_HANDLED.labels(self.name, batch[index].topic, outcome_name).inc()
        BATCH_SECONDS.labels(self.name).observe(time.perf_counter() - started)
        log.debug(
            "batch_handled",
            records=len(records),
            applied=len(outcome.applied),
            duplicates=len(outcome.duplicates),
            dead_lettered=len(unapplicable),
        )

    @property
    def migrations(self) -> dict[str, Path]:
        """The schema of the service's database: the runtime's tables, then its own."""
        return {"messaging": SHARED_MIGRATIONS, self.name: self._migrations}

    async def _dead_letter(
        self, record: ConsumerRecord[bytes, bytes], cause: Exception, event: Envelope | None
    ) -> None:
        """Its log line carries the event's ids when the record was a valid event."""
        with structlog.contextvars.bound_contextvars(**(event_ids(event) if event else {})):
            await self._dead_letters.send(record, cause)

    async def _dead_letter_kept(self, kept: HandedBack, cause: Exception) -> None:
        """A kept event its handler rejected once handed back: dead-lettered from the bytes
        it was kept with (its offset long committed, so none is given)."""
        record = ConsumerRecord(
            topic=kept.topic,
            partition=-1,
            offset=-1,
            timestamp=int(kept.since.timestamp() * 1000),
            timestamp_type=0,
            key=None,
            value=kept.payload,
            checksum=None,
            serialized_key_size=-1,
            serialized_value_size=len(kept.payload),
            headers=(),
        )
        await self._dead_letter(record, cause, None)

    async def _run_clock(self) -> None:
        """The service's clock: every `waiting_check_seconds`, and after each batch, hand back
        the kept events due (a recheck or their deadline), then run each clock job, each until
        nothing more is due."""
        while True:
            # asyncio.timeout, not wait_for: cancelled as a batch sets `_due`, Python 3.11's
            # wait_for returns instead of raising, and the shutdown waits on this loop for ever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.waiting_check_seconds):
                    await self._due.wait()
            self._due.clear()
            try:
                while self.waits_for:
                    count, rejected = await hand_back_due(
                        self.pool, producer=self.name, room=self._room
                    )
                    for kept, cause in rejected:
                        await self._dead_letter_kept(kept, cause)
                    if count == 0:
                        break
                for job in self._clock_jobs:
                    while await run_clock_job(self.pool, job, producer=self.name, now=self.clock()):
                        pass
            except Exception:
                # The database being away is the consumer's to report; the next tick retries.
                log.exception("clock_pass_failed")

    async def start_database(self) -> None:
        dsn = self.settings.dsn_for(self.name)
        self._pool = await create_pool(
            dsn, min_size=self.settings.pool_min_size, max_size=self.settings.pool_max_size
        )
        async with self._pool.acquire() as conn:
            await apply_migrations(conn, self.migrations)

    def app(self) -> FastStream:
        """The process: database and migrations first, then the broker, then the outbox relay.

        Shutdown runs in reverse: the relay stops, the broker finishes its in-flight handlers
        (their offsets commit only if their transactions did), then the pool closes. Hooks added
        with `on_started` run after the relay starts and `on_stopping` hooks before it stops
        (register them before calling this).
        """
        if self.consumed:
            self._subscribe()
        self._room = self.waiting_room
        relay: OutboxRelay | None = None
        relay_task: asyncio.Task[None] | None = None
        background: list[asyncio.Task[None]] = []
        # Before FastStream logs its first line, so that it is JSON too.
        configure_logging(self.name, self.settings.log_level)
        tracer_provider = configure_tracing(
            self.name,
            otlp_endpoint=self.settings.otlp_endpoint,
            trace_file=self.settings.trace_file,
        )

        async def open_database() -> None:
            port = metrics_port(
                self.name, base=self.settings.metrics_port_base, explicit=self.settings.metrics_port
            )
            serve_metrics(port)
            log.info(
                "service_starting", kafka=self.settings.kafka_bootstrap_servers, metrics_port=port
            )
            await self.start_database()

        async def start_relay() -> None:
            nonlocal relay, relay_task
            relay = OutboxRelay(
                self.pool,
                self.broker.publish,
                service=self.name,
                batch_size=self.settings.outbox_batch_size,
                fallback_poll_seconds=self.settings.outbox_fallback_poll_seconds,
            )
            relay_task = asyncio.create_task(relay.run(), name=f"{self.name}-outbox-relay")
            background.append(
                asyncio.create_task(
                    sample_outbox(self.pool, self.name), name=f"{self.name}-outbox-sampler"
                )
            )
            if self.waits_for or self._clock_jobs:
                background.append(asyncio.create_task(self._run_clock(), name=f"{self.name}-clock"))
            if self.waits_for:
                names = [dependency.name for dependency in self.waits_for]
                background.append(
                    asyncio.create_task(
                        sample_waiting(self.pool, self.name, names),
                        name=f"{self.name}-waiting-sampler",
                    )
                )

        async def announce_started() -> None:
            log.info("service_started")

        async def stop_relay() -> None:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            if relay is None or relay_task is None:
                return
            relay.stop()
            try:
                await asyncio.wait_for(asyncio.shield(relay_task), timeout=10.0)
            except TimeoutError:
                relay_task.cancel()  # the broker is gone: what is unsent is sent after restart
                await asyncio.gather(relay_task, return_exceptions=True)

        async def close_database() -> None:
            await self.pool.close()
            tracer_provider.shutdown()  # flushes the spans still buffered
            log.info("service_stopped")

        return FastStream(
            self.broker,
            on_startup=[open_database],
            after_startup=[start_relay, *self._started_hooks, announce_started],
            on_shutdown=[*self._stopping_hooks, stop_relay],
            after_shutdown=[close_database],
        )

    def main(self) -> None:
        """Run the process until SIGTERM or SIGINT, on uvloop: its socket I/O costs a fraction of
        the standard event loop's, and a service spends most of its time on socket I/O."""
        uvloop.run(self.app().run())

    def asyncapi(self) -> AsyncAPI:
        """The service's AsyncAPI document, built by FastStream from the service's declarations.

        It describes the wire, one event per record, so it is drawn from a broker of its own
        where each consumed topic has a per-event subscriber annotated with the topic's events:
        the running broker reads batches, which FastStream would document as arrays.
        """
        # Servers and security are the composition root's to document (careplan.asyncapi),
        # whatever this process connects to and as whom.
        documented = KafkaBroker(self.settings.kafka_bootstrap_servers)
        for topic, handler in self.consumed.values():

            async def consume(event: Any) -> None: ...

            consume.__annotations__ = {"event": topic.events, "return": None}
            consume.__name__ = handler.__name__
            consume.__doc__ = handler.__doc__
            documented.subscriber(
                topic.name, group_id=self.group_id, title=f"{topic.name}:{self.name}"
            )(consume)
        for topic in self.owns:
            documented.publisher(
                topic.name,
                title=f"{topic.name}:publish",
                description=f"Keyed by {topic.key}; published from the outbox.",
                schema=topic.events,
            )
        return AsyncAPI(
            documented,
            title=f"careplan {self.name}",
            version="1.0.0",
            description=self.description,
        )
