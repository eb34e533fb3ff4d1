"""Phases of the bare chain, measured like the platform's (same windows, schedules, meter)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from bench import bare
from bench.config import Scale, Target
from bench.platform_run import PhaseResult, services_measured
from bench.resources import Meter, infrastructure
from bench.stats import middle_rate, rate, summarise
from shared.kafka_security import client_options


async def caught_up(bootstrap: str, mode: str, timeout: float) -> None:
    """Until every stage's group has committed the end of each topic it reads."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options())
    ends_reader = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, **client_options()
    )
    await admin.start()
    await ends_reader.start()
    try:
        deadline = time.monotonic() + timeout
        for role, topics in bare.SUBSCRIPTIONS.items():
            for topic in topics:
                group = bare.group_of(role, topic, mode)
                partitions = [TopicPartition(bare.bare(topic), p) for p in range(topic.partitions)]
                ends = await ends_reader.end_offsets(partitions)
                while True:
                    committed = await admin.list_consumer_group_offsets(group)
                    done = {tp: meta.offset for tp, meta in committed.items()}
                    if all(done.get(tp, -1) >= end for tp, end in ends.items() if end > 0):
                        break
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"bare chain: {group} did not catch up")
                    await asyncio.sleep(0.05)
    finally:
        await ends_reader.stop()
        await admin.close()


async def phase(
    stages: bare.Stages,
    target: Target,
    scale: Scale,
    name: str,
    mix: dict[str, float],
    *,
    offered: float | None,
    seed: int,
) -> PhaseResult:
    """Open throttle when `offered` is None, else a fixed rate; ends when all is consumed."""
    async with bare.BareDriver(target.kafka_bootstrap, stages.sizes, mix, seed) as driver:
        for _ in range(scale.warmup_cases):
            driver.send_case()
        await driver.wait_done(scale.drain_timeout)
        await caught_up(target.kafka_bootstrap, stages.mode, scale.drain_timeout)
        driver.cases.clear()
        processes, trees = infrastructure(target.kafka_ports, target.pg_port)
        pids = stages.pids()
        meter = Meter({**pids, **processes}, trees)
        meter.start()
        started = time.monotonic()
        slip = 0.0
        if offered is None:
            outstanding: list[str] = []
            end = started + scale.bare_seconds
            while time.monotonic() < end:
                outstanding = [c for c in outstanding if driver.cases[c].final_at is None]
                for _ in range(scale.open_window - len(outstanding)):
                    outstanding.append(driver.send_case())
                await asyncio.sleep(0.01)
        else:
            for number in range(int(scale.rate_seconds * offered)):
                delay = started + number / offered - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    slip = max(slip, -delay)
                driver.send_case()
        sending = time.monotonic() - started
        await driver.wait_done(scale.drain_timeout)
        await caught_up(target.kafka_bootstrap, stages.mode, scale.drain_timeout)
        elapsed = time.monotonic() - started
        usage = await meter.stop()
    cases = list(driver.cases.values())
    finished = [case for case in cases if case.final_at is not None]
    outcomes = Counter(case.kind for case in cases)
    return PhaseResult(
        name=name,
        setup=f"bare chain ({stages.mode})",
        plans=0,
        instances={},
        mode="open" if offered is None else "rate",
        offered_rate=offered,
        sending_seconds=sending,
        cases=len(cases),
        finished=len(finished),
        unfinished=len(cases) - len(finished),
        invalid_sent=0,
        outcomes=dict(outcomes),
        elapsed=elapsed,
        throughput=rate(len(finished), elapsed),
        final_rate_middle=middle_rate([c.final_at for c in finished if c.final_at]),
        decision=summarise(c.decided_at - c.sent_at for c in cases if c.decided_at is not None),
        final=summarise(c.final_at - c.sent_at for c in finished if c.final_at),
        final_replacements=summarise(
            c.final_at - c.sent_at for c in finished if c.final_at and c.kind == bare.ASSESSMENT
        ),
        schedule_slip=slip,
        lag_after_sending=0,
        usage=usage,
        services=services_measured(usage),
    )
