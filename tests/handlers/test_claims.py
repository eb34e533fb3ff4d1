"""Claims' batch handlers on a real database: every topic claims consumes, two events on one
plan, case, incident or accessory in one batch against the same two one by one, and the events
refused alone."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from contracts import topics
from contracts.accessories import AccessoryType
from contracts.activation import (
    AccessoryAssociated,
    AccessoryAssociatedPayload,
    AccessoryReleased,
    AccessoryReleasedPayload,
)
from contracts.agricultural import AgriculturalTerm, PlanFamily
from contracts.claims import (
    ClaimDecided,
    ClaimFinalised,
    ClaimOutcome,
    ClaimReversed,
    LiabilityIncidentRefused,
    PreAuthorisationCaptureRequested,
    PreAuthorisationReleaseRequested,
    RepairSplit,
    ResubmissionRefused,
)
from contracts.coverage import (
    CoverageExtended,
    CoverageExtendedPayload,
    CoverageOpened,
    CoverageOpenedPayload,
    DeductionApplied,
    DeductionAppliedPayload,
    DeductionRefused,
    DeductionRefusedPayload,
    PlanExhausted,
    PlanExhaustedPayload,
    PlanInherited,
    PlanInheritedPayload,
    PlanTerminated,
    PlanTerminatedPayload,
    QuotaDeductionApplied,
    QuotaDeductionAppliedPayload,
    TermConfirmed,
    TermConfirmedPayload,
    TermEnded,
    TermEndedPayload,
    TermEndReason,
)
from contracts.envelope import Envelope
from contracts.insurer import (
    InsurerAnswer,
    InsurerClaimReported,
    InsurerClaimWithdrawn,
    LiabilityClaimReported,
)
from contracts.liability import LiabilityKind
from contracts.money import Money
from contracts.topics import Topic
from contracts.upstream import (
    IncidentCause,
    ReviewConcluded,
    ReviewConcludedPayload,
    ReviewVerdict,
)
from services.claims.app import service
from simulation import factories
from tests.conftest import Stack
from tests.handlers.support import ServiceHarness

Delivery = tuple[Topic, Envelope]
CONSUMER_MODEL = "mavic-3"
AG_MODEL = "T40"


@pytest.fixture
async def claims(stack: Stack) -> AsyncIterator[ServiceHarness]:
    async with ServiceHarness.open(service, stack.database_url) as harness:
        yield harness


def coverage(event: Envelope) -> Delivery:
    return (topics.COVERAGE_EVENTS, event)


def repair(event: Envelope) -> Delivery:
    return (topics.REPAIR_ASSESSMENTS, event)


def ledger(payload: Any, kind: type[Envelope], plan_id: uuid.UUID) -> Envelope:
    return kind.new(payload, producer="coverage", correlation_id=str(plan_id))


def opened(
    sn: str,
    *,
    model: str = CONSUMER_MODEL,
    replacements: int = 2,
    flyaways: int = 1,
    base_quota: str = "20000.00",
) -> CoverageOpened:
    plan_id = uuid.uuid4()
    start = factories.now() - timedelta(days=30)
    agricultural = model == AG_MODEL
    payload = CoverageOpenedPayload(
        plan_id=plan_id,
        sn=sn,
        model=model,
        sku="ag-care-year-1" if agricultural else "care-refresh-1y",
        region="CN" if agricultural else "EU",
        term_start=start,
        term_end=start + timedelta(days=365),
        replacements_left=0 if agricultural else replacements,
        flyaways_left=0 if agricultural else flyaways,
        family=PlanFamily.AGRICULTURAL if agricultural else PlanFamily.CONSUMER,
        agricultural=AgriculturalTerm(
            plan_year=1,
            base_quota=Money.of(base_quota, "CNY"),
            consumables_quota=Money.of("2000.00", "CNY"),
            deductible_rate=Decimal("0.00"),
            insurer="zhongan",
            liability_cover=True,
        )
        if agricultural
        else None,
    )
    return CoverageOpened.new(payload, producer="coverage", correlation_id=str(plan_id))


def deduction(plan: CoverageOpened, case: ClaimDecided, left: int) -> DeductionApplied:
    decided = case.payload
    assert decided.fee is not None
    return DeductionApplied.new(
        DeductionAppliedPayload(
            case_id=decided.case_id,
            plan_id=plan.payload.plan_id,
            sn=plan.payload.sn,
            model=plan.payload.model,
            plan_region="EU",
            customer_region="PL",
            fee=decided.fee,
            flyaway=False,
            replacements_left=left,
            flyaways_left=1,
        ),
        producer="coverage",
        correlation_id=decided.case_id,
    )


def exhausted(plan: CoverageOpened) -> PlanExhausted:
    payload = PlanExhaustedPayload(plan_id=plan.payload.plan_id, sn=plan.payload.sn)
    return PlanExhausted.new(payload, producer="coverage", correlation_id=str(payload.plan_id))


def quota_deduction(plan: CoverageOpened, decided: ClaimDecided) -> QuotaDeductionApplied:
    split = decided.payload.repair_split
    assert split is not None
    quota = plan.payload.agricultural
    assert quota is not None
    return QuotaDeductionApplied.new(
        QuotaDeductionAppliedPayload(
            case_id=decided.payload.case_id,
            plan_id=plan.payload.plan_id,
            sn=plan.payload.sn,
            model=AG_MODEL,
            term_no=1,
            plan_region="CN",
            customer_region="CN",
            split=split,
            base_quota_left=quota.base_quota - split.from_base_quota,
            consumables_quota_left=quota.consumables_quota - split.from_consumables_quota,
        ),
        producer="coverage",
        correlation_id=decided.payload.case_id,
    )


def review(case_id: str, verdict: ReviewVerdict, cost: str | None = None) -> ReviewConcluded:
    return ReviewConcluded.new(
        ReviewConcludedPayload(
            case_id=case_id,
            reviewer_id="REV-1",
            verdict=verdict,
            repair_cost=Money.of(cost, "PLN") if cost else None,
            concluded_at=factories.now(),
        ),
        producer="review-desk",
        correlation_id=case_id,
    )


def crash_lines() -> list[Any]:
    return [
        factories.repair_line("arm", "3600.00", "600.00", line_id="L1"),
        factories.repair_line("blade", "260.00", "40.00", line_id="L3"),
    ]


async def _reset(harness: ServiceHarness) -> None:
    await harness.pool.execute(
        "TRUNCATE cases, plan_view_terms, plan_view, accessory_associations,"
        " liability_incidents, inbox, outbox"
    )


async def _books(harness: ServiceHarness) -> list[Any]:
    """Every row claims keeps, without the clock columns."""
    tables = {
        "plan_view": "plan_id",
        "plan_view_terms": "plan_id, term_no",
        "cases": "case_id",
        "accessory_associations": "accessory_sn",
        "liability_incidents": "incident_id",
    }
    books = []
    for table, key in tables.items():
        rows = await harness.rows(
            f"SELECT to_jsonb(t) - 'decided_at' - 'received_at' AS row FROM {table} t"
            f" ORDER BY {key}"
        )
        books.append([json.loads(row["row"]) for row in rows])
    return books


def by_position(value: Any, positions: dict[str, str]) -> Any:
    """`value` with every id of an emitted event replaced by that event's position: a case
    names its decision by event id, which differs from one run to the next."""
    if isinstance(value, dict):
        return {key: by_position(item, positions) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [by_position(item, positions) for item in value]
    if isinstance(value, uuid.UUID):
        value = str(value)
    return positions.get(value, value) if isinstance(value, str) else value


async def same_as_one_by_one(
    harness: ServiceHarness, before: Sequence[Delivery], together: Sequence[Delivery]
) -> list[Any]:
    """Deliver `together` as one batch, then (on a clean database) one event per batch: the rows
    and the events emitted must be the same. Returns the events `together` emitted one by one,
    the run whose rows the database keeps."""
    outcomes = []
    for batches in ([list(together)], [[delivery] for delivery in together]):
        await _reset(harness)
        earlier: list[Any] = []
        for delivery in before:  # across topics a batch keeps no order: one at a time
            earlier += (await harness.deliver(delivery)).events()
        emitted: list[Any] = []
        for batch in batches:
            handled = await harness.deliver(*batch)
            assert handled.rejected == {}
            emitted += handled.events()
        positions = {str(e.event_id): f"event #{n}" for n, e in enumerate(earlier + emitted)}
        described = [
            (e.event_type, e.correlation_id, e.causation_id, e.payload.model_dump())
            for e in emitted
        ]
        books = await _books(harness)
        outcomes.append((by_position(described, positions), by_position(books, positions), emitted))
    assert outcomes[0][:2] == outcomes[1][:2]
    return outcomes[1][2]


# coverage.events.v1 ----------------------------------------------------------------------------


async def test_the_read_model_follows_the_ledger_term_by_term(claims: ServiceHarness) -> None:
    """A3, A4, A5, C10, F3: opened, extended ending the first term early, confirmed by the
    insurer, terminated, inherited; in one batch as one by one."""
    sn, new_sn = factories.new_serial(), factories.new_serial()
    plan = opened(sn, model=AG_MODEL)
    plan_id, start = plan.payload.plan_id, plan.payload.term_start
    early_end = start + timedelta(days=200)
    extended = CoverageExtendedPayload(
        plan_id=plan_id,
        sn=sn,
        sku="ag-care-renewal-2",
        term_no=2,
        term_start=early_end,
        term_end=early_end + timedelta(days=365),
        replacements_left=0,
        flyaways_left=0,
        agricultural=plan.payload.agricultural,
        previous_term_ends_at=early_end,
    )
    confirmed = TermConfirmedPayload(
        plan_id=plan_id,
        sn=sn,
        term_no=2,
        policy_no="POL-2",
        insurer="zhongan",
        term_start=early_end,
        term_end=early_end + timedelta(days=366),
    )
    terminated = PlanTerminatedPayload(
        plan_id=plan_id, sn=sn, case_id="CASE-X", reason_codes=["FRAUD_FOUND"]
    )
    inherited = PlanInheritedPayload(
        plan_id=plan_id,
        case_id="CASE-X",
        old_sn=sn,
        new_sn=new_sn,
        term_end=early_end + timedelta(days=366),
        replacements_left=0,
        flyaways_left=0,
    )
    await same_as_one_by_one(
        claims,
        [],
        [
            coverage(plan),
            coverage(ledger(extended, CoverageExtended, plan_id)),
            coverage(ledger(confirmed, TermConfirmed, plan_id)),
            coverage(ledger(terminated, PlanTerminated, plan_id)),
            coverage(ledger(inherited, PlanInherited, plan_id)),
        ],
    )

    [row] = await claims.rows("SELECT sn, state FROM plan_view")
    assert (row["sn"], row["state"]) == (new_sn, "terminated")
    terms = await claims.rows(
        "SELECT term_no, term_end, policy_no, insurer FROM plan_view_terms ORDER BY term_no"
    )
    assert [(t["term_no"], t["term_end"], t["policy_no"]) for t in terms] == [
        (1, early_end, None),
        (2, confirmed.term_end, "POL-2"),
    ]


async def test_a_deduction_then_its_exhaustion_in_one_batch_as_one_by_one(
    claims: ServiceHarness,
) -> None:
    """C5: the ledger's deduction is recorded on the case and the term; then the term is
    exhausted. The escalated fee of the next claim reads the replacements used (P2)."""
    sn = factories.new_serial()
    plan = opened(sn, replacements=1)
    decided = await claims.deliver(coverage(plan), repair(factories.assessment(sn, CONSUMER_MODEL)))
    [first] = decided.events(ClaimDecided)
    assert first.payload.outcome is ClaimOutcome.REPLACEMENT

    await same_as_one_by_one(
        claims,
        [
            coverage(plan),
            repair(factories.assessment(sn, CONSUMER_MODEL, case_id=first.payload.case_id)),
        ],
        [coverage(deduction(plan, first, left=0)), coverage(exhausted(plan))],
    )

    [term] = await claims.rows(
        "SELECT replacements_left, replacements_used, state FROM plan_view_terms"
    )
    assert (term["replacements_left"], term["replacements_used"], term["state"]) == (
        0,
        1,
        "exhausted",
    )
    [case] = await claims.rows("SELECT ledger_state FROM cases")
    assert case["ledger_state"] == "applied"
    after = await claims.deliver(repair(factories.assessment(sn, CONSUMER_MODEL)))
    [refused] = after.events(ClaimDecided)
    assert "NO_REPLACEMENTS_LEFT" in refused.payload.reason_codes


async def test_a_refused_deduction_is_recorded_on_the_case(claims: ServiceHarness) -> None:
    sn = factories.new_serial()
    plan = opened(sn)
    handled = await claims.deliver(coverage(plan), repair(factories.assessment(sn, CONSUMER_MODEL)))
    [decided] = handled.events(ClaimDecided)
    refusal = DeductionRefusedPayload(
        case_id=decided.payload.case_id,
        plan_id=plan.payload.plan_id,
        reason_codes=["NO_REPLACEMENTS_LEFT"],
    )

    await claims.deliver(coverage(ledger(refusal, DeductionRefused, plan.payload.plan_id)))

    [case] = await claims.rows("SELECT ledger_state, ledger_reasons FROM cases")
    assert (case["ledger_state"], case["ledger_reasons"]) == ("refused", ["NO_REPLACEMENTS_LEFT"])


async def test_an_extension_of_a_plan_never_opened_is_refused_alone(
    claims: ServiceHarness,
) -> None:
    sn = factories.new_serial()
    plan = opened(sn)
    stray = CoverageExtendedPayload(
        plan_id=uuid.uuid4(),
        sn=factories.new_serial(),
        sku="care-refresh-1y",
        term_no=2,
        term_start=plan.payload.term_end,
        term_end=plan.payload.term_end + timedelta(days=365),
        replacements_left=2,
        flyaways_left=1,
    )

    handled = await claims.deliver(
        coverage(plan), coverage(ledger(stray, CoverageExtended, stray.plan_id))
    )

    assert list(handled.rejected) == [1]
    assert [row["sn"] for row in await claims.rows("SELECT sn FROM plan_view")] == [sn]


# repair.assessments.v1 -------------------------------------------------------------------------


async def test_two_claims_on_one_plan_in_one_batch_as_one_by_one(claims: ServiceHarness) -> None:
    """C1-C5, P2: both are decided against the plan as the ledger last described it; a case
    re-sent in the same batch (reported again, at another moment) is decided once; no plan on
    the SN: NO_PLAN_FOR_SN (D4). A refusal is final at once; an approval waits for the ledger."""
    sn = factories.new_serial()
    first = factories.assessment(sn, CONSUMER_MODEL)
    second = factories.assessment(sn, CONSUMER_MODEL, cause=IncidentCause.THEFT)
    resent = factories.assessment(sn, CONSUMER_MODEL, case_id=first.payload.case_id)
    unknown = factories.assessment(factories.new_serial(), CONSUMER_MODEL)

    emitted = await same_as_one_by_one(
        claims,
        [coverage(opened(sn))],
        [repair(first), repair(second), repair(resent), repair(unknown)],
    )

    decisions = [event for event in emitted if isinstance(event, ClaimDecided)]
    decided = {event.payload.case_id: event for event in decisions}
    assert len(decisions) == 3
    finals = [event for event in emitted if isinstance(event, ClaimFinalised)]
    assert {final.payload.case_id for final in finals} == {
        second.payload.case_id,
        unknown.payload.case_id,
    }
    [refused] = [event for event in emitted if isinstance(event, ResubmissionRefused)]
    assert refused.payload.decision_id == decided[first.payload.case_id].event_id
    replacement = decided[first.payload.case_id]
    assert replacement.payload.outcome is ClaimOutcome.REPLACEMENT
    assert replacement.payload.fee is not None and replacement.payload.fee_schedule
    assert replacement.correlation_id == first.payload.case_id
    assert decided[second.payload.case_id].payload.reason_codes == ["EXCLUDED_THEFT"]
    assert decided[unknown.payload.case_id].payload.reason_codes == ["NO_PLAN_FOR_SN"]
    cases = await claims.rows("SELECT case_id, ledger_state FROM cases ORDER BY case_id")
    assert {row["case_id"]: row["ledger_state"] for row in cases}[
        first.payload.case_id
    ] == "pending"


async def test_x3_an_express_request_then_its_unit_in_one_batch_as_one_by_one(
    claims: ServiceHarness,
) -> None:
    """X3: decided before the unit travels; its arrival with the right SN and battery releases
    the pre-authorisation; an overdue notice after the arrival changes nothing."""
    sn = factories.new_serial()
    request = factories.express_request(sn, CONSUMER_MODEL)
    case_id = request.payload.case_id
    arrival = factories.assessment(sn, CONSUMER_MODEL, case_id=case_id)

    emitted = await same_as_one_by_one(
        claims,
        [coverage(opened(sn))],
        [repair(request), repair(arrival), repair(factories.unit_overdue(case_id))],
    )

    assert [type(event) for event in emitted] == [ClaimDecided, PreAuthorisationReleaseRequested]
    assert emitted[1].correlation_id == case_id
    [case] = await claims.rows("SELECT unit_state, pre_authorisation FROM cases")
    assert (case["unit_state"], case["pre_authorisation"]) == ("received", "release_requested")


async def test_x3_no_unit_by_the_deadline_captures_and_an_unknown_case_is_refused_alone(
    claims: ServiceHarness,
) -> None:
    sn = factories.new_serial()
    request = factories.express_request(sn, CONSUMER_MODEL)
    await claims.deliver(coverage(opened(sn)), repair(request))

    handled = await claims.deliver(
        repair(factories.unit_overdue("CASE-NEVER-OPENED")),
        repair(factories.unit_overdue(request.payload.case_id)),
    )

    assert list(handled.rejected) == [0]
    [capture] = handled.events(PreAuthorisationCaptureRequested)
    assert capture.payload.reason_codes == ["UNIT_NOT_RECEIVED_IN_TIME"]
    [case] = await claims.rows("SELECT unit_state, pre_authorisation_reasons FROM cases")
    assert (case["unit_state"], case["pre_authorisation_reasons"]) == (
        "overdue",
        ["UNIT_NOT_RECEIVED_IN_TIME"],
    )


async def test_x3_an_ag_express_request_is_refused(claims: ServiceHarness) -> None:
    sn = f"T40SN{uuid.uuid4().hex[:8].upper()}"
    handled = await claims.deliver(
        coverage(opened(sn, model=AG_MODEL)), repair(factories.express_request(sn, AG_MODEL))
    )

    [refused] = handled.events(ClaimDecided)
    assert refused.payload.reason_codes == ["EXPRESS_NOT_FOR_AGRICULTURAL"]
    assert refused.payload.family is PlanFamily.AGRICULTURAL
    assert refused.payload.plan_id is not None


# The AG case, the insurer's claim (C7, C8), the review (C10), the accessories (G4) -------------


async def test_c7_c8_an_ag_repair_its_quota_deduction_claims_the_base_quota_from_the_insurer(
    claims: ServiceHarness,
) -> None:
    """C7: the repair split line by line; C8: the ledger's split is the one that counts and its
    base-quota part is reported to the term's insurer, once; the answers move it forward."""
    sn = f"T40SN{uuid.uuid4().hex[:8].upper()}"
    plan = opened(sn, model=AG_MODEL)
    assessed = factories.ag_assessment(sn, AG_MODEL, crash_lines())
    handled = await claims.deliver(coverage(plan), repair(assessed))
    [decided] = handled.events(ClaimDecided)
    assert decided.payload.outcome is ClaimOutcome.REPAIR
    split = decided.payload.repair_split
    assert isinstance(split, RepairSplit) and split.from_base_quota.amount > 0

    reported = await same_as_one_by_one(
        claims,
        [coverage(plan), repair(assessed)],
        [coverage(quota_deduction(plan, decided)), coverage(quota_deduction(plan, decided))],
    )

    claim, final = reported
    assert isinstance(claim, InsurerClaimReported) and isinstance(final, ClaimFinalised)
    assert final.payload.repair_split == split and final.payload.outcome is ClaimOutcome.REPAIR
    assert (claim.payload.insurer, claim.payload.base_quota_amount) == (
        "zhongan",
        split.from_base_quota,
    )
    assert claim.correlation_id == assessed.payload.case_id
    [term] = await claims.rows("SELECT base_quota_left FROM plan_view_terms")
    assert term["base_quota_left"] == Decimal("20000.00") - split.from_base_quota.amount

    case_id = assessed.payload.case_id
    answers = await claims.deliver(
        (
            topics.INSURER_RESPONSES,
            factories.insurer_claim_answer(case_id, "zhongan", InsurerAnswer.ACCEPTED),
        ),
        (
            topics.INSURER_RESPONSES,
            factories.insurer_claim_answer(case_id, "zhongan", InsurerAnswer.PAID, "4000.00"),
        ),
        (
            topics.INSURER_RESPONSES,
            factories.insurer_claim_answer(case_id, "zhongan", InsurerAnswer.ACCEPTED),
        ),
        (
            topics.INSURER_RESPONSES,
            factories.insurer_claim_answer("CASE-NONE", "zhongan", InsurerAnswer.PAID),
        ),
    )
    assert list(answers.rejected) == [3]
    [case] = await claims.rows("SELECT insurer_state, insurer_paid_amount FROM cases")
    assert (case["insurer_state"], case["insurer_paid_amount"]) == ("paid", Decimal("4000.00"))


async def test_c10_fraud_on_an_ag_case_reverses_it_and_withdraws_the_insurer_claim(
    claims: ServiceHarness,
) -> None:
    """C10: the customer owes what the quotas paid; the claim on the insurer is withdrawn; a
    second verdict in the same batch changes nothing; a review of no case is refused alone."""
    sn = f"T40SN{uuid.uuid4().hex[:8].upper()}"
    plan = opened(sn, model=AG_MODEL)
    assessed = factories.ag_assessment(sn, AG_MODEL, crash_lines())
    [decided] = (await claims.deliver(coverage(plan), repair(assessed))).events(ClaimDecided)
    before = [coverage(plan), repair(assessed), coverage(quota_deduction(plan, decided))]
    case_id = assessed.payload.case_id

    emitted = await same_as_one_by_one(
        claims,
        before,
        [
            (topics.CLAIM_REVIEWS, review(case_id, ReviewVerdict.FRAUD)),
            (topics.CLAIM_REVIEWS, review(case_id, ReviewVerdict.UPHELD)),
        ],
    )

    reversed_, withdrawn = emitted
    assert isinstance(reversed_, ClaimReversed) and isinstance(withdrawn, InsurerClaimWithdrawn)
    split = decided.payload.repair_split
    assert split is not None
    assert reversed_.payload.customer_owes == split.from_base_quota + split.from_consumables_quota
    [case] = await claims.rows("SELECT review_verdict, insurer_state FROM cases")
    assert (case["review_verdict"], case["insurer_state"]) == ("fraud", "withdrawn")
    refused = await claims.deliver(
        (topics.CLAIM_REVIEWS, review("CASE-NONE", ReviewVerdict.UPHELD))
    )
    assert list(refused.rejected) == [0]


async def test_c8_c10_a_case_reversed_before_the_ledger_answered_claims_nothing_from_the_insurer(
    claims: ServiceHarness,
) -> None:
    sn = f"T40SN{uuid.uuid4().hex[:8].upper()}"
    plan = opened(sn, model=AG_MODEL)
    assessed = factories.ag_assessment(sn, AG_MODEL, crash_lines())
    [decided] = (await claims.deliver(coverage(plan), repair(assessed))).events(ClaimDecided)
    case_id = assessed.payload.case_id

    reviewed = await claims.deliver((topics.CLAIM_REVIEWS, review(case_id, ReviewVerdict.FRAUD)))
    answered = await claims.deliver(coverage(quota_deduction(plan, decided)))

    assert [type(event) for event in reviewed.events()] == [ClaimReversed]
    # The case's fate is the ledger's answer; the reversal is a fact of its own.
    [final] = answered.events()
    assert isinstance(final, ClaimFinalised) and final.payload.outcome is ClaimOutcome.REPAIR
    [case] = await claims.rows("SELECT ledger_state, insurer_state FROM cases")
    assert (case["ledger_state"], case["insurer_state"]) == ("applied", "none")


async def test_c10_fraud_on_a_consumer_case_and_a_fraud_verdict_without_a_cost_is_refused(
    claims: ServiceHarness,
) -> None:
    sn = factories.new_serial()
    assessed = factories.assessment(sn, CONSUMER_MODEL)
    await claims.deliver(coverage(opened(sn)), repair(assessed))
    case_id = assessed.payload.case_id

    without_cost = await claims.deliver(
        (topics.CLAIM_REVIEWS, review(case_id, ReviewVerdict.FRAUD))
    )
    handled = await claims.deliver(
        (topics.CLAIM_REVIEWS, review(case_id, ReviewVerdict.FRAUD, "3999.00"))
    )

    assert list(without_cost.rejected) == [0]
    [reversal] = handled.events(ClaimReversed)
    assert reversal.payload.customer_owes == Money.of("3999.00", "PLN")
    assert handled.events(InsurerClaimWithdrawn) == []


def associated(
    accessory_sn: str, drone_sn: str, replaced: str | None = None
) -> AccessoryAssociated:
    return AccessoryAssociated.new(
        AccessoryAssociatedPayload(
            accessory_sn=accessory_sn,
            accessory_type=AccessoryType.SPRAY,
            drone_sn=drone_sn,
            associated_at=factories.now(),
            replaced_accessory_sn=replaced,
        ),
        producer="activation",
        correlation_id=drone_sn,
    )


def released(accessory_sn: str, drone_sn: str) -> AccessoryReleased:
    return AccessoryReleased.new(
        AccessoryReleasedPayload(
            accessory_sn=accessory_sn,
            accessory_type=AccessoryType.SPRAY,
            drone_sn=drone_sn,
            released_at=factories.now(),
        ),
        producer="activation",
        correlation_id=drone_sn,
    )


async def test_g3_g4_accessories_follow_activation_and_decide_the_accessory_claims(
    claims: ServiceHarness,
) -> None:
    """G3: an accessory replaced on its drone is released for good; G4: a claim on it is refused,
    a claim on its successor is covered by the drone's plan."""
    drone = f"T40SN{uuid.uuid4().hex[:8].upper()}"
    old, new = "SPRAY" + uuid.uuid4().hex[:8].upper(), "SPRAY" + uuid.uuid4().hex[:8].upper()
    moves = [
        (topics.ACTIVATION_EVENTS, associated(old, drone)),
        (topics.ACTIVATION_EVENTS, associated(new, drone, replaced=old)),
        (topics.ACTIVATION_EVENTS, associated(old, drone)),  # too late: released for good
    ]

    await same_as_one_by_one(claims, [], moves)

    rows = await claims.rows("SELECT accessory_sn, state FROM accessory_associations")
    assert {row["accessory_sn"]: row["state"] for row in rows} == {
        old: "released",
        new: "associated",
    }
    plan = opened(drone, model=AG_MODEL)
    handled = await claims.deliver(
        coverage(plan),
        repair(factories.ag_assessment(drone, AG_MODEL, crash_lines(), accessory_sn=old)),
        repair(factories.ag_assessment(drone, AG_MODEL, crash_lines(), accessory_sn=new)),
    )
    on_old, on_new = handled.events(ClaimDecided)
    assert on_old.payload.reason_codes == ["ACCESSORY_RELEASED"]
    assert on_new.payload.outcome is ClaimOutcome.REPAIR and "G4" in on_new.payload.rules_applied
    await claims.deliver((topics.ACTIVATION_EVENTS, released(new, drone)))
    [row] = await claims.rows(
        "SELECT state FROM accessory_associations WHERE accessory_sn = $1", new
    )
    assert row["state"] == "released"


# liability.incidents.v1 and the insurer's answer (L1-L4) ---------------------------------------


async def test_l1_l4_incidents_are_routed_once_refused_without_a_plan_and_answers_followed(
    claims: ServiceHarness,
) -> None:
    drone = f"T40SN{uuid.uuid4().hex[:8].upper()}"
    plan = opened(drone, model=AG_MODEL)
    incident = factories.liability_incident(drone, LiabilityKind.THIRD_PARTY_PROPERTY, "5000")
    again = factories.liability_incident(
        drone, LiabilityKind.THIRD_PARTY_PROPERTY, "5000", incident_id=incident.payload.incident_id
    )
    orphan = factories.liability_incident(
        factories.new_serial(), LiabilityKind.THIRD_PARTY_PROPERTY, "100"
    )

    emitted = await same_as_one_by_one(
        claims,
        [coverage(plan)],
        [(topics.LIABILITY_INCIDENTS, event) for event in (incident, again, orphan)],
    )

    routed, refused = emitted
    assert isinstance(routed, LiabilityClaimReported) and isinstance(
        refused, LiabilityIncidentRefused
    )
    assert routed.payload.indicative_payable == Money.of("4800", "CNY")
    assert refused.payload.reason_codes == ["NO_PLAN_FOR_SN"]
    incident_id = incident.payload.incident_id
    answered = await claims.deliver(
        (
            topics.INSURER_RESPONSES,
            factories.liability_answer(incident_id, "zhongan", InsurerAnswer.PAID, "4800"),
        ),
        (
            topics.INSURER_RESPONSES,
            factories.liability_answer(incident_id, "pingan", InsurerAnswer.PAID, "1"),
        ),
    )
    assert list(answered.rejected) == [1]
    [row] = await claims.rows(
        "SELECT state, settled_amount FROM liability_incidents WHERE incident_id = $1", incident_id
    )
    assert (row["state"], row["settled_amount"]) == ("paid", Decimal("4800.00"))
    second = factories.liability_incident(drone, LiabilityKind.THIRD_PARTY_PROPERTY, "99000")
    [limited] = (await claims.deliver((topics.LIABILITY_INCIDENTS, second))).events(
        LiabilityClaimReported
    )
    assert limited.payload.limit_left == limited.payload.limit - Money.of("4800", "CNY")


async def test_c9_a_term_the_ledger_ended_takes_no_claim_after_its_end(
    claims: ServiceHarness,
) -> None:
    """C1, C9: claims ends a term where the ledger's TermEnded says: one whose time ran out at
    `ended_at`, one used up at once; claims after that are refused as the ledger would."""
    expired_sn, used_sn = factories.new_serial(), factories.new_serial()
    expired, used = opened(expired_sn), opened(used_sn)
    ended_at = factories.now() - timedelta(hours=1)

    def ended(plan: CoverageOpened, reason: TermEndReason, at: datetime) -> Envelope:
        payload = TermEndedPayload(
            plan_id=plan.payload.plan_id, sn=plan.payload.sn, term_no=1, ended_at=at, reason=reason
        )
        return ledger(payload, TermEnded, plan.payload.plan_id)

    late = factories.assessment(
        expired_sn, CONSUMER_MODEL, incident_at=ended_at - timedelta(hours=1)
    )
    nothing_left = factories.assessment(used_sn, CONSUMER_MODEL)

    emitted = await same_as_one_by_one(
        claims,
        [
            coverage(expired),
            coverage(used),
            coverage(ended(expired, TermEndReason.TERM_EXPIRED, ended_at)),
            coverage(ended(used, TermEndReason.REPLACEMENTS_USED, factories.now())),
        ],
        [repair(late), repair(nothing_left)],
    )

    decided = {e.payload.case_id: e for e in emitted if isinstance(e, ClaimDecided)}
    assert decided[late.payload.case_id].payload.reason_codes == ["CLAIM_FILED_AFTER_TERM"]
    assert decided[nothing_left.payload.case_id].payload.reason_codes == ["NO_REPLACEMENTS_LEFT"]
    terms = await claims.rows(
        "SELECT term_end FROM plan_view_terms WHERE plan_id = $1", expired.payload.plan_id
    )
    assert [row["term_end"] for row in terms] == [ended_at]
