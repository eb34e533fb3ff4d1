"""The services' Prometheus endpoints, on by default, scraped while a case flows."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx
import pytest

from careplan.registry import SERVICES
from contracts import topics as t
from simulation.kafka_io import EventLog, Upstream
from simulation.processes import Platform
from tests.e2e.journeys import activate_plan, claim, eventually, query, scrape, total

pytestmark = pytest.mark.e2e


async def test_every_service_reports_its_events_outbox_decisions_lag_and_dead_letters(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-1y", "mavic-3-pro")
    decided = await claim(upstream, events, device, unit_sn="MISMATCH000001")
    assert decided.payload.reason_codes == ["SN_MISMATCH"]
    await upstream.send_raw(t.REPAIR_ASSESSMENTS.name, "METRICS-DLQ", b"not json")
    async with httpx.AsyncClient() as http:
        await http.get(f"{platform.lookup_url}/plans/by-sn/{device.sn}", timeout=5.0)
        await http.get(f"{platform.dashboard_url}/login", timeout=5.0)

    async def counted() -> bool:
        claims = await scrape(platform, "claims")
        return (
            total(claims, "careplan_decisions_total", outcome="refused", reason="SN_MISMATCH") >= 1
            and total(claims, "careplan_dead_letters_total", topic=t.REPAIR_ASSESSMENTS.name) >= 1
        )

    await eventually(counted, "claims to count the decision and the dead letter")
    for service in SERVICES:
        samples = await scrape(platform, service)
        assert "careplan_outbox_backlog" in samples, service
        assert "careplan_outbox_oldest_unsent_seconds" in samples, service
    claims = await scrape(platform, "claims")
    assert total(claims, "careplan_events_handled_total", outcome="applied") > 0
    assert total(claims, "careplan_outbox_published_total") > 0
    lookup = await scrape(platform, "lookup")
    assert total(lookup, "careplan_http_requests_total", route="/plans/by-sn/{sn}") >= 1

    async def lag_measured() -> bool:
        operations = await scrape(platform, "operations")
        groups = {labels["group"] for labels, _ in operations.get("careplan_consumer_lag", [])}
        return {f"careplan-{service}.inbound" for service in ("claims", "coverage")} <= groups

    await eventually(lag_measured, "the operations service to measure every group's lag")
    operations = await scrape(platform, "operations")
    assert (
        total(operations, "careplan_dead_letter_records", topic=t.REPAIR_ASSESSMENTS.dead_letter)
        >= 1
    )


def careplan(platform: Platform, *args: str) -> str:
    env = os.environ | {
        "KAFKA_BOOTSTRAP_SERVERS": platform.kafka_bootstrap,
        "DATABASE_URL": platform.database_url,
        "CAREPLAN_DATABASE_NAME": platform.database("operations"),
        "CAREPLAN_METRICS_PORT_BASE": str(platform.metrics_port_base),
    }
    done = subprocess.run(
        [str(Path(sys.executable).parent / "careplan"), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def test_status_and_a_replay_from_the_terminal(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    sent = await upstream.send_raw(t.CLAIM_REVIEWS.name, "STATUS-DLQ", b"{}")

    async def dead_lettered() -> list[asyncpg.Record]:
        return await query(
            platform,
            "operations",
            'SELECT topic, partition, "offset" FROM dead_letters '
            "WHERE original_topic = $1 AND original_partition = $2 AND original_offset = $3",
            t.CLAIM_REVIEWS.name,
            sent.partition,
            sent.offset,
        )

    async def seen() -> bool:
        return bool(await dead_lettered())

    await eventually(seen, "the operations service to read the dead letter")
    status = await asyncio.to_thread(careplan, platform, "status")
    assert "careplan-claims.inbound" in status
    assert f"{t.CLAIM_REVIEWS.dead_letter}" in status
    assert "claims       0 waiting" in status

    (letter,) = await dead_lettered()
    reference = f"{letter['topic']}/{letter['partition']}/{letter['offset']}"
    replayed = await asyncio.to_thread(
        careplan, platform, "replay-dead-letter", reference, "--operator", "night-shift"
    )
    assert f"replayed by night-shift onto {t.CLAIM_REVIEWS.name}/{sent.partition}/" in replayed
    again = await asyncio.to_thread(
        careplan, platform, "replay-dead-letter", reference, "--operator", "night-shift"
    )
    assert "was replayed before" in again
