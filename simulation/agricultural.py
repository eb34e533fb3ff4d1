"""The agricultural plan as the systems around the platform play it: terms as the catalogue
gives them, repair quotes priced line by line, and the arithmetic a split must satisfy (P4-P6,
C7). The demo, the load driver, the fault suite's checker and the end-to-end tests share it.
"""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from contracts.agricultural import AgriculturalTerm
from contracts.claims import LineCoverage, RepairLineSplit, RepairSplit
from contracts.money import Money
from contracts.upstream import PartClass, RepairLine
from shared.catalogue.agricultural import agricultural_catalogue
from simulation import factories as f

YEAR = timedelta(days=365)
# A first-year term bound this long ago is inside its last 15 days: a renewal bought now
# starts at purchase and ends the first year then (A4).
RENEWABLE_AGO = YEAR - timedelta(days=10)
AG_MODELS = ("T100", "T70P", "T70", "T60", "T25P", "T50", "T25", "T40", "T20P", "T30", "T10")
BODY_PARTS = ("arm", "motor", "frame", "esc_board", "radar", "flight_controller", "spray_tank")
CONSUMABLE_PARTS = ("blade", "propeller_clamp", "nozzle", "spray_rod", "filter", "spray_hose")


def ag_term(model: str, plan_year: int, *, liability_cover: bool = False) -> AgriculturalTerm:
    """The catalogue's balances and deductible for `model` in `plan_year` (P4-P6, C7)."""
    catalogue = agricultural_catalogue()
    return AgriculturalTerm(
        plan_year=plan_year,
        base_quota=catalogue.base_quota(model, plan_year),
        consumables_quota=catalogue.consumables_quota(model, plan_year),
        deductible_rate=catalogue.deductible_rate(model, plan_year),
        insurer=catalogue.model(model).insurer,
        liability_cover=liability_cover,
    )


def repair_quote(rng: random.Random, model: str) -> list[RepairLine]:
    """A priced repair as an AG repair centre quotes it: body lines (base quota, C7), mostly a
    consumables line or two, now and then an uncovered battery, and one quote in ten above the
    model's whole base quota (a shortfall)."""
    lines = [
        f.repair_line(
            rng.choice(BODY_PARTS),
            f"{rng.randrange(200, 3000)}.{rng.randrange(100):02}",
            f"{rng.randrange(0, 400)}.00",
            line_id=f"L{number}",
        )
        for number in range(1, rng.randint(1, 3) + 1)
    ]
    if rng.random() < 0.1:
        whole = agricultural_catalogue().base_quota(model, 1).amount
        lines.append(f.repair_line("frame", str(whole + 1500), line_id="L-BIG"))
    for number in range(rng.choice((0, 1, 1, 2))):
        cost = f"{rng.randrange(20, 400)}.{rng.randrange(100):02}"
        lines.append(f.repair_line(rng.choice(CONSUMABLE_PARTS), cost, line_id=f"C{number}"))
    if rng.random() < 0.2:
        lines.append(
            f.repair_line("battery", "1800.00", part_class=PartClass.BATTERY, line_id="B1")
        )
    return lines


def split_problems(split: RepairSplit) -> list[str]:
    """What does not add up in a split, recomputed from its lines (C7, M1): each line's cost is
    its parts, the totals are the lines' sums, the customer's share is what the quotas do not
    pay plus logistics, and no quota pays more than its balance (P5)."""
    problems = []
    currency = split.repair_cost.currency
    fields = ("from_base_quota", "from_consumables_quota", "deductible", "shortfall", "not_covered")
    for line in split.lines:
        parts = sum((getattr(line, name).amount for name in fields), Decimal(0))
        if parts != line.cost.amount or any(
            getattr(line, name).currency != currency for name in ("cost", *fields)
        ):
            problems.append(f"line {line.line_id}: {parts} is not its cost {line.cost}")
    for name in ("cost", *fields):
        total = sum((getattr(line, name).amount for line in split.lines), Decimal(0))
        stated = getattr(split, "repair_cost" if name == "cost" else name).amount
        if total != stated:
            problems.append(f"{name}: the lines sum to {total}, the split says {stated}")
    share = split.deductible + split.shortfall + split.not_covered + split.logistics_fee
    if share != split.customer_share:
        problems.append(f"customer share {split.customer_share} is not {share}")
    if split.from_base_quota.amount > split.base_quota_before.amount:
        problems.append("the base quota paid more than its balance")
    if split.from_consumables_quota.amount > split.consumables_quota_before.amount:
        problems.append("the consumables quota paid more than its balance")
    return problems


def base_quota_split(amount: str) -> RepairSplit:
    """A repair split of one frame line paid in full from the base quota (no deductible)."""
    cost, zero = Money.of(amount, "CNY"), Money.of("0", "CNY")
    line = RepairLineSplit(
        line_id="L1",
        part_code="frame",
        part_class=PartClass.BODY,
        coverage=LineCoverage.BASE_QUOTA,
        cost=cost,
        from_base_quota=cost,
        from_consumables_quota=zero,
        deductible=zero,
        shortfall=zero,
        not_covered=zero,
    )
    return RepairSplit(
        deductible_rate=Decimal("0"),
        lines=[line],
        repair_cost=cost,
        from_base_quota=cost,
        from_consumables_quota=zero,
        deductible=zero,
        shortfall=zero,
        not_covered=zero,
        logistics_fee=zero,
        customer_share=zero,
        base_quota_before=cost,
        consumables_quota_before=zero,
    )
