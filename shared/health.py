"""What a service reports about its own outbox: how many rows wait, and for how long."""

from __future__ import annotations

import asyncio

import asyncpg
import structlog

from shared.metrics import OUTBOX_BACKLOG, OUTBOX_OLDEST_SECONDS

log = structlog.get_logger(__name__)

SAMPLE_SECONDS = 2.0


async def outbox_backlog(pool: asyncpg.Pool) -> tuple[int, float]:
    """Unpublished rows and the age in seconds of the oldest (0 when none waits)."""
    row = await pool.fetchrow(
        "SELECT count(*) AS waiting, "
        "coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest "
        "FROM outbox WHERE published_at IS NULL"
    )
    assert row is not None
    return int(row["waiting"]), float(row["oldest"])


async def sample_outbox(pool: asyncpg.Pool, service: str) -> None:
    """Keep the outbox gauges current until cancelled."""
    while True:
        try:
            waiting, oldest = await outbox_backlog(pool)
        except (OSError, asyncpg.PostgresError) as error:
            # The database being away is the relay's and the consumer's to report.
            log.debug("outbox_sample_failed", error=str(error))
        else:
            OUTBOX_BACKLOG.labels(service).set(waiting)
            OUTBOX_OLDEST_SECONDS.labels(service).set(oldest)
        await asyncio.sleep(SAMPLE_SECONDS)
