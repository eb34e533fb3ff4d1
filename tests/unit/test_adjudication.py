"""C1-C6, X4: adjudication of a consumer-plan assessment."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from contracts.claims import ClaimOutcome
from contracts.upstream import CustomerChoice, IncidentCause, ServiceMode
from services.claims.domain import (
    EXCLUSIONS,
    Assessment,
    ClaimRefusal,
    PartCheck,
    PlanView,
    PreAuthorisationCapture,
    adjudicate,
    check_express_unit,
)

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
    bound = START + timedelta(days=1)
    flyaway = replace(
        CRASH,
        cause=IncidentCause.FLYAWAY,
        unit_sn=None,
        account_bound_at=bound,
        remote_controller_bound_at=bound,
    )
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


def test_x2_flyaway_needs_account_and_controller_bound_before_the_incident() -> None:
    flyaway = replace(CRASH, cause=IncidentCause.FLYAWAY, unit_sn=None)
    assert adjudicate(flyaway, PLAN).reasons == (ClaimRefusal.FLYAWAY_APP_BINDING_MISSING,)
    late = replace(
        flyaway,
        account_bound_at=CRASH.incident_at - timedelta(days=3),
        remote_controller_bound_at=CRASH.incident_at + timedelta(minutes=1),
    )
    assert adjudicate(late, PLAN).reasons == (ClaimRefusal.FLYAWAY_APP_BINDING_MISSING,)


def test_c4_parts_with_missing_or_foreign_serials_refuse_the_claim() -> None:
    unreadable = PartCheck(sn_present_and_readable=False, matches_body_record=True)
    foreign = PartCheck(sn_present_and_readable=True, matches_body_record=False)
    good = PartCheck(sn_present_and_readable=True, matches_body_record=True)
    assert adjudicate(replace(CRASH, parts=(good,)), PLAN).outcome is ClaimOutcome.REPLACEMENT
    assert adjudicate(replace(CRASH, parts=(good, unreadable)), PLAN).reasons == (
        ClaimRefusal.SN_UNREADABLE_OR_MISSING,
    )
    assert adjudicate(replace(CRASH, parts=(foreign,)), PLAN).reasons == (
        ClaimRefusal.PART_SN_MISMATCH,
    )


def test_c5_a_customer_who_chooses_a_paid_repair_uses_no_replacement() -> None:
    decision = adjudicate(replace(CRASH, customer_choice=CustomerChoice.PAID_REPAIR), PLAN)
    assert decision.outcome is ClaimOutcome.PAID_REPAIR_CHOSEN
    assert not decision.uses_replacement
    refused = adjudicate(
        replace(CRASH, customer_choice=CustomerChoice.PAID_REPAIR, cause=IncidentCause.THEFT), PLAN
    )
    assert refused.outcome is ClaimOutcome.REFUSED  # the choice does not cover an exclusion


def test_c10_claims_on_a_terminated_plan_are_refused() -> None:
    decision = adjudicate(CRASH, replace(PLAN, terminated=True))
    assert decision.reasons == (ClaimRefusal.PLAN_TERMINATED,)
    assert "C10" in decision.rules


def test_x2_express_cannot_be_used_for_a_flyaway() -> None:
    bound = START + timedelta(days=1)
    express_flyaway = replace(
        CRASH,
        cause=IncidentCause.FLYAWAY,
        unit_sn=None,
        account_bound_at=bound,
        remote_controller_bound_at=bound,
        service_mode=ServiceMode.EXPRESS_PREMIUM,
    )
    assert adjudicate(express_flyaway, PLAN).reasons == (ClaimRefusal.EXPRESS_NOT_FOR_FLYAWAY,)


def test_x3_the_express_unit_decides_capture_or_release() -> None:
    sn = "SN0000000001"
    assert check_express_unit(reported_sn=sn, unit_sn=sn, battery_present=True) == ()
    assert check_express_unit(reported_sn=sn, unit_sn="SN0000000002", battery_present=False) == (
        PreAuthorisationCapture.SN_MISMATCH,
        PreAuthorisationCapture.BATTERY_MISSING,
    )
    assert check_express_unit(reported_sn=sn, unit_sn=None, battery_present=True) == (
        PreAuthorisationCapture.SN_MISMATCH,
    )
