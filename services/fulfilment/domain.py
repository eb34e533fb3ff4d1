"""Fulfilment rules (F1-F4): pure functions over plain values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from shared.catalogue.agricultural import Pack, WorkingCalendar


def customer_pays_shipping(*, customer_region: str, plan_region: str) -> bool:
    """F1: shipping is free only when the customer's region is the plan's region."""
    return customer_region != plan_region


def fee_settled(*, fee: Decimal, fee_currency: str, paid: dict[str, Decimal]) -> bool:
    """F1: the unit ships once the customer has paid the whole fee, in the fee's currency."""
    return paid.get(fee_currency, Decimal(0)) >= fee


def ready_to_ship(*, fee_paid: bool, express_premium: bool, pre_authorisation: str | None) -> bool:
    """F1: a replacement ships once its fee is paid; X3: express premium also needs the card
    pre-authorisation in place (basic ships after the unit arrived, so after its decision)."""
    return fee_paid and (not express_premium or pre_authorisation == "placed")


PACK_ADDRESS_MISSING = "PACK_ADDRESS_MISSING"


@dataclass(frozen=True)
class SchedulePack:
    items: tuple[str, ...]
    due_by: datetime


@dataclass(frozen=True)
class HoldPack:
    reason_code: str


def working_days_after(
    moment: datetime, working_days: int, calendar: WorkingCalendar, zone: ZoneInfo
) -> datetime:
    """F4: the end (24:00 in `zone`) of the `working_days`-th working day after `moment`'s day.

    The day of `moment` itself does not count (a period starts the next day).
    """
    day = moment.astimezone(zone).date()
    counted = 0
    while counted < working_days:
        day += timedelta(days=1)
        if calendar.is_working_day(day):
            counted += 1
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)


def decide_pack(
    *,
    pack: Pack | None,
    address_given: bool,
    purchased_at: datetime,
    working_days: int,
    calendar: WorkingCalendar,
    zone: ZoneInfo,
) -> SchedulePack | HoldPack | None:
    """F4: a designated renewal's pack ships to the address given at purchase within 30 working
    days of the purchase; no designation, no pack; no address, the pack is held."""
    if pack is None:
        return None
    if not address_given:
        return HoldPack(PACK_ADDRESS_MISSING)
    return SchedulePack(
        items=pack.items,
        due_by=working_days_after(purchased_at, working_days, calendar, zone),
    )


@dataclass(frozen=True)
class ReturnArrangement:
    """F5: how the repaired unit goes back; F2: the replaced parts are kept."""

    return_method: str
    service_point_id: str
    replaced_parts_retained: bool = True


def arrange_return(
    *, already_arranged: bool, return_method: str, service_point_id: str
) -> ReturnArrangement | None:
    """F5: when the repair is done, the unit is shipped back or waits at the service point, as
    the repair centre says; a case's unit goes back once, whatever is reported again."""
    if already_arranged:
        return None
    return ReturnArrangement(return_method=return_method, service_point_id=service_point_id)
