"""The fulfilment service: replacement units shipped once paid, and the SN they carry; the
consumables packs of designated AG renewals; repaired units sent back."""

from __future__ import annotations

from pathlib import Path

from contracts import topics
from services.fulfilment import handlers
from shared.messaging import each_event
from shared.runtime import Service

service = Service(
    "fulfilment",
    migrations=Path(__file__).parent / "migrations",
    owns=(topics.FULFILMENT_EVENTS,),
    description=(
        "Ships replacement units once the fee is paid (F1) and announces old SN -> new SN;"
        " schedules the consumables pack of a designated AG renewal (F4); sends a repaired unit"
        " back (F5)."
    ),
)
service.consumes(topics.COVERAGE_EVENTS)(each_event(handlers.on_coverage_event))
service.consumes(topics.PAYMENT_SETTLEMENTS)(each_event(handlers.on_payment_event))
service.consumes(topics.WAREHOUSE_DISPATCHES)(each_event(handlers.confirm_dispatch))
service.consumes(topics.PLAN_ORDERS)(each_event(handlers.record_pack_order))
service.consumes(topics.ACTIVATION_EVENTS)(each_event(handlers.on_activation_event))
service.consumes(topics.REPAIR_COMPLETIONS)(each_event(handlers.return_repaired_unit))
