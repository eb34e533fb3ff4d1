"""The consumer plan catalogue (P1-P3, X1, X2), loaded from data files in this folder."""

from __future__ import annotations

import tomllib
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from contracts.money import Money

ProductKind = Literal["aircraft", "gimbal", "handheld"]


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BindingWindows(_Data):
    aircraft_hours: int
    gimbal_hours: int
    handheld_hours: int
    after_invitation_hours: int

    def hours_for(self, kind: ProductKind) -> int:
        return {
            "aircraft": self.aircraft_hours,
            "gimbal": self.gimbal_hours,
            "handheld": self.handheld_hours,
        }[kind]


class PlanSku(_Data):
    name: str
    months: int
    replacements: int
    flyaways: int
    renewal: bool
    price_column: int | None = None  # P3: which of a model's prices; legacy plans have none


class DeviceModel(_Data):
    name: str
    kind: ProductKind
    flyaway_eligible: bool
    prices_pln: tuple[Decimal, Decimal]
    fee: Decimal
    value: Decimal
    flyaway_fee: Decimal | None = None


class FeeSchedule(_Data):
    currency: str
    effective_from: AwareDatetime
    escalation: tuple[Decimal, ...]


class Warranty(_Data):
    warranty_months: int  # the official warranty, from the device's first activation (X5, F3)


class ShippingPrice(_Data):
    shipping: Decimal
    customs: Decimal


class ShippingTable(_Data):
    """F1: shipping and customs by plan region, then ship-to region; `default` for the rest."""

    currency: str
    default: ShippingPrice
    routes: dict[str, dict[str, ShippingPrice]]


class UnknownCatalogueEntryError(LookupError):
    pass


class ConsumerCatalogue(_Data):
    binding_windows: BindingWindows
    plans: dict[str, PlanSku]
    models: dict[str, DeviceModel]
    fee_schedules: dict[str, FeeSchedule]
    warranty: Warranty
    shipping: ShippingTable

    def plan(self, sku: str) -> PlanSku:
        try:
            return self.plans[sku]
        except KeyError:
            raise UnknownCatalogueEntryError(f"unknown plan SKU {sku!r}") from None

    def model(self, model: str) -> DeviceModel:
        try:
            return self.models[model]
        except KeyError:
            raise UnknownCatalogueEntryError(f"unknown model {model!r}") from None

    def product_value(self, model: str) -> Money:
        """X3: what an express premium pre-authorisation holds, in the fees' currency."""
        schedule = max(self.fee_schedules.values(), key=lambda entry: entry.effective_from)
        return Money(amount=self.model(model).value, currency=schedule.currency)

    def list_price(self, model: str, sku: str) -> Money | None:
        """P3: the catalogue price of the plan for the model (PLN, the prices the seed gives)."""
        column = self.plan(sku).price_column
        if column is None:
            return None
        return Money(amount=self.model(model).prices_pln[column], currency="PLN")

    def shipping_charges(self, *, plan_region: str, ship_to_region: str) -> tuple[Money, Money]:
        """F1: the shipping and customs of a replacement from the plan's region to another."""
        table = self.shipping
        price = table.routes.get(plan_region, {}).get(ship_to_region, table.default)
        return (
            Money(amount=price.shipping, currency=table.currency),
            Money(amount=price.customs, currency=table.currency),
        )

    def fee_schedule_at(self, moment: datetime) -> tuple[str, FeeSchedule]:
        """P2: the schedule in force at `moment` (the latest one that had started)."""
        started = [
            (schedule.effective_from, version, schedule)
            for version, schedule in self.fee_schedules.items()
            if schedule.effective_from <= moment
        ]
        if not started:
            raise UnknownCatalogueEntryError(f"no fee schedule in force at {moment.isoformat()}")
        _, version, schedule = max(started, key=lambda entry: entry[0])
        return version, schedule

    def replacement_fee(
        self, model: str, *, flyaway: bool, replacements_used: int, at: datetime
    ) -> tuple[Money, str]:
        """P2, X2: the fee for the next replacement of `model`, and the schedule that priced it."""
        device = self.model(model)
        version, schedule = self.fee_schedule_at(at)
        if flyaway:
            if device.flyaway_fee is None:
                raise UnknownCatalogueEntryError(f"{model} has no flyaway fee")
            base = device.flyaway_fee
        else:
            base = device.fee
        step = schedule.escalation[min(replacements_used, len(schedule.escalation) - 1)]
        return Money(amount=base + step, currency=schedule.currency), version


@cache
def consumer_catalogue() -> ConsumerCatalogue:
    with (Path(__file__).parent / "consumer.toml").open("rb") as source:
        return ConsumerCatalogue.model_validate(tomllib.load(source))
