"""F4: the consumables pack of a designated AG renewal, through the running services."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contracts import topics as t
from contracts.activation import PlanRenewed
from contracts.fulfilment import (
    ConsumablesPackBeyondCalendar,
    ConsumablesPackHeld,
    ConsumablesPackScheduled,
    PackAddressChangeRefused,
)
from services.fulfilment.domain_agricultural import working_days_after
from shared.catalogue.agricultural import agricultural_catalogue
from simulation import factories as f
from simulation.kafka_io import EventLog, Upstream
from simulation.processes import Platform
from tests.e2e.journeys import (
    activate_ag_plan,
    answer_when,
    bind,
    eventually,
    query,
    renew_ag,
    scrape,
    sell,
    total,
)

pytestmark = pytest.mark.e2e

CATALOGUE = agricultural_catalogue()
YEAR_AGO = timedelta(days=360)  # a first-year term in its last 15 days


async def test_f4_a_designated_renewal_schedules_the_models_pack_to_the_purchase_address(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device, _ = await activate_ag_plan(platform, upstream, events, "T40", at=f.now() - YEAR_AGO)
    bought = f.now()
    address = f.delivery_address("No. 12 Daoxiang Street")
    renewed = await renew_ag(
        platform,
        upstream,
        events,
        device,
        "ag-care-renewal-2",
        purchased_at=bought,
        address=address,
    )
    assert isinstance(renewed, PlanRenewed)
    (scheduled,) = await events.wait_for(
        ConsumablesPackScheduled, lambda e: str(e.payload.plan_id) == device.plan_id
    )
    pack = scheduled.payload
    assert (pack.plan_code, pack.model, pack.plan_year) == (renewed.payload.plan_code, "T40", 2)
    assert pack.items == [
        "blade x4",
        "propeller clamp x2",
        "shim x24 (old type) or x8 (new type)",
    ]
    assert pack.purchased_at == bought
    due = working_days_after(bought, 30, CATALOGUE.working_calendar, CATALOGUE.zone)
    assert (pack.due_by, pack.weekdays_only_after) == (due.due_by, due.weekdays_only_after)
    # The event carries ids only; the address stays in fulfilment, and only there.
    assert "Daoxiang" not in scheduled.model_dump_json()
    (kept,) = await query(
        platform,
        "fulfilment",
        "SELECT recipient, street, city FROM pack_orders WHERE plan_code = $1",
        pack.plan_code,
    )
    assert (kept["recipient"], kept["street"], kept["city"]) == (
        address.recipient,
        address.street,
        address.city,
    )
    codes = await query(
        platform,
        "activation",
        "SELECT to_jsonb(c)::text AS row FROM plan_codes c WHERE plan_code = $1",
        pack.plan_code,
    )
    assert len(codes) == 1
    assert "Daoxiang" not in codes[0]["row"]
    assert address.recipient not in codes[0]["row"]


async def test_f4_the_address_given_at_purchase_cannot_be_changed(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    # Year 1 two years ago, year 2 bought in its last days: year 3 is due now.
    device, first = await activate_ag_plan(
        platform, upstream, events, "T30", at=f.now() - timedelta(days=720)
    )
    second = await renew_ag(
        platform,
        upstream,
        events,
        device,
        "ag-care-renewal-2",
        purchased_at=first.payload.term_end - timedelta(days=5),
    )
    assert isinstance(second, PlanRenewed)
    code, bought = f.new_ag_plan_code(), f.now()
    assert second.payload.term_end - timedelta(days=15) <= bought < second.payload.term_end
    first_order = f.ag_plan_order(
        code, "ag-care-renewal-3", "T30", at=bought, address=f.delivery_address("No. 1 First Road")
    )
    await sell(platform, upstream, first_order)

    async def fulfilment_has_it() -> bool:
        rows = await query(
            platform, "fulfilment", "SELECT 1 FROM pack_orders WHERE plan_code = $1", code
        )
        return bool(rows)

    await eventually(fulfilment_has_it, "fulfilment kept the order's address")
    changed = f.ag_plan_order(
        code, "ag-care-renewal-3", "T30", at=bought, address=f.delivery_address("No. 2 Other Road")
    )
    await upstream.send(t.PLAN_ORDERS, code, changed)
    # Refused explicitly, naming the order, not ignored.
    (refused,) = await events.wait_for(
        PackAddressChangeRefused, lambda e: e.payload.request_id == changed.payload.order_id
    )
    assert (refused.payload.plan_code, refused.payload.reason_code) == (code, "PACK_ADDRESS_FIXED")
    third = await bind(upstream, events, code, device.sn)
    assert isinstance(third, PlanRenewed)
    assert third.payload.agricultural is not None
    assert third.payload.agricultural.plan_year == 3
    (scheduled,) = await events.wait_for(
        ConsumablesPackScheduled, lambda e: e.payload.plan_code == code
    )
    assert scheduled.payload.items[0] == "blade pair x6"
    # A third order event after the pack was scheduled schedules nothing more.
    await upstream.send(
        t.PLAN_ORDERS,
        code,
        f.ag_plan_order(code, "ag-care-renewal-3", "T30", at=bought, address=f.delivery_address()),
    )
    (kept,) = await query(
        platform, "fulfilment", "SELECT street FROM pack_orders WHERE plan_code = $1", code
    )
    assert kept["street"] == "No. 1 First Road"
    packs = await query(
        platform, "fulfilment", "SELECT state FROM consumables_packs WHERE plan_code = $1", code
    )
    assert [row["state"] for row in packs] == ["scheduled"]


async def test_f4_a_renewal_that_is_not_designated_brings_no_pack(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    # The T40's pack comes with the second year only; the T50 has none.
    for model in ("T50", "T100"):
        device, _ = await activate_ag_plan(platform, upstream, events, model, at=f.now() - YEAR_AGO)
        renewed = await renew_ag(
            platform,
            upstream,
            events,
            device,
            "ag-care-renewal-2",
            address=f.delivery_address(),
        )
        assert isinstance(renewed, PlanRenewed)
        code = renewed.payload.plan_code

        async def renewal_seen(code: str = code) -> bool:
            rows = await query(
                platform,
                "fulfilment",
                "SELECT 1 FROM agricultural_renewals WHERE plan_code = $1",
                code,
            )
            return bool(rows)

        await eventually(renewal_seen, f"fulfilment saw the renewal {code}")
        assert (
            await query(
                platform,
                "fulfilment",
                "SELECT 1 FROM pack_orders WHERE plan_code = $1"
                " UNION ALL SELECT 1 FROM consumables_packs WHERE plan_code = $1",
                code,
            )
            == []
        )


async def test_f4_a_designated_renewal_sold_without_an_address_is_held(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device, _ = await activate_ag_plan(platform, upstream, events, "T20P", at=f.now() - YEAR_AGO)
    renewed = await renew_ag(platform, upstream, events, device, "ag-care-renewal-2")
    assert isinstance(renewed, PlanRenewed)
    (held,) = await events.wait_for(
        ConsumablesPackHeld, lambda e: e.payload.plan_code == renewed.payload.plan_code
    )
    assert (held.payload.model, held.payload.plan_year) == ("T20P", 2)
    assert held.payload.reason_code == "PACK_ADDRESS_MISSING"


async def test_f4_a_pack_counted_past_the_calendar_is_scheduled_on_weekdays_with_a_warning(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    """F4: 30 working days from now run past the working-day calendar's last day; the days
    beyond are counted as weekdays alone, with a warning event and a metric, never silently."""
    bought = f.now()
    calendar = CATALOGUE.working_calendar
    due = working_days_after(bought, 30, calendar, CATALOGUE.zone)
    assert due.weekdays_only_after == calendar.valid_until, (
        "the calendar now covers the next 30 working days: buy this pack later in the test"
    )
    counted = total(await scrape(platform, "fulfilment"), "careplan_packs_beyond_calendar_total")
    device, _ = await activate_ag_plan(platform, upstream, events, "T40", at=bought - YEAR_AGO)
    renewed = await renew_ag(
        platform,
        upstream,
        events,
        device,
        "ag-care-renewal-2",
        purchased_at=bought,
        address=f.delivery_address(),
    )
    assert isinstance(renewed, PlanRenewed)
    code = renewed.payload.plan_code

    (scheduled,) = await events.wait_for(
        ConsumablesPackScheduled, lambda e: e.payload.plan_code == code
    )
    (warning,) = await events.wait_for(
        ConsumablesPackBeyondCalendar, lambda e: e.payload.plan_code == code
    )
    assert scheduled.payload.due_by == warning.payload.due_by == due.due_by
    assert scheduled.payload.weekdays_only_after == calendar.valid_until
    assert warning.payload.calendar_valid_until == calendar.valid_until
    assert warning.payload.pack_id == scheduled.payload.pack_id

    async def metric_counted() -> bool:
        samples = await scrape(platform, "fulfilment")
        return total(samples, "careplan_packs_beyond_calendar_total") == counted + 1

    await eventually(metric_counted, "fulfilment counted the pack beyond the calendar")
    # The lookup shows it where the customer and the operator look: the plan's packs.
    answer = await answer_when(
        platform, device.sn, lambda a: [p.plan_code for p in a.packs] == [code], "the pack"
    )
    (shown,) = answer.packs
    assert (shown.state, shown.due_by, shown.weekdays_only_after) == (
        "scheduled",
        due.due_by,
        calendar.valid_until,
    )


async def test_f4_an_address_change_after_purchase_is_refused_pack_address_fixed(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    """F4: commerce forwards the customer's change request; fulfilment refuses it, naming it,
    and the pack still goes to the address given at purchase."""
    device, _ = await activate_ag_plan(platform, upstream, events, "T20P", at=f.now() - YEAR_AGO)
    address = f.delivery_address("No. 3 Harvest Road")
    renewed = await renew_ag(
        platform, upstream, events, device, "ag-care-renewal-2", address=address
    )
    assert isinstance(renewed, PlanRenewed)
    code = renewed.payload.plan_code
    await events.wait_for(ConsumablesPackScheduled, lambda e: e.payload.plan_code == code)

    change = f.pack_address_change(code, f.delivery_address("No. 99 Elsewhere Street"))
    await upstream.send(t.PACK_ADDRESS_CHANGES, code, change)

    (refused,) = await events.wait_for(
        PackAddressChangeRefused, lambda e: e.payload.request_id == change.payload.request_id
    )
    assert refused.payload.reason_code == "PACK_ADDRESS_FIXED"
    assert str(refused.payload.plan_id) == device.plan_id
    (kept,) = await query(
        platform, "fulfilment", "SELECT street FROM pack_orders WHERE plan_code = $1", code
    )
    assert kept["street"] == address.street
    answer = await answer_when(
        platform,
        device.sn,
        lambda a: any(p.address_change_refused is not None for p in a.packs),
        "the address change refused",
    )
    (shown,) = answer.packs
    assert shown.address_change_refused is not None
    assert shown.address_change_refused.request_id == change.payload.request_id
    assert shown.address_change_refused.reason_code == "PACK_ADDRESS_FIXED"
