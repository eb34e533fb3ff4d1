"""`make demo`: the services on the local stack, fed a realistic stream of consumer and
agricultural cases.

The demo plays every system around the platform and talks to it only through Kafka:

- the storefront sells plan codes (and renewals), reports devices' first activations and asks
  for bindings;
- the review desk approves the verification video of a late activation and, on review, finds
  one approved case fraudulent;
- the repair centre reports assessments (covered damage, exclusions, SN mismatches, flyaways);
- payments pays the fee of every `DeductionApplied`, places and releases the card
  pre-authorisation of an express premium replacement, and settles every `RefundRequested`
  (an express basic fee paid before a claim that is then refused);
- the warehouse answers every `ShipmentRequested` with a `DispatchConfirmed` naming a new SN,
  except for two units it still holds when fraud is found: asked to recall them, it cancels one
  and finds the other already dispatched (C10);
- beside them, AG drones (`simulation.demo_ag`): first-year and renewal plans, repairs quoted
  line by line and split across the two quotas with deductibles (C7), a shortfall, a
  consumables pack (F4), an accessory (G1-G4) and a liability incident routed to the insurer
  (L1-L4);
- plans bought a year ago whose terms end during the run (`simulation.demo_expiry`): nothing
  but the ledger's own clock ends them, and it announces each end once (C9).

A real customer waits days between buying a plan and activating it; the demo compresses that
into moments, so before each step that depends on an earlier message on *another* topic it waits
until the service's consumer group has committed past that message (what an operator reads as
consumer lag). It never reads a service's database.

It ends with one line per case, totals, and a non-zero exit when something expected did not
happen. Run it with `make demo` or `python -m simulation.demo`.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from careplan.registry import SERVICES
from contracts import topics as t
from contracts.activation import (
    ActivationPending,
    ActivationRefused,
    PlanActivated,
    PlanRenewed,
)
from contracts.claims import (
    ClaimDecided,
    ClaimOutcome,
    ClaimReversed,
    PreAuthorisationCaptureRequested,
    PreAuthorisationReleaseRequested,
)
from contracts.coverage import (
    CoverageExtended,
    CoverageOpened,
    DeductionApplied,
    DeductionRefused,
    PlanExhausted,
    PlanInherited,
    PlanTerminated,
)
from contracts.envelope import MAX_EVENT_BYTES, Envelope
from contracts.fulfilment import (
    DeviceReplaced,
    PreAuthorisationRequested,
    RecallOutcome,
    RefundRequested,
    ShipmentCancellationRequested,
    ShipmentRecallConcluded,
    ShipmentRequested,
    ShippingChargesQuoted,
)
from contracts.money import Money
from contracts.upstream import (
    AssessmentReported,
    CustomerChoice,
    IncidentCause,
    PreAuthorisationCaptured,
    PreAuthorisationClosedPayload,
    PreAuthorisationReleased,
    ReturnedPart,
    ReviewConcluded,
    ReviewConcludedPayload,
    ReviewVerdict,
    ServiceMode,
    ShippingChoice,
)
from shared.catalogue import consumer_catalogue
from shared.kafka_admin import ensure_topics
from shared.kafka_security import kafka_credentials, options_for
from shared.settings import ServiceSettings
from simulation import factories as f
from simulation.demo_ag import AgJourney, ag_journey, ag_lines, ag_roster, bordereau_lines
from simulation.demo_expiry import Expiring, expire, expiring_roster, expiry_lines
from simulation.kafka_io import DeadLetter, EventLog, Integrators
from simulation.offsets import Offsets
from simulation.processes import Platform, act_as_administrator

E = TypeVar("E", bound=Envelope)

LOG_DIR = Path(".local/demo-logs")
DEMO_TIMEOUT = 45.0  # the whole stream, from the first order to the last dead letter
STEP_TIMEOUT = 20.0  # one hop of one journey
CONCURRENCY = 12  # device journeys in flight at once

OWNED = [
    t.ACTIVATION_EVENTS,
    t.COVERAGE_EVENTS,
    t.CLAIMS_EVENTS,
    t.FULFILMENT_EVENTS,
    t.INSURER_CLAIMS,
]

# --------------------------------------------------------------------------------------------
# The stream: what happens to each device
# --------------------------------------------------------------------------------------------

C = IncidentCause
REPLACED, REFUSED, WARRANTY, PAID_REPAIR = (
    ClaimOutcome.REPLACEMENT,
    ClaimOutcome.REFUSED,
    ClaimOutcome.WARRANTY_REPAIR,
    ClaimOutcome.PAID_REPAIR_CHOSEN,
)
Y1, Y2 = "care-refresh-1y", "care-refresh-2y"


@dataclass(frozen=True)
class ClaimSpec:
    """One assessment the repair centre reports, and the decision the rules should give."""

    cause: IncidentCause
    outcome: ClaimOutcome
    reasons: tuple[str, ...] = ()
    customer_region: str | None = None  # None: the customer lives in the plan's region
    sn_mismatch: bool = False  # the returned unit carries another SN (C4)
    part_sn_mismatch: bool = False  # a returned part is not bound to this body (C4)
    flight_record: bool = True
    app_bound: bool = True  # account and remote controller bound in the app (X2)
    choice: CustomerChoice = CustomerChoice.PLAN_REPLACEMENT  # C5
    express_premium: bool = False  # X3: the unit ships before the damaged one comes in
    express_basic: bool = False  # X3: the fee is paid before the unit is sent in
    # C10: fraud is found while the warehouse holds the unit; it answers the recall so.
    recall: RecallOutcome | None = None
    bill_shipping_on_delivery: bool = False  # F1: the customer's documented choice


DEMO_WAITING_GRACE_SECONDS = 5.0


def covered(cause: IncidentCause, customer_region: str | None = None) -> ClaimSpec:
    return ClaimSpec(cause, REPLACED, customer_region=customer_region)


def refused(cause: IncidentCause, *reasons: str, **details: Any) -> ClaimSpec:
    return ClaimSpec(cause, REFUSED, reasons, **details)


@dataclass(frozen=True)
class DeviceSpec:
    model: str
    sku: str
    region: str = "PL"
    claims: tuple[ClaimSpec, ...] = ()
    activated_hours_ago: float = 1.0  # the device's own first activation (A1: 48 h window)
    sold_for_model: str | None = None  # the plan code was sold for another model (D2)
    renewal_sku: str | None = None  # a renewal bought right after the first binding (A3)
    fraud_after_claim: int | None = None  # the review desk finds fraud in this case (C10)

    @property
    def expected_activation(self) -> str:
        if self.sold_for_model is not None:
            return "refused"
        return "pending" if self.activated_hours_ago > 48 else "activated"


def roster() -> list[DeviceSpec]:
    """About forty devices over the P3 models, as a day of the storefront and repair centre."""
    return [
        # Covered damage, one replacement each (C2, C5).
        DeviceSpec("mini-3", Y1, claims=(covered(C.COLLISION),)),
        DeviceSpec("air-3", Y2, claims=(covered(C.FALL),)),
        DeviceSpec("mavic-3-pro", Y1, claims=(covered(C.WATER_DAMAGE),)),
        DeviceSpec("mavic-3-pro-cine", Y2, claims=(covered(C.COLLISION),)),
        DeviceSpec("avata", Y1, claims=(covered(C.COLLISION),)),
        DeviceSpec("mini-2", Y2, claims=(covered(C.FALL),)),
        DeviceSpec("mini-3-pro", Y1, claims=(covered(C.OPERATOR_ERROR),)),
        DeviceSpec("air-2s", Y2, claims=(covered(C.SIGNAL_INTERFERENCE),)),
        DeviceSpec("mavic-3-classic", Y1, "DE", claims=(covered(C.COLLISION),)),
        # A reviewer finds fraud after the replacement shipped: the plan ends (C10).
        DeviceSpec(
            "mavic-3",
            Y2,
            claims=(covered(C.WATER_DAMAGE), refused(C.COLLISION, "PLAN_TERMINATED")),
            fraud_after_claim=1,
        ),
        DeviceSpec("mini-2-se", Y1, "CZ", claims=(covered(C.FALL),)),
        DeviceSpec("mavic-3-cine", Y2, claims=(covered(C.COLLISION),)),
        # Express premium (X3): shipped against a card pre-authorisation, released on arrival.
        DeviceSpec("air-3", Y2, claims=(ClaimSpec(C.COLLISION, REPLACED, express_premium=True),)),
        # Fraud found while the warehouse holds the unit: recalled, cancelled or already gone (C10).
        DeviceSpec(
            "mini-3-pro",
            Y2,
            claims=(ClaimSpec(C.COLLISION, REPLACED, recall=RecallOutcome.CANCELLED),),
            fraud_after_claim=1,
        ),
        DeviceSpec(
            "air-2s",
            Y2,
            claims=(ClaimSpec(C.FALL, REPLACED, recall=RecallOutcome.ALREADY_DISPATCHED),),
            fraud_after_claim=1,
        ),
        # Express basic paid first, then refused: the fee is refunded (X3).
        DeviceSpec(
            "mini-3",
            Y1,
            claims=(ClaimSpec(C.THEFT, REFUSED, ("EXCLUDED_THEFT",), express_basic=True),),
        ),
        # The customer prefers a paid repair: recorded, nothing deducted (C5).
        DeviceSpec(
            "air-2s",
            Y1,
            claims=(ClaimSpec(C.FALL, PAID_REPAIR, choice=CustomerChoice.PAID_REPAIR),),
        ),
        # Customers outside the plan's region: they pay shipping and customs (F1), before the
        # unit ships or, on their documented choice, billed on delivery.
        DeviceSpec("air-3", Y1, claims=(covered(C.COLLISION, customer_region="DE"),)),
        DeviceSpec(
            "mini-3",
            Y2,
            claims=(
                ClaimSpec(C.FALL, REPLACED, customer_region="CZ", bill_shipping_on_delivery=True),
            ),
        ),
        DeviceSpec("air-3", Y1, claims=(covered(C.COLLISION, customer_region="GB"),)),
        DeviceSpec("mavic-3-pro", Y2, "DE", claims=(covered(C.WATER_DAMAGE, "FR"),)),
        # Refusals: exclusions (C3) and serial checks (C4).
        DeviceSpec("mini-3", Y1, claims=(refused(C.THEFT, "EXCLUDED_THEFT"),)),
        DeviceSpec("avata", Y2, claims=(refused(C.THEFT, "EXCLUDED_THEFT"),)),
        DeviceSpec(
            "air-3", Y2, claims=(refused(C.UNSUITABLE_WEATHER, "EXCLUDED_UNSUITABLE_WEATHER"),)
        ),
        DeviceSpec(
            "mavic-3-classic",
            Y2,
            claims=(refused(C.UNSUITABLE_WEATHER, "EXCLUDED_UNSUITABLE_WEATHER"),),
        ),
        DeviceSpec(
            "mavic-3-pro", Y1, claims=(refused(C.COLLISION, "SN_MISMATCH", sn_mismatch=True),)
        ),
        DeviceSpec(
            "mini-2",
            Y1,
            claims=(refused(C.FALL, "PART_SN_MISMATCH", part_sn_mismatch=True),),
        ),
        DeviceSpec("air-2s", Y1, claims=(refused(C.COSMETIC_DAMAGE, "EXCLUDED_COSMETIC_DAMAGE"),)),
        # A manufacturing defect is the ordinary warranty's: no replacement used (X4).
        DeviceSpec("mavic-3", Y1, claims=(ClaimSpec(C.MANUFACTURING_DEFECT, WARRANTY),)),
        # Flyaways (C6, X2): need a flight record and an eligible model.
        DeviceSpec("mavic-3-pro", Y2, claims=(covered(C.FLYAWAY),)),
        DeviceSpec("air-3", Y1, claims=(covered(C.FLYAWAY),)),
        DeviceSpec(
            "mini-3",
            Y1,
            claims=(refused(C.FLYAWAY, "FLYAWAY_WITHOUT_FLIGHT_RECORD", flight_record=False),),
        ),
        DeviceSpec("avata", Y1, claims=(refused(C.FLYAWAY, "FLYAWAY_NOT_ELIGIBLE"),)),
        DeviceSpec(
            "mavic-3",
            Y2,
            claims=(refused(C.FLYAWAY, "FLYAWAY_APP_BINDING_MISSING", app_bound=False),),
        ),
        # Repeat claimants, until the plan is exhausted and the next claim refused (P1, C9).
        DeviceSpec(
            "mini-3-pro",
            Y1,
            claims=(
                covered(C.FLYAWAY),
                refused(C.FLYAWAY, "FLYAWAY_LIMIT_REACHED"),
                covered(C.COLLISION),
                refused(C.FALL, "NO_REPLACEMENTS_LEFT"),
            ),
        ),
        DeviceSpec(
            "mavic-3-pro",
            Y1,
            claims=(
                covered(C.COLLISION),
                covered(C.FALL),
                refused(C.COLLISION, "NO_REPLACEMENTS_LEFT"),
            ),
        ),
        DeviceSpec(
            "mini-3",
            Y1,
            claims=(
                covered(C.WATER_DAMAGE),
                covered(C.COLLISION),
                refused(C.FALL, "NO_REPLACEMENTS_LEFT"),
            ),
        ),
        DeviceSpec(
            "air-3",
            Y2,
            claims=(
                covered(C.COLLISION),
                covered(C.FALL),
                covered(C.WATER_DAMAGE),
                covered(C.COLLISION),
                refused(C.FALL, "NO_REPLACEMENTS_LEFT"),
            ),
        ),
        DeviceSpec(
            "mavic-3-pro-cine",
            Y1,
            claims=(
                covered(C.COLLISION),
                covered(C.FLYAWAY),
                refused(C.COLLISION, "NO_REPLACEMENTS_LEFT"),
            ),
        ),
        DeviceSpec(
            "mini-2",
            Y2,
            claims=(
                covered(C.FALL),
                covered(C.COLLISION, customer_region="DE"),
                covered(C.WATER_DAMAGE),
                covered(C.COLLISION),
                refused(C.FALL, "NO_REPLACEMENTS_LEFT"),
            ),
        ),
        # Most plans never see a claim. Renewals: 2y + 1y is allowed, a 2-Year code is not (A3).
        DeviceSpec("air-3", Y2, renewal_sku=Y1),
        DeviceSpec("mini-3", Y1, renewal_sku=Y2),
        # Late activation: the device was activated 50 h before the request (A1: video review).
        DeviceSpec("air-3", Y1, activated_hours_ago=50),
        # A code sold for a Mini 3 bound to an Air 3: refused, and a later claim finds no plan.
        DeviceSpec(
            "air-3",
            Y1,
            sold_for_model="mini-3",
            claims=(refused(C.COLLISION, "NO_PLAN_FOR_SN"),),
        ),
    ]


# --------------------------------------------------------------------------------------------
# What happened: filled in as the platform answers, printed at the end
# --------------------------------------------------------------------------------------------


@dataclass
class Case:
    device: Device
    number: int
    spec: ClaimSpec
    case_id: str
    reported_sn: str
    customer_region: str
    decided: ClaimDecided | None = None
    refused_by_ledger: list[str] | None = None
    shipment: ShipmentRequested | None = None
    new_sn: str | None = None
    replacements_left: int | None = None
    flyaways_left: int | None = None
    exhausted: bool = False
    pre_authorisation: str | None = None
    recall: ShipmentRecallConcluded | None = None
    refund: RefundRequested | None = None


@dataclass
class Device:
    label: str
    spec: DeviceSpec
    sn: str
    plan_code: str
    activation: str = "no answer"
    renewal: str | None = None
    review: str | None = None
    plan_id: str | None = None
    replacements_left: int | None = None
    flyaways_left: int | None = None
    cases: list[Case] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# The systems around the platform
# --------------------------------------------------------------------------------------------


@dataclass
class World:
    upstream: Integrators
    events: EventLog
    offsets: Offsets
    rng: random.Random
    devices: list[Device] = field(default_factory=list)
    ag: list[AgJourney] = field(default_factory=list)
    expiring: list[Expiring] = field(default_factory=list)
    new_serials: set[str] = field(default_factory=set)
    holds: dict[str, tuple[str, Money]] = field(default_factory=dict)  # case -> (id, amount)
    recalls: dict[str, RecallOutcome] = field(default_factory=dict)  # case -> the answer (C10)


async def on_each(
    events: EventLog, kind: type[E], act: Callable[[E], Coroutine[Any, Any, None]]
) -> None:
    """Start `act` for every event of `kind` the platform publishes, each in its own task."""
    handled = 0
    running: set[asyncio.Task[None]] = set()
    try:
        while True:
            try:
                seen = await events.wait_for(kind, count=handled + 1, timeout=3600)
            except TimeoutError:
                continue
            for event in seen[handled:]:
                task = asyncio.create_task(act(event))
                running.add(task)
                task.add_done_callback(running.discard)
            handled = len(seen)
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)


def bills_shipping_on_delivery(world: World, case_id: str) -> bool:
    """F1: whether the customer of the case chose to have shipping and customs billed."""
    return any(
        case.spec.bill_shipping_on_delivery
        for device in world.devices
        for case in device.cases
        if case.case_id == case_id
    )


def payments(world: World) -> Callable[[DeductionApplied], Coroutine[Any, Any, None]]:
    """Payments: the customer pays the fee of each approved replacement at once, documenting
    with it, where they chose so, that shipping and customs are billed on delivery (F1).

    The payment and the deduction reach fulfilment on different topics, often at the same
    moment; fulfilment must ship either way.
    """

    async def pay(event: DeductionApplied) -> None:
        case_id = event.payload.case_id
        choice = (
            ShippingChoice.BILL_ON_DELIVERY
            if bills_shipping_on_delivery(world, case_id)
            else ShippingChoice.PAY_BEFORE_SHIPPING
        )
        payment = f.payment(case_id, event.payload.fee, shipping_choice=choice)
        await world.upstream.send(t.PAYMENT_SETTLEMENTS, case_id, payment)

    return pay


def shipping_payments(
    world: World,
) -> Callable[[ShippingChargesQuoted], Coroutine[Any, Any, None]]:
    """Payments: the customer outside the plan's region pays the shipping and customs quoted
    (F1), unless they chose to have them billed on delivery."""

    async def pay(event: ShippingChargesQuoted) -> None:
        case_id = event.payload.case_id
        if bills_shipping_on_delivery(world, case_id):
            return
        charges = event.payload.shipping + event.payload.customs
        await world.upstream.send(t.PAYMENT_SETTLEMENTS, case_id, f.payment(case_id, charges))

    return pay


def refunds(world: World) -> Callable[[RefundRequested], Coroutine[Any, Any, None]]:
    """Payments: gives back what fulfilment asks to refund, and says so (RefundSettled)."""

    async def give_back(event: RefundRequested) -> None:
        asked = event.payload
        settled = f.refund_settled(asked.refund_id, asked.case_id, asked.payment_id, asked.amount)
        await world.upstream.send(t.PAYMENT_SETTLEMENTS, asked.case_id, settled)

    return give_back


def card_holds(world: World) -> Callable[[Envelope], Coroutine[Any, Any, None]]:
    """Payments: places the card pre-authorisation an express premium case asks for, and
    releases (or captures) it when claims says so (X3)."""

    async def act(event: Envelope) -> None:
        if isinstance(event, PreAuthorisationRequested):
            case_id, amount = event.payload.case_id, event.payload.amount
            placed = f.pre_authorisation_placed(case_id, amount)
            world.holds[case_id] = (placed.payload.authorisation_id, amount)
            await world.upstream.send(t.PAYMENT_SETTLEMENTS, case_id, placed)
        elif isinstance(event, PreAuthorisationReleaseRequested | PreAuthorisationCaptureRequested):
            case_id = event.payload.case_id
            authorisation_id, amount = world.holds[case_id]
            closed = PreAuthorisationClosedPayload(
                case_id=case_id,
                authorisation_id=authorisation_id,
                amount=amount,
                closed_at=f.now(),
            )
            kind = (
                PreAuthorisationReleased
                if isinstance(event, PreAuthorisationReleaseRequested)
                else PreAuthorisationCaptured
            )
            message = kind.new(closed, producer="payments", correlation_id=case_id)
            await world.upstream.send(t.PAYMENT_SETTLEMENTS, case_id, message)

    return act


def warehouse(world: World) -> Callable[[ShipmentRequested], Coroutine[Any, Any, None]]:
    """The warehouse: ships a unit for each request and names its SN."""

    async def ship(event: ShipmentRequested) -> None:
        request = event.payload
        if request.case_id in world.recalls:
            return  # still on the shelf when fraud is found (C10)
        new_sn = f.new_serial(world.rng)
        world.new_serials.add(new_sn)
        await world.upstream.send(
            t.WAREHOUSE_DISPATCHES,
            str(request.shipment_id),
            f.dispatch(request.shipment_id, new_sn, request.case_id),
        )

    return ship


def recalls(world: World) -> Callable[[ShipmentCancellationRequested], Coroutine[Any, Any, None]]:
    """The warehouse: answers a recall, the unit stopped or already gone (C10)."""

    async def answer(event: ShipmentCancellationRequested) -> None:
        shipment_id = event.payload.shipment_id
        if world.recalls.get(event.payload.case_id) is RecallOutcome.ALREADY_DISPATCHED:
            message: Envelope = f.shipment_already_dispatched(shipment_id, f.new_serial(world.rng))
        else:
            message = f.shipment_cancelled(shipment_id)
        await world.upstream.send(t.WAREHOUSE_DISPATCHES, str(shipment_id), message)

    return answer


async def wait_one(world: World, kind: type[E], where: Callable[[E], bool]) -> E:
    return (await world.events.wait_for(kind, where, timeout=STEP_TIMEOUT))[0]


async def activate(world: World, device: Device) -> None:
    """Storefront: sell the code, report the device's activation, then ask for the binding."""
    spec = device.spec
    sold_for = spec.sold_for_model or spec.model
    order, switched_on = await asyncio.gather(
        world.upstream.send(
            t.PLAN_ORDERS,
            device.plan_code,
            f.plan_order(device.plan_code, spec.sku, sold_for, spec.region),
        ),
        world.upstream.send(
            t.DEVICE_ACTIVATIONS,
            device.sn,
            f.device_activation(
                device.sn, spec.model, f.now() - timedelta(hours=spec.activated_hours_ago)
            ),
        ),
    )
    # The customer comes back later; by then the activation service knows both facts.
    await asyncio.gather(
        world.offsets.wait_consumed(
            "activation", t.PLAN_ORDERS, order.partition, order.offset, timeout=STEP_TIMEOUT
        ),
        world.offsets.wait_consumed(
            "activation",
            t.DEVICE_ACTIVATIONS,
            switched_on.partition,
            switched_on.offset,
            timeout=STEP_TIMEOUT,
        ),
    )
    request = f.activation_request(device.plan_code, device.sn)
    await world.upstream.send(t.ACTIVATION_REQUESTS, device.sn, request)
    answer = await wait_one(
        world,
        Envelope,
        lambda e: (
            isinstance(e, PlanActivated | ActivationPending | ActivationRefused)
            and e.payload.plan_code == device.plan_code
        ),
    )
    steps: list[str] = []
    if isinstance(answer, ActivationPending):
        steps.append(f"pending ({answer.payload.reason_code})")
        # The review desk watches the verification video and approves it.
        await world.upstream.send(
            t.VIDEO_REVIEWS,
            answer.payload.request_id,
            f.video_review(answer.payload.request_id, approved=True),
        )
        steps.append("video approved")
        answer = await wait_one(
            world,
            Envelope,
            lambda e: (
                isinstance(e, PlanActivated | ActivationRefused)
                and e.payload.plan_code == device.plan_code
            ),
        )
    if isinstance(answer, ActivationRefused):
        steps.append(f"refused ({', '.join(answer.payload.reason_codes)})")
        device.activation = " -> ".join(steps)
        return
    assert isinstance(answer, PlanActivated)
    plan_id = answer.payload.plan_id
    opened = await wait_one(world, CoverageOpened, lambda e: e.payload.plan_id == plan_id)
    steps.append(f"activated until {opened.payload.term_end:%Y-%m-%d}")
    device.activation = " -> ".join(steps)
    device.plan_id = str(plan_id)
    device.replacements_left = opened.payload.replacements_left
    device.flyaways_left = opened.payload.flyaways_left
    if spec.renewal_sku is not None:
        await renew(world, device, spec.renewal_sku)
    # Claims adjudicates from its own view of the plans: let it see the new plan first.
    await world.offsets.wait_caught_up("claims", t.COVERAGE_EVENTS, timeout=STEP_TIMEOUT)


async def renew(world: World, device: Device, sku: str) -> None:
    """Storefront: sell a renewal code for the device and bind it (A3)."""
    code = f.new_plan_code(world.rng)
    sold = await world.upstream.send(
        t.PLAN_ORDERS, code, f.plan_order(code, sku, device.spec.model, device.spec.region)
    )
    await world.offsets.wait_consumed(
        "activation", t.PLAN_ORDERS, sold.partition, sold.offset, timeout=STEP_TIMEOUT
    )
    await world.upstream.send(
        t.ACTIVATION_REQUESTS, device.sn, f.activation_request(code, device.sn)
    )
    answer = await wait_one(
        world,
        Envelope,
        lambda e: isinstance(e, PlanRenewed | ActivationRefused) and e.payload.plan_code == code,
    )
    what = plan_name(sku)
    if isinstance(answer, ActivationRefused):
        device.renewal = f"{what} renewal refused ({', '.join(answer.payload.reason_codes)})"
        return
    assert isinstance(answer, PlanRenewed)
    extended = await wait_one(
        world,
        CoverageExtended,
        lambda e: e.payload.plan_id == answer.payload.plan_id and e.payload.term_no > 1,
    )
    term = extended.payload
    device.renewal = (
        f"{what} renewal: term {term.term_no} {term.term_start:%Y-%m-%d} to"
        f" {term.term_end:%Y-%m-%d} with {term.replacements_left} replacements"
    )


async def file_claim(world: World, device: Device, number: int, spec: ClaimSpec) -> None:
    """Repair centre: report one assessment; follow it to its decision and, if any, shipment."""
    case = Case(
        device=device,
        number=number,
        spec=spec,
        case_id=f"CASE-{device.label}-{number}-{uuid.uuid4().hex[:8].upper()}",
        reported_sn=device.sn,
        customer_region=spec.customer_region or device.spec.region,
    )
    device.cases.append(case)
    if spec.recall is not None:
        world.recalls[case.case_id] = spec.recall
    if spec.express_premium:
        request = f.express_request(
            device.sn, device.spec.model, spec.cause, customer_region=case.customer_region
        )
        case.case_id = request.payload.case_id
        await world.upstream.send(t.REPAIR_ASSESSMENTS, device.sn, request)
    else:
        if spec.express_basic:
            fee, _ = consumer_catalogue().replacement_fee(
                device.spec.model, flyaway=False, replacements_used=0, at=f.now()
            )
            await world.upstream.send(
                t.PAYMENT_SETTLEMENTS, case.case_id, f.payment(case.case_id, fee)
            )
        await world.upstream.send(t.REPAIR_ASSESSMENTS, device.sn, assessment(world, case))
    await follow_case(world, device, case)


def assessment(world: World, case: Case) -> AssessmentReported:
    """What the repair centre reports once the damaged unit is on its bench."""
    spec, device = case.spec, case.device
    return f.assessment(
        device.sn,
        device.spec.model,
        spec.cause,
        case_id=case.case_id,
        unit_sn=f.new_serial(world.rng) if spec.sn_mismatch else None,
        customer_region=case.customer_region,
        flight_record=spec.flight_record,
        app_bound=spec.app_bound,
        parts=(
            ReturnedPart(
                part="gimbal camera", sn=f.new_serial(world.rng), matches_body_record=False
            ),
        )
        if spec.part_sn_mismatch
        else (),
        choice=spec.choice,
        service_mode=ServiceMode.EXPRESS_BASIC if spec.express_basic else ServiceMode.STANDARD,
    )


async def follow_case(world: World, device: Device, case: Case) -> None:
    """From the decision to the ledger, the fee, the shipment and the plan on the new unit."""
    case.decided = await wait_one(world, ClaimDecided, lambda e: e.payload.case_id == case.case_id)
    case.replacements_left, case.flyaways_left = device.replacements_left, device.flyaways_left
    if case.spec.express_basic and case.decided.payload.outcome is ClaimOutcome.REFUSED:
        case.refund = await wait_one(
            world, RefundRequested, lambda e: e.payload.case_id == case.case_id
        )
    if case.decided.payload.outcome is not ClaimOutcome.REPLACEMENT:
        return
    ledger = await wait_one(
        world,
        Envelope,
        lambda e: (
            isinstance(e, DeductionApplied | DeductionRefused) and e.payload.case_id == case.case_id
        ),
    )
    if isinstance(ledger, DeductionRefused):
        case.refused_by_ledger = list(ledger.payload.reason_codes)
        return
    # Payments pays the fee, the warehouse ships: both react on their own (see main).
    case.shipment = await wait_one(
        world, ShipmentRequested, lambda e: e.payload.case_id == case.case_id
    )
    if case.spec.recall is not None:
        return  # the unit waits at the warehouse until fraud is found (C10)
    inherited = await wait_one(world, PlanInherited, lambda e: e.payload.case_id == case.case_id)
    case.new_sn = inherited.payload.new_sn
    case.replacements_left = inherited.payload.replacements_left
    case.flyaways_left = inherited.payload.flyaways_left
    case.exhausted = bool(
        world.events.of(PlanExhausted, lambda e: str(e.payload.plan_id) == device.plan_id)
    )
    device.sn = inherited.payload.new_sn
    device.replacements_left = case.replacements_left
    device.flyaways_left = case.flyaways_left
    if case.spec.express_premium:
        # The damaged unit reaches the repair centre after its replacement left the warehouse.
        await world.upstream.send(t.REPAIR_ASSESSMENTS, case.reported_sn, assessment(world, case))
        verdict = await wait_one(
            world,
            Envelope,
            lambda e: (
                isinstance(e, PreAuthorisationReleaseRequested | PreAuthorisationCaptureRequested)
                and e.payload.case_id == case.case_id
            ),
        )
        _, held = world.holds[case.case_id]
        case.pre_authorisation = (
            f"hold {held} released"
            if isinstance(verdict, PreAuthorisationReleaseRequested)
            else f"hold {held} captured"
        )
    # The customer claims again only once claims' view shows the plan on the new unit.
    await world.offsets.wait_caught_up("claims", t.COVERAGE_EVENTS, timeout=STEP_TIMEOUT)


async def review_fraud(world: World, device: Device, case: Case) -> None:
    """Review desk: a person finds fraud in an approved case and reverses it (C10)."""
    cost = Money.of("1290.00", "USD")
    review = ReviewConcluded.new(
        ReviewConcludedPayload(
            case_id=case.case_id,
            reviewer_id="REVIEWER-7",
            verdict=ReviewVerdict.FRAUD,
            repair_cost=cost,
            concluded_at=f.now(),
        ),
        producer="review-desk",
        correlation_id=case.case_id,
    )
    await world.upstream.send(t.CLAIM_REVIEWS, case.case_id, review)
    await wait_one(world, ClaimReversed, lambda e: e.payload.case_id == case.case_id)
    ended = await wait_one(
        world, PlanTerminated, lambda e: str(e.payload.plan_id) == device.plan_id
    )
    device.review = (
        f"case {case.number} reversed for fraud, customer owes {cost};"
        f" plan terminated ({', '.join(ended.payload.reason_codes)})"
    )
    if case.spec.recall is not None:
        case.recall = await wait_one(
            world, ShipmentRecallConcluded, lambda e: e.payload.case_id == case.case_id
        )
    await world.offsets.wait_caught_up("claims", t.COVERAGE_EVENTS, timeout=STEP_TIMEOUT)


async def ag_run(world: World, each: AgJourney, gate: asyncio.Semaphore) -> None:
    async with gate:
        try:
            await ag_journey(world.upstream, world.events, world.offsets, each)
        except TimeoutError as error:
            each.problems.append(f"stalled: {error}")


async def journey(world: World, device: Device, gate: asyncio.Semaphore) -> None:
    async with gate:
        try:
            await asyncio.sleep(world.rng.uniform(0, 0.3))  # arrivals are not in lockstep
            await activate(world, device)
            for number, spec in enumerate(device.spec.claims, start=1):
                await file_claim(world, device, number, spec)
                if device.spec.fraud_after_claim == number:
                    await review_fraud(world, device, device.cases[-1])
        except TimeoutError as error:
            device.problems.append(f"stalled: {error}")
        except Exception as error:  # one broken journey must not hide the others' results
            device.problems.append(f"failed: {type(error).__name__}: {error}")


# --------------------------------------------------------------------------------------------
# Invalid messages: the dead-letter topics at work
# --------------------------------------------------------------------------------------------


def invalid_messages() -> list[tuple[t.Topic, str, bytes, str]]:
    """(topic, key, bytes, what it is) for messages no contract accepts."""
    payment = f.payment("CASE-INVALID-FLOAT", Money.of("239.00", "USD"))
    as_json = json.loads(payment.model_dump_json())
    as_json["payload"]["amount"]["amount"] = 239.0  # M1: a float has no place in money
    return [
        (t.PLAN_ORDERS, "GARBAGE-ORDER", b"\x00\xff not json \xfe", "garbage bytes"),
        (t.REPAIR_ASSESSMENTS, "GARBAGE-CASE", b'{"event_type": "repair.assess', "cut-off JSON"),
        (t.PAYMENT_SETTLEMENTS, "CASE-INVALID-FLOAT", json.dumps(as_json).encode(), "float money"),
        (t.DEVICE_ACTIVATIONS, "OVERSIZED", b"x" * (MAX_EVENT_BYTES + 1024), "oversized event"),
    ]


async def send_invalid(world: World) -> list[tuple[t.Topic, str, str]]:
    sent = []
    for topic, key, value, what in invalid_messages():
        await world.upstream.send_raw(topic.name, key, value)
        sent.append((topic, key, what))
    return sent


async def collect_dead_letters(
    world: World, sent: list[tuple[t.Topic, str, str]], timeout: float
) -> list[str]:
    """Wait for each invalid message's dead letter; return what is missing."""
    missing = []
    for topic, key, what in sent:

        def is_it(letter: DeadLetter, topic: t.Topic = topic, key: str = key) -> bool:
            return letter.topic == topic.dead_letter and letter.key == key.encode()

        try:
            await world.events.wait_for_dead_letter(is_it, timeout=timeout)
        except TimeoutError:
            missing.append(f"no dead letter for the {what} sent to {topic.name}")
    return missing


# --------------------------------------------------------------------------------------------
# The summary
# --------------------------------------------------------------------------------------------


def plan_name(sku: str) -> str:
    return consumer_catalogue().plan(sku).name.removeprefix("Care Refresh ")


def check(case: Case) -> str | None:
    """What went wrong with this case, if anything."""
    decided = case.decided
    if decided is None:
        return "no decision"
    got = decided.payload
    if got.outcome is not case.spec.outcome:
        return f"expected {case.spec.outcome.value}, got {got.outcome.value} {got.reason_codes}"
    if case.spec.outcome is REFUSED and tuple(got.reason_codes) != case.spec.reasons:
        return f"expected reasons {list(case.spec.reasons)}, got {got.reason_codes}"
    if case.spec.express_basic and got.outcome is REFUSED and case.refund is None:
        return "the express basic fee paid first was not refunded"
    if got.outcome is REPLACED:
        if case.refused_by_ledger is not None:
            return f"approved but the ledger refused: {case.refused_by_ledger}"
        if case.spec.recall is not None:
            return recall_problem(case)
        if case.new_sn is None:
            return "approved but no replacement reached the customer"
        if case.spec.express_premium and not (case.pre_authorisation or "").endswith("released"):
            return f"express pre-authorisation not released: {case.pre_authorisation}"
        charges = case.shipment.payload.shipping_charges if case.shipment else None
        abroad = case.customer_region != case.device.spec.region
        expected = "billed_on_delivery" if case.spec.bill_shipping_on_delivery else "paid"
        if abroad != (charges is not None) or (charges and charges.settlement != expected):
            return f"shipping and customs not as F1 says: {charges}"
    return None


def recall_problem(case: Case) -> str | None:
    """C10: the recall ended as the warehouse answered, and no unit inherited the plan."""
    if case.recall is None:
        return "fraud found, but the recall of its unit did not end"
    if case.recall.payload.outcome is not case.spec.recall:
        return f"recall expected {case.spec.recall}, got {case.recall.payload.outcome}"
    if case.new_sn is not None:
        return "a recalled unit inherited the plan"
    return None


def recall_text(recall: ShipmentRecallConcluded) -> str:
    if recall.payload.outcome is RecallOutcome.CANCELLED:
        return "recalled after fraud: cancelled by the warehouse"
    return (
        f"recalled after fraud: already dispatched as {recall.payload.new_sn}, customer owes"
        f" {recall.payload.customer_owes}, no inheritance"
    )


def case_line(case: Case) -> str:
    device = case.device
    where = device.spec.region
    if case.customer_region != device.spec.region:
        where += f">{case.customer_region}"
    head = (
        f"{device.label} #{case.number} {device.spec.model:<16} {plan_name(device.spec.sku):<6}"
        f" {where:<5} {case.spec.cause.value:<20}"
    )
    left = (
        f"left {case.replacements_left} (flyaway {case.flyaways_left})"
        if case.replacements_left is not None
        else "no plan"
    )
    if case.decided is None:
        return f"{head} NO DECISION"
    got = case.decided.payload
    if got.outcome is ClaimOutcome.REFUSED:
        body = f"REFUSED   {', '.join(got.reason_codes):<32} {left}"
        if case.refund:
            body += f"; express basic fee refunded {case.refund.payload.amount}"
    elif got.outcome is ClaimOutcome.WARRANTY_REPAIR:
        body = f"WARRANTY  {'repair under warranty (X4)':<32} {left}"
    elif got.outcome is ClaimOutcome.PAID_REPAIR_CHOSEN:
        body = f"PAID      {'customer chose a paid repair (C5)':<32} {left}"
    else:
        fee = f"{got.fee} ({got.fee_schedule})" if got.fee else "no fee"
        body = f"APPROVED  {fee:<32}"
        if case.refused_by_ledger:
            body += f" ledger refused: {', '.join(case.refused_by_ledger)}"
        elif case.recall:
            body += " " + recall_text(case.recall)
        elif case.new_sn:
            charges = case.shipment.payload.shipping_charges if case.shipment else None
            shipping = (
                f", shipping {charges.shipping} + customs {charges.customs}"
                f" {charges.settlement.replace('_', ' ')}"
                if charges
                else ""
            )
            express = f", express: {case.pre_authorisation}" if case.pre_authorisation else ""
            body += f" shipped -> {case.new_sn}{shipping}{express}; {left}"
            if case.exhausted:
                body += ", plan exhausted"
        else:
            body += " not shipped"
    problem = check(case)
    return f"{head} {body}" + (f"   <-- {problem}" if problem else "")


def summary(
    world: World,
    dead_letter_problems: list[str],
    elapsed: float,
    timed_out: bool,
    bordereaux: tuple[list[str], list[str]],
) -> tuple[str, list[str]]:
    lines: list[str] = []
    problems: list[str] = []
    cases = [case for device in world.devices for case in device.cases]
    lines.append("")
    lines.append("Cases (device #claim, model, plan, plan region>customer region, cause: outcome)")
    for case in cases:
        lines.append("  " + case_line(case))
        if problem := check(case):
            problems.append(f"{case.case_id}: {problem}")

    lines.extend(ag_lines(world.ag))
    problems.extend(
        f"{each.spec.label}: {problem}" for each in world.ag for problem in each.problems
    )
    bordereau_text, bordereau_problems = bordereaux
    lines.extend(bordereau_text)
    problems.extend(bordereau_problems)
    expiry, expiry_problems = expiry_lines(world.events, world.expiring)
    lines.extend(expiry)
    problems.extend(expiry_problems)
    lines.append("")
    lines.append("Activations, renewals and reviews (the unusual ones)")
    at_once = 0
    for device in world.devices:
        expected = device.spec.expected_activation
        if not device.activation.startswith(expected):
            problems.append(f"{device.label}: expected {expected}, got {device.activation}")
        elif expected == "pending" and device.plan_id is None:
            problems.append(f"{device.label}: approved video but no plan: {device.activation}")
        if device.spec.fraud_after_claim is not None and device.review is None:
            problems.append(f"{device.label}: the fraud review did not end the plan")
        renewal = device.spec.renewal_sku
        if renewal is not None:
            wanted = "renewal:" if consumer_catalogue().plan(renewal).renewal else "refused"
            if device.renewal is None or wanted not in device.renewal:
                problems.append(f"{device.label}: expected renewal {wanted} got {device.renewal}")
        if expected == "activated" and device.activation.startswith("activated"):
            at_once += 1
            if renewal is None and device.review is None:
                continue
        lines.append(
            f"  {device.label} {device.spec.model:<16} {plan_name(device.spec.sku):<6}"
            f" {device.activation}"
            + (f"; {device.renewal}" if device.renewal else "")
            + (f"; {device.review}" if device.review else "")
        )
    lines.append(f"  {at_once} devices bound at once, inside the 48 h window (A1)")
    for device in world.devices:
        problems.extend(f"{device.label}: {problem}" for problem in device.problems)

    decided = [case.decided.payload for case in cases if case.decided]
    approved = [d for d in decided if d.outcome is ClaimOutcome.REPLACEMENT]
    warranty = [d for d in decided if d.outcome is ClaimOutcome.WARRANTY_REPAIR]
    paid_repairs = [d for d in decided if d.outcome is ClaimOutcome.PAID_REPAIR_CHOSEN]
    refused_reasons = Counter(
        reason for d in decided if d.outcome is ClaimOutcome.REFUSED for reason in d.reason_codes
    )
    refused_count = sum(1 for d in decided if d.outcome is ClaimOutcome.REFUSED)
    shipped = [case for case in cases if case.new_sn]
    charged = [
        charges
        for case in shipped
        if case.shipment and (charges := case.shipment.payload.shipping_charges)
    ]
    shipping_totals: dict[str, Decimal] = {}
    for charges in charged:
        for part in (charges.shipping, charges.customs):
            key = f"{charges.settlement.replace('_', ' ')}"
            shipping_totals[key] = shipping_totals.get(key, Decimal(0)) + part.amount
    currency = charged[0].shipping.currency if charged else ""
    shipping_text = ", ".join(
        f"{amount:.2f} {currency} {how}" for how, amount in sorted(shipping_totals.items())
    )
    fees: dict[str, Decimal] = {}
    for d in approved:
        if d.fee is not None:
            fees[d.fee.currency] = fees.get(d.fee.currency, Decimal(0)) + d.fee.amount
    fee_text = ", ".join(f"{amount:.2f} {currency}" for currency, amount in fees.items())
    exhausted = {str(e.payload.plan_id) for e in world.events.of(PlanExhausted)}
    replaced = world.events.of(DeviceReplaced)
    dead = world.events.dead_letters

    lines.append("")
    lines.append("Dead letters (topic, the service that refused it, key, why)")
    for letter in dead:
        reason = " ".join(letter.headers.get("dlq-reason", "").split())
        lines.append(
            f"  {letter.topic:<28} {letter.headers.get('dlq-service', '?'):<11}"
            f" key={(letter.key or b'').decode(errors='replace'):<19}"
            f" {letter.headers.get('dlq-error-type', '?')}: {reason[:60]}"
        )
    problems.extend(dead_letter_problems)

    lines.append("")
    lines.append("Totals")
    lines.append(f"  devices              {len(world.devices)}")
    lines.append(f"  cases                {len(cases)} ({len(decided)} decided)")
    ag_final = [each.case for each in world.ag if each.case]
    lines.append(
        f"  agricultural cases   {len(world.ag)} ({len(ag_final)} finalised,"
        f" {sum(1 for c in ag_final if c.payload.outcome is ClaimOutcome.REPAIR)} repairs"
        " paid from the quotas)"
    )
    lines.append(
        f"  approved             {len(approved)} replacements"
        f" ({sum(1 for d in approved if d.flyaway)} flyaways),"
        f" {len(warranty)} warranty repair, {len(paid_repairs)} paid repair chosen;"
        f" fees {fee_text or '-'}"
    )
    lines.append(f"  refused              {refused_count}")
    for reason, count in sorted(refused_reasons.items(), key=lambda item: (-item[1], item[0])):
        lines.append(f"    {reason:<34} {count}")
    lines.append(f"  replacements shipped {len(shipped)} ({len(replaced)} DeviceReplaced events)")
    lines.append(
        f"  shipping and customs {len(charged)} replacements outside the plan's region (F1):"
        f" {shipping_text or '-'}; {len(shipped) - len(charged)} shipped free in the plan's"
        " region"
    )
    lines.append(f"  plans exhausted      {len(exhausted)}")
    terminated = {str(e.payload.plan_id) for e in world.events.of(PlanTerminated)}
    lines.append(f"  plans terminated     {len(terminated)} (fraud found on review, C10)")
    recalled = [case.recall.payload for case in cases if case.recall]
    owed = [r for r in recalled if r.outcome is RecallOutcome.ALREADY_DISPATCHED]
    lines.append(
        f"  units recalled       {len(recalled)} ({len(recalled) - len(owed)} cancelled,"
        f" {len(owed)} already dispatched and owed:"
        f" {', '.join(str(r.customer_owes) for r in owed) or '-'}; none inherited the plan)"
    )
    lines.append(
        f"  dead letters         {len(dead)} ({len(invalid_messages())} invalid messages,"
        " one dead letter per service that reads the topic)"
    )
    lines.append(
        f"  elapsed              {elapsed:.1f} s (the stream, from first order to last answer)"
    )
    if timed_out:
        problems.append(f"the stream did not finish within {DEMO_TIMEOUT:.0f} s")
    return "\n".join(lines), problems


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


def stop(platform: Platform) -> None:
    """SIGTERM every service and wait for its graceful shutdown (SIGKILL if it hangs)."""
    for key, process in platform.processes.items():
        try:
            code = process.terminate(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            code = None
            print(f"  {key}: did not stop within 40 s, killed")
        if code not in (None, 0):
            print(f"  {key}: exited with {code} (see {process.log_path})")


async def settle(offsets: Offsets, timeout: float = 20.0) -> int:
    """Until no service has a backlog left over from an earlier run; returns what was left."""
    deadline = time.monotonic() + timeout
    while True:
        backlog = 0
        for (_, topic_name), group in offsets.groups.items():
            backlog += await offsets.lag(group, t.BY_NAME[topic_name])
        if backlog == 0 or time.monotonic() > deadline:
            return backlog
        await asyncio.sleep(0.2)


async def feed(world: World) -> tuple[list[str], bool]:
    """The stream itself; returns the dead-letter problems and whether it timed out."""
    gate = asyncio.Semaphore(CONCURRENCY)
    actors = [
        asyncio.create_task(on_each(world.events, DeductionApplied, payments(world))),
        asyncio.create_task(on_each(world.events, ShippingChargesQuoted, shipping_payments(world))),
        asyncio.create_task(on_each(world.events, ShipmentRequested, warehouse(world))),
        asyncio.create_task(on_each(world.events, ShipmentCancellationRequested, recalls(world))),
        asyncio.create_task(on_each(world.events, PreAuthorisationRequested, card_holds(world))),
        asyncio.create_task(on_each(world.events, RefundRequested, refunds(world))),
        asyncio.create_task(
            on_each(world.events, PreAuthorisationReleaseRequested, card_holds(world))
        ),
        asyncio.create_task(
            on_each(world.events, PreAuthorisationCaptureRequested, card_holds(world))
        ),
    ]
    timed_out = False
    dead_letter_problems: list[str] = []
    try:
        async with asyncio.timeout(DEMO_TIMEOUT):
            sent = await send_invalid(world)
            await asyncio.gather(
                *(journey(world, device, gate) for device in world.devices),
                *(ag_run(world, each, gate) for each in world.ag),
                *(expire(world.upstream, world.events, plan) for plan in world.expiring),
            )
            dead_letter_problems = await collect_dead_letters(world, sent, timeout=STEP_TIMEOUT)
    except TimeoutError:
        timed_out = True
    finally:
        for actor in actors:
            actor.cancel()
        await asyncio.gather(*actors, return_exceptions=True)
    return dead_letter_problems, timed_out


def fresh_log_dir() -> None:
    """Each run starts with empty logs (a service is `started` when its own log says so)."""
    if LOG_DIR.exists():
        shutil.rmtree(LOG_DIR)
    LOG_DIR.mkdir(parents=True)


def demo_platform(settings: ServiceSettings, credentials: dict[str, str]) -> Platform:
    """The services where the settings say: this checkout's stack, its lookup's and its
    dashboard's HTTP ports."""
    platform = Platform(
        settings.kafka_bootstrap_servers,
        settings.database_url,
        LOG_DIR,
        lookup_http_port=settings.lookup_http_port,
        operations_http_port=settings.operations_http_port,
        kafka_credentials=credentials,
        # The demo's unknown serials and codes wait this long for what never comes, then get
        # their refusals within the run.
        waiting_grace_seconds=DEMO_WAITING_GRACE_SECONDS,
    )
    if settings.operations_token:  # else the demo makes one up, and prints it
        platform.operations_token = settings.operations_token.get_secret_value()
    return platform


async def run() -> int:
    credentials = kafka_credentials()
    act_as_administrator(credentials)
    settings = ServiceSettings()
    bootstrap = settings.kafka_bootstrap_servers
    server = urlsplit(settings.database_url).netloc.rpartition("@")[2]  # no password on screen
    started = time.monotonic()
    print(f"careplan demo: Kafka {bootstrap}, PostgreSQL {server}")
    await ensure_topics(bootstrap)
    print("  topics ready")
    platform = demo_platform(settings, credentials)
    await platform.reset_databases()
    print(f"  databases reset: {', '.join(platform.database(s) for s in SERVICES)}")
    fresh_log_dir()
    problems: list[str] = []
    try:
        await platform.start()
        print(f"  services started as separate processes, logs in {LOG_DIR}/")
        print(
            f"  dashboard: {platform.dashboard_url}/ (operator token {platform.operations_token});"
            f" metrics on 127.0.0.1:{platform.metrics_port_base + 1}-"
            f"{platform.metrics_port_base + len(SERVICES)}"
        )
        async with Offsets(bootstrap) as offsets:
            backlog = await settle(offsets)
            if backlog:
                print(f"  note: {backlog} messages from an earlier run are still being consumed")
            # The systems around the platform are its outside principals: each writes its own
            # topics, and the dashboard's watches every outcome and dead letter.
            watching = options_for("dashboard", credentials["dashboard"]) if credentials else None
            async with (
                Integrators(bootstrap, credentials) as upstream,
                EventLog(bootstrap, OWNED, list(t.ALL_TOPICS), security=watching) as events,
            ):
                rng = random.Random()
                world = World(upstream, events, offsets, rng)
                for index, spec in enumerate(roster(), start=1):
                    world.devices.append(
                        Device(f"D{index:02}", spec, f.new_serial(rng), f.new_plan_code(rng))
                    )
                world.ag = [AgJourney(spec) for spec in ag_roster()]
                world.expiring = expiring_roster()
                total_claims = sum(len(d.spec.claims) for d in world.devices)
                print(
                    f"  feeding {len(world.devices)} consumer devices, {total_claims} assessments,"
                    f" {len(world.ag)} AG drones, {len(world.expiring)} plans bought a year ago"
                    f" ({CONCURRENCY} journeys at a time) plus {len(invalid_messages())}"
                    " invalid messages ..."
                )
                fed_at = time.monotonic()
                dead_letter_problems, timed_out = await feed(world)
                elapsed = time.monotonic() - fed_at
                bordereaux = await bordereau_lines(platform)
                text, problems = summary(
                    world, dead_letter_problems, elapsed, timed_out, bordereaux
                )
        print(text)
        if sys.stdin.isatty():
            await asyncio.to_thread(input, "\nthe dashboard stays up: Enter stops the services ")
    finally:
        print("\nstopping the services (SIGTERM) ...")
        await asyncio.to_thread(stop, platform)
    print(f"done in {time.monotonic() - started:.1f} s")
    if problems:
        print(f"\n{len(problems)} thing(s) did not happen as expected:")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    return 0


def main() -> None:
    try:
        code = asyncio.run(run())
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
