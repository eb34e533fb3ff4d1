"""Talking to the platform the way the systems around it do: only through Kafka topics."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import RecordMetadata

from careplan.registry import INTEGRATORS
from contracts import parse_event, serialise_event
from contracts.envelope import Envelope
from contracts.topics import Topic
from shared.kafka_security import client_options, options_for

E = TypeVar("E", bound=Envelope)


class Upstream:
    """A producer for the inbound topics: the storefront, repair system, payments, warehouse.

    It is this process's principal (the tests': the administrator's) unless `security` names
    another, as Integrators does for each outside system.
    """

    def __init__(self, bootstrap: str, security: dict[str, Any] | None = None) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
            **(client_options() if security is None else security),
        )

    async def __aenter__(self) -> Upstream:
        await self._producer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._producer.stop()

    async def send(
        self, topic: Topic, key: str, event: Envelope, headers: dict[str, str] | None = None
    ) -> RecordMetadata:
        """`headers`: e.g. the `traceparent` of what this answers, as a traced system sends."""
        return await self.send_raw(topic.name, key, serialise_event(event), headers)

    async def send_raw(
        self, topic: str, key: str, value: bytes, headers: dict[str, str] | None = None
    ) -> RecordMetadata:
        wire = [(name, value.encode()) for name, value in (headers or {}).items()]
        return await self._producer.send_and_wait(topic, value, key=key.encode(), headers=wire)


class Integrators:
    """The outside systems, each writing its own upstream topics as its own principal
    (careplan.registry.INTEGRATORS); on a cluster without principals, one plain producer."""

    def __init__(self, bootstrap: str, credentials: dict[str, str]) -> None:
        if not credentials:
            shared = Upstream(bootstrap)
            self._producers = [shared]
            self._by_topic = {topic.name: shared for i in INTEGRATORS for topic in i.writes}
            return
        self._producers = []
        self._by_topic = {}
        for integrator in INTEGRATORS:
            if integrator.writes:
                who = integrator.principal
                producer = Upstream(bootstrap, options_for(who, credentials[who]))
                self._producers.append(producer)
                self._by_topic |= {topic.name: producer for topic in integrator.writes}

    async def __aenter__(self) -> Integrators:
        for producer in self._producers:
            await producer.__aenter__()
        return self

    async def __aexit__(self, *_: object) -> None:
        for producer in self._producers:
            await producer.__aexit__()

    async def send(self, topic: Topic, key: str, event: Envelope) -> RecordMetadata:
        return await self._by_topic[topic.name].send(topic, key, event)

    async def send_raw(self, topic: str, key: str, value: bytes) -> RecordMetadata:
        return await self._by_topic[topic].send_raw(topic, key, value)


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    key: bytes | None
    value: bytes
    headers: dict[str, str]


class EventLog:
    """Reads the given topics from their current end onward and keeps every event in order.

    Tests and the demo wait on it for what the platform published, polling the real topics:
    `await log.wait_for(DeviceReplaced, lambda e: e.payload.case_id == "C1")`.
    """

    def __init__(
        self,
        bootstrap: str,
        topics: list[Topic],
        dead_letters: list[Topic],
        security: dict[str, Any] | None = None,
    ) -> None:
        self._topics = {topic.name: topic for topic in topics}
        self._dead_letter_names = {topic.dead_letter for topic in dead_letters}
        # No group: the consumer is assigned every partition of these topics by itself.
        self._consumer = AIOKafkaConsumer(
            *self._topics,
            *self._dead_letter_names,
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            **(client_options() if security is None else security),
        )
        self.events: list[Envelope] = []
        self.headers: dict[uuid.UUID, dict[str, str]] = {}  # event id -> its record's headers
        self.dead_letters: list[DeadLetter] = []
        self.invalid: list[bytes] = []
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> EventLog:
        await self._consumer.start()
        names = {*self._topics, *self._dead_letter_names}
        # aiokafka signals no event when a group-less consumer is assigned: poll its state.
        while {partition.topic for partition in self._consumer.assignment()} != names:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        for partition in self._consumer.assignment():
            # Resolve "latest" now, so nothing sent after this point can be missed.
            await self._consumer.position(partition)
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()

    async def _read(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            if not batches:
                continue
            for records in batches.values():
                for record in records:
                    if record.topic in self._dead_letter_names:
                        self.dead_letters.append(
                            DeadLetter(
                                record.topic,
                                record.key,
                                record.value,
                                {k: v.decode() for k, v in record.headers},
                            )
                        )
                    else:
                        try:
                            event = parse_event(record.topic, record.value)
                        except ValueError:
                            self.invalid.append(record.value)  # e.g. sent on purpose by a test
                        else:
                            self.events.append(event)
                            self.headers[event.event_id] = {
                                k: v.decode() for k, v in record.headers
                            }
            async with self._changed:
                self._changed.notify_all()

    def of(self, kind: type[E], where: Callable[[E], bool] = lambda _: True) -> list[E]:
        return [event for event in self.events if isinstance(event, kind) and where(event)]

    async def wait_for(
        self,
        kind: type[E],
        where: Callable[[E], bool] = lambda _: True,
        *,
        count: int = 1,
        timeout: float = 60.0,
    ) -> list[E]:
        """Wait until at least `count` events of `kind` matching `where` have been published."""

        def found() -> bool:
            return len(self.of(kind, where)) >= count

        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(found), timeout)
            except TimeoutError:
                seen = [type(e).__name__ for e in self.events[-20:]]
                raise TimeoutError(
                    f"waited {timeout} s for {count} x {kind.__name__}; last seen: {seen}"
                ) from None
        return self.of(kind, where)

    async def wait_for_dead_letter(
        self, where: Callable[[DeadLetter], bool], *, timeout: float = 60.0
    ) -> DeadLetter:
        return (await self.wait_for_dead_letters(where, count=1, timeout=timeout))[0]

    async def wait_for_dead_letters(
        self, where: Callable[[DeadLetter], bool], *, count: int, timeout: float = 60.0
    ) -> list[DeadLetter]:
        """Wait until at least `count` dead letters matching `where` have been published."""

        def found() -> list[DeadLetter]:
            return [letter for letter in self.dead_letters if where(letter)]

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(found()) >= count), timeout)
        return found()
