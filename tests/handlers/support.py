"""A service's batch handlers run as the runtime runs them, on a real PostgreSQL database and
without a broker: one `apply_batch` per delivered batch, and what it wrote to the outbox read
back as the events it emitted."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from contracts import parse_event
from contracts.envelope import Envelope
from contracts.topics import Topic
from shared.db import apply_migrations, create_pool
from shared.messaging import Delivery, WaitingRoom, apply_batch, hand_back_due, run_clock_job
from shared.runtime import Service
from simulation.processes import recreate_databases


@dataclass(frozen=True)
class Emitted:
    topic: str
    key: str
    event: Envelope


@dataclass(frozen=True)
class Handled:
    """What one batch did: the events it emitted, in order, and the ones it refused."""

    emitted: list[Emitted]
    rejected: dict[int, Exception]
    duplicates: list[int]
    # Kept events handed back and then rejected, by event id (they are dead-lettered).
    rejected_waiting: dict[Any, Exception] = field(default_factory=dict)

    def events(self, kind: type[Envelope] | None = None) -> list[Any]:
        return [out.event for out in self.emitted if kind is None or isinstance(out.event, kind)]


class ServiceHarness:
    """`grace` is every dependency's grace period (shared.waiting): zero by default, so that an
    event whose dependency is missing is answered at once, as it stands; set it to test
    waiting."""

    def __init__(self, service: Service, pool: asyncpg.Pool) -> None:
        self.service = service
        self.pool = pool
        self.grace = timedelta(0)

    @property
    def room(self) -> WaitingRoom:
        handlers = {name: handler for name, (_, handler) in self.service.consumed.items()}
        graces = {dependency.name: self.grace for dependency in self.service.waits_for}
        return WaitingRoom(handlers, graces)

    @classmethod
    @asynccontextmanager
    async def open(cls, service: Service, server_url: str) -> AsyncIterator[ServiceHarness]:
        """A fresh database with the service's schema, for one test."""
        name = f"handlers_{service.name}"
        await recreate_databases(server_url, [name])
        pool = await create_pool(f"{server_url.rstrip('/')}/{name}", min_size=1, max_size=2)
        try:
            async with pool.acquire() as conn:
                await apply_migrations(conn, service.migrations)
            yield cls(service, pool)
        finally:
            await pool.close()

    async def deliver(self, *deliveries: tuple[Topic, Envelope]) -> Handled:
        """Apply one batch of `(topic, event)` deliveries, in that order."""
        batch = [
            Delivery(topic.name, event, self.service.consumed[topic.name][1])
            for topic, event in deliveries
        ]
        before = await self._last_outbox_id()
        outcome = await apply_batch(
            self.pool, batch, producer=self.service.name, attempts=1, room=self.room
        )
        rejected_waiting = {kept.event_id: error for kept, error in outcome.rejected_waiting}
        return Handled(
            await self._emitted_since(before),
            outcome.rejected,
            outcome.duplicates,
            rejected_waiting,
        )

    async def expire_waiting(self) -> Handled:
        """The service's clock, as if every kept event's grace period were over."""
        await self.pool.execute("UPDATE waiting_events SET deadline = now(), due_at = now()")
        before = await self._last_outbox_id()
        _, rejected = await hand_back_due(self.pool, producer=self.service.name, room=self.room)
        rejected_waiting = {kept.event_id: error for kept, error in rejected}
        return Handled(await self._emitted_since(before), {}, [], rejected_waiting)

    async def run_clock(self, now: datetime) -> Handled:
        """One pass of each of the service's clock jobs, with the test's clock at `now`."""
        before = await self._last_outbox_id()
        for job in self.service.clock_jobs:
            await run_clock_job(self.pool, job, producer=self.service.name, now=now)
        return Handled(await self._emitted_since(before), {}, [])

    async def _last_outbox_id(self) -> int:
        found: int = await self.pool.fetchval("SELECT coalesce(max(id), 0) FROM outbox")
        return found

    async def _emitted_since(self, outbox_id: int) -> list[Emitted]:
        rows = await self.pool.fetch(
            "SELECT topic, key, payload FROM outbox WHERE id > $1 ORDER BY id", outbox_id
        )
        return [
            Emitted(row["topic"], row["key"], parse_event(row["topic"], bytes(row["payload"])))
            for row in rows
        ]

    async def deliver_each(self, topic: Topic, events: Sequence[Envelope]) -> Handled:
        """Apply `events` of one topic as one batch."""
        return await self.deliver(*((topic, event) for event in events))

    async def rows(self, query: str, *args: Any) -> list[asyncpg.Record]:
        return list(await self.pool.fetch(query, *args))
