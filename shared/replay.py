"""Replay of dead letters onto their original topic, after a fix."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts.topics import DEAD_LETTER_SUFFIX
from shared.kafka_security import client_options


async def replay(bootstrap: str, topic: str, *, limit: int) -> int:
    consumer = AIOKafkaConsumer(
        topic + DEAD_LETTER_SUFFIX,
        bootstrap_servers=bootstrap,
        group_id=f"careplan-replay.{topic}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **client_options(),
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", **client_options()
    )
    await consumer.start()
    await producer.start()
    replayed = 0
    # A shared dead-letter topic holds one copy per consuming service that refused a record:
    # the record itself is replayed once, and every consumer reads it again.
    originals: set[tuple[bytes, bytes]] = set()
    try:
        while replayed < limit:
            batches = await consumer.getmany(timeout_ms=2000, max_records=limit - replayed)
            if not batches:
                break
            for records in batches.values():
                for record in records:
                    found = dict(record.headers)
                    original = (
                        found.get("dlq-original-partition", b""),
                        found.get("dlq-original-offset", b""),
                    )
                    if original[1] and original in originals:
                        continue
                    originals.add(original)
                    headers = [(k, v) for k, v in record.headers if not k.startswith("dlq-")]
                    await producer.send_and_wait(
                        topic, record.value, key=record.key, headers=headers
                    )
                    replayed += 1
            await consumer.commit()
    finally:
        await producer.stop()
        await consumer.stop()
    return replayed
