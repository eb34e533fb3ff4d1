"""Waiting instead of refusing: an event read before what it depends on is kept, not refused.

Kafka promises order within a partition, never across topics: claims may read an assessment
before the `CoverageOpened` of its plan, activation a request before its plan order. A batch
handler that finds an event's dependency missing calls `tx.wait(event, DEPENDENCY, key)`: the
event is kept in `waiting_events`, in the batch's transaction (its inbox row is there too, so a
redelivery changes nothing), and announced on `platform.waiting.v1`. The handler that saves the
dependency calls `tx.resolve(DEPENDENCY, keys)`, and the kept events are handed back to their
topic's handler in that same transaction. An event still waiting when its grace period is over
is handed back by the service's timer, and `tx.wait` then answers False: the handler answers it
as it stands (the refusal it gave before waiting existed).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import asyncpg
import structlog

from shared.metrics import EVENTS_WAITING

if TYPE_CHECKING:
    from shared.db import Connection

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Dependency:
    """Something an event may be read before: what waits, for what, and for how long."""

    name: str  # its grace is configured under this name (CAREPLAN_WAITING_GRACE)
    waiting: str  # what waits, e.g. "an assessment (repair.assessments.v1)"
    on: str  # what it waits for, e.g. "the plan of its SN (CoverageOpened)"
    grace: timedelta  # the default grace period


# Long enough for a service restarted after a crash to catch up on a backlog of several topics.
DEFAULT_GRACE = timedelta(minutes=15)


def graces(
    dependencies: Iterable[Dependency],
    *,
    every: float | None,
    overrides: Mapping[str, float],
) -> dict[str, timedelta]:
    """Each dependency's grace: its default, or `every` for all of them, or its own override.
    One setting serves every service, so an override names dependencies of other services too;
    each service reads the ones it waits for."""
    found = {}
    for dependency in dependencies:
        grace = dependency.grace if every is None else timedelta(seconds=every)
        if dependency.name in overrides:
            grace = timedelta(seconds=overrides[dependency.name])
        found[dependency.name] = grace
    return found


@dataclass(frozen=True)
class Kept:
    """An event a handler keeps, and until when."""

    event_id: uuid.UUID
    topic: str
    dependency: str
    key: str
    payload: bytes
    since: datetime
    deadline: datetime
    due_at: datetime


@dataclass(frozen=True)
class HandedBack:
    """A kept event handed back to its handler: resolved, due for a recheck, or expired."""

    event_id: uuid.UUID
    topic: str
    dependency: str
    key: str
    payload: bytes
    since: datetime
    expired: bool


async def keep(conn: Connection, kept: list[Kept]) -> None:
    if not kept:
        return
    await conn.execute(
        "INSERT INTO waiting_events (event_id, topic, dependency, key, payload, since, deadline,"
        " due_at) SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[],"
        " $5::bytea[], $6::timestamptz[], $7::timestamptz[], $8::timestamptz[])"
        " ON CONFLICT (event_id) DO UPDATE SET dependency = excluded.dependency,"
        " key = excluded.key, due_at = excluded.due_at",
        [k.event_id for k in kept],
        [k.topic for k in kept],
        [k.dependency for k in kept],
        [k.key for k in kept],
        [k.payload for k in kept],
        [k.since for k in kept],
        [k.deadline for k in kept],
        [k.due_at for k in kept],
    )


def _handed_back(rows: list[asyncpg.Record], *, now: datetime | None) -> list[HandedBack]:
    """In the order they were first kept; `now` marks those whose deadline has passed."""
    ordered = sorted(rows, key=lambda row: (row["since"], str(row["event_id"])))
    return [
        HandedBack(
            row["event_id"],
            row["topic"],
            row["dependency"],
            row["key"],
            bytes(row["payload"]),
            row["since"],
            expired=now is not None and row["deadline"] <= now,
        )
        for row in ordered
    ]


_COLUMNS = "event_id, topic, dependency, key, payload, since, deadline"


async def take_resolved(conn: Connection, resolved: Mapping[str, set[str]]) -> list[HandedBack]:
    """The kept events whose dependency this transaction satisfied, taken out of the table."""
    pairs = [(dependency, key) for dependency, keys in resolved.items() for key in keys]
    if not pairs:
        return []
    rows = await conn.fetch(
        f"DELETE FROM waiting_events WHERE (dependency, key) IN"
        f" (SELECT * FROM unnest($1::text[], $2::text[])) RETURNING {_COLUMNS}",
        [dependency for dependency, _ in pairs],
        [key for _, key in pairs],
    )
    return _handed_back(rows, now=None)


async def take_due(conn: Connection, limit: int) -> list[HandedBack]:
    """Kept events due by the service's clock; another instance's are skipped, not waited on."""
    rows = await conn.fetch(
        f"DELETE FROM waiting_events WHERE event_id IN (SELECT event_id FROM waiting_events"
        f" WHERE due_at <= now() ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED)"
        f" RETURNING {_COLUMNS}, now() AS now",
        limit,
    )
    now = rows[0]["now"] if rows else None
    return _handed_back(rows, now=now)


async def sample_waiting(pool: asyncpg.Pool, service: str, names: Iterable[str]) -> None:
    """Keep the waiting gauges current until cancelled (every dependency, 0 when none waits)."""
    names = list(names)
    while True:
        try:
            rows = await pool.fetch(
                "SELECT dependency, count(*) AS n FROM waiting_events GROUP BY dependency"
            )
        except (OSError, asyncpg.PostgresError) as error:
            log.debug("waiting_sample_failed", error=str(error))
        else:
            counts = {row["dependency"]: row["n"] for row in rows}
            for name in {*names, *counts}:
                EVENTS_WAITING.labels(service, name).set(counts.get(name, 0))
        await asyncio.sleep(2.0)
