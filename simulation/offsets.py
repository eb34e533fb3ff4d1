"""Consumer-group offsets: whether a service has consumed a message yet.

What an operator reads as consumer lag, used by the demo, the fault suite and the benchmark to
wait for the platform without reading any service's database.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition

from careplan.registry import SERVICES
from contracts import topics as t
from shared.kafka_security import client_options


def consumer_groups() -> dict[tuple[str, str], str]:
    """(service, topic) -> the service's consumer group, read from the services' own wiring."""
    groups: dict[tuple[str, str], str] = {}
    for name in SERVICES:
        service = importlib.import_module(f"services.{name}.app").service
        for topic in service.consumed:
            groups[(name, topic)] = service.group_id
    return groups


class Offsets:
    """Committed offsets of the services' groups and end offsets of topics, polled on demand."""

    def __init__(self, bootstrap: str) -> None:
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options())
        self._ends = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, **client_options()
        )
        self._cache: dict[str, tuple[float, dict[tuple[str, int], int]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.groups = consumer_groups()

    async def __aenter__(self) -> Offsets:
        await self._admin.start()
        await self._ends.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._ends.stop()
        await self._admin.close()

    async def committed(self, group: str) -> dict[tuple[str, int], int]:
        """The group's committed offsets; one broker round trip per group per 50 ms at most."""
        lock = self._locks.setdefault(group, asyncio.Lock())
        async with lock:
            now = time.monotonic()
            fetched_at, offsets = self._cache.get(group, (0.0, {}))
            if now - fetched_at > 0.05:
                try:
                    raw = await self._admin.list_consumer_group_offsets(group)
                except KafkaError:
                    # The group's coordinator was on a broker just lost (the cluster's faults):
                    # what was known stands until the next poll finds the new one.
                    return offsets
                offsets = {(tp.topic, tp.partition): int(meta.offset) for tp, meta in raw.items()}
                self._cache[group] = (time.monotonic(), offsets)
            return offsets

    async def end_offsets(self, topic: t.Topic) -> dict[tuple[str, int], int]:
        partitions = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
        for _ in range(120):
            try:
                ends = await self._ends.end_offsets(partitions)
                break
            except KafkaError:  # a partition's leader was just lost: ask its successor
                await asyncio.sleep(0.5)
        else:
            raise TimeoutError(f"the end offsets of {topic.name} stayed unknown for 60 s")
        return {(tp.topic, tp.partition): int(offset) for tp, offset in ends.items()}

    async def lag(self, group: str, topic: t.Topic) -> int:
        partitions = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
        starts = await self._ends.beginning_offsets(partitions)
        ends = await self.end_offsets(topic)
        committed = await self.committed(group)
        return sum(
            max(0, end - max(committed.get(key, -1), int(starts[TopicPartition(*key)])))
            for key, end in ends.items()
        )

    async def wait_consumed(
        self, service: str, topic: t.Topic, partition: int, offset: int, *, timeout: float
    ) -> None:
        """Until `service` committed past `offset` in `partition` of `topic`."""
        group = self.groups[(service, topic.name)]
        await self._poll(
            lambda done: done.get((topic.name, partition), -1) > offset,
            group,
            f"{service} to consume {topic.name}[{partition}]@{offset}",
            timeout,
        )

    async def wait_caught_up(self, service: str, topic: t.Topic, *, timeout: float) -> None:
        """Until `service` consumed everything that is on `topic` now."""
        group = self.groups[(service, topic.name)]
        ends = await self.end_offsets(topic)
        await self._poll(
            lambda done: all(done.get(key, -1) >= end for key, end in ends.items() if end > 0),
            group,
            f"{service} to catch up with {topic.name}",
            timeout,
        )

    async def _poll(
        self,
        reached: Callable[[dict[tuple[str, int], int]], bool],
        group: str,
        what: str,
        timeout: float,
    ) -> None:
        deadline = time.monotonic() + timeout
        while not reached(await self.committed(group)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout:.0f} s for {what}")
            await asyncio.sleep(0.05)
