"""Each outside system's principal on the live broker (infra/kafka/acls.txt): it does its part,
writing its upstream topics, reading its answers and its own dead letters under its own groups,
and is refused one step outside it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError

from careplan.registry import INTEGRATORS, Integrator, outcome_topics
from contracts.topics import ALL_TOPICS
from shared.kafka_security import client_options
from tests.conftest import Stack

pytestmark = pytest.mark.integration

REFUSED = (TopicAuthorizationFailedError, GroupAuthorizationFailedError)


def _as(stack: Stack, principal: str) -> dict[str, Any]:
    if not stack.kafka_credentials:
        pytest.skip("a PLAINTEXT cluster: no principals (not the local SASL stack)")
    assert principal in stack.kafka_credentials, f"the local stack gave {principal} no credential"
    return {
        "bootstrap_servers": stack.kafka_bootstrap,
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": principal,
        "sasl_plain_password": stack.kafka_credentials[principal],
        "request_timeout_ms": 10_000,
    }


def _one_step_outside(integrator: Integrator) -> tuple[str, str]:
    """A topic it may not write (its first answer, or another system's upstream topic), and a
    topic it may not read (an upstream topic that is not its own)."""
    others = [t for t in ALL_TOPICS if t not in integrator.writes and t not in outcome_topics()]
    not_read = next(t.name for t in others if t.name not in integrator.reads)
    not_written = integrator.reads[0] if integrator.writes else others[0].name
    return not_written, not_read


@pytest.mark.parametrize("integrator", INTEGRATORS, ids=lambda i: i.principal)
async def test_an_outside_system_writes_exactly_its_own_topics(
    stack: Stack, topics: dict[str, int], integrator: Integrator
) -> None:
    producer = AIOKafkaProducer(**_as(stack, integrator.principal))
    await producer.start()
    try:
        for topic in integrator.writes:
            # Not a valid event: the consuming service dead-letters it, as it would any.
            sent = await producer.send_and_wait(topic.name, b"acl probe", key=b"acl-probe")
            assert sent.offset >= 0
        not_written, _ = _one_step_outside(integrator)
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(not_written, b"acl probe", key=b"acl-probe")
    finally:
        await producer.stop()


@pytest.mark.parametrize("integrator", INTEGRATORS, ids=lambda i: i.principal)
async def test_an_outside_system_reads_its_answers_under_its_own_groups(
    stack: Stack, topics: dict[str, int], integrator: Integrator
) -> None:
    # A dead letter it may read, put there as the platform would (the administrator's client).
    dead_letters = sorted(name for name in integrator.reads if name.endswith(".dlq"))
    probe = f"probe {uuid.uuid4()}".encode()
    admin = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, **client_options())
    await admin.start()
    try:
        sent = await admin.send_and_wait(dead_letters[0], probe, key=b"acl-probe")
    finally:
        await admin.stop()

    group = f"{integrator.group_prefix}acl-probe-{uuid.uuid4().hex[:8]}"
    consumer = AIOKafkaConsumer(
        group_id=group, enable_auto_commit=False, **_as(stack, integrator.principal)
    )
    await consumer.start()
    try:
        letter = TopicPartition(dead_letters[0], sent.partition)
        answers = [TopicPartition(name, 0) for name in integrator.reads]
        consumer.assign(sorted({letter, *answers}))
        consumer.seek(letter, sent.offset)
        async with asyncio.timeout(30):
            record = await consumer.getone(letter)
        assert record.value == probe
        # Every topic it reads: its position committed under its own group and read back.
        others = [answer for answer in answers if answer != letter]
        await consumer.seek_to_end(*others)
        positions = {answer: await consumer.position(answer) for answer in others}
        await consumer.commit(positions)
        for answer, position in positions.items():
            assert await consumer.committed(answer) == position, answer
    finally:
        await consumer.stop()


@pytest.mark.parametrize("integrator", INTEGRATORS, ids=lambda i: i.principal)
async def test_an_outside_system_is_refused_other_topics_and_other_groups(
    stack: Stack, topics: dict[str, int], integrator: Integrator
) -> None:
    _, not_read = _one_step_outside(integrator)
    own_topic = integrator.reads[0]
    for topic, group in (
        (not_read, f"{integrator.group_prefix}acl-probe"),  # a topic that is not its answer
        (own_topic, "careplan-claims.stolen"),  # a service's group
        (own_topic, "warehouse-ish.stolen" if integrator.principal != "warehouse" else "x.y"),
    ):
        refused = AIOKafkaConsumer(topic, group_id=group, **_as(stack, integrator.principal))
        try:
            with pytest.raises(REFUSED):
                async with asyncio.timeout(30):
                    await refused.start()
                    await refused.getone()
        finally:
            await refused.stop()
