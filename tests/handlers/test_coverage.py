"""Coverage's batch handlers on a real database: the plan ledger (P1, A3-A5, C5-C10, P5, F3).

Where two events touch one plan, the pair is delivered as one batch and again one event per
batch on a fresh ledger: the ledger must end the same and answer the same either way.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from contracts import topics
from contracts.activation import (
    PlanActivated,
    PlanActivatedPayload,
    PlanRenewed,
    PlanRenewedPayload,
)
from contracts.agricultural import AgriculturalTerm, PlanFamily
from contracts.claims import (
    ClaimDecided,
    ClaimDecidedPayload,
    ClaimOutcome,
    ClaimReversed,
    ClaimReversedPayload,
)
from contracts.coverage import (
    CoverageExtended,
    CoverageOpened,
    DeductionApplied,
    DeductionRefused,
    PlanExhausted,
    PlanInherited,
    PlanTerminated,
    QuotaDeductionApplied,
    TermConfirmed,
    TermEnded,
)
from contracts.envelope import Envelope
from contracts.fulfilment import DeviceReplaced, DeviceReplacedPayload
from contracts.money import Money
from contracts.topics import Topic
from services.coverage.app import service
from simulation import factories
from simulation.agricultural import base_quota_split
from tests.conftest import Stack
from tests.e2e.journeys import eventually
from tests.handlers.support import Handled, ServiceHarness

START = datetime(2026, 1, 1, tzinfo=UTC)
YEAR = timedelta(days=365)
INCIDENT = START + timedelta(days=40)
FEE = Money.of("99.00", "EUR")

Delivery = tuple[Topic, Envelope]


@pytest.fixture
async def coverage(stack: Stack) -> AsyncIterator[ServiceHarness]:
    async with ServiceHarness.open(service, stack.database_url) as harness:
        yield harness


def agricultural(year: int = 1, base: str = "20000.00", rate: str = "0") -> AgriculturalTerm:
    return AgriculturalTerm(
        plan_year=year,
        base_quota=Money.of(base, "CNY"),
        consumables_quota=Money.of("3000.00", "CNY"),
        deductible_rate=Decimal(rate),
        insurer="zhongan",
    )


def activation(
    *, replacements: int = 2, flyaways: int = 1, ag: AgriculturalTerm | None = None
) -> PlanActivated:
    plan_id = uuid.uuid4()
    return PlanActivated.new(
        PlanActivatedPayload(
            plan_id=plan_id,
            plan_code=factories.new_ag_plan_code() if ag else factories.new_plan_code(),
            sn=factories.new_serial(),
            model="T40" if ag else "mavic-3-pro",
            sku="ag-first-year" if ag else "care-refresh-1y",
            region="CN" if ag else "EU",
            owner_id=uuid.uuid4(),
            term_start=START,
            term_end=START + YEAR,
            replacements=0 if ag else replacements,
            flyaways=0 if ag else flyaways,
            purchased_at=START,
            family=PlanFamily.AGRICULTURAL if ag else PlanFamily.CONSUMER,
            agricultural=ag,
        ),
        producer="activation",
        correlation_id=str(plan_id),
    )


def renewal(
    plan: PlanActivated,
    *,
    start: datetime = START + YEAR,
    ag: AgriculturalTerm | None = None,
    previous_term_ends_at: datetime | None = None,
) -> PlanRenewed:
    opened = plan.payload
    return PlanRenewed.new(
        PlanRenewedPayload(
            plan_id=opened.plan_id,
            plan_code=factories.new_plan_code(),
            sn=opened.sn,
            sku=opened.sku,
            term_no=2,
            term_start=start,
            term_end=start + YEAR,
            replacements=0 if ag else 2,
            flyaways=0 if ag else 1,
            purchased_at=start,
            agricultural=ag,
            previous_term_ends_at=previous_term_ends_at,
        ),
        producer="activation",
        correlation_id=str(opened.plan_id),
    )


def decision(
    plan: PlanActivated,
    outcome: ClaimOutcome = ClaimOutcome.REPLACEMENT,
    *,
    case_id: str | None = None,
    flyaway: bool = False,
    incident_at: datetime = INCIDENT,
    sn: str | None = None,
    fee: Money | None = FEE,
    repair: str | None = None,
) -> ClaimDecided:
    opened = plan.payload
    case_id = case_id or f"CASE-{uuid.uuid4().hex[:10]}"
    return ClaimDecided.new(
        ClaimDecidedPayload(
            case_id=case_id,
            sn=sn or opened.sn,
            model=opened.model,
            plan_id=opened.plan_id,
            outcome=outcome,
            incident_at=incident_at,
            uses_replacement=outcome is ClaimOutcome.REPLACEMENT,
            flyaway=flyaway,
            fee=fee if outcome is ClaimOutcome.REPLACEMENT else None,
            customer_region=opened.region,
            family=opened.family,
            repair_split=base_quota_split(repair) if repair else None,
        ),
        producer="claims",
        correlation_id=case_id,
    )


def repair(plan: PlanActivated, amount: str, **kwargs: Any) -> ClaimDecided:
    return decision(plan, ClaimOutcome.REPAIR, repair=amount, **kwargs)


def reversal(plan: PlanActivated, case_id: str) -> ClaimReversed:
    return ClaimReversed.new(
        ClaimReversedPayload(
            case_id=case_id,
            plan_id=plan.payload.plan_id,
            sn=plan.payload.sn,
            reviewer_id="reviewer-1",
            reason_codes=["FRAUD_CONFIRMED"],
            customer_owes=Money.of("1200.00", "EUR"),
        ),
        producer="claims",
        correlation_id=case_id,
    )


def replaced(
    plan: PlanActivated, case_id: str, new_sn: str, old_sn: str | None = None
) -> DeviceReplaced:
    return DeviceReplaced.new(
        DeviceReplacedPayload(
            shipment_id=uuid.uuid4(),
            case_id=case_id,
            plan_id=plan.payload.plan_id,
            old_sn=old_sn or plan.payload.sn,
            new_sn=new_sn,
            dispatched_at=INCIDENT + timedelta(days=3),
        ),
        producer="fulfilment",
        correlation_id=case_id,
    )


def activations(event: Envelope) -> Delivery:
    return (topics.ACTIVATION_EVENTS, event)


def claims(event: Envelope) -> Delivery:
    return (topics.CLAIMS_EVENTS, event)


LEDGER_TABLES = (
    "SELECT plan_id, sn, model, sku, region, family, state FROM plans ORDER BY plan_id",
    "SELECT plan_id, term_no, sku, term_start, term_end, replacements_total, flyaways_total,"
    " replacements_left, flyaways_left, state, plan_year, quota_currency, base_quota_total,"
    " base_quota_left, consumables_quota_total, consumables_quota_left, deductible_rate, insurer,"
    " liability_cover, policy_no, policy_confirmed_at IS NOT NULL AS confirmed,"
    " ended_by_renewal_at FROM plan_terms ORDER BY plan_id, term_no",
    "SELECT plan_id, sn, since, until, case_id FROM plan_serials ORDER BY plan_id, since, sn",
    "SELECT case_id, plan_id, term_no, flyaway, fee_amount, fee_currency FROM deductions"
    " ORDER BY case_id",
    "SELECT case_id, plan_id, term_no, currency, from_base_quota, from_consumables_quota,"
    " deductible, shortfall, not_covered, customer_share, split FROM quota_deductions"
    " ORDER BY case_id",
    "SELECT case_id, plan_id, reason_codes FROM refused_deductions ORDER BY case_id",
)


async def ledger(harness: ServiceHarness) -> list[list[dict[str, Any]]]:
    return [[dict(row) for row in await harness.rows(query)] for query in LEDGER_TABLES]


def answers(handled: Sequence[Handled]) -> list[tuple[str, str, str, str, dict[str, Any]]]:
    """What the ledger said, without the ids and times that differ between two runs."""
    return [
        (
            out.topic,
            out.key,
            out.event.event_type,
            out.event.correlation_id,
            out.event.payload.model_dump(mode="json"),
        )
        for handled_batch in handled
        for out in handled_batch.emitted
    ]


async def afresh(harness: ServiceHarness) -> None:
    await harness.pool.execute(
        "TRUNCATE plans, plan_terms, plan_serials, deductions, quota_deductions,"
        " refused_deductions, inbox, outbox"
    )


async def same_in_one_batch_as_one_by_one(
    harness: ServiceHarness, setup: Sequence[Delivery], pair: Sequence[Delivery]
) -> Handled:
    """Apply `pair` as one batch, then, on a fresh ledger, one event per batch; both runs must
    leave the same ledger and emit the same answers in the same order."""
    for delivery in setup:
        await harness.deliver(delivery)
    together = await harness.deliver(*pair)
    assert together.rejected == {}
    ledger_together = await ledger(harness)

    await afresh(harness)
    for delivery in setup:
        await harness.deliver(delivery)
    apart = [await harness.deliver(delivery) for delivery in pair]

    assert answers([together]) == answers(apart)
    assert ledger_together == await ledger(harness)
    return together


# activation.events.v1 ---------------------------------------------------------------------------


async def test_p1_an_activation_opens_the_ledger_once(coverage: ServiceHarness) -> None:
    plan = activation()
    again = PlanActivated.new(plan.payload, producer="activation", correlation_id="other")

    handled = await coverage.deliver(activations(plan), activations(again))

    [event] = handled.events(CoverageOpened)
    assert len(handled.emitted) == 1
    assert handled.emitted[0].key == str(plan.payload.plan_id)
    assert event.correlation_id == str(plan.payload.plan_id)
    assert event.causation_id == plan.event_id
    assert (event.payload.replacements_left, event.payload.flyaways_left) == (2, 1)
    [term] = await coverage.rows("SELECT * FROM plan_terms")
    assert (term["term_no"], term["replacements_left"], term["state"]) == (1, 2, "active")
    [serial] = await coverage.rows("SELECT sn, until FROM plan_serials")
    assert (serial["sn"], serial["until"]) == (plan.payload.sn, None)


async def test_a3_an_activation_and_its_renewal_in_one_batch_as_one_by_one(
    coverage: ServiceHarness,
) -> None:
    plan = activation()

    handled = await same_in_one_batch_as_one_by_one(
        coverage, [], [activations(plan), activations(renewal(plan))]
    )

    [extended] = handled.events(CoverageExtended)
    assert (extended.payload.term_no, extended.payload.replacements_left) == (2, 2)
    assert extended.correlation_id == str(plan.payload.plan_id)
    terms = await coverage.rows("SELECT term_no FROM plan_terms ORDER BY term_no")
    assert [term["term_no"] for term in terms] == [1, 2]


async def test_a4_an_ag_renewal_before_expiry_ends_the_previous_term_at_purchase(
    coverage: ServiceHarness,
) -> None:
    plan = activation(ag=agricultural())
    bought = START + YEAR - timedelta(days=10)
    renewed = renewal(plan, start=bought, ag=agricultural(2), previous_term_ends_at=bought)

    handled = await coverage.deliver(activations(plan), activations(renewed))

    [extended] = handled.events(CoverageExtended)
    assert extended.payload.previous_term_ends_at == bought
    [first] = await coverage.rows("SELECT * FROM plan_terms WHERE term_no = 1")
    assert (first["term_end"], first["ended_by_renewal_at"]) == (bought, bought)
    again = await coverage.deliver(activations(renewal(plan, start=bought, ag=agricultural(2))))
    assert again.emitted == []  # the term exists: a renewal of it again changes nothing


async def test_a3_a_renewal_of_an_unknown_plan_is_refused_alone(coverage: ServiceHarness) -> None:
    plan = activation()
    stranger = renewal(activation())

    handled = await coverage.deliver(activations(plan), activations(stranger))

    assert list(handled.rejected) == [1]
    assert "no plan" in str(handled.rejected[1])
    assert [type(event) for event in handled.events()] == [CoverageOpened]
    [inbox] = await coverage.rows("SELECT event_id FROM inbox")
    assert inbox["event_id"] == plan.event_id


async def test_p5_a_term_whose_quotas_mix_currencies_is_refused(coverage: ServiceHarness) -> None:
    mixed = agricultural().model_copy(update={"consumables_quota": Money.of("3000.00", "EUR")})

    handled = await coverage.deliver(activations(activation(ag=mixed)))

    assert list(handled.rejected) == [0]
    assert "share a currency" in str(handled.rejected[0])
    assert await coverage.rows("SELECT * FROM plans") == []


# claims.events.v1 -------------------------------------------------------------------------------


async def test_c5_c9_two_replacements_then_a_third_in_one_batch_as_one_by_one(
    coverage: ServiceHarness,
) -> None:
    """The ledger decides in order: the second takes the last replacement, exhausts the plan
    and ends its term (C9), the third is refused."""
    plan = activation()
    first, second, third = (decision(plan) for _ in range(3))

    handled = await same_in_one_batch_as_one_by_one(
        coverage, [activations(plan)], [claims(first), claims(second), claims(third)]
    )

    assert [type(event) for event in handled.events()] == [
        DeductionApplied,
        DeductionApplied,
        PlanExhausted,
        TermEnded,
        DeductionRefused,
    ]
    applied = handled.events(DeductionApplied)
    assert [event.payload.replacements_left for event in applied] == [1, 0]
    assert [event.correlation_id for event in applied] == [
        first.payload.case_id,
        second.payload.case_id,
    ]
    [exhausted] = handled.events(PlanExhausted)
    assert exhausted.correlation_id == str(plan.payload.plan_id)
    assert exhausted.causation_id == second.event_id
    [refused] = handled.events(DeductionRefused)
    assert refused.payload.reason_codes == ["NO_REPLACEMENTS_LEFT"]
    assert {out.key for out in handled.emitted} == {str(plan.payload.plan_id)}
    [term] = await coverage.rows("SELECT replacements_left, state FROM plan_terms")
    assert (term["replacements_left"], term["state"]) == (0, "exhausted")


async def test_c5_the_plan_row_lock_serialises_two_batches_deciding_on_one_plan(
    coverage: ServiceHarness, stack: Stack
) -> None:
    """Two instances' batches on one plan at once: both wait for the plan's row lock (held here
    by a third transaction until both wait), then the second decides on what the first left, so
    the two replacements are the plan's last two and it is exhausted once."""
    plan = activation()
    await coverage.deliver(activations(plan))
    holder = await asyncpg.connect(f"{stack.database_url}/handlers_coverage")
    try:
        held = holder.transaction()
        await held.start()
        await holder.execute(
            "SELECT 1 FROM plans WHERE plan_id = $1 FOR UPDATE", plan.payload.plan_id
        )
        racing = asyncio.gather(
            coverage.deliver(claims(decision(plan))), coverage.deliver(claims(decision(plan)))
        )

        async def both_wait() -> bool:
            waiting = await holder.fetchval(
                "SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted"
            )
            return bool(waiting == 2)

        await eventually(both_wait, "both batches wait for the plan's row lock", timeout=30)
        await held.rollback()
        both = await racing
    finally:
        await holder.close()

    # Each batch reads the outbox from where it stood when it began: both may see both answers.
    emitted = {out.event.event_id: out.event for handled in both for out in handled.emitted}
    applied = [event for event in emitted.values() if isinstance(event, DeductionApplied)]
    assert sorted(event.payload.replacements_left for event in applied) == [0, 1]
    assert [type(event) for event in emitted.values()].count(PlanExhausted) == 1
    [term] = await coverage.rows("SELECT replacements_left, state FROM plan_terms")
    assert (term["replacements_left"], term["state"]) == (0, "exhausted")


async def test_c6_a_second_flyaway_in_the_same_batch_meets_the_flyaway_limit(
    coverage: ServiceHarness,
) -> None:
    plan = activation()
    pair = [claims(decision(plan, flyaway=True)), claims(decision(plan, flyaway=True))]

    handled = await same_in_one_batch_as_one_by_one(coverage, [activations(plan)], pair)

    [applied] = handled.events(DeductionApplied)
    assert (applied.payload.replacements_left, applied.payload.flyaways_left) == (1, 0)
    [refused] = handled.events(DeductionRefused)
    assert refused.payload.reason_codes == ["FLYAWAY_LIMIT_REACHED"]


async def test_one_case_takes_one_deduction_even_when_decided_twice_in_a_batch(
    coverage: ServiceHarness,
) -> None:
    plan = activation()
    await coverage.deliver(activations(plan))
    first = decision(plan)
    again = decision(plan, case_id=first.payload.case_id)

    handled = await coverage.deliver(claims(first), claims(again))
    later = await coverage.deliver(claims(decision(plan, case_id=first.payload.case_id)))

    assert [type(event) for event in handled.events()] == [DeductionApplied]
    assert later.emitted == []
    [term] = await coverage.rows("SELECT replacements_left FROM plan_terms")
    assert term["replacements_left"] == 1


async def test_c1_the_term_in_force_at_the_incident_pays_and_a_late_incident_is_refused(
    coverage: ServiceHarness,
) -> None:
    """A renewed plan: an incident in the first term takes from the first term, one in the
    renewal from the renewal; one after both is refused, explained by the latest term."""
    plan = activation()
    in_first, in_second = decision(plan), decision(plan, incident_at=INCIDENT + YEAR)
    too_late = decision(plan, incident_at=START + 3 * YEAR)

    handled = await coverage.deliver(
        activations(plan),
        activations(renewal(plan)),
        claims(in_first),
        claims(in_second),
        claims(too_late),
    )

    assert [event.payload.term_no for event in handled.events(DeductionApplied)] == [1, 2]
    [refused] = handled.events(DeductionRefused)
    assert refused.payload.reason_codes == ["PLAN_NOT_IN_FORCE"]
    terms = await coverage.rows("SELECT replacements_left FROM plan_terms ORDER BY term_no")
    assert [term["replacements_left"] for term in terms] == [1, 1]


async def test_c1_a_claim_on_another_sn_is_refused(coverage: ServiceHarness) -> None:
    plan = activation()
    await coverage.deliver(activations(plan))

    handled = await coverage.deliver(claims(decision(plan, sn=factories.new_serial())))

    [refused] = handled.events(DeductionRefused)
    assert refused.payload.reason_codes == ["SN_NOT_ON_PLAN"]
    [row] = await coverage.rows("SELECT reason_codes FROM refused_deductions")
    assert row["reason_codes"] == ["SN_NOT_ON_PLAN"]


async def test_c10_a_reversal_then_a_claim_in_one_batch_as_one_by_one(
    coverage: ServiceHarness,
) -> None:
    plan = activation()
    fraud = decision(plan)
    pair = [claims(reversal(plan, fraud.payload.case_id)), claims(decision(plan))]

    handled = await same_in_one_batch_as_one_by_one(
        coverage, [activations(plan), claims(fraud)], pair
    )

    [terminated] = handled.events(PlanTerminated)
    assert terminated.correlation_id == fraud.payload.case_id
    assert terminated.payload.reason_codes == ["FRAUD_CONFIRMED"]
    [refused] = handled.events(DeductionRefused)
    assert refused.payload.reason_codes == ["PLAN_TERMINATED"]
    [row] = await coverage.rows("SELECT state FROM plans")
    assert row["state"] == "terminated"
    again = await coverage.deliver(claims(reversal(plan, fraud.payload.case_id)))
    assert again.emitted == []  # ended once


async def test_outcomes_that_take_nothing_leave_the_ledger_alone(coverage: ServiceHarness) -> None:
    plan = activation()
    await coverage.deliver(activations(plan))

    handled = await coverage.deliver(
        claims(decision(plan, ClaimOutcome.PAID_REPAIR_CHOSEN)),
        claims(decision(plan, ClaimOutcome.REFUSED)),
    )

    assert handled.emitted == []
    assert await coverage.rows("SELECT * FROM refused_deductions") == []


async def test_decisions_the_ledger_cannot_apply_are_refused_alone(
    coverage: ServiceHarness,
) -> None:
    plan = activation()
    await coverage.deliver(activations(plan))
    unknown_plan = decision(activation())
    without_fee = decision(plan, fee=None)
    applied = decision(plan)

    handled = await coverage.deliver(claims(unknown_plan), claims(applied), claims(without_fee))

    assert sorted(handled.rejected) == [0, 2]
    assert "no plan" in str(handled.rejected[0])
    assert "no plan or fee" in str(handled.rejected[2])
    [deducted] = handled.events(DeductionApplied)
    assert deducted.payload.case_id == applied.payload.case_id


async def test_c7_c9_repairs_spend_the_base_quota_in_order_in_one_batch_as_one_by_one(
    coverage: ServiceHarness,
) -> None:
    """20,000.00 of base quota: 15,000 is paid, the next 8,000 takes the last 5,000 and ends
    the plan (BASE_QUOTA_REACHED), the third is refused."""
    plan = activation(ag=agricultural())
    repairs = [repair(plan, "15000.00"), repair(plan, "8000.00"), repair(plan, "100.00")]

    handled = await same_in_one_batch_as_one_by_one(
        coverage, [activations(plan)], [claims(event) for event in repairs]
    )

    taken = handled.events(QuotaDeductionApplied)
    assert [event.payload.split.from_base_quota for event in taken] == [
        Money.of("15000.00", "CNY"),
        Money.of("5000.00", "CNY"),
    ]
    assert taken[1].payload.split.shortfall == Money.of("3000.00", "CNY")
    assert taken[1].payload.base_quota_left == Money.of("0", "CNY")
    [exhausted] = handled.events(PlanExhausted)
    assert exhausted.payload.reason_code == "BASE_QUOTA_REACHED"
    [refused] = handled.events(DeductionRefused)
    assert refused.payload.reason_codes == ["BASE_QUOTA_EXHAUSTED"]
    [term] = await coverage.rows("SELECT base_quota_left, state FROM plan_terms")
    assert (term["base_quota_left"], term["state"]) == (Decimal("0.00"), "exhausted")
    rows = await coverage.rows("SELECT from_base_quota FROM quota_deductions ORDER BY 1")
    assert [row["from_base_quota"] for row in rows] == [Decimal("5000.00"), Decimal("15000.00")]


async def test_c7_a_repair_on_a_consumer_plan_is_refused(coverage: ServiceHarness) -> None:
    plan = activation()
    await coverage.deliver(activations(plan))

    handled = await coverage.deliver(claims(repair(plan, "100.00")))

    [refused] = handled.events(DeductionRefused)
    assert refused.payload.reason_codes == ["NOT_AN_AGRICULTURAL_PLAN"]


async def test_c7_a_repair_decision_without_a_split_is_refused_alone(
    coverage: ServiceHarness,
) -> None:
    plan = activation(ag=agricultural())
    await coverage.deliver(activations(plan))

    handled = await coverage.deliver(claims(decision(plan, ClaimOutcome.REPAIR)))

    assert list(handled.rejected) == [0]
    assert "no plan or split" in str(handled.rejected[0])


# fulfilment.events.v1 ---------------------------------------------------------------------------


async def test_f3_the_replacement_unit_inherits_the_plan_once(coverage: ServiceHarness) -> None:
    plan = activation()
    deducted = decision(plan)
    await coverage.deliver(activations(plan), claims(deducted))
    new_sn = factories.new_serial()
    moved = replaced(plan, deducted.payload.case_id, new_sn)
    moved_again = replaced(plan, deducted.payload.case_id, new_sn)

    handled = await coverage.deliver(
        (topics.FULFILMENT_EVENTS, moved), (topics.FULFILMENT_EVENTS, moved_again)
    )

    [inherited] = handled.events(PlanInherited)
    assert len(handled.emitted) == 1
    assert (inherited.payload.old_sn, inherited.payload.new_sn) == (plan.payload.sn, new_sn)
    assert (inherited.payload.replacements_left, inherited.payload.term_end) == (1, START + YEAR)
    assert inherited.correlation_id == deducted.payload.case_id
    [row] = await coverage.rows("SELECT sn FROM plans")
    assert row["sn"] == new_sn
    serials = await coverage.rows("SELECT sn, until, case_id FROM plan_serials ORDER BY since")
    assert [(s["sn"], s["until"], s["case_id"]) for s in serials] == [
        (plan.payload.sn, moved.payload.dispatched_at, None),
        (new_sn, None, deducted.payload.case_id),
    ]


async def test_f3_a_claim_on_the_new_unit_follows_its_inheritance_in_one_batch(
    coverage: ServiceHarness,
) -> None:
    plan = activation()
    first = decision(plan)
    new_sn = factories.new_serial()
    pair = [
        (topics.FULFILMENT_EVENTS, replaced(plan, first.payload.case_id, new_sn)),
        claims(decision(plan, sn=new_sn, incident_at=INCIDENT + timedelta(days=9))),
    ]

    handled = await same_in_one_batch_as_one_by_one(
        coverage, [activations(plan), claims(first)], pair
    )

    [applied] = handled.events(DeductionApplied)
    assert (applied.payload.sn, applied.payload.replacements_left) == (new_sn, 0)


async def test_f3_the_replacement_of_an_unknown_plan_is_refused(coverage: ServiceHarness) -> None:
    stranger = activation()

    handled = await coverage.deliver(
        (topics.FULFILMENT_EVENTS, replaced(stranger, "CASE-NONE", factories.new_serial()))
    )

    assert list(handled.rejected) == [0]
    assert "no plan" in str(handled.rejected[0])


# insurer.responses.v1 ---------------------------------------------------------------------------


async def test_a5_the_insurer_s_policy_sets_the_term_s_dates_once(coverage: ServiceHarness) -> None:
    plan = activation(ag=agricultural())
    await coverage.deliver(activations(plan))
    policy_start = START + timedelta(days=2)
    policy = factories.policy_confirmed(plan.payload.plan_id, policy_start, policy_start + YEAR)
    same = factories.policy_confirmed(
        plan.payload.plan_id, policy_start, policy_start + YEAR, policy_no=policy.payload.policy_no
    )

    handled = await coverage.deliver(
        (topics.INSURER_RESPONSES, policy), (topics.INSURER_RESPONSES, same)
    )

    [confirmed] = handled.events(TermConfirmed)
    assert len(handled.emitted) == 1
    assert (confirmed.payload.term_no, confirmed.payload.term_start) == (1, policy_start)
    assert confirmed.correlation_id == str(plan.payload.plan_id)
    [term] = await coverage.rows("SELECT * FROM plan_terms")
    assert (term["term_start"], term["term_end"]) == (policy_start, policy_start + YEAR)
    assert term["policy_no"] == policy.payload.policy_no
    assert term["policy_confirmed_at"] is not None


async def test_a4_a5_a_renewal_and_the_first_term_s_policy_in_one_batch_as_one_by_one(
    coverage: ServiceHarness,
) -> None:
    """The renewal ended the first term early (A4); the policy of the first term sets its start
    but keeps that earlier end (A5)."""
    plan = activation(ag=agricultural())
    bought = START + YEAR - timedelta(days=10)
    renewed = renewal(plan, start=bought, ag=agricultural(2), previous_term_ends_at=bought)
    policy = factories.policy_confirmed(
        plan.payload.plan_id, START + timedelta(days=1), START + YEAR + timedelta(days=1)
    )

    handled = await same_in_one_batch_as_one_by_one(
        coverage, [activations(plan)], [activations(renewed), (topics.INSURER_RESPONSES, policy)]
    )

    [confirmed] = handled.events(TermConfirmed)
    assert (confirmed.payload.term_no, confirmed.payload.term_end) == (1, bought)


async def test_a5_a_policy_for_a_consumer_plan_is_refused(coverage: ServiceHarness) -> None:
    plan = activation()
    await coverage.deliver(activations(plan))
    policy = factories.policy_confirmed(plan.payload.plan_id, START, START + YEAR)

    handled = await coverage.deliver((topics.INSURER_RESPONSES, policy))

    assert list(handled.rejected) == [0]
    assert "not an agricultural plan" in str(handled.rejected[0])


# A batch the size the runtime takes ---------------------------------------------------------


async def test_five_hundred_decisions_over_two_hundred_fifty_plans_in_one_batch(
    coverage: ServiceHarness,
) -> None:
    """Each plan's two replacements go, in order; the time is printed for the record."""
    plans = [activation() for _ in range(250)]
    await coverage.deliver(*(activations(plan) for plan in plans))
    decisions = [claims(decision(plan)) for plan in plans for _ in range(2)]

    began = time.perf_counter()
    handled = await coverage.deliver(*decisions)
    print(f"500 replacement decisions in one batch: {time.perf_counter() - began:.3f}s")

    assert len(handled.events(DeductionApplied)) == 500
    assert len(handled.events(PlanExhausted)) == 250
    assert await coverage.rows("SELECT * FROM plan_terms WHERE replacements_left <> 0") == []
