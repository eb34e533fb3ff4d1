"""The fault suite's out-of-order phase: whole journeys published while the services are down.

Each journey is made twice from one recipe, under different SNs, plan codes and case ids:

- the **reference** is delivered in order on the running platform, one step at a time, each
  step awaiting its answer (the order consumed, the plan opened, claims' view caught up...);
- its **twin** is published whole, every message that can be computed in advance (orders,
  device and accessory activations, activation requests, renewals, the assessment, a liability
  incident, the fee of a replacement the reference was approved) while every service is
  stopped, each topic's messages after those of the topics they depend on. Then the services
  start: all together, or claims last, or claims first.

A journey's outcome is what the platform answered about it: activation's answer to each plan
code, the case's final outcome (outcome, who refused it and why, fee, split) and the liability
incident's answer. Twins must end exactly as their references did.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import asyncpg

from careplan.registry import SERVICES
from contracts import topics as t
from contracts.activation import (
    AccessoryAssociationRefused,
    ActivationRefused,
    PlanActivated,
    PlanRenewed,
)
from contracts.agricultural import PlanFamily
from contracts.claims import ClaimOutcome, LiabilityIncidentRefused
from contracts.liability import LiabilityIncidentReported
from contracts.upstream import AssessmentReported
from simulation import factories as f
from simulation.load import Device, Driver, LiabilityAnswer, Message
from simulation.offsets import Offsets
from simulation.processes import Platform, ServiceProcess

MODES = ("started together", "claims started last", "claims started first")
STEP_TIMEOUT = 120.0
# The twins' topics in the order they are published: what depends on something comes first.
PUBLISH_ORDER = (
    t.PAYMENT_SETTLEMENTS,
    t.LIABILITY_INCIDENTS,
    t.REPAIR_ASSESSMENTS,
    t.ACCESSORY_ACTIVATIONS,
    t.ACTIVATION_REQUESTS,
    t.PLAN_ORDERS,
    t.DEVICE_ACTIVATIONS,
)


@dataclass
class Played:
    """One instance of a journey: its device and what its repair centre and desk report."""

    device: Device
    report: AssessmentReported
    incident: LiabilityIncidentReported | None


@dataclass
class Journey:
    number: int
    mode: str
    reference: Played
    twin: Played


@dataclass
class PhaseReport:
    journeys: Counter[PlanFamily] = field(default_factory=Counter)
    messages: Counter[str] = field(default_factory=Counter)  # twins' messages, by mode
    differences: list[str] = field(default_factory=list)
    wrongly_refused: list[str] = field(default_factory=list)
    waiting_past_deadline: int = 0
    compared: Counter[PlanFamily] = field(default_factory=Counter)
    # The differences by start order, family, answer and what each run answered, in short.
    kinds: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        sent = ", ".join(f"{family} {count}" for family, count in sorted(self.journeys.items()))
        published = ", ".join(f"{mode}: {count}" for mode, count in self.messages.items())
        lines = [
            f"out-of-order phase: journeys {sent}; messages published with the services down:"
            f" {published}",
            f"out-of-order phase: outcomes compared with the in-order reference:"
            f" {', '.join(f'{k} {v}' for k, v in sorted(self.compared.items()))}",
            f"out-of-order phase: differences {len(self.differences)},"
            f" wrongly refused {len(self.wrongly_refused)},"
            f" events left waiting past their deadline {self.waiting_past_deadline}",
        ]
        lines.extend(f"  {count:4} x {kind}" for kind, count in sorted(self.kinds.items()))
        lines.extend(f"  difference: {d}" for d in self.differences[:10])
        return lines


def _short(answer: Any) -> str:
    """An answer's kind and reasons, without its amounts."""
    if answer is None:
        return "none"
    if isinstance(answer, list):
        return "; ".join(_short(one) for one in answer) or "none"
    kind, *rest = answer
    reasons = next((r for r in rest if isinstance(r, tuple) and r and isinstance(r[0], str)), ())
    if kind in ("refused", "routed") and not reasons and rest:
        reasons = tuple(rest) if kind == "refused" else ()
    return f"{kind}{list(reasons) if reasons else ''}"


def restamped(report: AssessmentReported, device: Device, case_id: str) -> AssessmentReported:
    """The recipe's assessment for `device`, as if reported now (its times shifted alike)."""
    shift = f.now() - report.payload.assessed_at

    def moved(moment: datetime | None) -> datetime | None:
        return None if moment is None else moment + shift

    payload = report.payload
    accessory = device.accessory[0] if payload.accessory_sn and device.accessory else None
    return report.model_copy(
        update={
            "event_id": uuid.uuid4(),
            "correlation_id": case_id,
            "payload": payload.model_copy(
                update={
                    "case_id": case_id,
                    "reported_sn": device.sn,
                    "unit_sn": device.sn if payload.unit_sn else None,
                    "accessory_sn": accessory,
                    "incident_at": moved(payload.incident_at),
                    "assessed_at": moved(payload.assessed_at),
                    "account_bound_at": moved(payload.account_bound_at),
                    "remote_controller_bound_at": moved(payload.remote_controller_bound_at),
                }
            ),
        }
    )


def twin_of(driver: Driver, device: Device) -> Device:
    """The same device under another SN and other plan codes."""
    twin = replace(
        device,
        sn=f.new_serial(driver.rng),
        plan_code=(
            f.new_ag_plan_code if device.family is PlanFamily.AGRICULTURAL else f.new_plan_code
        )(driver.rng),
        renewal_code=f.new_ag_plan_code(driver.rng) if device.renewal_code else None,
        accessory=(f.new_serial(driver.rng), device.accessory[1]) if device.accessory else None,
    )
    driver.sent.devices.append(twin)
    return twin


def incident_for(
    incident: LiabilityIncidentReported | None, sn: str
) -> LiabilityIncidentReported | None:
    if incident is None:
        return None
    number = f"LIAB-{uuid.uuid4().hex[:12]}"
    return incident.model_copy(
        update={
            "event_id": uuid.uuid4(),
            "correlation_id": number,
            "payload": incident.payload.model_copy(update={"incident_id": number, "drone_sn": sn}),
        }
    )


def journeys(driver: Driver, mode: str, count: int, start: int) -> list[Journey]:
    """Half consumer, half agricultural journeys, each with its twin."""
    made = []
    devices = driver.devices(count - count // 2) + driver.ag_devices(count // 2)
    for number, device in enumerate(devices, start=start):
        recipe = driver.assessment(device)
        incident = driver.incident(device) if device.bundle else None
        reference = Played(device, recipe, incident)
        twin = twin_of(driver, device)
        made.append(
            Journey(number, mode, reference, Played(twin, recipe, incident_for(incident, twin.sn)))
        )
    return made


async def step(driver: Driver, done: Callable[[], bool], what: str) -> None:
    await driver.wait_until(done, what, timeout=STEP_TIMEOUT)


async def play_in_order(driver: Driver, offsets: Offsets, played: Played) -> None:
    """The reference: each step sent once the platform has answered the one before."""
    device = played.device
    for record in await driver.send_all(driver.selling(device)):
        await offsets.wait_consumed(
            "activation",
            t.BY_NAME[record.topic],
            record.partition,
            record.offset,
            timeout=STEP_TIMEOUT,
        )
    await driver.send_all(driver.binding(device))
    await step(driver, lambda: device.plan_code in driver.answers, "activation")
    if isinstance(driver.answers[device.plan_code], PlanActivated):
        await step(driver, lambda: device.sn in driver.opened, "the plan")
    if device.renewal_code:
        (sold,) = await driver.send_all(driver.renewal_order(device))
        await offsets.wait_consumed(
            "activation", t.PLAN_ORDERS, sold.partition, sold.offset, timeout=STEP_TIMEOUT
        )
        await driver.send_all(driver.renewal_binding(device))
        code = device.renewal_code
        await step(driver, lambda: code in driver.answers, "the renewal")
        if isinstance(driver.answers[code], PlanRenewed):
            await step(driver, lambda: device.sn in driver.extended, "term")
    if device.accessory is not None:
        accessory_sn = device.accessory[0]
        await driver.send_all(driver.association(device))
        await step(driver, lambda: accessory_sn in driver.accessories, "the accessory")
    await offsets.wait_caught_up("claims", t.ACTIVATION_EVENTS, timeout=STEP_TIMEOUT)
    await offsets.wait_caught_up("claims", t.COVERAGE_EVENTS, timeout=STEP_TIMEOUT)
    played.report = restamped(played.report, device, f"{driver.run_id}-R{uuid.uuid4().hex[:10]}")
    case_id = played.report.payload.case_id
    await driver.report(device, played.report)
    await step(driver, lambda: driver.cases[case_id].fate is not None, "the case")
    if played.incident is not None:
        incident = played.incident
        await driver.report_incident(incident)
        await step(
            driver, lambda: bool(driver.liability[incident.payload.incident_id]), "liability"
        )


def whole(driver: Driver, journey: Journey) -> list[Message]:
    """Every message of the twin that can be computed in advance, in the journey's order."""
    device = journey.twin.device
    messages: list[Message] = [
        *driver.selling(device),
        *driver.binding(device),
        *driver.renewal_order(device),
        *driver.renewal_binding(device),
        *driver.association(device),
    ]
    # Reported after the plan was bought and bound (A1, A4), as in the reference.
    journey.twin.report = restamped(
        journey.twin.report, device, f"{driver.run_id}-O{uuid.uuid4().hex[:10]}"
    )
    report = journey.twin.report
    driver.track(device, report)
    messages.append((t.REPAIR_ASSESSMENTS, device.sn, report))
    if journey.twin.incident is not None:
        incident = journey.twin.incident
        driver.sent.incidents[incident.payload.incident_id] = incident
        messages.append((t.LIABILITY_INCIDENTS, device.sn, incident))
    fate = driver.cases[journey.reference.report.payload.case_id].fate
    if fate is not None and fate.payload.outcome is ClaimOutcome.REPLACEMENT and fate.payload.fee:
        case_id = report.payload.case_id
        driver.paid_in_advance(case_id)
        messages.append((t.PAYMENT_SETTLEMENTS, case_id, f.payment(case_id, fate.payload.fee)))
    return messages


async def start(processes: list[ServiceProcess]) -> None:
    for process in processes:
        process.start()
    await asyncio.gather(*(process.wait_started(timeout=180) for process in processes))


async def caught_up(offsets: Offsets, services: set[str]) -> None:
    for service, topic_name in offsets.groups:
        if service in services:
            await offsets.wait_caught_up(service, t.BY_NAME[topic_name], timeout=600)


async def restart(platform: Platform, offsets: Offsets, mode: str) -> None:
    """Start every stopped service, in the order `mode` says."""
    processes = list(platform.processes.values())
    claims = [p for p in processes if p.service == "claims"]
    others = [p for p in processes if p.service != "claims"]
    if mode == "started together":
        await start(processes)
        return
    first, then = (others, claims) if mode == "claims started last" else (claims, others)
    await start(first)
    await caught_up(offsets, {p.service for p in first})
    await start(then)


async def run_phase(
    platform: Platform, driver: Driver, offsets: Offsets, per_mode: int, *, timeout: float
) -> PhaseReport:
    report = PhaseReport()
    played: list[Journey] = []
    gate = asyncio.Semaphore(16)

    async def reference(journey: Journey) -> None:
        async with gate:
            await play_in_order(driver, offsets, journey.reference)

    for index, mode in enumerate(MODES):
        batch = journeys(driver, mode, per_mode, start=index * per_mode)
        await asyncio.gather(*(reference(journey) for journey in batch))
        messages = [m for journey in batch for m in whole(driver, journey)]
        rank = {topic.name: n for n, topic in enumerate(PUBLISH_ORDER)}
        messages.sort(key=lambda message: rank[message[0].name])  # stable: a journey's order
        await asyncio.to_thread(platform.stop)
        await driver.send_all(messages)
        report.messages[mode] = len(messages)
        await restart(platform, offsets, mode)
        await caught_up(offsets, set(SERVICES))
        played.extend(batch)
    for journey in played:
        report.journeys[journey.reference.device.family] += 1

    def answered() -> bool:
        return all(
            driver.cases[j.twin.report.payload.case_id].fate is not None
            and (j.twin.incident is None or driver.liability[j.twin.incident.payload.incident_id])
            for j in played
        )

    await driver.wait_until(answered, "every reordered journey to be answered", timeout=timeout)
    for journey in played:
        compare(driver, journey, report)
    report.waiting_past_deadline = await waiting_past_deadline(platform)
    return report


def outcome(driver: Driver, played: Played) -> dict[str, Any]:
    """What the platform answered about one journey, without its ids."""
    device = played.device
    found: dict[str, Any] = {}
    for what, code in (("activation", device.plan_code), ("renewal", device.renewal_code)):
        if code is not None:
            answer = driver.answers.get(code)
            found[what] = (
                None
                if answer is None
                else (type(answer).__name__, tuple(getattr(answer.payload, "reason_codes", ())))
            )
    if device.accessory is not None:
        associated = driver.accessories.get(device.accessory[0])
        found["accessory"] = (
            None
            if associated is None
            else (
                type(associated).__name__,
                tuple(getattr(associated.payload, "reason_codes", ())),
            )
        )
    fate = driver.cases[played.report.payload.case_id].fate
    if fate is not None:
        payload = fate.payload
        split = payload.repair_split.model_dump(mode="json") if payload.repair_split else None
        found["case"] = (
            payload.outcome.value,
            payload.refused_by,
            tuple(payload.reason_codes),
            str(payload.fee) if payload.fee else None,
            split,
        )
    else:
        found["case"] = None
    if played.incident is not None:
        answers = list(driver.liability[played.incident.payload.incident_id].values())
        found["liability"] = [_liability(answer) for answer in answers]
    return found


def _liability(answer: LiabilityAnswer) -> tuple[str, ...]:
    if isinstance(answer, LiabilityIncidentRefused):
        return ("refused", *answer.payload.reason_codes)
    payload = answer.payload
    return ("routed", str(payload.limit), str(payload.deductible), str(payload.indicative_payable))


def refused(found: dict[str, Any]) -> set[str]:
    """Which of the journey's requests were refused."""
    names = set()
    for what in ("activation", "renewal", "accessory"):
        if found.get(what) and found[what][0] in (
            ActivationRefused.__name__,
            AccessoryAssociationRefused.__name__,
        ):
            names.add(what)
    if found.get("case") and found["case"][1] is not None:
        names.add("case")
    if any(answer[0] == "refused" for answer in found.get("liability", [])):
        names.add("liability")
    return names


def compare(driver: Driver, journey: Journey, report: PhaseReport) -> None:
    expected, got = outcome(driver, journey.reference), outcome(driver, journey.twin)
    family = journey.reference.device.family
    report.compared[family] += 1
    for what in sorted(expected.keys() | got.keys()):
        if expected.get(what) != got.get(what):
            difference = (
                f"#{journey.number} {family} {journey.reference.device.model} ({journey.mode})"
                f" {what}: in order {expected.get(what)}, out of order {got.get(what)}"
            )
            report.differences.append(difference)
            report.kinds[
                f"{journey.mode}, {family} {what}: in order {_short(expected.get(what))},"
                f" out of order {_short(got.get(what))}"
            ] += 1
    for what in refused(got) - refused(expected):
        report.wrongly_refused.append(f"#{journey.number} {family} {what}")


async def waiting_past_deadline(platform: Platform, margin_seconds: float = 10.0) -> int:
    """Events every service still keeps although their deadline passed (beyond the timer's beat)."""
    left = 0
    for service in SERVICES:
        conn = await asyncpg.connect(platform.dsn(service))
        try:
            has_table = await conn.fetchval("SELECT to_regclass('waiting_events') IS NOT NULL")
            if has_table:
                left += await conn.fetchval(
                    "SELECT count(*) FROM waiting_events"
                    " WHERE deadline < now() - make_interval(secs => $1)",
                    margin_seconds,
                )
        finally:
            await conn.close()
    return left
