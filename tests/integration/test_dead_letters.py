"""Dead letters: a `shared.runtime.Service` run in-process by FastStream on the real broker.

The service consumes a throwaway topic carrying the two events that hold a serial number and
money (AssessmentReported, PaymentSettled) and records each event it applies in a table. Whatever
cannot be applied must land in `<topic>.dlq` with its original key and bytes and a reason a person
can read, and must not stop the messages behind it; `replay` puts it back after a fix.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pytest
from aiokafka import AIOKafkaProducer
from pydantic import Field

from contracts import serialise_event
from contracts.envelope import MAX_EVENT_BYTES, Envelope
from contracts.money import Money
from contracts.topics import Topic
from contracts.upstream import AssessmentReported, PaymentSettled
from shared.dead_letters import REASON_HEADER
from shared.kafka_security import client_options
from shared.messaging import Transaction
from shared.replay import replay
from shared.runtime import Service
from shared.settings import ServiceSettings
from simulation import factories
from simulation.processes import recreate_databases
from tests.conftest import Stack
from tests.integration.support import (
    create_topics,
    delete_topics,
    each_event,
    fetch,
    read_records,
    throwaway_topic_name,
    wait_until,
)

pytestmark = pytest.mark.integration

DATABASE = "it_dead_letters"
SERVICE = "itdeadletters"
RECEIVED_SQL = """
CREATE TABLE received (
    event_id    uuid PRIMARY KEY,
    event_type  text NOT NULL,
    case_id     text NOT NULL
);
"""
CarriedEvent = Annotated[AssessmentReported | PaymentSettled, Field(discriminator="event_type")]


@dataclass
class RunningService:
    stack: Stack
    topic: Topic
    producer: AIOKafkaProducer
    refused_cases: set[str] = field(default_factory=set)  # the handler's "bug", until fixed

    async def send(
        self, key: str, value: bytes, headers: list[tuple[str, bytes]] | None = None
    ) -> int:
        """Send raw bytes to the service's topic; returns the record's offset."""
        metadata = await self.producer.send_and_wait(
            self.topic.name, value, key=key.encode(), headers=headers
        )
        offset: int = metadata.offset
        return offset

    async def received(self) -> set[str]:
        rows = await fetch(self.stack.database_url, DATABASE, "SELECT case_id FROM received")
        return {row["case_id"] for row in rows}

    async def wait_received(self, cases: set[str]) -> None:
        async def arrived() -> bool:
            return cases <= await self.received()

        await wait_until(arrived, what=f"the service to apply {sorted(cases)}")

    async def dead_letters(self, count: int) -> list[Any]:
        return await read_records(self.stack.kafka_bootstrap, self.topic.dead_letter, count=count)


@pytest.fixture
async def service(stack: Stack, tmp_path: Path) -> AsyncIterator[RunningService]:
    name = throwaway_topic_name()
    await create_topics(stack.kafka_bootstrap, [name], partitions=1, dead_letters=True)
    await recreate_databases(stack.database_url, [DATABASE])
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "0001_received.sql").write_text(RECEIVED_SQL)
    topic = Topic(name, 1, "case id", "integration tests", CarriedEvent)
    settings = ServiceSettings(
        KAFKA_BOOTSTRAP_SERVERS=stack.kafka_bootstrap,
        DATABASE_URL=stack.database_url,
        database_name=DATABASE,
        log_level="WARNING",
    )
    running = Service(
        SERVICE, migrations=migrations, owns=(), description="dead-letter tests", settings=settings
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap,
        acks="all",
        max_request_size=4 * 1024 * 1024,
        **client_options(),
    )
    harness = RunningService(stack, topic, producer)

    async def record(event: AssessmentReported | PaymentSettled, tx: Transaction) -> None:
        """Record the event; refuse (after writing) the cases the test marked as refused."""
        await tx.conn.execute(
            "INSERT INTO received (event_id, event_type, case_id) VALUES ($1, $2, $3)",
            event.event_id,
            event.event_type,
            event.payload.case_id,
        )
        if event.payload.case_id in harness.refused_cases:
            raise ValueError(f"case {event.payload.case_id} is refused by the test handler")

    running.consumes(topic)(each_event(record))
    app = running.app()
    await producer.start()
    await app.start()
    try:
        yield harness
    finally:
        await app.stop()
        await producer.stop()
        await delete_topics(stack.kafka_bootstrap, [name, topic.dead_letter])


def as_json(event: Envelope) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(serialise_event(event))
    return document


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def an_assessment(case_id: str) -> AssessmentReported:
    return factories.assessment(factories.new_serial(), "air-3", case_id=case_id)


def a_payment(case_id: str) -> PaymentSettled:
    return factories.payment(case_id, Money.of("199.00", "USD"))


def invalid_messages() -> list[tuple[str, bytes, str]]:
    """(key, bytes, what the reason must say) for each way a message can be unusable."""
    float_money = as_json(a_payment("CASE-FLOAT"))
    float_money["payload"]["amount"]["amount"] = 199.0
    naive = as_json(an_assessment("CASE-NAIVE"))
    naive["payload"]["incident_at"] = "2025-03-01T10:00:00"
    unknown_type = as_json(an_assessment("CASE-UNKNOWN-TYPE"))
    unknown_type["event_type"] = "repair.assessment-withdrawn"
    wrong_type = as_json(an_assessment("CASE-WRONG-TYPE"))
    wrong_type["payload"]["customer_region"] = 48
    bad_serial = as_json(an_assessment("CASE-BAD-SERIAL"))
    bad_serial["payload"]["reported_sn"] = "SN-12"
    future_version = as_json(an_assessment("CASE-VERSION"))
    future_version["schema_version"] = 2
    # Valid but for its size: an unknown field is ignored, so only the size check refuses it.
    oversized = as_json(an_assessment("CASE-OVERSIZED"))
    oversized["padding"] = "x" * MAX_EVENT_BYTES
    return [
        ("garbage", b"\x00\xff this is not JSON", "Invalid JSON"),
        ("float-money", encode(float_money), "never floats"),
        ("naive-datetime", encode(naive), "timezone"),
        ("unknown-event-type", encode(unknown_type), "'repair.assessment-withdrawn'"),
        ("wrong-type", encode(wrong_type), "valid string"),
        ("malformed-serial", encode(bad_serial), "'SN-12' is not 10 to 20 letters and digits"),
        ("unknown-schema-version", encode(future_version), "schema_version"),
        ("oversized", encode(oversized), f"exceeds {MAX_EVENT_BYTES} bytes"),
    ]


async def test_m1_m2_d1_invalid_messages_are_dead_lettered_and_the_next_valid_ones_applied(
    service: RunningService,
) -> None:
    invalid = invalid_messages()
    offsets = {}
    for key, value, _ in invalid:
        offsets[key] = await service.send(key, value, headers=[("trace-id", key.encode())])
    assessment, payment = an_assessment("CASE-VALID-1"), a_payment("CASE-VALID-2")
    await service.send("valid-assessment", serialise_event(assessment))
    await service.send("valid-payment", serialise_event(payment))

    # One partition: once the valid events are applied, every message before them was handled.
    await service.wait_received({"CASE-VALID-1", "CASE-VALID-2"})
    letters = await service.dead_letters(count=len(invalid))

    assert len(letters) == len(invalid)
    by_key = {letter.key.decode(): letter for letter in letters}
    assert by_key.keys() == {key for key, _, _ in invalid}
    for key, value, says in invalid:
        letter = by_key[key]
        headers = {name: raw.decode() for name, raw in letter.headers}
        assert letter.value == value, key  # the original bytes, untouched
        assert says in headers[REASON_HEADER], (key, headers[REASON_HEADER])
        expected_type = "EventTooLargeError" if key == "oversized" else "ValidationError"
        assert headers["dlq-error-type"] == expected_type
        assert headers["dlq-original-topic"] == service.topic.name
        assert headers["dlq-original-offset"] == str(offsets[key])
        assert headers["dlq-service"] == SERVICE
        assert headers["trace-id"] == key  # the original headers travel with it
    assert await service.received() == {"CASE-VALID-1", "CASE-VALID-2"}
    inbox = await fetch(service.stack.database_url, DATABASE, "SELECT event_id FROM inbox")
    assert {row["event_id"] for row in inbox} == {assessment.event_id, payment.event_id}


async def test_a_handler_raising_value_error_dead_letters_the_event_and_changes_nothing(
    service: RunningService,
) -> None:
    refused = an_assessment("CASE-REFUSED")
    service.refused_cases.add("CASE-REFUSED")
    await service.send("refused", serialise_event(refused))
    await service.send("after", serialise_event(an_assessment("CASE-AFTER")))

    await service.wait_received({"CASE-AFTER"})
    (letter,) = await service.dead_letters(count=1)

    headers = {name: raw.decode() for name, raw in letter.headers}
    assert (letter.key, letter.value) == (b"refused", serialise_event(refused))
    assert headers[REASON_HEADER] == "case CASE-REFUSED is refused by the test handler"
    assert headers["dlq-error-type"] == "ValueError"
    # The handler wrote its row before raising: the transaction took it back, inbox included.
    assert await service.received() == {"CASE-AFTER"}
    inbox = await fetch(
        service.stack.database_url,
        DATABASE,
        "SELECT 1 FROM inbox WHERE event_id = $1",
        refused.event_id,
    )
    assert inbox == []


async def test_replay_republishes_dead_letters_onto_their_topic_once_each(
    service: RunningService,
) -> None:
    cases = ["CASE-REPLAY-1", "CASE-REPLAY-2", "CASE-REPLAY-3"]
    events = [an_assessment(case) for case in cases]
    service.refused_cases.update(cases)
    for number, event in enumerate(events):
        await service.send(f"replay-{number}", serialise_event(event), headers=[("trace-id", b"t")])
    await service.dead_letters(count=3)
    assert await service.received() == set()

    service.refused_cases.clear()  # the fix is deployed
    bootstrap = service.stack.kafka_bootstrap
    assert await replay(bootstrap, service.topic.name, limit=2) == 2
    await service.wait_received(set(cases[:2]))
    assert await replay(bootstrap, service.topic.name, limit=10) == 1  # resumes where it stopped
    await service.wait_received(set(cases))
    assert await replay(bootstrap, service.topic.name, limit=10) == 0  # each is replayed once

    records = await read_records(bootstrap, service.topic.name, count=6)
    originals, replayed = records[:3], records[3:]
    assert [(r.key, r.value) for r in replayed] == [(r.key, r.value) for r in originals]
    for record in replayed:
        names = [name for name, _ in record.headers]
        assert "trace-id" in names
        assert not [name for name in names if name.startswith("dlq-")]
    assert await service.received() == set(cases)


async def test_a_message_too_large_to_dead_letter_does_not_block_its_partition(
    service: RunningService,
) -> None:
    # The broker's default message.max.bytes is 1048588: this record fits, with its headers
    # the dead letter does not fit the producer's 1048576-byte max_request_size.
    huge = b"{" + b" " * 1_048_300 + b"}"
    await service.send("huge", huge)
    await service.send("after", serialise_event(an_assessment("CASE-AFTER-HUGE")))

    async def applied() -> bool:
        return "CASE-AFTER-HUGE" in await service.received()

    await wait_until(applied, what="the event behind a huge one to be applied", timeout=10.0)
    (letter,) = await service.dead_letters(count=1)
    assert letter.value == huge
