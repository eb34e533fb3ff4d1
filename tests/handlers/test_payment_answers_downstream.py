"""Fulfilment's answer to a payment (PaymentRecorded, F1) and a copy of it (a payment sent again)
are read by every consumer of fulfilment.events.v1 without a refusal, and change nothing there:
the ledger, the lookup's read model and the dashboard's cases stay as they were."""

from __future__ import annotations

from typing import Any

from contracts import topics
from contracts.fulfilment import PaymentRecorded, PaymentRecordedPayload
from services.coverage.app import service as coverage
from services.lookup.app import service as lookup
from services.operations.app import service as operations
from shared.runtime import Service
from tests.conftest import Stack
from tests.handlers.support import ServiceHarness
from tests.handlers.test_coverage import FEE, activation, activations, claims, decision
from tests.handlers.test_lookup import Delivery, Plan

BOOKKEEPING = ("inbox", "outbox", "waiting_events", "schema_migrations")


def answer_and_copy(case_id: str, plan_id: Any) -> list[Delivery]:
    """The first answer of a payment, then the copy a payment sent again is answered with."""
    first = PaymentRecorded.new(
        PaymentRecordedPayload(
            payment_id="PAY-1",
            case_id=case_id,
            plan_id=plan_id,
            amount=FEE,
            paid_for="replacement_fee",
            counts_towards_fee=True,
        ),
        producer="fulfilment",
        correlation_id=case_id,
    )
    copy = PaymentRecorded.new(
        first.payload.model_copy(update={"copy_of": first.event_id}),
        producer="fulfilment",
        correlation_id=case_id,
    )
    return [(topics.FULFILMENT_EVENTS, first), (topics.FULFILMENT_EVENTS, copy)]


async def state(harness: ServiceHarness) -> dict[str, list[str]]:
    """Every row of every domain table, in a stable order."""
    tables = await harness.rows(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        " AND table_name <> ALL($1::text[]) ORDER BY table_name",
        list(BOOKKEEPING),
    )
    return {
        table: sorted(repr(tuple(row)) for row in await harness.rows(f"SELECT * FROM {table}"))
        for (table,) in tables
    }


async def changes_nothing(
    stack: Stack, service: Service, before: list[Delivery], answers: list[Delivery]
) -> None:
    async with ServiceHarness.open(service, stack.database_url) as harness:
        earlier = await harness.deliver(*before)
        assert earlier.rejected == {}
        seen = await state(harness)

        handled = await harness.deliver(*answers)

        assert (handled.rejected, handled.emitted) == ({}, [])
        assert await state(harness) == seen
        [(read,)] = await harness.rows(
            "SELECT count(*) FROM inbox WHERE event_id = ANY($1::uuid[])",
            [event.event_id for _, event in answers],
        )
        assert read == len(answers)


async def test_f1_the_ledger_is_untouched_by_a_payments_answer_and_its_copy(stack: Stack) -> None:
    plan = activation()
    decided = decision(plan)
    before = [activations(plan), claims(decided)]
    answers = answer_and_copy(decided.payload.case_id, plan.payload.plan_id)

    await changes_nothing(stack, coverage, before, answers)


async def test_x5_the_lookup_shows_nothing_more_for_a_payments_answer_and_its_copy(
    stack: Stack,
) -> None:
    plan = Plan()
    answers = answer_and_copy(plan.case_id, plan.plan_id)

    await changes_nothing(stack, lookup, plan.life(), answers)


async def test_the_dashboard_keeps_its_cases_as_they_were_for_a_payments_answer_and_its_copy(
    stack: Stack,
) -> None:
    plan = Plan()
    before = [d for d in plan.life() if d[0].name in operations.consumed]
    answers = answer_and_copy(plan.case_id, None)

    await changes_nothing(stack, operations, before, answers)
