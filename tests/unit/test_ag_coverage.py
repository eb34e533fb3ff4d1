"""P5, C7, C9, A4, A5: what the plan ledger takes off an agricultural plan's quotas."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.claims import LineCoverage, RepairLineSplit, RepairSplit
from contracts.money import Money
from contracts.repair_pricing import ClassifiedLine, deductible_on, price_repair
from contracts.upstream import PartClass
from services.coverage.domain.ledger import (
    DeductionRefusal,
    DeductionRefused,
    PlanState,
    QuotaDeducted,
    QuotaLedger,
    TermDates,
    confirm_policy,
    end_for_renewal,
    take_from_quotas,
    term_for_policy,
)

pytestmark = pytest.mark.unit

START = datetime(2026, 3, 1, tzinfo=UTC)
END = START + timedelta(days=365)
INCIDENT = START + timedelta(days=40)
SN = "T40SN00000001"


def cny(amount: str) -> Money:
    return Money.of(amount, "CNY")


ZERO = cny("0")


def ledger(base: str, consumables: str, rate: str = "0") -> QuotaLedger:
    return QuotaLedger(
        sn=SN,
        term_start=START,
        term_end=END,
        base_quota_left=cny(base),
        consumables_quota_left=cny(consumables),
        deductible_rate=Decimal(rate),
        state=PlanState.ACTIVE,
    )


def line(line_id: str, coverage: LineCoverage, cost: str, part: str = "arm") -> RepairLineSplit:
    """A quoted line as claims sends it; the ledger re-prices everything but class and cost."""
    return RepairLineSplit(
        line_id=line_id,
        part_code=part,
        part_class=PartClass.BODY,
        coverage=coverage,
        cost=cny(cost),
        from_base_quota=ZERO,
        from_consumables_quota=ZERO,
        deductible=ZERO,
        shortfall=ZERO,
        not_covered=cny(cost),
    )


def quote(*lines: RepairLineSplit, logistics: str = "0") -> RepairSplit:
    return price_repair(
        [ClassifiedLine.of(line) for line in lines],
        deductible_rate=Decimal("0"),
        base_quota_left=cny("0"),
        consumables_quota_left=cny("0"),
        logistics_fee=cny(logistics),
    )


def take(book: QuotaLedger, repair: RepairSplit) -> QuotaDeducted:
    taken = take_from_quotas(book, sn=SN, incident_at=INCIDENT, quote=repair)
    assert isinstance(taken, QuotaDeducted)
    return taken


def test_c7_p5_the_worked_example_t40_second_year() -> None:
    """Body lines 6,000.00 and consumables 450.00 on a T40 second-year renewal (5%)."""
    book = ledger("20000.00", "2000.00", "0.05")
    repair = quote(
        line("L1", LineCoverage.BASE_QUOTA, "4200.00", "arm"),
        line("L2", LineCoverage.BASE_QUOTA, "1800.00", "motor"),
        line("L3", LineCoverage.CONSUMABLES_QUOTA, "300.00", "blade"),
        line("L4", LineCoverage.CONSUMABLES_QUOTA, "150.00", "propeller_clamp"),
    )
    taken = take(book, repair)
    split = taken.split
    assert split.from_base_quota == cny("5700.00")
    assert split.from_consumables_quota == cny("450.00")
    assert split.deductible == cny("300.00")
    assert split.customer_share == cny("300.00")
    assert (split.shortfall, split.not_covered) == (ZERO, ZERO)
    assert taken.ledger.base_quota_left == cny("14300.00")
    assert taken.ledger.consumables_quota_left == cny("1550.00")
    assert not taken.exhausted
    assert split.base_quota_before == cny("20000.00")


def test_c7_c9_a_repair_above_the_base_quota_charges_the_shortfall_and_ends_the_plan() -> None:
    book = ledger("3000.00", "500.00", "0.05")
    taken = take(book, quote(line("L1", LineCoverage.BASE_QUOTA, "5000.00")))
    (only,) = taken.split.lines
    assert only.deductible == cny("250.00")
    assert only.from_base_quota == cny("3000.00")
    assert only.shortfall == cny("1750.00")
    assert taken.split.customer_share == cny("2000.00")
    assert taken.ledger.base_quota_left == ZERO
    assert taken.exhausted  # C9: repair costs reached the quota
    again = take_from_quotas(
        taken.ledger,
        sn=SN,
        incident_at=INCIDENT,
        quote=quote(line("L9", LineCoverage.CONSUMABLES_QUOTA, "10.00", "blade")),
    )
    assert again == DeductionRefused((DeductionRefusal.BASE_QUOTA_EXHAUSTED,))


def test_p5_the_two_balances_never_mix() -> None:
    """A spent consumables quota is not topped up from the base quota, nor the other way."""
    book = ledger("10000.00", "100.00")
    taken = take(
        book,
        quote(
            line("L1", LineCoverage.CONSUMABLES_QUOTA, "450.00", "blade"),
            line("L2", LineCoverage.BASE_QUOTA, "1000.00"),
        ),
    )
    blade, arm = taken.split.lines
    assert (blade.from_consumables_quota, blade.shortfall) == (cny("100.00"), cny("350.00"))
    assert blade.from_base_quota == ZERO
    assert (arm.from_base_quota, arm.from_consumables_quota) == (cny("1000.00"), ZERO)
    assert taken.ledger.consumables_quota_left == ZERO
    assert taken.ledger.base_quota_left == cny("9000.00")
    assert not taken.exhausted  # only the base quota ends the plan


def test_c7_lines_are_paid_in_order_until_the_balance_runs_out() -> None:
    taken = take(
        ledger("1500.00", "0"),
        quote(
            line("L1", LineCoverage.BASE_QUOTA, "1000.00"),
            line("L2", LineCoverage.BASE_QUOTA, "1000.00"),
            line("L3", LineCoverage.BASE_QUOTA, "1000.00"),
        ),
    )
    assert [entry.from_base_quota for entry in taken.split.lines] == [
        cny("1000.00"),
        cny("500.00"),
        ZERO,
    ]
    assert taken.split.shortfall == cny("1500.00")


def test_c7_not_covered_lines_and_logistics_are_the_customers() -> None:
    taken = take(
        ledger("10000.00", "1000.00"),
        quote(
            line("L1", LineCoverage.NOT_COVERED, "800.00", "battery"),
            line("L2", LineCoverage.BASE_QUOTA, "200.00"),
            logistics="35.00",
        ),
    )
    assert taken.split.not_covered == cny("800.00")
    assert taken.split.customer_share == cny("835.00")
    assert taken.ledger.base_quota_left == cny("9800.00")


def test_c7_the_deductible_is_rounded_half_up_to_the_cent_per_line() -> None:
    assert deductible_on(cny("10.10"), Decimal("0.05")) == cny("0.51")  # 0.505
    assert deductible_on(cny("10.30"), Decimal("0.10")) == cny("1.03")
    assert deductible_on(cny("999.99"), Decimal("0")) == ZERO


def test_c7_the_ledger_uses_its_own_rate_whatever_the_quote_said() -> None:
    repair = quote(line("L1", LineCoverage.BASE_QUOTA, "1000.00"))
    assert repair.deductible_rate == Decimal("0")
    taken = take(ledger("5000.00", "0", "0.10"), repair)
    assert taken.split.deductible == cny("100.00")
    assert taken.split.deductible_rate == Decimal("0.10")


@pytest.mark.parametrize(
    ("change", "incident", "sn", "reasons"),
    [
        ({"terminated": True}, INCIDENT, SN, (DeductionRefusal.PLAN_TERMINATED,)),
        ({}, END, SN, (DeductionRefusal.PLAN_NOT_IN_FORCE,)),  # C9: expiry ends it
        ({}, START - timedelta(seconds=1), SN, (DeductionRefusal.PLAN_NOT_IN_FORCE,)),
        ({}, INCIDENT, "OTHERSN000001", (DeductionRefusal.SN_NOT_ON_PLAN,)),
        ({"state": PlanState.EXHAUSTED}, INCIDENT, SN, (DeductionRefusal.BASE_QUOTA_EXHAUSTED,)),
    ],
)
def test_c1_c9_c10_the_ledger_refuses_what_is_not_in_force(
    change: dict[str, object], incident: datetime, sn: str, reasons: tuple[DeductionRefusal, ...]
) -> None:
    book = replace(ledger("5000.00", "500.00"), **change)  # type: ignore[arg-type]
    refused = take_from_quotas(
        book, sn=sn, incident_at=incident, quote=quote(line("L1", LineCoverage.BASE_QUOTA, "1.00"))
    )
    assert refused == DeductionRefused(reasons)


AMOUNTS = st.decimals(min_value=0, max_value=50_000, places=2, allow_nan=False)
LINES = st.lists(
    st.tuples(st.sampled_from(list(LineCoverage)), AMOUNTS.map(lambda amount: f"{amount:.2f}")),
    min_size=1,
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(
    base=AMOUNTS.filter(lambda amount: amount > 0),
    consumables=AMOUNTS,
    rate=st.sampled_from(["0", "0.05", "0.10"]),
    lines=LINES,
)
def test_p5_m1_c8_balances_never_go_below_zero_and_every_cent_is_accounted_for(
    base: Decimal, consumables: Decimal, rate: str, lines: list[tuple[LineCoverage, str]]
) -> None:
    book = ledger(f"{base:.2f}", f"{consumables:.2f}", rate)
    repair = quote(*(line(f"L{i}", kind, cost) for i, (kind, cost) in enumerate(lines)))
    taken = take(book, repair)
    after, split = taken.ledger, taken.split
    assert after.base_quota_left.amount >= 0 and after.consumables_quota_left.amount >= 0
    # C8: what left a quota is exactly what the quota paid towards repair lines, no more.
    assert book.base_quota_left - after.base_quota_left == split.from_base_quota
    assert book.consumables_quota_left - after.consumables_quota_left == (
        split.from_consumables_quota
    )
    assert split.repair_cost == repair.repair_cost
    assert split.from_base_quota + split.from_consumables_quota + split.customer_share == (
        split.repair_cost + split.logistics_fee
    )
    assert taken.exhausted is (after.base_quota_left.amount == 0)


def test_a4_a_renewal_before_expiry_ends_the_previous_term_at_purchase() -> None:
    term = TermDates(1, START, END)
    bought = END - timedelta(days=10)
    ended = end_for_renewal(term, bought)
    assert (ended.end, ended.ended_by_renewal_at) == (bought, bought)
    assert end_for_renewal(term, END + timedelta(days=3)) == term  # bought after expiry
    assert end_for_renewal(term, START) == term


def test_a5_a_policy_belongs_to_the_term_it_names_or_starts_nearest() -> None:
    first = TermDates(1, START, END, policy_no="P-1")
    second = TermDates(2, END, END + timedelta(days=365))
    assert term_for_policy([first, second], "P-1", END) == first
    assert term_for_policy([first, second], "P-2", END + timedelta(hours=5)) == second
    assert term_for_policy([first, second], "P-0", START - timedelta(days=1)) == first


def test_a5_the_policy_sets_the_terms_dates_but_not_past_an_a4_early_end() -> None:
    policy_start = START.replace(hour=16)  # 00:00 Asia/Shanghai the next day
    policy_end = policy_start + timedelta(days=365)
    confirmed = confirm_policy(
        TermDates(1, START, END), policy_no="P-1", start=policy_start, end=policy_end
    )
    assert (confirmed.start, confirmed.end, confirmed.policy_no) == (
        policy_start,
        policy_end,
        "P-1",
    )
    early = END - timedelta(days=5)
    ended = TermDates(1, START, early, ended_by_renewal_at=early)
    kept = confirm_policy(ended, policy_no="P-1", start=policy_start, end=policy_end)
    assert kept.end == early
