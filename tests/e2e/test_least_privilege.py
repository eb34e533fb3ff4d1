"""Least privilege on Kafka: each service's principal may write only the topics it owns and read
only the topics it consumes, under its own consumer groups (infra/kafka/acls.txt)."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError

from contracts import topics as t
from tests.conftest import Stack

pytestmark = pytest.mark.e2e


def _as(stack: Stack, principal: str) -> dict[str, str]:
    if principal not in stack.kafka_credentials:
        pytest.skip("this cluster has no per-service principals (not the local SASL stack)")
    return {
        "bootstrap_servers": stack.kafka_bootstrap,
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": principal,
        "sasl_plain_password": stack.kafka_credentials[principal],
    }


async def test_a_service_writing_to_another_services_topic_is_refused(
    stack: Stack, topics: dict[str, int]
) -> None:
    producer = AIOKafkaProducer(**_as(stack, "activation"), request_timeout_ms=10_000)
    await producer.start()
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(t.COVERAGE_EVENTS.name, b"{}", key=b"x")
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(t.REPAIR_ASSESSMENTS.name, b"{}", key=b"x")
        # Its own dead letters it may write: they are how it refuses bad input.
        await producer.send_and_wait(t.DEVICE_ACTIVATIONS.dead_letter, b"probe", key=b"acl")
    finally:
        await producer.stop()


async def test_a_service_reads_only_what_it_consumes_under_its_own_groups(
    stack: Stack, topics: dict[str, int]
) -> None:
    allowed = AIOKafkaConsumer(
        t.COVERAGE_EVENTS.name, group_id="careplan-claims.acl-probe", **_as(stack, "claims")
    )
    await allowed.start()
    try:
        await allowed.getmany(timeout_ms=1000)  # joins and fetches without an error
    finally:
        await allowed.stop()

    for topic, group in (
        (t.FULFILMENT_EVENTS.name, "careplan-claims.acl-probe"),  # not a topic claims reads
        (t.COVERAGE_EVENTS.name, "careplan-coverage.stolen"),  # another service's group
    ):
        refused = AIOKafkaConsumer(topic, group_id=group, **_as(stack, "claims"))
        try:
            with pytest.raises((TopicAuthorizationFailedError, GroupAuthorizationFailedError)):
                await refused.start()
                await refused.getone()
        finally:
            await refused.stop()
