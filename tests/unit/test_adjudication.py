"""C1-C6, X4: adjudication of a consumer-plan assessment."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from contracts.claims import ClaimOutcome
from contracts.upstream import IncidentCause
from services.claims.domain import EXCLUSIONS, Assessment, ClaimRefusal, PlanView, adjudicate

START = datetime(2026, 1, 1, tzinfo=UTC)
PLAN = PlanView("plan-1", START, START + timedelta(days=365), 2, 1, 0, flyaway_eligible=True)
CRASH = Assessment(
    reported_sn="SN0000000001",
    unit_sn="SN0000000001",
    cause=IncidentCause.COLLISION,
    incident_at=START + timedelta(days=10),
    assessed_at=START + timedelta(days=12),
    flight_record_provided=True,
)


@pytest.mark.parametrize(
    "cause",
    [
        IncidentCause.OPERATOR_ERROR,
        IncidentCause.COLLISION,
        IncidentCause.FALL,
        IncidentCause.WATER_DAMAGE,
        IncidentCause.SIGNAL_INTERFERENCE,
    ],
)
def test_c2_c5_covered_causes_get_a_replacement(cause: IncidentCause) -> None:
    decision = adjudicate(replace(CRASH, cause=cause), PLAN)
    assert decision.outcome is ClaimOutcome.REPLACEMENT
    assert decision.uses_replacement and not decision.flyaway
    assert {"C1", "C2", "C4", "C5"} <= set(decision.rules)


@pytest.mark.parametrize("cause", list(EXCLUSIONS))
def test_c3_each_exclusion_has_its_own_reason(cause: IncidentCause) -> None:
    decision = adjudicate(replace(CRASH, cause=cause), PLAN)
    assert decision.outcome is ClaimOutcome.REFUSED
    assert decision.reasons == (EXCLUSIONS[cause],)
    assert len(set(EXCLUSIONS.values())) == len(EXCLUSIONS)


def test_c4_a_different_sn_on_the_returned_unit_refuses_the_claim() -> None:
    decision = adjudicate(replace(CRASH, unit_sn="SN0000000099"), PLAN)
    assert decision.reasons == (ClaimRefusal.SN_MISMATCH,)
    assert adjudicate(replace(CRASH, unit_sn=None), PLAN).reasons == (
        ClaimRefusal.UNIT_NOT_RETURNED,
    )


def test_c1_incident_outside_the_term_and_claims_filed_late_are_refused() -> None:
    before = adjudicate(replace(CRASH, incident_at=START - timedelta(days=1)), PLAN)
    assert before.reasons == (ClaimRefusal.INCIDENT_OUTSIDE_TERM,)
    late = adjudicate(replace(CRASH, assessed_at=PLAN.term_end + timedelta(days=1)), PLAN)
    assert late.reasons == (ClaimRefusal.CLAIM_FILED_AFTER_TERM,)


def test_d4_no_plan_on_the_sn() -> None:
    assert adjudicate(CRASH, None).reasons == (ClaimRefusal.NO_PLAN_FOR_SN,)


def test_c5_no_replacements_left() -> None:
    decision = adjudicate(CRASH, replace(PLAN, replacements_left=0, flyaways_left=0))
    assert decision.reasons == (ClaimRefusal.NO_REPLACEMENTS_LEFT,)


def test_c6_flyaway_needs_eligibility_a_flight_record_and_flyaways_left() -> None:
    flyaway = replace(CRASH, cause=IncidentCause.FLYAWAY, unit_sn=None)
    approved = adjudicate(flyaway, PLAN)
    assert approved.outcome is ClaimOutcome.REPLACEMENT and approved.flyaway
    refused = adjudicate(
        replace(flyaway, flight_record_provided=False),
        replace(PLAN, flyaways_left=0, flyaway_eligible=False),
    )
    assert set(refused.reasons) == {
        ClaimRefusal.FLYAWAY_NOT_ELIGIBLE,
        ClaimRefusal.FLYAWAY_WITHOUT_FLIGHT_RECORD,
        ClaimRefusal.FLYAWAY_LIMIT_REACHED,
    }


def test_x4_a_manufacturing_defect_is_a_warranty_repair_that_uses_nothing() -> None:
    decision = adjudicate(replace(CRASH, cause=IncidentCause.MANUFACTURING_DEFECT), PLAN)
    assert decision.outcome is ClaimOutcome.WARRANTY_REPAIR
    assert not decision.uses_replacement
