"""Waiting instead of refusing (shared.waiting), on a real database: an activation request read
before its plan order is kept in the batch's transaction, decided when the order arrives, and
answered as it stands once its grace period is over."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from contracts import topics
from contracts.upstream import ActivationRequested, PlanOrderPlaced
from contracts.waiting import EventWaiting, WaitEnd, WaitOver
from shared.messaging import EventRejectedError, Transaction, hand_back_due
from shared.runtime import Service
from shared.waiting import Dependency
from simulation import factories
from tests.conftest import Stack
from tests.handlers.support import ServiceHarness

ORDER = Dependency(
    "order-of-request",
    "an activation request",
    "its plan order",
    grace=timedelta(minutes=15),
)
service = Service(
    "waiting",
    migrations=Path(__file__).parent / "waiting_migrations",
    owns=(),
    description="The runtime's tests: requests that need their plan order",
    waits_for=(ORDER,),
)
REFUSED_ON_SIGHT = "NOT-A-PLAN"  # a plan code the handler rejects when it is handed back


@service.consumes(topics.PLAN_ORDERS)
async def on_order(events: Sequence[PlanOrderPlaced], tx: Transaction) -> None:
    codes = [event.payload.plan_code for event in events]
    await tx.conn.execute(
        "INSERT INTO orders SELECT unnest($1::text[]) ON CONFLICT DO NOTHING", codes
    )
    tx.resolve(ORDER, codes)


@service.consumes(topics.ACTIVATION_REQUESTS)
async def on_request(events: Sequence[ActivationRequested], tx: Transaction) -> None:
    codes = {event.payload.plan_code for event in events}
    known = {
        row["plan_code"]
        for row in await tx.conn.fetch(
            "SELECT plan_code FROM orders WHERE plan_code = ANY($1)", list(codes)
        )
    }
    for event in events:
        code = event.payload.plan_code
        if code in known:
            if code.startswith(REFUSED_ON_SIGHT):
                raise EventRejectedError(event, ValueError("a plan code this test refuses"))
            answer = "bound"
        elif tx.wait(event, ORDER, code):
            continue
        else:
            answer = "PLAN_CODE_UNKNOWN"
        await tx.conn.execute(
            "INSERT INTO answers VALUES ($1, $2, $3)", event.event_id, code, answer
        )


@pytest.fixture
async def harness(stack: Stack) -> AsyncIterator[ServiceHarness]:
    async with ServiceHarness.open(service, stack.database_url) as opened:
        opened.grace = timedelta(minutes=15)
        yield opened


def order(code: str) -> PlanOrderPlaced:
    return factories.plan_order(code, "care-refresh-1y", "mini-3")


def request(code: str, sn: str = "1581F000000001") -> ActivationRequested:
    return factories.activation_request(code, sn)


async def answers(harness: ServiceHarness) -> dict[str, str]:
    return {
        row["plan_code"]: row["answer"]
        for row in await harness.rows("SELECT plan_code, answer FROM answers")
    }


async def test_a_request_before_its_order_waits_and_is_decided_when_the_order_comes(
    harness: ServiceHarness,
) -> None:
    early = request("CODE0000001")
    kept = await harness.deliver((topics.ACTIVATION_REQUESTS, early))
    assert await answers(harness) == {}
    waiting = await harness.rows("SELECT event_id, dependency, key FROM waiting_events")
    assert [(r["event_id"], r["dependency"], r["key"]) for r in waiting] == [
        (early.event_id, "order-of-request", "CODE0000001")
    ]
    [announced] = kept.events(EventWaiting)
    assert announced.payload.waiting_event_id == early.event_id
    assert announced.causation_id == early.event_id

    decided = await harness.deliver((topics.PLAN_ORDERS, order("CODE0000001")))
    assert await answers(harness) == {"CODE0000001": "bound"}
    assert await harness.rows("SELECT * FROM waiting_events") == []
    [over] = decided.events(WaitOver)
    assert (over.payload.waiting_event_id, over.payload.ended) == (early.event_id, WaitEnd.RESOLVED)


async def test_a_request_and_its_order_in_one_batch_request_first(
    harness: ServiceHarness,
) -> None:
    handled = await harness.deliver(
        (topics.ACTIVATION_REQUESTS, request("CODE0000002")),
        (topics.PLAN_ORDERS, order("CODE0000002")),
    )
    assert await answers(harness) == {"CODE0000002": "bound"}
    assert await harness.rows("SELECT * FROM waiting_events") == []
    assert [type(e) for e in handled.events()] == [EventWaiting, WaitOver]


async def test_a_request_still_waiting_after_its_grace_gets_the_refusal(
    harness: ServiceHarness,
) -> None:
    early = request("CODE0000003")
    await harness.deliver((topics.ACTIVATION_REQUESTS, early))
    expired = await harness.expire_waiting()
    assert await answers(harness) == {"CODE0000003": "PLAN_CODE_UNKNOWN"}
    [over] = expired.events(WaitOver)
    assert over.payload.ended is WaitEnd.EXPIRED
    assert await harness.rows("SELECT * FROM waiting_events") == []


async def test_with_no_grace_a_request_is_answered_at_once(harness: ServiceHarness) -> None:
    harness.grace = timedelta(0)
    handled = await harness.deliver((topics.ACTIVATION_REQUESTS, request("CODE0000004")))
    assert await answers(harness) == {"CODE0000004": "PLAN_CODE_UNKNOWN"}
    assert handled.events(EventWaiting) == []


async def test_a_kept_request_delivered_again_is_a_duplicate(harness: ServiceHarness) -> None:
    early = request("CODE0000005")
    await harness.deliver((topics.ACTIVATION_REQUESTS, early))
    again = await harness.deliver((topics.ACTIVATION_REQUESTS, early))
    assert again.duplicates == [0]
    assert again.emitted == []
    assert len(await harness.rows("SELECT * FROM waiting_events")) == 1


async def test_a_handed_back_request_its_handler_rejects_is_dead_lettered_alone(
    harness: ServiceHarness,
) -> None:
    refused, fine = request(REFUSED_ON_SIGHT + "1"), request("CODE0000006", "1581F000000002")
    await harness.deliver((topics.ACTIVATION_REQUESTS, refused), (topics.ACTIVATION_REQUESTS, fine))
    handled = await harness.deliver(
        (topics.PLAN_ORDERS, order(REFUSED_ON_SIGHT + "1")),
        (topics.PLAN_ORDERS, order("CODE0000006")),
    )
    assert list(handled.rejected_waiting) == [refused.event_id]
    assert await answers(harness) == {"CODE0000006": "bound"}
    assert await harness.rows("SELECT * FROM waiting_events") == []
    assert {row["plan_code"] for row in await harness.rows("SELECT * FROM orders")} == {
        REFUSED_ON_SIGHT + "1",
        "CODE0000006",
    }


async def test_a_dependency_nobody_resolved_is_found_by_the_recheck(
    harness: ServiceHarness,
) -> None:
    """An order committed by another instance while the request was being kept is not
    resolved by anyone: the timer offers the request again, and it is decided."""
    await harness.deliver((topics.ACTIVATION_REQUESTS, request("CODE0000007")))
    await harness.pool.execute("INSERT INTO orders VALUES ('CODE0000007')")
    await harness.pool.execute("UPDATE waiting_events SET due_at = now()")
    count, rejected = await hand_back_due(harness.pool, producer="waiting", room=harness.room)
    assert (count, rejected) == (1, [])
    assert await answers(harness) == {"CODE0000007": "bound"}


async def test_a_recheck_that_finds_nothing_keeps_the_request_with_its_deadline(
    harness: ServiceHarness,
) -> None:
    await harness.deliver((topics.ACTIVATION_REQUESTS, request("CODE0000008")))
    [before] = await harness.rows("SELECT since, deadline FROM waiting_events")
    await harness.pool.execute("UPDATE waiting_events SET due_at = now()")
    count, _ = await hand_back_due(harness.pool, producer="waiting", room=harness.room)
    assert count == 1
    [after] = await harness.rows("SELECT since, deadline, due_at FROM waiting_events")
    assert (after["since"], after["deadline"]) == (before["since"], before["deadline"])
    assert after["due_at"] > before["since"]
    assert await answers(harness) == {}


async def test_two_instances_never_hand_back_one_request_twice(harness: ServiceHarness) -> None:
    await harness.deliver((topics.ACTIVATION_REQUESTS, request("CODE0000009")))
    await harness.pool.execute("UPDATE waiting_events SET due_at = now(), deadline = now()")
    async with harness.pool.acquire() as other, other.transaction():
        await other.execute("SELECT * FROM waiting_events FOR UPDATE")
        count, _ = await hand_back_due(harness.pool, producer="waiting", room=harness.room)
        assert count == 0
    both = await asyncio.gather(
        hand_back_due(harness.pool, producer="waiting", room=harness.room),
        hand_back_due(harness.pool, producer="waiting", room=harness.room),
    )
    assert sorted(count for count, _ in both) == [0, 1]
    assert await answers(harness) == {"CODE0000009": "PLAN_CODE_UNKNOWN"}


async def test_a_kept_request_its_contract_no_longer_reads_is_dead_lettered(
    harness: ServiceHarness,
) -> None:
    await harness.deliver((topics.ACTIVATION_REQUESTS, request("CODE0000010")))
    await harness.pool.execute("UPDATE waiting_events SET payload = 'not json'::bytea")
    handled = await harness.deliver((topics.PLAN_ORDERS, order("CODE0000010")))
    assert len(handled.rejected_waiting) == 1
    assert await answers(harness) == {}
    assert await harness.rows("SELECT * FROM waiting_events") == []
