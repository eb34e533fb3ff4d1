"""What Kafka and the services' metrics say about the platform's health: consumer lag per
group and partition, dead letters per topic, outbox backlog per service.

Read from outside, the way any dashboard can: offsets from the broker (a stopped service's lag
still grows) and each service's Prometheus endpoint, never another service's database.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httpx
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from contracts.topics import ALL_TOPICS
from services.operations.domain import (
    DeadLetter,
    PartitionLag,
    consumer_lag,
    dead_letter,
    service_of_group,
)
from shared.kafka_security import client_options
from shared.metrics import METRICS_PORT_OFFSETS, metrics_port
from shared.settings import ServiceSettings

DEAD_LETTER_TOPICS = tuple(topic.dead_letter for topic in ALL_TOPICS)


@dataclass(frozen=True)
class Outbox:
    """A service's outbox as its metrics tell it; None: the service did not answer."""

    waiting: int
    oldest_seconds: float


@dataclass
class Health:
    lag: list[PartitionLag] = field(default_factory=list)
    outbox: dict[str, Outbox | None] = field(default_factory=dict)
    dead_letters: dict[str, int] = field(default_factory=dict)  # per dead-letter topic
    # Events each service keeps until what they depend on arrives, by dependency
    # (shared.waiting); only the services that wait for anything, and only those answering.
    waiting: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def events_waiting(self) -> int:
        return sum(sum(counts.values()) for counts in self.waiting.values())

    def lag_of(self, service: str) -> int:
        return sum(p.lag for p in self.lag if service_of_group(p.group) == service)


def metrics_targets(settings: ServiceSettings) -> dict[str, str]:
    """Each service's metrics endpoint, on this host at its documented port."""
    base = settings.metrics_port_base
    return {
        service: f"http://127.0.0.1:{metrics_port(service, base=base, explicit=None)}/metrics"
        for service in METRICS_PORT_OFFSETS
        if service != "operations"
    }


class KafkaWatch:
    """Offsets and dead letters, read with one admin client and two group-less consumers."""

    def __init__(self, settings: ServiceSettings) -> None:
        self._bootstrap = settings.kafka_bootstrap_servers
        self._options = client_options(settings)

    async def start(self) -> None:
        # aiokafka's clients belong to the loop they are made in: made here, not at import.
        self._admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap, **self._options)
        self._offsets = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap, enable_auto_commit=False, **self._options
        )
        self._letters = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **self._options,
        )
        await self._admin.start()
        await self._offsets.start()
        await self._letters.start()
        # Every dead letter since the beginning: the store keeps each once.
        self._letters.assign(
            [
                TopicPartition(topic, partition)
                for topic in DEAD_LETTER_TOPICS
                for partition in self._offsets.partitions_for_topic(topic) or {0}
            ]
        )

    async def stop(self) -> None:
        await self._letters.stop()
        await self._offsets.stop()
        await self._admin.close()

    async def lag(self) -> list[PartitionLag]:
        groups = [
            group_id
            for group_id, *_ in await self._admin.list_consumer_groups()
            if service_of_group(group_id)
        ]
        lags: list[PartitionLag] = []
        for group in sorted(groups):
            offsets = await self._admin.list_consumer_group_offsets(group)
            committed = {
                (tp.topic, tp.partition): meta.offset
                for tp, meta in offsets.items()
                if meta.offset >= 0
            }
            ends = await self._offsets.end_offsets([TopicPartition(*key) for key in committed])
            lags += consumer_lag(
                group, committed, {(tp.topic, tp.partition): end for tp, end in ends.items()}
            )
        return lags

    async def dead_letter_counts(self) -> dict[str, int]:
        partitions = [TopicPartition(topic, 0) for topic in DEAD_LETTER_TOPICS]
        ends = await self._offsets.end_offsets(partitions)
        starts = await self._offsets.beginning_offsets(partitions)
        return {tp.topic: ends[tp] - starts[tp] for tp in partitions}

    async def new_dead_letters(self, timeout_ms: int = 200) -> list[DeadLetter]:
        batches = await self._letters.getmany(timeout_ms=timeout_ms)
        return [
            dead_letter(
                record.topic,
                record.partition,
                record.offset,
                {k: v.decode(errors="replace") for k, v in record.headers},
            )
            for records in batches.values()
            for record in records
        ]

    async def record_at(
        self, topic: str, partition: int, offset: int
    ) -> ConsumerRecord[bytes, bytes]:
        """The one record at `offset`, read by a consumer of its own."""
        reader = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap, enable_auto_commit=False, **self._options
        )
        await reader.start()
        try:
            where = TopicPartition(topic, partition)
            reader.assign([where])
            reader.seek(where, offset)
            async with asyncio.timeout(10):
                while True:
                    for record in (await reader.getmany(where, timeout_ms=500)).get(where, []):
                        if record.offset == offset:
                            return record
        finally:
            await reader.stop()


@dataclass(frozen=True)
class ServiceGauges:
    outbox: Outbox
    waiting: dict[str, int]  # events kept, by dependency


async def gauges_of(http: httpx.AsyncClient, url: str) -> ServiceGauges | None:
    """What the dashboard reads off a service's metrics; None: the service did not answer."""
    try:
        response = await http.get(url, timeout=2.0)
        response.raise_for_status()
    except httpx.HTTPError:
        return None
    gauges: dict[str, float] = {}
    waiting: dict[str, int] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name in ("careplan_outbox_backlog", "careplan_outbox_oldest_unsent_seconds"):
                gauges[sample.name] = sample.value
            elif sample.name == "careplan_events_waiting":
                waiting[sample.labels["dependency"]] = int(sample.value)
    outbox = Outbox(
        int(gauges.get("careplan_outbox_backlog", 0)),
        gauges.get("careplan_outbox_oldest_unsent_seconds", 0.0),
    )
    return ServiceGauges(outbox, waiting)


async def collect_health(
    watch: KafkaWatch, http: httpx.AsyncClient, targets: dict[str, str]
) -> Health:
    read = dict(
        zip(
            targets,
            await asyncio.gather(*(gauges_of(http, url) for url in targets.values())),
            strict=True,
        )
    )
    return Health(
        lag=await watch.lag(),
        outbox={service: g.outbox if g else None for service, g in read.items()},
        dead_letters=await watch.dead_letter_counts(),
        waiting={service: g.waiting for service, g in read.items() if g and g.waiting},
    )


def render_text(health: Health) -> str:
    """`careplan status`: the dashboard's health panels, in a terminal."""
    lines = ["consumer lag (group topic partition: committed/end lag)"]
    lines += [
        f"  {p.group:32} {p.topic:32} {p.partition:>2}: {p.committed}/{p.end} lag {p.lag}"
        for p in health.lag
    ] or ["  no group has committed yet"]
    lines.append("outbox backlog (service: waiting, oldest)")
    for service, outbox in health.outbox.items():
        state = (
            "no answer from its metrics endpoint"
            if outbox is None
            else f"{outbox.waiting} waiting, oldest {outbox.oldest_seconds:.1f} s"
        )
        lines.append(f"  {service:12} {state}")
    lines.append("events waiting for a dependency (service dependency: events)")
    lines += [
        f"  {service:12} {dependency:32} {count}"
        for service, counts in health.waiting.items()
        for dependency, count in sorted(counts.items())
    ] or ["  no service waits for anything"]
    lines.append("dead letters (topic: records)")
    lines += [f"  {topic:40} {count}" for topic, count in health.dead_letters.items() if count]
    if not any(health.dead_letters.values()):
        lines.append("  none")
    return "\n".join(lines)


async def status_text(settings: ServiceSettings) -> str:
    """The health `careplan status` prints, read as the dashboard reads it."""
    watch = KafkaWatch(settings)
    await watch.start()
    try:
        async with httpx.AsyncClient() as http:
            return render_text(await collect_health(watch, http, metrics_targets(settings)))
    finally:
        await watch.stop()
