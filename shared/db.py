"""PostgreSQL: the connection pool and the migration runner."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import asyncpg
import structlog

from shared.retry import transient_retries

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connection: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]

log = structlog.get_logger(__name__)

# Everything a service owns lives in its own database; these tables exist in every one of them.
_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     text PRIMARY KEY,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""
_MIGRATION_LOCK = 7_201_001  # advisory lock id: one migrator at a time per database


class MigrationChangedError(RuntimeError):
    pass


async def _nothing_to_reset(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """The services leave no session state on a connection (no SET, no session-level advisory
    locks, no cursors; the outbox relay UNLISTENs itself), so the pool's default reset query
    would only cost a round trip on every release. asyncpg still rolls back an open
    transaction before calling this."""


async def create_pool(dsn: str, *, min_size: int, max_size: int) -> asyncpg.Pool:
    async for attempt in transient_retries(attempts=20):
        with attempt:
            pool: asyncpg.Pool = await asyncpg.create_pool(
                dsn, min_size=min_size, max_size=max_size, reset=_nothing_to_reset
            )
            return pool
    raise AssertionError("unreachable: tenacity re-raises the last error")


SHARED_MIGRATIONS = Path(__file__).parent / "migrations"


async def apply_migrations(conn: Connection, sources: dict[str, Path]) -> list[str]:
    """Apply each source's `NNNN_name.sql` files in order, once each, with their checksums.

    Sources are applied in the order given (the shared messaging tables first); a version is
    `<source>:<file stem>`. A file that changed after it was applied stops the service: history
    is never rewritten.
    """
    applied_now: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute(_MIGRATIONS_TABLE)
        done = {
            row["version"]: row["checksum"]
            for row in await conn.fetch("SELECT version, checksum FROM schema_migrations")
        }
        for source, folder in sources.items():
            for path in sorted(folder.glob("*.sql")):
                version = f"{source}:{path.stem}"
                sql = path.read_text()
                checksum = hashlib.sha256(sql.encode()).hexdigest()
                if version in done:
                    if done[version] != checksum:
                        raise MigrationChangedError(f"{version} changed after it was applied")
                    continue
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)",
                    version,
                    checksum,
                )
                applied_now.append(version)
    if applied_now:
        log.info("migrations_applied", versions=applied_now)
    return applied_now
