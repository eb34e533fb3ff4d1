"""What an agricultural plan term carries beside its dates (P4-P6, C7, A5)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from contracts.envelope import Payload
from contracts.money import Money, Rate


class PlanFamily(StrEnum):
    """D2: the model decides the family, and the family the rules."""

    CONSUMER = "consumer"
    AGRICULTURAL = "agricultural"


class AgriculturalTerm(Payload):
    """One AG term's balances and terms of cover: two quotas that never mix (P5)."""

    plan_year: int = Field(ge=1, le=3, description="P4: first year, second- or third-year renewal")
    base_quota: Money = Field(description="P5: insurer-funded, for body repairs")
    consumables_quota: Money = Field(description="P5: manufacturer-funded, consumables list")
    deductible_rate: Rate = Field(description="C7: share of a base-quota line the customer pays")
    insurer: str = Field(description="L4, C8: who underwrites the base quota and liability")
    liability_cover: bool = Field(
        default=False, description="P6: third-party liability gifted with a new-drone bundle"
    )
