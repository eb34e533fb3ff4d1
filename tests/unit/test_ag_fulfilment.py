"""F4, M2: the consumables pack of a designated AG renewal; F5: the repaired unit's return."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from services.fulfilment.domain import ReturnArrangement, arrange_return
from services.fulfilment.domain_agricultural import (
    PACK_ADDRESS_MISSING,
    HoldPack,
    PackDue,
    SchedulePack,
    decide_pack,
    working_days_after,
)
from shared.catalogue.agricultural import WorkingCalendar, agricultural_catalogue

CATALOGUE = agricultural_catalogue()
CALENDAR = CATALOGUE.working_calendar
SHANGHAI = ZoneInfo("Asia/Shanghai")


def shanghai(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=SHANGHAI)


def test_f4_designated_renewals_are_t40_t20p_in_year_2_and_t30_t10_in_year_3() -> None:
    designated = {(pack.model, pack.plan_year) for pack in CATALOGUE.packs}
    assert designated == {("T40", 2), ("T20P", 2), ("T30", 3), ("T10", 3)}
    assert CATALOGUE.pack("T40", 3) is None
    assert CATALOGUE.pack("T50", 2) is None
    assert CATALOGUE.pack_due_working_days == 30


def test_f4_working_days_skip_weekends_and_public_holidays_and_count_adjusted_weekends() -> None:
    assert CALENDAR.is_working_day(date(2026, 3, 6))  # a Friday
    assert not CALENDAR.is_working_day(date(2026, 3, 7))  # a Saturday
    assert not CALENDAR.is_working_day(date(2026, 10, 1))  # National Day
    assert not CALENDAR.is_working_day(date(2026, 2, 16))  # Spring Festival, a Monday
    assert CALENDAR.is_working_day(date(2026, 2, 14))  # a Saturday declared working (调休)


def test_f4_the_calendar_refuses_days_outside_its_validity_or_weekday_working_weekends() -> None:
    year = {"valid_from": date(2026, 1, 1), "valid_until": date(2026, 12, 31)}
    with pytest.raises(ValidationError):
        WorkingCalendar(**year, holidays={date(2027, 1, 1)}, working_weekends=set())
    with pytest.raises(ValidationError):
        WorkingCalendar(**year, holidays=set(), working_weekends={date(2026, 3, 6)})
    with pytest.raises(ValidationError):
        WorkingCalendar(
            valid_from=date(2026, 1, 1),
            valid_until=date(2025, 12, 31),
            holidays=set(),
            working_weekends=set(),
        )


def test_f4_the_working_day_calendar_is_data_with_a_validity_range() -> None:
    assert (CALENDAR.valid_from, CALENDAR.valid_until) == (date(2025, 1, 1), date(2026, 12, 31))
    assert CALENDAR.covers(date(2026, 12, 31))
    assert not CALENDAR.covers(date(2027, 1, 1))


def test_f4_30_working_days_from_the_day_after_purchase_through_the_national_day_week() -> None:
    # Bought Monday 21 September 2026. Working days after it: 22-24 Sep (3); the Mid-Autumn
    # break 25-27 Sep; 28-30 Sep (6); National Day 1-7 Oct; 8, 9 Oct (8); Saturday 10 Oct,
    # declared working (9); 12-16 Oct (14); 19-23 (19); 26-30 (24); 2-6 Nov (29); 9 Nov (30).
    bought = shanghai(2026, 9, 21, 10)
    assert working_days_after(bought, 30, CALENDAR, SHANGHAI) == PackDue(shanghai(2026, 11, 10))


def test_m2_f4_the_purchase_day_is_shanghais() -> None:
    # 17:00 UTC on Sunday 20 September is already Monday 21 September in Shanghai.
    bought = datetime(2026, 9, 20, 17, 0, tzinfo=UTC)
    due = working_days_after(bought, 30, CALENDAR, SHANGHAI)
    assert due == PackDue(shanghai(2026, 11, 10))
    assert due.due_by.tzinfo is UTC


def test_f4_beyond_the_calendar_only_weekends_are_skipped_and_the_due_date_says_so() -> None:
    # Monday 4 January 2027: six weeks of weekdays end on Monday 15 February.
    assert working_days_after(shanghai(2027, 1, 4, 9), 30, CALENDAR, SHANGHAI) == PackDue(
        shanghai(2027, 2, 16), weekdays_only_after=date(2026, 12, 31)
    )


def test_f4_a_count_that_runs_past_the_calendars_last_day_says_so() -> None:
    # Wednesday 2 December 2026: 21 working days to 31 December (no holidays), then 9 weekdays
    # of 2027 (1 January counted as a weekday: its holiday is not in the calendar): the 30th is
    # Wednesday 13 January, due by its end.
    due = working_days_after(shanghai(2026, 12, 2, 9), 30, CALENDAR, SHANGHAI)
    assert due == PackDue(shanghai(2027, 1, 14), weekdays_only_after=date(2026, 12, 31))
    # Inside the calendar the same count says nothing.
    assert (
        working_days_after(shanghai(2026, 10, 9, 9), 30, CALENDAR, SHANGHAI).weekdays_only_after
        is None
    )


def _pack(model: str, plan_year: int, *, address: bool = True) -> object:
    return decide_pack(
        pack=CATALOGUE.pack(model, plan_year),
        address_given=address,
        purchased_at=shanghai(2026, 9, 21, 10),
        working_days=30,
        calendar=CALENDAR,
        zone=SHANGHAI,
    )


def test_f4_a_designated_renewal_schedules_its_models_pack() -> None:
    decision = _pack("T30", 3)
    assert isinstance(decision, SchedulePack)
    assert decision.due == PackDue(shanghai(2026, 11, 10))
    assert decision.items == (
        "blade pair x6",
        "nozzle x16",
        "propeller clamp x6",
        "spray rod x6",
        "RTK antenna mount x2",
        "radar cable cover x1",
    )
    t40 = _pack("T40", 2)
    assert isinstance(t40, SchedulePack)
    assert t40.items[0] == "blade x4"


def test_f4_other_renewals_bring_no_pack() -> None:
    assert _pack("T40", 3) is None
    assert _pack("T100", 2) is None


def test_f4_a_designated_renewal_without_an_address_is_held() -> None:
    assert _pack("T10", 3, address=False) == HoldPack(PACK_ADDRESS_MISSING)


def test_f5_f2_a_repaired_unit_goes_back_once_and_its_replaced_parts_are_kept() -> None:
    shipped = arrange_return(already_arranged=False, return_method="ship", service_point_id="SP1")
    assert shipped == ReturnArrangement("ship", "SP1", replaced_parts_retained=True)
    collected = arrange_return(
        already_arranged=False, return_method="collect", service_point_id="SP2"
    )
    assert collected is not None
    assert collected.return_method == "collect"
    assert arrange_return(already_arranged=True, return_method="ship", service_point_id="SP1") is (
        None
    )
