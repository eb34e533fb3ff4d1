"""An insurer's bordereau for one month (C7, C8, L1-L4, M1, M2): pure rules over the read model.

What the insurer's claims team receives: the repairs its base quotas paid (the ledger's split,
dated by the ledger's deduction), the deductibles the customers paid, the claims the platform
reported to it and withdrew, the answers it gave, and the liability incidents routed to it with
their limits. A month is a calendar month of Asia/Shanghai dates (M2): from 00:00 Shanghai on
its first day to 00:00 Shanghai on the first day of the next (docs/decisions.md).
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from contracts.claims import RepairSplit
from contracts.money import Money
from shared.catalogue.agricultural import agricultural_catalogue

MONTH_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"


class InvalidMonthError(ValueError):
    pass


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """M2: the Shanghai midnights that open the month `YYYY-MM` and the next one."""
    if not re.fullmatch(MONTH_PATTERN, month):
        raise InvalidMonthError(f"{month!r} is not a month: YYYY-MM, e.g. 2026-11")
    year, number = int(month[:4]), int(month[5:])
    zone = agricultural_catalogue().zone
    start = datetime(year, number, 1, tzinfo=zone)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=zone)
    return start, end


@dataclass(frozen=True)
class InsurerClaimRow:
    """C8, L4: a claim the platform reported to an insurer (a repair's base-quota part, or a
    liability incident with its limits), and the insurer's answer; amounts in `currency`."""

    claim_id: str
    kind: str  # base_quota | liability
    insurer: str
    plan_id: uuid.UUID | None = None
    term_no: int | None = None
    policy_no: str | None = None
    sn: str | None = None
    model: str | None = None
    incident_date: date | None = None
    reported_at: datetime | None = None
    currency: str | None = None
    base_quota_amount: Decimal | None = None
    deductible: Decimal | None = None
    liability_kind: str | None = None
    claimed_amount: Decimal | None = None
    limit_amount: Decimal | None = None
    limit_left: Decimal | None = None
    total_limit_left: Decimal | None = None
    medical_sublimit: Decimal | None = None
    indicative_payable: Decimal | None = None
    withdrawn_at: datetime | None = None
    answer: str | None = None
    answered_at: datetime | None = None
    paid_amount: Decimal | None = None
    answer_reason: str | None = None


def bordereau_month(moment: datetime) -> str:
    """M2: the month (YYYY-MM) whose bordereau lists what happened at `moment`."""
    return moment.astimezone(agricultural_catalogue().zone).strftime("%Y-%m")


@dataclass(frozen=True)
class LedgerRepair:
    """An AG repair as the ledger took it (QuotaDeductionApplied), on a term of the insurer."""

    case_id: str
    plan_id: uuid.UUID
    term_no: int
    sn: str | None
    model: str | None
    deducted_at: datetime
    split: RepairSplit


class ClaimState(StrEnum):
    """Where the claim on the insurer stands now (C8, C10)."""

    NOT_REPORTED = "not_reported"  # C10: reversed as fraud before the ledger's answer
    REPORTED = "reported"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    PAID = "paid"
    WITHDRAWN = "withdrawn"


class _Line(BaseModel):
    model_config = ConfigDict(frozen=True)


class RepairLine(_Line):
    """C7, C8: one repair the insurer's base quota paid, as the ledger took it."""

    case_id: str
    plan_id: uuid.UUID
    term_no: int
    policy_no: str | None
    sn: str | None
    model: str | None
    deducted_at: datetime
    base_quota_amount: Money
    deductible: Money = Field(description="C7: paid by the customer to the service point")
    reported_at: datetime | None
    claim_state: ClaimState


class AnswerLine(_Line):
    """C8, L4: an answer the insurer gave in the month, or a claim the platform withdrew."""

    claim_id: str
    kind: str = Field(description="base_quota (a repair's case id) or liability (an incident id)")
    answer: str = Field(description="accepted, rejected, paid, or withdrawn (C10)")
    at: datetime
    paid: Money | None
    reason: str | None


class LiabilityLine(_Line):
    """L1-L4: a liability incident routed to the insurer, with the limits that applied."""

    incident_id: str
    plan_id: uuid.UUID | None
    term_no: int | None
    policy_no: str | None
    drone_sn: str | None
    model: str | None
    liability_kind: str | None
    incident_date: date | None
    reported_at: datetime
    claimed: Money
    limit: Money
    limit_left: Money
    total_limit_left: Money
    medical_sublimit: Money | None
    deductible: Money
    indicative_payable: Money
    answer: str | None


class Totals(_Line):
    """What the month's lines add up to; `repairs`, `base_quota_paid` and `deductibles` are the
    ledger's rows of the insurer's terms for the month, to the cent."""

    repairs: int
    base_quota_paid: Money
    deductibles: Money
    base_quota_claimed: Money = Field(description="C8: the repairs' part reported to the insurer")
    base_quota_not_claimed: Money = Field(description="C10: reversed before it was reported")
    base_quota_withdrawn: Money = Field(description="C10: withdrawn in the month")
    insurer_paid_repairs: Money = Field(description="C8: paid by the insurer in the month")
    liability_claims: int
    liability_claimed: Money
    liability_indicative_payable: Money
    liability_settled: Money = Field(description="L4: settled by the insurer in the month")


class Bordereau(_Line):
    insurer: str
    insurer_name: str
    month: str = Field(examples=["2026-11"])
    period_start: datetime = Field(description="M2: 00:00 Asia/Shanghai on the month's 1st")
    period_end: datetime = Field(description="M2: 00:00 Asia/Shanghai on the next month's 1st")
    currency: str
    repairs: list[RepairLine]
    answers: list[AnswerLine]
    liability_claims: list[LiabilityLine]
    totals: Totals


def _within(moment: datetime | None, start: datetime, end: datetime) -> bool:
    return moment is not None and start <= moment < end


def _money(amount: Decimal | None, currency: str) -> Money:
    return Money.of(amount if amount is not None else Decimal("0.00"), currency)


def _state(claim: InsurerClaimRow | None) -> ClaimState:
    if claim is None or (claim.reported_at is None and claim.answer is None):
        return ClaimState.NOT_REPORTED
    if claim.withdrawn_at is not None:
        return ClaimState.WITHDRAWN
    return ClaimState(claim.answer or ClaimState.REPORTED)


def _sum(amounts: Iterable[Money], currency: str) -> Money:
    return sum(amounts, Money.zero(currency))


def bordereau(
    insurer: str,
    month: str,
    repairs: Sequence[LedgerRepair],
    claims: Mapping[str, InsurerClaimRow],
) -> Bordereau:
    """The insurer's bordereau of `month` from the ledger's repairs on its terms deducted in the
    month and the claims the platform reported to it (C7, C8, L1-L4)."""
    catalogue = agricultural_catalogue()
    start, end = month_bounds(month)
    currency = catalogue.currency
    repair_lines = [
        RepairLine(
            case_id=repair.case_id,
            plan_id=repair.plan_id,
            term_no=repair.term_no,
            policy_no=claim.policy_no if claim else None,
            sn=repair.sn,
            model=repair.model,
            deducted_at=repair.deducted_at,
            base_quota_amount=repair.split.from_base_quota,
            deductible=repair.split.deductible,
            reported_at=claim.reported_at if claim else None,
            claim_state=_state(claim),
        )
        for repair in sorted(repairs, key=lambda r: (r.deducted_at, r.case_id))
        if _within(repair.deducted_at, start, end) and repair.split.from_base_quota.amount > 0
        for claim in [claims.get(repair.case_id)]
    ]
    answers = sorted(_answers(claims.values(), start, end), key=lambda a: (a.at, a.claim_id))
    liability = sorted(
        (
            _liability_line(claim, claim.reported_at)
            for claim in claims.values()
            if claim.kind == "liability" and claim.reported_at and start <= claim.reported_at < end
        ),
        key=lambda line: (line.reported_at, line.incident_id),
    )
    claimed = [
        line.base_quota_amount
        for line in repair_lines
        if line.claim_state is not ClaimState.NOT_REPORTED
    ]
    base_paid = _sum((line.base_quota_amount for line in repair_lines), currency)
    return Bordereau(
        insurer=insurer,
        insurer_name=catalogue.insurers[insurer].name,
        month=month,
        period_start=start,
        period_end=end,
        currency=currency,
        repairs=repair_lines,
        answers=answers,
        liability_claims=liability,
        totals=Totals(
            repairs=len(repair_lines),
            base_quota_paid=base_paid,
            deductibles=_sum((line.deductible for line in repair_lines), currency),
            base_quota_claimed=_sum(claimed, currency),
            base_quota_not_claimed=base_paid - _sum(claimed, currency),
            base_quota_withdrawn=_sum(
                (
                    _money(claim.base_quota_amount, currency)
                    for claim in claims.values()
                    if claim.kind == "base_quota" and _within(claim.withdrawn_at, start, end)
                ),
                currency,
            ),
            insurer_paid_repairs=_paid(answers, "base_quota", currency),
            liability_claims=len(liability),
            liability_claimed=_sum((line.claimed for line in liability), currency),
            liability_indicative_payable=_sum(
                (line.indicative_payable for line in liability), currency
            ),
            liability_settled=_paid(answers, "liability", currency),
        ),
    )


def _answers(claims: Iterable[InsurerClaimRow], start: datetime, end: datetime) -> list[AnswerLine]:
    lines = []
    for claim in claims:
        currency = claim.currency or agricultural_catalogue().currency
        if claim.answer is not None and claim.answered_at and start <= claim.answered_at < end:
            paid = None if claim.paid_amount is None else _money(claim.paid_amount, currency)
            lines.append(
                AnswerLine(
                    claim_id=claim.claim_id,
                    kind=claim.kind,
                    answer=claim.answer,
                    at=claim.answered_at,
                    paid=paid,
                    reason=claim.answer_reason,
                )
            )
        if claim.withdrawn_at and start <= claim.withdrawn_at < end:
            lines.append(
                AnswerLine(
                    claim_id=claim.claim_id,
                    kind=claim.kind,
                    answer=ClaimState.WITHDRAWN.value,
                    at=claim.withdrawn_at,
                    paid=None,
                    reason=None,
                )
            )
    return lines


def _paid(answers: Sequence[AnswerLine], kind: str, currency: str) -> Money:
    return _sum(
        (
            line.paid
            for line in answers
            if line.kind == kind and line.answer == "paid" and line.paid
        ),
        currency,
    )


def _liability_line(claim: InsurerClaimRow, reported_at: datetime) -> LiabilityLine:
    currency = claim.currency or agricultural_catalogue().currency

    def money(amount: Decimal | None) -> Money:
        return _money(amount, currency)

    return LiabilityLine(
        incident_id=claim.claim_id,
        plan_id=claim.plan_id,
        term_no=claim.term_no,
        policy_no=claim.policy_no,
        drone_sn=claim.sn,
        model=claim.model,
        liability_kind=claim.liability_kind,
        incident_date=claim.incident_date,
        reported_at=reported_at,
        claimed=money(claim.claimed_amount),
        limit=money(claim.limit_amount),
        limit_left=money(claim.limit_left),
        total_limit_left=money(claim.total_limit_left),
        medical_sublimit=None if claim.medical_sublimit is None else money(claim.medical_sublimit),
        deductible=money(claim.deductible),
        indicative_payable=money(claim.indicative_payable),
        answer=claim.answer,
    )


CSV_COLUMNS = (
    "section",
    "id",
    "kind",
    "plan_id",
    "term_no",
    "policy_no",
    "sn",
    "model",
    "at",
    "state",
    "currency",
    "base_quota_amount",
    "deductible",
    "claimed",
    "limit",
    "limit_left",
    "total_limit_left",
    "medical_sublimit",
    "indicative_payable",
    "paid",
    "value",
)


def _amount(money: Money | None) -> str:
    return "" if money is None else str(money.amount)


def to_csv(document: Bordereau) -> str:
    """The bordereau as one CSV table: a `section` column says what each row is (repair,
    answer, liability, total); a total's name is its `id`, its figure its `value`."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    currency = document.currency
    for repair in document.repairs:
        writer.writerow(
            {
                "section": "repair",
                "id": repair.case_id,
                "kind": "base_quota",
                "plan_id": repair.plan_id,
                "term_no": repair.term_no,
                "policy_no": repair.policy_no or "",
                "sn": repair.sn or "",
                "model": repair.model or "",
                "at": repair.deducted_at.isoformat(),
                "state": repair.claim_state.value,
                "currency": currency,
                "base_quota_amount": _amount(repair.base_quota_amount),
                "deductible": _amount(repair.deductible),
            }
        )
    for answer in document.answers:
        writer.writerow(
            {
                "section": "answer",
                "id": answer.claim_id,
                "kind": answer.kind,
                "at": answer.at.isoformat(),
                "state": answer.answer,
                "currency": currency,
                "paid": _amount(answer.paid),
            }
        )
    for claim in document.liability_claims:
        writer.writerow(
            {
                "section": "liability",
                "id": claim.incident_id,
                "kind": claim.liability_kind or "",
                "plan_id": claim.plan_id or "",
                "term_no": claim.term_no or "",
                "policy_no": claim.policy_no or "",
                "sn": claim.drone_sn or "",
                "model": claim.model or "",
                "at": claim.reported_at.isoformat(),
                "state": claim.answer or "reported",
                "currency": currency,
                "deductible": _amount(claim.deductible),
                "claimed": _amount(claim.claimed),
                "limit": _amount(claim.limit),
                "limit_left": _amount(claim.limit_left),
                "total_limit_left": _amount(claim.total_limit_left),
                "medical_sublimit": _amount(claim.medical_sublimit),
                "indicative_payable": _amount(claim.indicative_payable),
            }
        )
    for name, figure in document.totals:
        writer.writerow(
            {
                "section": "total",
                "id": name,
                "currency": currency if isinstance(figure, Money) else "",
                "value": _amount(figure) if isinstance(figure, Money) else figure,
            }
        )
    return out.getvalue()
