"""C9, A4: when and why a term has ended, and the ledger's announcement of it, without I/O."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from contracts.agricultural import PlanFamily
from contracts.coverage import TermEndedPayload, TermEndReason
from services.coverage.domain.decisions import end_terms
from services.coverage.domain.ledger import PlanState, TermDates, TermEnd, term_end
from services.coverage.domain.plan import Plan, Term

pytestmark = pytest.mark.unit

START = datetime(2026, 1, 1, tzinfo=UTC)
END = START + timedelta(days=365)
MOMENT = timedelta(microseconds=1)


def dates(end: datetime = END, renewed_at: datetime | None = None) -> TermDates:
    return TermDates(1, START, end, ended_by_renewal_at=renewed_at)


def test_c9_a_term_ends_at_its_end_date_and_not_a_moment_before() -> None:
    assert term_end(dates(), PlanState.ACTIVE, quota_based=False, at=END - MOMENT) is None
    ended = TermEnd(TermEndReason.TERM_EXPIRED, END)
    assert term_end(dates(), PlanState.ACTIVE, quota_based=False, at=END) == ended
    # However late the ledger looks, the term ended at its end date.
    later = END + timedelta(days=9)
    assert term_end(dates(), PlanState.ACTIVE, quota_based=False, at=later) == ended


def test_a4_c9_a_renewal_bought_before_expiry_ended_the_term_at_the_purchase() -> None:
    bought = END - timedelta(days=10)
    found = term_end(dates(bought, bought), PlanState.ACTIVE, quota_based=True, at=bought)
    assert found == TermEnd(TermEndReason.RENEWAL_TOOK_OVER, bought)


def test_c9_a_used_up_term_ends_at_once_with_the_reason_of_its_family() -> None:
    at = START + timedelta(days=40)
    assert term_end(dates(), PlanState.EXHAUSTED, quota_based=False, at=at) == TermEnd(
        TermEndReason.REPLACEMENTS_USED, at
    )
    assert term_end(dates(), PlanState.EXHAUSTED, quota_based=True, at=at) == TermEnd(
        TermEndReason.BASE_QUOTA_REACHED, at
    )
    # Used up after its end date (an old term found exhausted): it ended at that date.
    late = END + timedelta(days=1)
    assert term_end(dates(), PlanState.EXHAUSTED, quota_based=False, at=late) == TermEnd(
        TermEndReason.REPLACEMENTS_USED, END
    )
    assert TermEndReason.BASE_QUOTA_REACHED.used_up
    assert not TermEndReason.RENEWAL_TOOK_OVER.used_up


def term(term_no: int, start: datetime) -> Term:
    return Term(term_no, "care-refresh-1y", start, start + timedelta(days=365), 2, 1, 2, 1)


def plan(*terms: Term) -> Plan:
    return Plan(
        uuid.uuid4(), "SN00000000001", "mini-3", "care-refresh-1y", "PL", PlanFamily.CONSUMER, terms
    )


def test_c9_each_ended_term_is_announced_once_with_the_term_that_carries_the_plan_on() -> None:
    renewed = plan(term(1, START), term(2, END))

    decision = end_terms(renewed, END)

    [announced] = decision.emits
    assert isinstance(announced.payload, TermEndedPayload)
    assert (announced.payload.term_no, announced.payload.continued_by_term_no) == (1, 2)
    assert decision.plan is not None
    first = decision.plan.term(1)
    assert first is not None
    assert (first.ended_at, first.end_reason) == (END, TermEndReason.TERM_EXPIRED)
    assert end_terms(decision.plan, END + timedelta(days=1)).emits == ()  # once


def test_c9_c10_a_terminated_plan_announces_no_term_end() -> None:
    ended = replace(plan(term(1, START)), terminated=True)
    assert end_terms(ended, END).emits == ()
