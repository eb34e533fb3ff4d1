"""Activation's adapters: turn events into calls of the pure rules and rows of its database."""

from __future__ import annotations

import uuid

from contracts.activation import (
    ActivationPending,
    ActivationPendingPayload,
    ActivationRefused,
    ActivationRefusedPayload,
    PlanActivated,
    PlanActivatedPayload,
    PlanRenewed,
    PlanRenewedPayload,
)
from contracts.claims import ClaimReversed, ClaimsEvent
from contracts.coverage import CoverageEvent, PlanInherited
from contracts.topics import ACTIVATION_EVENTS
from contracts.upstream import ActivationRequested, DeviceActivated, PlanOrderPlaced, VideoReviewed
from services.activation.domain import (
    Activate,
    AwaitVideoReview,
    CodeState,
    PlanCode,
    Refuse,
    Renew,
    Term,
    add_months,
    decide_activation,
    decide_renewal,
    decide_video_review,
)
from shared.catalogue import consumer_catalogue
from shared.messaging import Transaction

PRODUCER = "activation"


class UnknownActivationRequestError(LookupError):
    pass


async def record_plan_order(event: PlanOrderPlaced, tx: Transaction) -> None:
    """A sold plan code; an order retried upstream with a new event id changes nothing."""
    order = event.payload
    consumer_catalogue().plan(order.sku)  # refuse an order for a SKU we do not sell
    await tx.conn.execute(
        "INSERT INTO plan_codes (plan_code, order_id, sku, model, region, price_amount,"
        " price_currency, purchased_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (plan_code) DO NOTHING",
        order.plan_code,
        order.order_id,
        order.sku,
        order.model,
        order.region,
        order.price.amount,
        order.price.currency,
        order.purchased_at,
    )


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
        "SELECT plan_code, sku, model, state FROM plan_codes WHERE plan_code = $1 FOR UPDATE",
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
        "SELECT t.plan_id, t.term_no, t.term_start, t.term_end, t.sku, c.model"
        " FROM plan_terms t JOIN plan_codes c USING (plan_code) WHERE t.sn = $1"
        " ORDER BY t.term_no",
        request.sn,
    )
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


async def bar_after_fraud(event: ClaimsEvent, tx: Transaction) -> None:
    """C10: a reversed case bars the device, its account and the person from renewals."""
    if not isinstance(event, ClaimReversed):
        return
    reversal = event.payload
    owner = await tx.conn.fetchrow(
        "SELECT o.owner_id, o.email FROM plan_terms t JOIN owners o USING (owner_id)"
        " WHERE t.plan_id = $1 AND t.term_no = 1",
        reversal.plan_id,
    )
    if owner is None:
        raise LookupError(f"no plan {reversal.plan_id} was bound here")
    await tx.conn.executemany(
        "INSERT INTO barred (kind, value, case_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        [
            ("device", reversal.sn, reversal.case_id),
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


async def follow_inheritance(event: CoverageEvent, tx: Transaction) -> None:
    """F3, X6: the plan follows the replacement's SN, so its renewals are bound to that SN."""
    if isinstance(event, PlanInherited):
        await tx.conn.execute(
            "UPDATE plan_terms SET sn = $2 WHERE plan_id = $1",
            event.payload.plan_id,
            event.payload.new_sn,
        )


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
    decision: Activate | AwaitVideoReview | Renew | Refuse,
) -> None:
    request = event.payload
    state = {
        Activate: "activated",
        Renew: "activated",
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
    await tx.conn.execute(
        "INSERT INTO plan_terms (plan_id, term_no, plan_code, sn, owner_id, sku, term_start,"
        " term_end) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        plan_id,
        term_no,
        request.plan_code,
        request.sn,
        owner_id,
        code["sku"],
        renewal.term_start,
        renewal.term_end,
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
    await tx.conn.execute(
        "INSERT INTO plan_terms (plan_id, term_no, plan_code, sn, owner_id, sku, term_start,"
        " term_end) VALUES ($1, 1, $2, $3, $4, $5, $6, $7)",
        plan_id,
        plan_code,
        sn,
        owner_id,
        code["sku"],
        decision.term_start,
        term_end,
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
