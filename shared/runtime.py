"""A service process: its broker, database pool, migrations, outbox relay and handlers.

Handlers are thin: `async def handler(event, tx)`; the runtime wraps each one so that it runs in
one transaction with the inbox and outbox (shared.messaging), and commits the Kafka offset only
after that transaction committed (ack policy NACK_ON_ERROR: acknowledged when the handler returns,
sought back for redelivery when it raises).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import structlog
from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaBroker
from faststream.message import StreamMessage
from faststream.specification import AsyncAPI

from contracts.envelope import Envelope
from contracts.topics import Topic
from shared.db import SHARED_MIGRATIONS, apply_migrations, create_pool
from shared.dead_letters import install_dead_letters
from shared.kafka_admin import DEAD_LETTER_MAX_BYTES
from shared.kafka_security import broker_security
from shared.log import configure_logging
from shared.messaging import OutboxRelay, Transaction, apply_once
from shared.metrics import EVENTS_HANDLED, HANDLE_SECONDS, serve_metrics
from shared.settings import ServiceSettings

log = structlog.get_logger(__name__)

E = TypeVar("E", bound=Envelope)
Handler = Callable[[Any, Transaction], Awaitable[None]]
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
    ) -> None:
        self.name = name
        self.description = description
        self.owns = owns
        self.settings = settings or ServiceSettings()
        self._migrations = migrations
        self._pool: asyncpg.Pool | None = None
        self._started_hooks: list[Hook] = []
        self._stopping_hooks: list[Hook] = []
        self.broker = KafkaBroker(
            self.settings.kafka_bootstrap_servers,
            client_id=f"careplan-{name}-{self.settings.instance}",
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
            max_request_size=DEAD_LETTER_MAX_BYTES + 64 * 1024,  # room for a dead letter's headers
            graceful_timeout=30.0,
            security=broker_security(self.settings),
            logger=None,
            # The documented address is the local stack's, whatever this process connects to.
            specification_url="127.0.0.1:19092",
        )
        install_dead_letters(self.broker, name)
        for topic in owns:
            # Registered for the AsyncAPI document; the outbox relay does the publishing.
            self.broker.publisher(
                topic.name,
                title=f"{topic.name}:publish",
                description=f"Keyed by {topic.key}; published from the outbox.",
                schema=topic.events,
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

    def consumes(self, topic: Topic) -> Callable[[Handler], Handler]:
        """Register `handler(event, tx)` for `topic` in this service's consumer group."""

        def register(handler: Handler) -> Handler:
            async def on_message(event: Any) -> None:
                await self._handle(topic, event, handler)

            # FastStream reads the annotation to validate the body and to document the topic.
            on_message.__annotations__ = {"event": topic.events, "return": None}
            on_message.__name__ = handler.__name__
            on_message.__doc__ = handler.__doc__

            async def decode(message: StreamMessage[Any]) -> Envelope:
                # The contract decides what is valid, byte for byte, for every service alike.
                return topic.parse(message.body)

            self.broker.subscriber(
                topic.name,
                decoder=decode,
                group_id=f"careplan-{self.name}.{topic.name}",
                auto_offset_reset="earliest",
                ack_policy=AckPolicy.NACK_ON_ERROR,
                max_poll_interval_ms=120_000,
                title=f"{topic.name}:{self.name}",
            )(on_message)
            return handler

        return register

    async def _handle(self, topic: Topic, event: Envelope, handler: Handler) -> None:
        started = time.perf_counter()

        async def apply(tx: Transaction) -> None:
            await handler(event, tx)

        applied = await apply_once(
            self.pool,
            topic.name,
            event,
            apply,
            attempts=self.settings.transient_retry_attempts,
        )
        outcome = "applied" if applied else "duplicate"
        EVENTS_HANDLED.labels(self.name, topic.name, outcome).inc()
        HANDLE_SECONDS.labels(self.name, topic.name).observe(time.perf_counter() - started)
        log.debug("event_handled", topic=topic.name, event_id=str(event.event_id), outcome=outcome)

    async def start_database(self) -> None:
        dsn = self.settings.dsn_for(self.name)
        self._pool = await create_pool(
            dsn, min_size=self.settings.pool_min_size, max_size=self.settings.pool_max_size
        )
        async with self._pool.acquire() as conn:
            await apply_migrations(
                conn, {"messaging": SHARED_MIGRATIONS, self.name: self._migrations}
            )

    def app(self) -> FastStream:
        """The process: database and migrations first, then the broker, then the outbox relay.

        Shutdown runs in reverse: the relay stops, the broker finishes its in-flight handlers
        (their offsets commit only if their transactions did), then the pool closes. Hooks added
        with `on_started` run after the relay starts and `on_stopping` hooks before it stops
        (register them before calling this).
        """
        relay: OutboxRelay | None = None
        relay_task: asyncio.Task[None] | None = None

        async def open_database() -> None:
            configure_logging(self.name, self.settings.log_level)
            serve_metrics(self.settings.metrics_port)
            log.info("service_starting", kafka=self.settings.kafka_bootstrap_servers)
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

        async def announce_started() -> None:
            log.info("service_started")

        async def stop_relay() -> None:
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
            log.info("service_stopped")

        return FastStream(
            self.broker,
            on_startup=[open_database],
            after_startup=[start_relay, *self._started_hooks, announce_started],
            on_shutdown=[*self._stopping_hooks, stop_relay],
            after_shutdown=[close_database],
        )

    def asyncapi(self) -> AsyncAPI:
        return AsyncAPI(
            self.broker,
            title=f"careplan {self.name}",
            version="1.0.0",
            description=self.description,
        )
