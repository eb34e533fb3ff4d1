"""Throwaway topics, databases and polling helpers shared by the integration tests.

Every integration test module works on its own database and on topics named
`it.<random>.v1` (with their `.dlq` twin when a service consumes them), so that engineers
running tests at the same time against the same Kafka and PostgreSQL never see each other's data.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from contracts.topics import DEAD_LETTER_SUFFIX
from shared.kafka_admin import DEAD_LETTER_PARTITIONS, new_topic
from shared.kafka_security import client_options
from shared.messaging import BatchHandler, EventRejectedError, Transaction
from shared.retry import is_transient

T = TypeVar("T")

EventHandler = Callable[[Any, Transaction], Awaitable[None]]


def each_event(handle: EventHandler) -> BatchHandler:
    """A test handler written for one event, as a batch handler that names the event it
    cannot apply, as a service's handlers do."""

    async def handle_batch(events: Sequence[Any], tx: Transaction) -> None:
        for event in events:
            try:
                await handle(event, tx)
            except Exception as error:
                if is_transient(error):
                    raise
                raise EventRejectedError(event, error) from error

    handle_batch.__name__ = handle.__name__
    handle_batch.__doc__ = handle.__doc__
    return handle_batch


DEADLINE = 30.0  # seconds: how long a readiness poll waits before the test fails


def throwaway_topic_name() -> str:
    return f"it.{uuid.uuid4().hex}.v1"


def dsn(server_url: str, database: str) -> str:
    return f"{server_url.rstrip('/')}/{database}"


async def create_topics(
    bootstrap: str, names: list[str], *, partitions: int = 1, dead_letters: bool = False
) -> None:
    """Create the topics (and their `.dlq` twins) and wait until the broker lists them."""
    plan = {name: partitions for name in names}
    if dead_letters:
        plan |= {name + DEAD_LETTER_SUFFIX: DEAD_LETTER_PARTITIONS for name in names}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options())
    await admin.start()
    try:
        await admin.create_topics([new_topic(name, count) for name, count in plan.items()])

        async def listed() -> bool:
            return plan.keys() <= set(await admin.list_topics())

        await wait_until(listed, what=f"topics {sorted(plan)} to be listed")
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [name for name in names if name in existing]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


async def wait_until(
    condition: Callable[[], Awaitable[T]], *, what: str, timeout: float = DEADLINE
) -> T:
    """Poll `condition` until it returns something truthy; fail the test after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await condition()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        await asyncio.sleep(0.05)


async def read_records(
    bootstrap: str, topic: str, *, count: int, timeout: float = DEADLINE
) -> list[Any]:
    """Every record of `topic` from its beginning, once at least `count` have arrived.

    No consumer group: the consumer is assigned all partitions and reads them from the start.
    Records of one partition keep their order; the result is sorted by (partition, offset).
    """
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **client_options(),
    )
    await consumer.start()
    records: list[Any] = []
    try:

        async def enough() -> bool:
            batches = await consumer.getmany(timeout_ms=200)
            for batch in batches.values():
                records.extend(batch)
            return len(records) >= count

        await wait_until(enough, what=f"{count} records on {topic}", timeout=timeout)
    finally:
        await consumer.stop()
    return sorted(records, key=lambda record: (record.partition, record.offset))


async def fetch(server_url: str, database: str, query: str, *args: object) -> list[asyncpg.Record]:
    """One query on a connection of its own (the tests' view of a service's database)."""
    conn = await asyncpg.connect(dsn(server_url, database))
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()
