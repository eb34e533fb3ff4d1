"""The services' Prometheus endpoints, on by default, scraped while a case flows."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from contracts import topics as t
from shared.metrics import metrics_port
from simulation.kafka_io import EventLog, Upstream
from simulation.processes import SERVICES, Platform
from tests.e2e.journeys import activate_plan, claim, eventually

pytestmark = pytest.mark.e2e

Samples = dict[str, list[tuple[dict[str, str], float]]]


async def scrape(platform: Platform, service: str) -> Samples:
    port = metrics_port(service, base=platform.metrics_port_base, explicit=None)
    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://127.0.0.1:{port}/metrics", timeout=5.0)
    response.raise_for_status()
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(
        value
        for found, value in samples.get(name, [])
        if all(found.get(key) == wanted for key, wanted in labels.items())
    )


async def test_every_service_reports_its_events_outbox_decisions_lag_and_dead_letters(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-1y", "mavic-3-pro")
    decided = await claim(upstream, events, device, unit_sn="MISMATCH000001")
    assert decided.payload.reason_codes == ["SN_MISMATCH"]
    await upstream.send_raw(t.REPAIR_ASSESSMENTS.name, "METRICS-DLQ", b"not json")
    async with httpx.AsyncClient() as http:
        await http.get(f"{platform.lookup_url}/plans/by-sn/{device.sn}", timeout=5.0)

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
