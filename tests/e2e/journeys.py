"""Customer journeys through the running platform, driven only through Kafka topics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families

from contracts import topics as t
from contracts.activation import ActivationRefused, PlanActivated, PlanRenewed
from contracts.claims import ClaimDecided
from contracts.coverage import CoverageOpened, DeductionApplied, PlanInherited
from contracts.envelope import Envelope
from contracts.fulfilment import ShipmentRequested, ShippingChargesQuoted
from contracts.upstream import DeliveryAddress, IncidentCause, PlanOrderPlaced
from services.lookup.answer import LookupAnswer
from shared.metrics import metrics_port
from simulation import factories as f
from simulation.kafka_io import EventLog, Upstream
from simulation.processes import Platform


async def query(platform: Platform, service: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(platform.dsn(service))
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 60) -> None:
    """Poll a real condition (a row, an offset) until it holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"still not true after {timeout} s: {what}")
        await asyncio.sleep(0.1)


@dataclass
class Device:
    sn: str
    model: str
    plan_id: str


async def request_activation(
    platform: Platform, upstream: Upstream, sku: str, model: str, at: datetime | None = None
) -> str:
    """Sell a plan code, activate the device and, once activation knows both, ask to bind the
    code within the window (A1) at `at`. Returns the device's SN."""
    at = at or f.now()
    sn, code = f.new_serial(), f.new_plan_code()
    await upstream.send(t.PLAN_ORDERS, code, f.plan_order(code, sku, model, at=at))
    await upstream.send(
        t.DEVICE_ACTIVATIONS, sn, f.device_activation(sn, model, at - timedelta(hours=1))
    )

    async def activation_knows_both() -> bool:
        rows = await query(
            platform,
            "activation",
            "SELECT (SELECT count(*) FROM devices WHERE sn = $1)"
            " + (SELECT count(*) FROM plan_codes WHERE plan_code = $2) AS known",
            sn,
            code,
        )
        return bool(rows[0]["known"] == 2)

    await eventually(activation_knows_both, f"activation recorded {sn} and {code}")
    await upstream.send(t.ACTIVATION_REQUESTS, sn, f.activation_request(code, sn, at=at))
    return sn


async def activate_plan(
    platform: Platform,
    upstream: Upstream,
    events: EventLog,
    sku: str,
    model: str,
    at: datetime | None = None,
) -> Device:
    """A plan bound (A1) and opened by the ledger, as claims sees it."""
    sn = await request_activation(platform, upstream, sku, model, at)
    (opened,) = await events.wait_for(CoverageOpened, lambda e: e.payload.sn == sn)
    await claims_sees_plan_on(platform, sn)
    return Device(sn, model, str(opened.payload.plan_id))


async def claims_sees_plan_on(platform: Platform, sn: str) -> None:
    async def projected() -> bool:
        return bool(await query(platform, "claims", "SELECT 1 FROM plan_view WHERE sn = $1", sn))

    await eventually(projected, f"claims' read model has a plan on {sn}")


async def claim(
    upstream: Upstream,
    events: EventLog,
    device: Device,
    cause: IncidentCause = IncidentCause.COLLISION,
    **assessment: Any,
) -> ClaimDecided:
    report = f.assessment(device.sn, device.model, cause, **assessment)
    await upstream.send(t.REPAIR_ASSESSMENTS, device.sn, report)
    (decided,) = await events.wait_for(
        ClaimDecided, lambda e: e.payload.case_id == report.payload.case_id
    )
    return decided


async def replace_unit(
    platform: Platform, upstream: Upstream, events: EventLog, device: Device, decided: ClaimDecided
) -> str:
    """Pay the fee (and outside the plan's region its shipping and customs), let the warehouse
    dispatch, wait for the plan to move (F1, F3)."""
    case_id = decided.payload.case_id
    (applied,) = await events.wait_for(DeductionApplied, lambda e: e.payload.case_id == case_id)
    await upstream.send(t.PAYMENT_SETTLEMENTS, case_id, f.payment(case_id, applied.payload.fee))
    if applied.payload.customer_region != applied.payload.plan_region:
        (quote,) = await events.wait_for(
            ShippingChargesQuoted, lambda e: e.payload.case_id == case_id
        )
        charges = quote.payload.shipping + quote.payload.customs
        await upstream.send(t.PAYMENT_SETTLEMENTS, case_id, f.payment(case_id, charges))
    (shipment,) = await events.wait_for(ShipmentRequested, lambda e: e.payload.case_id == case_id)
    new_sn = f.new_serial()
    await upstream.send(
        t.WAREHOUSE_DISPATCHES,
        str(shipment.payload.shipment_id),
        f.dispatch(shipment.payload.shipment_id, new_sn, case_id),
    )
    await events.wait_for(PlanInherited, lambda e: e.payload.case_id == case_id)
    await claims_sees_plan_on(platform, new_sn)
    device.sn = new_sn
    return new_sn


async def renew(
    platform: Platform, upstream: Upstream, events: EventLog, device: Device, at: datetime
) -> PlanRenewed | ActivationRefused:
    """Buy a 1-Year renewal for the device and bind it at `at` (A3)."""
    code = f.new_plan_code()
    await upstream.send(t.PLAN_ORDERS, code, f.plan_order(code, "care-refresh-1y", device.model))

    async def sold() -> bool:
        return bool(
            await query(
                platform, "activation", "SELECT 1 FROM plan_codes WHERE plan_code = $1", code
            )
        )

    await eventually(sold, f"activation recorded the renewal code {code}")
    request = f.activation_request(code, device.sn, at=at)
    await upstream.send(t.ACTIVATION_REQUESTS, device.sn, request)
    (answer,) = await events.wait_for(
        Envelope,
        lambda e: isinstance(e, PlanRenewed | ActivationRefused) and e.payload.plan_code == code,
    )
    assert isinstance(answer, PlanRenewed | ActivationRefused)
    return answer


# The agricultural plan (P4, A4, G1, F4) ---------------------------------------------------------


async def sell(platform: Platform, upstream: Upstream, order: PlanOrderPlaced) -> None:
    """Send a plan order and wait until activation has recorded the code as sold."""
    code = order.payload.plan_code
    await upstream.send(t.PLAN_ORDERS, code, order)

    async def sold() -> bool:
        return bool(
            await query(
                platform, "activation", "SELECT 1 FROM plan_codes WHERE plan_code = $1", code
            )
        )

    await eventually(sold, f"activation recorded the plan code {code}")


async def device_known(platform: Platform, upstream: Upstream, sn: str, model: str) -> None:
    """The devices platform reports the drone's first activation; wait until activation has it."""
    await upstream.send(
        t.DEVICE_ACTIVATIONS, sn, f.device_activation(sn, model, f.now() - timedelta(days=1))
    )

    async def known() -> bool:
        return bool(await query(platform, "activation", "SELECT 1 FROM devices WHERE sn = $1", sn))

    await eventually(known, f"activation recorded the device {sn}")


async def bind(
    upstream: Upstream,
    events: EventLog,
    code: str,
    sn: str,
    at: datetime | None = None,
    **extra: Any,
) -> PlanActivated | PlanRenewed | ActivationRefused:
    """Bind a sold code to a device and wait for activation's answer."""
    await upstream.send(t.ACTIVATION_REQUESTS, sn, f.activation_request(code, sn, at=at, **extra))
    (answer,) = await events.wait_for(
        Envelope,
        lambda e: (
            isinstance(e, PlanActivated | PlanRenewed | ActivationRefused)
            and e.payload.plan_code == code
        ),
    )
    assert isinstance(answer, PlanActivated | PlanRenewed | ActivationRefused)
    return answer


async def activate_ag_plan(
    platform: Platform,
    upstream: Upstream,
    events: EventLog,
    model: str,
    *,
    at: datetime | None = None,
    new_drone_bundle: bool = False,
) -> tuple[Device, PlanActivated]:
    """Sell (or gift with a new-drone bundle) a first-year AG plan and bind it at `at` (P4)."""
    at = at or f.now()
    sn, code = f.new_serial(), f.new_ag_plan_code()
    await device_known(platform, upstream, sn, model)
    await sell(
        platform,
        upstream,
        f.ag_plan_order(code, "ag-care-year-1", model, at=at, new_drone_bundle=new_drone_bundle),
    )
    activated = await bind(upstream, events, code, sn, at=at)
    assert isinstance(activated, PlanActivated), activated
    return Device(sn, model, str(activated.payload.plan_id)), activated


async def renew_ag(
    platform: Platform,
    upstream: Upstream,
    events: EventLog,
    device: Device,
    sku: str,
    *,
    purchased_at: datetime | None = None,
    address: DeliveryAddress | None = None,
    **extra: Any,
) -> PlanRenewed | ActivationRefused:
    """Buy an AG renewal for the device at `purchased_at` and bind it now (A4)."""
    code = f.new_ag_plan_code()
    order = f.ag_plan_order(code, sku, device.model, at=purchased_at, address=address)
    await sell(platform, upstream, order)
    answer = await bind(upstream, events, code, device.sn, **extra)
    assert isinstance(answer, PlanRenewed | ActivationRefused), answer
    return answer


# Metrics ----------------------------------------------------------------------------------------

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


# The lookup (X5) ----------------------------------------------------------------------------------


async def answer_when(
    platform: Platform, sn: str, ready: Callable[[LookupAnswer], bool], what: str
) -> LookupAnswer:
    """Poll GET /plans/by-sn/{sn} until the answer satisfies `ready`."""
    latest: list[LookupAnswer] = []
    async with httpx.AsyncClient(base_url=platform.lookup_url, timeout=5.0) as client:

        async def caught_up() -> bool:
            response = await client.get(f"/plans/by-sn/{sn}")
            if response.status_code != 200:
                return False
            latest[:] = [LookupAnswer.model_validate_json(response.content)]
            return ready(latest[0])

        try:
            await eventually(caught_up, f"the lookup of {sn} shows {what}", timeout=30)
        except TimeoutError as error:
            shown = latest[0].model_dump_json(indent=2) if latest else "no answer"
            raise TimeoutError(f"{error}; last answer: {shown}") from None
    return latest[0]
