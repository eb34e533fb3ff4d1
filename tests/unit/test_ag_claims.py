"""C1-C4, C7-C10, G4, L1-L4: adjudication of agricultural cases and the insurers' rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from contracts.claims import ClaimOutcome, LineCoverage, RepairSplit
from contracts.fulfilment import RefundRequested
from contracts.insurer import InsurerAnswer, InsurerClaimReportedPayload
from contracts.liability import LiabilityKind
from contracts.money import Money
from contracts.schemas import event_classes
from contracts.upstream import (
    AgriculturalActivity,
    CustomerChoice,
    IncidentCause,
    PartClass,
    RefundSettled,
    RepairLine,
    ServiceMode,
)
from services.claims.domain import ClaimRefusal, PartCheck
from services.claims.domain_agricultural import (
    AccessoryView,
    AgAssessment,
    AgPlanView,
    LineRefusal,
    PartRules,
    adjudicate_agricultural,
    check_accessory,
    classify_line,
    part_rules,
    quota_paid,
    quote_repair,
)
from services.claims.domain_insurers import (
    InsurerClaimState,
    LiabilityCover,
    LiabilityIncident,
    LiabilityRefusal,
    LiabilityRefused,
    LiabilityRouting,
    UnexpectedAnswerError,
    answer_claim,
    liability_limits,
    route_liability,
)
from services.coverage.domain.ledger import PlanState, QuotaDeducted, QuotaLedger, take_from_quotas
from simulation.factories import repair_line

pytestmark = pytest.mark.unit

START = datetime(2026, 3, 1, tzinfo=UTC)
END = START + timedelta(days=365)
SN = "T40SN00000001"
RULES = part_rules()  # the AG catalogue's consumables list and uncovered classes


def cny(amount: str) -> Money:
    return Money.of(amount, "CNY")


PLAN = AgPlanView(
    plan_id="plan-1",
    term_no=2,
    term_start=START,
    term_end=END,
    plan_year=2,
    base_quota_left=cny("20000.00"),
    consumables_quota_left=cny("2000.00"),
    deductible_rate=Decimal("0.05"),
    supports_lifting=False,
)
WORKED_EXAMPLE = (
    repair_line("arm", "3600.00", "600.00", line_id="L1"),
    repair_line("motor", "1500.00", "300.00", line_id="L2"),
    repair_line("blade", "260.00", "40.00", line_id="L3"),
    repair_line("propeller_clamp", "120.00", "30.00", line_id="L4"),
)
CRASH = AgAssessment(
    reported_sn=SN,
    unit_sn=SN,
    cause=IncidentCause.FALL,
    incident_at=START + timedelta(days=40),
    assessed_at=START + timedelta(days=42),
    flight_record_provided=True,
    activity=AgriculturalActivity.SPRAYING,
    unit_complete=True,
    lines=WORKED_EXAMPLE,
)


def test_c7_p5_the_worked_example_t40_second_year_renewal() -> None:
    decision = adjudicate_agricultural(CRASH, PLAN, RULES)
    assert decision.outcome is ClaimOutcome.REPAIR
    assert {"C1", "C2", "C4", "C7", "P5"} <= set(decision.rules)
    split = decision.split
    assert split is not None
    assert split.repair_cost == cny("6450.00")
    assert split.from_base_quota == cny("5700.00")
    assert split.from_consumables_quota == cny("450.00")
    assert split.deductible == cny("300.00")
    assert split.customer_share == cny("300.00")
    assert [line.deductible for line in split.lines] == [
        cny("210.00"),
        cny("90.00"),
        cny("0"),
        cny("0"),
    ]


@pytest.mark.parametrize(
    ("line", "coverage", "reasons"),
    [
        (repair_line("arm", "1.00"), LineCoverage.BASE_QUOTA, ()),
        (repair_line("blade", "1.00"), LineCoverage.CONSUMABLES_QUOTA, ()),
        (repair_line("nozzle", "1.00"), LineCoverage.CONSUMABLES_QUOTA, ()),
        *(
            (
                repair_line("pack", "1.00", part_class=part_class),
                LineCoverage.NOT_COVERED,
                (LineRefusal.PART_CLASS_NOT_COVERED,),
            )
            for part_class in PartClass
            if part_class is not PartClass.BODY
        ),
        (
            repair_line("arm", "1.00", genuine=False),
            LineCoverage.NOT_COVERED,
            (LineRefusal.NON_GENUINE_PART,),
        ),
        (
            repair_line("blade", "1.00", bound_to_body=False),
            LineCoverage.NOT_COVERED,
            (LineRefusal.PART_NOT_BOUND_TO_BODY,),
        ),
        (
            repair_line("battery", "1.00", part_class=PartClass.BATTERY, genuine=False),
            LineCoverage.NOT_COVERED,
            (LineRefusal.PART_CLASS_NOT_COVERED, LineRefusal.NON_GENUINE_PART),
        ),
    ],
    ids=lambda value: str(value.part_class if isinstance(value, RepairLine) else value)[:40],
)
def test_c4_c7_each_line_is_classified(
    line: RepairLine, coverage: LineCoverage, reasons: tuple[LineRefusal, ...]
) -> None:
    assert classify_line(line, RULES) == (coverage, reasons)


def test_c7_the_customer_pays_the_deductible_the_shortfall_what_is_not_covered_and_logistics() -> (
    None
):
    split = quote_repair(
        [
            repair_line("frame", "3000.00"),
            repair_line("blade", "500.00"),
            repair_line("battery", "1800.00", part_class=PartClass.BATTERY),
        ],
        RULES,
        base_quota_left=cny("2000.00"),
        consumables_quota_left=cny("200.00"),
        deductible_rate=Decimal("0.10"),
        logistics_fee=cny("45.00"),
    )
    frame, blade, battery = split.lines
    assert (frame.deductible, frame.from_base_quota, frame.shortfall) == (
        cny("300.00"),
        cny("2000.00"),
        cny("700.00"),
    )
    assert (blade.from_consumables_quota, blade.shortfall) == (cny("200.00"), cny("300.00"))
    assert battery.not_covered == cny("1800.00")
    assert split.customer_share == cny("3145.00")  # 300 + 700 + 300 + 1800 + 45


def test_c7_the_ledger_prices_claims_quote_to_the_cent_against_the_same_balances() -> None:
    """Claims quotes and the ledger re-prices with one function: same balances, same split."""
    quote = quote_repair(
        [
            repair_line("frame", "3000.00"),
            repair_line("blade", "500.00"),
            repair_line("arm", "10.10"),
            repair_line("battery", "1800.00", part_class=PartClass.BATTERY),
        ],
        RULES,
        base_quota_left=cny("2000.00"),
        consumables_quota_left=cny("200.00"),
        deductible_rate=Decimal("0.05"),
        logistics_fee=cny("45.00"),
    )
    book = QuotaLedger(
        sn=SN,
        term_start=START,
        term_end=END,
        base_quota_left=cny("2000.00"),
        consumables_quota_left=cny("200.00"),
        deductible_rate=Decimal("0.05"),
        state=PlanState.ACTIVE,
    )

    taken = take_from_quotas(book, sn=SN, incident_at=START + timedelta(days=30), quote=quote)

    assert isinstance(taken, QuotaDeducted)
    assert taken.split == quote


@pytest.mark.parametrize(
    ("change", "reasons"),
    [
        ({"flight_record_provided": False}, [ClaimRefusal.EXCLUDED_NO_FLIGHT_DATA]),
        (
            {"activity": AgriculturalActivity.NON_AGRICULTURAL},
            [ClaimRefusal.EXCLUDED_NON_AGRICULTURAL_USE],
        ),
        ({"activity": None}, [ClaimRefusal.ACTIVITY_NOT_REPORTED]),
        (
            {"activity": AgriculturalActivity.LIFTING},
            [ClaimRefusal.EXCLUDED_LIFTING_NOT_SUPPORTED],
        ),
        ({"unit_complete": False}, [ClaimRefusal.EXCLUDED_UNIT_NOT_COMPLETE]),
        ({"cause": IncidentCause.NATURAL_WEAR}, [ClaimRefusal.EXCLUDED_NATURAL_WEAR]),
        (
            {"cause": IncidentCause.NON_MANUFACTURER_PAYLOAD},
            [ClaimRefusal.EXCLUDED_NON_MANUFACTURER_PAYLOAD],
        ),
        ({"cause": IncidentCause.THIRD_PARTY_PARTS}, [ClaimRefusal.EXCLUDED_THIRD_PARTY_PARTS]),
        ({"cause": IncidentCause.FLYAWAY}, [ClaimRefusal.EXCLUDED_LOSS]),
        ({"cause": IncidentCause.WATER_DAMAGE}, [ClaimRefusal.EXCLUDED_CAUSE_NOT_COVERED]),
        ({"unit_sn": None}, [ClaimRefusal.UNIT_NOT_RETURNED]),
        ({"unit_sn": "OTHERSN000001"}, [ClaimRefusal.SN_MISMATCH]),
        (
            {"parts": (PartCheck(sn_present_and_readable=False, matches_body_record=True),)},
            [ClaimRefusal.SN_UNREADABLE_OR_MISSING],
        ),
        (
            {"parts": (PartCheck(sn_present_and_readable=True, matches_body_record=False),)},
            [ClaimRefusal.PART_SN_MISMATCH],
        ),
        ({"incident_at": START - timedelta(days=1)}, [ClaimRefusal.INCIDENT_OUTSIDE_TERM]),
        ({"assessed_at": END}, [ClaimRefusal.CLAIM_FILED_AFTER_TERM]),
        ({"lines": ()}, [ClaimRefusal.NO_REPAIR_LINES]),
        ({"service_mode": ServiceMode.EXPRESS_BASIC}, [ClaimRefusal.EXPRESS_NOT_FOR_AGRICULTURAL]),
        (
            {"lines": (repair_line("arm", "1.00"),), "logistics_fee": Money.of("5.00", "USD")},
            [ClaimRefusal.REPAIR_CURRENCY_MISMATCH],
        ),
    ],
)
def test_c1_c2_c3_c4_each_ag_refusal_has_its_own_reason(
    change: dict[str, object], reasons: list[ClaimRefusal]
) -> None:
    decision = adjudicate_agricultural(replace(CRASH, **change), PLAN, RULES)  # type: ignore[arg-type]
    assert decision.outcome is ClaimOutcome.REFUSED
    assert list(decision.reasons) == reasons
    assert decision.split is None


def test_c2_lifting_is_covered_on_a_model_with_a_lifting_system() -> None:
    lifting = replace(CRASH, activity=AgriculturalActivity.LIFTING)
    decision = adjudicate_agricultural(lifting, replace(PLAN, supports_lifting=True), RULES)
    assert decision.outcome is ClaimOutcome.REPAIR


def test_c9_c10_d4_an_ended_plan_or_none_pays_nothing() -> None:
    assert adjudicate_agricultural(CRASH, None, RULES).reasons == (ClaimRefusal.NO_PLAN_FOR_SN,)
    exhausted = adjudicate_agricultural(CRASH, replace(PLAN, exhausted=True), RULES)
    assert exhausted.reasons == (ClaimRefusal.BASE_QUOTA_EXHAUSTED,)
    assert "C9" in exhausted.rules
    terminated = adjudicate_agricultural(CRASH, replace(PLAN, terminated=True), RULES)
    assert terminated.reasons == (ClaimRefusal.PLAN_TERMINATED,)


def test_x4_a_manufacturing_defect_is_a_warranty_repair_and_c5_a_paid_repair_is_recorded() -> None:
    defect = adjudicate_agricultural(
        replace(CRASH, cause=IncidentCause.MANUFACTURING_DEFECT, flight_record_provided=False),
        PLAN,
        RULES,
    )
    assert (defect.outcome, defect.split) == (ClaimOutcome.WARRANTY_REPAIR, None)
    paid = adjudicate_agricultural(
        replace(CRASH, customer_choice=CustomerChoice.PAID_REPAIR), PLAN, RULES
    )
    assert (paid.outcome, paid.split) == (ClaimOutcome.PAID_REPAIR_CHOSEN, None)


def test_g4_an_accessory_is_covered_only_by_the_drone_it_is_associated_with() -> None:
    assert check_accessory(None, None, SN) == ()
    assert check_accessory("SPRAY00000001", AccessoryView(SN), SN) == ()
    assert check_accessory("SPRAY00000001", None, SN) == (ClaimRefusal.ACCESSORY_NOT_ASSOCIATED,)
    assert check_accessory("SPRAY00000001", AccessoryView(SN, released=True), SN) == (
        ClaimRefusal.ACCESSORY_RELEASED,
    )
    assert check_accessory("SPRAY00000001", AccessoryView("OTHERDRONE001"), SN) == (
        ClaimRefusal.ACCESSORY_ASSOCIATED_WITH_OTHER_DRONE,
    )
    refused = adjudicate_agricultural(
        replace(CRASH, accessory_sn="SPRAY00000001"), PLAN, RULES, AccessoryView("OTHERDRONE001")
    )
    assert refused.reasons == (ClaimRefusal.ACCESSORY_ASSOCIATED_WITH_OTHER_DRONE,)
    assert "G4" in refused.rules


def test_c10_a_fraudulent_customer_owes_what_the_quotas_paid() -> None:
    split = adjudicate_agricultural(CRASH, PLAN, RULES).split
    assert split is not None
    assert quota_paid(split) == cny("6150.00")


def test_c8_quotas_pay_repair_services_never_cash() -> None:
    """No event the platform exchanges carries quota money paid to a customer: quotas are taken
    only as parts of repair lines (RepairSplit checks it), and the insurer's claim is settled by
    repair service only. The only money given back is the customer's own payment (F1, X3)."""
    assert InsurerClaimReportedPayload.model_fields["settlement"].default == "repair_service"
    payloads = {
        event: event.model_fields["payload"].annotation.model_fields  # type: ignore[union-attr]
        for event in event_classes()
    }
    refunds = {event for event, fields in payloads.items() if "refund_id" in fields}
    assert refunds == {RefundRequested, RefundSettled}
    assert all("payment_id" in payloads[event] for event in refunds)
    names = {name for event, fields in payloads.items() if event not in refunds for name in fields}
    assert not {name for name in names if any(w in name for w in ("cash", "payout", "refund"))}
    with pytest.raises(ValueError, match="not the lines' sum"):
        RepairSplit.model_validate(
            {
                **adjudicate_agricultural(CRASH, PLAN, RULES).split.model_dump(),  # type: ignore[union-attr]
                "from_base_quota": {"amount": "9999.00", "currency": "CNY"},
            }
        )


# L1-L4 -----------------------------------------------------------------------------------

COVER = LiabilityCover(
    plan_id="plan-1",
    term_no=1,
    term_start=START,
    term_end=END,
    liability_cover=True,
    insurer="zhongan",
    policy_no="P-1",
    paid={},
)
STANDARD = liability_limits("T40")  # T50, T25, T40, T20P, T30, T10
LARGE = liability_limits("T70")  # T100, T70P, T70, T60, T25P
AT = START + timedelta(days=100)


def incident(
    kind: LiabilityKind, claimed: str, medical: str | None = None, region: str = "CN"
) -> LiabilityIncident:
    return LiabilityIncident(kind, region, AT, cny(claimed), cny(medical) if medical else None)


def routed(result: LiabilityRouting | LiabilityRefused) -> LiabilityRouting:
    assert isinstance(result, LiabilityRouting)
    return result


def property_damage(claimed: str) -> LiabilityRouting:
    return routed(
        route_liability(incident(LiabilityKind.THIRD_PARTY_PROPERTY, claimed), COVER, STANDARD)
    )


def test_l2_l3_property_pays_above_a_200_deductible_up_to_100000() -> None:
    small = routed(
        route_liability(incident(LiabilityKind.THIRD_PARTY_PROPERTY, "5000"), COVER, STANDARD)
    )
    assert (small.limit, small.deductible, small.indicative_payable) == (
        cny("100000.00"),
        cny("200.00"),
        cny("4800.00"),
    )
    big = routed(
        route_liability(incident(LiabilityKind.THIRD_PARTY_PROPERTY, "250000"), COVER, STANDARD)
    )
    assert big.indicative_payable == cny("100000.00")
    tiny = routed(
        route_liability(incident(LiabilityKind.THIRD_PARTY_PROPERTY, "150"), COVER, STANDARD)
    )
    assert (tiny.deductible, tiny.indicative_payable) == (cny("150"), cny("0"))


@pytest.mark.parametrize(
    ("limits", "kind", "sublimit", "payable"),
    [
        (STANDARD, LiabilityKind.THIRD_PARTY_INJURY, "30000.00", "40000.00"),
        (STANDARD, LiabilityKind.OPERATOR_ACCIDENT, "10000.00", "20000.00"),
        (LARGE, LiabilityKind.THIRD_PARTY_INJURY, "100000.00", "49800.00"),
        (LARGE, LiabilityKind.OPERATOR_ACCIDENT, "100000.00", "49800.00"),
    ],
)
def test_l2_l3_medical_costs_have_a_sub_limit_and_a_deductible_death_and_disability_none(
    limits: object, kind: LiabilityKind, sublimit: str, payable: str
) -> None:
    """50,000 claimed, 40,000 of it medical: medical above 200 up to the sub-limit, plus the
    10,000 of disability in full."""
    result = routed(route_liability(incident(kind, "50000", "40000"), COVER, limits))  # type: ignore[arg-type]
    assert result.medical_sublimit == cny(sublimit)
    assert result.deductible == cny("200.00")
    assert result.indicative_payable == cny(payable)


def test_l2_the_kind_limit_and_the_600000_total_shrink_by_what_the_insurer_paid() -> None:
    paid = replace(
        COVER,
        paid={
            LiabilityKind.THIRD_PARTY_INJURY: cny("190000"),
            LiabilityKind.OPERATOR_ACCIDENT: cny("300000"),
        },
    )
    injury = routed(
        route_liability(incident(LiabilityKind.THIRD_PARTY_INJURY, "60000"), paid, STANDARD)
    )
    assert (injury.limit_left, injury.total_limit_left, injury.indicative_payable) == (
        cny("10000.00"),
        cny("110000.00"),
        cny("10000.00"),
    )
    spent = route_liability(incident(LiabilityKind.OPERATOR_ACCIDENT, "1000"), paid, STANDARD)
    assert spent == LiabilityRefused((LiabilityRefusal.LIABILITY_LIMIT_EXHAUSTED,))


@pytest.mark.parametrize("region", ["HK", "MO", "TW", "US"])
def test_l1_only_mainland_china(region: str) -> None:
    result = route_liability(
        incident(LiabilityKind.THIRD_PARTY_PROPERTY, "1000", region=region), COVER, STANDARD
    )
    assert result == LiabilityRefused((LiabilityRefusal.LIABILITY_OUTSIDE_MAINLAND_CHINA,))


def test_p6_l1_no_cover_no_plan_or_outside_the_term_is_refused() -> None:
    fire = incident(LiabilityKind.THIRD_PARTY_PROPERTY, "1000")
    assert route_liability(fire, None, STANDARD) == LiabilityRefused(
        (LiabilityRefusal.NO_PLAN_FOR_SN,)
    )
    assert route_liability(fire, replace(COVER, liability_cover=False), STANDARD) == (
        LiabilityRefused((LiabilityRefusal.NO_LIABILITY_COVER,))
    )
    late = replace(fire, occurred_at=END)
    assert route_liability(late, COVER, STANDARD) == LiabilityRefused(
        (LiabilityRefusal.INCIDENT_OUTSIDE_TERM,)
    )


def test_c8_l4_insurer_answers_only_move_a_claim_forward() -> None:
    state = InsurerClaimState.REPORTED
    assert answer_claim(state, InsurerAnswer.ACCEPTED) is InsurerClaimState.ACCEPTED
    assert answer_claim(InsurerClaimState.ACCEPTED, InsurerAnswer.ACCEPTED) is None
    assert answer_claim(InsurerClaimState.ACCEPTED, InsurerAnswer.PAID) is InsurerClaimState.PAID
    assert answer_claim(state, InsurerAnswer.REJECTED) is InsurerClaimState.REJECTED
    assert answer_claim(InsurerClaimState.PAID, InsurerAnswer.ACCEPTED) is None
    assert answer_claim(InsurerClaimState.PAID, InsurerAnswer.REJECTED) is None
    assert answer_claim(InsurerClaimState.WITHDRAWN, InsurerAnswer.PAID) is None
    with pytest.raises(UnexpectedAnswerError):
        answer_claim(InsurerClaimState.NONE, InsurerAnswer.PAID)


def test_rules_come_from_the_catalogue() -> None:
    assert isinstance(RULES, PartRules)
    assert "blade" in RULES.consumables_parts and "battery" in RULES.uncovered_part_classes
