"""Nothing lost, nothing applied twice: thousands of cases through the four services while they
are killed, the broker and the database restart and inputs arrive twice or malformed."""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Coroutine
from typing import Any

import pytest

from contracts import topics as t
from contracts.agricultural import PlanFamily
from shared.settings import ServiceSettings
from simulation.chaos import Chaos, ChaosReport
from simulation.checker import check, check_outbox_sequences
from simulation.cluster_chaos import ClusterChaos, ClusterReport
from simulation.load import Driver
from simulation.offsets import Offsets
from simulation.processes import Platform
from simulation.reorder import run_phase
from tests.faults.conftest import WAITING_GRACE_SECONDS

pytestmark = [pytest.mark.faults, pytest.mark.timeout(2700)]

CASES = int(os.environ.get("CAREPLAN_FAULT_CASES", "2000"))
AG_CASES = int(os.environ.get("CAREPLAN_FAULT_AG_CASES", str(CASES // 4)))
# On the three-node cluster the faults are the cluster's (simulation.cluster_chaos) and the
# services are not killed, so that what the producer settings promise can be checked alone.
CLUSTER = ServiceSettings().kafka_brokers > 1
KILLS_PER_PROCESS = int(os.environ.get("CAREPLAN_FAULT_KILLS", "0" if CLUSTER else "3"))
# Journeys per start order of the out-of-order phase, each played twice (simulation.reorder).
REORDER_JOURNEYS = int(os.environ.get("CAREPLAN_FAULT_REORDER_JOURNEYS", "50"))
CHUNK_SPACING_SECONDS = 3.0
INVALID = [
    (t.REPAIR_ASSESSMENTS, b"not json at all"),
    (t.REPAIR_ASSESSMENTS, b'{"event_type": "repair.assessment-reported"}'),
    (t.PAYMENT_SETTLEMENTS, b'{"payload": {"amount": 1e308}}'),
    (t.WAREHOUSE_DISPATCHES, b"\x00\x01\x02\xff"),
    (t.ACTIVATION_REQUESTS, b"[" * 5000 + b"]" * 5000),
    (t.PLAN_ORDERS, b'{"event_type": "commerce.plan-order-placed", "schema_version": 9}'),
    (t.DEVICE_ACTIVATIONS, b"'; DROP TABLE devices; --"),
]


async def _while_the_chaos_runs(
    work: list[Coroutine[Any, Any, None]], chaos: asyncio.Task[Any], size: int = 50
) -> None:
    """Send `work` a chunk every few seconds until the chaos is over, then the rest at once.

    The services decide a case in milliseconds: sent all at once, the stream would be over
    before most of the kills and restarts, which must land while cases are in flight.
    """
    for start in range(0, len(work), size):
        await asyncio.gather(*work[start : start + size])
        if not chaos.done():
            await asyncio.wait({chaos}, timeout=CHUNK_SPACING_SECONDS)


async def test_nothing_lost_nothing_applied_twice(
    fault_platform: Platform, owns_infrastructure: bool
) -> None:
    platform = fault_platform
    rng = random.Random(20261123)
    run_id = f"FS{uuid.uuid4().hex[:6].upper()}"
    bootstrap = platform.kafka_bootstrap
    started = time.monotonic()

    def phase(what: str) -> None:
        print(f"[fault suite] {time.monotonic() - started:6.1f}s {what}", flush=True)

    async with Driver(bootstrap, run_id) as driver, Offsets(bootstrap) as offsets:
        chaos_run: asyncio.Task[ChaosReport | ClusterReport]
        if CLUSTER and owns_infrastructure:
            chaos_run = asyncio.create_task(ClusterChaos(bootstrap, rng).run())
        else:
            chaos = Chaos(platform, rng, restart_infrastructure=owns_infrastructure)
            chaos_run = asyncio.create_task(chaos.run(KILLS_PER_PROCESS))
        consumer, agricultural = driver.devices(CASES), driver.ag_devices(AG_CASES)
        devices = consumer + agricultural

        phase(f"{CASES} consumer and {AG_CASES} AG devices: selling plans, registering devices")
        await driver.sell_and_register(devices)
        for topic in (t.PLAN_ORDERS, t.DEVICE_ACTIVATIONS):
            await offsets.wait_caught_up("activation", topic, timeout=900)
        phase("binding plan codes")
        await driver.bind(devices)
        await driver.wait_until(
            lambda: all(device.sn in driver.opened for device in devices),
            "every plan to open",
            timeout=1200,
        )
        phase("AG renewals bought in the first year's last days, accessories activated")
        await driver.send_all([m for d in agricultural for m in driver.renewal_order(d)])
        await offsets.wait_caught_up("activation", t.PLAN_ORDERS, timeout=900)
        await driver.send_all(
            [m for d in agricultural for m in driver.renewal_binding(d) + driver.association(d)]
        )
        renewing = [d for d in agricultural if d.renewal_code]
        await driver.wait_until(
            lambda: all(d.sn in driver.extended for d in renewing), "every renewal", timeout=900
        )
        await offsets.wait_caught_up("activation", t.ACCESSORY_ACTIVATIONS, timeout=900)
        await offsets.wait_caught_up("claims", t.ACTIVATION_EVENTS, timeout=900)
        await offsets.wait_caught_up("claims", t.COVERAGE_EVENTS, timeout=900)

        phase("reporting assessments, duplicates and invalid messages while the chaos runs")
        reports = [(device, driver.assessment(device)) for device in devices]
        rng.shuffle(reports)
        again = rng.sample(reports, k=max(1, CASES // 20))
        retried = rng.sample(reports, k=max(1, CASES // 20))
        work = [
            *(driver.report(device, report) for device, report in reports),
            *(driver.redeliver(report, new_id=False) for _, report in again),
            *(driver.redeliver(report, new_id=True) for _, report in retried),
            *(driver.inject_invalid(topic, value) for topic, value in INVALID),
            *(driver.report_incident(driver.incident(d)) for d in agricultural if d.bundle),
        ]
        # The cluster's faults take minutes (each node restarts and catches up): small chunks
        # keep cases flowing through every one of them, the rest going at once when they end.
        await _while_the_chaos_runs(work, chaos_run, max(1, len(work) // 200) if CLUSTER else 50)

        phase("waiting for every case to end")
        await driver.wait_until(
            lambda: not driver.pending() and not driver.unanswered_incidents(),
            "every case and liability incident to end",
            timeout=1800,
        )
        phase("waiting for the chaos to finish and every consumer to catch up")
        report = await chaos_run
        for service, topic_name in offsets.groups:
            await offsets.wait_caught_up(service, t.BY_NAME[topic_name], timeout=900)
        sent = Counter(track.family for track in driver.cases.values())
        owned = Counter(device.family for device in driver.sent.devices)
        incidents = len(driver.sent.incidents)
        phase(f"out-of-order phase: {REORDER_JOURNEYS} journeys (and their twins) per start order")
        reordered = await run_phase(
            platform, driver, offsets, REORDER_JOURNEYS, timeout=WAITING_GRACE_SECONDS + 300
        )
        await driver.wait_until(
            lambda: not driver.pending() and not driver.unanswered_incidents(),
            "every case and liability incident to end",
            timeout=600,
        )
        for service, topic_name in offsets.groups:
            await offsets.wait_caught_up(service, t.BY_NAME[topic_name], timeout=900)
        phase("checking the books")
        verdict = await check(platform, driver)
        sequences = await check_outbox_sequences(platform)
        phase("done")

    lines = [
        *(
            f"{family} cases sent: {sent[family]} (devices {owned[family]}),"
            f" duplicates: {driver.sent.redelivered[family]} redelivered with the same event id,"
            f" {driver.sent.retried_with_new_id[family]} re-sent with a new id"
            for family in PlanFamily
        ),
        f"liability incidents sent: {incidents}",
        *report.lines(),
        f"invalid messages injected: {len(driver.sent.invalid)}",
        f"payments made: {driver.sent.payments}, dispatches confirmed: {driver.sent.dispatches}",
        *reordered.lines(),
        *verdict.lines(),
        *sequences.lines(),
    ]
    print("\n== fault suite ==\n" + "\n".join(lines))
    assert verdict.violations == []
    assert reordered.waiting_past_deadline == 0
    assert report.faults > 0
    assert sequences.gaps == []
    # The idempotent producer (acks=all) writes each outbox event once, through broker losses; a
    # SIGKILLed relay may send its unmarked batch again, which the consumers' event ids absorb.
    if not report.kills:
        assert sequences.duplicates == []
    # 12: no answer depends on the order the services read their topics in.
    assert reordered.differences == [], "these answers depend on arrival order"
    assert reordered.wrongly_refused == []
