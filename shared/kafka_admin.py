"""Topic administration: every contract topic and its dead-letter topic, created up front with
explicit partition counts (the broker refuses to auto-create topics), replicated on as many
brokers as the cluster has, up to three."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from contracts.topics import ALL_TOPICS, DEAD_LETTER_SUFFIX, Topic
from shared.kafka_security import client_options
from shared.retry import transient_retries

DEAD_LETTER_PARTITIONS = 1
# A dead letter is the original record plus dlq-* headers: its topic takes larger records than
# the broker's 1 MiB default, so anything the broker accepted can always be dead-lettered.
DEAD_LETTER_MAX_BYTES = 4 * 1024 * 1024
# Three copies of every record; the cluster's min.insync.replicas=2 makes acks=all mean two.
MAX_REPLICATION_FACTOR = 3


def new_topic(name: str, partitions: int, replication_factor: int = 1) -> NewTopic:
    configs = (
        {"max.message.bytes": str(DEAD_LETTER_MAX_BYTES)}
        if name.endswith(DEAD_LETTER_SUFFIX)
        else {}
    )
    return NewTopic(
        name,
        num_partitions=partitions,
        replication_factor=replication_factor,
        topic_configs=configs,
    )


def planned_topics(topics: tuple[Topic, ...] = ALL_TOPICS) -> dict[str, int]:
    """Topic name -> partitions, dead-letter topics included."""
    plan = {topic.name: topic.partitions for topic in topics}
    plan.update({topic.dead_letter: DEAD_LETTER_PARTITIONS for topic in topics})
    return plan


async def _admin(bootstrap: str) -> AIOKafkaAdminClient:
    async for attempt in transient_retries(attempts=30):
        with attempt:
            admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options())
            try:
                await admin.start()
            except BaseException:
                await admin.close()
                raise
            return admin
    raise AssertionError("unreachable: tenacity re-raises the last error")


async def ensure_topics(bootstrap: str, *, recreate: bool = False) -> dict[str, int]:
    """Create the missing topics (all of them again when `recreate`); returns the plan."""
    plan = planned_topics()
    admin = await _admin(bootstrap)
    try:
        existing = set(await admin.list_topics())
        if recreate and (doomed := sorted(existing & plan.keys())):
            await admin.delete_topics(doomed)
            await _wait_until(admin, lambda names: not (names & set(doomed)))
            existing -= set(doomed)
        replicas = await replication_factor(admin)
        missing = [
            new_topic(name, partitions, replicas)
            for name, partitions in plan.items()
            if name not in existing
        ]
        if missing:
            await admin.create_topics(missing)
        await _wait_until(admin, lambda names: plan.keys() <= names)
    finally:
        await admin.close()
    return plan


async def replication_factor(admin: AIOKafkaAdminClient) -> int:
    """As many replicas as the cluster has brokers, up to three."""
    cluster = await admin.describe_cluster()
    return min(MAX_REPLICATION_FACTOR, len(cluster["brokers"]))


async def _wait_until(admin: AIOKafkaAdminClient, done: Callable[[set[str]], bool]) -> None:
    """Poll the broker's metadata until `done(topic names)` holds (deletes are asynchronous)."""
    for _ in range(300):
        try:
            if done(set(await admin.list_topics())):
                return
        except KafkaError:
            pass
        await asyncio.sleep(0.1)
    raise TimeoutError("the broker's topic metadata did not settle within 30 s")
