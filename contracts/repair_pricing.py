"""C7, P5: the price of an AG repair, line by line, between the quotas and the customer.

One function for the whole platform: claims quotes a case with it against its view of the plan,
and the ledger prices the same lines again with it under the plan's lock against the real
balances. It lives with the contracts because its result is one (`RepairSplit`), and because
both services must agree on it to the cent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from contracts.claims import LineCoverage, RepairLineSplit, RepairSplit
from contracts.money import Money
from contracts.upstream import PartClass

CENT = Decimal("0.01")


@dataclass(frozen=True)
class ClassifiedLine:
    """A repair line and the balance that pays it (C4, C7), not priced yet."""

    line_id: str
    part_code: str
    part_class: PartClass
    coverage: LineCoverage
    cost: Money
    reason_codes: tuple[str, ...] = ()

    @classmethod
    def of(cls, line: RepairLineSplit) -> ClassifiedLine:
        """The classification of a line already priced, to price it again."""
        return cls(
            line_id=line.line_id,
            part_code=line.part_code,
            part_class=line.part_class,
            coverage=line.coverage,
            cost=line.cost,
            reason_codes=tuple(line.reason_codes),
        )


def deductible_on(cost: Money, rate: Decimal) -> Money:
    """C7: the customer's share of a base-quota line, rounded half up to the cent, per line."""
    return Money(
        amount=(cost.amount * rate).quantize(CENT, rounding=ROUND_HALF_UP), currency=cost.currency
    )


def _least(left: Money, right: Money) -> Money:
    return left if left.amount <= right.amount else right


def price_repair(
    lines: Sequence[ClassifiedLine],
    *,
    deductible_rate: Decimal,
    base_quota_left: Money,
    consumables_quota_left: Money,
    logistics_fee: Money | None,
) -> RepairSplit:
    """Split every line in the order quoted. A base-quota line pays its cost less the deductible;
    a consumables line pays in full; what a balance cannot pay is the customer's shortfall; a
    line not covered is the customer's. Balances never go below zero and never mix (P5).
    Customer share = deductible + shortfall + not covered + logistics. Exact decimals in one
    currency (M1); the contract re-checks that every sum adds up."""
    zero = Money.zero(base_quota_left.currency)
    base, consumables = base_quota_left, consumables_quota_left
    priced: list[RepairLineSplit] = []
    for line in lines:
        from_base = from_consumables = deductible = shortfall = not_covered = zero
        if line.coverage is LineCoverage.BASE_QUOTA:
            deductible = deductible_on(line.cost, deductible_rate)
            insured = line.cost - deductible
            from_base = _least(insured, base)
            shortfall = insured - from_base
            base = base - from_base
        elif line.coverage is LineCoverage.CONSUMABLES_QUOTA:
            from_consumables = _least(line.cost, consumables)
            shortfall = line.cost - from_consumables
            consumables = consumables - from_consumables
        else:
            not_covered = line.cost
        priced.append(
            RepairLineSplit(
                line_id=line.line_id,
                part_code=line.part_code,
                part_class=line.part_class,
                coverage=line.coverage,
                reason_codes=list(line.reason_codes),
                cost=line.cost,
                from_base_quota=from_base,
                from_consumables_quota=from_consumables,
                deductible=deductible,
                shortfall=shortfall,
                not_covered=not_covered,
            )
        )

    def total(amounts: Sequence[Money]) -> Money:
        return sum(amounts, zero)

    logistics = logistics_fee or zero
    owed = total([line.deductible + line.shortfall + line.not_covered for line in priced])
    return RepairSplit(
        deductible_rate=deductible_rate,
        lines=priced,
        repair_cost=total([line.cost for line in priced]),
        from_base_quota=total([line.from_base_quota for line in priced]),
        from_consumables_quota=total([line.from_consumables_quota for line in priced]),
        deductible=total([line.deductible for line in priced]),
        shortfall=total([line.shortfall for line in priced]),
        not_covered=total([line.not_covered for line in priced]),
        logistics_fee=logistics,
        customer_share=owed + logistics,
        base_quota_before=base_quota_left,
        consumables_quota_before=consumables_quota_left,
    )
