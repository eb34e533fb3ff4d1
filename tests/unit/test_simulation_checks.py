"""The fault suite's own arithmetic: a split that does not add up, and what counts as refused."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.activation import ActivationRefused
from contracts.money import Money
from simulation.agricultural import base_quota_split, split_problems
from simulation.reorder import _short, refused

pytestmark = pytest.mark.unit


def test_c7_m1_a_split_that_sums_to_its_lines_has_no_problem() -> None:
    assert split_problems(base_quota_split("1200.00")) == []


def test_c7_a_split_whose_totals_are_not_its_lines_is_reported() -> None:
    honest = base_quota_split("1200.00")
    # Built past the contract's own validation, as a buggy producer could publish it.
    inflated = honest.model_construct(
        **(dict(honest) | {"from_base_quota": Money.of("1300.00", "CNY")})
    )
    problems = split_problems(inflated)
    assert any("from_base_quota" in problem for problem in problems)
    assert any("paid more than its balance" in problem for problem in problems)


def test_c7_a_line_whose_parts_are_not_its_cost_is_reported() -> None:
    honest = base_quota_split("1200.00")
    (line,) = honest.lines
    short = line.model_construct(**(dict(line) | {"from_base_quota": Money.of("1100.00", "CNY")}))
    split = honest.model_construct(**(dict(honest) | {"lines": [short]}))
    assert any(problem.startswith("line L1") for problem in split_problems(split))


def test_a_journey_is_refused_where_activation_the_case_or_the_insurer_routing_refused() -> None:
    outcome: dict[str, Any] = {
        "activation": (ActivationRefused.__name__, ("PLAN_CODE_UNKNOWN",)),
        "renewal": ("PlanRenewed", ()),
        "case": ("refused", "claims", ("NO_PLAN_FOR_SN",), None, None),
        "liability": [("routed", "100000.00 CNY", "200.00 CNY", "4800.00 CNY")],
    }
    assert refused(outcome) == {"activation", "case"}
    approved = outcome | {
        "activation": ("PlanActivated", ()),
        "case": ("repair", None, (), None, {}),
    }
    assert refused(approved) == set()


def test_a_difference_is_grouped_by_the_answers_kind_and_reasons_not_its_amounts() -> None:
    split = {"repair_cost": {"amount": "4263.61", "currency": "CNY"}}
    assert _short(("repair", None, (), None, split)) == "repair"
    assert _short(("refused", "claims", ("NO_PLAN_FOR_SN",), None, None)) == (
        "refused['NO_PLAN_FOR_SN']"
    )
    assert _short(("ActivationRefused", ("PLAN_CODE_UNKNOWN",))) == (
        "ActivationRefused['PLAN_CODE_UNKNOWN']"
    )
    assert _short([("refused", "NOT_COVERED_REGION")]) == "refused['NOT_COVERED_REGION']"
    assert _short(None) == "none"
