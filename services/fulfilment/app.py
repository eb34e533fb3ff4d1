"""The fulfilment service: replacement units shipped once paid, and the SN they carry; the
consumables packs of designated AG renewals; repaired units sent back."""

from __future__ import annotations

from pathlib import Path

from contracts import topics
from services.fulfilment import handlers
from services.fulfilment.waiting import WAITS_FOR
from shared.runtime import Service

service = Service(
    "fulfilment",
    migrations=Path(__file__).parent / "migrations",
    owns=(topics.FULFILMENT_EVENTS,),
    description=(
        "Ships replacement units once the fee is paid (F1) and announces old SN -> new SN;"
        " recalls a unit requested when fraud ends its plan (C10); refunds a fee paid on a case"
        " refused or paid twice;"
        " schedules the consumables pack of a designated AG renewal (F4) and refuses a change of"
        " its address; sends a repaired unit back (F5)."
    ),
    waits_for=WAITS_FOR,
)
service.consumes(topics.COVERAGE_EVENTS)(handlers.on_coverage_event)
service.consumes(topics.CLAIMS_EVENTS)(handlers.refund_refused_claims)
service.consumes(topics.PAYMENT_SETTLEMENTS)(handlers.on_payment_event)
service.consumes(topics.WAREHOUSE_DISPATCHES)(handlers.on_warehouse_event)
service.consumes(topics.PLAN_ORDERS)(handlers.record_pack_orders)
service.consumes(topics.ACTIVATION_EVENTS)(handlers.on_activation_event)
service.consumes(topics.REPAIR_COMPLETIONS)(handlers.return_repaired_units)
service.consumes(topics.PACK_ADDRESS_CHANGES)(handlers.refuse_pack_address_changes)
