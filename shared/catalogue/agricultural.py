"""The agricultural plan catalogue (P4-P6, C7, F4, G2, L1-L3), loaded from agricultural.toml."""

from __future__ import annotations

import tomllib
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.money import Money

AccessoryType = Literal["spray", "spreading", "lifting"]
LiabilityGroup = Literal["large", "standard"]


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Insurer(_Data):
    name: str


class AgriculturalModel(_Data):
    insurer: str
    liability_group: LiabilityGroup
    accessories: tuple[AccessoryType, ...]
    base_quota: tuple[Decimal, Decimal, Decimal]
    consumables_quota: tuple[Decimal, Decimal, Decimal]
    deductible: tuple[Decimal, Decimal, Decimal]


class AgriculturalPlanSku(_Data):
    """P4: a plan commerce sells: the first year, or the second- or third-year renewal."""

    name: str
    plan_year: int = Field(ge=1, le=3)


class WorkingCalendar(_Data):
    """F4: mainland China's working days (Asia/Shanghai dates).

    Monday to Friday, minus the State Council's public holidays, plus the weekend days it
    declares working (调休), for the days from `valid_from` to `valid_until`. A day outside
    that range is a working day if it is a weekday: its holidays are not known.
    """

    valid_from: date
    valid_until: date
    holidays: frozenset[date]
    working_weekends: frozenset[date]

    @model_validator(mode="after")
    def _within_validity(self) -> WorkingCalendar:
        if self.valid_until < self.valid_from:
            raise ValueError(f"the calendar ends ({self.valid_until}) before it starts")
        for day in self.holidays | self.working_weekends:
            if not self.covers(day):
                raise ValueError(f"{day} is outside the calendar's validity")
        for day in self.working_weekends:
            if day.weekday() < 5:
                raise ValueError(f"{day} is listed as a working weekend but is a weekday")
        return self

    def covers(self, day: date) -> bool:
        return self.valid_from <= day <= self.valid_until

    def is_working_day(self, day: date) -> bool:
        if day in self.working_weekends:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5


class Pack(_Data):
    model: str
    plan_year: int = Field(ge=1, le=3)
    items: tuple[str, ...]


class MedicalSublimit(_Data):
    third_party: Decimal
    operator: Decimal


class Liability(_Data):
    region: str
    total_limit: Decimal
    property_limit: Decimal
    injury_limit: Decimal
    operator_limit: Decimal
    property_deductible: Decimal
    medical_deductible: Decimal
    medical_sublimit: dict[LiabilityGroup, MedicalSublimit]


class UnknownAgriculturalModelError(LookupError):
    pass


class UnknownAgriculturalSkuError(LookupError):
    pass


class AgriculturalCatalogue(_Data):
    currency: str
    renewal_window_days: int
    term_months: int
    day_boundary_zone: str
    pack_due_working_days: int
    consumables_parts: frozenset[str]
    uncovered_part_classes: frozenset[str]
    plans: dict[str, AgriculturalPlanSku]
    working_calendar: WorkingCalendar
    insurers: dict[str, Insurer]
    models: dict[str, AgriculturalModel]
    packs: tuple[Pack, ...]
    liability: Liability

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.day_boundary_zone)

    def model(self, code: str) -> AgriculturalModel:
        try:
            return self.models[code]
        except KeyError:
            raise UnknownAgriculturalModelError(f"unknown agricultural model {code!r}") from None

    def plan(self, sku: str) -> AgriculturalPlanSku:
        try:
            return self.plans[sku]
        except KeyError:
            raise UnknownAgriculturalSkuError(f"unknown agricultural plan SKU {sku!r}") from None

    def money(self, amount: Decimal) -> Money:
        return Money(amount=amount, currency=self.currency)

    def base_quota(self, model: str, plan_year: int) -> Money:
        """P5: the insurer-funded balance for body repairs in that plan year."""
        return self.money(self.model(model).base_quota[plan_year - 1])

    def consumables_quota(self, model: str, plan_year: int) -> Money:
        """P5: the manufacturer-funded balance for consumables-list parts."""
        return self.money(self.model(model).consumables_quota[plan_year - 1])

    def deductible_rate(self, model: str, plan_year: int) -> Decimal:
        """C7: 5% in the second year for some models, 10% in the third year for others."""
        return self.model(model).deductible[plan_year - 1]

    def pack(self, model: str, plan_year: int) -> Pack | None:
        """F4: the consumables pack a designated renewal brings, if any."""
        return next((p for p in self.packs if p.model == model and p.plan_year == plan_year), None)


@cache
def agricultural_catalogue() -> AgriculturalCatalogue:
    with (Path(__file__).parent / "agricultural.toml").open("rb") as source:
        return AgriculturalCatalogue.model_validate(tomllib.load(source))


def is_agricultural(model: str) -> bool:
    """D2: the model decides the plan family."""
    return model in agricultural_catalogue().models
