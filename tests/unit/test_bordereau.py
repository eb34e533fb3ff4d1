"""An insurer's bordereau as a pure rule (C7, C8, L4, M1, M2): which month a repair, a claim and
an answer belong to, what the month's lines add up to, and the CSV an insurer receives."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from contracts.money import Money
from services.lookup.domain_bordereau import (
    ClaimState,
    InsurerClaimRow,
    InvalidMonthError,
    LedgerRepair,
    bordereau,
    month_bounds,
    to_csv,
)
from simulation.agricultural import base_quota_split

pytestmark = pytest.mark.unit


def cny(amount: str) -> Money:
    return Money.of(amount, "CNY")


def repair(case_id: str, at: datetime, amount: str = "1000.00") -> LedgerRepair:
    return LedgerRepair(
        case_id, uuid.uuid4(), 1, "SN0000000001", "T40", at, base_quota_split(amount)
    )


def reported(case_id: str, at: datetime, **answer: object) -> InsurerClaimRow:
    fields: dict[str, object] = {
        "reported_at": at,
        "currency": "CNY",
        "base_quota_amount": Decimal("1000.00"),
        "deductible": Decimal("0.00"),
        **answer,
    }
    return InsurerClaimRow(case_id, "base_quota", "zhongan", **fields)  # type: ignore[arg-type]


def test_m2_a_month_runs_from_shanghai_midnight_to_shanghai_midnight() -> None:
    start, end = month_bounds("2026-11")
    assert start.astimezone(UTC) == datetime(2026, 10, 31, 16, tzinfo=UTC)
    assert end.astimezone(UTC) == datetime(2026, 11, 30, 16, tzinfo=UTC)
    december, january = month_bounds("2026-12")
    assert december == end
    assert january.astimezone(UTC) == datetime(2026, 12, 31, 16, tzinfo=UTC)


@pytest.mark.parametrize("month", ["2026-13", "2026-00", "2026-1", "26-11", "2026-11-01", ""])
def test_a_month_is_yyyy_mm(month: str) -> None:
    with pytest.raises(InvalidMonthError):
        month_bounds(month)


def test_m2_a_repair_deducted_before_shanghai_midnight_is_on_the_month_that_ends_there() -> None:
    last_second = datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC)  # 23:59:59 in Shanghai
    first_second = last_second + timedelta(seconds=1)
    repairs = [repair("NOV", last_second), repair("DEC", first_second)]
    november = bordereau("zhongan", "2026-11", repairs, {})
    december = bordereau("zhongan", "2026-12", repairs, {})
    assert [line.case_id for line in november.repairs] == ["NOV"]
    assert [line.case_id for line in december.repairs] == ["DEC"]


def test_c8_c10_each_repair_carries_its_claims_state_and_the_totals_reconcile() -> None:
    at = datetime(2026, 11, 10, 2, tzinfo=UTC)
    later = at + timedelta(days=3)
    repairs = [repair(case, at) for case in ("PAID", "WITHDRAWN", "REVERSED", "OPEN")]
    claims = {
        "PAID": reported("PAID", at, answer="paid", answered_at=later, paid_amount=Decimal("1000")),
        "WITHDRAWN": reported(
            "WITHDRAWN", at, answer="accepted", answered_at=at, withdrawn_at=later
        ),
        "OPEN": reported("OPEN", at),
    }
    report = bordereau("zhongan", "2026-11", repairs, claims)
    states = {line.case_id: line.claim_state for line in report.repairs}
    assert states == {
        "PAID": ClaimState.PAID,
        "WITHDRAWN": ClaimState.WITHDRAWN,
        "REVERSED": ClaimState.NOT_REPORTED,  # C10: reversed before the ledger answered
        "OPEN": ClaimState.REPORTED,
    }
    totals = report.totals
    assert (totals.repairs, totals.base_quota_paid, totals.deductibles) == (
        4,
        cny("4000.00"),
        cny("0.00"),
    )
    assert (totals.base_quota_claimed, totals.base_quota_not_claimed) == (
        cny("3000.00"),
        cny("1000.00"),
    )
    assert totals.base_quota_withdrawn == cny("1000.00")
    assert totals.insurer_paid_repairs == cny("1000.00")
    assert {(a.claim_id, a.answer) for a in report.answers} == {
        ("PAID", "paid"),
        ("WITHDRAWN", "accepted"),
        ("WITHDRAWN", "withdrawn"),
    }


def test_an_answer_given_the_next_month_is_on_the_next_months_bordereau() -> None:
    at = datetime(2026, 11, 10, 2, tzinfo=UTC)
    answered = datetime(2026, 12, 2, tzinfo=UTC)
    claims = {
        "C1": reported("C1", at, answer="paid", answered_at=answered, paid_amount=Decimal("1000"))
    }
    november = bordereau("zhongan", "2026-11", [repair("C1", at)], claims)
    december = bordereau("zhongan", "2026-12", [repair("C1", at)], claims)
    assert november.answers == [] and november.repairs[0].claim_state is ClaimState.PAID
    assert [a.claim_id for a in december.answers] == ["C1"] and december.repairs == []
    assert december.totals.insurer_paid_repairs == cny("1000.00")


def test_the_csv_has_a_row_per_line_and_per_total() -> None:
    at = datetime(2026, 11, 10, 2, tzinfo=UTC)
    report = bordereau("zhongan", "2026-11", [repair("C1", at, "250.50")], {})
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    (line,) = [row for row in rows if row["section"] == "repair"]
    assert (line["id"], line["base_quota_amount"], line["state"]) == (
        "C1",
        "250.50",
        "not_reported",
    )
    totals = {row["id"]: row["value"] for row in rows if row["section"] == "total"}
    assert totals["repairs"] == "1"
    assert totals["base_quota_paid"] == "250.50"
    assert set(totals) == set(type(report.totals).model_fields)


def test_l1_l4_a_liability_claim_routed_in_the_month_is_listed_with_its_limits() -> None:
    at = datetime(2026, 11, 10, 2, tzinfo=UTC)
    routed = InsurerClaimRow(
        "INC-1",
        "liability",
        "zhongan",
        reported_at=at,
        currency="CNY",
        liability_kind="third_party_property",
        claimed_amount=Decimal("5000.00"),
        limit_amount=Decimal("100000.00"),
        limit_left=Decimal("100000.00"),
        total_limit_left=Decimal("600000.00"),
        deductible=Decimal("200.00"),
        indicative_payable=Decimal("4800.00"),
        answer="paid",
        answered_at=at + timedelta(days=20),  # 2026-11-30T02:00Z: still November in Shanghai
        paid_amount=Decimal("4700.00"),
    )
    report = bordereau("zhongan", "2026-11", [], {"INC-1": routed})
    (line,) = report.liability_claims
    assert (line.limit, line.deductible, line.indicative_payable, line.medical_sublimit) == (
        cny("100000.00"),
        cny("200.00"),
        cny("4800.00"),
        None,
    )
    totals = report.totals
    assert (totals.liability_claims, totals.liability_claimed) == (1, cny("5000.00"))
    assert totals.liability_settled == cny("4700.00")
    assert totals.repairs == 0 and totals.base_quota_paid == cny("0.00")
