"""The moments of a case an operator reads in the logs and counts in the metrics: a decision,
a deduction, a shipment. Drawn from what the outbox relay published, by event type, so that
every service is covered alike and its handlers stay free of logging."""

from __future__ import annotations

import json
from typing import Any

import structlog

from contracts.money import Money
from shared.metrics import DECISIONS, PACKS_BEYOND_CALENDAR

log = structlog.get_logger(__name__)

CLAIM_DECIDED = "claims.claim-decided"
PACK_BEYOND_CALENDAR = "fulfilment.consumables-pack-beyond-calendar"

# event type -> (the log line's name, the payload fields it shows)
_MILESTONES: dict[str, tuple[str, tuple[str, ...]]] = {
    CLAIM_DECIDED: ("claim_decided", ("outcome", "reason_codes", "fee", "family", "sn")),
    "coverage.deduction-applied": (
        "deduction_applied",
        ("fee", "replacements_left", "flyaways_left", "term_no"),
    ),
    "coverage.quota-deduction-applied": (
        "quota_deduction_applied",
        ("base_quota_left", "consumables_quota_left", "term_no"),
    ),
    "coverage.deduction-refused": ("deduction_refused", ("reason_codes",)),
    "fulfilment.shipment-requested": (
        "shipment_requested",
        ("shipment_id", "model", "ship_to_region", "customer_pays_shipping"),
    ),
    PACK_BEYOND_CALENDAR: (
        "consumables_pack_beyond_calendar",
        ("pack_id", "plan_code", "calendar_valid_until", "due_by"),
    ),
}


def log_milestone(service: str, event_type: str, payload: bytes) -> None:
    """One INFO line for a milestone event just published, and its count if it is a decision."""
    milestone = _MILESTONES.get(event_type)
    if milestone is None:
        return
    name, fields = milestone
    envelope: dict[str, Any] = json.loads(payload)
    body: dict[str, Any] = envelope.get("payload", {})
    facts = {field: _plain(body[field]) for field in fields if field in body}
    if event_type == "coverage.quota-deduction-applied" and "split" in body:
        split = body["split"]
        facts |= {
            part: _plain(split[part])
            for part in ("from_base_quota", "from_consumables_quota", "customer_share")
            if part in split
        }
    # F4: a due date counted past the calendar is a warning for whoever keeps the calendar.
    emit = log.warning if event_type == PACK_BEYOND_CALENDAR else log.info
    emit(
        name,
        event_id=envelope.get("event_id"),
        correlation_id=envelope.get("correlation_id"),
        case_id=body.get("case_id"),
        plan_id=body.get("plan_id"),
        **facts,
    )
    if event_type == PACK_BEYOND_CALENDAR:
        PACKS_BEYOND_CALENDAR.labels(service).inc()
    if event_type == CLAIM_DECIDED:
        for reason in body.get("reason_codes") or ["none"]:
            DECISIONS.labels(service, body.get("outcome", "unknown"), reason).inc()


def _plain(value: Any) -> Any:
    """Money as '199.00 USD', the way the rules write it."""
    if isinstance(value, dict) and set(value) == {"amount", "currency"}:
        return str(Money.model_validate(value))
    return value
