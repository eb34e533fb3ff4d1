"""Activation's batch handlers: each loads its batch's context, lets the rules decide the events
in the order they came, saves the final state of what they touched and emits what they decided.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from contracts.accessories import AccessoryActivated
from contracts.claims import ClaimReversed, ClaimsEvent
from contracts.coverage import CoverageEvent, PlanInherited, TermConfirmed, TermConfirmedPayload
from contracts.envelope import Envelope
from contracts.upstream import ActivationRequested, DeviceActivated, PlanOrderPlaced, VideoReviewed
from services.activation import store
from services.activation.domain import Outgoing
from services.activation.domain_accessories import (
    Accessory,
    AccessoryActivationRecord,
    Fittings,
    activate_accessory,
    move_with_plan,
)
from services.activation.domain_binding import (
    Answer,
    Binding,
    BoundTerm,
    Decided,
    InconsistentPlanOrderError,
    SoldCode,
    bars_after_fraud,
    catalogues,
    confirm_term,
    copy_of,
    decide_request,
    decide_review,
    first_activations,
    missing_for,
    move_plan,
    sell_code,
)
from services.activation.waiting import (
    AWAITED,
    DEVICE_OF_REQUEST,
    DRONE_OF_ACCESSORY,
    EARLIER_REQUEST_OF_DEVICE,
    OF_REQUEST,
    ORDER_OF_REQUEST,
    PLAN_OF_RENEWAL,
    REQUEST_OF_VIDEO_REVIEW,
)
from shared.messaging import EventRejectedError, Transaction
from shared.waiting import Dependency

if TYPE_CHECKING:
    from shared.db import Connection


class UnknownActivationRequestError(LookupError):
    pass


class UnknownPlanError(LookupError):
    pass


async def on_plan_orders(events: Sequence[PlanOrderPlaced], tx: Transaction) -> None:
    """D2, P3, P4, P6: record the codes sold; an order retried upstream changes nothing."""
    books = catalogues()
    codes: list[SoldCode] = []
    for event in events:
        try:
            codes.append(sell_code(event.payload, books))
        except (InconsistentPlanOrderError, LookupError) as error:
            raise EventRejectedError(event, error) from error
    await store.record_plan_codes(tx.conn, codes)
    _resolve(tx, ORDER_OF_REQUEST, {code.code for code in codes})


async def on_device_activations(events: Sequence[DeviceActivated], tx: Transaction) -> None:
    """A1: a device's first activation starts its binding window; later ones do not move it."""
    devices = first_activations([event.payload for event in events])
    await store.record_devices(tx.conn, devices)
    for dependency in (DEVICE_OF_REQUEST, DRONE_OF_ACCESSORY):
        _resolve(tx, dependency, {device.sn for device in devices})


async def on_activation_requests(events: Sequence[ActivationRequested], tx: Transaction) -> None:
    """A1-A4, P4, C10: bind each request's term, or wait for its video, or refuse it. A request
    read before its order, its device or the plan it renews waits for it, and later requests on
    its device wait behind it; a request sent again gets a copy of the answer it got."""
    request_ids = {event.payload.request_id for event in events}
    answers = await store.answers(tx.conn, request_ids)
    # Decided before answers were kept: nothing to copy, and never decided twice.
    unanswered = await store.known_requests(tx.conn, request_ids - set(answers))
    new = [event for event in events if event.payload.request_id not in {*answers, *unanswered}]
    owners = await store.save_owners(tx.conn, [event.payload.owner for event in new])
    binding = await _binding(tx.conn, new, owners.values())
    held = await store.sns_with_waiting_requests(
        tx.conn, (event.payload.sn for event in new), (dependency.name for dependency in OF_REQUEST)
    )
    books = catalogues()
    decisions: list[Decided] = []
    for event in events:
        asked = event.payload
        if asked.request_id in answers:
            _emit(tx, event, [copy_of(answers[asked.request_id])])
        elif asked.request_id not in unanswered and not _waits(tx, event, binding, held):
            owner_id = owners[asked.owner.email.lower()]
            decided = decide_request(asked, owner_id, binding, books, uuid.uuid4())
            binding.record(decided)
            decisions.append(decided)
            answers[asked.request_id] = _answer(tx, event, decided)
    await store.record_requests(tx.conn, [decided.request for decided in decisions])
    await _save_bindings(tx.conn, decisions)
    await _save_answers(tx, decisions, answers)


def _waits(tx: Transaction, event: ActivationRequested, binding: Binding, held: set[str]) -> bool:
    """Keep a request behind an earlier one on its device, or until what it misses is read;
    `held` gains its device unless it waits for a plan. False once its grace is over: it is
    decided as it stands."""
    asked = event.payload
    if asked.sn in held and tx.wait(event, EARLIER_REQUEST_OF_DEVICE, asked.sn):
        return True
    missing = missing_for(asked, binding)
    if missing is None or not tx.wait(event, AWAITED[missing[0]], missing[1]):
        return False
    if AWAITED[missing[0]] in OF_REQUEST:
        held.add(asked.sn)
    return True


def _answer(tx: Transaction, cause: Envelope, decided: Decided) -> Answer:
    sent = tx.emit(
        decided.event.payload,
        key=decided.event.key,
        cause=cause,
        correlation_id=decided.event.correlation_id,
    )
    return Answer(decided.request.request_id, sent.event_id, decided.event)


async def _save_answers(
    tx: Transaction, decisions: Sequence[Decided], answers: dict[str, Answer]
) -> None:
    """Each decided request's answer, kept for its copies; then what the decisions satisfy: the
    requests behind them and their reviews, and what waits for a plan on a device."""
    await store.save_answers(tx.conn, [answers[d.request.request_id] for d in decisions])
    _resolve(tx, EARLIER_REQUEST_OF_DEVICE, {decided.request.sn for decided in decisions})
    _resolve(tx, REQUEST_OF_VIDEO_REVIEW, {decided.request.request_id for decided in decisions})
    bound = {term.sn for decided in decisions for term in decided.terms}
    for dependency in (PLAN_OF_RENEWAL, DRONE_OF_ACCESSORY):
        _resolve(tx, dependency, bound)


def _resolve(tx: Transaction, dependency: Dependency, keys: set[str]) -> None:
    if keys:
        tx.resolve(dependency, keys)


async def _binding(
    conn: Connection, requests: Sequence[ActivationRequested], owner_ids: Iterable[uuid.UUID]
) -> Binding:
    sns = [event.payload.sn for event in requests]
    return Binding(
        codes=await store.lock_codes(conn, (event.payload.plan_code for event in requests)),
        devices=await store.devices(conn, sns),
        plans=await store.plans_on(conn, sns),
        barred=await store.barred(
            conn,
            sns=sns,
            owner_ids=owner_ids,
            emails=(event.payload.owner.email.lower() for event in requests),
        ),
    )


async def _save_bindings(conn: Connection, decisions: Sequence[Decided]) -> None:
    """The last state of each code and term the decisions touched."""
    codes: dict[str, SoldCode] = {}
    terms: dict[tuple[uuid.UUID, int], BoundTerm] = {}
    for decided in decisions:
        if decided.code is not None:
            codes[decided.code.code] = decided.code
        terms.update(((term.plan_id, term.term_no), term) for term in decided.terms)
    await store.save_code_states(conn, codes.values())
    await store.save_terms(conn, terms.values())


async def on_video_reviews(events: Sequence[VideoReviewed], tx: Transaction) -> None:
    """A1: the video review decides a pending request; a second verdict changes nothing. A
    review read before its request waits for it."""
    requests = await store.lock_requests(tx.conn, (event.payload.request_id for event in events))
    codes = await store.lock_codes(tx.conn, (request.plan_code for request in requests.values()))
    books = catalogues()
    decisions: list[Decided] = []
    answers: dict[str, Answer] = {}
    for event in events:
        review = event.payload
        request = requests.get(review.request_id)
        if request is None and tx.wait(event, REQUEST_OF_VIDEO_REVIEW, review.request_id):
            continue
        if request is None:
            error = UnknownActivationRequestError(f"no activation request {review.request_id!r}")
            raise EventRejectedError(event, error)
        decided = decide_review(
            request,
            codes[request.plan_code],
            approved=review.approved,
            reviewed_at=review.reviewed_at,
            new_plan_id=uuid.uuid4(),
            books=books,
        )
        if decided is None:
            continue
        requests[request.request_id] = decided.request
        decisions.append(decided)
        answers[request.request_id] = _answer(tx, event, decided)
    await store.save_request_decisions(tx.conn, [decided.request for decided in decisions])
    await _save_bindings(tx.conn, decisions)
    await _save_answers(tx, decisions, answers)


async def on_coverage_events(events: Sequence[CoverageEvent], tx: Transaction) -> None:
    """A5: an AG term takes the dates of the insurer's policy; F3, X6: the plan follows the
    replacement's SN, so its renewals are bound to that SN, and so do the accessories it covers."""
    confirmed = [event.payload for event in events if isinstance(event, TermConfirmed)]
    inherited = [event for event in events if isinstance(event, PlanInherited)]
    if not confirmed and not inherited:
        return  # most coverage events are the ledger's own business
    drones = {sn for event in inherited for sn in (event.payload.old_sn, event.payload.new_sn)}
    await store.lock(tx.conn, (f"drone:{sn}" for sn in drones))
    plan_ids = {policy.plan_id for policy in confirmed} | {e.payload.plan_id for e in inherited}
    terms = {(t.plan_id, t.term_no): t for t in await store.lock_terms_of(tx.conn, plan_ids)}
    fittings = Fittings(
        await store.lock_accessories(tx.conn, accessory_sns=(), drone_sns=drones), {}
    )
    touched = _follow_policies(confirmed, terms)
    moved: dict[str, Accessory] = {}
    for event in inherited:
        of_plan = [term for term in terms.values() if term.plan_id == event.payload.plan_id]
        for term in move_plan(of_plan, event.payload.new_sn):
            terms[(term.plan_id, term.term_no)] = touched[(term.plan_id, term.term_no)] = term
        accessories = move_with_plan(event.payload, event.occurred_at, fittings)
        fittings.record(accessories)
        moved.update((accessory.accessory_sn, accessory) for accessory in accessories.accessories)
        _emit(tx, event, accessories.events)
    await store.save_terms(tx.conn, touched.values())
    await store.save_accessories(tx.conn, moved.values())
    for dependency in (PLAN_OF_RENEWAL, DRONE_OF_ACCESSORY):
        _resolve(tx, dependency, {event.payload.new_sn for event in inherited})


def _follow_policies(
    confirmed: Sequence[TermConfirmedPayload], terms: dict[tuple[uuid.UUID, int], BoundTerm]
) -> dict[tuple[uuid.UUID, int], BoundTerm]:
    """A5: the confirmed terms, in `terms` too; a policy of a plan not bound here is ignored."""
    touched: dict[tuple[uuid.UUID, int], BoundTerm] = {}
    for policy in confirmed:
        held = terms.get((policy.plan_id, policy.term_no))
        if held is not None:
            term = confirm_term(held, start=policy.term_start, end=policy.term_end)
            terms[(term.plan_id, term.term_no)] = touched[(term.plan_id, term.term_no)] = term
    return touched


async def on_claims_events(events: Sequence[ClaimsEvent], tx: Transaction) -> None:
    """C10: a reversed case bars the device, its account and the person from renewals."""
    reversals = [event for event in events if isinstance(event, ClaimReversed)]
    if not reversals:
        return
    holders = await store.plan_holders(tx.conn, (event.payload.plan_id for event in reversals))
    bars = []
    for event in reversals:
        holder = holders.get(event.payload.plan_id)
        if holder is None:
            error = UnknownPlanError(f"no plan {event.payload.plan_id} was bound here")
            raise EventRejectedError(event, error)
        bars += bars_after_fraud(event.payload, holder)
    await store.bar(tx.conn, bars)


async def on_accessory_activations(events: Sequence[AccessoryActivated], tx: Transaction) -> None:
    """G1-G3: associate each accessory with the drone it was activated on, or say why not; one
    on a drone activation does not know yet waits for it."""
    activations = [event.payload for event in events]
    drones = [activation.drone_sn for activation in activations]
    accessory_sns = [activation.accessory_sn for activation in activations]
    await store.lock(
        tx.conn, [f"drone:{sn}" for sn in drones] + [f"accessory:{sn}" for sn in accessory_sns]
    )
    fittings = Fittings(
        await store.lock_accessories(tx.conn, accessory_sns=accessory_sns, drone_sns=drones),
        await store.drone_models(tx.conn, drones),
        await store.seen_accessory_activations(
            tx.conn, [(a.accessory_sn, a.drone_sn, a.activated_at) for a in activations]
        ),
    )
    models = catalogues().agricultural.models
    records: list[AccessoryActivationRecord] = []
    touched: dict[str, Accessory] = {}
    for event in events:
        drone_sn = event.payload.drone_sn
        if drone_sn not in fittings.drone_models and tx.wait(event, DRONE_OF_ACCESSORY, drone_sn):
            continue
        changed = activate_accessory(event.payload, fittings, models)
        if changed is None or changed.activation is None:
            continue
        fittings.record(changed)
        records.append(changed.activation)
        touched.update((accessory.accessory_sn, accessory) for accessory in changed.accessories)
        _emit(tx, event, changed.events)
    await store.record_accessory_activations(tx.conn, records)
    await store.save_accessories(tx.conn, touched.values())


def _emit(tx: Transaction, cause: Envelope, outgoing: Iterable[Outgoing]) -> None:
    for out in outgoing:
        tx.emit(out.payload, key=out.key, cause=cause, correlation_id=out.correlation_id)
