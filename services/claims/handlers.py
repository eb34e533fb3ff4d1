"""Claims' batch handlers: for each topic, load the batch's context, decide each event in order
against it, save what changed and emit what the decisions carry."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from contracts.activation import AccessoryAssociated, AccessoryReleased, ActivationEvent
from contracts.coverage import CoverageEvent
from contracts.envelope import Envelope
from contracts.insurer import InsurerClaimAnswered, InsurerResponseEvent, LiabilityClaimAnswered
from contracts.liability import LiabilityIncidentReported
from contracts.upstream import AssessmentReported, RepairEvent, ReviewConcluded
from services.claims import store
from services.claims.domain import Outgoing
from services.claims.domain_agricultural import follow_accessory_event
from services.claims.domain_cases import (
    Case,
    CaseDecided,
    CaseFile,
    answer_insurer_claim,
    decide_repair_event,
    finalised,
    ledger_case_id,
    missing_for,
    plan_after_review,
    record_ledger_answer,
    recorded_answers,
    repair_event_sn,
    review_case,
)
from services.claims.domain_insurers import answer_liability_claim, decide_liability_incident
from services.claims.domain_plans import project_coverage, sns_with_plans, term_at
from services.claims.waiting import (
    ACCESSORY_OF_ASSESSMENT,
    AWAITED,
    PLAN_OF_ASSESSMENT,
    PLAN_OF_INCIDENT,
)
from shared.messaging import EventRejectedError, Transaction


@contextmanager
def deciding(event: Envelope) -> Iterator[None]:
    """A rule that cannot decide an event rejects that event alone (it is dead-lettered)."""
    try:
        yield
    except Exception as error:
        raise EventRejectedError(event, error) from error


def emit(tx: Transaction, cause: Envelope, outgoing: Iterable[Outgoing]) -> list[Envelope]:
    return [
        tx.emit(
            out.payload,
            key=out.key,
            cause=cause,
            correlation_id=out.correlation_id,
            envelope=out.envelope,
        )
        for out in outgoing
    ]


def answer(tx: Transaction, cause: Envelope, step: CaseDecided) -> Case:
    """Emit what a step of a case emits, then its final outcome if the step settled it; the case
    keeps the ids of both, for the answers that name them."""
    case = recorded_answers(step.case, emit(tx, cause, step.outgoing))
    final = finalised(case)
    return case if final is None else recorded_answers(case, emit(tx, cause, (final,)))


async def on_repair_event(events: Sequence[RepairEvent], tx: Transaction) -> None:
    """C1-C10, X2-X4, G4: decide each assessment by its plan's family, against what the plan has
    left once the approvals the ledger has not answered are reserved; X3: an express unit's
    arrival or absence decides its pre-authorisation; a case sent again is answered again. A
    new case on an SN without a plan, or on an accessory not seen yet, waits for it."""
    sns = {sn for event in events if (sn := repair_event_sn(event)) is not None}
    accessory_sns = {
        event.payload.accessory_sn
        for event in events
        if isinstance(event, AssessmentReported) and event.payload.accessory_sn
    }
    plans = await store.lock_plans_on(tx.conn, sns)
    plan_ids = {found.plan.plan_id for terms in plans.values() for found in terms}
    file = CaseFile(
        await store.lock_cases(tx.conn, {event.payload.case_id for event in events}),
        plans,
        await store.accessories(tx.conn, accessory_sns),
        await store.reservations(tx.conn, plan_ids),
    )
    for event in events:
        with deciding(event):
            missing = missing_for(event, file)
            if missing is not None and tx.wait(event, AWAITED[missing[0]], missing[1]):
                continue
            decided = decide_repair_event(event, file)
            if decided is not None:
                file.record(answer(tx, event, decided))
    await store.save_cases(tx.conn, file.cases)


async def on_coverage_event(events: Sequence[CoverageEvent], tx: Transaction) -> None:
    """Keep claims' view of each plan in step with the ledger (A3-A5, C10, F3), and record the
    ledger's answer on each case (C5, C7), which ends its reservation and settles its final
    outcome, claiming an AG repair's base quota (C8)."""
    plan_ids = {event.payload.plan_id for event in events}
    plans = await store.lock_plans(tx.conn, plan_ids)
    terms = await store.plan_terms(tx.conn, plan_ids)
    case_ids = {case_id for event in events if (case_id := ledger_case_id(event)) is not None}
    cases = await store.lock_cases(tx.conn, case_ids)
    for event in events:
        with deciding(event):
            projected = project_coverage(event, plans.now, terms.now)
            plans.put(*projected.plans)
            terms.put(*projected.terms)
            decided = record_ledger_answer(event, cases.now, terms.now)
            if decided is not None:
                cases.put(answer(tx, event, decided))
    await store.save_plans(tx.conn, plans)
    await store.save_terms(tx.conn, terms)
    await store.save_cases(tx.conn, cases)
    if sns := sns_with_plans(plans.now, plans.touched(), terms.touched()):
        tx.resolve(PLAN_OF_ASSESSMENT, sns)
        tx.resolve(PLAN_OF_INCIDENT, sns)


async def on_review(events: Sequence[ReviewConcluded], tx: Transaction) -> None:
    """C10: a reviewer upholds a decision, or finds fraud and reverses the case, which releases
    its reservation and ends its plan. Plans are locked before cases, as everywhere."""
    case_ids = {event.payload.case_id for event in events}
    plans = await store.lock_plans(tx.conn, await store.plans_of_cases(tx.conn, case_ids))
    cases = await store.lock_cases(tx.conn, case_ids)
    for event in events:
        with deciding(event):
            decided = review_case(cases.get(event.payload.case_id), event.payload)
        if decided is not None:
            cases.put(decided.case)
            plans.put(*plan_after_review(decided, plans.now))
            emit(tx, event, decided.outgoing)
    await store.save_plans(tx.conn, plans)
    await store.save_cases(tx.conn, cases)


async def on_insurer_response(events: Sequence[InsurerResponseEvent], tx: Transaction) -> None:
    """C8, L4: follow the insurers' answers on the cases and incidents they answer.
    PolicyConfirmed reaches claims through the ledger's TermConfirmed (A5)."""
    case_answers = [event for event in events if isinstance(event, InsurerClaimAnswered)]
    incident_answers = [event for event in events if isinstance(event, LiabilityClaimAnswered)]
    cases = await store.lock_cases(tx.conn, {event.payload.case_id for event in case_answers})
    claims = await store.lock_liability_claims(
        tx.conn, {event.payload.incident_id for event in incident_answers}
    )
    for answer in case_answers:
        with deciding(answer):
            decided = answer_insurer_claim(cases.get(answer.payload.case_id), answer.payload)
        if decided is not None:
            cases.put(decided.case)
    for liability in incident_answers:
        with deciding(liability):
            claim = answer_liability_claim(
                claims.get(liability.payload.incident_id), liability.payload
            )
        if claim is not None:
            claims.put(claim)
    await store.save_cases(tx.conn, cases)
    await store.save_liability_claims(tx.conn, claims)


async def on_liability_incident(
    events: Sequence[LiabilityIncidentReported], tx: Transaction
) -> None:
    """L1-L4, P6: route each incident to the model's insurer with its limits, or refuse it; an
    incident reported again is routed once. One on a drone without a plan waits for it."""
    sns = {event.payload.drone_sn for event in events}
    seen = await store.known_incidents(tx.conn, {event.payload.incident_id for event in events})
    plans = await store.plans_on(tx.conn, sns)
    paid = await store.liability_paid(tx.conn, sns)
    recorded = []
    for event in events:
        incident = event.payload
        if incident.incident_id in seen:
            continue
        with deciding(event):
            found = term_at(plans.get(incident.drone_sn, []), incident.occurred_at)
            if found is None and tx.wait(event, PLAN_OF_INCIDENT, incident.drone_sn):
                continue
            decided = decide_liability_incident(incident, found, paid)
        seen.add(incident.incident_id)
        recorded.append(decided.incident)
        emit(tx, event, (decided.outgoing,))
    await store.record_incidents(tx.conn, recorded)


async def on_activation_event(events: Sequence[ActivationEvent], tx: Transaction) -> None:
    """G4: which drone each accessory is associated with, as activation decided it (G1-G3);
    an assessment on an accessory waits for it."""
    moves = [e for e in events if isinstance(e, AccessoryAssociated | AccessoryReleased)]
    accessory_sns = {e.payload.accessory_sn for e in moves} | {
        e.payload.replaced_accessory_sn
        for e in moves
        if isinstance(e, AccessoryAssociated) and e.payload.replaced_accessory_sn
    }
    if not accessory_sns:
        return
    found = await store.lock_accessories(tx.conn, accessory_sns)
    for event in moves:
        found.put(*follow_accessory_event(event, found.now))
    await store.save_accessories(tx.conn, found)
    if saved := {accessory.accessory_sn for accessory in found.touched()}:
        tx.resolve(ACCESSORY_OF_ASSESSMENT, saved)
