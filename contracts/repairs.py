"""The repair system's word that a repair is done (F5): topic `repair.completions.v1`, keyed by
case id."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, Field

from contracts.envelope import Envelope, Payload
from contracts.serials import SerialNumber


class ReturnMethod(StrEnum):
    """F5: how the repaired unit goes back to the customer."""

    SHIP = "ship"  # the manufacturer ships it back
    COLLECT = "collect"  # the customer collects it at the service point


class RepairCompletedPayload(Payload):
    case_id: str = Field(min_length=1, max_length=64)
    sn: SerialNumber = Field(description="The repaired unit")
    service_point_id: str = Field(min_length=1, max_length=64)
    return_method: ReturnMethod
    completed_at: AwareDatetime


class RepairCompleted(Envelope):
    """A repair is done (F5): the repaired unit goes back to the customer; the replaced parts
    stay with the manufacturer as proof of service (F2)."""

    event_type: Literal["repair.repair-completed"] = "repair.repair-completed"
    payload: RepairCompletedPayload
