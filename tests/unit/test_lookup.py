"""The lookup by SN (X5, F3, A3, C9, C10): pure assembly of the answer from the read model."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from careplan.lookup_text import render_text
from contracts.claims import LineCoverage, RepairLineSplit, RepairSplit
from contracts.money import Money
from contracts.upstream import PartClass
from services.lookup.answer import (
    AccessoryState,
    CoverState,
    LookupAnswer,
    MoneyOut,
    PlanOut,
    ReplacementStatus,
)
from services.lookup.domain import (
    AccessoryRecord,
    AgriculturalTermRecord,
    CaseRecord,
    DeviceRecord,
    Findings,
    PlanRecord,
    ReplacementRecord,
    TermRecord,
    assemble,
    serial_chain,
    term_in_view,
    term_state,
    warranty_end,
)
from shared.catalogue import consumer_catalogue

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
PLAN = uuid.UUID("6d1c2c4e-0000-4000-8000-000000000001")
NAMES = {"care-refresh-1y": "Care Refresh 1-Year", "care-refresh-2y": "Care Refresh 2-Year"}
A, B, C = "AAAAAAAAAA0001", "BBBBBBBBBB0002", "CCCCCCCCCC0003"


def term(
    term_no: int = 1,
    start: datetime = NOW - timedelta(days=30),
    months: int = 12,
    *,
    left: int | None = 2,
    flyaways_left: int | None = 1,
    exhausted: bool = False,
) -> TermRecord:
    return TermRecord(
        term_no=term_no,
        sku="care-refresh-1y",
        term_start=start,
        term_end=start + timedelta(days=30 * months),
        plan_code=f"CR-CODE{term_no:05d}",
        replacements_total=2,
        flyaways_total=1,
        replacements_left=left,
        flyaways_left=flyaways_left,
        exhausted=exhausted,
    )


def plan(*terms: TermRecord, terminated_at: datetime | None = None) -> PlanRecord:
    terms = terms or (term(),)
    return PlanRecord(
        plan_id=PLAN,
        original_sn=A,
        model="mini-3",
        sku="care-refresh-1y",
        region="PL",
        terms=terms,
        activated_at=terms[0].term_start,
        terminated_at=terminated_at,
        termination_case="CASE-F" if terminated_at else None,
        termination_codes=("FRAUD",) if terminated_at else (),
    )


def device(sn: str = A, at: datetime = NOW - timedelta(days=31)) -> DeviceRecord:
    return DeviceRecord(sn, "mini-3", at)


def moved(case_id: str, old: str, new: str | None, *, inherited: bool = True) -> ReplacementRecord:
    return ReplacementRecord(
        case_id=case_id,
        plan_id=PLAN,
        old_sn=old,
        new_sn=new,
        term_no=1,
        flyaway=False,
        fee_amount=Decimal("99"),
        fee_currency="USD",
        deducted_at=NOW - timedelta(days=10),
        shipment_id=uuid.uuid4() if new else None,
        ship_to_region="PL" if new else None,
        customer_pays_shipping=False if new else None,
        dispatched_at=NOW - timedelta(days=9) if new else None,
        inherited_at=NOW - timedelta(days=9) if new and inherited else None,
    )


def case(case_id: str, sn: str, outcome: str | None = "replacement", **more: Any) -> CaseRecord:
    replaced = outcome == "replacement"
    fields: dict[str, Any] = {
        "plan_id": PLAN,
        "cause": "collision",
        "incident_at": NOW - timedelta(days=11),
        "decided_at": NOW - timedelta(days=10),
        "fee_amount": Decimal("99") if replaced else None,
        "fee_currency": "USD" if replaced else None,
        "fee_schedule": "cr-2" if replaced else None,
    }
    return CaseRecord(case_id=case_id, sn=sn, outcome=outcome, **(fields | more))


def lookup(
    sn: str,
    *,
    devices: dict[str, DeviceRecord] | None = None,
    plans: list[PlanRecord] | None = None,
    cases: list[CaseRecord] | None = None,
    replacements: list[ReplacementRecord] | None = None,
) -> LookupAnswer | None:
    findings = Findings(sn, devices or {}, plans or [], cases or [], replacements or [])
    return assemble(findings, now=NOW, warranty_months=12, plan_names=NAMES)


def answer_for(sn: str, **found: Any) -> LookupAnswer:
    answer = lookup(sn, **found)
    assert answer is not None, f"{sn} should be known"
    return answer


def plan_of(answer: LookupAnswer) -> PlanOut:
    assert answer.plan is not None, f"{answer.sn} should hold a plan"
    return answer.plan


def test_x5_warranty_runs_the_catalogue_months_from_the_first_activation() -> None:
    assert consumer_catalogue().warranty.warranty_months == 12
    first = datetime(2025, 4, 10, 8, 30, tzinfo=UTC)
    assert warranty_end(first, 12) == datetime(2026, 4, 10, 8, 30, tzinfo=UTC)
    # The last day of a shorter month clamps, as a term's end does.
    assert warranty_end(datetime(2024, 2, 29, tzinfo=UTC), 12) == datetime(2025, 2, 28, tzinfo=UTC)


def test_f3_the_serial_chain_follows_inheritance_in_any_projection_order() -> None:
    moves = [moved("CASE-2", B, C), moved("CASE-1", A, B)]
    assert serial_chain(A, moves) == [A, B, C]
    assert serial_chain(A, reversed(moves)) == [A, B, C]
    # A dispatch the ledger has not followed yet does not move the plan: coverage decides.
    assert serial_chain(A, [moved("CASE-1", A, B, inherited=False)]) == [A]


def test_c9_term_states_active_exhausted_expired_upcoming() -> None:
    assert term_state(term(), NOW) is CoverState.ACTIVE
    assert term_state(term(left=0, flyaways_left=0), NOW) is CoverState.EXHAUSTED
    assert term_state(term(exhausted=True), NOW) is CoverState.EXHAUSTED
    assert term_state(term(start=NOW - timedelta(days=400)), NOW) is CoverState.EXPIRED
    assert term_state(term(start=NOW + timedelta(days=1)), NOW) is CoverState.UPCOMING
    # The end is exclusive, like the ledger's [start, end).
    ending = term(start=NOW - timedelta(days=360))
    assert term_state(ending, ending.term_end) is CoverState.EXPIRED


def test_a3_the_term_in_view_is_the_one_in_force_else_the_latest_begun() -> None:
    first = term(1, start=NOW - timedelta(days=300))
    ahead = term(2, start=first.term_end)
    assert term_in_view([ahead, first], NOW) == first  # a renewal bought ahead waits its turn
    lapsed = term(1, start=NOW - timedelta(days=370))
    assert term_in_view([lapsed], NOW) == lapsed  # expired, no renewal yet
    upcoming = term(1, start=NOW + timedelta(hours=1))
    assert term_in_view([upcoming], NOW) == upcoming


def test_x5_an_active_plan_shows_its_term_entitlements_and_warranty() -> None:
    answer = answer_for(A, devices={A: device()}, plans=[plan()])
    assert answer.activated_at == NOW - timedelta(days=31)
    assert answer.warranty_end == datetime(2027, 1, 29, 12, tzinfo=UTC)
    assert answer.warranty_from_sn == A
    shown = plan_of(answer)
    assert (shown.state, shown.term_no, shown.replacements_left, shown.flyaways_left) == (
        CoverState.ACTIVE,
        1,
        2,
        1,
    )
    assert shown.plan_name == "Care Refresh 1-Year"
    assert shown.serials == [A]
    assert answer.replaced_by is None


def test_x5_before_coverage_speaks_the_plan_shows_its_full_allowance() -> None:
    shown = plan_of(answer_for(A, plans=[plan(term(left=None, flyaways_left=None))]))
    assert (shown.replacements_left, shown.flyaways_left) == (2, 1)


def test_f3_the_new_sn_holds_the_plan_and_keeps_the_original_warranty() -> None:
    answer = answer_for(
        B,
        devices={A: device()},
        plans=[plan(term(left=1))],
        cases=[case("CASE-1", A)],
        replacements=[moved("CASE-1", A, B)],
    )
    shown = plan_of(answer)
    assert shown.replacements_left == 1
    assert shown.serials == [A, B]
    assert answer.model == "mini-3"
    assert answer.activated_at is None  # its own first activation was never reported
    assert (answer.warranty_from_sn, answer.warranty_end) == (
        A,
        datetime(2027, 1, 29, 12, tzinfo=UTC),
    )
    assert answer.replacement_of is not None
    assert answer.replacement_of.sn == A
    assert [c.case_id for c in answer.claims] == ["CASE-1"]  # the plan's history comes along


def test_f3_the_old_sn_has_no_plan_but_says_which_sn_replaced_it() -> None:
    answer = answer_for(
        A,
        devices={A: device()},
        plans=[plan(term(left=1))],
        cases=[case("CASE-1", A), case("CASE-2", B, "refused", reason_codes=("EXCLUDED_THEFT",))],
        replacements=[moved("CASE-1", A, B)],
    )
    assert answer.plan is None
    assert answer.replaced_by is not None
    assert (answer.replaced_by.sn, answer.replaced_by.case_id) == (B, "CASE-1")
    # Only its own cases: one filed on the new unit is not the old unit's history.
    assert [c.case_id for c in answer.claims] == ["CASE-1"]
    (replacement,) = answer.replacements
    assert (replacement.old_sn, replacement.new_sn) == (A, B)
    assert replacement.status is ReplacementStatus.DISPATCHED
    assert replacement.plan_moved
    assert replacement.fee == MoneyOut(amount="99.00", currency="USD")
    assert replacement.shipment is not None
    assert replacement.shipment.customer_pays_shipping is False


def test_f3_a_unit_dispatched_but_not_yet_moved_by_the_ledger_leaves_the_plan_on_the_old_sn() -> (
    None
):
    answer = answer_for(
        A, plans=[plan(term(left=1))], replacements=[moved("CASE-1", A, B, inherited=False)]
    )
    assert answer.plan is not None
    assert answer.replaced_by is not None
    assert answer.replaced_by.sn == B


def test_c9_an_exhausted_plan_and_the_claims_history_with_reasons_and_fees() -> None:
    answer = answer_for(
        C,
        devices={A: device()},
        plans=[plan(term(left=0, flyaways_left=0, exhausted=True))],
        cases=[
            case("CASE-1", A),
            case("CASE-2", B, incident_at=NOW - timedelta(days=5)),
            case(
                "CASE-3",
                C,
                "refused",
                incident_at=NOW - timedelta(days=1),
                reason_codes=("NO_REPLACEMENTS_LEFT",),
                rules_applied=("C4", "C1", "C2", "C5"),
            ),
            case("CASE-4", C, None),  # assessed, not decided yet: not history
        ],
        replacements=[moved("CASE-2", B, C), moved("CASE-1", A, B)],
    )
    shown = plan_of(answer)
    assert (shown.state, shown.replacements_left, shown.serials) == (
        CoverState.EXHAUSTED,
        0,
        [A, B, C],
    )
    claims = answer.claims
    assert [c.case_id for c in claims] == ["CASE-1", "CASE-2", "CASE-3"]
    assert claims[0].fee == MoneyOut(amount="99.00", currency="USD")
    assert claims[0].fee_schedule == "cr-2"
    assert claims[2].reason_codes == ["NO_REPLACEMENTS_LEFT"]
    assert claims[2].fee is None
    assert [r.case_id for r in answer.replacements] == ["CASE-1", "CASE-2"]


def test_a3_a_renewed_plan_lists_both_terms_and_shows_the_one_in_force() -> None:
    first = term(1, start=NOW - timedelta(days=370), left=1, flyaways_left=1)
    second = term(2, start=NOW - timedelta(days=2))
    shown = plan_of(answer_for(A, plans=[plan(first, second)]))
    assert (shown.term_no, shown.term_start, shown.replacements_left) == (2, second.term_start, 2)
    assert [t.state for t in shown.terms] == [CoverState.EXPIRED, CoverState.ACTIVE]
    assert shown.coverage_end == second.term_end
    assert shown.activated_at == first.term_start


def test_c10_a_terminated_plan_says_so_and_the_case_shows_its_reversal() -> None:
    reversed_case = case(
        "CASE-F",
        A,
        reversed_at=NOW - timedelta(days=1),
        reversal_codes=("FRAUD",),
        owed_amount=Decimal("540"),
        owed_currency="USD",
    )
    answer = answer_for(
        A, plans=[plan(terminated_at=NOW - timedelta(days=1))], cases=[reversed_case]
    )
    shown = plan_of(answer)
    assert shown.state is CoverState.TERMINATED
    assert shown.terminated is not None
    assert shown.terminated.reason_codes == ["FRAUD"]
    (claim,) = answer.claims
    assert claim.reversal is not None
    assert claim.reversal.customer_owes == MoneyOut(amount="540.00", currency="USD")


def test_x5_an_sn_nothing_names_is_unknown_and_a_bare_device_is_known() -> None:
    assert lookup(A) is None
    bare = answer_for(A, devices={A: device()})
    assert bare.plan is None
    assert bare.warranty_end is not None
    assert lookup(A, cases=[case("CASE-9", A, "refused", plan_id=None)]) is not None
    assert lookup(B, replacements=[moved("CASE-1", A, B)]) is not None


def test_x5_the_text_summary_is_aligned_and_names_what_matters() -> None:
    answer = answer_for(
        A,
        devices={A: device()},
        plans=[plan(term(left=1))],
        cases=[case("CASE-1", A, fee_schedule="cr-2")],
        replacements=[moved("CASE-1", A, B)],
    )
    text = render_text(answer)
    lines = text.splitlines()
    facts = lines[: lines.index("")]
    # Every value starts in one column, two spaces after the longest label ("Warranty until").
    assert len(facts) == 6
    assert all(line[14:16] == "  " and line[16] != " " for line in facts)
    assert lines[4] == f"Plan            none (the plan moved to {B}, F3)"
    assert lines[5].startswith(f"Replaced by     {B} on ")
    assert "Claims:" in lines and "Replacements:" in lines
    case_line = next(line for line in lines if line.startswith("  CASE-1") and "collision" in line)
    assert "replacement" in case_line and "99.00 USD" in case_line and "cr-2" in case_line

    active = render_text(answer_for(A, devices={A: device()}, plans=[plan()]))
    assert "Replacements left  2 of 2" in active.splitlines()
    assert "State              active" in active.splitlines()


# --------------------------------------------------------------------------------------------
# The agricultural plan (P4-P6, C7, C9, G1, G3, F3)
# --------------------------------------------------------------------------------------------


def cny(amount: str) -> Money:
    return Money.of(amount, "CNY")


def worked_example_split(base_before: str = "20000.00") -> RepairSplit:
    """C7's worked example on a 5% deductible: body lines of 6,000.00 and consumables lines of
    450.00 split as 5,700.00 base quota, 450.00 consumables quota, 300.00 customer."""

    def line(line_id: str, part: str, cost: str, coverage: LineCoverage, **paid: str) -> Any:
        amounts = {
            key: cny(paid.get(key, "0"))
            for key in (
                "from_base_quota",
                "from_consumables_quota",
                "deductible",
                "shortfall",
                "not_covered",
            )
        }
        return RepairLineSplit(
            line_id=line_id,
            part_code=part,
            part_class=PartClass.BODY,  # consumables are body parts on the catalogue's list
            coverage=coverage,
            cost=cny(cost),
            **amounts,
        )

    lines = [
        line(
            "L1",
            "arm",
            "4200.00",
            LineCoverage.BASE_QUOTA,
            from_base_quota="3990.00",
            deductible="210.00",
        ),
        line(
            "L2",
            "motor",
            "1800.00",
            LineCoverage.BASE_QUOTA,
            from_base_quota="1710.00",
            deductible="90.00",
        ),
        line(
            "L3", "blade", "300.00", LineCoverage.CONSUMABLES_QUOTA, from_consumables_quota="300.00"
        ),
        line(
            "L4",
            "propeller_clamp",
            "150.00",
            LineCoverage.CONSUMABLES_QUOTA,
            from_consumables_quota="150.00",
        ),
    ]
    return RepairSplit(
        deductible_rate=Decimal("0.05"),
        lines=lines,
        repair_cost=cny("6450.00"),
        from_base_quota=cny("5700.00"),
        from_consumables_quota=cny("450.00"),
        deductible=cny("300.00"),
        shortfall=cny("0"),
        not_covered=cny("0"),
        logistics_fee=cny("0"),
        customer_share=cny("300.00"),
        base_quota_before=cny(base_before),
        consumables_quota_before=cny("2000.00"),
    )


def ag_term(
    base_left: str | None = "14300.00",
    consumables_left: str | None = "1550.00",
    *,
    exhausted: bool = False,
) -> TermRecord:
    return TermRecord(
        term_no=1,
        sku="ag-care-renewal-2",
        term_start=NOW - timedelta(days=30),
        term_end=NOW + timedelta(days=335),
        plan_code="AG-CODE00001",
        replacements_total=0,
        flyaways_total=0,
        replacements_left=0,
        flyaways_left=0,
        exhausted=exhausted,
        agricultural=AgriculturalTermRecord(
            plan_year=2,
            base_quota=Decimal("20000.00"),
            consumables_quota=Decimal("2000.00"),
            currency="CNY",
            deductible_rate=Decimal("0.0500"),
            insurer="zhongan",
            liability_cover=True,
            base_quota_left=None if base_left is None else Decimal(base_left),
            consumables_quota_left=None if consumables_left is None else Decimal(consumables_left),
        ),
    )


def ag_plan(*terms: TermRecord) -> PlanRecord:
    return PlanRecord(
        plan_id=PLAN,
        original_sn=A,
        model="T40",
        sku="ag-care-renewal-2",
        region="CN",
        terms=terms or (ag_term(),),
        activated_at=NOW - timedelta(days=30),
        family="agricultural",
    )


def ag_case(**more: Any) -> CaseRecord:
    fields: dict[str, Any] = {
        "plan_id": PLAN,
        "cause": "fall",
        "incident_at": NOW - timedelta(days=2),
        "decided_at": NOW - timedelta(days=2),
        "rules_applied": ("C2", "C4", "C7", "P5"),
        "family": "agricultural",
        "quoted_split": worked_example_split(),
        "ledger_state": "applied",
        "ledger_split": worked_example_split(),
        "ledger_term_no": 1,
    }
    return CaseRecord(case_id="AG-1", sn=A, outcome="repair", **(fields | more))


AG_NAMES = {"ag-care-renewal-2": "Agricultural care plan, second-year renewal"}


def ag_lookup(sn: str = A, **found: Any) -> LookupAnswer:
    findings = Findings(
        sn,
        found.get("devices", {}),
        found.get("plans", [ag_plan()]),
        found.get("cases", []),
        found.get("replacements", []),
        found.get("accessories", []),
    )
    answer = assemble(findings, now=NOW, warranty_months=12, plan_names=AG_NAMES)
    assert answer is not None
    return answer


def test_p5_c7_an_ag_plan_shows_its_year_both_balances_deductible_cover_and_the_split() -> None:
    answer = ag_lookup(cases=[ag_case()])
    shown = plan_of(answer)
    assert (shown.family, shown.state, shown.plan_name) == (
        "agricultural",
        CoverState.ACTIVE,  # C9: no replacements in an AG plan, the base quota decides
        "Agricultural care plan, second-year renewal",
    )
    cover = shown.agricultural
    assert cover is not None
    assert (cover.plan_year, cover.deductible_rate, cover.insurer, cover.liability_cover) == (
        2,
        "0.05",
        "zhongan",
        True,
    )
    assert cover.base_quota == MoneyOut(amount="20000.00", currency="CNY")
    assert cover.base_quota_left == MoneyOut(amount="14300.00", currency="CNY")
    assert cover.consumables_quota_left == MoneyOut(amount="1550.00", currency="CNY")
    assert shown.terms[0].agricultural == cover

    (repair,) = answer.claims
    assert (repair.outcome, repair.family) == ("repair", "agricultural")
    assert repair.repair_split is not None
    assert repair.ledger is not None and repair.ledger.split is not None
    assert repair.ledger.term_no == 1
    taken = repair.ledger.split
    assert (taken.from_base_quota, taken.from_consumables_quota, taken.customer_share) == (
        cny("5700.00"),
        cny("450.00"),
        cny("300.00"),
    )

    text = render_text(answer)
    lines = text.splitlines()
    assert "Base quota left   14300.00 of 20000.00 CNY" in lines
    assert "Consumables left  1550.00 of 2000.00 CNY" in lines
    assert "Deductible rate   0.05" in lines
    assert "Liability cover   yes (P6)" in lines
    assert not any(line.startswith("Replacements left") for line in lines)
    taken_line = next(line for line in lines if line.startswith("  AG-1") and "taken" in line)
    assert "5700.00 CNY" in taken_line and "450.00 CNY" in taken_line
    assert taken_line.rstrip().endswith("300.00 CNY")
    assert any(line.startswith("  AG-1") and "quoted" in line for line in lines)


def test_p5_c9_before_coverage_speaks_the_full_quotas_and_a_spent_base_quota_ends_the_term() -> (
    None
):
    fresh = plan_of(ag_lookup(plans=[ag_plan(ag_term(None, None))])).agricultural
    assert fresh is not None
    assert (fresh.base_quota_left.amount, fresh.consumables_quota_left.amount) == (
        "20000.00",
        "2000.00",
    )
    spent = plan_of(ag_lookup(plans=[ag_plan(ag_term("0.00", "1550.00"))]))
    assert spent.state is CoverState.EXHAUSTED
    flagged = plan_of(ag_lookup(plans=[ag_plan(ag_term("10.00", exhausted=True))]))
    assert flagged.state is CoverState.EXHAUSTED


def test_g1_g3_f3_the_drones_accessories_associated_released_and_moved_with_the_plan() -> None:
    spray = AccessoryRecord(
        "SPRAYSN00001",
        A,
        "spray",
        associated_at=NOW - timedelta(days=20),
        released_at=NOW - timedelta(days=5),
        replaced_by_sn="SPRAYSN00002",
    )
    new_spray = AccessoryRecord(
        "SPRAYSN00002",
        A,
        "spray",
        associated_at=NOW - timedelta(days=5),
        replaced_sn="SPRAYSN00001",
    )
    lifting = AccessoryRecord("LIFTSN000001", A, "lifting", associated_at=NOW - timedelta(days=9))
    lifting_moved = AccessoryRecord(
        "LIFTSN000001", B, "lifting", associated_at=NOW - timedelta(days=1), inherited_from_sn=A
    )
    # A release projected before its association still shows the accessory released (G3).
    early = AccessoryRecord("SPREADSN0001", A, "spreading", released_at=NOW - timedelta(days=3))
    records = [early, lifting_moved, spray, lifting, new_spray]

    on_a = ag_lookup(A, accessories=records).accessories
    assert [(a.accessory_sn, a.state) for a in on_a] == [
        ("SPRAYSN00002", AccessoryState.ASSOCIATED),
        ("LIFTSN000001", AccessoryState.MOVED),
        ("SPREADSN0001", AccessoryState.RELEASED),
        ("SPRAYSN00001", AccessoryState.RELEASED),
    ]
    assert on_a[0].replaced_sn == "SPRAYSN00001"
    assert on_a[1].moved_to_sn == B
    assert on_a[3].replaced_by_sn == "SPRAYSN00002"

    on_b = ag_lookup(B, plans=[], devices={B: device(B)}, accessories=records).accessories
    assert [(a.accessory_sn, a.state, a.inherited_from_sn) for a in on_b] == [
        ("LIFTSN000001", AccessoryState.ASSOCIATED, A)
    ]

    text = render_text(ag_lookup(A, accessories=records))
    assert "Accessories:" in text.splitlines()
    new_line = next(line for line in text.splitlines() if line.startswith("  SPRAYSN00002"))
    assert "spray" in new_line and "associated" in new_line and "replaced SPRAYSN00001" in new_line
