"""The dashboard's view of the cases, from the events of claims, coverage and fulfilment."""

from __future__ import annotations

from contracts.envelope import Envelope
from services.operations import store
from services.operations.domain import case_fact
from shared.messaging import Transaction


async def follow_case(event: Envelope, tx: Transaction) -> None:
    """What the event says about its case, if it is one the dashboard follows."""
    fact = case_fact(event)
    if fact is not None:
        await store.record_case_fact(tx.conn, fact)
