"""The lookup's batch handlers on a real database: each topic's events projected into the read
model (X5, F3, A3, A4, C5-C10, G1-G3), the events of one plan or case in one batch leaving the
rows they leave one batch apiece, and the events the projection passes by."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest

from careplan.lookup_text import render_text
from contracts import topics
from contracts.accessories import AccessoryType
from contracts.activation import (
    AccessoryAssociated,
    AccessoryAssociatedPayload,
    AccessoryReleased,
    AccessoryReleasedPayload,
    PlanActivated,
    PlanActivatedPayload,
    PlanRenewed,
    PlanRenewedPayload,
)
from contracts.agricultural import AgriculturalTerm, PlanFamily
from contracts.claims import (
    ClaimDecided,
    ClaimDecidedPayload,
    ClaimFinalised,
    ClaimFinalisedPayload,
    ClaimOutcome,
    ClaimReversed,
    ClaimReversedPayload,
    RefusedBy,
    RepairSplit,
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
from contracts.fulfilment import (
    ConsumablesPackScheduled,
    ConsumablesPackScheduledPayload,
    DeviceReplaced,
    DeviceReplacedPayload,
    PackAddressChangeRefused,
    PackAddressChangeRefusedPayload,
    ShipmentRequested,
    ShipmentRequestedPayload,
    ShippingCharges,
    ShippingChargesQuoted,
    ShippingChargesQuotedPayload,
)
from contracts.insurer import InsurerAnswer, InsurerClaimReported, InsurerClaimReportedPayload
from contracts.money import Money
from contracts.topics import Topic
from contracts.upstream import AgriculturalActivity, IncidentCause
from contracts.waiting import EventWaiting, EventWaitingPayload, WaitEnd, WaitOver, WaitOverPayload
from services.lookup.answer import CoverState, LookupAnswer
from services.lookup.app import service
from services.lookup.domain import Findings, assemble
from services.lookup.domain_bordereau import ClaimState, bordereau, month_bounds
from services.lookup.queries import bordereau_facts, findings
from simulation import factories
from simulation.agricultural import base_quota_split
from tests.conftest import Stack
from tests.handlers.support import ServiceHarness

Delivery = tuple[Topic, Envelope]
E = TypeVar("E", bound=Envelope)
TABLES = (
    "devices",
    "plans",
    "plan_terms",
    "cases",
    "replacements",
    "accessories",
    "insurer_claims",
    "packs",
)
FEE = Money.of("99.00", "EUR")
YEAR = timedelta(days=365)


@pytest.fixture
async def lookup(stack: Stack) -> AsyncIterator[ServiceHarness]:
    async with ServiceHarness.open(service, stack.database_url) as harness:
        yield harness


def _new(kind: type[E], payload: Any, producer: str) -> E:
    return kind.new(payload, producer=producer, correlation_id=str(uuid.uuid4()))


class Plan:
    """The events one consumer plan's life sends the lookup, each built on demand."""

    def __init__(self) -> None:
        self.plan_id = uuid.uuid4()
        self.sn = factories.new_serial()
        self.code = factories.new_plan_code()
        self.start = factories.now() - timedelta(days=30)
        self.case_id = f"CASE-{uuid.uuid4().hex[:10]}"
        self.new_sn = factories.new_serial()
        self.shipment_id = uuid.uuid4()

    def activated(self) -> PlanActivated:
        return _new(
            PlanActivated,
            PlanActivatedPayload(
                plan_id=self.plan_id,
                plan_code=self.code,
                sn=self.sn,
                model="mavic-3-pro",
                sku="care-refresh-1y",
                region="EU",
                owner_id=uuid.uuid4(),
                term_start=self.start,
                term_end=self.start + YEAR,
                replacements=2,
                flyaways=1,
                purchased_at=self.start,
            ),
            "activation",
        )

    def opened(self) -> CoverageOpened:
        return _new(
            CoverageOpened,
            CoverageOpenedPayload(
                plan_id=self.plan_id,
                sn=self.sn,
                model="mavic-3-pro",
                sku="care-refresh-1y",
                region="EU",
                term_start=self.start,
                term_end=self.start + YEAR,
                replacements_left=2,
                flyaways_left=1,
            ),
            "coverage",
        )

    def deducted(self, replacements_left: int, case_id: str | None = None) -> DeductionApplied:
        return _new(
            DeductionApplied,
            DeductionAppliedPayload(
                case_id=case_id or self.case_id,
                plan_id=self.plan_id,
                sn=self.sn,
                model="mavic-3-pro",
                plan_region="EU",
                customer_region="EU",
                fee=FEE,
                flyaway=False,
                replacements_left=replacements_left,
                flyaways_left=1,
            ),
            "coverage",
        )

    def decided(self, outcome: ClaimOutcome, reasons: Sequence[str] = ()) -> ClaimDecided:
        return _new(
            ClaimDecided,
            ClaimDecidedPayload(
                case_id=self.case_id,
                sn=self.sn,
                model="mavic-3-pro",
                plan_id=self.plan_id,
                outcome=outcome,
                incident_at=self.start + timedelta(days=1),
                reason_codes=list(reasons),
                rules_applied=["C1"],
                fee=FEE if outcome is ClaimOutcome.REPLACEMENT else None,
                customer_region="EU",
            ),
            "claims",
        )

    def shipped(self) -> ShipmentRequested:
        return _new(
            ShipmentRequested,
            ShipmentRequestedPayload(
                shipment_id=self.shipment_id,
                case_id=self.case_id,
                plan_id=self.plan_id,
                old_sn=self.sn,
                model="mavic-3-pro",
                ship_to_region="EU",
                customer_pays_shipping=False,
            ),
            "fulfilment",
        )

    def replaced(self) -> DeviceReplaced:
        return _new(
            DeviceReplaced,
            DeviceReplacedPayload(
                shipment_id=self.shipment_id,
                case_id=self.case_id,
                plan_id=self.plan_id,
                old_sn=self.sn,
                new_sn=self.new_sn,
                dispatched_at=factories.now(),
            ),
            "fulfilment",
        )

    def inherited(self) -> PlanInherited:
        return _new(
            PlanInherited,
            PlanInheritedPayload(
                plan_id=self.plan_id,
                case_id=self.case_id,
                old_sn=self.sn,
                new_sn=self.new_sn,
                term_end=self.start + YEAR,
                replacements_left=1,
                flyaways_left=1,
            ),
            "coverage",
        )

    def reversed(self) -> ClaimReversed:
        return _new(
            ClaimReversed,
            ClaimReversedPayload(
                case_id=self.case_id,
                plan_id=self.plan_id,
                sn=self.sn,
                reviewer_id="REV-1",
                reason_codes=["FRAUD_CONFIRMED"],
                customer_owes=Money.of("1199.00", "EUR"),
            ),
            "claims",
        )

    def terminated(self, case_id: str) -> PlanTerminated:
        return _new(
            PlanTerminated,
            PlanTerminatedPayload(
                plan_id=self.plan_id, sn=self.sn, case_id=case_id, reason_codes=["FRAUD"]
            ),
            "coverage",
        )

    def life(self) -> list[Delivery]:
        """A replacement from the first activation to the reversal of its claim (F3, C10)."""
        return [
            (topics.DEVICE_ACTIVATIONS, factories.device_activation(self.sn, "mavic-3-pro")),
            (topics.ACTIVATION_EVENTS, self.activated()),
            (topics.COVERAGE_EVENTS, self.opened()),
            (
                topics.REPAIR_ASSESSMENTS,
                factories.assessment(self.sn, "mavic-3-pro", case_id=self.case_id),
            ),
            (topics.CLAIMS_EVENTS, self.decided(ClaimOutcome.REPLACEMENT)),
            (topics.COVERAGE_EVENTS, self.deducted(replacements_left=1)),
            (topics.FULFILMENT_EVENTS, self.shipped()),
            (topics.FULFILMENT_EVENTS, self.replaced()),
            (topics.COVERAGE_EVENTS, self.inherited()),
            (topics.CLAIMS_EVENTS, self.reversed()),
        ]


async def read_model(harness: ServiceHarness) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order."""
    return {
        table: sorted(
            (tuple(row) for row in await harness.rows(f"SELECT * FROM {table}")),
            key=repr,
        )
        for table in TABLES
    }


async def as_one_batch_and_one_by_one(
    stack: Stack, deliveries: Sequence[Delivery]
) -> tuple[dict[str, list[tuple[Any, ...]]], dict[str, list[tuple[Any, ...]]]]:
    """The read model `deliveries` leave as one batch, and on a fresh database one apiece."""
    models = []
    for batches in ([list(deliveries)], [[delivery] for delivery in deliveries]):
        async with ServiceHarness.open(service, stack.database_url) as harness:
            for batch in batches:
                handled = await harness.deliver(*batch)
                assert handled.rejected == {}
            models.append(await read_model(harness))
    return models[0], models[1]


async def test_x5_f3_a_plans_life_in_one_batch_projects_every_topic(lookup: ServiceHarness) -> None:
    plan = Plan()

    handled = await lookup.deliver(*plan.life())

    assert handled.emitted == []  # the lookup answers over HTTP and publishes nothing
    [device] = await lookup.rows("SELECT model, first_activated_at FROM devices")
    assert device["model"] == "mavic-3-pro"
    [bound] = await lookup.rows("SELECT original_sn, plan_code, family FROM plans")
    assert tuple(bound) == (plan.sn, plan.code, "consumer")
    [term] = await lookup.rows(
        "SELECT replacements_total, replacements_left, flyaways_left FROM plan_terms"
    )
    assert tuple(term) == (2, 1, 1)
    [case] = await lookup.rows(
        "SELECT cause, outcome, ledger_state, fee_amount, reversal_codes, owed_amount FROM cases"
    )
    assert tuple(case) == (
        "collision",
        "replacement",
        "applied",
        FEE.amount,
        ["FRAUD_CONFIRMED"],
        Decimal("1199.00"),
    )
    [moved] = await lookup.rows(
        "SELECT old_sn, new_sn, shipment_id, fee_amount, dispatched_at IS NOT NULL,"
        " inherited_at IS NOT NULL FROM replacements"
    )
    assert tuple(moved) == (plan.sn, plan.new_sn, plan.shipment_id, FEE.amount, True, True)


async def test_a_plans_life_as_one_batch_leaves_the_rows_it_leaves_one_batch_apiece(
    stack: Stack,
) -> None:
    """Topics interleave in any order: a batch regroups them by topic, and the read model is
    the same."""
    together, apart = await as_one_batch_and_one_by_one(stack, Plan().life())

    assert together == apart
    assert all(
        together[table]
        for table in TABLES
        if table not in {"accessories", "insurer_claims", "packs"}
    )


async def test_c5_c9_two_deductions_and_a_refusal_on_one_term_in_one_batch_as_apart(
    stack: Stack,
) -> None:
    """C5: what is left on a term only goes down, whatever the order; C9: the ledger's latest
    answer to a case stands; C10: the first termination stays."""
    plan = Plan()
    second = f"CASE-{uuid.uuid4().hex[:10]}"
    refused = _new(
        DeductionRefused,
        DeductionRefusedPayload(case_id=second, plan_id=plan.plan_id, reason_codes=["EXHAUSTED"]),
        "coverage",
    )
    exhausted = _new(
        PlanExhausted, PlanExhaustedPayload(plan_id=plan.plan_id, sn=plan.sn), "coverage"
    )
    deliveries: list[Delivery] = [
        (topics.COVERAGE_EVENTS, event)
        for event in (
            plan.opened(),
            plan.deducted(replacements_left=0, case_id=second),
            plan.deducted(replacements_left=1),  # delivered late: it changes nothing left
            refused,
            exhausted,
            plan.terminated("CASE-FIRST"),
            plan.terminated("CASE-SECOND"),
        )
    ]

    together, apart = await as_one_batch_and_one_by_one(stack, deliveries)

    assert together == apart
    async with ServiceHarness.open(service, stack.database_url) as harness:
        await harness.deliver(*deliveries)
        [term] = await harness.rows("SELECT replacements_left, exhausted FROM plan_terms")
        assert tuple(term) == (0, True)
        cases = await harness.rows("SELECT case_id, ledger_state FROM cases ORDER BY case_id")
        assert {row["case_id"]: row["ledger_state"] for row in cases} == {
            plan.case_id: "applied",
            second: "refused",
        }
        [(termination_case,)] = await harness.rows("SELECT termination_case FROM plans")
        assert termination_case == "CASE-FIRST"


async def test_a_claim_decided_then_reviewed_in_one_batch_keeps_the_latest_decision(
    lookup: ServiceHarness,
) -> None:
    """A review's new decision replaces the first; the device's earliest activation stays."""
    plan = Plan()
    first_seen = factories.now() - timedelta(days=100)

    await lookup.deliver(
        (topics.CLAIMS_EVENTS, plan.decided(ClaimOutcome.REFUSED, ["OUTSIDE_TERM"])),
        (topics.CLAIMS_EVENTS, plan.decided(ClaimOutcome.REPLACEMENT)),
        (topics.DEVICE_ACTIVATIONS, factories.device_activation(plan.sn, "mavic-3-pro")),
        (
            topics.DEVICE_ACTIVATIONS,
            factories.device_activation(plan.sn, "mavic-3-pro", at=first_seen),
        ),
    )

    [case] = await lookup.rows("SELECT outcome, reason_codes, fee_amount FROM cases")
    assert tuple(case) == ("replacement", [], FEE.amount)
    [(activated_at,)] = await lookup.rows("SELECT first_activated_at FROM devices")
    assert activated_at == first_seen


async def test_c5_a_claims_final_outcome_is_the_ledgers_refusal_of_its_approval(
    lookup: ServiceHarness,
) -> None:
    """The lookup shows the case's fate as ClaimFinalised tells it, beside the decision."""
    plan = Plan()
    decided = plan.decided(ClaimOutcome.REPLACEMENT)
    final = _new(
        ClaimFinalised,
        ClaimFinalisedPayload(
            case_id=plan.case_id,
            decision_id=decided.event_id,
            sn=plan.sn,
            model="mavic-3-pro",
            plan_id=plan.plan_id,
            outcome=ClaimOutcome.REFUSED,
            refused_by=RefusedBy.LEDGER,
            reason_codes=["NO_REPLACEMENTS_LEFT"],
        ),
        "claims",
    )

    await lookup.deliver((topics.CLAIMS_EVENTS, decided), (topics.CLAIMS_EVENTS, final))

    [case] = await lookup.rows(
        "SELECT outcome, final_outcome, final_reason_codes, final_refused_by FROM cases"
    )
    assert tuple(case) == ("replacement", "refused", ["NO_REPLACEMENTS_LEFT"], "ledger")


def _ag_cover(year: int, base: str) -> AgriculturalTerm:
    return AgriculturalTerm(
        plan_year=year,
        base_quota=Money.of(base, "CNY"),
        consumables_quota=Money.of("3000.00", "CNY"),
        deductible_rate=Decimal("0.1000"),
        insurer="PICC",
    )


def _quota_taken(plan: Plan, base_left: str) -> QuotaDeductionApplied:
    zero = Money.of("0.00", "CNY")
    return _new(
        QuotaDeductionApplied,
        QuotaDeductionAppliedPayload(
            case_id=plan.case_id,
            plan_id=plan.plan_id,
            sn=plan.sn,
            model="T40",
            term_no=1,
            plan_region="CN",
            customer_region="CN",
            split=RepairSplit(
                deductible_rate=Decimal("0.1000"),
                lines=[],
                repair_cost=zero,
                from_base_quota=zero,
                from_consumables_quota=zero,
                deductible=zero,
                shortfall=zero,
                not_covered=zero,
                logistics_fee=zero,
                customer_share=zero,
                base_quota_before=Money.of("20000.00", "CNY"),
                consumables_quota_before=Money.of("3000.00", "CNY"),
            ),
            base_quota_left=Money.of(base_left, "CNY"),
            consumables_quota_left=Money.of("3000.00", "CNY"),
        ),
        "coverage",
    )


async def test_p5_a4_an_ag_plans_quotas_and_early_renewal_in_one_batch_as_apart(
    stack: Stack,
) -> None:
    """P4-P6: an AG term's cover; P5: what is left of a quota only goes down; A4: a renewal
    bought before expiry ends the previous term at its purchase."""
    plan = Plan()
    renewed_at = plan.start + timedelta(days=300)
    opened = plan.opened()
    opened = opened.model_copy(
        update={
            "payload": opened.payload.model_copy(
                update={"family": PlanFamily.AGRICULTURAL, "agricultural": _ag_cover(1, "20000.00")}
            )
        }
    )
    renewal = _new(
        PlanRenewed,
        PlanRenewedPayload(
            plan_id=plan.plan_id,
            plan_code=factories.new_ag_plan_code(),
            sn=plan.sn,
            sku="ag-care-renewal-2",
            term_no=2,
            term_start=renewed_at,
            term_end=renewed_at + YEAR,
            replacements=0,
            flyaways=0,
            purchased_at=renewed_at,
            agricultural=_ag_cover(2, "18000.00"),
            previous_term_ends_at=renewed_at,
        ),
        "activation",
    )
    extended = _new(
        CoverageExtended,
        CoverageExtendedPayload(
            plan_id=plan.plan_id,
            sn=plan.sn,
            sku="ag-care-renewal-2",
            term_no=2,
            term_start=renewed_at,
            term_end=renewed_at + YEAR,
            replacements_left=0,
            flyaways_left=0,
            agricultural=_ag_cover(2, "18000.00"),
            previous_term_ends_at=renewed_at,
        ),
        "coverage",
    )
    deliveries: list[Delivery] = [
        (topics.COVERAGE_EVENTS, opened),
        (topics.COVERAGE_EVENTS, _quota_taken(plan, "12000.00")),
        (topics.COVERAGE_EVENTS, _quota_taken(plan, "15000.00")),  # late: nothing changes
        (topics.ACTIVATION_EVENTS, renewal),
        (topics.COVERAGE_EVENTS, extended),
    ]

    together, apart = await as_one_batch_and_one_by_one(stack, deliveries)

    assert together == apart
    async with ServiceHarness.open(service, stack.database_url) as harness:
        await harness.deliver(*deliveries)
        rows = await harness.rows(
            "SELECT term_no, term_end, plan_year, base_quota, base_quota_left"
            " FROM plan_terms ORDER BY term_no"
        )
        assert [tuple(row) for row in rows] == [
            (1, renewed_at, 1, Decimal("20000.00"), Decimal("12000.00")),
            (2, renewed_at + YEAR, 2, Decimal("18000.00"), Decimal("18000.00")),
        ]
        [(ledger_term_no, split)] = await harness.rows(
            "SELECT ledger_term_no, ledger_split FROM cases"
        )
        assert ledger_term_no == 1
        assert RepairSplit.model_validate_json(split).base_quota_before == Money.of(
            "20000.00", "CNY"
        )


async def test_g1_g3_an_accessory_released_before_its_association_still_lands(
    stack: Stack,
) -> None:
    drone, accessory = factories.new_serial(), factories.new_serial()
    associated = _new(
        AccessoryAssociated,
        AccessoryAssociatedPayload(
            accessory_sn=accessory,
            accessory_type=AccessoryType.SPRAY,
            drone_sn=drone,
            associated_at=factories.now() - timedelta(days=10),
        ),
        "activation",
    )
    released = _new(
        AccessoryReleased,
        AccessoryReleasedPayload(
            accessory_sn=accessory,
            accessory_type=AccessoryType.SPRAY,
            drone_sn=drone,
            released_at=factories.now(),
            replaced_by_sn=factories.new_serial(),
        ),
        "activation",
    )

    together, apart = await as_one_batch_and_one_by_one(
        stack, [(topics.ACTIVATION_EVENTS, released), (topics.ACTIVATION_EVENTS, associated)]
    )

    assert together == apart
    [row] = together["accessories"]
    assert row[:3] == (accessory, drone, "spray")
    assert None not in (row[3], row[6], row[7])  # associated_at, released_at, replaced_by_sn


async def test_events_the_lookup_does_not_show_and_facts_about_unknown_plans_change_nothing(
    lookup: ServiceHarness,
) -> None:
    """A termination or an exhaustion of a plan not projected yet, a term's policy, an overdue
    express unit: nothing to show, and nothing refused."""
    plan = Plan()
    confirmed = _new(
        TermConfirmed,
        TermConfirmedPayload(
            plan_id=plan.plan_id,
            sn=plan.sn,
            term_no=1,
            policy_no="POL-1",
            insurer="PICC",
            term_start=plan.start,
            term_end=plan.start + YEAR,
        ),
        "coverage",
    )
    exhausted = _new(
        PlanExhausted, PlanExhaustedPayload(plan_id=plan.plan_id, sn=plan.sn), "coverage"
    )

    handled = await lookup.deliver(
        (topics.COVERAGE_EVENTS, plan.terminated("CASE-X")),
        (topics.COVERAGE_EVENTS, exhausted),
        (topics.COVERAGE_EVENTS, confirmed),
        (topics.REPAIR_ASSESSMENTS, factories.unit_overdue(plan.case_id)),
    )

    assert (handled.rejected, handled.emitted) == ({}, [])
    assert await read_model(lookup) == {table: [] for table in TABLES}
    assert len(await lookup.rows("SELECT event_id FROM inbox")) == 4


async def test_f1_shipping_quoted_then_billed_on_delivery_in_one_batch_as_apart(
    stack: Stack,
) -> None:
    """F1: the quote fills in what a replacement abroad costs; the shipment how it was settled;
    the lookup shows them, in one batch as one by one."""
    plan = Plan()
    shipping, customs = Money.of("25.00", "USD"), Money.of("0.00", "USD")
    quoted = _new(
        ShippingChargesQuoted,
        ShippingChargesQuotedPayload(
            case_id=plan.case_id,
            plan_id=plan.plan_id,
            old_sn=plan.sn,
            plan_region="PL",
            ship_to_region="DE",
            fee=FEE,
            shipping=shipping,
            customs=customs,
        ),
        "fulfilment",
    )
    shipped = plan.shipped()
    shipped = shipped.model_copy(
        update={
            "payload": shipped.payload.model_copy(
                update={
                    "ship_to_region": "DE",
                    "customer_pays_shipping": True,
                    "shipping_charges": ShippingCharges(
                        shipping=shipping, customs=customs, settlement="billed_on_delivery"
                    ),
                }
            )
        }
    )

    together, apart = await as_one_batch_and_one_by_one(
        stack, [(topics.FULFILMENT_EVENTS, quoted), (topics.FULFILMENT_EVENTS, shipped)]
    )

    assert together == apart
    async with ServiceHarness.open(service, stack.database_url) as harness:
        await harness.deliver((topics.FULFILMENT_EVENTS, quoted))
        [row] = await harness.rows(
            "SELECT shipping_amount, customs_amount, charges_currency, shipping_settlement"
            " FROM replacements"
        )
        assert tuple(row) == (Decimal("25.00"), Decimal("0.00"), "USD", None)  # owed


async def test_f4_an_address_change_refused_before_its_pack_is_scheduled_still_lands(
    stack: Stack,
) -> None:
    """F4: the refusal (keyed by plan code before the renewal is bound) and the pack arrive in
    any order; the pack row keeps both, in one batch as one by one."""
    plan_id, code = uuid.uuid4(), factories.new_ag_plan_code()
    refused = _new(
        PackAddressChangeRefused,
        PackAddressChangeRefusedPayload(request_id="ADDR-1", plan_code=code, plan_id=None),
        "fulfilment",
    )
    last_day = date(2026, 12, 31)
    scheduled = _new(
        ConsumablesPackScheduled,
        ConsumablesPackScheduledPayload(
            pack_id=uuid.uuid4(),
            plan_id=plan_id,
            plan_code=code,
            model="T40",
            plan_year=2,
            items=["blade x4"],
            purchased_at=factories.now(),
            due_by=factories.now() + timedelta(days=42),
            weekdays_only_after=last_day,
        ),
        "fulfilment",
    )

    together, apart = await as_one_batch_and_one_by_one(
        stack, [(topics.FULFILMENT_EVENTS, refused), (topics.FULFILMENT_EVENTS, scheduled)]
    )

    assert together == apart
    [row] = together["packs"]
    assert row[:2] == (code, plan_id)
    assert (row[4], row[6], row[8]) == ("scheduled", last_day, "ADDR-1")


def _answer(found: Findings) -> LookupAnswer | None:
    return assemble(found, now=factories.now(), warranty_months=12, plan_names={})


async def test_an_assessment_kept_waiting_shows_with_its_sn_until_its_wait_is_over(
    lookup: ServiceHarness,
) -> None:
    """X5 with shared.waiting: what a service keeps for the SN is in its lookup answer."""
    plan = Plan()
    await lookup.deliver((topics.ACTIVATION_EVENTS, plan.activated()))
    kept_id = uuid.uuid4()
    since = factories.now()
    waiting = _new(
        EventWaiting,
        EventWaitingPayload(
            service="claims",
            dependency="plan-of-assessment",
            key=plan.sn,
            waiting_event_id=kept_id,
            waiting_event_type="repair.assessment-reported",
            waiting_topic=topics.REPAIR_ASSESSMENTS.name,
            waiting_since=since,
            deadline=since + timedelta(minutes=15),
        ),
        "claims",
    )
    await lookup.deliver((topics.WAITING, waiting))
    async with lookup.pool.acquire() as conn:
        answer = _answer(await findings(conn, plan.sn))
    assert answer is not None
    assert [(w.service, w.dependency, w.key, w.deadline) for w in answer.waiting] == [
        ("claims", "plan-of-assessment", plan.sn, since + timedelta(minutes=15))
    ]
    assert "Waiting for a dependency" in render_text(answer)

    over = _new(
        WaitOver,
        WaitOverPayload(
            service="claims",
            dependency="plan-of-assessment",
            key=plan.sn,
            waiting_event_id=kept_id,
            ended=WaitEnd.RESOLVED,
        ),
        "claims",
    )
    await lookup.deliver((topics.WAITING, over))
    async with lookup.pool.acquire() as conn:
        answer = _answer(await findings(conn, plan.sn))
    assert answer is not None
    assert answer.waiting == []


def _insurer_claim(plan: Plan, split: RepairSplit) -> InsurerClaimReported:
    incident_at = plan.start + timedelta(days=3)
    return _new(
        InsurerClaimReported,
        InsurerClaimReportedPayload(
            case_id=plan.case_id,
            plan_id=plan.plan_id,
            term_no=1,
            insurer="zhongan",
            policy_no="POL-1",
            sn=plan.sn,
            model="T40",
            plan_year=1,
            cause=IncidentCause.COLLISION,
            activity=AgriculturalActivity.SPRAYING,
            incident_at=incident_at,
            incident_date=incident_at.date(),
            base_quota_amount=split.from_base_quota,
            deductible=split.deductible,
            lines=list(split.lines),
        ),
        "claims",
    )


async def test_c8_l4_an_insurers_claims_and_answers_in_either_order_make_one_bordereau(
    stack: Stack,
) -> None:
    """C8, L4: the insurer's answers may be read before the claim they answer (two topics); a
    late `accepted` after `paid` changes nothing; the bordereau lists the ledger's repair on the
    insurer's term with the claim's final state (C7, M2)."""
    plan = Plan()
    opened = plan.opened()
    cover = _ag_cover(1, "20000.00").model_copy(update={"insurer": "zhongan"})
    opened = opened.model_copy(
        update={
            "payload": opened.payload.model_copy(
                update={"family": PlanFamily.AGRICULTURAL, "agricultural": cover}
            )
        }
    )
    split = base_quota_split("1200.00")
    taken = _quota_taken(plan, "18800.00")
    taken = taken.model_copy(update={"payload": taken.payload.model_copy(update={"split": split})})
    paid = factories.insurer_claim_answer(plan.case_id, "zhongan", InsurerAnswer.PAID, "1200.00")
    late = factories.insurer_claim_answer(plan.case_id, "zhongan", InsurerAnswer.ACCEPTED)
    deliveries: list[Delivery] = [
        (topics.INSURER_RESPONSES, paid),
        (topics.COVERAGE_EVENTS, opened),
        (topics.COVERAGE_EVENTS, taken),
        (topics.INSURER_CLAIMS, _insurer_claim(plan, split)),
        (topics.INSURER_RESPONSES, late),
    ]

    together, apart = await as_one_batch_and_one_by_one(stack, deliveries)

    assert together == apart
    async with ServiceHarness.open(service, stack.database_url) as harness:
        await harness.deliver(*deliveries)
        month = taken.occurred_at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
        start, end = month_bounds(month)
        async with harness.pool.acquire() as conn:
            repairs, claims = await bordereau_facts(conn, "zhongan", start, end)
        report = bordereau("zhongan", month, repairs, claims)
    (line,) = report.repairs
    assert (line.case_id, line.claim_state, line.policy_no) == (
        plan.case_id,
        ClaimState.PAID,
        "POL-1",
    )
    assert report.totals.base_quota_paid == Money.of("1200.00", "CNY")
    assert report.totals.base_quota_claimed == Money.of("1200.00", "CNY")
    (answer,) = report.answers
    assert (answer.answer, answer.paid) == ("paid", Money.of("1200.00", "CNY"))


async def test_c9_a_term_the_ledger_ended_shows_as_expired_with_when_and_why(
    stack: Stack,
) -> None:
    """A4: a renewal took over the term a minute ago; the answer says so, on the plan's term
    and in the text a customer or an operator reads."""
    plan = Plan()
    ended_at = factories.now() - timedelta(minutes=1)
    ended = _new(
        TermEnded,
        TermEndedPayload(
            plan_id=plan.plan_id,
            sn=plan.sn,
            term_no=1,
            ended_at=ended_at,
            reason=TermEndReason.RENEWAL_TOOK_OVER,
        ),
        "coverage",
    )
    deliveries: list[Delivery] = [
        (topics.ACTIVATION_EVENTS, plan.activated()),
        (topics.COVERAGE_EVENTS, plan.opened()),
        (topics.COVERAGE_EVENTS, ended),
    ]

    together, apart = await as_one_batch_and_one_by_one(stack, deliveries)

    assert together == apart
    async with ServiceHarness.open(service, stack.database_url) as harness:
        await harness.deliver(*deliveries)
        async with harness.pool.acquire() as conn:
            answer = _answer(await findings(conn, plan.sn))
    assert answer is not None and answer.plan is not None
    assert answer.plan.state is CoverState.EXPIRED
    assert (answer.plan.ended_at, answer.plan.end_reason) == (ended_at, "RENEWAL_TOOK_OVER")
    assert answer.plan.term_end == ended_at
    [term] = answer.plan.terms
    assert (term.ended_at, term.end_reason) == (ended_at, "RENEWAL_TOOK_OVER")
    assert "Term ended" in render_text(answer) and "RENEWAL_TOOK_OVER" in render_text(answer)
