"""The dashboard's view of the cases and of the terms that ended, from the events of claims,
coverage and fulfilment."""

from __future__ import annotations

from collections.abc import Sequence

from contracts.envelope import Envelope
from services.operations import store
from services.operations.domain import case_fact, term_end
from shared.messaging import Transaction


async def follow_cases_and_terms(events: Sequence[Envelope], tx: Transaction) -> None:
    """What each event says about its case, for the cases the dashboard follows, and each
    term's end (C9)."""
    await store.record_case_facts(
        tx.conn, [fact for event in events if (fact := case_fact(event)) is not None]
    )
    await store.record_term_ends(
        tx.conn, [ended for event in events if (ended := term_end(event)) is not None]
    )
