"""The lookup's answer (X5) as text, for `careplan lookup`."""

from __future__ import annotations

from datetime import UTC, datetime

from services.lookup.answer import (
    AccessoryOut,
    LedgerOut,
    LookupAnswer,
    MoneyOut,
    PackOut,
    ShipmentOut,
    ShippingChargesOut,
)


def render_text(answer: LookupAnswer) -> str:
    """A readable, aligned summary: the facts first, then terms, claims and replacements."""
    facts: list[tuple[str, str]] = [
        ("SN", answer.sn),
        ("Model", answer.model or "unknown"),
        ("Activated", _when(answer.activated_at)),
        ("Warranty until", _warranty(answer)),
    ]
    plan = answer.plan
    if plan is None:
        moved = f" (the plan moved to {answer.replaced_by.sn}, F3)" if answer.replaced_by else ""
        facts.append(("Plan", "none" + moved))
    else:
        facts += [
            ("Plan", f"{plan.plan_name} ({plan.sku}), region {plan.region}"),
            ("Plan id", str(plan.plan_id)),
            ("State", plan.state.value),
            ("Plan activated", _when(plan.activated_at)),
            (
                "Term",
                f"{plan.term_no} of {len(plan.terms)}: "
                f"{_when(plan.term_start)} -> {_when(plan.term_end)}",
            ),
        ]
        cover = plan.agricultural
        if cover is None:
            facts += [
                ("Replacements left", _left(plan.replacements_left, plan.replacements_total)),
                ("Flyaways left", _left(plan.flyaways_left, plan.flyaways_total)),
            ]
        else:
            facts += [
                ("Plan year", f"{cover.plan_year} (insurer {cover.insurer})"),
                ("Base quota left", _quota(cover.base_quota_left, cover.base_quota)),
                (
                    "Consumables left",
                    _quota(cover.consumables_quota_left, cover.consumables_quota),
                ),
                ("Deductible rate", cover.deductible_rate),
                ("Liability cover", "yes (P6)" if cover.liability_cover else "no"),
            ]
        if plan.ended_at is not None:
            facts.append(("Term ended", f"{_when(plan.ended_at)} ({plan.end_reason}, C9)"))
        facts.append(("Covered until", _when(plan.coverage_end)))
        if plan.terminated is not None:
            facts.append(
                (
                    "Terminated",
                    f"{_when(plan.terminated.at)} (case {plan.terminated.case_id}: "
                    f"{', '.join(plan.terminated.reason_codes)})",
                )
            )
        if len(plan.serials) > 1:
            facts.append(("Serials", " -> ".join(plan.serials)))
    if answer.replacement_of is not None:
        link = answer.replacement_of
        facts.append(("Replacement of", f"{link.sn} on {_when(link.at)} (case {link.case_id})"))
    if answer.replaced_by is not None:
        link = answer.replaced_by
        facts.append(("Replaced by", f"{link.sn} on {_when(link.at)} (case {link.case_id})"))

    width = max(len(label) for label, _ in facts)
    lines = [f"{label:<{width}}  {value}" for label, value in facts]
    if plan is not None and plan.agricultural is not None:
        lines += _section(
            "Terms",
            ("#", "sku", "start", "end", "state", "year", "base quota", "consumables"),
            [
                (
                    str(t.term_no),
                    t.sku,
                    _when(t.term_start),
                    _when(t.term_end),
                    t.state.value,
                    str(t.agricultural.plan_year) if t.agricultural else "-",
                    _quota(t.agricultural.base_quota_left, t.agricultural.base_quota)
                    if t.agricultural
                    else "-",
                    _quota(t.agricultural.consumables_quota_left, t.agricultural.consumables_quota)
                    if t.agricultural
                    else "-",
                )
                for t in plan.terms
            ],
        )
    elif plan is not None:
        lines += _section(
            "Terms",
            ("#", "sku", "start", "end", "state", "replacements", "flyaways"),
            [
                (
                    str(t.term_no),
                    t.sku,
                    _when(t.term_start),
                    _when(t.term_end),
                    t.state.value,
                    _left(t.replacements_left, t.replacements_total),
                    _left(t.flyaways_left, t.flyaways_total),
                )
                for t in plan.terms
            ],
        )
    lines += _section(
        "Claims",
        ("case", "sn", "cause", "incident", "outcome", "reasons", "fee", "schedule", "ledger"),
        [
            (
                c.case_id,
                c.sn or "-",
                c.cause or "-",
                _when(c.incident_at),
                c.outcome + (" (reversed)" if c.reversal else ""),
                ", ".join(c.reason_codes) or "-",
                _amount(c.fee),
                c.fee_schedule or "-",
                _ledger(c.ledger),
            )
            for c in answer.claims
        ],
    )
    splits = [
        (c.case_id, source, split)
        for c in answer.claims
        for source, split in (
            ("quoted", c.repair_split),
            ("taken", c.ledger.split if c.ledger else None),
        )
        if split is not None
    ]
    if splits:
        lines += _section(
            "Repair splits (C7)",
            (
                "case",
                "split",
                "cost",
                "base quota",
                "consumables",
                "deductible",
                "shortfall",
                "not covered",
                "logistics",
                "customer",
            ),
            [
                (
                    case_id,
                    source,
                    str(split.repair_cost),
                    str(split.from_base_quota),
                    str(split.from_consumables_quota),
                    str(split.deductible),
                    str(split.shortfall),
                    str(split.not_covered),
                    str(split.logistics_fee),
                    str(split.customer_share),
                )
                for case_id, source, split in splits
            ],
        )
    claimed = [(c.case_id, c.insurer_claim) for c in answer.claims if c.insurer_claim]
    if claimed:
        lines += _section(
            "Claims on insurers (C8)",
            ("case", "insurer", "base quota", "state", "paid", "bordereau"),
            [
                (
                    case_id,
                    claim.insurer,
                    _amount(claim.base_quota_amount),
                    claim.state,
                    _amount(claim.paid),
                    claim.bordereau or "-",
                )
                for case_id, claim in claimed
            ],
        )
    if answer.accessories:
        lines += _section(
            "Accessories",
            ("sn", "type", "state", "associated", "detail"),
            [
                (
                    a.accessory_sn,
                    a.accessory_type,
                    a.state.value,
                    _when(a.associated_at),
                    _accessory_detail(a),
                )
                for a in answer.accessories
            ],
        )
    if answer.packs:
        lines += _section(
            "Consumables packs",
            ("plan code", "year", "state", "due by", "detail"),
            [
                (
                    p.plan_code,
                    str(p.plan_year or "-"),
                    p.state,
                    _when(p.due_by),
                    _pack_detail(p),
                )
                for p in answer.packs
            ],
        )
    lines += _section(
        "Replacements",
        ("case", "old sn", "new sn", "status", "when", "fee", "owes", "shipping", "shipment"),
        [
            (
                r.case_id,
                r.old_sn,
                r.new_sn or "-",
                r.status.value,
                _when(r.replaced_at),
                _amount(r.fee),
                _amount(r.customer_owes),
                _shipping_charges(r.shipping_charges),
                _shipment(r.shipment),
            )
            for r in answer.replacements
        ],
    )
    if answer.refunds:
        lines += _section(
            "Refunds",
            ("case", "payment", "amount", "reason", "asked", "settled"),
            [
                (
                    r.case_id,
                    r.payment_id,
                    _amount(r.amount),
                    r.reason or "-",
                    _when(r.requested_at),
                    _when(r.settled_at),
                )
                for r in answer.refunds
            ],
        )
    if answer.waiting:
        lines += _section(
            "Waiting for a dependency",
            ("service", "event", "waits for", "key", "since", "deadline"),
            [
                (
                    w.service,
                    w.event_type or "-",
                    w.dependency,
                    w.key,
                    _when(w.since),
                    _when(w.deadline),
                )
                for w in answer.waiting
            ],
        )
    return "\n".join(lines)


def _section(title: str, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    if not rows:
        return ["", f"{title}: none"]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    table = [
        "  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in (header, *rows)
    ]
    return ["", f"{title}:", *(line.rstrip() for line in table)]


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


def _left(left: int, total: int | None) -> str:
    return f"{left} of {total}" if total is not None else str(left)


def _amount(money: MoneyOut | None) -> str:
    return f"{money.amount} {money.currency}" if money else "-"


def _quota(left: MoneyOut, full: MoneyOut) -> str:
    return f"{left.amount} of {full.amount} {full.currency}"


def _accessory_detail(accessory: AccessoryOut) -> str:
    said = []
    if accessory.inherited_from_sn:
        said.append(f"came with the plan from {accessory.inherited_from_sn}")
    if accessory.replaced_sn:
        said.append(f"replaced {accessory.replaced_sn}")
    if accessory.moved_to_sn:
        said.append(f"moved with the plan to {accessory.moved_to_sn}")
    if accessory.released_at:
        by = f" by {accessory.replaced_by_sn}" if accessory.replaced_by_sn else ""
        said.append(f"released {_when(accessory.released_at)}{by}")
    return "; ".join(said) or "-"


def _ledger(ledger: LedgerOut | None) -> str:
    if ledger is None:
        return "-"
    return ledger.state + (f" ({', '.join(ledger.reason_codes)})" if ledger.reason_codes else "")


def _pack_detail(pack: PackOut) -> str:
    """F4: why a pack is held, a due date counted past the calendar, an address change refused."""
    said = [pack.reason_code] if pack.reason_code else []
    if pack.weekdays_only_after:
        said.append(f"counted on weekdays alone after {pack.weekdays_only_after} (calendar's end)")
    if pack.address_change_refused:
        refused = pack.address_change_refused
        said.append(f"address change {refused.request_id} refused {refused.reason_code}")
    return "; ".join(said) or "-"


def _shipping_charges(charges: ShippingChargesOut | None) -> str:
    """F1: e.g. '25.00 USD + customs 0.00 USD, owed'."""
    if charges is None:
        return "free"
    return (
        f"{_amount(charges.shipping)} + customs {_amount(charges.customs)},"
        f" {charges.settlement.replace('_', ' ')}"
    )


def _shipment(shipment: ShipmentOut | None) -> str:
    if shipment is None:
        return "-"
    shipping = "customer pays shipping" if shipment.customer_pays_shipping else "free shipping"
    return f"{shipment.shipment_id} to {shipment.ship_to_region or '?'} ({shipping})"


def _warranty(answer: LookupAnswer) -> str:
    if answer.warranty_end is None:
        return "unknown (no first activation reported)"
    state = "expired" if answer.warranty_end <= answer.as_of else "in force"
    inherited = (
        f"; inherited from {answer.warranty_from_sn}, F3"
        if answer.warranty_from_sn and answer.warranty_from_sn != answer.sn
        else ""
    )
    return f"{_when(answer.warranty_end)} ({state}{inherited})"
