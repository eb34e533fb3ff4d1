"""Delivery guarantees of the running services: redelivery, dead letters, crash recovery."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from contracts import serialise_event
from contracts import topics as t
from contracts.claims import ClaimDecided
from contracts.coverage import DeductionApplied
from services.claims.app import service as claims_service
from shared.dead_letters import REASON_HEADER
from shared.kafka_security import client_options
from simulation import factories as f
from simulation.kafka_io import EventLog, Upstream
from simulation.processes import Platform
from tests.conftest import Stack
from tests.e2e.journeys import activate_plan, claim, eventually, query

pytestmark = pytest.mark.e2e

CLAIMS_GROUP = claims_service.group_id


async def test_a_redelivered_event_and_an_upstream_retry_change_nothing(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-2y", "mavic-3")
    report = f.assessment(device.sn, device.model)
    raw = serialise_event(report)
    await upstream.send_raw(t.REPAIR_ASSESSMENTS.name, device.sn, raw)
    await upstream.send_raw(t.REPAIR_ASSESSMENTS.name, device.sn, raw)  # same event_id
    retried = report.model_copy(update={"event_id": uuid.uuid4()})  # same case, new event id
    await upstream.send(t.REPAIR_ASSESSMENTS, device.sn, retried)
    # Same key, same partition: once the sentinel is decided, the three copies were handled.
    sentinel = await claim(upstream, events, device)
    await events.wait_for(DeductionApplied, lambda e: e.payload.case_id == sentinel.payload.case_id)

    case_id = report.payload.case_id
    assert len(events.of(ClaimDecided, lambda e: e.payload.case_id == case_id)) == 1
    assert len(events.of(DeductionApplied, lambda e: e.payload.case_id == case_id)) == 1
    cases = await query(platform, "claims", "SELECT 1 FROM cases WHERE case_id = $1", case_id)
    assert len(cases) == 1
    inbox = await query(
        platform, "claims", "SELECT 1 FROM inbox WHERE event_id = $1", report.event_id
    )
    assert len(inbox) == 1
    (plan,) = await query(
        platform, "coverage", "SELECT * FROM plan_balances WHERE plan_id = $1::uuid", device.plan_id
    )
    assert plan["replacements_left"] == 2  # 4 - the case - the sentinel


async def test_an_invalid_message_is_dead_lettered_and_the_next_one_is_processed(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-1y", "air-3")
    garbage = b'{"event_type": "repair.assessment-reported", "payload": {"case_id": 7}}'
    await upstream.send_raw(t.REPAIR_ASSESSMENTS.name, device.sn, garbage)
    decided = await claim(upstream, events, device)  # same key: queued behind the garbage

    assert decided.payload.outcome.value == "replacement"
    letter = await events.wait_for_dead_letter(lambda letter: letter.value == garbage)
    assert letter.topic == t.REPAIR_ASSESSMENTS.dead_letter
    assert letter.key == device.sn.encode()
    assert "validation error" in letter.headers[REASON_HEADER]
    assert letter.headers["dlq-original-topic"] == t.REPAIR_ASSESSMENTS.name
    cases = await query(platform, "claims", "SELECT 1 FROM cases WHERE reported_sn = $1", device.sn)
    assert len(cases) == 1  # the invalid message changed nothing


async def _committed(stack: Stack, group: str) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap, **client_options())
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {partition: meta.offset for partition, meta in offsets.items()}


async def _rewind(stack: Stack, group: str, partition: TopicPartition, offset: int) -> None:
    """Commit an earlier offset for `group`, as if the commit after `offset` was never made.

    The broker accepts it only once the killed member has left the group (its session timed
    out), so this retries until then.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=stack.kafka_bootstrap,
        group_id=group,
        enable_auto_commit=False,
        **client_options(),
    )
    await consumer.start()
    try:
        consumer.assign([partition])
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            try:
                await consumer.commit({partition: offset})
                return
            except KafkaError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await consumer.stop()


async def test_a_service_killed_between_its_commit_and_its_offset_commit_applies_once(
    stack: Stack, platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-2y", "mavic-3-pro")
    report = f.assessment(device.sn, device.model)
    sent = await upstream.send(t.REPAIR_ASSESSMENTS, device.sn, report)
    case_id = report.payload.case_id
    await events.wait_for(DeductionApplied, lambda e: e.payload.case_id == case_id)
    partition = TopicPartition(sent.topic, sent.partition)

    async def offset_committed() -> bool:
        return bool((await _committed(stack, CLAIMS_GROUP)).get(partition, -1) > sent.offset)

    await eventually(offset_committed, "claims committed the assessment's offset")

    # The database transaction committed and so did the offset. Kill the process and take the
    # offset commit back: the state is exactly that of a crash between the two commits.
    claims = platform.process("claims")
    claims.kill()
    await _rewind(stack, CLAIMS_GROUP, partition, sent.offset)
    claims.start()
    await claims.wait_started()

    async def consumed_again() -> bool:
        return bool((await _committed(stack, CLAIMS_GROUP)).get(partition, -1) > sent.offset)

    await eventually(consumed_again, "the restarted claims service consumed the assessment again")
    after = await claim(upstream, events, device)  # the restarted service works on
    await events.wait_for(DeductionApplied, lambda e: e.payload.case_id == after.payload.case_id)

    assert len(events.of(ClaimDecided, lambda e: e.payload.case_id == case_id)) == 1
    assert len(events.of(DeductionApplied, lambda e: e.payload.case_id == case_id)) == 1
    (case,) = await query(platform, "claims", "SELECT * FROM cases WHERE case_id = $1", case_id)
    assert case["ledger_state"] == "applied"
    deductions = await query(
        platform,
        "coverage",
        "SELECT case_id FROM deductions WHERE plan_id = $1::uuid",
        device.plan_id,
    )
    assert sorted(row["case_id"] for row in deductions) == sorted([case_id, after.payload.case_id])
