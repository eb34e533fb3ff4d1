"""The lookup by SN (X5) through the running platform: journeys driven over Kafka, answers read
over HTTP from the lookup service and from `careplan lookup`.

The lookup's read model catches up with the other services on its own time, so every check
polls the HTTP answer until it shows the expected state, with a deadline.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from contracts import topics as t
from contracts.accessories import AccessoryType
from contracts.activation import AccessoryAssociated, PlanRenewed
from contracts.claims import ClaimOutcome
from contracts.coverage import CoverageExtended, PlanExhausted, QuotaDeductionApplied
from contracts.money import Money
from contracts.upstream import IncidentCause
from services.lookup.answer import (
    AccessoryState,
    CoverState,
    LookupAnswer,
    MoneyOut,
    PlanOut,
    ReplacementStatus,
)
from services.lookup.domain import add_months
from simulation import factories as f
from simulation.kafka_io import EventLog, Upstream
from simulation.processes import Platform
from tests.e2e.ag_journeys import ag_claim, ledger_answer, open_ag_plan
from tests.e2e.journeys import (
    activate_ag_plan,
    activate_plan,
    answer_when,
    claim,
    query,
    renew,
    replace_unit,
)

pytestmark = pytest.mark.e2e

CAREPLAN = Path(sys.executable).parent / "careplan"
WARRANTY_MONTHS = 12  # shared/catalogue/consumer.toml [warranty]


def holds(answer: LookupAnswer) -> PlanOut:
    assert answer.plan is not None, f"{answer.sn} holds no plan"
    return answer.plan


@dataclass(frozen=True)
class CliRun:
    code: int
    out: str
    err: str


async def careplan_lookup(platform: Platform, sn: str) -> CliRun:
    """`careplan lookup SN --url ...`, as an operator types it."""
    process = await asyncio.create_subprocess_exec(
        str(CAREPLAN),
        "lookup",
        sn,
        "--url",
        platform.lookup_url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return CliRun(process.returncode, out.decode(), err.decode())


def fact(text: str, label: str) -> str:
    """The value printed beside `label` in the CLI's summary."""
    for line in text.splitlines():
        if line.startswith(label + " "):
            return line[len(label) :].strip()
    raise AssertionError(f"no {label!r} line in:\n{text}")


async def test_x5_an_active_one_year_plan_shows_term_entitlements_activation_and_warranty(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    bound_at = f.now()
    device = await activate_plan(
        platform, upstream, events, "care-refresh-1y", "mavic-3-pro", at=bound_at
    )
    first_activation = bound_at - timedelta(hours=1)  # as activate_plan reports the device

    answer = await answer_when(
        platform,
        device.sn,
        lambda a: a.plan is not None and a.activated_at is not None,
        "the plan and the device's first activation",
    )
    plan = holds(answer)
    assert str(plan.plan_id) == device.plan_id
    assert (plan.sku, plan.plan_name, plan.region) == (
        "care-refresh-1y",
        "Care Refresh 1-Year",
        "PL",
    )
    assert plan.state is CoverState.ACTIVE
    assert plan.activated_at == bound_at  # A1: the term starts at binding
    assert (plan.term_no, plan.term_start, plan.term_end) == (1, bound_at, add_months(bound_at, 12))
    assert (plan.replacements_left, plan.flyaways_left) == (2, 1)  # P1
    assert [term.state for term in plan.terms] == [CoverState.ACTIVE]
    assert answer.model == "mavic-3-pro"
    assert answer.activated_at == first_activation
    assert answer.warranty_end == add_months(first_activation, WARRANTY_MONTHS)
    assert (answer.claims, answer.replacements, answer.replaced_by) == ([], [], None)

    # D1: the SN is trimmed and upper-cased before the lookup.
    async with httpx.AsyncClient(base_url=platform.lookup_url) as client:
        sloppy = await client.get(f"/plans/by-sn/%20{device.sn.lower()}%20")
    assert sloppy.status_code == 200
    assert sloppy.json()["plan"]["plan_id"] == device.plan_id

    cli = await careplan_lookup(platform, device.sn)
    assert cli.code == 0, cli.err
    assert fact(cli.out, "SN") == device.sn
    assert fact(cli.out, "State") == "active"
    assert fact(cli.out, "Replacements left") == "2 of 2"
    assert fact(cli.out, "Flyaways left") == "1 of 1"
    assert fact(cli.out, "Plan").startswith("Care Refresh 1-Year (care-refresh-1y)")


async def test_f3_after_a_replacement_the_new_sn_holds_the_plan_and_the_old_sn_says_replaced_by(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-1y", "air-3")
    old_sn = device.sn
    before = holds(await answer_when(platform, old_sn, lambda a: a.plan is not None, "the plan"))
    decided = await claim(upstream, events, device)
    assert decided.payload.outcome is ClaimOutcome.REPLACEMENT
    new_sn = await replace_unit(platform, upstream, events, device, decided)
    case_id = decided.payload.case_id

    new = await answer_when(
        platform,
        new_sn,
        lambda a: (
            a.plan is not None
            and a.plan.replacements_left == 1
            and [r.status for r in a.replacements] == [ReplacementStatus.DISPATCHED]
        ),
        "the inherited plan with one replacement used and the unit dispatched",
    )
    plan = holds(new)
    assert str(plan.plan_id) == device.plan_id
    assert plan.state is CoverState.ACTIVE
    assert (plan.term_start, plan.term_end) == (before.term_start, before.term_end)  # F3
    assert (plan.replacements_left, plan.flyaways_left) == (1, 1)
    assert plan.serials == [old_sn, new_sn]
    assert new.replacement_of is not None
    assert (new.replacement_of.sn, new.replacement_of.case_id) == (old_sn, case_id)
    # F3: the replacement unit keeps the original's remaining warranty.
    assert new.warranty_from_sn == old_sn
    assert new.warranty_end is not None
    (replacement,) = new.replacements
    assert (replacement.old_sn, replacement.new_sn, replacement.plan_moved) == (
        old_sn,
        new_sn,
        True,
    )
    assert replacement.fee is not None
    assert replacement.fee.model_dump() == {"amount": "139.00", "currency": "USD"}
    assert replacement.shipment is not None
    assert replacement.shipment.customer_pays_shipping is False  # F1: same region
    assert replacement.replaced_at is not None

    old = await answer_when(
        platform, old_sn, lambda a: a.plan is None and a.replaced_by is not None, "replaced by"
    )
    assert old.replaced_by is not None
    assert (old.replaced_by.sn, old.replaced_by.case_id) == (new_sn, case_id)
    assert old.warranty_end == new.warranty_end
    (history,) = old.claims
    assert (history.case_id, history.cause, history.outcome) == (
        case_id,
        "collision",
        "replacement",
    )
    assert history.fee is not None
    assert (history.fee.amount, history.fee.currency, history.fee_schedule) == (
        "139.00",
        "USD",
        "cr-2",
    )
    assert history.service_mode == "standard"
    assert history.ledger is not None
    assert history.ledger.state == "applied"
    assert [(r.old_sn, r.new_sn) for r in old.replacements] == [(old_sn, new_sn)]

    cli = await careplan_lookup(platform, old_sn)
    assert cli.code == 0, cli.err
    assert fact(cli.out, "Plan") == f"none (the plan moved to {new_sn}, F3)"
    assert fact(cli.out, "Replaced by").startswith(new_sn)
    assert case_id in cli.out


async def test_c9_an_exhausted_plan_shows_nothing_left_and_the_refusal_that_followed(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-1y", "mini-3")
    serials = [device.sn]
    cases = []
    for _ in range(2):
        decided = await claim(upstream, events, device, IncidentCause.FALL)
        assert decided.payload.outcome is ClaimOutcome.REPLACEMENT
        serials.append(await replace_unit(platform, upstream, events, device, decided))
        cases.append(decided.payload.case_id)
    await events.wait_for(PlanExhausted, lambda e: str(e.payload.plan_id) == device.plan_id)
    refused = await claim(upstream, events, device)
    assert refused.payload.reason_codes == ["NO_REPLACEMENTS_LEFT"]

    answer = await answer_when(
        platform,
        device.sn,
        lambda a: (
            a.plan is not None
            and a.plan.state is CoverState.EXHAUSTED
            and len(a.claims) == 3
            and len(a.replacements) == 2
        ),
        "the exhausted plan with its three claims",
    )
    plan = holds(answer)
    assert (plan.replacements_left, plan.flyaways_left) == (0, 0)  # C9
    assert plan.serials == serials
    assert [c.case_id for c in answer.claims] == [*cases, refused.payload.case_id]
    assert [c.outcome for c in answer.claims] == ["replacement", "replacement", "refused"]
    assert answer.claims[2].reason_codes == ["NO_REPLACEMENTS_LEFT"]
    assert [(r.old_sn, r.new_sn) for r in answer.replacements] == list(pairwise(serials))

    middle = await answer_when(platform, serials[1], lambda a: a.replaced_by is not None, "moved")
    assert middle.plan is None
    assert middle.replacement_of is not None and middle.replacement_of.sn == serials[0]
    assert middle.replaced_by is not None and middle.replaced_by.sn == serials[2]

    cli = await careplan_lookup(platform, device.sn)
    assert cli.code == 0, cli.err
    assert fact(cli.out, "State") == "exhausted"
    assert fact(cli.out, "Replacements left") == "0 of 2"
    assert "NO_REPLACEMENTS_LEFT" in cli.out


async def test_a3_a_renewed_plan_shows_both_terms_and_the_renewal_in_force(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    started = f.now() - timedelta(days=370)  # the first term ended about five days ago
    device = await activate_plan(
        platform, upstream, events, "care-refresh-1y", "mini-3-pro", at=started
    )
    renewed = await renew(platform, upstream, events, device, f.now())
    assert isinstance(renewed, PlanRenewed), renewed
    await events.wait_for(CoverageExtended, lambda e: str(e.payload.plan_id) == device.plan_id)
    (first,) = await query(
        platform,
        "coverage",
        "SELECT term_end FROM plan_terms WHERE plan_id = $1::uuid AND term_no = 1",
        device.plan_id,
    )

    answer = await answer_when(
        platform,
        device.sn,
        lambda a: a.plan is not None and len(a.plan.terms) == 2 and a.plan.term_no == 2,
        "two terms with the renewal in force",
    )
    plan = holds(answer)
    assert plan.state is CoverState.ACTIVE
    assert (plan.term_start, plan.term_end) == (
        renewed.payload.term_start,
        renewed.payload.term_end,
    )
    assert (plan.replacements_left, plan.flyaways_left) == (2, 1)  # A3: a fresh allowance
    assert plan.coverage_end == renewed.payload.term_end
    assert plan.activated_at == started
    one, two = plan.terms
    assert (one.term_no, one.term_start, one.term_end, one.state) == (
        1,
        started,
        first["term_end"],
        CoverState.EXPIRED,
    )
    assert (two.term_no, two.state, two.plan_code) == (
        2,
        CoverState.ACTIVE,
        renewed.payload.plan_code,
    )
    # The warranty ran from the device's first activation and has ended (X5).
    assert answer.warranty_end == add_months(started - timedelta(hours=1), WARRANTY_MONTHS)

    cli = await careplan_lookup(platform, device.sn)
    assert cli.code == 0, cli.err
    assert fact(cli.out, "Term").startswith("2 of 2:")
    assert "expired" in fact(cli.out, "Warranty until")


async def test_c3_a_refused_claim_shows_its_cause_and_reason_codes_and_leaves_the_plan_whole(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    device = await activate_plan(platform, upstream, events, "care-refresh-1y", "air-2s")
    decided = await claim(upstream, events, device, IncidentCause.THEFT)
    assert decided.payload.outcome is ClaimOutcome.REFUSED

    answer = await answer_when(
        platform, device.sn, lambda a: len(a.claims) == 1, "the refused claim"
    )
    (refused,) = answer.claims
    assert refused.case_id == decided.payload.case_id
    assert (refused.cause, refused.outcome) == ("theft", "refused")
    assert refused.reason_codes == ["EXCLUDED_THEFT"]
    assert "C3" in refused.rules_applied
    assert (refused.fee, refused.fee_schedule, refused.ledger) == (None, None, None)
    assert holds(answer).replacements_left == 2
    assert answer.replacements == []

    cli = await careplan_lookup(platform, device.sn)
    assert cli.code == 0, cli.err
    claim_line = next(line for line in cli.out.splitlines() if decided.payload.case_id in line)
    assert "theft" in claim_line and "refused" in claim_line and "EXCLUDED_THEFT" in claim_line


async def test_x5_an_unknown_sn_is_404_with_a_clear_message(platform: Platform) -> None:
    sn = f.new_serial()
    async with httpx.AsyncClient(base_url=platform.lookup_url) as client:
        response = await client.get(f"/plans/by-sn/{sn}")
    assert response.status_code == 404
    assert response.json()["detail"].startswith(f"serial number {sn} is unknown")

    cli = await careplan_lookup(platform, sn)
    assert cli.code == 1
    assert f"serial number {sn} is unknown" in cli.err


@pytest.mark.parametrize("malformed", ["AB-123456789", "SHORT1", "X" * 21, "ABC 1234567890"])
async def test_d1_a_malformed_sn_is_422_with_a_clear_message(
    platform: Platform, malformed: str
) -> None:
    async with httpx.AsyncClient(base_url=platform.lookup_url) as client:
        response = await client.get(f"/plans/by-sn/{quote(malformed)}")
    assert response.status_code == 422
    assert "is not 10 to 20 letters and digits (D1)" in response.json()["detail"]

    cli = await careplan_lookup(platform, malformed)
    assert cli.code == 1
    assert "is not 10 to 20 letters and digits (D1)" in cli.err


async def test_x5_health_answers_when_the_read_model_is_reachable(platform: Platform) -> None:
    async with httpx.AsyncClient(base_url=platform.lookup_url) as client:
        response = await client.get("/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def cny(amount: str) -> MoneyOut:
    return MoneyOut(amount=amount, currency="CNY")


async def test_p5_c7_an_ag_t40_plan_shows_its_balances_deductible_and_the_worked_example_split(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    """C7's worked example on a T40 second year (5% deductible): 5,700.00 from the base quota,
    450.00 from the consumables quota, 300.00 for the customer; the lookup shows what is left."""
    device = await open_ag_plan(platform, upstream, events, "T40", plan_year=2)
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
    applied = await ledger_answer(events, decided.payload.case_id)
    assert isinstance(applied, QuotaDeductionApplied), applied
    case_id = decided.payload.case_id

    answer = await answer_when(
        platform,
        device.sn,
        lambda a: (
            a.plan is not None
            and a.plan.agricultural is not None
            and a.plan.agricultural.base_quota_left == cny("14300.00")
            and len(a.claims) == 1
            and a.claims[0].ledger is not None
            and a.claims[0].ledger.split is not None
        ),
        "the AG plan after the worked-example repair",
    )
    plan = holds(answer)
    assert (plan.family, plan.state, plan.sku) == (
        "agricultural",
        CoverState.ACTIVE,
        "ag-care-renewal-2",
    )
    assert plan.plan_name == "Agricultural care plan, second-year renewal"
    cover = plan.agricultural
    assert cover is not None
    assert (cover.plan_year, cover.deductible_rate, cover.insurer, cover.liability_cover) == (
        2,
        "0.05",
        "zhongan",
        False,
    )
    assert (cover.base_quota, cover.base_quota_left) == (cny("20000.00"), cny("14300.00"))
    assert (cover.consumables_quota, cover.consumables_quota_left) == (
        cny("2000.00"),
        cny("1550.00"),
    )
    (repair,) = answer.claims
    assert (repair.case_id, repair.outcome, repair.cause, repair.family) == (
        case_id,
        "repair",
        "fall",
        "agricultural",
    )
    assert repair.repair_split == decided.payload.repair_split
    assert repair.ledger is not None
    assert (repair.ledger.state, repair.ledger.term_no) == ("applied", 1)
    taken = repair.ledger.split
    assert taken == applied.payload.split
    assert taken is not None
    assert (taken.from_base_quota, taken.from_consumables_quota, taken.customer_share) == (
        Money.of("5700.00", "CNY"),
        Money.of("450.00", "CNY"),
        Money.of("300.00", "CNY"),
    )

    cli = await careplan_lookup(platform, device.sn)
    assert cli.code == 0, cli.err
    assert fact(cli.out, "Plan year") == "2 (insurer zhongan)"
    assert fact(cli.out, "Base quota left") == "14300.00 of 20000.00 CNY"
    assert fact(cli.out, "Consumables left") == "1550.00 of 2000.00 CNY"
    assert fact(cli.out, "Deductible rate") == "0.05"
    assert fact(cli.out, "Liability cover") == "no"
    taken_line = next(
        line for line in cli.out.splitlines() if case_id in line and " taken " in line
    )
    assert "5700.00 CNY" in taken_line and "450.00 CNY" in taken_line
    assert taken_line.rstrip().endswith("300.00 CNY")


async def test_g1_an_ag_t100_shows_the_accessory_associated_with_it(
    platform: Platform, upstream: Upstream, events: EventLog
) -> None:
    drone, _ = await activate_ag_plan(platform, upstream, events, "T100")
    spray = f.new_serial()
    activation = f.accessory_activation(spray, AccessoryType.SPRAY, drone.sn)
    await upstream.send(t.ACCESSORY_ACTIVATIONS, drone.sn, activation)
    await events.wait_for(AccessoryAssociated, lambda e: e.causation_id == activation.event_id)

    answer = await answer_when(
        platform,
        drone.sn,
        lambda a: a.plan is not None and a.plan.agricultural is not None and bool(a.accessories),
        "the T100's plan and its spray system",
    )
    cover = holds(answer).agricultural
    assert cover is not None
    assert (cover.plan_year, cover.insurer, cover.deductible_rate) == (1, "picc", "0.00")
    assert cover.base_quota_left == cny("40000.00")
    (accessory,) = answer.accessories
    assert (accessory.accessory_sn, accessory.accessory_type, accessory.state) == (
        spray,
        "spray",
        AccessoryState.ASSOCIATED,
    )
    assert accessory.associated_at is not None

    cli = await careplan_lookup(platform, drone.sn)
    assert cli.code == 0, cli.err
    line = next(line for line in cli.out.splitlines() if line.startswith(f"  {spray}"))
    assert "spray" in line and "associated" in line
