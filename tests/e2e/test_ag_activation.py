"""The agricultural plan at activation (P4, P6, A2, A4, C10) through the running services."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from contracts import topics as t
from contracts.activation import ActivationRefused, PlanRenewed
from contracts.agricultural import PlanFamily
from contracts.claims import ClaimReversed
from contracts.coverage import CoverageOpened, TermConfirmed
from contracts.money import Money
from contracts.upstream import Owner, ReviewConcluded, ReviewConcludedPayload, ReviewVerdict
from contracts.waiting import WaitEnd, WaitOver
from simulation import factories as f
from simulation.kafka_io import EventLog, Upstream
from simulation.processes import Platform
from tests.e2e.journeys import (
    activate_ag_plan,
    activate_plan,
    bind,
    claim,
    device_known,
    eventually,
    query,
    renew_ag,
    sell,
)

pytestmark = pytest.mark.e2e

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def test_p4_p6_a_first_year_plan_gifted_with_a_bundle_carries_liability_cover(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    _, activated = await activate_ag_plan(platform, upstream, events, "T70P", new_drone_bundle=True)
    plan = activated.payload
    assert plan.family is PlanFamily.AGRICULTURAL
    assert (plan.model, plan.sku, plan.region) == ("T70P", "ag-care-year-1", "CN")
    assert (plan.replacements, plan.flyaways) == (0, 0)
    assert plan.agricultural is not None
    assert plan.agricultural.plan_year == 1
    assert plan.agricultural.base_quota == Money.of("35000.00", "CNY")
    assert plan.agricultural.consumables_quota == Money.of("3500.00", "CNY")
    assert plan.agricultural.deductible_rate == Decimal("0")
    assert plan.agricultural.insurer == "picc"
    assert plan.agricultural.liability_cover is True
    # P4: 12 months, to the end of the last day in Shanghai.
    end = plan.term_end.astimezone(SHANGHAI)
    assert (end.hour, end.minute, end.second) == (0, 0, 0)
    assert timedelta(days=365) <= plan.term_end - plan.term_start <= timedelta(days=367)


async def test_p4_p6_a_bought_first_year_plan_has_no_liability_and_a_renewal_cannot_start_one(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    _, activated = await activate_ag_plan(platform, upstream, events, "T50")
    assert activated.payload.agricultural is not None
    assert activated.payload.agricultural.liability_cover is False
    assert activated.payload.agricultural.base_quota == Money.of("22000.00", "CNY")

    sn, code = f.new_serial(), f.new_ag_plan_code()
    await device_known(platform, upstream, sn, "T50")
    await sell(platform, upstream, f.ag_plan_order(code, "ag-care-renewal-2", "T50"))
    refused = await bind(upstream, events, code, sn)
    assert isinstance(refused, ActivationRefused)
    assert refused.payload.reason_codes == ["FIRST_YEAR_PLAN_REQUIRED"]
    # Refused only once its wait for a plan to renew is over (A4).
    (over,) = await events.wait_for(
        WaitOver, lambda e: (e.payload.dependency, e.payload.key) == ("plan-of-renewal", sn)
    )
    assert over.payload.ended is WaitEnd.EXPIRED


async def test_a2_d2_an_ag_code_binds_to_its_own_model_and_a_cr_code_not_to_an_ag_drone(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    sn, code = f.new_serial(), f.new_ag_plan_code()
    await device_known(platform, upstream, sn, "T40")
    await sell(platform, upstream, f.ag_plan_order(code, "ag-care-year-1", "T30"))
    refused = await bind(upstream, events, code, sn)
    assert isinstance(refused, ActivationRefused)
    assert refused.payload.reason_codes == ["MODEL_MISMATCH"]

    device, _ = await activate_ag_plan(platform, upstream, events, "T40")
    consumer = f.new_plan_code()
    await sell(platform, upstream, f.plan_order(consumer, "care-refresh-1y", "mini-3"))
    other_family = await bind(upstream, events, consumer, device.sn)
    assert isinstance(other_family, ActivationRefused)
    assert other_family.payload.reason_codes == ["MODEL_MISMATCH"]


async def test_a4_bought_in_the_15_days_before_expiry_starts_at_purchase_and_ends_the_term_then(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device, activated = await activate_ag_plan(
        platform, upstream, events, "T25", at=f.now() - timedelta(days=360)
    )
    bought = f.now() - timedelta(minutes=5)
    assert activated.payload.term_end - timedelta(days=15) <= bought < activated.payload.term_end

    renewed = await renew_ag(
        platform, upstream, events, device, "ag-care-renewal-2", purchased_at=bought
    )
    assert isinstance(renewed, PlanRenewed)
    term = renewed.payload
    assert str(term.plan_id) == device.plan_id
    assert term.term_no == 2
    assert term.term_start == bought
    assert term.previous_term_ends_at == bought
    assert (term.replacements, term.flyaways) == (0, 0)
    assert term.agricultural is not None
    assert term.agricultural.plan_year == 2
    assert term.agricultural.deductible_rate == Decimal("0.05")  # C7: T25 second year
    assert term.agricultural.liability_cover is False

    first, second = await query(
        platform,
        "activation",
        "SELECT term_no, term_start, term_end, scheduled_end, plan_year FROM plan_terms"
        " WHERE plan_id = $1::uuid ORDER BY term_no",
        device.plan_id,
    )
    assert (first["term_end"], first["scheduled_end"]) == (bought, activated.payload.term_end)
    assert (second["term_start"], second["plan_year"]) == (bought, 2)


async def test_a4_bought_in_the_15_days_after_expiry_starts_at_shanghai_midnight_after_it(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device, activated = await activate_ag_plan(
        platform, upstream, events, "T10", at=f.now() - timedelta(days=372)
    )
    expired = activated.payload.term_end
    assert expired < f.now() < expired + timedelta(days=15)

    renewed = await renew_ag(platform, upstream, events, device, "ag-care-renewal-2")
    assert isinstance(renewed, PlanRenewed)
    start = renewed.payload.term_start.astimezone(SHANGHAI)
    # 00:00 in Shanghai on the day after the expiry date: no gap after a term ending at midnight.
    assert (start.hour, start.minute) == (0, 0)
    assert start.date() == (expired - timedelta(microseconds=1)).astimezone(SHANGHAI).date() + (
        timedelta(days=1)
    )
    assert renewed.payload.term_start == expired
    assert renewed.payload.previous_term_ends_at is None


async def test_a4_outside_the_window_or_not_the_next_year_is_refused_with_its_own_reason(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device, _ = await activate_ag_plan(platform, upstream, events, "T40")
    too_early = await renew_ag(platform, upstream, events, device, "ag-care-renewal-2")
    assert isinstance(too_early, ActivationRefused)
    assert too_early.payload.reason_codes == ["RENEWAL_WINDOW_NOT_OPEN"]

    lapsed, lapsed_term = await activate_ag_plan(
        platform, upstream, events, "T40", at=f.now() - timedelta(days=400)
    )
    assert f.now() > lapsed_term.payload.term_end + timedelta(days=15)
    too_late = await renew_ag(platform, upstream, events, lapsed, "ag-care-renewal-2")
    assert isinstance(too_late, ActivationRefused)
    assert too_late.payload.reason_codes == ["RENEWAL_WINDOW_CLOSED"]

    due, _ = await activate_ag_plan(
        platform, upstream, events, "T40", at=f.now() - timedelta(days=360)
    )
    skipped_a_year = await renew_ag(platform, upstream, events, due, "ag-care-renewal-3")
    assert isinstance(skipped_a_year, ActivationRefused)
    assert skipped_a_year.payload.reason_codes == ["RENEWAL_YEAR_MISMATCH"]
    second = await renew_ag(platform, upstream, events, due, "ag-care-renewal-2")
    assert isinstance(second, PlanRenewed)
    again = await renew_ag(platform, upstream, events, due, "ag-care-renewal-2")
    assert isinstance(again, ActivationRefused)
    # A second year-2 renewal of a year-2 term: the wrong year, and far too early.
    assert again.payload.reason_codes == ["RENEWAL_YEAR_MISMATCH", "RENEWAL_WINDOW_NOT_OPEN"]


async def test_c10_a4_a_person_barred_after_fraud_cannot_renew_an_ag_plan(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    # The person's consumer drone: a claim found fraudulent bars the device, account and person.
    consumer = await activate_plan(platform, upstream, events, "care-refresh-1y", "mini-3")
    decided = await claim(upstream, events, consumer)
    case_id = decided.payload.case_id
    review = ReviewConcluded.new(
        ReviewConcludedPayload(
            case_id=case_id,
            reviewer_id="REVIEWER-7",
            verdict=ReviewVerdict.FRAUD,
            repair_cost=Money.of("1450.00", "PLN"),
            concluded_at=f.now(),
        ),
        producer="review-desk",
        correlation_id=case_id,
    )
    await upstream.send(t.CLAIM_REVIEWS, case_id, review)
    await events.wait_for(ClaimReversed, lambda e: e.payload.case_id == case_id)

    async def barred() -> bool:
        rows = await query(
            platform, "activation", "SELECT 1 FROM barred WHERE case_id = $1", case_id
        )
        return len(rows) == 3

    await eventually(barred, "activation barred the device, the account and the person")

    # The same person's agricultural drone, due for renewal.
    same_person = Owner(name="Ola Nowak", email=f"owner.{consumer.sn.lower()}@example.com")
    drone, _ = await activate_ag_plan(
        platform, upstream, events, "T60", at=f.now() - timedelta(days=360)
    )
    refused = await renew_ag(
        platform, upstream, events, drone, "ag-care-renewal-2", owner=same_person
    )
    assert isinstance(refused, ActivationRefused)
    assert refused.payload.reason_codes == ["RENEWAL_BARRED"]


async def test_p4_an_order_whose_plan_year_contradicts_its_sku_is_dead_lettered(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    code = f.new_ag_plan_code()
    order = f.ag_plan_order(code, "ag-care-renewal-2", "T40", plan_year=3)
    await upstream.send(t.PLAN_ORDERS, code, order)
    letter = await events.wait_for_dead_letter(
        lambda d: (
            d.topic == t.PLAN_ORDERS.dead_letter
            and d.key == code.encode()
            and d.headers.get("dlq-service") == "activation"
        )
    )
    assert "plan_year 3 but the SKU is year 2" in letter.headers["dlq-reason"]
    assert (
        await query(platform, "activation", "SELECT 1 FROM plan_codes WHERE plan_code = $1", code)
        == []
    )


async def test_a5_a4_the_insurers_policy_dates_decide_the_renewal_window(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device, activated = await activate_ag_plan(
        platform, upstream, events, "T50", at=f.now() - timedelta(days=330)
    )
    bound_end = activated.payload.term_end
    assert f.now() < bound_end - timedelta(days=15)  # by the bound dates: too early to renew
    await events.wait_for(CoverageOpened, lambda e: str(e.payload.plan_id) == device.plan_id)

    # The insurer's electronic policy ends the term 10 days from now (A5).
    policy_end = (
        (f.now() + timedelta(days=10))
        .astimezone(SHANGHAI)
        .replace(hour=0, minute=0, second=0, microsecond=0)
    )
    policy = f.policy_confirmed(device.plan_id, activated.payload.term_start, policy_end)
    await upstream.send(t.INSURER_RESPONSES, device.plan_id, policy)
    await events.wait_for(TermConfirmed, lambda e: str(e.payload.plan_id) == device.plan_id)

    async def activation_follows() -> bool:
        rows = await query(
            platform,
            "activation",
            "SELECT term_end FROM plan_terms WHERE plan_id = $1::uuid AND term_no = 1",
            device.plan_id,
        )
        return bool(rows[0]["term_end"] == policy_end)

    await eventually(activation_follows, "activation took the policy's end")
    bought = f.now()
    renewed = await renew_ag(
        platform, upstream, events, device, "ag-care-renewal-2", purchased_at=bought
    )
    assert isinstance(renewed, PlanRenewed), renewed
    assert renewed.payload.term_start == bought
    assert renewed.payload.previous_term_ends_at == bought
