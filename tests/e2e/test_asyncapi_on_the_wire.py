"""The AsyncAPI documents describe the records really on the wire: read off the live topics of
the running platform, each record's correlation id is where the document says, its key is the
documented one, its partition exists, an answer names its request, and a dead letter carries
every header its channel declares."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from contracts import parse_event
from contracts import topics as t
from shared.kafka_admin import planned_topics
from shared.kafka_security import client_options
from simulation.kafka_io import EventLog, Upstream
from simulation.processes import Platform
from tests.conftest import ROOT, Stack
from tests.e2e.journeys import activate_plan

pytestmark = pytest.mark.e2e

ASYNCAPI = ROOT / "docs" / "asyncapi"


def document(service: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ASYNCAPI / f"{service}.json").read_text())
    return loaded


def follow(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = doc
        for step in node["$ref"].removeprefix("#/").split("/"):
            target = target[step]
        node = target
    return node


def channel_of(
    doc: dict[str, Any], address: str, action: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(channel, message) of the operation `action` on `address`."""
    for operation in doc["operations"].values():
        channel = follow(doc, operation["channel"])
        if operation["action"] == action and channel["address"] == address:
            (message,) = operation["messages"]
            return channel, follow(doc, message)
    raise AssertionError(f"no {action} operation on {address}")


def at(location: str, record: ConsumerRecord[bytes, bytes]) -> Any:
    """A runtime expression ($message.payload#/x or $message.header#/x) applied to a record."""
    source, _, pointer = location.partition("#")
    if source == "$message.payload":
        node: Any = json.loads(record.value or b"")
    elif source == "$message.header":
        node = {name: value.decode() for name, value in record.headers}
    else:
        raise AssertionError(f"unexpected location {location}")
    for step in pointer.removeprefix("/").split("/"):
        node = node.get(step) if isinstance(node, dict) else None
    return node


async def read_until(
    stack: Stack, topic: str, found: Callable[[ConsumerRecord[bytes, bytes]], bool]
) -> ConsumerRecord[bytes, bytes]:
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap, **client_options())
    await consumer.start()
    try:
        count = planned_topics()[topic]
        partitions = [TopicPartition(topic, p) for p in range(count)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        async with asyncio.timeout(60):
            while True:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for record in records:
                        if found(record):
                            return record
    finally:
        await consumer.stop()


async def test_an_answer_on_the_wire_is_as_its_document_says(
    stack: Stack, platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-1y", "air-3")
    answer = await read_until(
        stack,
        t.ACTIVATION_EVENTS.name,
        lambda r: r.key == device.sn.encode() and b"activation.plan-activated" in (r.value or b""),
    )
    envelope = parse_event(t.ACTIVATION_EVENTS.name, answer.value or b"")
    doc = document("activation")
    channel, message = channel_of(doc, t.ACTIVATION_EVENTS.name, "send")

    assert at(message["correlationId"]["location"], answer) == envelope.correlation_id
    assert message["bindings"]["kafka"]["key"]["type"] == "string"
    assert answer.key == device.sn.encode()  # "keyed by device SN"
    assert answer.partition < channel["bindings"]["kafka"]["partitions"]

    # It names the request it answers: its causation_id is the request's event_id.
    request = await read_until(
        stack, t.ACTIVATION_REQUESTS.name, lambda r: r.key == device.sn.encode()
    )
    assert (
        envelope.causation_id
        == parse_event(t.ACTIVATION_REQUESTS.name, request.value or b"").event_id
    )
    _, asked = channel_of(doc, t.ACTIVATION_REQUESTS.name, "receive")
    assert (
        at(asked["correlationId"]["location"], request)
        == parse_event(t.ACTIVATION_REQUESTS.name, request.value or b"").correlation_id
    )


async def test_a_dead_letter_on_the_wire_carries_every_declared_header(
    stack: Stack, platform: Platform, upstream: Upstream, events: EventLog, run_dir: Path
) -> None:
    garbage = b'{"event_type": "devices.device-activated", "payload": {"sn": 7}}'
    key = f"ASYNCAPI{run_dir.name[-8:]}".upper()
    await upstream.send_raw(t.DEVICE_ACTIVATIONS.name, key, garbage)
    letter = await read_until(
        stack,
        t.DEVICE_ACTIVATIONS.dead_letter,
        lambda r: r.key == key.encode() and dict(r.headers).get("dlq-service") == b"activation",
    )
    doc = document("activation")
    channel, message = channel_of(doc, t.DEVICE_ACTIVATIONS.dead_letter, "send")
    headers = {name: value.decode() for name, value in letter.headers}
    assert set(message["headers"]["required"]) <= set(headers)
    assert letter.value == garbage  # the original bytes
    assert letter.partition < channel["bindings"]["kafka"]["partitions"]
