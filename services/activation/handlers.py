"""Activation's adapters: turn events into calls of the pure rules and rows of its database."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from contracts.accessories import AccessoryActivated, AccessoryType
from contracts.activation import (
    AccessoryAssociated,
    AccessoryAssociatedPayload,
    AccessoryAssociationRefused,
    AccessoryAssociationRefusedPayload,
    AccessoryReleased,
    AccessoryReleasedPayload,
    ActivationPending,
    ActivationPendingPayload,
    ActivationRefused,
    ActivationRefusedPayload,
    PlanActivated,
    PlanActivatedPayload,
    PlanRenewed,
    PlanRenewedPayload,
)
from contracts.agricultural import AgriculturalTerm, PlanFamily
from contracts.claims import ClaimReversed, ClaimsEvent
from contracts.coverage import CoverageEvent, PlanInherited, TermConfirmed
from contracts.topics import ACTIVATION_EVENTS
from contracts.upstream import (
    ActivationRequested,
    DeviceActivated,
    PlanOrderPlaced,
    PlanOrderPlacedPayload,
    VideoReviewed,
)
from services.activation.domain import (
    AccessoryRecord,
    AccessoryState,
    Activate,
    ActivateAgricultural,
    AgriculturalTermHeld,
    AlreadyAssociated,
    Associate,
    AwaitVideoReview,
    CodeState,
    PlanCode,
    Refuse,
    Renew,
    RenewAgricultural,
    RequestDecision,
    Term,
    add_months,
    decide_accessory_activation,
    decide_activation,
    decide_agricultural_activation,
    decide_agricultural_renewal,
    decide_renewal,
    decide_video_review,
    follow_policy,
    liability_cover,
    order_problems,
    price_problem,
    refuse_other_family,
)
from shared.catalogue import consumer_catalogue
from shared.catalogue.agricultural import agricultural_catalogue
from shared.messaging import Transaction

PRODUCER = "activation"


class UnknownActivationRequestError(LookupError):
    pass


class InconsistentPlanOrderError(ValueError):
    pass


async def record_plan_order(event: PlanOrderPlaced, tx: Transaction) -> None:
    """A sold plan code; an order retried upstream with a new event id changes nothing.

    The SKU decides the family (D2) and, for AG, the plan year (P4). The order's delivery
    address (F4) is personal data that fulfilment alone keeps: it is not stored here.
    """
    order = event.payload
    ag = agricultural_catalogue()
    agricultural = order.sku in ag.plans
    plan_year = ag.plan(order.sku).plan_year if agricultural else None
    problems = [] if agricultural else _consumer_price_problems(order)
    problems += order_problems(
        agricultural_sku=agricultural,
        sku_plan_year=plan_year,
        order_plan_year=order.plan_year,
        new_drone_bundle=order.new_drone_bundle,
        model_is_agricultural=order.model in ag.models,
    )
    if problems:
        raise InconsistentPlanOrderError(f"order {order.order_id}: {'; '.join(problems)}")
    await tx.conn.execute(
        "INSERT INTO plan_codes (plan_code, order_id, sku, model, region, price_amount,"
        " price_currency, purchased_at, family, plan_year, new_drone_bundle)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        " ON CONFLICT (plan_code) DO NOTHING",
        order.plan_code,
        order.order_id,
        order.sku,
        order.model,
        order.region,
        order.price.amount,
        order.price.currency,
        order.purchased_at,
        (PlanFamily.AGRICULTURAL if agricultural else PlanFamily.CONSUMER).value,
        plan_year,
        order.new_drone_bundle,
    )


def _consumer_price_problems(order: PlanOrderPlacedPayload) -> list[str]:
    catalogue = consumer_catalogue()  # an unknown SKU or model is refused here
    if order.model not in catalogue.models:
        return []  # order_problems names a model of the wrong family
    problem = price_problem(catalogue.list_price(order.model, order.sku), order.price)
    return [problem] if problem else []


async def record_device_activation(event: DeviceActivated, tx: Transaction) -> None:
    """A device's first activation starts its binding window (A1); later ones do not move it."""
    device = event.payload
    await tx.conn.execute(
        "INSERT INTO devices (sn, model, activated_at) VALUES ($1, $2, $3)"
        " ON CONFLICT (sn) DO UPDATE SET activated_at = LEAST(devices.activated_at,"
        " EXCLUDED.activated_at)",
        device.sn,
        device.model,
        device.activated_at,
    )


async def request_activation(event: ActivationRequested, tx: Transaction) -> None:
    """A1, A2: bind a plan code to a device, or wait for a video, or refuse with reasons."""
    request = event.payload
    if await tx.conn.fetchval(
        "SELECT 1 FROM activation_requests WHERE request_id = $1", request.request_id
    ):
        return  # the same request retried upstream under a new event id
    owner_id = await tx.conn.fetchval(
        "INSERT INTO owners (owner_id, email, name) VALUES ($1, $2, $3)"
        " ON CONFLICT (email) DO UPDATE SET name = EXCLUDED.name RETURNING owner_id",
        uuid.uuid4(),
        request.owner.email.lower(),
        request.owner.name,
    )
    row = await tx.conn.fetchrow(
        "SELECT plan_code, sku, model, state, family, plan_year, new_drone_bundle, purchased_at"
        " FROM plan_codes WHERE plan_code = $1 FOR UPDATE",
        request.plan_code,
    )
    code = (
        PlanCode(row["plan_code"], row["sku"], row["model"], CodeState(row["state"]))
        if row
        else None
    )
    device = await tx.conn.fetchrow(
        "SELECT model, activated_at FROM devices WHERE sn = $1", request.sn
    )
    terms = await tx.conn.fetch(
        "SELECT t.plan_id, t.term_no, t.term_start, t.term_end, t.sku, t.plan_year, c.model,"
        " c.family FROM plan_terms t JOIN plan_codes c USING (plan_code) WHERE t.sn = $1"
        " ORDER BY t.term_no",
        request.sn,
    )
    if row is not None and code is not None:
        held = terms[0]["family"] if terms else row["family"]
        if held != row["family"]:
            refusal = refuse_other_family(code)
            await _record_request(tx, event, owner_id, refusal)
            _publish_refusal(tx, event, request.request_id, request.plan_code, request.sn, refusal)
            return
        if row["family"] == PlanFamily.AGRICULTURAL.value:
            await _request_agricultural(tx, event, owner_id, code, row, device, terms)
            return
    catalogue = consumer_catalogue()
    if terms and code is not None:
        sku = catalogue.plan(code.sku)
        renewal = decide_renewal(
            code=code,
            sku_is_renewal=sku.renewal,
            sku_months=sku.months,
            device_model=terms[0]["model"],
            terms=[
                Term(row["term_start"], row["term_end"], catalogue.plan(row["sku"]).months)
                for row in terms
            ],
            requested_at=request.requested_at,
            barred=await _barred(tx, request.sn, owner_id, request.owner.email.lower()),
        )
        await _record_request(tx, event, owner_id, renewal)
        if isinstance(renewal, Renew):
            await _renew(tx, event, terms[0]["plan_id"], len(terms) + 1, renewal)
        else:
            _publish_refusal(tx, event, request.request_id, request.plan_code, request.sn, renewal)
        return
    decision = decide_activation(
        code=code,
        device_model=device["model"] if device else None,
        kind=catalogue.model(code.model).kind if code else None,
        device_activated_at=device["activated_at"] if device else None,
        requested_at=request.requested_at,
        windows=catalogue.binding_windows,
        repair_invitation_at=request.repair_invitation_at,
    )
    await _record_request(tx, event, owner_id, decision)
    if isinstance(decision, Activate):
        await _activate(tx, event, request.plan_code, request.sn, owner_id, decision)
    elif isinstance(decision, AwaitVideoReview):
        await tx.conn.execute(
            "UPDATE plan_codes SET state = 'pending' WHERE plan_code = $1", request.plan_code
        )
        tx.publish(
            ACTIVATION_EVENTS,
            request.sn,
            ActivationPending.new(
                ActivationPendingPayload(
                    request_id=request.request_id,
                    plan_code=request.plan_code,
                    sn=request.sn,
                    reason_code=decision.reason_code,
                ),
                producer=PRODUCER,
                correlation_id=request.request_id,
                cause=event,
            ),
        )
    else:
        _publish_refusal(tx, event, request.request_id, request.plan_code, request.sn, decision)


async def _request_agricultural(
    tx: Transaction,
    event: ActivationRequested,
    owner_id: uuid.UUID,
    code: PlanCode,
    row: asyncpg.Record,
    device: asyncpg.Record | None,
    terms: list[asyncpg.Record],
) -> None:
    """P4: bind a first-year AG plan; A4: or renew the device's plan with the next year."""
    request = event.payload
    catalogue = agricultural_catalogue()
    decision: ActivateAgricultural | RenewAgricultural | Refuse
    if terms:
        latest = terms[-1]
        decision = decide_agricultural_renewal(
            code=code,
            plan_year=row["plan_year"],
            device_model=terms[0]["model"],
            current=AgriculturalTermHeld(
                latest["plan_year"], latest["term_start"], latest["term_end"]
            ),
            purchased_at=row["purchased_at"],
            window_days=catalogue.renewal_window_days,
            term_months=catalogue.term_months,
            zone=catalogue.zone,
            barred=await _barred(tx, request.sn, owner_id, request.owner.email.lower()),
        )
    else:
        decision = decide_agricultural_activation(
            code=code,
            plan_year=row["plan_year"],
            device_model=device["model"] if device else None,
            requested_at=request.requested_at,
            term_months=catalogue.term_months,
            zone=catalogue.zone,
        )
    await _record_request(tx, event, owner_id, decision)
    if isinstance(decision, ActivateAgricultural):
        await _activate_agricultural(tx, event, owner_id, decision)
    elif isinstance(decision, RenewAgricultural):
        await _renew_agricultural(tx, event, terms[-1], decision)
    else:
        _publish_refusal(tx, event, request.request_id, request.plan_code, request.sn, decision)


def _agricultural_term(model: str, plan_year: int, *, new_drone_bundle: bool) -> AgriculturalTerm:
    """P5, C7, L4, P6: the year's quotas, deductible and insurer, from the AG catalogue."""
    catalogue = agricultural_catalogue()
    return AgriculturalTerm(
        plan_year=plan_year,
        base_quota=catalogue.base_quota(model, plan_year),
        consumables_quota=catalogue.consumables_quota(model, plan_year),
        deductible_rate=catalogue.deductible_rate(model, plan_year),
        insurer=catalogue.model(model).insurer,
        liability_cover=liability_cover(new_drone_bundle=new_drone_bundle, plan_year=plan_year),
    )


async def _activate_agricultural(
    tx: Transaction, event: ActivationRequested, owner_id: uuid.UUID, decision: ActivateAgricultural
) -> None:
    request = event.payload
    code = await tx.conn.fetchrow(
        "UPDATE plan_codes SET state = 'activated' WHERE plan_code = $1"
        " RETURNING sku, model, region, purchased_at, new_drone_bundle",
        request.plan_code,
    )
    if code is None:
        raise LookupError(f"plan code {request.plan_code} vanished while it was being activated")
    plan_id = uuid.uuid4()
    await _insert_term(
        tx,
        plan_id,
        1,
        request.plan_code,
        request.sn,
        owner_id,
        code["sku"],
        decision.term_start,
        decision.term_end,
        decision.plan_year,
    )
    tx.publish(
        ACTIVATION_EVENTS,
        request.sn,
        PlanActivated.new(
            PlanActivatedPayload(
                plan_id=plan_id,
                plan_code=request.plan_code,
                sn=request.sn,
                model=code["model"],
                sku=code["sku"],
                region=code["region"],
                owner_id=owner_id,
                term_start=decision.term_start,
                term_end=decision.term_end,
                replacements=0,
                flyaways=0,
                purchased_at=code["purchased_at"],
                family=PlanFamily.AGRICULTURAL,
                agricultural=_agricultural_term(
                    code["model"], decision.plan_year, new_drone_bundle=code["new_drone_bundle"]
                ),
            ),
            producer=PRODUCER,
            correlation_id=str(plan_id),
            cause=event,
        ),
    )


async def _renew_agricultural(
    tx: Transaction,
    event: ActivationRequested,
    current: asyncpg.Record,
    decision: RenewAgricultural,
) -> None:
    request = event.payload
    code = await tx.conn.fetchrow(
        "UPDATE plan_codes SET state = 'activated' WHERE plan_code = $1"
        " RETURNING sku, model, purchased_at",
        request.plan_code,
    )
    if code is None:
        raise LookupError(f"plan code {request.plan_code} vanished while it was being renewed")
    plan_id, term_no = current["plan_id"], current["term_no"] + 1
    if decision.previous_term_ends_at is not None:
        # A4: bought before expiry, the current term ends at the purchase.
        await tx.conn.execute(
            "UPDATE plan_terms SET scheduled_end = term_end, term_end = $3"
            " WHERE plan_id = $1 AND term_no = $2",
            plan_id,
            current["term_no"],
            decision.previous_term_ends_at,
        )
    owner_id = await tx.conn.fetchval(
        "SELECT owner_id FROM plan_terms WHERE plan_id = $1 AND term_no = 1", plan_id
    )
    await _insert_term(
        tx,
        plan_id,
        term_no,
        request.plan_code,
        request.sn,
        owner_id,
        code["sku"],
        decision.term_start,
        decision.term_end,
        decision.plan_year,
    )
    tx.publish(
        ACTIVATION_EVENTS,
        request.sn,
        PlanRenewed.new(
            PlanRenewedPayload(
                plan_id=plan_id,
                plan_code=request.plan_code,
                sn=request.sn,
                sku=code["sku"],
                term_no=term_no,
                term_start=decision.term_start,
                term_end=decision.term_end,
                replacements=0,
                flyaways=0,
                purchased_at=code["purchased_at"],
                agricultural=_agricultural_term(
                    code["model"], decision.plan_year, new_drone_bundle=False
                ),
                previous_term_ends_at=decision.previous_term_ends_at,
            ),
            producer=PRODUCER,
            correlation_id=str(plan_id),
            cause=event,
        ),
    )


async def activate_accessory(event: AccessoryActivated, tx: Transaction) -> None:
    """G1-G3: associate an accessory with the drone it was activated on, or say why not."""
    activation = event.payload
    accessory_sn, drone_sn = activation.accessory_sn, activation.drone_sn
    await _lock(tx, f"drone:{drone_sn}", f"accessory:{accessory_sn}")
    if await tx.conn.fetchval(
        "SELECT 1 FROM accessory_activations WHERE accessory_sn = $1 AND drone_sn = $2"
        " AND activated_at = $3",
        accessory_sn,
        drone_sn,
        activation.activated_at,
    ):
        return  # the same activation resent upstream under a new event id
    drone_model = await tx.conn.fetchval(
        "SELECT model FROM devices WHERE sn = $1 UNION ALL"
        " SELECT c.model FROM plan_terms t JOIN plan_codes c USING (plan_code) WHERE t.sn = $1"
        " LIMIT 1",
        drone_sn,
    )
    known = await tx.conn.fetchrow(
        "SELECT accessory_type, drone_sn, state FROM accessories WHERE accessory_sn = $1"
        " FOR UPDATE",
        accessory_sn,
    )
    record = (
        AccessoryRecord(known["accessory_type"], known["drone_sn"], AccessoryState(known["state"]))
        if known
        else None
    )
    current = await tx.conn.fetchval(
        "SELECT accessory_sn FROM accessories WHERE drone_sn = $1 AND accessory_type = $2"
        " AND state = 'associated' FOR UPDATE",
        drone_sn,
        activation.accessory_type.value,
    )
    models = agricultural_catalogue().models
    decision = decide_accessory_activation(
        accessory_sn=accessory_sn,
        accessory_type=activation.accessory_type.value,
        drone_sn=drone_sn,
        drone_model=drone_model,
        supported_types=models[drone_model].accessories if drone_model in models else (),
        record=record,
        current_of_type=current,
    )
    outcome = {Associate: "associated", AlreadyAssociated: "unchanged"}.get(
        type(decision), "refused"
    )
    reasons = [] if isinstance(decision, Associate | AlreadyAssociated) else decision.reasons
    await tx.conn.execute(
        "INSERT INTO accessory_activations (accessory_sn, drone_sn, activated_at,"
        " accessory_type, outcome, reason_codes) VALUES ($1, $2, $3, $4, $5, $6)",
        accessory_sn,
        drone_sn,
        activation.activated_at,
        activation.accessory_type.value,
        outcome,
        [reason.value for reason in reasons],
    )
    if isinstance(decision, AlreadyAssociated):
        return
    if not isinstance(decision, Associate):
        # The first activation ties the accessory to that drone for good (G3).
        await tx.conn.execute(
            "INSERT INTO accessories (accessory_sn, accessory_type, drone_sn, state,"
            " first_activated_at) VALUES ($1, $2, $3, 'activated', $4)"
            " ON CONFLICT (accessory_sn) DO NOTHING",
            accessory_sn,
            activation.accessory_type.value,
            drone_sn,
            activation.activated_at,
        )
        _publish_accessory(
            tx,
            AccessoryAssociationRefused.new(
                AccessoryAssociationRefusedPayload(
                    accessory_sn=accessory_sn,
                    accessory_type=activation.accessory_type,
                    drone_sn=drone_sn,
                    activated_at=activation.activated_at,
                    reason_codes=[reason.value for reason in reasons],
                ),
                producer=PRODUCER,
                correlation_id=accessory_sn,
                cause=event,
            ),
        )
        return
    if decision.replaces is not None:
        # G3: the new accessory takes the old one's place; the old one is never covered again.
        await tx.conn.execute(
            "UPDATE accessories SET state = 'released', released_at = $2, replaced_by_sn = $3"
            " WHERE accessory_sn = $1",
            decision.replaces,
            activation.activated_at,
            accessory_sn,
        )
        _publish_accessory(
            tx,
            AccessoryReleased.new(
                AccessoryReleasedPayload(
                    accessory_sn=decision.replaces,
                    accessory_type=activation.accessory_type,
                    drone_sn=drone_sn,
                    released_at=activation.activated_at,
                    replaced_by_sn=accessory_sn,
                ),
                producer=PRODUCER,
                correlation_id=accessory_sn,
                cause=event,
            ),
        )
    await tx.conn.execute(
        "INSERT INTO accessories (accessory_sn, accessory_type, drone_sn, state,"
        " first_activated_at, associated_at) VALUES ($1, $2, $3, 'associated', $4, $4)"
        " ON CONFLICT (accessory_sn) DO UPDATE SET state = 'associated', associated_at = $4",
        accessory_sn,
        activation.accessory_type.value,
        drone_sn,
        activation.activated_at,
    )
    _publish_accessory(
        tx,
        AccessoryAssociated.new(
            AccessoryAssociatedPayload(
                accessory_sn=accessory_sn,
                accessory_type=activation.accessory_type,
                drone_sn=drone_sn,
                associated_at=activation.activated_at,
                replaced_accessory_sn=decision.replaces,
            ),
            producer=PRODUCER,
            correlation_id=accessory_sn,
            cause=event,
        ),
    )


async def _follow_policy(tx: Transaction, event: TermConfirmed) -> None:
    """A5: the renewal window (A4) is measured from the term's end as the policy sets it."""
    policy = event.payload
    term = await tx.conn.fetchrow(
        "SELECT term_end, scheduled_end FROM plan_terms WHERE plan_id = $1 AND term_no = $2"
        " FOR UPDATE",
        policy.plan_id,
        policy.term_no,
    )
    if term is None:
        return  # not a plan bound here
    ended_early = term["term_end"] if term["scheduled_end"] is not None else None
    start, end = follow_policy(
        ended_by_renewal_at=ended_early, start=policy.term_start, end=policy.term_end
    )
    await tx.conn.execute(
        "UPDATE plan_terms SET term_start = $3, term_end = $4,"
        " scheduled_end = CASE WHEN scheduled_end IS NULL THEN NULL ELSE $5::timestamptz END"
        " WHERE plan_id = $1 AND term_no = $2",
        policy.plan_id,
        policy.term_no,
        start,
        end,
        policy.term_end,
    )


async def _move_accessories(tx: Transaction, event: PlanInherited) -> None:
    """F3: the replacement unit takes over the plan, and with it the accessories it covers."""
    moved = event.payload
    await _lock(tx, f"drone:{moved.old_sn}", f"drone:{moved.new_sn}")
    rows = await tx.conn.fetch(
        "UPDATE accessories a SET drone_sn = $2 WHERE a.drone_sn = $1 AND a.state <> 'released'"
        " AND NOT EXISTS (SELECT 1 FROM accessories b WHERE b.drone_sn = $2"
        " AND b.accessory_type = a.accessory_type AND b.state = 'associated')"
        " RETURNING a.accessory_sn, a.accessory_type, a.state",
        moved.old_sn,
        moved.new_sn,
    )
    for row in sorted(rows, key=lambda row: row["accessory_sn"]):
        if row["state"] != AccessoryState.ASSOCIATED.value:
            continue
        _publish_accessory(
            tx,
            AccessoryAssociated.new(
                AccessoryAssociatedPayload(
                    accessory_sn=row["accessory_sn"],
                    accessory_type=AccessoryType(row["accessory_type"]),
                    drone_sn=moved.new_sn,
                    associated_at=event.occurred_at,
                    inherited_from_sn=moved.old_sn,
                ),
                producer=PRODUCER,
                correlation_id=str(moved.plan_id),
                cause=event,
            ),
        )


def _publish_accessory(
    tx: Transaction, event: AccessoryAssociated | AccessoryReleased | AccessoryAssociationRefused
) -> None:
    tx.publish(ACTIVATION_EVENTS, event.payload.drone_sn, event)


async def _lock(tx: Transaction, *keys: str) -> None:
    """Serialise decisions on the same drone or accessory (taken in one order: no deadlock)."""
    for key in sorted(keys):
        await tx.conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", key)


async def bar_after_fraud(event: ClaimsEvent, tx: Transaction) -> None:
    """C10: a reversed case bars the device, its account and the person from renewals."""
    if not isinstance(event, ClaimReversed):
        return
    reversal = event.payload
    owner = await tx.conn.fetchrow(
        "SELECT o.owner_id, o.email, t.sn FROM plan_terms t JOIN owners o USING (owner_id)"
        " WHERE t.plan_id = $1 AND t.term_no = 1",
        reversal.plan_id,
    )
    if owner is None:
        raise LookupError(f"no plan {reversal.plan_id} was bound here")
    await tx.conn.executemany(
        "INSERT INTO barred (kind, value, case_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        [
            ("device", reversal.sn, reversal.case_id),
            # The plan may already live on a replacement unit (F3): that device is barred too.
            ("device", owner["sn"], reversal.case_id),
            ("account", str(owner["owner_id"]), reversal.case_id),
            ("person", owner["email"], reversal.case_id),
        ],
    )


async def _barred(tx: Transaction, sn: str, owner_id: uuid.UUID, email: str) -> bool:
    return bool(
        await tx.conn.fetchval(
            "SELECT 1 FROM barred WHERE (kind, value) IN (('device', $1), ('account', $2),"
            " ('person', $3))",
            sn,
            str(owner_id),
            email,
        )
    )


async def follow_coverage(event: CoverageEvent, tx: Transaction) -> None:
    """F3, X6: the plan follows the replacement's SN, so its renewals are bound to that SN;
    A5: an AG term takes the dates of the insurer's policy."""
    if isinstance(event, TermConfirmed):
        await _follow_policy(tx, event)
    if isinstance(event, PlanInherited):
        await tx.conn.execute(
            "UPDATE plan_terms SET sn = $2 WHERE plan_id = $1",
            event.payload.plan_id,
            event.payload.new_sn,
        )
        await _move_accessories(tx, event)


async def review_video(event: VideoReviewed, tx: Transaction) -> None:
    """A1: the video review decides a pending activation."""
    review = event.payload
    row = await tx.conn.fetchrow(
        "SELECT r.request_id, r.plan_code, r.sn, r.owner_id, r.state"
        " FROM activation_requests r WHERE r.request_id = $1 FOR UPDATE",
        review.request_id,
    )
    if row is None:
        raise UnknownActivationRequestError(f"no activation request {review.request_id!r}")
    if row["state"] != "pending":
        return  # already decided: a second verdict changes nothing
    decision = decide_video_review(approved=review.approved, reviewed_at=review.reviewed_at)
    if isinstance(decision, Activate):
        await _activate(tx, event, row["plan_code"], row["sn"], row["owner_id"], decision)
        state = "activated"
    else:
        await tx.conn.execute(
            "UPDATE plan_codes SET state = 'sold' WHERE plan_code = $1", row["plan_code"]
        )
        _publish_refusal(tx, event, row["request_id"], row["plan_code"], row["sn"], decision)
        state = "refused"
    await tx.conn.execute(
        "UPDATE activation_requests SET state = $2, reason_codes = $3, decided_at = now()"
        " WHERE request_id = $1",
        row["request_id"],
        state,
        [] if isinstance(decision, Activate) else [r.value for r in decision.reasons],
    )


async def _record_request(
    tx: Transaction,
    event: ActivationRequested,
    owner_id: uuid.UUID,
    decision: RequestDecision,
) -> None:
    request = event.payload
    state = {
        Activate: "activated",
        Renew: "activated",
        ActivateAgricultural: "activated",
        RenewAgricultural: "activated",
        AwaitVideoReview: "pending",
        Refuse: "refused",
    }[type(decision)]
    reasons = [r.value for r in decision.reasons] if isinstance(decision, Refuse) else []
    await tx.conn.execute(
        "INSERT INTO activation_requests (request_id, plan_code, sn, owner_id, requested_at,"
        " state, reason_codes) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        request.request_id,
        request.plan_code,
        request.sn,
        owner_id,
        request.requested_at,
        state,
        reasons,
    )


async def _renew(
    tx: Transaction,
    event: ActivationRequested,
    plan_id: uuid.UUID,
    term_no: int,
    renewal: Renew,
) -> None:
    request = event.payload
    code = await tx.conn.fetchrow(
        "UPDATE plan_codes SET state = 'activated' WHERE plan_code = $1"
        " RETURNING sku, purchased_at",
        request.plan_code,
    )
    if code is None:
        raise LookupError(f"plan code {request.plan_code} vanished while it was being renewed")
    sku = consumer_catalogue().plan(code["sku"])
    owner_id = await tx.conn.fetchval(
        "SELECT owner_id FROM plan_terms WHERE plan_id = $1 AND term_no = 1", plan_id
    )
    await _insert_term(
        tx,
        plan_id,
        term_no,
        request.plan_code,
        request.sn,
        owner_id,
        code["sku"],
        renewal.term_start,
        renewal.term_end,
        None,
    )
    tx.publish(
        ACTIVATION_EVENTS,
        request.sn,
        PlanRenewed.new(
            PlanRenewedPayload(
                plan_id=plan_id,
                plan_code=request.plan_code,
                sn=request.sn,
                sku=code["sku"],
                term_no=term_no,
                term_start=renewal.term_start,
                term_end=renewal.term_end,
                replacements=sku.replacements,
                flyaways=sku.flyaways,
                purchased_at=code["purchased_at"],
            ),
            producer=PRODUCER,
            correlation_id=str(plan_id),
            cause=event,
        ),
    )


async def _activate(
    tx: Transaction,
    cause: ActivationRequested | VideoReviewed,
    plan_code: str,
    sn: str,
    owner_id: uuid.UUID,
    decision: Activate,
) -> None:
    code = await tx.conn.fetchrow(
        "UPDATE plan_codes SET state = 'activated' WHERE plan_code = $1"
        " RETURNING sku, model, region, purchased_at",
        plan_code,
    )
    if code is None:
        raise LookupError(f"plan code {plan_code} vanished while it was being activated")
    sku = consumer_catalogue().plan(code["sku"])
    plan_id = uuid.uuid4()
    term_end = add_months(decision.term_start, sku.months)
    await _insert_term(
        tx, plan_id, 1, plan_code, sn, owner_id, code["sku"], decision.term_start, term_end, None
    )
    tx.publish(
        ACTIVATION_EVENTS,
        sn,
        PlanActivated.new(
            PlanActivatedPayload(
                plan_id=plan_id,
                plan_code=plan_code,
                sn=sn,
                model=code["model"],
                sku=code["sku"],
                region=code["region"],
                owner_id=owner_id,
                term_start=decision.term_start,
                term_end=term_end,
                replacements=sku.replacements,
                flyaways=sku.flyaways,
                purchased_at=code["purchased_at"],
            ),
            producer=PRODUCER,
            correlation_id=str(plan_id),
            cause=cause,
        ),
    )


async def _insert_term(
    tx: Transaction,
    plan_id: uuid.UUID,
    term_no: int,
    plan_code: str,
    sn: str,
    owner_id: uuid.UUID,
    sku: str,
    term_start: datetime,
    term_end: datetime,
    plan_year: int | None,  # AG only (P4)
) -> None:
    await tx.conn.execute(
        "INSERT INTO plan_terms (plan_id, term_no, plan_code, sn, owner_id, sku, term_start,"
        " term_end, plan_year) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        plan_id,
        term_no,
        plan_code,
        sn,
        owner_id,
        sku,
        term_start,
        term_end,
        plan_year,
    )


def _publish_refusal(
    tx: Transaction,
    cause: ActivationRequested | VideoReviewed,
    request_id: str,
    plan_code: str,
    sn: str,
    decision: Refuse,
) -> None:
    tx.publish(
        ACTIVATION_EVENTS,
        sn,
        ActivationRefused.new(
            ActivationRefusedPayload(
                request_id=request_id,
                plan_code=plan_code,
                sn=sn,
                reason_codes=[r.value for r in decision.reasons],
            ),
            producer=PRODUCER,
            correlation_id=request_id,
            cause=cause,
        ),
    )
