"""The Kafka ceiling: a bare aiokafka consume-and-produce chain shaped like the platform.

Five stage processes stand in for the five services. Each subscribes to the same topics
(copies named `bench.bare.<topic>`, with the same partition counts) and answers what the
service would answer with a message of the size the service's event had in the platform run:
an assessment becomes a decision, a decision a deduction, a payment a shipment request, a
dispatch a replacement, a replacement the plan's inheritance, an AG decision a quota deduction
and that a report to the insurer. No database, no parsing beyond a header, no validation; the
same idempotent producer settings (acks=all, linger 5 ms).

Two modes: `batch` is the services' pattern: one consumer per stage for all its topics, in one
group, takes what a poll returns, sends it all, waits for every acknowledgement and commits
once. `message` is the pattern the services had before they consumed in batches, kept for
comparison: a consumer group per (stage, topic), records one at a time, each one's offset
committed before the next, its answer handed to the producer without waiting for the broker's
acknowledgement. Stages run on uvloop, as the services do.

The load side is `BareDriver`: the same case mix, window and schedules as the platform phases,
with payments and the warehouse played the same way.

Run a stage: `python -m bench.bare ROLE BOOTSTRAP MODE SIZES_JSON`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import TopicPartition

from bench.groups import assert_groups_idle
from contracts import topics as t
from shared.kafka_admin import replication_factor
from shared.kafka_security import client_options

PREFIX = "bench.bare."
REPO_ROOT = Path(__file__).resolve().parent.parent
CHAIN_TOPICS = (
    t.REPAIR_ASSESSMENTS,
    t.PAYMENT_SETTLEMENTS,
    t.WAREHOUSE_DISPATCHES,
    t.CLAIMS_EVENTS,
    t.COVERAGE_EVENTS,
    t.FULFILMENT_EVENTS,
    t.INSURER_CLAIMS,
)

# Message kinds: the platform's events on the case's path, by the name the sizes are kept under.
ASSESSMENT = "AssessmentReported"
AG_ASSESSMENT = "AgAssessmentReported"
DECIDED = "ClaimDecided"
DECIDED_REFUSED = "ClaimDecidedRefused"
AG_DECIDED = "AgClaimDecided"
DEDUCTED = "DeductionApplied"
QUOTA = "QuotaDeductionApplied"
INSURER = "InsurerClaimReported"
PAYMENT = "PaymentSettled"
SHIPMENT = "ShipmentRequested"
DISPATCH = "DispatchConfirmed"
REPLACED = "DeviceReplaced"
INHERITED = "PlanInherited"
KINDS = (
    ASSESSMENT,
    AG_ASSESSMENT,
    DECIDED,
    DECIDED_REFUSED,
    AG_DECIDED,
    DEDUCTED,
    QUOTA,
    INSURER,
    PAYMENT,
    SHIPMENT,
    DISPATCH,
    REPLACED,
    INHERITED,
)

# What each stage reads (as its service does) and what it answers: (topic, kind) -> (topic, kind)
SUBSCRIPTIONS: dict[str, tuple[t.Topic, ...]] = {
    "claims": (t.REPAIR_ASSESSMENTS, t.COVERAGE_EVENTS),
    "coverage": (t.CLAIMS_EVENTS, t.FULFILMENT_EVENTS),
    "fulfilment": (t.COVERAGE_EVENTS, t.PAYMENT_SETTLEMENTS, t.WAREHOUSE_DISPATCHES),
    "activation": (t.CLAIMS_EVENTS, t.COVERAGE_EVENTS),
    "lookup": (
        t.REPAIR_ASSESSMENTS,
        t.CLAIMS_EVENTS,
        t.COVERAGE_EVENTS,
        t.FULFILMENT_EVENTS,
    ),
}
ANSWERS: dict[tuple[str, str, str], tuple[t.Topic, str]] = {
    ("claims", t.REPAIR_ASSESSMENTS.name, ASSESSMENT): (t.CLAIMS_EVENTS, DECIDED),
    ("claims", t.REPAIR_ASSESSMENTS.name, "refuse"): (t.CLAIMS_EVENTS, DECIDED_REFUSED),
    ("claims", t.REPAIR_ASSESSMENTS.name, AG_ASSESSMENT): (t.CLAIMS_EVENTS, AG_DECIDED),
    ("claims", t.COVERAGE_EVENTS.name, QUOTA): (t.INSURER_CLAIMS, INSURER),
    ("coverage", t.CLAIMS_EVENTS.name, DECIDED): (t.COVERAGE_EVENTS, DEDUCTED),
    ("coverage", t.CLAIMS_EVENTS.name, AG_DECIDED): (t.COVERAGE_EVENTS, QUOTA),
    ("coverage", t.FULFILMENT_EVENTS.name, REPLACED): (t.COVERAGE_EVENTS, INHERITED),
    ("fulfilment", t.PAYMENT_SETTLEMENTS.name, PAYMENT): (t.FULFILMENT_EVENTS, SHIPMENT),
    ("fulfilment", t.WAREHOUSE_DISPATCHES.name, DISPATCH): (t.FULFILMENT_EVENTS, REPLACED),
}
ROLES = tuple(SUBSCRIPTIONS)


def bare(topic: t.Topic) -> str:
    return PREFIX + topic.name


def group_of(role: str, topic: t.Topic, mode: str) -> str:
    """The consumer group in which `role` reads `topic`: one per stage in batch mode."""
    return f"bench-bare-{role}.{topic.name}" if mode == "message" else f"bench-bare-{role}"


def body(case_id: str, size: int) -> bytes:
    head = case_id.encode() + b"|"
    return head + b"x" * max(0, size - len(head))


def case_of(value: bytes) -> str:
    return value.split(b"|", 1)[0].decode()


# -- a stage process ---------------------------------------------------------------------------


async def run_stage(role: str, bootstrap: str, mode: str, sizes: dict[str, int]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        client_id=f"bench-bare-{role}",
        **client_options(),
    )
    await producer.start()
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "enable_auto_commit": False,
        "auto_offset_reset": "latest",
        "max_poll_interval_ms": 120_000,
        **client_options(),
    }
    topics = SUBSCRIPTIONS[role]
    consumers = (
        [
            AIOKafkaConsumer(bare(topic), group_id=group_of(role, topic, mode), **options)
            for topic in topics
        ]
        if mode == "message"
        else [
            AIOKafkaConsumer(
                *(bare(topic) for topic in topics),
                group_id=group_of(role, topics[0], mode),
                **options,
            )
        ]
    )
    for consumer in consumers:
        await consumer.start()
    while any(not consumer.assignment() for consumer in consumers):  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    print("ready", flush=True)

    def answer(record: Any) -> Awaitable[Any] | None:
        kind = dict(record.headers).get("k", b"").decode()
        target = ANSWERS.get((role, record.topic.removeprefix(PREFIX), kind))
        if target is None:
            return None
        topic, out_kind = target
        case_id = case_of(record.value)
        sending: Awaitable[Any] = producer.send(
            bare(topic),
            body(case_id, sizes.get(out_kind, 512)),
            key=record.key,
            headers=[("k", out_kind.encode())],
        )
        return sending

    async def per_message(consumer: AIOKafkaConsumer) -> None:
        while True:
            record = await consumer.getone()
            sending = answer(record)
            if sending is not None:
                # Handed to the producer (batched, acknowledged later); the offset is committed
                # record by record.
                await sending
            tp = TopicPartition(record.topic, record.partition)
            await consumer.commit({tp: record.offset + 1})

    async def batched(consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=100, max_records=500)
            if not batches:
                continue
            sending = [
                s
                for records in batches.values()
                for record in records
                if (s := answer(record)) is not None
            ]
            acks = await asyncio.gather(*sending)
            await asyncio.gather(*acks)
            await consumer.commit(
                {tp: records[-1].offset + 1 for tp, records in batches.items() if records}
            )

    loop = per_message if mode == "message" else batched
    tasks = [asyncio.create_task(loop(consumer)) for consumer in consumers]
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for consumer in consumers:
        await consumer.stop()
    await producer.stop()


# -- the chain, from the benchmark's side ------------------------------------------------------


async def recreate_topics(bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options())
    await admin.start()
    try:
        names = [bare(topic) for topic in CHAIN_TOPICS]
        existing = set(await admin.list_topics()) & set(names)
        if existing:
            await admin.delete_topics(sorted(existing))
            for _ in range(300):
                if not set(await admin.list_topics()) & existing:
                    break
                await asyncio.sleep(0.1)
        replicas = await replication_factor(admin)
        await admin.create_topics(
            [NewTopic(bare(topic), topic.partitions, replicas) for topic in CHAIN_TOPICS]
        )
        for _ in range(300):
            if set(names) <= set(await admin.list_topics()):
                break
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


async def delete_topics(bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options())
    await admin.start()
    try:
        names = set(await admin.list_topics()) & {bare(topic) for topic in CHAIN_TOPICS}
        if names:
            await admin.delete_topics(sorted(names))
    finally:
        await admin.close()


@dataclass
class Stages:
    """The five stage processes."""

    bootstrap: str
    mode: str
    sizes: dict[str, int]
    log_dir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def launch(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for role in ROLES:
            with (self.log_dir / f"bare-{role}.log").open("wb") as log:
                self.processes[role] = self._spawn(role, log)

    def _spawn(self, role: str, log: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.bare",
                role,
                self.bootstrap,
                self.mode,
                json.dumps(self.sizes),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ | {"PYTHONPATH": str(REPO_ROOT)},
        )

    async def start(self) -> None:
        """Launch the five stages and wait until each has its partitions."""
        await assert_groups_idle(self.bootstrap)
        self.launch()
        deadline = time.monotonic() + 120
        for role in ROLES:
            path = self.log_dir / f"bare-{role}.log"
            while b"ready" not in path.read_bytes():
                if self.processes[role].poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"bare stage {role} did not start: see {path}")
                await asyncio.sleep(0.1)

    def pids(self) -> dict[str, int]:
        return {f"{role}-bare": process.pid for role, process in self.processes.items()}

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@dataclass
class BareCase:
    case_id: str
    kind: str
    sent_at: float = 0.0
    decided_at: float | None = None
    final_at: float | None = None


class BareDriver:
    """Sends cases into the bare chain and plays payments and the warehouse, like the Driver."""

    def __init__(self, bootstrap: str, sizes: dict[str, int], mix: dict[str, float], seed: int):
        self.sizes = sizes
        self.mix = mix
        self.rng = random.Random(seed)
        self.cases: dict[str, BareCase] = {}
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
            **client_options(),
        )
        self._consumer = AIOKafkaConsumer(
            bare(t.CLAIMS_EVENTS),
            bare(t.COVERAGE_EVENTS),
            bare(t.FULFILMENT_EVENTS),
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            **client_options(),
        )
        self._reader: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> BareDriver:
        await self._producer.start()
        await self._consumer.start()
        while len({p.topic for p in self._consumer.assignment()}) < 3:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        for partition in self._consumer.assignment():
            await self._consumer.position(partition)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *_: object) -> None:
        tasks = [*self._tasks, *([self._reader] if self._reader else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._consumer.stop()
        await self._producer.stop()

    async def _send(self, topic: t.Topic, case_id: str, kind: str) -> None:
        await self._producer.send_and_wait(
            bare(topic),
            body(case_id, self.sizes.get(kind, 512)),
            key=case_id.encode(),
            headers=[("k", kind.encode())],
        )

    def _spawn(self, work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=200, max_records=2000)
            now = time.monotonic()
            for records in batches.values():
                for record in records:
                    kind = dict(record.headers).get("k", b"").decode()
                    case = self.cases.get(case_of(record.value))
                    if case is None:
                        continue
                    if kind in (DECIDED, DECIDED_REFUSED, AG_DECIDED):
                        case.decided_at = case.decided_at or now
                        if kind == DECIDED_REFUSED and case.final_at is None:
                            case.final_at = now
                    elif kind == DEDUCTED:
                        self._spawn(self._send(t.PAYMENT_SETTLEMENTS, case.case_id, PAYMENT))
                    elif kind == SHIPMENT:
                        self._spawn(self._send(t.WAREHOUSE_DISPATCHES, case.case_id, DISPATCH))
                    elif kind in (INHERITED, QUOTA) and case.final_at is None:
                        case.final_at = now

    def send_case(self) -> str:
        """One case of the mix: a replacement, a refusal or an AG repair."""
        draw = self.rng.random()
        kind = "refuse" if draw < self.mix.get("refused", 0.0) else ASSESSMENT
        if (
            self.mix.get("refused", 0.0)
            <= draw
            < self.mix.get("refused", 0.0) + self.mix.get("agricultural", 0.0)
        ):
            kind = AG_ASSESSMENT
        case_id = f"BARE-{uuid.uuid4().hex[:16]}"
        self.cases[case_id] = BareCase(case_id, kind, sent_at=time.monotonic())
        size_kind = AG_ASSESSMENT if kind == AG_ASSESSMENT else ASSESSMENT
        work = self._producer.send_and_wait(
            bare(t.REPAIR_ASSESSMENTS),
            body(case_id, self.sizes.get(size_kind, 1024)),
            key=case_id.encode(),
            headers=[("k", kind.encode())],
        )
        self._spawn(_discard(work))
        return case_id

    def pending(self) -> int:
        return sum(1 for case in self.cases.values() if case.final_at is None)

    async def wait_done(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.pending():
            if time.monotonic() > deadline:
                raise TimeoutError(f"bare chain: {self.pending()} cases unfinished")
            await asyncio.sleep(0.05)
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._tasks)


async def _discard(work: Awaitable[Any]) -> None:
    await work


def main() -> None:
    role, bootstrap, mode, sizes = sys.argv[1:5]
    uvloop.run(run_stage(role, bootstrap, mode, json.loads(sizes)))


if __name__ == "__main__":
    main()
