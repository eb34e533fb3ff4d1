"""Claims' answers do not depend on arrival order: an approval reserves what it takes from the
plan until the ledger answers (C5-C7, C9), every case ends with exactly one ClaimFinalised on
claims.events.v1, and a case sent again is answered again, with a copy or CASE_ALREADY_DECIDED;
in one batch as one by one."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from contracts import topics
from contracts.claims import (
    CASE_ALREADY_DECIDED,
    ClaimDecided,
    ClaimDecisionRepublished,
    ClaimFinalised,
    ClaimOutcome,
    ClaimReversed,
    RefusedBy,
    ResubmissionRefused,
)
from contracts.coverage import DeductionRefused, DeductionRefusedPayload
from contracts.envelope import Envelope
from contracts.upstream import IncidentCause, ReviewVerdict
from simulation import factories
from tests.handlers.support import ServiceHarness
from tests.handlers.test_claims import (
    AG_MODEL,
    CONSUMER_MODEL,
    claims,
    coverage,
    crash_lines,
    deduction,
    opened,
    quota_deduction,
    repair,
    review,
    same_as_one_by_one,
)

__all__ = ["claims"]  # the harness fixture, shared with the other claims handler tests


def of(kind: type[Envelope], events: list[Any]) -> list[Any]:
    return [event for event in events if isinstance(event, kind)]


def sent_again(event: Envelope) -> Envelope:
    """The repair system's retry: the same message under a new event id."""
    return event.model_copy(update={"event_id": uuid.uuid4()})


def ledger_refusal(plan_id: uuid.UUID, case_id: str, *reasons: str) -> DeductionRefused:
    payload = DeductionRefusedPayload(case_id=case_id, plan_id=plan_id, reason_codes=list(reasons))
    return DeductionRefused.new(payload, producer="coverage", correlation_id=case_id)


def ag_sn() -> str:
    return f"T40SN{uuid.uuid4().hex[:8].upper()}"


# Reservations (C5-C7, C9, C10) -----------------------------------------------------------------


async def test_c5_the_first_approval_reserves_the_last_replacement_and_the_ledger_finalises_it(
    claims: ServiceHarness,
) -> None:
    """C5: two cases racing on a plan with one replacement left: one approval, one refusal
    NO_REPLACEMENTS_LEFT, final at once; the approval is final once the ledger took it."""
    sn = factories.new_serial()
    plan = opened(sn, replacements=1)
    first = factories.assessment(sn, CONSUMER_MODEL)
    second = factories.assessment(sn, CONSUMER_MODEL)

    emitted = await same_as_one_by_one(claims, [coverage(plan)], [repair(first), repair(second)])

    approved, refused = of(ClaimDecided, emitted)
    assert approved.payload.outcome is ClaimOutcome.REPLACEMENT
    assert refused.payload.reason_codes == ["NO_REPLACEMENTS_LEFT"]
    [refusal] = of(ClaimFinalised, emitted)
    assert refusal.payload.case_id == second.payload.case_id
    assert (refusal.payload.outcome, refusal.payload.refused_by) == (
        ClaimOutcome.REFUSED,
        RefusedBy.CLAIMS,
    )
    assert refusal.payload.decision_id == refused.event_id

    answered = await claims.deliver(coverage(deduction(plan, approved, left=0)))

    [final] = answered.events()
    assert isinstance(final, ClaimFinalised)
    assert final.payload.decision_id == approved.event_id
    assert final.payload.outcome is ClaimOutcome.REPLACEMENT and final.payload.refused_by is None
    assert (final.payload.fee, final.payload.term_no) == (approved.payload.fee, 1)
    assert final.correlation_id == first.payload.case_id


async def test_c6_a_flyaway_reserves_the_plans_last_flyaway(claims: ServiceHarness) -> None:
    sn = factories.new_serial()
    plan = opened(sn, replacements=2, flyaways=1)
    flyaways = [factories.assessment(sn, CONSUMER_MODEL, IncidentCause.FLYAWAY) for _ in "ab"]

    emitted = await same_as_one_by_one(claims, [coverage(plan)], [repair(f) for f in flyaways])

    approved, refused = of(ClaimDecided, emitted)
    assert approved.payload.outcome is ClaimOutcome.REPLACEMENT and approved.payload.flyaway
    assert refused.payload.reason_codes == ["FLYAWAY_LIMIT_REACHED"]


async def test_c5_a_ledger_refusal_is_the_final_outcome_and_releases_the_reservation(
    claims: ServiceHarness,
) -> None:
    sn = factories.new_serial()
    plan = opened(sn, replacements=1)
    first = factories.assessment(sn, CONSUMER_MODEL)
    [approved] = (await claims.deliver(coverage(plan), repair(first))).events(ClaimDecided)
    refusal = ledger_refusal(plan.payload.plan_id, first.payload.case_id, "SN_NOT_ON_PLAN")

    emitted = await same_as_one_by_one(
        claims,
        [coverage(plan), repair(first)],
        [coverage(refusal), coverage(sent_again(refusal))],
    )

    [final] = emitted
    assert isinstance(final, ClaimFinalised)
    assert (final.payload.outcome, final.payload.refused_by, final.payload.reason_codes) == (
        ClaimOutcome.REFUSED,
        RefusedBy.LEDGER,
        ["SN_NOT_ON_PLAN"],
    )
    assert final.payload.fee is None and not final.payload.uses_replacement
    [after] = (await claims.deliver(repair(factories.assessment(sn, CONSUMER_MODEL)))).events()
    assert isinstance(after, ClaimDecided)
    assert after.payload.outcome is ClaimOutcome.REPLACEMENT, "the replacement was released"
    assert approved.payload.outcome is ClaimOutcome.REPLACEMENT


async def test_c7_c9_repairs_are_quoted_against_the_quota_the_earlier_approvals_left(
    claims: ServiceHarness,
) -> None:
    """C7: the second repair's base quota is what the first one's quote left, its shortfall the
    customer's; C9: the third finds the base quota spent. The ledger's split is the final one."""
    sn = ag_sn()
    plan = opened(sn, model=AG_MODEL, base_quota="5000.00")
    repairs = [factories.ag_assessment(sn, AG_MODEL, crash_lines()) for _ in "abc"]

    emitted = await same_as_one_by_one(claims, [coverage(plan)], [repair(r) for r in repairs])

    first, second, third = of(ClaimDecided, emitted)
    split = first.payload.repair_split
    assert split is not None and split.from_base_quota.amount == Decimal("4200.00")
    quoted = second.payload.repair_split
    assert quoted is not None
    assert quoted.base_quota_before.amount == Decimal("800.00")
    assert quoted.consumables_quota_before.amount == Decimal("1700.00")
    assert (quoted.from_base_quota.amount, quoted.shortfall.amount) == (
        Decimal("800.00"),
        Decimal("3400.00"),
    )
    assert third.payload.reason_codes == ["BASE_QUOTA_EXHAUSTED"]
    assert [final.payload.case_id for final in of(ClaimFinalised, emitted)] == [
        repairs[2].payload.case_id
    ]

    [final] = (await claims.deliver(coverage(quota_deduction(plan, first)))).events(ClaimFinalised)
    assert final.payload.repair_split == split and final.payload.term_no == 1


async def test_c10_a_reversal_releases_the_reservation_and_ends_the_plan_in_claims_view(
    claims: ServiceHarness,
) -> None:
    """C10: the next case on the plan is refused PLAN_TERMINATED alone, before the ledger's
    PlanTerminated comes back: the reversed case no longer holds the last replacement."""
    sn = factories.new_serial()
    plan = opened(sn, replacements=1)
    first = factories.assessment(sn, CONSUMER_MODEL)
    await claims.deliver(coverage(plan), repair(first))

    reviewed = await claims.deliver(
        (topics.CLAIM_REVIEWS, review(first.payload.case_id, ReviewVerdict.FRAUD, "3999.00"))
    )
    after = await claims.deliver(repair(factories.assessment(sn, CONSUMER_MODEL)))

    assert [type(event) for event in reviewed.events()] == [ClaimReversed]
    [row] = await claims.rows("SELECT state FROM plan_view")
    assert row["state"] == "terminated"
    [refused] = after.events(ClaimDecided)
    assert refused.payload.reason_codes == ["PLAN_TERMINATED"]


# A case sent again --------------------------------------------------------------------------


async def test_a_case_sent_again_unchanged_is_answered_with_a_copy_of_its_answers(
    claims: ServiceHarness,
) -> None:
    """The copy names the decision and the final outcome by event id and repeats them; it is
    neither a ClaimDecided nor a ClaimFinalised, so nothing downstream acts on it again."""
    sn = factories.new_serial()
    plan = opened(sn)
    first = factories.assessment(sn, CONSUMER_MODEL)
    [decided] = (await claims.deliver(coverage(plan), repair(first))).events(ClaimDecided)
    [final] = (await claims.deliver(coverage(deduction(plan, decided, left=1)))).events()
    cases_before = await claims.rows("SELECT * FROM cases")

    again = await claims.deliver(repair(sent_again(first)))

    [copy] = again.events()
    assert isinstance(copy, ClaimDecisionRepublished)
    assert copy.causation_id != first.event_id and copy.correlation_id == first.payload.case_id
    assert (copy.payload.decision_id, copy.payload.decision) == (decided.event_id, decided.payload)
    assert (copy.payload.final_outcome_id, copy.payload.final_outcome) == (
        final.event_id,
        final.payload,
    )
    assert await claims.rows("SELECT * FROM cases") == cases_before


async def test_a_case_and_its_retry_in_one_batch_as_one_by_one(claims: ServiceHarness) -> None:
    """A refusal is final at once, so its copy carries the final outcome; an approval still
    before the ledger is copied without one."""
    sn = factories.new_serial()
    refused = factories.assessment(sn, CONSUMER_MODEL, IncidentCause.THEFT)
    approved = factories.assessment(sn, CONSUMER_MODEL)

    emitted = await same_as_one_by_one(
        claims,
        [coverage(opened(sn))],
        [
            repair(refused),
            repair(approved),
            repair(sent_again(refused)),
            repair(sent_again(approved)),
        ],
    )

    decisions = {event.payload.case_id: event for event in of(ClaimDecided, emitted)}
    [final] = of(ClaimFinalised, emitted)
    on_refused, on_approved = of(ClaimDecisionRepublished, emitted)
    assert on_refused.payload.decision_id == decisions[refused.payload.case_id].event_id
    assert on_refused.payload.final_outcome_id == final.event_id
    assert on_approved.payload.decision_id == decisions[approved.payload.case_id].event_id
    assert on_approved.payload.final_outcome is None


async def test_a_decided_case_sent_with_other_facts_is_refused_case_already_decided(
    claims: ServiceHarness,
) -> None:
    """Theft, then collision under the same case id: the theft's refusal stands, and the second
    report is answered CASE_ALREADY_DECIDED with the decision's id; nothing is decided again."""
    sn = factories.new_serial()
    theft = factories.assessment(sn, CONSUMER_MODEL, IncidentCause.THEFT)
    collision = factories.assessment(
        sn, CONSUMER_MODEL, IncidentCause.COLLISION, case_id=theft.payload.case_id
    )

    emitted = await same_as_one_by_one(
        claims, [coverage(opened(sn))], [repair(theft), repair(collision)]
    )

    decided, final, answer = emitted
    assert isinstance(decided, ClaimDecided) and isinstance(final, ClaimFinalised)
    assert isinstance(answer, ResubmissionRefused)
    assert answer.payload.reason_codes == [CASE_ALREADY_DECIDED]
    assert (answer.payload.decision_id, answer.payload.outcome) == (
        decided.event_id,
        ClaimOutcome.REFUSED,
    )
    assert answer.causation_id == collision.event_id
    [case] = await claims.rows("SELECT cause, reason_codes FROM cases")
    assert (case["cause"], case["reason_codes"]) == ("theft", ["EXCLUDED_THEFT"])


async def test_x3_an_express_request_and_its_unit_sent_again_are_answered_again(
    claims: ServiceHarness,
) -> None:
    """X3: the request sent again gets a copy of the decision; the unit's arrival sent again is
    compared with the arrival, not the request, and gets a copy too; a late unit after the
    deadline's capture is answered CASE_ALREADY_DECIDED."""
    sn = factories.new_serial()
    request = factories.express_request(sn, CONSUMER_MODEL)
    arrival = factories.assessment(sn, CONSUMER_MODEL, case_id=request.payload.case_id)

    emitted = await same_as_one_by_one(
        claims,
        [coverage(opened(sn))],
        [
            repair(request),
            repair(arrival),
            repair(sent_again(request)),
            repair(sent_again(arrival)),
        ],
    )

    assert [type(event).__name__ for event in emitted] == [
        "ClaimDecided",
        "PreAuthorisationReleaseRequested",
        "ClaimDecisionRepublished",
        "ClaimDecisionRepublished",
    ]
    late = factories.express_request(sn, CONSUMER_MODEL)
    await claims.deliver(repair(late), repair(factories.unit_overdue(late.payload.case_id)))
    after = await claims.deliver(
        repair(factories.assessment(sn, CONSUMER_MODEL, case_id=late.payload.case_id))
    )
    [refused] = after.events()
    assert isinstance(refused, ResubmissionRefused)
