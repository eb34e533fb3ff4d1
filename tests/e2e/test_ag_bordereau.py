"""An insurer's bordereau end to end (C7, C8, L1-L4, M2): a realistic month of AG repairs,
answers, a withdrawal and liability incidents through the running platform, then the report from
the lookup over HTTP and from `careplan bordereau`, whose totals tie out to coverage's own ledger
rows (`quota_deductions`) of the insurer's terms deducted in the month."""

from __future__ import annotations

import asyncio
import csv
import io
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts import topics as t
from contracts.claims import ClaimReversed
from contracts.insurer import InsurerAnswer, InsurerClaimReported, LiabilityClaimReported
from contracts.liability import LiabilityKind
from contracts.money import Money
from contracts.upstream import ReviewConcluded, ReviewConcludedPayload, ReviewVerdict
from services.lookup.domain_bordereau import month_bounds
from simulation import factories as f
from simulation.kafka_io import EventLog, Upstream
from simulation.processes import Platform
from tests.e2e.ag_journeys import ag_claim, ledger_answer, open_ag_plan
from tests.e2e.journeys import eventually, query

pytestmark = pytest.mark.e2e

CAREPLAN = Path(sys.executable).parent / "careplan"
SHANGHAI_MONTH = "%Y-%m"


async def _reported(upstream: Upstream, events: EventLog, device: Any, lines: Any) -> str:
    decided = await ag_claim(upstream, events, device, lines)
    case_id = decided.payload.case_id
    await ledger_answer(events, case_id)
    return case_id


async def _ledger_rows(platform: Platform, insurer: str, month: str) -> list[Any]:
    """Coverage's own rows: what the insurer's base quotas paid in the month (M2)."""
    start, end = month_bounds(month)
    return await query(
        platform,
        "coverage",
        "SELECT q.case_id, q.from_base_quota, q.deductible FROM quota_deductions q"
        " JOIN plan_terms t ON t.plan_id = q.plan_id AND t.term_no = q.term_no"
        " WHERE t.insurer = $1 AND q.from_base_quota > 0"
        " AND q.applied_at >= $2 AND q.applied_at < $3",
        insurer,
        start,
        end,
    )


async def test_an_insurers_bordereau_ties_out_to_the_ledger_rows_of_its_month(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    month = f.now().astimezone(month_bounds("2026-01")[0].tzinfo).strftime(SHANGHAI_MONTH)
    first_year = await open_ag_plan(platform, upstream, events, "T40", liability_cover=True)
    second_year = await open_ag_plan(platform, upstream, events, "T40", plan_year=2)
    other_insurer = await open_ag_plan(platform, upstream, events, "T100")

    paid = await _reported(
        upstream,
        events,
        first_year,
        [f.repair_line("arm", "3000.00", "200.00"), f.repair_line("blade", "300.00")],
    )
    rejected = await _reported(upstream, events, second_year, [f.repair_line("arm", "2000.00")])
    withdrawn = await _reported(upstream, events, first_year, [f.repair_line("motor", "800.00")])
    consumables_only = await _reported(
        upstream, events, second_year, [f.repair_line("nozzle", "90.00")]
    )
    picc_case = await _reported(upstream, events, other_insurer, [f.repair_line("arm", "900.00")])
    await events.wait_for(
        InsurerClaimReported,
        lambda e: e.payload.case_id in {paid, rejected, withdrawn, picc_case},
        count=4,
    )

    for answer, amount in ((InsurerAnswer.ACCEPTED, None), (InsurerAnswer.PAID, "3200.00")):
        await upstream.send(
            t.INSURER_RESPONSES, paid, f.insurer_claim_answer(paid, "zhongan", answer, amount)
        )
    await upstream.send(
        t.INSURER_RESPONSES,
        rejected,
        f.insurer_claim_answer(rejected, "zhongan", InsurerAnswer.REJECTED),
    )
    # L1-L4: routed before the reviewer ends the plan (C10).
    incident = f.liability_incident(first_year.sn, LiabilityKind.THIRD_PARTY_PROPERTY, "5000.00")
    await upstream.send(t.LIABILITY_INCIDENTS, first_year.sn, incident)
    incident_id = incident.payload.incident_id
    (routed,) = await events.wait_for(
        LiabilityClaimReported, lambda e: e.payload.incident_id == incident_id
    )
    settled = f.liability_answer(incident_id, "zhongan", InsurerAnswer.PAID, settled="4800.00")
    await upstream.send(t.INSURER_RESPONSES, incident_id, settled)
    review = ReviewConcluded.new(
        ReviewConcludedPayload(
            case_id=withdrawn,
            reviewer_id="REVIEWER-7",
            verdict=ReviewVerdict.FRAUD,
            repair_cost=Money.of("800.00", "CNY"),
            concluded_at=f.now(),
        ),
        producer="review-desk",
        correlation_id=withdrawn,
    )
    await upstream.send(t.CLAIM_REVIEWS, withdrawn, review)
    await events.wait_for(ClaimReversed, lambda e: e.payload.case_id == withdrawn)

    async def fetch(insurer: str, **params: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=platform.lookup_url, timeout=10.0) as client:
            return await client.get(f"/insurers/{insurer}/bordereaux/{month}", params=params)

    report: dict[str, Any] = {}

    async def ties_out() -> bool:
        response = await fetch("zhongan")
        report.update(response.json())
        ledger = await _ledger_rows(platform, "zhongan", month)
        listed = {line["case_id"] for line in report["repairs"]}
        states = {line["case_id"]: line["claim_state"] for line in report["repairs"]}
        answered = {(a["claim_id"], a["answer"]) for a in report["answers"]}
        return (
            listed == {row["case_id"] for row in ledger}
            and states.get(paid) == "paid"
            and states.get(rejected) == "rejected"
            and states.get(withdrawn) == "withdrawn"
            and (incident_id, "paid") in answered
        )

    await eventually(ties_out, "the bordereau lists every ledger row of the month", timeout=60)
    ledger = await _ledger_rows(platform, "zhongan", month)
    totals = report["totals"]
    # The tie-out: the report's totals are coverage's rows of the month, to the cent (M1).
    assert totals["repairs"] == len(ledger)
    assert Decimal(totals["base_quota_paid"]["amount"]) == sum(
        (row["from_base_quota"] for row in ledger), Decimal("0")
    )
    assert Decimal(totals["deductibles"]["amount"]) == sum(
        (row["deductible"] for row in ledger), Decimal("0")
    )
    assert Decimal(totals["base_quota_paid"]["amount"]) == Decimal(
        totals["base_quota_claimed"]["amount"]
    ) + Decimal(totals["base_quota_not_claimed"]["amount"])

    lines = {line["case_id"]: line for line in report["repairs"]}
    assert consumables_only not in lines and picc_case not in lines  # P5; another insurer's
    assert (lines[paid]["base_quota_amount"]["amount"], lines[paid]["deductible"]["amount"]) == (
        "3200.00",
        "0.00",
    )
    # C7: 5% deductible on a second-year T40 repair.
    assert (
        lines[rejected]["base_quota_amount"]["amount"],
        lines[rejected]["deductible"]["amount"],
    ) == ("1900.00", "100.00")
    (liability,) = [c for c in report["liability_claims"] if c["incident_id"] == incident_id]
    assert liability["limit"]["amount"] == str(routed.payload.limit.amount)
    assert liability["indicative_payable"]["amount"] == "4800.00"
    assert liability["answer"] == "paid"
    assert Decimal(totals["liability_settled"]["amount"]) >= Decimal("4800.00")

    picc = (await fetch("picc")).json()
    assert picc_case in {line["case_id"] for line in picc["repairs"]}
    assert paid not in {line["case_id"] for line in picc["repairs"]}

    # The same report as CSV, from the command line an operator types.
    cli = await asyncio.create_subprocess_exec(
        str(CAREPLAN),
        "bordereau",
        "--insurer",
        "zhongan",
        "--month",
        month,
        "--csv",
        "--url",
        platform.lookup_url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await cli.communicate()
    assert cli.returncode == 0, err.decode()
    rows = list(csv.DictReader(io.StringIO(out.decode())))
    csv_totals = {row["id"]: row["value"] for row in rows if row["section"] == "total"}
    assert Decimal(csv_totals["base_quota_paid"]) >= Decimal(totals["base_quota_paid"]["amount"])
    assert {row["id"] for row in rows if row["section"] == "repair"} >= set(lines)

    # Where an operator looks a drone up: each case's claim on the insurer and its bordereau.
    async with httpx.AsyncClient(base_url=platform.lookup_url, timeout=10.0) as client:
        by_sn = (await client.get(f"/plans/by-sn/{first_year.sn}")).json()
    claimed = {c["case_id"]: c["insurer_claim"] for c in by_sn["claims"]}
    assert claimed[paid]["insurer"] == "zhongan"
    assert (claimed[paid]["state"], claimed[paid]["bordereau"]) == ("paid", month)
    assert claimed[withdrawn]["state"] == "withdrawn"
    lookup = await asyncio.create_subprocess_exec(
        str(CAREPLAN),
        "lookup",
        first_year.sn,
        "--url",
        platform.lookup_url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    text, _ = await lookup.communicate()
    assert "Claims on insurers (C8)" in text.decode() and month in text.decode()

    unknown = await fetch("nobody")
    assert unknown.status_code == 404
    bad_month = await asyncio.create_subprocess_exec(
        str(CAREPLAN),
        "bordereau",
        "--insurer",
        "zhongan",
        "--month",
        "2026-13",
        "--url",
        platform.lookup_url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await bad_month.communicate()
    assert bad_month.returncode == 1 and b"not a month" in err
