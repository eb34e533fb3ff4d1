"""The insurers end to end (A5, C8, L1-L4): electronic policies set the term, the base-quota part
of each AG repair is reported to the model's insurer, liability incidents are routed with their
limits, and the insurers' answers are tracked."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from contracts import topics as t
from contracts.claims import ClaimDecided, ClaimOutcome, ClaimReversed, LiabilityIncidentRefused
from contracts.coverage import QuotaDeductionApplied, QuotaDeductionAppliedPayload, TermConfirmed
from contracts.insurer import InsurerAnswer, InsurerClaimReported, LiabilityClaimReported
from contracts.liability import LiabilityKind
from contracts.money import Money
from contracts.upstream import (
    ReviewConcluded,
    ReviewConcludedPayload,
    ReviewVerdict,
)
from simulation import factories as f
from simulation.agricultural import base_quota_split
from simulation.kafka_io import EventLog, Upstream
from simulation.processes import Platform
from tests.e2e.ag_journeys import ag_claim, ledger_answer, open_ag_plan
from tests.e2e.journeys import Device, activate_ag_plan, claims_sees_plan_on, eventually, query

pytestmark = pytest.mark.e2e

SHANGHAI = ZoneInfo("Asia/Shanghai")


def cny(amount: str) -> Money:
    return Money.of(amount, "CNY")


async def test_a5_the_insurers_policy_sets_the_terms_exact_dates(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    opened_at = f.now() - timedelta(days=10)
    device = await open_ag_plan(platform, upstream, events, "T70", term_start=opened_at)
    policy_start = f.now() - timedelta(days=2)
    policy_end = policy_start + timedelta(days=365)
    policy = f.policy_confirmed(device.plan_id, policy_start, policy_end, insurer="picc")
    await upstream.send(t.INSURER_RESPONSES, device.plan_id, policy)
    (confirmed,) = await events.wait_for(
        TermConfirmed, lambda e: str(e.payload.plan_id) == device.plan_id
    )
    assert (confirmed.payload.term_no, confirmed.payload.policy_no) == (
        1,
        policy.payload.policy_no,
    )
    (term,) = await query(
        platform,
        "coverage",
        "SELECT term_start, term_end, policy_no, insurer FROM plan_terms WHERE plan_id = $1::uuid",
        device.plan_id,
    )
    assert tuple(term) == (policy_start, policy_end, policy.payload.policy_no, "picc")

    async def claims_follows() -> bool:
        rows = await query(
            platform,
            "claims",
            "SELECT term_start, policy_no FROM plan_view_terms WHERE plan_id = $1::uuid",
            device.plan_id,
        )
        return bool(rows[0]["term_start"] == policy_start)

    await eventually(claims_follows, "claims' read model follows the policy's dates")
    before_policy = await ag_claim(
        upstream,
        events,
        device,
        [f.repair_line("arm", "500.00")],
        incident_at=f.now() - timedelta(days=5),
    )
    assert before_policy.payload.reason_codes == ["INCIDENT_OUTSIDE_TERM"]
    # The same policy again changes nothing.
    again = policy.model_copy(update={"event_id": uuid.uuid4()})
    await upstream.send(t.INSURER_RESPONSES, device.plan_id, again)
    sentinel = await ag_claim(upstream, events, device, [f.repair_line("arm", "500.00")])
    assert sentinel.payload.outcome is ClaimOutcome.REPAIR
    assert len(events.of(TermConfirmed, lambda e: str(e.payload.plan_id) == device.plan_id)) == 1


async def test_c8_the_base_quota_part_goes_to_the_models_insurer_and_its_answers_are_tracked(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await open_ag_plan(platform, upstream, events, "T40")
    decided = await ag_claim(
        upstream,
        events,
        device,
        [f.repair_line("arm", "3000.00", "200.00"), f.repair_line("blade", "300.00")],
    )
    case_id = decided.payload.case_id
    (reported,) = await events.wait_for(
        InsurerClaimReported, lambda e: e.payload.case_id == case_id
    )
    claim = reported.payload
    assert claim.insurer == "zhongan"  # the T40's insurer in the catalogue
    assert claim.base_quota_amount == cny("3200.00")  # never the consumables part (P5)
    assert [line.part_code for line in claim.lines] == ["arm"]
    assert claim.settlement == "repair_service"  # C8: repair services, never cash
    assert claim.incident_date == claim.incident_at.astimezone(SHANGHAI).date()  # M2

    for answer, amount in (
        (InsurerAnswer.ACCEPTED, None),
        (InsurerAnswer.PAID, "3200.00"),
        (InsurerAnswer.ACCEPTED, None),  # late: a paid claim stays paid
    ):
        await upstream.send(
            t.INSURER_RESPONSES, case_id, f.insurer_claim_answer(case_id, "zhongan", answer, amount)
        )
    sentinel = f.insurer_claim_answer(case_id, "zhongan", InsurerAnswer.REJECTED)
    await upstream.send(t.INSURER_RESPONSES, case_id, sentinel)  # same key: handled last

    async def answered() -> bool:
        rows = await query(
            platform,
            "claims",
            "SELECT 1 FROM inbox WHERE event_id = $1",
            sentinel.event_id,
        )
        return bool(rows)

    await eventually(answered, "claims handled the insurer's answers")
    (case,) = await query(
        platform,
        "claims",
        "SELECT insurer, insurer_state, insurer_amount, insurer_paid_amount FROM cases"
        " WHERE case_id = $1",
        case_id,
    )
    assert tuple(case) == ("zhongan", "paid", Decimal("3200.00"), Decimal("3200.00"))

    consumables_only = await ag_claim(upstream, events, device, [f.repair_line("nozzle", "90.00")])
    applied = await ledger_answer(events, consumables_only.payload.case_id)
    assert isinstance(applied, QuotaDeductionApplied)
    assert not events.of(
        InsurerClaimReported, lambda e: e.payload.case_id == consumables_only.payload.case_id
    )


async def test_l1_l4_liability_incidents_are_routed_with_their_limits_or_refused(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    # Through activation: only a first year gifted with a new-drone bundle has the cover (P6).
    ten_days_ago = f.now() - timedelta(days=10)
    bundle, _ = await activate_ag_plan(
        platform, upstream, events, "T40", at=ten_days_ago, new_drone_bundle=True
    )
    bought, _ = await activate_ag_plan(platform, upstream, events, "T40", at=ten_days_ago)
    large, _ = await activate_ag_plan(
        platform, upstream, events, "T100", at=ten_days_ago, new_drone_bundle=True
    )
    for device in (bundle, bought, large):
        await claims_sees_plan_on(platform, device.sn)
    incidents = {
        "property": f.liability_incident(bundle.sn, LiabilityKind.THIRD_PARTY_PROPERTY, "5000.00"),
        "injury": f.liability_incident(
            bundle.sn, LiabilityKind.THIRD_PARTY_INJURY, "50000.00", medical="40000.00"
        ),
        "operator": f.liability_incident(
            large.sn, LiabilityKind.OPERATOR_ACCIDENT, "150000.00", medical="150000.00"
        ),
        "hong kong": f.liability_incident(
            bundle.sn, LiabilityKind.THIRD_PARTY_PROPERTY, "800.00", region="HK"
        ),
        "no cover": f.liability_incident(bought.sn, LiabilityKind.THIRD_PARTY_PROPERTY, "800.00"),
    }
    for incident in incidents.values():
        await upstream.send(t.LIABILITY_INCIDENTS, incident.payload.drone_sn, incident)

    def routed(name: str) -> LiabilityClaimReported:
        (found,) = events.of(
            LiabilityClaimReported,
            lambda e: e.payload.incident_id == incidents[name].payload.incident_id,
        )
        return found

    await events.wait_for(
        LiabilityClaimReported,
        lambda e: (
            e.payload.incident_id
            in {incidents[name].payload.incident_id for name in ("property", "injury", "operator")}
        ),
        count=3,
    )
    refusals = await events.wait_for(
        LiabilityIncidentRefused,
        lambda e: (
            e.payload.incident_id
            in {incidents[name].payload.incident_id for name in ("hong kong", "no cover")}
        ),
        count=2,
    )
    by_incident = {event.payload.incident_id: event.payload.reason_codes for event in refusals}
    assert by_incident[incidents["hong kong"].payload.incident_id] == [
        "LIABILITY_OUTSIDE_MAINLAND_CHINA"
    ]
    assert by_incident[incidents["no cover"].payload.incident_id] == ["NO_LIABILITY_COVER"]

    prop = routed("property").payload
    assert (prop.insurer, prop.limit, prop.deductible, prop.indicative_payable) == (
        "zhongan",
        cny("100000.00"),
        cny("200.00"),
        cny("4800.00"),
    )
    injury = routed("injury").payload  # T40: third-party medical capped at 30,000 (L2)
    assert (injury.limit, injury.medical_sublimit, injury.deductible) == (
        cny("200000.00"),
        cny("30000.00"),
        cny("200.00"),
    )
    assert injury.indicative_payable == cny("40000.00")  # 30,000 medical + 10,000 disability
    operator = routed("operator").payload  # T100: PICC, operator medical up to 100,000
    assert (operator.insurer, operator.medical_sublimit, operator.indicative_payable) == (
        "picc",
        cny("100000.00"),
        cny("100000.00"),
    )

    # L4: the insurer pays, the platform tracks it; the property limit left shrinks by it.
    paid = f.liability_answer(prop.incident_id, "zhongan", InsurerAnswer.PAID, settled="99000.00")
    await upstream.send(t.INSURER_RESPONSES, prop.incident_id, paid)

    async def settled() -> bool:
        rows = await query(
            platform,
            "claims",
            "SELECT state, settled_amount FROM liability_incidents WHERE incident_id = $1",
            prop.incident_id,
        )
        return bool(tuple(rows[0]) == ("paid", Decimal("99000.00")))

    await eventually(settled, "claims recorded the insurer's settlement")
    next_one = f.liability_incident(bundle.sn, LiabilityKind.THIRD_PARTY_PROPERTY, "5000.00")
    await upstream.send(t.LIABILITY_INCIDENTS, bundle.sn, next_one)
    (second,) = await events.wait_for(
        LiabilityClaimReported, lambda e: e.payload.incident_id == next_one.payload.incident_id
    )
    assert second.payload.limit_left == cny("1000.00")
    assert second.payload.total_limit_left == cny("501000.00")
    assert second.payload.indicative_payable == cny("1000.00")


async def test_c10_c8_a_case_reversed_before_the_ledger_answered_is_not_claimed_from_the_insurer(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    """The review and the ledger's answer reach claims on two topics, in either order. Here the
    reviewer's fraud verdict comes first; the ledger's answer, published here as coverage would
    while coverage itself is stopped, comes after it and must not report anything to the
    insurer."""
    device = await open_ag_plan(platform, upstream, events, "T40")
    coverage = platform.process("coverage")
    await asyncio.to_thread(coverage.terminate)
    try:
        decided = await ag_claim(upstream, events, device, [f.repair_line("arm", "500.00")])
        await _reverse_then_answer_late(platform, upstream, events, device, decided)
    finally:
        coverage.start()
        await coverage.wait_started()


async def _reverse_then_answer_late(
    platform: Platform,
    upstream: Upstream,
    events: EventLog,
    device: Device,
    decided: ClaimDecided,
) -> None:
    case_id = decided.payload.case_id
    review = ReviewConcluded.new(
        ReviewConcludedPayload(
            case_id=case_id,
            reviewer_id="REVIEWER-3",
            verdict=ReviewVerdict.FRAUD,
            repair_cost=cny("500.00"),
            concluded_at=f.now(),
        ),
        producer="review-desk",
        correlation_id=case_id,
    )
    await upstream.send(t.CLAIM_REVIEWS, case_id, review)
    await events.wait_for(ClaimReversed, lambda e: e.payload.case_id == case_id)
    late = QuotaDeductionApplied.new(
        QuotaDeductionAppliedPayload(
            case_id=case_id,
            plan_id=uuid.UUID(device.plan_id),
            sn=device.sn,
            model=device.model,
            term_no=1,
            plan_region="CN",
            customer_region="CN",
            split=base_quota_split("500.00"),
            base_quota_left=cny("19500.00"),
            consumables_quota_left=cny("2000.00"),
        ),
        producer="coverage",
        correlation_id=case_id,
    )
    await upstream.send(t.COVERAGE_EVENTS, device.plan_id, late)

    async def recorded() -> bool:
        rows = await query(
            platform, "claims", "SELECT ledger_state FROM cases WHERE case_id = $1", case_id
        )
        return bool(rows[0]["ledger_state"] == "applied")

    await eventually(recorded, "claims recorded the ledger's late answer")
    (case,) = await query(
        platform, "claims", "SELECT insurer_state FROM cases WHERE case_id = $1", case_id
    )
    assert case["insurer_state"] == "none"
    assert not events.of(InsurerClaimReported, lambda e: e.payload.case_id == case_id)
