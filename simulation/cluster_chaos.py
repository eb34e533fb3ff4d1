"""Breaking the local three-node cluster on purpose while cases flow (CAREPLAN_KAFKA_BROKERS=3):
the broker leading the busiest partitions SIGKILLed, twice; the active KRaft controller
SIGKILLed; one broker taken away until it has left every ISR, then brought back; leadership moved
back to the preferred replicas. The services are never restarted: the flow must resume by itself.

Each loss is timed: how long a write to a partition the lost broker led (acks=all, idempotent,
as the services write) took to be acknowledged by its next leader, on a probe topic of the
chaos' own so that no service reads it.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections import Counter
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from contracts import topics as t
from shared.kafka_security import client_options
from simulation.chaos import INFRA
from simulation.load import OWNED

# Longer than this without a write where the lost broker led, and the flow did not resume.
STALL_LIMIT_SECONDS = 180.0
PROBE = "cluster-chaos.probe.v1"
PROBE_PARTITIONS = 6
LEADERS = (*(topic.name for topic in t.ALL_TOPICS), PROBE)


@dataclass
class ClusterReport:
    kills: Counter[str] = field(default_factory=Counter)  # services: none here
    losses: list[tuple[str, int, float]] = field(default_factory=list)  # what, node, stall (s)
    left_isr_seconds: float = 0.0
    rejoined_isr_seconds: float = 0.0
    leaders_moved: int = 0

    @property
    def faults(self) -> int:
        return len(self.losses) + (self.leaders_moved > 0)

    def lines(self) -> list[str]:
        return [
            *(
                f"{what}: node {node}, writes where it led stalled {stall:.1f}s"
                for what, node, stall in self.losses
            ),
            f"broker away: out of every ISR after {self.left_isr_seconds:.1f}s,"
            f" back in every ISR {self.rejoined_isr_seconds:.1f}s after its restart",
            f"preferred-leader election: {self.leaders_moved} partition leaderships moved",
            "services restarted by hand: 0",
        ]


async def cluster_script(*args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        "bash", str(INFRA / "kafka/cluster.sh"), *args, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"infra/kafka/cluster.sh {' '.join(args)} failed")
    return out.decode().strip()


class ClusterChaos:
    def __init__(
        self, bootstrap: str, rng: random.Random, *, pause: tuple[float, float] = (3.0, 6.0)
    ) -> None:
        self.rng = rng
        self.report = ClusterReport()
        self._pause = pause
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options())
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, **client_options()
        )
        self._probe = AIOKafkaProducer(
            bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", **client_options()
        )

    async def run(self) -> ClusterReport:
        await self._admin.start()
        if PROBE not in await self._admin.list_topics():
            await self._admin.create_topics([NewTopic(PROBE, PROBE_PARTITIONS, 3)])
        await self._consumer.start()
        await self._probe.start()
        try:
            for fault in (
                self._kill_busiest_leader,
                self._kill_active_controller,
                self._kill_busiest_leader,
                self._take_away_and_back,
                self._move_leadership,
            ):
                await asyncio.sleep(self.rng.uniform(*self._pause))
                await fault()
        finally:
            await self._probe.stop()
            await self._consumer.stop()
            await self._admin.close()
        return self.report

    async def _partitions(self) -> list[dict[str, object]]:
        for _ in range(60):
            try:
                described = await self._admin.describe_topics(list(LEADERS))
                break
            except Exception:  # its connection was to the node just lost
                await asyncio.sleep(0.5)
        else:
            raise AssertionError("the cluster's metadata did not answer for 30 s")
        return [
            {"topic": topic["topic"], **partition}
            for topic in described
            for partition in topic["partitions"]
        ]

    async def _leaders(self) -> dict[TopicPartition, int]:
        return {
            TopicPartition(str(p["topic"]), int(str(p["partition"]))): int(str(p["leader"]))
            for p in await self._partitions()
        }

    async def _busiest_leader(self) -> int:
        """The node leading the most records on the services' own topics (what they write)."""
        leaders = await self._leaders()
        owned = [tp for tp in leaders if tp.topic in {topic.name for topic in OWNED}]
        ends = await self._consumer.end_offsets(owned)
        load: Counter[int] = Counter()
        for tp, end in ends.items():
            load[leaders[tp]] += end
        return load.most_common(1)[0][0]

    async def _kill(self, node: int, what: str) -> None:
        leaders = await self._leaders()
        probes = [tp.partition for tp, leader in leaders.items() if tp.topic == PROBE]
        # The controller may lead no probe partition just after an election: then any.
        led = [p for p in probes if leaders[TopicPartition(PROBE, p)] == node] or probes
        os.kill(int(await cluster_script("pid", str(node))), signal.SIGKILL)
        killed = time.monotonic()
        async with asyncio.timeout(STALL_LIMIT_SECONDS):
            while True:
                try:
                    await self._probe.send_and_wait(PROBE, b"probe", partition=led[0])
                    break
                except KafkaError:  # the producer's own retries ran out: the flow is stalled
                    await asyncio.sleep(0.1)
        stall = time.monotonic() - killed
        self.report.losses.append((what, node, stall))
        _say(f"{what}: node {node}, writes where it led stalled {stall:.1f}s")
        await cluster_script("up")  # the node back, and every ISR full again
        _say(f"node {node} back, every ISR full")

    async def _kill_busiest_leader(self) -> None:
        await self._kill(await self._busiest_leader(), "leader of the busiest partitions SIGKILLed")

    async def _kill_active_controller(self) -> None:
        await self._kill(int(await cluster_script("controller")), "active controller SIGKILLed")

    async def _take_away_and_back(self) -> None:
        """A clean stop, held until the node is in no ISR, while the others take the writes."""
        node = self.rng.randint(1, 3)
        pid = int(await cluster_script("pid", str(node)))
        os.kill(pid, signal.SIGTERM)
        stopped = time.monotonic()
        while any(node in p["isr"] for p in await self._partitions()):  # type: ignore[operator]  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        self.report.left_isr_seconds = time.monotonic() - stopped
        await asyncio.sleep(self.rng.uniform(*self._pause))  # the others move on without it
        while _alive(pid):  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        restarted = time.monotonic()
        await cluster_script("up")
        self.report.rejoined_isr_seconds = time.monotonic() - restarted
        _say(f"node {node} away until out of every ISR, then back: {self.report.lines()[-3]}")

    async def _move_leadership(self) -> None:
        before = await self._leaders()
        await cluster_script("elect")
        after = await self._leaders()
        self.report.leaders_moved = sum(after[tp] != leader for tp, leader in before.items())
        _say(f"preferred-leader election: {self.report.leaders_moved} leaderships moved")


def _say(what: str) -> None:
    print(f"[cluster chaos] {what}", flush=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
