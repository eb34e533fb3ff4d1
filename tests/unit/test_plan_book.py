"""C1, C5, C9, C10, F3: the ledger's decisions against a batch's plans, in order, without I/O."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from contracts.agricultural import PlanFamily
from contracts.claims import ClaimDecided, ClaimDecidedPayload, ClaimOutcome
from contracts.coverage import DeductionAppliedPayload, DeductionRefusedPayload
from contracts.money import Money
from services.coverage.domain.decisions import decide_claim
from services.coverage.domain.ledger import PlanState
from services.coverage.domain.plan import (
    Plan,
    PlanBook,
    RefusedDeduction,
    ReplacementDeduction,
    Term,
    UnknownPlanError,
)

pytestmark = pytest.mark.unit

START = datetime(2026, 1, 1, tzinfo=UTC)
YEAR = timedelta(days=365)
SN = "SN00000000001"


def term(term_no: int, start: datetime, replacements: int = 2) -> Term:
    return Term(term_no, "care-refresh-1y", start, start + YEAR, replacements, 1, replacements, 1)


def plan(*terms: Term) -> Plan:
    return Plan(
        uuid.uuid4(), SN, "mavic-3-pro", "care-refresh-1y", "EU", PlanFamily.CONSUMER, terms
    )


def replacement(on: Plan, at: datetime, case_id: str | None = None) -> ClaimDecided:
    case_id = case_id or f"CASE-{uuid.uuid4().hex[:8]}"
    return ClaimDecided.new(
        ClaimDecidedPayload(
            case_id=case_id,
            sn=on.sn,
            model=on.model,
            plan_id=on.plan_id,
            outcome=ClaimOutcome.REPLACEMENT,
            incident_at=at,
            uses_replacement=True,
            fee=Money.of("99.00", "EUR"),
            customer_region="EU",
        ),
        producer="claims",
        correlation_id=case_id,
    )


def test_c1_the_term_in_force_holds_the_incident_and_the_later_one_where_two_meet() -> None:
    first, renewal = term(1, START), term(2, START + YEAR)
    early_renewal = term(3, START + YEAR + YEAR / 2)
    renewed = plan(first, renewal, early_renewal)

    assert renewed.term_in_force(START) == first
    assert (
        renewed.term_in_force(START + YEAR) == renewal
    )  # [start, end): the renewal's first moment
    assert renewed.term_in_force(START + YEAR + YEAR / 2) == early_renewal
    assert renewed.term_in_force(START - timedelta(days=1)) == early_renewal  # none: the latest


def test_c5_c9_a_book_decides_in_order_against_what_it_decided_before() -> None:
    one_left = plan(term(1, START, replacements=1))
    book = PlanBook({one_left.plan_id: one_left})
    first, second = replacement(one_left, START + YEAR / 4), replacement(one_left, START + YEAR / 3)

    for event in (first, second):
        book.record(decide_claim(book, event))

    assert [type(row) for row in (*book.replacement_deductions, *book.refused_deductions)] == [
        ReplacementDeduction,
        RefusedDeduction,
    ]
    assert book.refused_deductions[0].reasons == ("NO_REPLACEMENTS_LEFT",)
    [(plan_id, left)] = book.changed_terms()
    assert (plan_id, left.replacements_left, left.state) == (
        one_left.plan_id,
        0,
        PlanState.EXHAUSTED,
    )
    assert book.new_terms() == [] and book.opened_plans() == []


def test_one_case_one_deduction_and_a_decision_carries_its_answers() -> None:
    covered = plan(term(1, START))
    book = PlanBook({covered.plan_id: covered}, settled_cases={"CASE-SETTLED"})
    settled = replacement(covered, START + YEAR / 4, case_id="CASE-SETTLED")
    fresh = replacement(covered, START + YEAR / 4)

    assert decide_claim(book, settled).emits == ()
    decision = decide_claim(book, fresh)

    [applied] = decision.emits
    assert isinstance(applied.payload, DeductionAppliedPayload)
    assert (applied.plan_id, applied.correlation_id) == (covered.plan_id, fresh.payload.case_id)
    assert applied.payload.replacements_left == 1


def test_c10_a_refusal_names_its_case_and_an_unknown_plan_is_no_refusal() -> None:
    ended = replace(plan(term(1, START)), terminated=True)
    book = PlanBook({ended.plan_id: ended})
    claim = replacement(ended, START + YEAR / 4)

    [refused] = decide_claim(book, claim).emits
    assert isinstance(refused.payload, DeductionRefusedPayload)
    assert refused.payload.reason_codes == ["PLAN_TERMINATED"]
    with pytest.raises(UnknownPlanError, match="no plan"):
        decide_claim(PlanBook({}), claim)
