"""The inbox, the outbox and the relay (shared.messaging) on the real PostgreSQL and Kafka.

A handler's state change, its inbox row and its outbox rows commit together or not at all; a
redelivered event changes nothing; the relay publishes the outbox in order and marks it sent.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
)
from faststream.kafka import KafkaBroker
from pydantic import ValidationError

from contracts import serialise_event
from contracts.money import CurrencyMismatchError, Money
from contracts.serials import InvalidSerialNumberError, normalise_serial
from contracts.topics import Topic
from contracts.upstream import AssessmentReported, IncidentCause
from shared.db import SHARED_MIGRATIONS, MigrationChangedError, apply_migrations, create_pool
from shared.kafka_security import broker_security
from shared.messaging import (
    Delivery,
    OutboxRelay,
    Transaction,
    apply_batch,
)
from shared.retry import is_transient
from shared.settings import ServiceSettings
from simulation import factories
from simulation.processes import recreate_databases
from tests.conftest import Stack
from tests.integration.support import (
    EventHandler,
    create_topics,
    delete_topics,
    dsn,
    each_event,
    read_records,
    throwaway_topic_name,
    wait_until,
)

pytestmark = pytest.mark.integration

DATABASE = "it_messaging"
INBOUND = "it.inbound.v1"  # the topic name recorded in the inbox; nothing is sent to it
PRODUCER = "integration-test"
STATE_SQL = """
CREATE TABLE state (
    case_id  text PRIMARY KEY,
    applied  integer NOT NULL
);
"""


@pytest.fixture(scope="module")
async def pool(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[asyncpg.Pool]:
    folder = tmp_path_factory.mktemp("it-messaging-migrations")
    (folder / "0001_state.sql").write_text(STATE_SQL)
    await recreate_databases(stack.database_url, [DATABASE])
    database = await create_pool(dsn(stack.database_url, DATABASE), min_size=1, max_size=6)
    async with database.acquire() as conn:
        await apply_migrations(conn, {"messaging": SHARED_MIGRATIONS, "it": Path(folder)})
    yield database
    await database.close()


@pytest.fixture(autouse=True)
async def empty_tables(pool: asyncpg.Pool) -> None:
    await pool.execute("TRUNCATE inbox, outbox, state RESTART IDENTITY")


@pytest.fixture(scope="module")
async def outgoing(stack: Stack) -> AsyncIterator[Topic]:
    """A one-partition throwaway topic, so that the order of its records is the publish order."""
    name = throwaway_topic_name()
    await create_topics(stack.kafka_bootstrap, [name], partitions=1)
    yield Topic(name, 1, "reported SN", "integration tests", AssessmentReported)
    await delete_topics(stack.kafka_bootstrap, [name])


@pytest.fixture(scope="module")
async def broker(stack: Stack) -> AsyncIterator[KafkaBroker]:
    """The relay's producer, configured as the services configure theirs."""
    kafka = KafkaBroker(
        stack.kafka_bootstrap,
        enable_idempotence=True,
        acks="all",
        logger=None,
        security=broker_security(ServiceSettings()),
    )
    await kafka.start()
    yield kafka
    await kafka.stop()


def an_event() -> AssessmentReported:
    return factories.assessment(factories.new_serial(), "mavic-3-pro", IncidentCause.COLLISION)


def record_case(publish: list[tuple[Topic, str, AssessmentReported]]) -> EventHandler:
    """A handler that counts the event's case into `state` and publishes `publish`."""

    async def handle(event: AssessmentReported, tx: Transaction) -> None:
        await tx.conn.execute(
            "INSERT INTO state (case_id, applied) VALUES ($1, 1) "
            "ON CONFLICT (case_id) DO UPDATE SET applied = state.applied + 1",
            event.payload.case_id,
        )
        for topic, key, outgoing_event in publish:
            tx.publish(topic, key, outgoing_event)

    return handle


def batch_of(events: list[AssessmentReported], handle: EventHandler) -> list[Delivery]:
    return [Delivery(INBOUND, event, each_event(handle)) for event in events]


async def apply_one(
    pool: asyncpg.Pool, event: AssessmentReported, handle: EventHandler, *, attempts: int = 3
) -> bool:
    """`event` as a batch of one: True when applied, False when a duplicate; a rejection raises."""
    outcome = await apply_batch(
        pool, batch_of([event], handle), producer=PRODUCER, attempts=attempts
    )
    if outcome.rejected:
        raise outcome.rejected[0]
    return outcome.applied == [0]


async def counts(pool: asyncpg.Pool) -> dict[str, int]:
    row = await pool.fetchrow(
        "SELECT (SELECT count(*) FROM inbox) AS inbox, (SELECT count(*) FROM outbox) AS outbox, "
        "(SELECT count(*) FROM state) AS state"
    )
    assert row is not None
    return dict(row)


async def test_apply_batch_writes_state_inbox_and_outbox_in_one_transaction(
    pool: asyncpg.Pool, outgoing: Topic
) -> None:
    event = an_event()
    decided = an_event()

    applied = await apply_one(
        pool, event, record_case([(outgoing, "SN-KEY-1", decided)]), attempts=3
    )

    assert applied is True
    state = await pool.fetchrow("SELECT applied, xmin::text AS tx FROM state")
    inbox = await pool.fetchrow("SELECT event_id, event_type, topic, xmin::text AS tx FROM inbox")
    outbox = await pool.fetchrow("SELECT *, xmin::text AS tx FROM outbox")
    assert state is not None and inbox is not None and outbox is not None
    assert state["applied"] == 1
    assert (inbox["event_id"], inbox["event_type"], inbox["topic"]) == (
        event.event_id,
        "repair.assessment-reported",
        INBOUND,
    )
    assert (outbox["event_id"], outbox["event_type"], outbox["topic"], outbox["key"]) == (
        decided.event_id,
        decided.event_type,
        outgoing.name,
        "SN-KEY-1",
    )
    assert bytes(outbox["payload"]) == serialise_event(decided)
    assert outbox["published_at"] is None
    # Rows created by one transaction carry that transaction's id.
    assert state["tx"] == inbox["tx"] == outbox["tx"]


async def test_the_same_event_twice_changes_nothing_the_second_time(
    pool: asyncpg.Pool, outgoing: Topic
) -> None:
    event = an_event()
    calls = 0
    inner = record_case([(outgoing, "K", an_event())])

    async def apply(event: AssessmentReported, tx: Transaction) -> None:
        nonlocal calls
        calls += 1
        await inner(event, tx)

    assert await apply_one(pool, event, apply) is True
    redelivered = AssessmentReported.model_validate_json(serialise_event(event))
    assert await apply_one(pool, redelivered, apply) is False

    assert calls == 1
    assert await counts(pool) == {"inbox": 1, "outbox": 1, "state": 1}
    assert await pool.fetchval("SELECT applied FROM state") == 1


async def test_an_exception_inside_apply_leaves_no_state_no_inbox_no_outbox(
    pool: asyncpg.Pool, outgoing: Topic
) -> None:
    event = an_event()
    inner = record_case([(outgoing, "K", an_event())])

    async def apply_then_fail(event: AssessmentReported, tx: Transaction) -> None:
        await inner(event, tx)
        raise RuntimeError("the handler failed after writing")

    with pytest.raises(RuntimeError, match="after writing"):
        await apply_one(pool, event, apply_then_fail)

    assert await counts(pool) == {"inbox": 0, "outbox": 0, "state": 0}
    # Nothing was remembered, so the redelivered event is applied in full once the fault is gone.
    assert await apply_one(pool, event, inner) is True
    assert await counts(pool) == {"inbox": 1, "outbox": 1, "state": 1}


async def test_a_transient_failure_redoes_the_whole_transaction_once(
    pool: asyncpg.Pool, outgoing: Topic
) -> None:
    event = an_event()
    inner = record_case([(outgoing, "K", an_event())])
    calls = 0

    async def apply(event: AssessmentReported, tx: Transaction) -> None:
        nonlocal calls
        calls += 1
        await inner(event, tx)
        if calls == 1:  # a real serialization failure from the server, after the write
            await tx.conn.execute(
                "DO $$ BEGIN RAISE EXCEPTION 'concurrent update' "
                "USING ERRCODE = 'serialization_failure'; END $$"
            )

    assert await apply_one(pool, event, apply) is True

    assert calls == 2
    assert await pool.fetchval("SELECT applied FROM state") == 1  # the first write rolled back
    assert await counts(pool) == {"inbox": 1, "outbox": 1, "state": 1}


async def test_a_batch_is_one_transaction_and_its_outbox_follows_the_order_of_decisions(
    pool: asyncpg.Pool, outgoing: Topic
) -> None:
    events = [an_event() for _ in range(4)]
    decided = {event.event_id: [an_event(), an_event()] for event in events}

    async def handle(event: AssessmentReported, tx: Transaction) -> None:
        await record_case([])(event, tx)
        for number, outgoing_event in enumerate(decided[event.event_id]):
            tx.publish(outgoing, f"{event.payload.case_id}-{number}", outgoing_event)

    outcome = await apply_batch(pool, batch_of(events, handle), producer=PRODUCER, attempts=3)

    assert (outcome.applied, outcome.duplicates, outcome.rejected) == ([0, 1, 2, 3], [], {})
    transactions = await pool.fetch(
        "SELECT xmin::text AS tx FROM state UNION SELECT xmin::text FROM inbox "
        "UNION SELECT xmin::text FROM outbox"
    )
    assert len(transactions) == 1
    assert await pool.fetchval("SELECT array_agg(event_id ORDER BY id) FROM outbox") == [
        outgoing_event.event_id for event in events for outgoing_event in decided[event.event_id]
    ]


async def test_a_rejected_event_leaves_no_trace_and_the_rest_of_its_batch_is_applied(
    pool: asyncpg.Pool, outgoing: Topic
) -> None:
    events = [an_event() for _ in range(3)]
    rejected = events[1]
    inner = record_case([])
    calls: list[int] = []

    async def handle(event: AssessmentReported, tx: Transaction) -> None:
        calls.append(events.index(event))
        await inner(event, tx)
        tx.publish(outgoing, "K", an_event())
        if event is rejected:
            raise ValueError("this event cannot be applied")

    outcome = await apply_batch(pool, batch_of(events, handle), producer=PRODUCER, attempts=3)

    assert outcome.applied == [0, 2]
    assert outcome.duplicates == []
    assert list(outcome.rejected) == [1]
    assert str(outcome.rejected[1]) == "this event cannot be applied"
    # The first try was rolled back at the rejected event; the second left it out.
    assert calls == [0, 1, 0, 2]
    assert await counts(pool) == {"inbox": 2, "outbox": 2, "state": 2}
    assert set(await pool.fetchval("SELECT array_agg(event_id) FROM inbox")) == {
        events[0].event_id,
        events[2].event_id,
    }
    # Nothing remembers it, so after a fix its replay is applied.
    assert await apply_one(pool, rejected, record_case([])) is True


async def test_many_rejections_in_a_batch_cost_one_more_pass_not_one_per_rejection(
    pool: asyncpg.Pool, outgoing: Topic
) -> None:
    """After the first rejection each event runs in a savepoint: the others' rejections are
    rolled back alone, and every handler runs at most twice."""
    events = [an_event() for _ in range(10)]
    refused = {event.event_id for event in events[1::2]}
    calls: list[int] = []

    async def handle(event: AssessmentReported, tx: Transaction) -> None:
        calls.append(events.index(event))
        await record_case([])(event, tx)
        tx.publish(outgoing, "K", an_event())
        if event.event_id in refused:
            raise ValueError("refused by the test")

    outcome = await apply_batch(pool, batch_of(events, handle), producer=PRODUCER, attempts=3)

    assert outcome.applied == [0, 2, 4, 6, 8]
    assert sorted(outcome.rejected) == [1, 3, 5, 7, 9]
    assert calls == [0, 1, 0, 2, 3, 4, 5, 6, 7, 8, 9]
    assert await counts(pool) == {"inbox": 5, "outbox": 5, "state": 5}
    assert set(await pool.fetchval("SELECT array_agg(event_id) FROM inbox")) == {
        event.event_id for event in events[0::2]
    }


async def test_each_topic_s_new_events_reach_its_batch_handler_in_one_call_in_order(
    pool: asyncpg.Pool,
) -> None:
    events = [an_event() for _ in range(5)]
    seen_before = events[2]
    assert await apply_one(pool, seen_before, record_case([])) is True
    calls: list[list[uuid.UUID]] = []

    async def handle(batch: Sequence[AssessmentReported], tx: Transaction) -> None:
        calls.append([event.event_id for event in batch])

    deliveries = [Delivery(INBOUND, event, handle) for event in events[:3]] + [
        Delivery("it.other.v1", event, handle) for event in events[3:]
    ]
    outcome = await apply_batch(pool, deliveries, producer=PRODUCER, attempts=3)

    assert (outcome.applied, outcome.duplicates) == ([0, 1, 3, 4], [2])
    assert calls == [
        [events[0].event_id, events[1].event_id],
        [events[3].event_id, events[4].event_id],
    ]


async def test_a_batch_handler_failing_without_naming_its_event_is_searched_one_by_one(
    pool: asyncpg.Pool,
) -> None:
    events = [an_event() for _ in range(4)]
    refused = events[2]
    calls: list[int] = []

    async def handle(batch: Sequence[AssessmentReported], tx: Transaction) -> None:
        calls.append(len(batch))
        for event in batch:
            await record_case([])(event, tx)
        if refused in batch:
            raise ValueError("refused by the test")

    outcome = await apply_batch(
        pool, [Delivery(INBOUND, event, handle) for event in events], producer=PRODUCER, attempts=3
    )

    assert outcome.applied == [0, 1, 3]
    assert list(outcome.rejected) == [2]
    assert str(outcome.rejected[2]) == "refused by the test"
    # One call with the batch, then one per event once the batch was rolled back.
    assert calls == [4, 1, 1, 1, 1]
    assert await counts(pool) == {"inbox": 3, "outbox": 0, "state": 3}


async def test_duplicates_within_a_batch_and_across_batches_are_applied_once(
    pool: asyncpg.Pool,
) -> None:
    earlier, fresh = an_event(), an_event()
    handle = record_case([])
    assert await apply_one(pool, earlier, handle) is True
    again = AssessmentReported.model_validate_json(serialise_event(fresh))

    outcome = await apply_batch(
        pool, batch_of([fresh, earlier, again], handle), producer=PRODUCER, attempts=3
    )

    assert (outcome.applied, outcome.duplicates) == ([0], [1, 2])
    assert await counts(pool) == {"inbox": 2, "outbox": 0, "state": 2}
    assert await pool.fetchval("SELECT max(applied) FROM state") == 1


@pytest.mark.parametrize("first_delivery", ["commits", "fails"])
async def test_two_concurrent_deliveries_of_one_event_apply_it_exactly_once(
    pool: asyncpg.Pool, outgoing: Topic, first_delivery: str
) -> None:
    """The second delivery waits on the first one's inbox row, then skips it or takes over."""
    event = an_event()
    inner = record_case([(outgoing, "K", an_event())])
    entered = asyncio.Event()
    release = asyncio.Event()
    calls = 0

    async def apply(event: AssessmentReported, tx: Transaction) -> None:
        nonlocal calls
        calls += 1
        await inner(event, tx)
        if calls == 1:
            entered.set()
            await release.wait()
            if first_delivery == "fails":
                raise RuntimeError("the first delivery failed")

    first = asyncio.create_task(apply_one(pool, event, apply, attempts=1))
    await asyncio.wait_for(entered.wait(), timeout=30)
    second = asyncio.create_task(apply_one(pool, event, apply, attempts=1))

    async def second_is_blocked() -> bool:
        waiting: int = await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return waiting == 1

    await wait_until(second_is_blocked, what="the second delivery to wait on the inbox row")
    release.set()
    outcomes = await asyncio.gather(first, second, return_exceptions=True)

    if first_delivery == "commits":
        assert list(outcomes) == [True, False]
        assert calls == 1
    else:
        assert isinstance(outcomes[0], RuntimeError)
        assert outcomes[1] is True
        assert calls == 2
    assert await counts(pool) == {"inbox": 1, "outbox": 1, "state": 1}
    assert await pool.fetchval("SELECT applied FROM state") == 1


async def test_drain_once_publishes_in_id_order_with_key_and_headers_and_marks_rows_sent(
    stack: Stack, pool: asyncpg.Pool, outgoing: Topic, broker: KafkaBroker
) -> None:
    first_batch = [(outgoing, f"KEY-{n}", an_event()) for n in range(3)]
    second_batch = [(outgoing, f"KEY-{n}", an_event()) for n in range(3, 5)]
    for publish in (first_batch, second_batch):
        event = an_event()
        await apply_one(pool, event, record_case(publish))
    relay = OutboxRelay(
        pool, broker.publish, service="it", batch_size=2, fallback_poll_seconds=3600.0
    )

    assert [await relay.drain_once() for _ in range(4)] == [2, 2, 1, 0]

    rows = await pool.fetch("SELECT * FROM outbox ORDER BY id")
    assert all(row["published_at"] is not None for row in rows)
    records = await read_records(stack.kafka_bootstrap, outgoing.name, count=5)
    assert len(records) == 5
    expected = [(key, event) for _, key, event in first_batch + second_batch]
    assert [row["event_id"] for row in rows] == [event.event_id for _, event in expected]
    for record, (key, event) in zip(records, expected, strict=True):
        headers = {name: value.decode() for name, value in record.headers}
        assert record.key == key.encode()
        assert record.value == serialise_event(event)
        assert headers["event_id"] == str(event.event_id)
        assert headers["event_type"] == event.event_type
        assert AssessmentReported.model_validate_json(record.value) == event


async def test_a_failed_send_leaves_the_batch_unpublished_and_the_next_drain_sends_it(
    stack: Stack, pool: asyncpg.Pool, outgoing: Topic, broker: KafkaBroker
) -> None:
    """The rows are marked before they are sent, in a transaction that a failed send rolls back."""
    publish = [(outgoing, f"KEY-{n}", an_event()) for n in range(3)]
    event = an_event()
    await apply_one(pool, event, record_case(publish))
    attempts = 0

    async def send_failing_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal attempts
        attempts += 1
        if attempts == 2:
            raise KafkaTimeoutError()
        return await broker.publish(*args, **kwargs)

    relay = OutboxRelay(
        pool, send_failing_once, service="it", batch_size=10, fallback_poll_seconds=3600.0
    )

    with pytest.raises(KafkaTimeoutError):
        await relay.drain_once()
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 3

    assert await relay.drain_once() == 3
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
    assert await relay.drain_once() == 0


RELAY_BATCH = 100


class ObservedRelay(OutboxRelay):
    """The relay as it is, telling the test when a drain left the outbox empty."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.idle = asyncio.Event()

    async def drain_once(self) -> int:
        self.idle.clear()
        published = await super().drain_once()
        if published < RELAY_BATCH:
            self.idle.set()  # a short batch: from here the relay waits to be woken
        return published


async def test_the_relay_woken_by_notify_publishes_a_row_written_after_it_started(
    stack: Stack, pool: asyncpg.Pool, broker: KafkaBroker
) -> None:
    """The fallback poll is an hour: only the NOTIFY of the commit can wake the relay in time."""
    name = throwaway_topic_name()
    await create_topics(stack.kafka_bootstrap, [name], partitions=1)
    topic = Topic(name, 1, "reported SN", "integration tests", AssessmentReported)
    before, after = an_event(), an_event()
    cause, trigger = an_event(), an_event()
    await apply_one(pool, cause, record_case([(topic, "K1", before)]))
    relay = ObservedRelay(
        pool, broker.publish, service="it", batch_size=RELAY_BATCH, fallback_poll_seconds=3600.0
    )
    task = asyncio.create_task(relay.run())
    try:
        # It listens, drains what was waiting (`before`), finds nothing more and goes to sleep.
        await asyncio.wait_for(relay.idle.wait(), timeout=30)
        assert len(await read_records(stack.kafka_bootstrap, name, count=1)) == 1
        await apply_one(pool, trigger, record_case([(topic, "K2", after)]), attempts=3)
        records = await read_records(stack.kafka_bootstrap, name, count=2)

        async def marked_sent() -> bool:
            unsent: int = await pool.fetchval(
                "SELECT count(*) FROM outbox WHERE published_at IS NULL"
            )
            return unsent == 0

        await wait_until(marked_sent, what="the relay to mark both rows published")
        assert not task.done()  # still running, not crashed
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await delete_topics(stack.kafka_bootstrap, [name])

    assert [(record.key, record.value) for record in records] == [
        (b"K1", serialise_event(before)),
        (b"K2", serialise_event(after)),
    ]


def validation_error() -> ValidationError:
    try:
        AssessmentReported.model_validate({"event_type": "repair.assessment-reported"})
    except ValidationError as error:
        return error
    raise AssertionError("an empty assessment was accepted")


def invalid_serial_error() -> InvalidSerialNumberError:
    try:
        normalise_serial("SN-1")
    except InvalidSerialNumberError as error:
        return error
    raise AssertionError("'SN-1' was accepted as a serial number")


def currency_mismatch_error() -> CurrencyMismatchError:
    try:
        Money.of("1.00", "USD") + Money.of("1.00", "PLN")
    except CurrencyMismatchError as error:
        return error
    raise AssertionError("USD and PLN were added together")


@pytest.mark.parametrize(
    "error",
    [
        ConnectionResetError("connection reset by peer"),
        ConnectionRefusedError("connection refused"),
        TimeoutError(),
        asyncpg.PostgresConnectionError("server closed the connection"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.TooManyConnectionsError("too many clients"),
        asyncpg.SerializationError("could not serialize access"),
        asyncpg.DeadlockDetectedError("deadlock detected"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        KafkaConnectionError(),
        KafkaTimeoutError(),
        NotLeaderForPartitionError(),
    ],
    ids=type,
)
def test_infrastructure_hiccups_are_transient(error: BaseException) -> None:
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("bad value"),
        KeyError("missing"),
        RuntimeError("bug"),
        validation_error(),
        invalid_serial_error(),
        currency_mismatch_error(),
        asyncpg.UniqueViolationError("duplicate key value"),
        asyncpg.CheckViolationError("violates check constraint"),
        asyncpg.ForeignKeyViolationError("violates foreign key constraint"),
        asyncpg.DataError("invalid input syntax"),
        asyncpg.UndefinedTableError("relation does not exist"),
        MigrationChangedError("x changed after it was applied"),
        MessageSizeTooLargeError(),
    ],
    ids=type,
)
def test_faults_of_the_message_or_the_code_are_not_transient(error: BaseException) -> None:
    """Retrying these would never succeed: they must be dead-lettered, not retried."""
    assert not is_transient(error)
