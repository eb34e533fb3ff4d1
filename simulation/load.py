"""A stream of consumer cases at scale, with payments and the warehouse played automatically.

Unlike the demo, which follows a few dozen journeys one event at a time, the load driver keeps an
index of what the platform publishes by case and by SN, so thousands of cases cost no more than
one dictionary look-up per event. The fault suite and the benchmark drive the platform with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from aiokafka import AIOKafkaConsumer
from tenacity import AsyncRetrying, stop_after_delay, wait_exponential

from contracts import parse_event, serialise_event
from contracts import topics as t
from contracts.claims import ClaimDecided, ClaimOutcome
from contracts.coverage import (
    CoverageOpened,
    DeductionApplied,
    DeductionRefused,
    PlanInherited,
)
from contracts.envelope import Envelope
from contracts.fulfilment import DeviceReplaced, ShipmentRequested
from contracts.upstream import AssessmentReported, IncidentCause
from shared.kafka_security import client_options
from simulation import factories as f
from simulation.kafka_io import Upstream

OWNED = (t.ACTIVATION_EVENTS, t.COVERAGE_EVENTS, t.CLAIMS_EVENTS, t.FULFILMENT_EVENTS)
CR_MODELS = ("mini-3", "mini-3-pro", "air-2s", "air-3", "mavic-3", "mavic-3-pro", "avata")
REFUSED_CAUSES = (IncidentCause.THEFT, IncidentCause.UNSUITABLE_WEATHER, IncidentCause.LOSS)


@dataclass
class Device:
    sn: str
    model: str
    sku: str
    plan_code: str
    plan_id: str | None = None


@dataclass
class CaseTrack:
    """Every distinct event the platform published about one case, by event id."""

    case_id: str
    sn: str
    sent_at: float = 0.0
    decided: dict[uuid.UUID, ClaimDecided] = field(default_factory=dict)
    deductions: dict[uuid.UUID, DeductionApplied] = field(default_factory=dict)
    ledger_refusals: dict[uuid.UUID, DeductionRefused] = field(default_factory=dict)
    shipments: dict[uuid.UUID, ShipmentRequested] = field(default_factory=dict)
    replaced: dict[uuid.UUID, DeviceReplaced] = field(default_factory=dict)
    inherited: dict[uuid.UUID, PlanInherited] = field(default_factory=dict)
    decided_at: float | None = None
    final_at: float | None = None

    @property
    def final(self) -> bool:
        """Refused, refused by the ledger, or the replacement took over the plan."""
        if self.ledger_refusals or self.inherited:
            return True
        return any(e.payload.outcome is not ClaimOutcome.REPLACEMENT for e in self.decided.values())


@dataclass
class Sent:
    """What the driver put on the inbound topics, for the checker."""

    devices: list[Device] = field(default_factory=list)
    cases: dict[str, AssessmentReported] = field(default_factory=dict)
    redelivered: int = 0
    retried_with_new_id: int = 0
    invalid: list[tuple[str, bytes]] = field(default_factory=list)
    payments: int = 0
    dispatches: int = 0


class Driver:
    """Plays the storefront, the repair centre, payments and the warehouse against the platform."""

    def __init__(self, bootstrap: str, run_id: str, *, seed: int = 7) -> None:
        self.run_id = run_id
        self.rng = random.Random(seed)
        self.sent = Sent()
        self.cases: dict[str, CaseTrack] = {}
        self.opened: dict[str, CoverageOpened] = {}
        self._bootstrap = bootstrap
        self._upstream = Upstream(bootstrap)
        self._consumer = AIOKafkaConsumer(
            *(topic.name for topic in OWNED),
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            **client_options(),
        )
        self._paid: set[str] = set()
        self._dispatched: set[uuid.UUID] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._reader: asyncio.Task[None] | None = None
        self._progress = asyncio.Event()
        self.counts: defaultdict[str, int] = defaultdict(int)

    async def __aenter__(self) -> Driver:
        await self._upstream.__aenter__()
        await self._consumer.start()
        names = {topic.name for topic in OWNED}
        while {p.topic for p in self._consumer.assignment()} != names:  # noqa: ASYNC110
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
        await self._upstream.__aexit__()

    # -- sending, through broker restarts ------------------------------------------------------

    async def send(self, topic: t.Topic, key: str, event: Envelope) -> None:
        await self.send_raw(topic.name, key, serialise_event(event))

    async def send_raw(self, topic: str, key: str, value: bytes) -> None:
        async for attempt in AsyncRetrying(
            stop=stop_after_delay(180), wait=wait_exponential(multiplier=0.2, max=5), reraise=True
        ):
            with attempt:
                await self._upstream.send_raw(topic, key, value)

    def _spawn(self, work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- what the platform publishes -----------------------------------------------------------

    async def _read(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=200, max_records=2000)
            for records in batches.values():
                for record in records:
                    self._route(parse_event(record.topic, record.value))
            if batches:
                self._progress.set()

    def _route(self, event: Envelope) -> None:
        self.counts[type(event).__name__] += 1
        now = time.monotonic()
        match event:
            case CoverageOpened(payload=opened):
                self.opened[opened.sn] = event
            case ClaimDecided(payload=decision) if decision.case_id in self.cases:
                track = self.cases[decision.case_id]
                track.decided[event.event_id] = event
                track.decided_at = track.decided_at or now
            case DeductionApplied(payload=deduction) if deduction.case_id in self.cases:
                self.cases[deduction.case_id].deductions[event.event_id] = event
                if deduction.case_id not in self._paid:
                    self._paid.add(deduction.case_id)
                    self._spawn(self._pay(event))
            case DeductionRefused(payload=refusal) if refusal.case_id in self.cases:
                self.cases[refusal.case_id].ledger_refusals[event.event_id] = event
            case ShipmentRequested(payload=shipment) if shipment.case_id in self.cases:
                self.cases[shipment.case_id].shipments[event.event_id] = event
                if shipment.shipment_id not in self._dispatched:
                    self._dispatched.add(shipment.shipment_id)
                    self._spawn(self._dispatch(event))
            case DeviceReplaced(payload=replaced) if replaced.case_id in self.cases:
                self.cases[replaced.case_id].replaced[event.event_id] = event
            case PlanInherited(payload=inherited) if inherited.case_id in self.cases:
                self.cases[inherited.case_id].inherited[event.event_id] = event
        if isinstance(event, ClaimDecided | DeductionRefused | PlanInherited):
            tracked = self.cases.get(event.payload.case_id)
            if tracked is not None and tracked.final and tracked.final_at is None:
                tracked.final_at = now

    async def _pay(self, deduction: DeductionApplied) -> None:
        case_id = deduction.payload.case_id
        await self.send(t.PAYMENT_SETTLEMENTS, case_id, f.payment(case_id, deduction.payload.fee))
        self.sent.payments += 1

    async def _dispatch(self, shipment: ShipmentRequested) -> None:
        payload = shipment.payload
        dispatch = f.dispatch(payload.shipment_id, f.new_serial(self.rng), payload.case_id)
        await self.send(t.WAREHOUSE_DISPATCHES, str(payload.shipment_id), dispatch)
        self.sent.dispatches += 1

    # -- the cases -----------------------------------------------------------------------------

    def devices(self, count: int) -> list[Device]:
        made = [
            Device(
                sn=f.new_serial(self.rng),
                model=self.rng.choice(CR_MODELS),
                sku=self.rng.choice(("care-refresh-1y", "care-refresh-2y")),
                plan_code=f.new_plan_code(self.rng),
            )
            for _ in range(count)
        ]
        self.sent.devices.extend(made)
        return made

    async def sell_and_register(self, devices: list[Device]) -> None:
        """Plan orders and the devices' first activations (the storefront and the devices)."""
        an_hour_ago = f.now() - timedelta(hours=1)
        await asyncio.gather(
            *(
                self.send(t.PLAN_ORDERS, d.plan_code, f.plan_order(d.plan_code, d.sku, d.model))
                for d in devices
            ),
            *(
                self.send(
                    t.DEVICE_ACTIVATIONS, d.sn, f.device_activation(d.sn, d.model, an_hour_ago)
                )
                for d in devices
            ),
        )

    async def bind(self, devices: list[Device]) -> None:
        await asyncio.gather(
            *(
                self.send(t.ACTIVATION_REQUESTS, d.sn, f.activation_request(d.plan_code, d.sn))
                for d in devices
            )
        )

    def assessment(self, device: Device) -> AssessmentReported:
        """Mostly covered damage, some exclusions (C2, C3)."""
        cause = (
            self.rng.choice(REFUSED_CAUSES)
            if self.rng.random() < 0.15
            else self.rng.choice((IncidentCause.COLLISION, IncidentCause.FALL))
        )
        case_id = f"{self.run_id}-{uuid.uuid4().hex[:12]}"
        return f.assessment(device.sn, device.model, cause, case_id=case_id)

    async def report(self, device: Device, report: AssessmentReported) -> None:
        self.cases[report.payload.case_id] = CaseTrack(
            report.payload.case_id, device.sn, sent_at=time.monotonic()
        )
        self.sent.cases[report.payload.case_id] = report
        await self.send(t.REPAIR_ASSESSMENTS, device.sn, report)

    async def redeliver(self, report: AssessmentReported, *, new_id: bool) -> None:
        """The same event again (a redelivery) or the upstream's retry under a new event id."""
        again = report.model_copy(update={"event_id": uuid.uuid4()}) if new_id else report
        await self.send(t.REPAIR_ASSESSMENTS, report.payload.reported_sn, again)
        if new_id:
            self.sent.retried_with_new_id += 1
        else:
            self.sent.redelivered += 1

    async def inject_invalid(self, topic: t.Topic, value: bytes) -> None:
        await self.send_raw(topic.name, f"{self.run_id}-invalid", value)
        self.sent.invalid.append((topic.name, value))

    async def wait_until(self, done: Callable[[], bool], what: str, *, timeout: float) -> None:
        """Wait on what the platform publishes (woken by each batch read), up to `timeout`."""
        deadline = time.monotonic() + timeout
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"waited {timeout:.0f} s for {what}")
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), timeout=min(remaining, 1.0))

    def pending(self) -> list[CaseTrack]:
        return [track for track in self.cases.values() if not track.final]
