"""Fulfilment rules for the consumables packs of designated AG renewals (F4, M2): pure functions
over plain values, and the in-memory book a batch decides its orders and renewals against."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from contracts.activation import PlanRenewedPayload
from contracts.fulfilment import (
    ConsumablesPackBeyondCalendarPayload,
    ConsumablesPackHeldPayload,
    ConsumablesPackScheduledPayload,
    PackAddressChangeRefusedPayload,
)
from contracts.upstream import (
    DeliveryAddress,
    PackAddressChangeRequestedPayload,
    PlanOrderPlacedPayload,
)
from services.fulfilment.domain import Outgoing
from shared.catalogue.agricultural import Pack, WorkingCalendar, agricultural_catalogue

PACK_ADDRESS_MISSING = "PACK_ADDRESS_MISSING"


@dataclass(frozen=True)
class PackDue:
    """F4: when a pack is due, and the calendar's last day if the count ran past it (the days
    after it were counted as weekdays alone)."""

    due_by: datetime
    weekdays_only_after: date | None = None


@dataclass(frozen=True)
class SchedulePack:
    items: tuple[str, ...]
    due: PackDue


@dataclass(frozen=True)
class HoldPack:
    reason_code: str


def working_days_after(
    moment: datetime, working_days: int, calendar: WorkingCalendar, zone: ZoneInfo
) -> PackDue:
    """F4: the end (24:00 in `zone`) of the `working_days`-th working day after `moment`'s day.

    The day of `moment` itself does not count (a period starts the next day). Days the calendar
    does not cover count as weekdays alone, and the answer says so, never silently.
    """
    day = moment.astimezone(zone).date()
    counted = 0
    beyond = False
    while counted < working_days:
        day += timedelta(days=1)
        beyond = beyond or not calendar.covers(day)
        if calendar.is_working_day(day):
            counted += 1
    due_by = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return PackDue(due_by, calendar.valid_until if beyond else None)


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
        items=pack.items, due=working_days_after(purchased_at, working_days, calendar, zone)
    )


@dataclass(frozen=True)
class PackOrder:
    """F4: the order of a designated renewal, with the address given at purchase (personal
    data, kept here only)."""

    plan_code: str
    order_id: str
    model: str
    plan_year: int
    purchased_at: datetime
    address: DeliveryAddress | None


def designated_order(order: PlanOrderPlacedPayload) -> PackOrder | None:
    """F4: the order, if it is for a designated renewal; other orders are not kept (nothing to
    ship, and no personal data without a purpose)."""
    catalogue = agricultural_catalogue()
    if order.sku not in catalogue.plans or order.model not in catalogue.models:
        return None
    plan_year = catalogue.plan(order.sku).plan_year
    if order.plan_year not in (None, plan_year) or catalogue.pack(order.model, plan_year) is None:
        return None  # activation dead-letters an inconsistent order: it is never bound
    return PackOrder(
        plan_code=order.plan_code,
        order_id=order.order_id,
        model=order.model,
        plan_year=plan_year,
        purchased_at=order.purchased_at,
        address=order.pack_delivery_address,
    )


@dataclass(frozen=True)
class AgriculturalRenewal:
    """F4: an AG renewal activation bound: only a renewal actually bought brings a pack."""

    plan_code: str
    plan_id: uuid.UUID
    plan_year: int


@dataclass(frozen=True)
class ConsumablesPack:
    pack_id: uuid.UUID
    order: PackOrder
    renewal: AgriculturalRenewal
    decision: SchedulePack | HoldPack


@dataclass
class Packs:
    """The orders, renewals and packs of a batch's plan codes; the first order and the first
    binding of a plan code are kept, and a plan code gets one pack decision."""

    orders: dict[str, PackOrder]
    renewals: dict[str, AgriculturalRenewal]
    decided: set[str]
    new_orders: list[PackOrder] = field(default_factory=list)
    new_renewals: list[AgriculturalRenewal] = field(default_factory=list)
    new_packs: list[ConsumablesPack] = field(default_factory=list)

    def record_order(self, order: PackOrder) -> list[Outgoing]:
        """F4: keep the delivery address of a designated renewal, as given at purchase; a later
        order of the same plan code with another address is refused PACK_ADDRESS_FIXED (the
        address cannot be changed), one with the same address changes nothing."""
        kept = self.orders.get(order.plan_code)
        if kept is None:
            self.orders[order.plan_code] = order
            self.new_orders.append(order)
        elif kept.address != order.address:
            return self.refuse_address_change(order.plan_code, order.order_id)
        return self._decide_if_bought(order.plan_code)

    def change_address(self, change: PackAddressChangeRequestedPayload) -> list[Outgoing]:
        """F4: the address given at purchase cannot be changed afterwards: always refused."""
        return self.refuse_address_change(change.plan_code, change.request_id)

    def refuse_address_change(self, plan_code: str, request_id: str) -> list[Outgoing]:
        """F4: PACK_ADDRESS_FIXED, keyed by the plan once the renewal is bound."""
        renewal = self.renewals.get(plan_code)
        plan_id = renewal.plan_id if renewal else None
        key = str(plan_id) if plan_id else plan_code
        refusal = PackAddressChangeRefusedPayload(
            request_id=request_id, plan_code=plan_code, plan_id=plan_id
        )
        return [Outgoing(refusal, key=key, correlation_id=key)]

    def record_renewal(self, renewal: PlanRenewedPayload) -> list[Outgoing]:
        """F4: an AG renewal bound by activation may bring a consumables pack."""
        if renewal.agricultural is None:
            return []
        if renewal.plan_code not in self.renewals:
            bound = AgriculturalRenewal(
                renewal.plan_code, renewal.plan_id, renewal.agricultural.plan_year
            )
            self.renewals[bound.plan_code] = bound
            self.new_renewals.append(bound)
        return self._decide_if_bought(renewal.plan_code)

    def _decide_if_bought(self, plan_code: str) -> list[Outgoing]:
        """F4: once a designated renewal is both ordered and bound, schedule or hold its pack."""
        order, renewal = self.orders.get(plan_code), self.renewals.get(plan_code)
        if plan_code in self.decided or order is None or renewal is None:
            return []
        catalogue = agricultural_catalogue()
        decision = decide_pack(
            pack=catalogue.pack(order.model, renewal.plan_year),
            address_given=order.address is not None,
            purchased_at=order.purchased_at,
            working_days=catalogue.pack_due_working_days,
            calendar=catalogue.working_calendar,
            zone=catalogue.zone,
        )
        if decision is None:
            return []
        pack = ConsumablesPack(uuid.uuid4(), order, renewal, decision)
        self.decided.add(plan_code)
        self.new_packs.append(pack)
        plan = str(renewal.plan_id)
        announced = [Outgoing(_announced(pack), key=plan, correlation_id=plan)]
        if isinstance(decision, SchedulePack) and decision.due.weekdays_only_after:
            warning = ConsumablesPackBeyondCalendarPayload(
                pack_id=pack.pack_id,
                plan_id=renewal.plan_id,
                plan_code=plan_code,
                calendar_valid_until=decision.due.weekdays_only_after,
                due_by=decision.due.due_by,
            )
            announced.append(Outgoing(warning, key=plan, correlation_id=plan))
        return announced


def _announced(
    pack: ConsumablesPack,
) -> ConsumablesPackScheduledPayload | ConsumablesPackHeldPayload:
    if isinstance(pack.decision, SchedulePack):
        return ConsumablesPackScheduledPayload(
            pack_id=pack.pack_id,
            plan_id=pack.renewal.plan_id,
            plan_code=pack.order.plan_code,
            model=pack.order.model,
            plan_year=pack.renewal.plan_year,
            items=list(pack.decision.items),
            purchased_at=pack.order.purchased_at,
            due_by=pack.decision.due.due_by,
            weekdays_only_after=pack.decision.due.weekdays_only_after,
        )
    return ConsumablesPackHeldPayload(
        plan_id=pack.renewal.plan_id,
        plan_code=pack.order.plan_code,
        model=pack.order.model,
        plan_year=pack.renewal.plan_year,
        reason_code=pack.decision.reason_code,
    )
