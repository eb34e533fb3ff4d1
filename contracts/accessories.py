"""AG accessories (D3, G1-G4): an accessory activated on a drone (topic
`accessories.activations.v1`, keyed by the drone's SN)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, Field

from contracts.envelope import Envelope, Payload
from contracts.serials import SerialNumber


class AccessoryType(StrEnum):
    """D3: the systems an AG drone can carry; which ones a model supports is catalogue data."""

    SPRAY = "spray"  # 喷洒系统
    SPREADING = "spreading"  # 播撒系统
    LIFTING = "lifting"  # 吊运系统


class AccessoryActivatedPayload(Payload):
    accessory_sn: SerialNumber = Field(description="D3: the accessory's own SN")
    accessory_type: AccessoryType
    drone_sn: SerialNumber = Field(description="The drone the accessory was installed on")
    activated_at: AwareDatetime


class AccessoryActivated(Envelope):
    """An accessory installed on a drone was activated there (G1): activation decides whether it
    is associated with that drone."""

    event_type: Literal["accessories.accessory-activated"] = "accessories.accessory-activated"
    payload: AccessoryActivatedPayload
