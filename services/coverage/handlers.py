"""Coverage's batch handlers: load the batch's plans under their locks, decide each event in the
order it came against them (domain/), save what changed (store.py), emit the answers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import TypeVar

from contracts.activation import ActivationEvent
from contracts.claims import ClaimsEvent
from contracts.envelope import Envelope
from contracts.fulfilment import FulfilmentEvent
from contracts.insurer import InsurerResponseEvent
from services.coverage import store
from services.coverage.domain import decisions
from services.coverage.domain.decisions import LedgerEvent
from services.coverage.domain.plan import Decision, InapplicableEventError, PlanBook
from shared.messaging import EventRejectedError, Transaction

Event = TypeVar("Event", bound=LedgerEvent)


async def on_activation_event(events: Sequence[ActivationEvent], tx: Transaction) -> None:
    """P1: an activation opens the ledger; A3, A4: a renewal adds a term."""
    await _decide_in_order(events, tx, decisions.decide_activation, datetime.now(UTC))


async def on_claims_event(events: Sequence[ClaimsEvent], tx: Transaction) -> None:
    """C5-C9: a decision takes a replacement or a repair off its plan; C10: fraud ends it."""
    await _decide_in_order(events, tx, decisions.decide_claim, datetime.now(UTC))


async def on_fulfilment_event(events: Sequence[FulfilmentEvent], tx: Transaction) -> None:
    """F3: a dispatched replacement unit inherits the plan."""
    await _decide_in_order(events, tx, decisions.decide_fulfilment, datetime.now(UTC))


async def on_insurer_response(events: Sequence[InsurerResponseEvent], tx: Transaction) -> None:
    """A5: the insurer's policy sets its term's dates."""
    at = datetime.now(UTC)
    await _decide_in_order(events, tx, partial(decisions.decide_insurer_response, at=at), at)


# Plans whose ended terms one pass of the clock announces: a short transaction, and the next
# pass follows at once while there are more.
TERM_ENDS_PER_PASS = 100


async def announce_term_ends(tx: Transaction, now: datetime) -> int:
    """C9, on the ledger's clock: each term whose end has come by `now`, announced once
    (TermEnded), however long the ledger was down over it and however many instances run.
    Returns how many were announced."""
    due = await store.plans_with_ended_terms(tx.conn, now, TERM_ENDS_PER_PASS)
    book = await store.load_book(tx.conn, due)
    announced = [decisions.end_terms(plan, now) for plan in book.loaded.values()]
    for decision in announced:
        book.record(decision)
    await store.save_book(tx.conn, book, now)
    for decision in announced:
        _emit(tx, decision, None, now)
    return sum(len(decision.emits) for decision in announced)


async def _decide_in_order(
    events: Sequence[Event],
    tx: Transaction,
    decide: Callable[[PlanBook, Event], Decision],
    at: datetime,
) -> None:
    """Each event decided against the book in the order it came; the rows saved and the events
    emitted all bear `at`, so that a month's report counting either ties out to the other."""
    book = await store.load_book(
        tx.conn, map(decisions.plan_concerned, events), decisions.cases_settling(events)
    )
    decided = []
    for event in events:
        try:
            decision = decide(book, event)
        except InapplicableEventError as error:
            raise EventRejectedError(event, error) from error
        book.record(decision)
        decided.append((event, decision))
    await store.save_book(tx.conn, book, at)
    for event, decision in decided:
        _emit(tx, decision, event, at)


def _emit(tx: Transaction, decision: Decision, cause: Envelope | None, at: datetime) -> None:
    """The decision's events, bearing `at`, the instant the rows they report were saved with."""
    for out in decision.emits:
        tx.emit(
            out.payload,
            key=str(out.plan_id),
            cause=cause,
            correlation_id=out.correlation_id,
            occurred_at=at,
        )
