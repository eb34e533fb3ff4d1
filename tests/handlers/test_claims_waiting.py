"""Claims waits instead of refusing for what it has not read yet: an assessment on an SN whose
plan claims has not seen (D4), an AG claim on an accessory it has not seen associated (G4), a
liability incident on a drone without a plan (L1-L4); refused as before once the grace is over."""

from __future__ import annotations

import uuid
from datetime import timedelta

from contracts import topics
from contracts.claims import ClaimDecided, ClaimFinalised, ClaimOutcome, LiabilityIncidentRefused
from contracts.coverage import (
    CoverageExtended,
    CoverageExtendedPayload,
    PlanInherited,
    PlanInheritedPayload,
)
from contracts.insurer import LiabilityClaimReported
from contracts.liability import LiabilityKind
from contracts.waiting import EventWaiting, WaitOver
from simulation import factories
from tests.handlers.support import ServiceHarness
from tests.handlers.test_claims import (
    AG_MODEL,
    CONSUMER_MODEL,
    associated,
    claims,
    coverage,
    crash_lines,
    opened,
    repair,
)

__all__ = ["claims"]  # the harness fixture, shared with the other claims handler tests

GRACE = timedelta(minutes=15)


async def waiting(harness: ServiceHarness) -> list[tuple[str, str]]:
    rows = await harness.rows("SELECT dependency, key FROM waiting_events ORDER BY key")
    return [(row["dependency"], row["key"]) for row in rows]


async def test_d4_an_assessment_before_its_plan_waits_and_is_decided_when_the_plan_comes(
    claims: ServiceHarness,
) -> None:
    claims.grace = GRACE
    sn = factories.new_serial()
    assessed = factories.assessment(sn, CONSUMER_MODEL)

    kept = await claims.deliver(repair(assessed))
    assert kept.events(ClaimDecided) == [] and len(kept.events(EventWaiting)) == 1
    assert await waiting(claims) == [("plan-of-assessment", sn)]
    assert await claims.rows("SELECT 1 FROM cases") == []

    handled = await claims.deliver(coverage(opened(sn)))

    [decided] = handled.events(ClaimDecided)
    assert decided.payload.outcome is ClaimOutcome.REPLACEMENT
    assert decided.causation_id == assessed.event_id
    assert len(handled.events(WaitOver)) == 1
    assert await waiting(claims) == []


async def test_d4_an_assessment_and_its_plan_in_one_batch_is_decided_against_the_plan(
    claims: ServiceHarness,
) -> None:
    """Across topics a batch keeps no order: the assessment first, its plan after."""
    claims.grace = GRACE
    sn = factories.new_serial()

    handled = await claims.deliver(
        repair(factories.assessment(sn, CONSUMER_MODEL)), coverage(opened(sn))
    )

    [decided] = handled.events(ClaimDecided)
    assert decided.payload.outcome is ClaimOutcome.REPLACEMENT
    assert await waiting(claims) == []


async def test_f3_a_claim_on_the_new_sn_waits_for_the_plan_to_move_to_it(
    claims: ServiceHarness,
) -> None:
    claims.grace = GRACE
    old_sn, new_sn = factories.new_serial(), factories.new_serial()
    plan = opened(old_sn)
    await claims.deliver(coverage(plan))
    on_new = factories.assessment(new_sn, CONSUMER_MODEL)
    assert (await claims.deliver(repair(on_new))).events(ClaimDecided) == []

    moved = PlanInheritedPayload(
        plan_id=plan.payload.plan_id,
        case_id="CASE-EARLIER",
        old_sn=old_sn,
        new_sn=new_sn,
        term_end=plan.payload.term_end,
        replacements_left=1,
        flyaways_left=1,
    )
    inherited = PlanInherited.new(moved, producer="coverage", correlation_id="CASE-EARLIER")
    handled = await claims.deliver(coverage(inherited))

    [decided] = handled.events(ClaimDecided)
    assert (decided.payload.sn, decided.payload.outcome) == (new_sn, ClaimOutcome.REPLACEMENT)
    assert decided.payload.plan_id == plan.payload.plan_id


async def test_a3_a_claim_after_the_known_term_waits_for_the_renewal_that_covers_it(
    claims: ServiceHarness,
) -> None:
    """C1: the incident is after the only term claims knows; the renewal's term covers it."""
    claims.grace = GRACE
    sn = factories.new_serial()
    first = opened(sn)
    ended = first.payload.term_start - timedelta(days=1)
    start = ended - timedelta(days=365)
    expired = first.model_copy(
        update={
            "payload": first.payload.model_copy(update={"term_start": start, "term_end": ended})
        }
    )
    await claims.deliver(coverage(expired))
    assessed = factories.assessment(sn, CONSUMER_MODEL)
    assert (await claims.deliver(repair(assessed))).events(ClaimDecided) == []

    renewal = CoverageExtendedPayload(
        plan_id=first.payload.plan_id,
        sn=sn,
        sku="care-refresh-1y",
        term_no=2,
        term_start=ended,
        term_end=ended + timedelta(days=365),
        replacements_left=2,
        flyaways_left=1,
    )
    extended = CoverageExtended.new(renewal, producer="coverage", correlation_id=sn)
    handled = await claims.deliver(coverage(extended))

    [decided] = handled.events(ClaimDecided)
    assert decided.payload.outcome is ClaimOutcome.REPLACEMENT


async def test_d4_after_the_grace_the_assessment_is_refused_no_plan_for_sn(
    claims: ServiceHarness,
) -> None:
    claims.grace = GRACE
    sn = factories.new_serial()
    await claims.deliver(repair(factories.assessment(sn, CONSUMER_MODEL)))

    expired = await claims.expire_waiting()

    [refused] = expired.events(ClaimDecided)
    assert refused.payload.reason_codes == ["NO_PLAN_FOR_SN"]
    [final] = expired.events(ClaimFinalised)
    assert final.payload.decision_id == refused.event_id
    assert await waiting(claims) == []


async def test_g4_a_claim_on_an_accessory_not_seen_yet_waits_for_its_association(
    claims: ServiceHarness,
) -> None:
    """The drone's plan is known; the accessory's association comes after the claim on it."""
    claims.grace = GRACE
    drone = f"T40SN{uuid.uuid4().hex[:8].upper()}"
    accessory = "SPRAY" + uuid.uuid4().hex[:8].upper()
    await claims.deliver(coverage(opened(drone, model=AG_MODEL)))
    on_accessory = factories.ag_assessment(drone, AG_MODEL, crash_lines(), accessory_sn=accessory)

    kept = await claims.deliver(repair(on_accessory))
    assert kept.events(ClaimDecided) == []
    assert await waiting(claims) == [("accessory-of-assessment", accessory)]

    handled = await claims.deliver((topics.ACTIVATION_EVENTS, associated(accessory, drone)))

    [decided] = handled.events(ClaimDecided)
    assert decided.payload.outcome is ClaimOutcome.REPAIR and "G4" in decided.payload.rules_applied


async def test_g4_an_assessment_waits_for_its_plan_then_for_its_accessory(
    claims: ServiceHarness,
) -> None:
    claims.grace = GRACE
    drone = f"T40SN{uuid.uuid4().hex[:8].upper()}"
    accessory = "SPRAY" + uuid.uuid4().hex[:8].upper()
    await claims.deliver(
        repair(factories.ag_assessment(drone, AG_MODEL, crash_lines(), accessory_sn=accessory))
    )

    await claims.deliver(coverage(opened(drone, model=AG_MODEL)))

    assert await waiting(claims) == [("accessory-of-assessment", accessory)]
    expired = await claims.expire_waiting()
    [refused] = expired.events(ClaimDecided)
    assert refused.payload.reason_codes == ["ACCESSORY_NOT_ASSOCIATED"]


async def test_l1_l4_an_incident_on_a_drone_without_a_plan_waits_for_it(
    claims: ServiceHarness,
) -> None:
    claims.grace = GRACE
    drone = f"T40SN{uuid.uuid4().hex[:8].upper()}"
    incident = factories.liability_incident(drone, LiabilityKind.THIRD_PARTY_PROPERTY, "5000")
    stray = factories.liability_incident(
        factories.new_serial(), LiabilityKind.THIRD_PARTY_PROPERTY, "100"
    )

    kept = await claims.deliver(
        (topics.LIABILITY_INCIDENTS, incident), (topics.LIABILITY_INCIDENTS, stray)
    )
    assert [type(event) for event in kept.events()] == [EventWaiting, EventWaiting]
    routed = await claims.deliver(coverage(opened(drone, model=AG_MODEL)))
    refused = await claims.expire_waiting()

    [claim] = routed.events(LiabilityClaimReported)
    assert claim.payload.incident_id == incident.payload.incident_id
    [refusal] = refused.events(LiabilityIncidentRefused)
    assert refusal.payload.reason_codes == ["NO_PLAN_FOR_SN"]
