"""C5, C6, C9, F3: what the plan ledger takes off a consumer plan."""

from datetime import UTC, datetime, timedelta

from services.coverage.domain.ledger import (
    Deducted,
    DeductionRefusal,
    DeductionRefused,
    Ledger,
    PlanState,
    deduct_replacement,
    inherit,
)

START = datetime(2026, 1, 1, tzinfo=UTC)
ONE_YEAR = Ledger("SN0000000001", START, START + timedelta(days=365), 2, 1, PlanState.ACTIVE)
INCIDENT = START + timedelta(days=30)


def test_c5_a_replacement_takes_one_and_the_last_one_exhausts_the_plan() -> None:
    first = deduct_replacement(ONE_YEAR, sn=ONE_YEAR.sn, flyaway=False, incident_at=INCIDENT)
    assert isinstance(first, Deducted)
    assert (first.ledger.replacements_left, first.ledger.flyaways_left) == (1, 1)
    assert not first.exhausted
    second = deduct_replacement(first.ledger, sn=ONE_YEAR.sn, flyaway=False, incident_at=INCIDENT)
    assert isinstance(second, Deducted)
    assert second.ledger.replacements_left == 0
    assert second.exhausted  # C9
    third = deduct_replacement(second.ledger, sn=ONE_YEAR.sn, flyaway=False, incident_at=INCIDENT)
    assert third == DeductionRefused((DeductionRefusal.NO_REPLACEMENTS_LEFT,))


def test_c6_flyaways_count_inside_the_total_and_have_their_own_limit() -> None:
    flown = deduct_replacement(ONE_YEAR, sn=ONE_YEAR.sn, flyaway=True, incident_at=INCIDENT)
    assert isinstance(flown, Deducted)
    assert (flown.ledger.replacements_left, flown.ledger.flyaways_left) == (1, 0)
    again = deduct_replacement(flown.ledger, sn=ONE_YEAR.sn, flyaway=True, incident_at=INCIDENT)
    assert again == DeductionRefused((DeductionRefusal.FLYAWAY_LIMIT_REACHED,))


def test_c1_the_ledger_refuses_an_incident_outside_the_term_or_another_sn() -> None:
    late = deduct_replacement(
        ONE_YEAR, sn=ONE_YEAR.sn, flyaway=False, incident_at=ONE_YEAR.term_end
    )
    assert late == DeductionRefused((DeductionRefusal.PLAN_NOT_IN_FORCE,))
    other = deduct_replacement(ONE_YEAR, sn="SN0000000002", flyaway=False, incident_at=INCIDENT)
    assert other == DeductionRefused((DeductionRefusal.SN_NOT_ON_PLAN,))


def test_f3_the_replacement_inherits_the_plan_as_it_stands_once() -> None:
    moved = inherit(ONE_YEAR, old_sn=ONE_YEAR.sn, new_sn="NEWSN00000001")
    assert moved is not None
    assert moved.sn == "NEWSN00000001"
    assert (moved.term_end, moved.replacements_left) == (ONE_YEAR.term_end, 2)
    assert inherit(moved, old_sn=ONE_YEAR.sn, new_sn="NEWSN00000001") is None


def test_c10_a_terminated_plan_pays_nothing_more() -> None:
    ended = Ledger(ONE_YEAR.sn, START, ONE_YEAR.term_end, 2, 1, PlanState.ACTIVE, terminated=True)
    refused = deduct_replacement(ended, sn=ONE_YEAR.sn, flyaway=False, incident_at=INCIDENT)
    assert refused == DeductionRefused((DeductionRefusal.PLAN_TERMINATED,))
