"""A stream of cases of both families at scale, with payments and the warehouse played
automatically.

Unlike the demo, which follows a few dozen journeys one event at a time, the load driver keeps an
index of what the platform publishes by case, by SN and by plan code, so thousands of cases cost
no more than one dictionary look-up per event. The fault suite and the benchmark drive the
platform with it. Each step of a journey is also available as the messages it sends
(`selling`, `binding`, ...), so a journey can be published whole, before any answer (the fault
suite's out-of-order phase, `simulation.reorder`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import RecordMetadata
from tenacity import AsyncRetrying, stop_after_delay, wait_exponential

from contracts import parse_event, serialise_event
from contracts import topics as t
from contracts.accessories import AccessoryType
from contracts.activation import (
    AccessoryAssociated,
    AccessoryAssociationRefused,
    ActivationPending,
    ActivationRefused,
    PlanActivated,
    PlanRenewed,
)
from contracts.agricultural import PlanFamily
from contracts.claims import ClaimDecided, ClaimFinalised, ClaimOutcome, LiabilityIncidentRefused
from contracts.coverage import (
    CoverageExtended,
    CoverageOpened,
    DeductionApplied,
    DeductionRefused,
    PlanInherited,
    QuotaDeductionApplied,
)
from contracts.envelope import Envelope
from contracts.fulfilment import DeviceReplaced, ShipmentRequested
from contracts.insurer import LiabilityClaimReported
from contracts.liability import LiabilityIncidentReported, LiabilityKind
from contracts.upstream import AssessmentReported, IncidentCause
from shared.catalogue.agricultural import agricultural_catalogue
from shared.kafka_security import client_options
from simulation import factories as f
from simulation.agricultural import AG_MODELS, RENEWABLE_AGO, repair_quote
from simulation.kafka_io import Upstream

OWNED = (
    t.ACTIVATION_EVENTS,
    t.COVERAGE_EVENTS,
    t.CLAIMS_EVENTS,
    t.FULFILMENT_EVENTS,
    t.INSURER_CLAIMS,
)
CR_MODELS = ("mini-3", "mini-3-pro", "air-2s", "air-3", "mavic-3", "mavic-3-pro", "avata")
REFUSED_CAUSES = (IncidentCause.THEFT, IncidentCause.UNSUITABLE_WEATHER, IncidentCause.LOSS)
AG, CR = PlanFamily.AGRICULTURAL, PlanFamily.CONSUMER
# What an upstream system sends: the topic, the record's key, the event.
Message = tuple[t.Topic, str, Envelope]
ActivationAnswer = PlanActivated | PlanRenewed | ActivationPending | ActivationRefused
LiabilityAnswer = LiabilityClaimReported | LiabilityIncidentRefused


@dataclass
class Device:
    sn: str
    model: str
    sku: str
    plan_code: str
    plan_id: str | None = None
    family: PlanFamily = CR
    bound_at: datetime | None = None  # AG: when the first year was bought and bound
    renewal_sku: str | None = None  # AG: a renewal bought in the first year's last days (A4)
    renewal_code: str | None = None
    accessory: tuple[str, AccessoryType] | None = None  # AG: a system activated on it (G1)
    bundle: bool = False  # AG: a first year gifted with a new drone, with liability cover (P6)


@dataclass
class CaseTrack:
    """Every distinct event the platform published about one case, by event id."""

    case_id: str
    sn: str
    sent_at: float = 0.0
    family: PlanFamily = CR
    decided: dict[uuid.UUID, ClaimDecided] = field(default_factory=dict)
    finalised: dict[uuid.UUID, ClaimFinalised] = field(default_factory=dict)
    deductions: dict[uuid.UUID, DeductionApplied] = field(default_factory=dict)
    quota_deductions: dict[uuid.UUID, QuotaDeductionApplied] = field(default_factory=dict)
    ledger_refusals: dict[uuid.UUID, DeductionRefused] = field(default_factory=dict)
    shipments: dict[uuid.UUID, ShipmentRequested] = field(default_factory=dict)
    replaced: dict[uuid.UUID, DeviceReplaced] = field(default_factory=dict)
    inherited: dict[uuid.UUID, PlanInherited] = field(default_factory=dict)
    decided_at: float | None = None
    final_at: float | None = None

    @property
    def fate(self) -> ClaimFinalised | None:
        return next(iter(self.finalised.values()), None)

    @property
    def final(self) -> bool:
        """Its final outcome is out and, for a replacement the ledger took, the new unit holds
        the plan (F3): nothing more happens to the case."""
        fate = self.fate
        if fate is None:
            return False
        taken = fate.payload.outcome is ClaimOutcome.REPLACEMENT and fate.payload.refused_by is None
        return not taken or bool(self.inherited)


@dataclass
class Sent:
    """What the driver put on the inbound topics, for the checker."""

    devices: list[Device] = field(default_factory=list)
    cases: dict[str, AssessmentReported] = field(default_factory=dict)
    incidents: dict[str, LiabilityIncidentReported] = field(default_factory=dict)
    redelivered: Counter[PlanFamily] = field(default_factory=Counter)
    retried_with_new_id: Counter[PlanFamily] = field(default_factory=Counter)
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
        self.extended: dict[str, CoverageExtended] = {}  # by SN: the renewal's term
        self.answers: dict[str, ActivationAnswer] = {}  # by plan code: activation's last answer
        self.liability: dict[str, dict[uuid.UUID, LiabilityAnswer]] = defaultdict(dict)
        # By accessory SN: activation's answer to its activation on a drone (G1-G3).
        self.accessories: dict[str, AccessoryAssociated | AccessoryAssociationRefused] = {}
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

    async def send(self, topic: t.Topic, key: str, event: Envelope) -> RecordMetadata:
        return await self.send_raw(topic.name, key, serialise_event(event))

    async def send_raw(self, topic: str, key: str, value: bytes) -> RecordMetadata:
        async for attempt in AsyncRetrying(
            stop=stop_after_delay(180), wait=wait_exponential(multiplier=0.2, max=5), reraise=True
        ):
            with attempt:
                return await self._upstream.send_raw(topic, key, value)
        raise AssertionError("unreachable: tenacity re-raises the last failure")

    def paid_in_advance(self, case_id: str) -> None:
        """The fee of this case is already on its way: do not pay it again on its deduction."""
        self._paid.add(case_id)

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
            case CoverageExtended(payload=extended):
                self.extended[extended.sn] = event
            case PlanActivated() | PlanRenewed() | ActivationPending() | ActivationRefused():
                self.answers[event.payload.plan_code] = event
            case AccessoryAssociated() | AccessoryAssociationRefused():
                self.accessories[event.payload.accessory_sn] = event
            case LiabilityClaimReported() | LiabilityIncidentRefused():
                self.liability[event.payload.incident_id][event.event_id] = event
            case ClaimDecided(payload=decision) if decision.case_id in self.cases:
                track = self.cases[decision.case_id]
                track.decided[event.event_id] = event
                track.decided_at = track.decided_at or now
            case ClaimFinalised(payload=fate) if fate.case_id in self.cases:
                self.cases[fate.case_id].finalised[event.event_id] = event
            case QuotaDeductionApplied(payload=taken) if taken.case_id in self.cases:
                self.cases[taken.case_id].quota_deductions[event.event_id] = event
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
        if isinstance(event, ClaimFinalised | PlanInherited):
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

    def ag_devices(self, count: int) -> list[Device]:
        """AG drones: first years bought a month ago, some gifted with a new drone (liability
        cover, P6), some in their last days and renewed now (A4; a second year's deductible, a
        T40's or T20P's consumables pack, C7, F4), some with an accessory system (G1)."""
        made = []
        for _ in range(count):
            model = self.rng.choice(AG_MODELS)
            renews = self.rng.random() < 0.4
            kinds = agricultural_catalogue().model(model).accessories
            made.append(
                Device(
                    sn=f.new_serial(self.rng),
                    model=model,
                    sku="ag-care-year-1",
                    plan_code=f.new_ag_plan_code(self.rng),
                    family=AG,
                    bound_at=f.now() - (RENEWABLE_AGO if renews else timedelta(days=30)),
                    renewal_sku="ag-care-renewal-2" if renews else None,
                    renewal_code=f.new_ag_plan_code(self.rng) if renews else None,
                    accessory=(f.new_serial(self.rng), AccessoryType(self.rng.choice(kinds)))
                    if kinds and self.rng.random() < 0.5
                    else None,
                    bundle=not renews and self.rng.random() < 0.3,
                )
            )
        self.sent.devices.extend(made)
        return made

    # The messages of each step, for a journey sent whole (simulation.reorder) or step by step.

    def selling(self, d: Device) -> list[Message]:
        """The plan order (the storefront) and the device's first activation (the devices)."""
        if d.family is AG:
            order = f.ag_plan_order(
                d.plan_code, d.sku, d.model, at=d.bound_at, new_drone_bundle=d.bundle
            )
            switched_on = f.now() - timedelta(days=1)
        else:
            order = f.plan_order(d.plan_code, d.sku, d.model)
            switched_on = f.now() - timedelta(hours=1)
        return [
            (t.PLAN_ORDERS, d.plan_code, order),
            (t.DEVICE_ACTIVATIONS, d.sn, f.device_activation(d.sn, d.model, switched_on)),
        ]

    def binding(self, d: Device) -> list[Message]:
        return [(t.ACTIVATION_REQUESTS, d.sn, f.activation_request(d.plan_code, d.sn, d.bound_at))]

    def renewal_order(self, d: Device) -> list[Message]:
        if d.renewal_sku is None or d.renewal_code is None:
            return []
        year = agricultural_catalogue().plan(d.renewal_sku).plan_year
        # F4: the address the pack of a designated renewal goes to, given at purchase.
        pack = agricultural_catalogue().pack(d.model, year) is not None
        address = f.delivery_address() if pack else None
        order = f.ag_plan_order(d.renewal_code, d.renewal_sku, d.model, address=address)
        return [(t.PLAN_ORDERS, d.renewal_code, order)]

    def renewal_binding(self, d: Device) -> list[Message]:
        if d.renewal_code is None:
            return []
        return [(t.ACTIVATION_REQUESTS, d.sn, f.activation_request(d.renewal_code, d.sn))]

    def association(self, d: Device) -> list[Message]:
        if d.accessory is None:
            return []
        accessory_sn, kind = d.accessory
        return [(t.ACCESSORY_ACTIVATIONS, d.sn, f.accessory_activation(accessory_sn, kind, d.sn))]

    async def send_all(self, messages: list[Message]) -> list[RecordMetadata]:
        return await asyncio.gather(
            *(self.send(topic, key, event) for topic, key, event in messages)
        )

    async def sell_and_register(self, devices: list[Device]) -> None:
        await self.send_all([m for d in devices for m in self.selling(d)])

    async def bind(self, devices: list[Device]) -> None:
        await self.send_all([m for d in devices for m in self.binding(d)])

    def assessment(self, device: Device) -> AssessmentReported:
        """Mostly covered damage, some exclusions (C2, C3); an AG drone's repair is priced line
        by line (C7), now and then on its accessory (G4) or with a logistics fee."""
        case_id = f"{self.run_id}-{uuid.uuid4().hex[:12]}"
        if device.family is AG:
            cause = (
                IncidentCause.THEFT
                if self.rng.random() < 0.1
                else self.rng.choice((IncidentCause.COLLISION, IncidentCause.FALL))
            )
            on_accessory = device.accessory is not None and self.rng.random() < 0.5
            return f.ag_assessment(
                device.sn,
                device.model,
                repair_quote(self.rng, device.model),
                cause=cause,
                case_id=case_id,
                incident_at=f.now(),
                accessory_sn=device.accessory[0] if on_accessory and device.accessory else None,
                logistics_fee="60.00" if self.rng.random() < 0.3 else None,
            )
        cause = (
            self.rng.choice(REFUSED_CAUSES)
            if self.rng.random() < 0.15
            else self.rng.choice((IncidentCause.COLLISION, IncidentCause.FALL))
        )
        return f.assessment(device.sn, device.model, cause, case_id=case_id)

    def incident(self, device: Device) -> LiabilityIncidentReported:
        """A third-party liability incident on a drone (L1-L3), now and then outside mainland
        China (L1)."""
        kind = self.rng.choice(list(LiabilityKind))
        claimed = f"{self.rng.randrange(500, 90000)}.00"
        medical = None if kind is LiabilityKind.THIRD_PARTY_PROPERTY else claimed
        region = "HK" if self.rng.random() < 0.1 else "CN"
        return f.liability_incident(device.sn, kind, claimed, medical=medical, region=region)

    def track(self, device: Device, report: AssessmentReported) -> None:
        """Follow this case in what the platform publishes (its payments and dispatch too)."""
        self.cases[report.payload.case_id] = CaseTrack(
            report.payload.case_id, device.sn, sent_at=time.monotonic(), family=device.family
        )
        self.sent.cases[report.payload.case_id] = report

    async def report_incident(self, incident: LiabilityIncidentReported) -> None:
        self.sent.incidents[incident.payload.incident_id] = incident
        await self.send(t.LIABILITY_INCIDENTS, incident.payload.drone_sn, incident)

    async def report(self, device: Device, report: AssessmentReported) -> None:
        self.track(device, report)
        await self.send(t.REPAIR_ASSESSMENTS, device.sn, report)

    async def redeliver(self, report: AssessmentReported, *, new_id: bool) -> None:
        """The same event again (a redelivery) or the upstream's retry under a new event id."""
        again = report.model_copy(update={"event_id": uuid.uuid4()}) if new_id else report
        await self.send(t.REPAIR_ASSESSMENTS, report.payload.reported_sn, again)
        family = self.cases[report.payload.case_id].family
        (self.sent.retried_with_new_id if new_id else self.sent.redelivered)[family] += 1

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

    def unanswered_incidents(self) -> list[str]:
        return [incident for incident in self.sent.incidents if not self.liability[incident]]
