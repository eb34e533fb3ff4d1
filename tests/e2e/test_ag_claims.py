"""The agricultural plan end to end (P5, C1-C4, C7-C10, A4): assessments priced line by line,
split between the two quotas and the customer, and taken off the ledger under its row lock."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from contracts import topics as t
from contracts.accessories import AccessoryType
from contracts.activation import AccessoryAssociated, PlanRenewed
from contracts.agricultural import PlanFamily
from contracts.claims import (
    ClaimDecided,
    ClaimDecidedPayload,
    ClaimOutcome,
    ClaimReversed,
    LineCoverage,
)
from contracts.coverage import (
    CoverageExtended,
    PlanExhausted,
    PlanTerminated,
    QuotaDeductionApplied,
)
from contracts.insurer import InsurerClaimWithdrawn
from contracts.money import Money
from contracts.upstream import (
    AgriculturalActivity,
    IncidentCause,
    PartClass,
    ReviewConcluded,
    ReviewConcludedPayload,
    ReviewVerdict,
)
from services.coverage.app import service as coverage_service
from shared.kafka_security import client_options
from simulation import factories as f
from simulation.agricultural import YEAR, base_quota_split
from simulation.kafka_io import EventLog, Upstream
from simulation.processes import Platform
from tests.conftest import Stack
from tests.e2e.ag_journeys import (
    ag_claim,
    claims_sees_base_quota,
    ledger_answer,
    open_ag_plan,
)
from tests.e2e.journeys import (
    activate_ag_plan,
    claims_sees_plan_on,
    eventually,
    query,
    renew_ag,
)

pytestmark = pytest.mark.e2e


def cny(amount: str) -> Money:
    return Money.of(amount, "CNY")


async def test_c7_p5_a4_the_t40_second_year_renewal_worked_example(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    """Body lines of 6,000.00 and consumables lines of 450.00 on a T40 second-year renewal:
    5,700.00 from the base quota, 450.00 from the consumables quota, 300.00 for the customer.

    The plan goes through activation: a first year bound 355 days ago, renewed 10 days before it
    expires (A4: the renewal starts at purchase and the first year ends then)."""
    device, _ = await activate_ag_plan(
        platform, upstream, events, "T40", at=f.now() - YEAR + timedelta(days=10)
    )
    bought = f.now() - timedelta(hours=2)
    renewal = await renew_ag(
        platform, upstream, events, device, "ag-care-renewal-2", purchased_at=bought
    )
    assert isinstance(renewal, PlanRenewed), renewal
    (extended,) = await events.wait_for(
        CoverageExtended, lambda e: str(e.payload.plan_id) == device.plan_id
    )
    assert extended.payload.previous_term_ends_at == bought
    assert extended.payload.agricultural is not None
    assert extended.payload.agricultural.deductible_rate == Decimal("0.05")

    async def claims_sees_the_renewal() -> bool:
        rows = await query(
            platform,
            "claims",
            "SELECT 1 FROM plan_view_terms WHERE plan_id = $1::uuid AND term_no = 2",
            device.plan_id,
        )
        return bool(rows)

    await eventually(claims_sees_the_renewal, "claims' read model has the second year")

    decided = await ag_claim(
        upstream,
        events,
        device,
        [
            f.repair_line("arm", "3600.00", "600.00", line_id="L1"),
            f.repair_line("motor", "1500.00", "300.00", line_id="L2"),
            f.repair_line("blade", "260.00", "40.00", line_id="L3"),
            f.repair_line("propeller_clamp", "120.00", "30.00", line_id="L4"),
        ],
        incident_at=f.now() - timedelta(hours=1),
    )
    assert decided.payload.outcome is ClaimOutcome.REPAIR, decided.payload.reason_codes
    assert {"C2", "C4", "C7", "P5"} <= set(decided.payload.rules_applied)
    quoted = decided.payload.repair_split
    assert quoted is not None
    assert [line.coverage for line in quoted.lines] == [
        LineCoverage.BASE_QUOTA,
        LineCoverage.BASE_QUOTA,
        LineCoverage.CONSUMABLES_QUOTA,
        LineCoverage.CONSUMABLES_QUOTA,
    ]
    assert quoted.deductible_rate == Decimal("0.05")
    assert (quoted.from_base_quota, quoted.from_consumables_quota, quoted.customer_share) == (
        cny("5700.00"),
        cny("450.00"),
        cny("300.00"),
    )

    applied = await ledger_answer(events, decided.payload.case_id)
    assert isinstance(applied, QuotaDeductionApplied)
    split = applied.payload.split
    assert (split.from_base_quota, split.from_consumables_quota, split.customer_share) == (
        cny("5700.00"),
        cny("450.00"),
        cny("300.00"),
    )
    assert applied.payload.term_no == 2
    assert (applied.payload.base_quota_left, applied.payload.consumables_quota_left) == (
        cny("14300.00"),
        cny("1550.00"),
    )
    terms = await query(
        platform,
        "coverage",
        "SELECT term_no, term_end, base_quota_left, consumables_quota_left FROM plan_terms"
        " WHERE plan_id = $1::uuid ORDER BY term_no",
        device.plan_id,
    )
    assert [row["term_no"] for row in terms] == [1, 2]
    assert terms[0]["term_end"] == bought  # A4: the first year ended at the renewal's purchase
    assert terms[0]["base_quota_left"] == Decimal("20000.00")  # the first year's, untouched
    assert (terms[1]["base_quota_left"], terms[1]["consumables_quota_left"]) == (
        Decimal("14300.00"),
        Decimal("1550.00"),
    )

    async def case_settled() -> bool:
        rows = await query(
            platform,
            "claims",
            "SELECT ledger_state, customer_share_amount FROM cases WHERE case_id = $1",
            decided.payload.case_id,
        )
        settled = (rows[0]["ledger_state"], rows[0]["customer_share_amount"])
        return bool(settled == ("applied", Decimal("300.00")))

    await eventually(case_settled, "claims recorded the ledger's split on the case")


async def test_c7_c9_a_repair_above_the_base_quota_charges_the_shortfall_and_ends_the_plan(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await open_ag_plan(platform, upstream, events, "T25")  # base 12,000.00, year 1
    decided = await ag_claim(
        upstream,
        events,
        device,
        [
            f.repair_line("frame", "11000.00", "1500.00"),
            f.repair_line("nozzle", "80.00", "20.00"),
        ],
        logistics_fee="60.00",
    )
    assert decided.payload.outcome is ClaimOutcome.REPAIR
    applied = await ledger_answer(events, decided.payload.case_id)
    assert isinstance(applied, QuotaDeductionApplied)
    split = applied.payload.split
    assert split.from_base_quota == cny("12000.00")
    assert split.shortfall == cny("500.00")
    assert split.from_consumables_quota == cny("100.00")
    assert split.customer_share == cny("560.00")  # shortfall + logistics
    assert applied.payload.base_quota_left == cny("0.00")
    (ended,) = await events.wait_for(
        PlanExhausted, lambda e: str(e.payload.plan_id) == device.plan_id
    )
    assert ended.payload.reason_code == "BASE_QUOTA_REACHED"  # C9

    async def claims_knows() -> bool:
        rows = await query(
            platform,
            "claims",
            "SELECT state FROM plan_view_terms WHERE plan_id = $1::uuid",
            device.plan_id,
        )
        return bool(rows[0]["state"] == "exhausted")

    await eventually(claims_knows, "claims' read model shows the plan ended")
    after = await ag_claim(upstream, events, device, [f.repair_line("blade", "50.00")])
    assert after.payload.outcome is ClaimOutcome.REFUSED
    assert after.payload.reason_codes == ["BASE_QUOTA_EXHAUSTED"]
    (balance,) = await query(
        platform,
        "coverage",
        "SELECT base_quota_left, consumables_quota_left, state FROM plan_balances"
        " WHERE plan_id = $1::uuid",
        device.plan_id,
    )
    assert tuple(balance) == (Decimal("0.00"), Decimal("1100.00"), "exhausted")


async def test_c7_c4_a_battery_a_non_genuine_part_and_an_unbound_part_are_not_covered(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await open_ag_plan(platform, upstream, events, "T50")
    decided = await ag_claim(
        upstream,
        events,
        device,
        [
            f.repair_line("arm", "900.00", "100.00", line_id="ARM"),
            f.repair_line("battery", "2000.00", part_class=PartClass.BATTERY, line_id="BATTERY"),
            f.repair_line("arm", "450.00", "50.00", genuine=False, line_id="COPY"),
            f.repair_line("radar", "300.00", bound_to_body=False, line_id="UNBOUND"),
        ],
        logistics_fee="40.00",
    )
    assert decided.payload.outcome is ClaimOutcome.REPAIR
    quoted = decided.payload.repair_split
    assert quoted is not None
    reasons = {line.line_id: line.reason_codes for line in quoted.lines}
    assert reasons == {
        "ARM": [],
        "BATTERY": ["PART_CLASS_NOT_COVERED"],
        "COPY": ["NON_GENUINE_PART"],
        "UNBOUND": ["PART_NOT_BOUND_TO_BODY"],
    }
    applied = await ledger_answer(events, decided.payload.case_id)
    assert isinstance(applied, QuotaDeductionApplied)
    split = applied.payload.split
    assert split.from_base_quota == cny("1000.00")
    assert split.not_covered == cny("2800.00")
    assert split.customer_share == cny("2840.00")


async def test_c1_c2_c3_c4_agricultural_exclusions_each_have_their_own_reason(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await open_ag_plan(platform, upstream, events, "T40")
    arm = [f.repair_line("arm", "800.00")]
    cases: dict[str, tuple[dict[str, Any], list[str]]] = {
        "no flight data": ({"flight_record": False}, ["EXCLUDED_NO_FLIGHT_DATA"]),
        "non-agricultural": (
            {"activity": AgriculturalActivity.NON_AGRICULTURAL},
            ["EXCLUDED_NON_AGRICULTURAL_USE"],
        ),
        "lifting on a T40": (
            {"activity": AgriculturalActivity.LIFTING},
            ["EXCLUDED_LIFTING_NOT_SUPPORTED"],
        ),
        "not complete": ({"unit_complete": False}, ["EXCLUDED_UNIT_NOT_COMPLETE"]),
        "natural wear": ({"cause": IncidentCause.NATURAL_WEAR}, ["EXCLUDED_NATURAL_WEAR"]),
        "payload": (
            {"cause": IncidentCause.NON_MANUFACTURER_PAYLOAD},
            ["EXCLUDED_NON_MANUFACTURER_PAYLOAD"],
        ),
        "water": ({"cause": IncidentCause.WATER_DAMAGE}, ["EXCLUDED_CAUSE_NOT_COVERED"]),
        "other SN": ({"unit_sn": "OTHERUNIT0001"}, ["SN_MISMATCH"]),
        "before the term": (
            {"incident_at": f.now() - timedelta(days=60)},
            ["INCIDENT_OUTSIDE_TERM"],
        ),
    }
    decisions = await asyncio.gather(
        *(ag_claim(upstream, events, device, arm, **change) for change, _ in cases.values())
    )
    for what, decided in zip(cases, decisions, strict=True):
        assert decided.payload.outcome is ClaimOutcome.REFUSED, what
        assert decided.payload.reason_codes == cases[what][1], what
        assert decided.payload.repair_split is None
    (balance,) = await query(
        platform,
        "coverage",
        "SELECT base_quota_left FROM plan_balances WHERE plan_id = $1::uuid",
        device.plan_id,
    )
    assert balance["base_quota_left"] == Decimal("20000.00")  # a refusal takes nothing


async def test_c1_c9_an_expired_term_pays_nothing(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    expired = await open_ag_plan(
        platform, upstream, events, "T30", term_start=f.now() - YEAR - timedelta(days=20)
    )
    decided = await ag_claim(upstream, events, expired, [f.repair_line("arm", "800.00")])
    assert decided.payload.reason_codes == ["INCIDENT_OUTSIDE_TERM", "CLAIM_FILED_AFTER_TERM"]


async def test_p5_two_cases_read_from_a_lagging_view_cannot_both_spend_the_balance(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    """Claims may quote both cases against the full balance; the ledger pays the second only
    what the first left, and the plan ends once (C9)."""
    device = await open_ag_plan(platform, upstream, events, "T40")  # base 20,000.00
    lines = [f.repair_line("frame", "15000.00")]
    first, second = await asyncio.gather(
        ag_claim(upstream, events, device, lines), ag_claim(upstream, events, device, lines)
    )
    answers = [await ledger_answer(events, d.payload.case_id) for d in (first, second)]
    taken = [a.payload.split for a in answers if isinstance(a, QuotaDeductionApplied)]
    assert len(taken) == 2
    assert sum(split.from_base_quota.amount for split in taken) == Decimal("20000.00")
    assert sum(split.shortfall.amount for split in taken) == Decimal("10000.00")
    await events.wait_for(PlanExhausted, lambda e: str(e.payload.plan_id) == device.plan_id)
    assert len(events.of(PlanExhausted, lambda e: str(e.payload.plan_id) == device.plan_id)) == 1
    await claims_sees_base_quota(platform, device, "0.00")


def _decision(device_sn: str, plan_id: str, amount: str) -> ClaimDecided:
    """A repair decision as claims publishes it: one frame line for the base quota."""
    case_id = f"RACE-{uuid.uuid4().hex[:10]}"
    return ClaimDecided.new(
        ClaimDecidedPayload(
            case_id=case_id,
            sn=device_sn,
            model="T40",
            plan_id=uuid.UUID(plan_id),
            outcome=ClaimOutcome.REPAIR,
            incident_at=f.now() - timedelta(hours=1),
            rules_applied=["C7"],
            customer_region="CN",
            family=PlanFamily.AGRICULTURAL,
            repair_split=base_quota_split(amount),
        ),
        producer="claims",
        correlation_id=case_id,
    )


async def _group_members(stack: Stack, group: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap, **client_options())
    await admin.start()
    try:
        (description,) = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    groups = description.to_object()["groups"]
    return len(groups[0]["members"]) if groups else 0


async def test_p5_the_row_lock_lets_no_two_ledger_instances_spend_the_same_balance(
    stack: Stack, platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    """Two coverage processes share the decisions' partitions; twelve decisions of 2,500.00
    race for a 20,000.00 base quota from every partition at once. The plan row lock serialises
    them: exactly 20,000.00 is taken, never more, and the plan ends once."""
    device = await open_ag_plan(platform, upstream, events, "T40")
    second = platform.process("coverage", "2")
    second.start()
    try:
        await second.wait_started()
        group = coverage_service.group_id

        async def both_consume() -> bool:
            return await _group_members(stack, group) == 2

        await eventually(both_consume, "two coverage instances share the claims events")
        decisions = [_decision(device.sn, device.plan_id, "2500.00") for _ in range(12)]
        await asyncio.gather(
            *(  # keyed by case: spread over all six partitions, as cases on old and new SNs
                upstream.send(t.CLAIMS_EVENTS, decision.payload.case_id, decision)
                for decision in decisions
            )
        )
        answers = [await ledger_answer(events, d.payload.case_id) for d in decisions]
    finally:
        second.terminate()
    taken = [a.payload.split for a in answers if isinstance(a, QuotaDeductionApplied)]
    refused = [a for a in answers if not isinstance(a, QuotaDeductionApplied)]
    assert sum(split.from_base_quota.amount for split in taken) == Decimal("20000.00")
    assert all(a.payload.reason_codes == ["BASE_QUOTA_EXHAUSTED"] for a in refused)
    assert len(taken) + len(refused) == 12
    assert len(taken) >= 8
    (row,) = await query(
        platform,
        "coverage",
        "SELECT base_quota_left, (SELECT sum(from_base_quota) FROM quota_deductions"
        " WHERE plan_id = $1::uuid) AS taken FROM plan_balances WHERE plan_id = $1::uuid",
        device.plan_id,
    )
    assert (row["base_quota_left"], row["taken"]) == (Decimal("0.00"), Decimal("20000.00"))
    assert len(events.of(PlanExhausted, lambda e: str(e.payload.plan_id) == device.plan_id)) == 1


async def test_c10_fraud_on_an_agricultural_case_reverses_it_and_ends_the_plan(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await open_ag_plan(platform, upstream, events, "T20P")
    decided = await ag_claim(
        upstream,
        events,
        device,
        [f.repair_line("arm", "1000.00"), f.repair_line("blade", "100.00")],
    )
    case_id = decided.payload.case_id
    await ledger_answer(events, case_id)

    async def reported() -> bool:
        rows = await query(
            platform, "claims", "SELECT insurer_state FROM cases WHERE case_id = $1", case_id
        )
        return bool(rows[0]["insurer_state"] == "reported")

    await eventually(reported, "the base-quota part was reported to the insurer")
    review = ReviewConcluded.new(
        ReviewConcludedPayload(
            case_id=case_id,
            reviewer_id="REVIEWER-9",
            verdict=ReviewVerdict.FRAUD,
            concluded_at=f.now(),
        ),
        producer="review-desk",
        correlation_id=case_id,
    )
    await upstream.send(t.CLAIM_REVIEWS, case_id, review)
    (reversed_,) = await events.wait_for(ClaimReversed, lambda e: e.payload.case_id == case_id)
    assert reversed_.payload.customer_owes == cny("1100.00")  # what the quotas paid
    (withdrawn,) = await events.wait_for(
        InsurerClaimWithdrawn, lambda e: e.payload.case_id == case_id
    )
    assert withdrawn.payload.insurer == "zhongan"
    await events.wait_for(PlanTerminated, lambda e: str(e.payload.plan_id) == device.plan_id)

    async def claims_knows() -> bool:
        rows = await query(
            platform,
            "claims",
            "SELECT state FROM plan_view WHERE plan_id = $1::uuid",
            device.plan_id,
        )
        return bool(rows[0]["state"] == "terminated")

    await eventually(claims_knows, "claims' read model shows the plan terminated")
    after = await ag_claim(upstream, events, device, [f.repair_line("arm", "10.00")])
    assert after.payload.reason_codes == ["PLAN_TERMINATED"]


async def _associated(
    upstream: Upstream, events: EventLog, accessory: str, kind: AccessoryType, drone: str
) -> None:
    """G1: the accessory is activated on the drone; activation associates it (real flow)."""
    activation = f.accessory_activation(accessory, kind, drone)
    await upstream.send(t.ACCESSORY_ACTIVATIONS, drone, activation)
    await events.wait_for(AccessoryAssociated, lambda e: e.causation_id == activation.event_id)


async def test_g4_a_claim_on_an_accessory_needs_its_association_with_the_claims_drone(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    """Real activation: T100 plans, spray systems activated on the drones (G1), one replaced
    (G3). Only the accessory associated with the claim's drone is covered by its plan (G4)."""
    drone, _ = await activate_ag_plan(platform, upstream, events, "T100")
    other, _ = await activate_ag_plan(platform, upstream, events, "T100")
    spray, other_spray, new_spray, loose = (f.new_serial() for _ in range(4))
    await _associated(upstream, events, spray, AccessoryType.SPRAY, drone.sn)
    await _associated(upstream, events, other_spray, AccessoryType.SPRAY, other.sn)
    await claims_sees_plan_on(platform, drone.sn)

    async def projected(accessory: str, state: str) -> None:
        async def known() -> bool:
            rows = await query(
                platform,
                "claims",
                "SELECT state FROM accessory_associations WHERE accessory_sn = $1",
                accessory,
            )
            return bool(rows) and rows[0]["state"] == state

        await eventually(known, f"claims sees {accessory} {state}")

    await projected(spray, "associated")
    await projected(other_spray, "associated")
    nozzle = [f.repair_line("spray_tank", "400.00")]

    async def accessory_claim(accessory: str) -> ClaimDecided:
        return await ag_claim(
            upstream,
            events,
            drone,
            nozzle,
            accessory_sn=accessory,
            incident_at=f.now(),
        )

    covered = await accessory_claim(spray)
    assert covered.payload.outcome is ClaimOutcome.REPAIR, covered.payload.reason_codes
    assert covered.payload.accessory_sn == spray
    assert "G4" in covered.payload.rules_applied
    foreign = await accessory_claim(other_spray)
    assert foreign.payload.reason_codes == ["ACCESSORY_ASSOCIATED_WITH_OTHER_DRONE"]
    unassociated = await accessory_claim(loose)
    assert unassociated.payload.reason_codes == ["ACCESSORY_NOT_ASSOCIATED"]

    await _associated(upstream, events, new_spray, AccessoryType.SPRAY, drone.sn)  # G3
    await projected(spray, "released")
    released = await accessory_claim(spray)
    assert released.payload.reason_codes == ["ACCESSORY_RELEASED"]
    replacement = await accessory_claim(new_spray)
    assert replacement.payload.outcome is ClaimOutcome.REPAIR
