"""The demo's agricultural cases: AG plans bound, renewed and claimed on through the platform.

Each journey is what an AG customer and the systems around the platform do, sent only through
Kafka: the storefront sells the plan (or gifts it with a new drone, P6), the drone reports its
first activation, the customer binds the code; a renewal is bought in the first year's last days
(A4); a spray system is activated on a T100 (G1); the repair centre quotes a repair line by line
(C7) and the liability desk reports an incident (L1-L4). The platform's answers are followed up
to each case's final outcome (`ClaimFinalised`), whose split the summary prints, and each
insurer's bordereau of the month (C8), read from the lookup and tied out to coverage's ledger.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import TypeVar

import asyncpg
import httpx

from contracts import topics as t
from contracts.accessories import AccessoryType
from contracts.activation import (
    AccessoryAssociated,
    AccessoryAssociationRefused,
    ActivationRefused,
    PlanActivated,
    PlanRenewed,
)
from contracts.claims import ClaimFinalised, ClaimOutcome, LiabilityIncidentRefused
from contracts.coverage import CoverageExtended, CoverageOpened
from contracts.envelope import Envelope
from contracts.fulfilment import ConsumablesPackScheduled
from contracts.insurer import LiabilityClaimReported
from contracts.liability import LiabilityKind
from contracts.upstream import RepairLine
from services.lookup.domain_bordereau import Bordereau, month_bounds
from shared.catalogue.agricultural import agricultural_catalogue
from simulation import factories as f
from simulation.agricultural import RENEWABLE_AGO
from simulation.kafka_io import EventLog, Integrators
from simulation.offsets import Offsets
from simulation.processes import Platform

E = TypeVar("E", bound=Envelope)
STEP_TIMEOUT = 20.0


@dataclass(frozen=True)
class AgSpec:
    """One AG drone's journey and what the rules should make of its repair."""

    label: str
    model: str
    lines: tuple[RepairLine, ...]
    renewed: bool = False  # year 1 bound in its last days, year 2 bought now (A4)
    bundle: bool = False  # gifted with a new drone: liability cover (P6)
    accessory: AccessoryType | None = None  # activated on the drone, the repair is on it (G4)
    expect_deductible: bool = False  # C7: a second year's rate for this model
    expect_shortfall: bool = False  # C7: more than the base quota left
    expect_pack: bool = False  # F4: a designated renewal ships the model's pack
    liability: LiabilityKind | None = None  # L1-L4: an incident routed to the insurer


def ag_roster() -> list[AgSpec]:
    line = f.repair_line
    return [
        AgSpec(
            "AG1",
            "T50",
            (line("arm", "2400.00", "300.00"), line("nozzle", "180.00"), line("blade", "90.00")),
        ),
        AgSpec(
            "AG2",
            "T40",
            (
                line("arm", "3600.00", "600.00"),
                line("motor", "1500.00", "300.00"),
                line("blade", "260.00", "40.00"),
                line("propeller_clamp", "120.00", "30.00"),
            ),
            renewed=True,
            expect_deductible=True,
            expect_pack=True,
        ),
        AgSpec(
            "AG3",
            "T10",
            (line("frame", "8200.00", "900.00"), line("radar", "1400.00"), line("filter", "50.00")),
            expect_shortfall=True,
        ),
        AgSpec(
            "AG4",
            "T100",
            (line("spray_tank", "400.00", "80.00"), line("spray_hose", "60.00")),
            accessory=AccessoryType.SPRAY,
        ),
        AgSpec(
            "AG5",
            "T40",
            (line("motor", "900.00", "100.00"), line("blade", "80.00")),
            bundle=True,
            liability=LiabilityKind.THIRD_PARTY_PROPERTY,
        ),
    ]


@dataclass
class AgJourney:
    spec: AgSpec
    sn: str = field(default_factory=f.new_serial)
    plan: str = "no answer"
    case: ClaimFinalised | None = None
    pack: ConsumablesPackScheduled | None = None
    liability: str | None = None
    problems: list[str] = field(default_factory=list)


async def _one(events: EventLog, kind: type[E], where: Callable[[E], bool]) -> E:
    return (await events.wait_for(kind, where, timeout=STEP_TIMEOUT))[0]


async def _answer(events: EventLog, code: str) -> Envelope:
    return await _one(
        events,
        Envelope,
        lambda e: (
            isinstance(e, PlanActivated | PlanRenewed | ActivationRefused)
            and e.payload.plan_code == code
        ),
    )


async def _sold(upstream: Integrators, offsets: Offsets, code: str, order: Envelope) -> None:
    """The storefront sells a code; the customer binds it once activation has read the sale."""
    record = await upstream.send(t.PLAN_ORDERS, code, order)
    await offsets.wait_consumed(
        "activation", t.PLAN_ORDERS, record.partition, record.offset, timeout=STEP_TIMEOUT
    )


async def ag_journey(
    upstream: Integrators, events: EventLog, offsets: Offsets, journey: AgJourney
) -> None:
    spec, sn = journey.spec, journey.sn
    bound_at = f.now() - (RENEWABLE_AGO if spec.renewed else timedelta(days=30))
    code = f.new_ag_plan_code()
    switched_on = await upstream.send(
        t.DEVICE_ACTIVATIONS, sn, f.device_activation(sn, spec.model, f.now() - timedelta(days=1))
    )
    await offsets.wait_consumed(
        "activation",
        t.DEVICE_ACTIVATIONS,
        switched_on.partition,
        switched_on.offset,
        timeout=STEP_TIMEOUT,
    )
    order = f.ag_plan_order(
        code, "ag-care-year-1", spec.model, at=bound_at, new_drone_bundle=spec.bundle
    )
    await _sold(upstream, offsets, code, order)
    await upstream.send(t.ACTIVATION_REQUESTS, sn, f.activation_request(code, sn, at=bound_at))
    activated = await _answer(events, code)
    if not isinstance(activated, PlanActivated):
        journey.problems.append(f"first year not activated: {type(activated).__name__}")
        return
    opened = await _one(events, CoverageOpened, lambda e: e.payload.sn == sn)
    journey.plan = "first year" + (" (gifted, liability cover)" if spec.bundle else "")
    term = opened.payload.agricultural
    if term is not None:
        journey.plan += f", quotas {term.base_quota} base, {term.consumables_quota} consumables"
    if spec.renewed:
        await _renew(upstream, events, offsets, journey)
    accessory_sn = None
    if spec.accessory is not None:
        accessory_sn = f.new_serial()
        activation = f.accessory_activation(accessory_sn, spec.accessory, sn)
        await upstream.send(t.ACCESSORY_ACTIVATIONS, sn, activation)
        associated = await _one(
            events,
            Envelope,
            lambda e: (
                isinstance(e, AccessoryAssociated | AccessoryAssociationRefused)
                and e.causation_id == activation.event_id
            ),
        )
        journey.plan += f"; {spec.accessory} system {type(associated).__name__}"
    await offsets.wait_caught_up("claims", t.ACTIVATION_EVENTS, timeout=STEP_TIMEOUT)
    await offsets.wait_caught_up("claims", t.COVERAGE_EVENTS, timeout=STEP_TIMEOUT)
    report = f.ag_assessment(
        sn, spec.model, list(spec.lines), incident_at=f.now(), accessory_sn=accessory_sn
    )
    await upstream.send(t.REPAIR_ASSESSMENTS, sn, report)
    case_id = report.payload.case_id
    journey.case = await _one(events, ClaimFinalised, lambda e: e.payload.case_id == case_id)
    if spec.liability is not None:
        await _liability(upstream, events, journey, spec.liability)
    journey.problems.extend(ag_problems(journey))


async def _renew(
    upstream: Integrators, events: EventLog, offsets: Offsets, journey: AgJourney
) -> None:
    """A4: the second year bought inside the first year's last 15 days starts at purchase."""
    spec, sn, code = journey.spec, journey.sn, f.new_ag_plan_code()
    order = f.ag_plan_order(code, "ag-care-renewal-2", spec.model, address=f.delivery_address())
    await _sold(upstream, offsets, code, order)
    await upstream.send(t.ACTIVATION_REQUESTS, sn, f.activation_request(code, sn))
    renewed = await _answer(events, code)
    if not isinstance(renewed, PlanRenewed):
        journey.problems.append(f"renewal not bound: {type(renewed).__name__}")
        return
    extended = await _one(events, CoverageExtended, lambda e: e.payload.sn == sn)
    journey.plan = (
        f"renewed: term {extended.payload.term_no} from {extended.payload.term_start:%Y-%m-%d}"
    )
    if spec.expect_pack:
        journey.pack = await _one(
            events, ConsumablesPackScheduled, lambda e: e.payload.plan_code == code
        )


async def _liability(
    upstream: Integrators, events: EventLog, journey: AgJourney, kind: LiabilityKind
) -> None:
    """L4: the platform routes the incident to the model's insurer with its limits."""
    incident = f.liability_incident(journey.sn, kind, "5000.00")
    await upstream.send(t.LIABILITY_INCIDENTS, journey.sn, incident)
    number = incident.payload.incident_id
    answer = await _one(
        events,
        Envelope,
        lambda e: (
            isinstance(e, LiabilityClaimReported | LiabilityIncidentRefused)
            and e.payload.incident_id == number
        ),
    )
    if isinstance(answer, LiabilityClaimReported):
        routed = answer.payload
        journey.liability = (
            f"liability {kind}: routed to {routed.insurer}, limit {routed.limit},"
            f" deductible {routed.deductible}, indicative {routed.indicative_payable}"
        )
    else:
        journey.problems.append(f"liability incident refused: {answer.payload}")


def ag_problems(journey: AgJourney) -> list[str]:
    """What the rules should have made of the journey and did not."""
    spec, case = journey.spec, journey.case
    if case is None:
        return ["no final outcome"]
    fate = case.payload
    if fate.outcome is not ClaimOutcome.REPAIR or fate.refused_by is not None:
        return [f"expected a covered repair, got {fate.outcome} {fate.reason_codes}"]
    split = fate.repair_split
    if split is None:
        return ["a repair without its split"]
    problems = []
    if spec.expect_deductible != (split.deductible.amount > 0):
        problems.append(f"deductible {split.deductible} (rate {split.deductible_rate})")
    if spec.expect_shortfall != (split.shortfall.amount > 0):
        problems.append(f"shortfall {split.shortfall}")
    if split.from_consumables_quota.amount == 0 and spec.accessory is None:
        problems.append("nothing from the consumables quota")
    if spec.expect_pack and journey.pack is None:
        problems.append("no consumables pack scheduled (F4)")
    return problems


def ag_lines(journeys: list[AgJourney]) -> list[str]:
    lines = ["", "Agricultural cases (drone, model: plan; the split of the repair, C7)"]
    for journey in journeys:
        spec = journey.spec
        lines.append(f"  {spec.label} {spec.model:<5} {journey.plan}")
        if journey.pack is not None:
            pack = journey.pack.payload
            lines.append(f"      consumables pack scheduled: {', '.join(pack.items)}")
            beyond = (
                f", counted on weekdays alone after the calendar's end {pack.weekdays_only_after}"
                if pack.weekdays_only_after
                else ""
            )
            lines.append(f"      due by {pack.due_by:%Y-%m-%d %H:%M} UTC{beyond} (F4)")
        if journey.case is not None:
            fate = journey.case.payload
            split = fate.repair_split
            if split is None:
                lines.append(f"      {fate.outcome.value.upper()} {', '.join(fate.reason_codes)}")
            else:
                lines.append(
                    f"      {fate.outcome.value.upper()} cost {split.repair_cost}:"
                    f" base quota {split.from_base_quota},"
                    f" consumables {split.from_consumables_quota},"
                    f" deductible {split.deductible} ({split.deductible_rate:%}),"
                    f" shortfall {split.shortfall}, not covered {split.not_covered};"
                    f" customer pays {split.customer_share}"
                )
        if journey.liability:
            lines.append(f"      {journey.liability}")
        lines.extend(f"      <-- {problem}" for problem in journey.problems)
    return lines


async def _ledger_rows(platform: Platform, insurer: str, month: str) -> list[asyncpg.Record]:
    """Coverage's own rows: what the insurer's base quotas paid in the month (M2)."""
    start, end = month_bounds(month)
    conn = await asyncpg.connect(platform.dsn("coverage"))
    try:
        return await conn.fetch(
            "SELECT q.case_id, q.from_base_quota, q.deductible FROM quota_deductions q"
            " JOIN plan_terms t ON t.plan_id = q.plan_id AND t.term_no = q.term_no"
            " WHERE t.insurer = $1 AND q.from_base_quota > 0"
            " AND q.applied_at >= $2 AND q.applied_at < $3",
            insurer,
            start,
            end,
        )
    finally:
        await conn.close()


async def bordereau_lines(platform: Platform) -> tuple[list[str], list[str]]:
    """C8: each insurer's bordereau of this month from the lookup, once it lists every row of
    coverage's ledger for the insurer's terms; its totals must be the ledger's to the cent."""
    catalogue = agricultural_catalogue()
    month = f.now().astimezone(catalogue.zone).strftime("%Y-%m")
    lines = [
        "",
        f"Insurers' bordereaux of {month} (Asia/Shanghai months, M2;"
        f" careplan bordereau --insurer X --month {month})",
    ]
    problems: list[str] = []
    async with httpx.AsyncClient(base_url=platform.lookup_url, timeout=10.0) as client:
        for insurer in sorted(catalogue.insurers):
            deadline = asyncio.get_running_loop().time() + STEP_TIMEOUT
            while True:
                response = await client.get(f"/insurers/{insurer}/bordereaux/{month}")
                report = Bordereau.model_validate_json(response.content)
                ledger = await _ledger_rows(platform, insurer, month)
                listed = {line.case_id for line in report.repairs}
                if listed == {row["case_id"] for row in ledger}:
                    break
                if asyncio.get_running_loop().time() > deadline:
                    problems.append(f"{insurer}'s bordereau lists {listed}, the ledger {ledger}")
                    break
                await asyncio.sleep(0.5)
            totals = report.totals
            ledger_base = sum((row["from_base_quota"] for row in ledger), Decimal("0"))
            ledger_deductibles = sum((row["deductible"] for row in ledger), Decimal("0"))
            ties = (totals.base_quota_paid.amount, totals.deductibles.amount) == (
                ledger_base,
                ledger_deductibles,
            )
            if not ties:
                problems.append(f"{insurer}'s bordereau does not tie out to the ledger")
            lines.append(
                f"  {insurer:<8} {totals.repairs} repairs: base quota {totals.base_quota_paid},"
                f" deductibles {totals.deductibles}, claimed {totals.base_quota_claimed};"
                f" {totals.liability_claims} liability claims routed"
                f" (indicative {totals.liability_indicative_payable});"
                + (" ties out to" if ties else " DIFFERS from")
                + f" the ledger's {len(ledger)} rows"
            )
    return lines, problems
