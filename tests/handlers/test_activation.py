"""Activation's batch handlers on a real database: codes, devices, requests, reviews, policies,
inheritance, bars and accessories (A1-A5, P3-P6, X1, C10, F3, G1-G3)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from contracts import topics
from contracts.accessories import AccessoryType
from contracts.activation import (
    AccessoryAssociated,
    AccessoryAssociationRefused,
    AccessoryReleased,
    ActivationPending,
    ActivationRefused,
    PlanActivated,
    PlanRenewed,
)
from contracts.agricultural import PlanFamily
from contracts.claims import ClaimReversed, ClaimReversedPayload
from contracts.coverage import (
    PlanInherited,
    PlanInheritedPayload,
    TermConfirmed,
    TermConfirmedPayload,
)
from contracts.envelope import Envelope
from contracts.money import Money
from contracts.topics import Topic
from contracts.upstream import Owner
from services.activation.app import service
from simulation import factories as f
from tests.conftest import Stack
from tests.handlers.support import Handled, ServiceHarness

Delivery = tuple[Topic, Envelope]


@pytest.fixture
async def activation(stack: Stack) -> AsyncIterator[ServiceHarness]:
    async with ServiceHarness.open(service, stack.database_url) as harness:
        yield harness


def reversal(plan_id: uuid.UUID, sn: str) -> ClaimReversed:
    case_id = f"CASE-{uuid.uuid4().hex[:10]}"
    return ClaimReversed.new(
        ClaimReversedPayload(
            case_id=case_id,
            plan_id=plan_id,
            sn=sn,
            reviewer_id="REVIEWER-7",
            reason_codes=["FRAUD"],
            customer_owes=Money.of("1450.00", "PLN"),
        ),
        producer="claims",
        correlation_id=case_id,
    )


def term_confirmed(
    plan_id: uuid.UUID, sn: str, term_no: int, start: datetime, end: datetime
) -> TermConfirmed:
    return TermConfirmed.new(
        TermConfirmedPayload(
            plan_id=plan_id,
            sn=sn,
            term_no=term_no,
            policy_no="POL-1",
            insurer="zhongan",
            term_start=start,
            term_end=end,
        ),
        producer="coverage",
        correlation_id=str(plan_id),
    )


def inherited(plan_id: uuid.UUID, old_sn: str, new_sn: str) -> PlanInherited:
    return PlanInherited.new(
        PlanInheritedPayload(
            plan_id=plan_id,
            case_id="CASE-F3",
            old_sn=old_sn,
            new_sn=new_sn,
            term_end=f.now() + timedelta(days=300),
            replacements_left=1,
            flyaways_left=1,
        ),
        producer="coverage",
        correlation_id=str(plan_id),
    )


def outcome(handled: Handled) -> list[tuple[Any, ...]]:
    """What the events say, without the ids a run draws afresh (plan ids, codes, SNs)."""
    said: list[tuple[Any, ...]] = []
    for event in handled.events():
        payload = event.payload
        if isinstance(event, PlanActivated | PlanRenewed):
            said.append((event.event_type, getattr(payload, "term_no", 1), payload.replacements))
        elif isinstance(event, ActivationRefused):
            said.append((event.event_type, tuple(payload.reason_codes)))
        else:
            said.append((event.event_type,))
    return said


async def as_one_and_as_two_batches(
    activation: ServiceHarness, scenario: Any
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The same pair of deliveries, on fresh codes and devices, in one batch and in two."""
    first, second = await scenario()
    together = await activation.deliver(first, second)
    first, second = await scenario()
    apart = [await activation.deliver(first), await activation.deliver(second)]
    assert together.rejected == {} and all(handled.rejected == {} for handled in apart)
    return outcome(together), outcome(apart[0]) + outcome(apart[1])


async def first_and_second_terms(activation: ServiceHarness) -> list[Any]:
    """Each plan's first term and its renewal, side by side."""
    return await activation.rows(
        "SELECT t1.term_end AS first_end, t1.scheduled_end AS first_scheduled_end,"
        " t2.term_start AS second_start, t2.plan_year AS second_plan_year FROM plan_terms t1"
        " JOIN plan_terms t2 ON t2.plan_id = t1.plan_id AND t2.term_no = 2 WHERE t1.term_no = 1"
    )


async def sold_consumer_code(
    activation: ServiceHarness, sku: str = "care-refresh-1y", model: str = "mini-3"
) -> str:
    code = f.new_plan_code()
    handled = await activation.deliver((topics.PLAN_ORDERS, f.plan_order(code, sku, model)))
    assert handled.rejected == {}
    return code


async def device(activation: ServiceHarness, model: str, at: datetime | None = None) -> str:
    sn = f.new_serial()
    await activation.deliver((topics.DEVICE_ACTIVATIONS, f.device_activation(sn, model, at)))
    return sn


async def bind(activation: ServiceHarness, code: str, sn: str) -> PlanActivated:
    handled = await activation.deliver((topics.ACTIVATION_REQUESTS, f.activation_request(code, sn)))
    [activated] = handled.events(PlanActivated)
    assert isinstance(activated, PlanActivated)
    return activated


async def bound_consumer_plan(activation: ServiceHarness) -> PlanActivated:
    return await bind(
        activation, await sold_consumer_code(activation), await device(activation, "mini-3")
    )


# Plan codes and devices (D2, P3, P4, P6, A1) -----------------------------------------------------


async def test_p3_p4_codes_of_both_families_are_recorded_and_an_inconsistent_order_is_refused_alone(
    activation: ServiceHarness,
) -> None:
    consumer, agricultural, bad = f.new_plan_code(), f.new_ag_plan_code(), f.new_plan_code()
    order = f.plan_order(bad, "care-refresh-1y", "mini-3")
    overpriced = order.model_copy(
        update={"payload": order.payload.model_copy(update={"price": Money.of("9.99", "PLN")})}
    )
    retried = f.plan_order(consumer, "care-refresh-1y", "mini-3")

    handled = await activation.deliver(
        (topics.PLAN_ORDERS, f.plan_order(consumer, "care-refresh-1y", "mini-3")),
        (topics.PLAN_ORDERS, overpriced),
        (topics.PLAN_ORDERS, f.ag_plan_order(agricultural, "ag-care-year-1", "T50")),
        (topics.PLAN_ORDERS, retried),
    )

    assert list(handled.rejected) == [1]
    assert "P3" in str(handled.rejected[1])
    rows = await activation.rows(
        "SELECT plan_code, family, plan_year, state FROM plan_codes ORDER BY family"
    )
    assert [tuple(row) for row in rows] == [
        (agricultural, PlanFamily.AGRICULTURAL.value, 1, "sold"),
        (consumer, PlanFamily.CONSUMER.value, None, "sold"),
    ]


async def test_a1_a_devices_first_activation_is_kept_whatever_the_order_in_the_batch(
    activation: ServiceHarness,
) -> None:
    sn, first = f.new_serial(), f.now() - timedelta(days=3)
    await activation.deliver(
        (topics.DEVICE_ACTIVATIONS, f.device_activation(sn, "mini-3", first + timedelta(days=1))),
        (topics.DEVICE_ACTIVATIONS, f.device_activation(sn, "mini-3", first)),
    )
    await activation.deliver(
        (topics.DEVICE_ACTIVATIONS, f.device_activation(sn, "mini-3", first + timedelta(days=2)))
    )

    [row] = await activation.rows("SELECT activated_at FROM devices WHERE sn = $1", sn)
    assert row["activated_at"] == first


# Activation requests (A1-A4, P4, D2) -------------------------------------------------------------


async def test_a1_a_request_in_the_window_binds_the_plan_with_the_owner_kept_here(
    activation: ServiceHarness,
) -> None:
    code, sn = await sold_consumer_code(activation), await device(activation, "mini-3")
    request = f.activation_request(code, sn)

    handled = await activation.deliver((topics.ACTIVATION_REQUESTS, request))
    resent = await activation.deliver(
        (
            topics.ACTIVATION_REQUESTS,
            f.activation_request(code, sn, request_id=request.payload.request_id),
        )
    )

    [activated] = handled.events(PlanActivated)
    assert (activated.payload.plan_code, activated.payload.sn) == (code, sn)
    assert (activated.payload.replacements, activated.payload.flyaways) == (2, 1)
    assert activated.correlation_id == str(activated.payload.plan_id)
    assert activated.causation_id == request.event_id
    assert handled.emitted[0].key == sn
    assert activated.payload.request_id == request.payload.request_id
    # The same request retried upstream is answered with a copy, and binds nothing again.
    [copy] = resent.events(PlanActivated)
    assert copy.payload == activated.payload.model_copy(update={"copy_of": activated.event_id})
    [owner] = await activation.rows("SELECT owner_id, email FROM owners")
    assert owner["owner_id"] == activated.payload.owner_id
    assert [
        tuple(row)
        for row in await activation.rows(
            "SELECT t.plan_id, c.state, r.state FROM plan_terms t"
            " JOIN plan_codes c USING (plan_code) JOIN activation_requests r USING (plan_code)"
        )
    ] == [(activated.payload.plan_id, "activated", "activated")]


async def test_a1_a_late_request_waits_for_the_video_and_the_review_decides_it(
    activation: ServiceHarness,
) -> None:
    old = f.now() - timedelta(days=10)
    approved_code, rejected_code = (
        await sold_consumer_code(activation),
        await sold_consumer_code(activation),
    )
    approved_sn, rejected_sn = (
        await device(activation, "mini-3", old),
        await device(activation, "mini-3", old),
    )
    approved = f.activation_request(approved_code, approved_sn)
    rejected = f.activation_request(rejected_code, rejected_sn)

    waiting = await activation.deliver(
        (topics.ACTIVATION_REQUESTS, approved), (topics.ACTIVATION_REQUESTS, rejected)
    )
    reviewed = await activation.deliver(
        (topics.VIDEO_REVIEWS, f.video_review(approved.payload.request_id, approved=True)),
        (topics.VIDEO_REVIEWS, f.video_review(rejected.payload.request_id, approved=False)),
        (topics.VIDEO_REVIEWS, f.video_review(approved.payload.request_id, approved=False)),
    )

    assert [e.payload.reason_code for e in waiting.events(ActivationPending)] == [
        "VIDEO_REVIEW_REQUIRED"
    ] * 2
    assert [type(event) for event in reviewed.events()] == [PlanActivated, ActivationRefused]
    assert reviewed.events(ActivationRefused)[0].payload.reason_codes == ["VIDEO_REJECTED"]
    assert reviewed.events(ActivationRefused)[0].correlation_id == rejected.payload.request_id
    states = await activation.rows(
        "SELECT c.plan_code, c.state AS code, r.state AS request, r.reason_codes"
        " FROM plan_codes c JOIN activation_requests r USING (plan_code) ORDER BY c.plan_code"
    )
    assert {
        row["plan_code"]: (row["code"], row["request"], row["reason_codes"]) for row in states
    } == {
        approved_code: ("activated", "activated", []),
        rejected_code: ("sold", "refused", ["VIDEO_REJECTED"]),
    }


async def test_a1_a_review_of_an_unknown_request_is_refused_alone(
    activation: ServiceHarness,
) -> None:
    handled = await activation.deliver(
        (topics.VIDEO_REVIEWS, f.video_review("REQ-NEVER-MADE", approved=True))
    )

    assert list(handled.rejected) == [0]
    assert "no activation request" in str(handled.rejected[0])
    assert await activation.rows("SELECT event_id FROM inbox") == []


async def test_a2_two_requests_for_one_code_in_one_batch_bind_it_once_as_one_by_one(
    activation: ServiceHarness,
) -> None:
    async def scenario() -> tuple[Delivery, Delivery]:
        code = await sold_consumer_code(activation)
        first, second = await device(activation, "mini-3"), await device(activation, "mini-3")
        return (
            (topics.ACTIVATION_REQUESTS, f.activation_request(code, first)),
            (topics.ACTIVATION_REQUESTS, f.activation_request(code, second)),
        )

    together, apart = await as_one_and_as_two_batches(activation, scenario)

    assert (
        together
        == apart
        == [
            ("activation.plan-activated", 1, 2),
            ("activation.activation-refused", ("PLAN_CODE_ALREADY_USED",)),
        ]
    )


async def test_a3_a_plan_and_its_renewal_in_one_batch_give_what_they_give_one_by_one(
    activation: ServiceHarness,
) -> None:
    async def scenario() -> tuple[Delivery, Delivery]:
        first, renewal = await sold_consumer_code(activation), await sold_consumer_code(activation)
        sn, at = await device(activation, "mini-3"), f.now()
        return (
            (topics.ACTIVATION_REQUESTS, f.activation_request(first, sn, at)),
            (
                topics.ACTIVATION_REQUESTS,
                f.activation_request(renewal, sn, at + timedelta(hours=1)),
            ),
        )

    together, apart = await as_one_and_as_two_batches(activation, scenario)

    assert (
        together
        == apart
        == [
            ("activation.plan-activated", 1, 2),
            ("activation.plan-renewed", 2, 2),
        ]
    )
    renewed = await first_and_second_terms(activation)
    assert len(renewed) == 2
    assert all(row["first_end"] == row["second_start"] for row in renewed)  # A3


async def test_a4_an_ag_first_year_and_its_early_renewal_in_one_batch_cut_the_term_as_one_by_one(
    activation: ServiceHarness,
) -> None:
    async def scenario() -> tuple[Delivery, Delivery]:
        first, renewal = f.new_ag_plan_code(), f.new_ag_plan_code()
        bought = f.now()
        await activation.deliver(
            (topics.PLAN_ORDERS, f.ag_plan_order(first, "ag-care-year-1", "T50")),
            (topics.PLAN_ORDERS, f.ag_plan_order(renewal, "ag-care-renewal-2", "T50", at=bought)),
        )
        sn = await device(activation, "T50")
        return (
            (
                topics.ACTIVATION_REQUESTS,
                f.activation_request(first, sn, bought - timedelta(days=360)),
            ),
            (topics.ACTIVATION_REQUESTS, f.activation_request(renewal, sn, bought)),
        )

    together, apart = await as_one_and_as_two_batches(activation, scenario)

    assert (
        together
        == apart
        == [
            ("activation.plan-activated", 1, 0),
            ("activation.plan-renewed", 2, 0),
        ]
    )
    terms = await first_and_second_terms(activation)
    assert len(terms) == 2
    for term in terms:  # A4: bought before expiry, the first year ends at the purchase
        assert term["first_end"] == term["second_start"]
        assert term["first_scheduled_end"] > term["first_end"]
        assert term["second_plan_year"] == 2


async def test_p4_p6_an_ag_bundle_binds_its_first_year_with_quotas_and_liability_cover(
    activation: ServiceHarness,
) -> None:
    code, sn = f.new_ag_plan_code(), await device(activation, "T50")
    await activation.deliver(
        (topics.PLAN_ORDERS, f.ag_plan_order(code, "ag-care-year-1", "T50", new_drone_bundle=True))
    )

    handled = await activation.deliver((topics.ACTIVATION_REQUESTS, f.activation_request(code, sn)))

    [activated] = handled.events(PlanActivated)
    assert activated.payload.family is PlanFamily.AGRICULTURAL
    assert activated.payload.agricultural is not None
    assert activated.payload.agricultural.plan_year == 1
    assert activated.payload.agricultural.liability_cover is True
    assert activated.payload.region == "CN"


async def test_d2_a2_codes_of_the_other_family_unknown_or_used_codes_are_refused_with_reasons(
    activation: ServiceHarness,
) -> None:
    plan = await bound_consumer_plan(activation)
    ag_code = f.new_ag_plan_code()
    await activation.deliver(
        (topics.PLAN_ORDERS, f.ag_plan_order(ag_code, "ag-care-year-1", "T50"))
    )
    sn = plan.payload.sn

    handled = await activation.deliver(
        (topics.ACTIVATION_REQUESTS, f.activation_request(ag_code, sn)),
        (topics.ACTIVATION_REQUESTS, f.activation_request("CR-UNKNOWN0000", sn)),
        (topics.ACTIVATION_REQUESTS, f.activation_request(plan.payload.plan_code, f.new_serial())),
    )

    assert [tuple(e.payload.reason_codes) for e in handled.events(ActivationRefused)] == [
        ("MODEL_MISMATCH",),
        ("PLAN_CODE_UNKNOWN",),
        ("PLAN_CODE_ALREADY_USED",),
    ]
    refused = await activation.rows(
        "SELECT count(*) AS n FROM activation_requests WHERE state = 'refused'"
    )
    assert refused[0]["n"] == 3


# Bars after fraud (C10) --------------------------------------------------------------------------


async def test_c10_a_reversal_bars_device_account_and_person_and_their_renewals_are_refused(
    activation: ServiceHarness,
) -> None:
    plan = await bound_consumer_plan(activation)
    sn = plan.payload.sn
    [owner] = await activation.rows("SELECT email, name FROM owners")

    barred = await activation.deliver(
        (topics.CLAIMS_EVENTS, reversal(plan.payload.plan_id, sn)),
        (topics.CLAIMS_EVENTS, reversal(uuid.uuid4(), f.new_serial())),
    )
    renewal = await sold_consumer_code(activation)
    other_device_of_the_person = await bound_consumer_plan(activation)
    refused = await activation.deliver(
        (topics.ACTIVATION_REQUESTS, f.activation_request(renewal, sn)),
    )
    second_code = await sold_consumer_code(activation)
    by_person = await activation.deliver(
        (
            topics.ACTIVATION_REQUESTS,
            f.activation_request(
                second_code,
                other_device_of_the_person.payload.sn,
                owner=Owner(name=owner["name"], email=owner["email"]),
            ),
        )
    )

    assert list(barred.rejected) == [1]  # a plan never bound here
    assert "was bound here" in str(barred.rejected[1])
    kinds = await activation.rows("SELECT kind FROM barred ORDER BY kind")
    assert [row["kind"] for row in kinds] == ["account", "device", "person"]
    for handled in (refused, by_person):
        [event] = handled.events(ActivationRefused)
        assert "RENEWAL_BARRED" in event.payload.reason_codes


# Following the plan (A5, F3) ---------------------------------------------------------------------


async def test_a5_f3_the_policy_sets_the_terms_dates_and_the_plan_follows_the_replacement(
    activation: ServiceHarness,
) -> None:
    plan = await bound_consumer_plan(activation)
    plan_id, old_sn, new_sn = plan.payload.plan_id, plan.payload.sn, f.new_serial()
    start = plan.payload.term_start.replace(microsecond=0)
    end = start + timedelta(days=365)

    handled = await activation.deliver(
        (topics.COVERAGE_EVENTS, term_confirmed(plan_id, old_sn, 1, start, end)),
        (topics.COVERAGE_EVENTS, inherited(plan_id, old_sn, new_sn)),
        (topics.COVERAGE_EVENTS, term_confirmed(uuid.uuid4(), old_sn, 1, start, end)),
    )

    assert handled.rejected == {}
    [term] = await activation.rows("SELECT sn, term_start, term_end FROM plan_terms")
    assert tuple(term) == (new_sn, start, end)
    renewal = await sold_consumer_code(activation)
    renewed = await activation.deliver(
        (topics.ACTIVATION_REQUESTS, f.activation_request(renewal, new_sn))
    )
    assert [e.payload.plan_id for e in renewed.events(PlanRenewed)] == [plan_id]  # X6


# Accessories (G1-G3, F3) -------------------------------------------------------------------------


async def ag_drone(activation: ServiceHarness, model: str = "T100") -> PlanActivated:
    code, sn = f.new_ag_plan_code(), await device(activation, model)
    await activation.deliver((topics.PLAN_ORDERS, f.ag_plan_order(code, "ag-care-year-1", model)))
    return await bind(activation, code, sn)


async def test_g1_g3_a_new_spray_system_replaces_the_drones_one_in_one_batch_as_one_by_one(
    activation: ServiceHarness,
) -> None:
    async def scenario() -> tuple[Delivery, Delivery]:
        drone = (await ag_drone(activation)).payload.sn
        return (
            (
                topics.ACCESSORY_ACTIVATIONS,
                f.accessory_activation(f.new_serial(), AccessoryType.SPRAY, drone),
            ),
            (
                topics.ACCESSORY_ACTIVATIONS,
                f.accessory_activation(f.new_serial(), AccessoryType.SPRAY, drone),
            ),
        )

    together, apart = await as_one_and_as_two_batches(activation, scenario)

    assert (
        together
        == apart
        == [
            ("activation.accessory-associated",),
            ("activation.accessory-released",),
            ("activation.accessory-associated",),
        ]
    )
    states = await activation.rows("SELECT state, count(*) AS n FROM accessories GROUP BY state")
    assert {row["state"]: row["n"] for row in states} == {"associated": 2, "released": 2}


async def test_g2_g3_refusals_are_recorded_and_a_resent_activation_changes_nothing(
    activation: ServiceHarness,
) -> None:
    drone, other = (await ag_drone(activation)).payload.sn, (await ag_drone(activation)).payload.sn
    spray_sn = f.new_serial()
    spray = f.accessory_activation(spray_sn, AccessoryType.SPRAY, drone)

    handled = await activation.deliver(
        (topics.ACCESSORY_ACTIVATIONS, spray),
        (
            topics.ACCESSORY_ACTIVATIONS,
            f.accessory_activation(spray_sn, AccessoryType.SPRAY, other),
        ),
        (
            topics.ACCESSORY_ACTIVATIONS,
            f.accessory_activation(f.new_serial(), AccessoryType.SPRAY, f.new_serial()),
        ),
    )
    resent = await activation.deliver(
        (
            topics.ACCESSORY_ACTIVATIONS,
            f.accessory_activation(
                spray_sn, AccessoryType.SPRAY, drone, spray.payload.activated_at
            ),
        )
    )

    assert [type(event) for event in handled.events()] == [
        AccessoryAssociated,
        AccessoryAssociationRefused,
        AccessoryAssociationRefused,
    ]
    assert [e.payload.reason_codes for e in handled.events(AccessoryAssociationRefused)] == [
        ["ACCESSORY_ON_ANOTHER_DRONE"],
        ["DRONE_UNKNOWN"],
    ]
    assert resent.emitted == []
    outcomes = await activation.rows(
        "SELECT outcome, count(*) AS n FROM accessory_activations GROUP BY outcome"
    )
    assert {row["outcome"]: row["n"] for row in outcomes} == {"associated": 1, "refused": 2}


async def test_f3_the_replacement_takes_the_accessories_its_plan_covers(
    activation: ServiceHarness,
) -> None:
    plan = await ag_drone(activation)
    old_sn, new_sn, spray_sn = plan.payload.sn, f.new_serial(), f.new_serial()
    await activation.deliver(
        (
            topics.ACCESSORY_ACTIVATIONS,
            f.accessory_activation(spray_sn, AccessoryType.SPRAY, old_sn),
        )
    )

    handled = await activation.deliver(
        (topics.COVERAGE_EVENTS, inherited(plan.payload.plan_id, old_sn, new_sn))
    )

    [moved] = handled.events(AccessoryAssociated)
    assert (moved.payload.accessory_sn, moved.payload.drone_sn) == (spray_sn, new_sn)
    assert moved.payload.inherited_from_sn == old_sn
    assert moved.correlation_id == str(plan.payload.plan_id)
    assert handled.events(AccessoryReleased) == []
    [row] = await activation.rows("SELECT drone_sn FROM accessories")
    assert row["drone_sn"] == new_sn
