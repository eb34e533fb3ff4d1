"""What an operator follows a case by: one trace across the services, and JSON logs with ids."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from careplan.registry import SERVICES
from contracts import topics as t
from contracts.claims import ClaimOutcome
from contracts.coverage import DeductionApplied, PlanInherited
from contracts.fulfilment import ShipmentRequested
from simulation import factories as f
from simulation.kafka_io import EventLog, Upstream
from simulation.processes import Platform
from tests.e2e.journeys import activate_plan, claim, eventually

pytestmark = pytest.mark.e2e


def spans_of(platform: Platform) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted(platform.log_dir.glob("*.spans.jsonl"))
        for line in path.read_text().splitlines()
    ]


async def test_one_case_is_one_trace_from_the_assessment_to_the_inheritance(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-1y", "mavic-3-pro")
    decided = await claim(upstream, events, device)
    assert decided.payload.outcome is ClaimOutcome.REPLACEMENT
    case_id = decided.payload.case_id
    # Payments and the warehouse answer in the trace of what they answer, as traced systems do.
    (applied,) = await events.wait_for(DeductionApplied, lambda e: e.payload.case_id == case_id)
    await upstream.send(
        t.PAYMENT_SETTLEMENTS,
        case_id,
        f.payment(case_id, applied.payload.fee),
        {"traceparent": events.headers[applied.event_id]["traceparent"]},
    )
    (shipment,) = await events.wait_for(ShipmentRequested, lambda e: e.payload.case_id == case_id)
    await upstream.send(
        t.WAREHOUSE_DISPATCHES,
        str(shipment.payload.shipment_id),
        f.dispatch(shipment.payload.shipment_id, f.new_serial(), case_id),
        {"traceparent": events.headers[shipment.event_id]["traceparent"]},
    )
    (inherited,) = await events.wait_for(PlanInherited, lambda e: e.payload.case_id == case_id)

    # Every published event of the case says which trace it belongs to, and its
    # `correlation_id` header is the envelope's.
    for event in (decided, applied, shipment, inherited):
        headers = events.headers[event.event_id]
        assert headers["correlation_id"] == event.correlation_id
    trace_id = events.headers[decided.event_id]["traceparent"].split("-")[1]
    assert events.headers[inherited.event_id]["traceparent"].split("-")[1] == trace_id

    expected = {
        ("claims", "repair.assessment-reported"),
        ("coverage", "claims.claim-decided"),
        ("fulfilment", "coverage.deduction-applied"),
        ("fulfilment", "payments.payment-settled"),
        ("fulfilment", "warehouse.dispatch-confirmed"),
        ("coverage", "fulfilment.device-replaced"),
        ("claims", "coverage.plan-inherited"),
    }
    handled: set[tuple[str, str]] = set()

    async def the_trace_is_whole() -> bool:
        # Spans leave each process in batches: poll the files until the last hop is in.
        handled.clear()
        for span in spans_of(platform):
            if span["context"]["trace_id"] == f"0x{trace_id}":
                attributes = span["attributes"]
                handled.add((attributes["careplan.service"], attributes["careplan.event_type"]))
        return expected <= handled

    await eventually(the_trace_is_whole, f"the spans of trace {trace_id}")
    root = [
        span
        for span in spans_of(platform)
        if span["context"]["trace_id"] == f"0x{trace_id}" and span["parent_id"] is None
    ]
    assert [span["name"] for span in root] == ["claims handle repair.assessment-reported"]
    (assessed,) = root
    assert assessed["attributes"]["careplan.case_id"] == case_id
    (link,) = assessed["links"]  # to its batch's span, which names the case among its own
    (batch,) = [
        span
        for span in spans_of(platform)
        if span["context"]["span_id"] == link["context"]["span_id"]
    ]
    assert batch["name"] == "claims batch"
    assert case_id in batch["attributes"]["careplan.case_ids"]
    assert "repair.assessment-reported" in batch["attributes"]["careplan.event_types"]
    deducted = [
        span
        for span in spans_of(platform)
        if span["context"]["trace_id"] == f"0x{trace_id}"
        and span["name"] == "fulfilment handle coverage.deduction-applied"
    ]
    assert [span["attributes"]["careplan.plan_id"] for span in deducted] == [device.plan_id]
    assert deducted[0]["attributes"]["careplan.case_id"] == case_id


def log_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_every_log_line_is_json_with_its_service_and_milestones_carry_their_ids(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-1y", "air-3")
    decided = await claim(upstream, events, device)
    case_id = decided.payload.case_id
    (applied,) = await events.wait_for(DeductionApplied, lambda e: e.payload.case_id == case_id)
    await upstream.send(t.PAYMENT_SETTLEMENTS, case_id, f.payment(case_id, applied.payload.fee))
    (shipment,) = await events.wait_for(ShipmentRequested, lambda e: e.payload.case_id == case_id)
    milestones = {
        ("claims", "claim_decided", decided.event_id),
        ("coverage", "deduction_applied", applied.event_id),
        ("fulfilment", "shipment_requested", shipment.event_id),
    }

    def lines_of(service: str) -> list[dict[str, Any]]:
        return log_lines(platform.process(service).log_path)

    async def milestones_logged() -> bool:
        logged = {
            (service, line["event"], line.get("event_id"))
            for service in ("claims", "coverage", "fulfilment")
            for line in lines_of(service)
        }
        return {(s, e, str(i)) for s, e, i in milestones} <= logged

    await eventually(milestones_logged, "a line for the decision, the deduction, the shipment")
    for service in SERVICES:
        lines = lines_of(service)  # json.loads fails the test on any line that is not JSON
        assert lines, service
        assert all(line["service"] == service for line in lines), service
        assert all({"event", "level", "timestamp", "logger"} <= line.keys() for line in lines)
        assert not any("\x1b[" in line["event"] for line in lines)  # no colour codes
        assert any(line["logger"].startswith("aiokafka") for line in lines)  # routed too
    for service, name, event_id in milestones:
        (line,) = [
            line
            for line in lines_of(service)
            if line["event"] == name and line.get("event_id") == str(event_id)
        ]
        assert line["level"] == "info"
        assert line["correlation_id"] == case_id
        assert line["case_id"] == case_id
        assert line["plan_id"] == device.plan_id
