"""Message sizes as the platform produced them, read back from its topics after a run."""

from __future__ import annotations

import json
from collections import defaultdict

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from bench import bare
from shared.kafka_security import client_options

_BY_TYPE = {
    "claims.claim-decided": bare.DECIDED,
    "coverage.deduction-applied": bare.DEDUCTED,
    "coverage.quota-deduction-applied": bare.QUOTA,
    "insurer.claim-reported": bare.INSURER,
    "payments.payment-settled": bare.PAYMENT,
    "fulfilment.shipment-requested": bare.SHIPMENT,
    "warehouse.dispatch-confirmed": bare.DISPATCH,
    "fulfilment.device-replaced": bare.REPLACED,
    "coverage.plan-inherited": bare.INHERITED,
}


def kind_of(value: bytes) -> str | None:
    """The bare chain's kind for one of the platform's messages, or None for others."""
    try:
        event = json.loads(value)
    except (ValueError, RecursionError):  # the bad-input tests' messages, when they share topics
        return None
    if not isinstance(event, dict):
        return None
    event_type = str(event.get("event_type", ""))
    payload = event.get("payload") or {}
    if event_type == "repair.assessment-reported":
        return bare.AG_ASSESSMENT if payload.get("repair_lines") else bare.ASSESSMENT
    if event_type == "claims.claim-decided":
        outcome = payload.get("outcome")
        if outcome == "repair":
            return bare.AG_DECIDED
        return bare.DECIDED if outcome == "replacement" else bare.DECIDED_REFUSED
    return _BY_TYPE.get(event_type)


async def measure(bootstrap: str, per_partition: int = 400) -> dict[str, int]:
    """Mean size in bytes of each kind among the last records of the platform's topics."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, **client_options()
    )
    await consumer.start()
    totals: defaultdict[str, list[int]] = defaultdict(list)
    try:
        partitions = [
            TopicPartition(topic.name, p)
            for topic in bare.CHAIN_TOPICS
            for p in range(topic.partitions)
        ]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        wanted = {}
        for tp in partitions:
            first = max(starts[tp], ends[tp] - per_partition)
            if ends[tp] > first:
                consumer.seek(tp, first)
                wanted[tp] = ends[tp]
            else:
                consumer.pause(tp)
        while wanted:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            if not batches:
                break
            for tp, records in batches.items():
                for record in records:
                    kind = kind_of(record.value)
                    if kind is not None:
                        totals[kind].append(len(record.value))
                if records and records[-1].offset + 1 >= wanted.get(tp, 0):
                    wanted.pop(tp, None)
                    consumer.pause(tp)
    finally:
        await consumer.stop()
    return {kind: round(sum(sizes) / len(sizes)) for kind, sizes in totals.items() if sizes}
