"""The migration runner (shared.db.apply_migrations) against a real PostgreSQL database.

Every service applies the shared messaging tables first, then its own `NNNN_name.sql` files, once
each, in one transaction, and records each version with the checksum of its file.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from shared.db import _MIGRATION_LOCK, SHARED_MIGRATIONS, MigrationChangedError, apply_migrations
from simulation.processes import recreate_databases
from tests.conftest import Stack
from tests.integration.support import dsn, wait_until

pytestmark = pytest.mark.integration

DATABASE = "it_migrations"

# Written to disk in this order on purpose: the runner must sort by name, not by directory order.
LEDGER_MIGRATIONS = {
    "0010_amount_index.sql": "CREATE INDEX ledger_amount ON ledger (amount);\n",
    "0002_add_amount.sql": (
        "ALTER TABLE ledger ADD COLUMN amount numeric(18, 2) NOT NULL DEFAULT 0;\n"
    ),
    # References the shared inbox: it can only run after the shared migrations.
    "0001_ledger.sql": (
        "CREATE TABLE ledger (\n"
        "    id bigserial PRIMARY KEY,\n"
        "    event_id uuid NOT NULL REFERENCES inbox (event_id)\n"
        ");\n"
    ),
}
EXPECTED_ORDER = [
    "messaging:0001_messaging",
    "messaging:0002_outbox_notify",
    "messaging:0003_outbox_trace",
    "messaging:0004_waiting_events",
    "ledger:0001_ledger",
    "ledger:0002_add_amount",
    "ledger:0010_amount_index",
]


@pytest.fixture
async def conn(stack: Stack) -> AsyncIterator[asyncpg.Connection]:
    await recreate_databases(stack.database_url, [DATABASE])
    connection = await asyncpg.connect(dsn(stack.database_url, DATABASE))
    yield connection
    await connection.close()


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    folder = tmp_path / "ledger-migrations"
    folder.mkdir()
    for name, sql in LEDGER_MIGRATIONS.items():
        (folder / name).write_text(sql)
    (folder / "README.md").write_text("not a migration: only *.sql files are applied\n")
    return folder


def sources(ledger: Path) -> dict[str, Path]:
    return {"messaging": SHARED_MIGRATIONS, "ledger": ledger}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def recorded(conn: asyncpg.Connection) -> dict[str, tuple[str, object]]:
    rows = await conn.fetch("SELECT version, checksum, applied_at FROM schema_migrations")
    return {row["version"]: (row["checksum"], row["applied_at"]) for row in rows}


async def table_exists(conn: asyncpg.Connection, name: str) -> bool:
    found: bool = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", name)
    return found


async def test_applies_shared_then_service_migrations_in_name_order_with_checksums(
    conn: asyncpg.Connection, ledger: Path
) -> None:
    applied = await apply_migrations(conn, sources(ledger))

    assert applied == EXPECTED_ORDER
    expected = {
        f"messaging:{path.stem}": sha256(path) for path in SHARED_MIGRATIONS.glob("*.sql")
    } | {f"ledger:{Path(name).stem}": sha256(ledger / name) for name in LEDGER_MIGRATIONS}
    assert {version: checksum for version, (checksum, _) in (await recorded(conn)).items()} == (
        expected
    )
    # The effects are there: the shared tables, and the ledger built file after file.
    assert await table_exists(conn, "inbox")
    assert await table_exists(conn, "outbox")
    columns = await conn.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'ledger'"
    )
    assert {row["column_name"] for row in columns} == {"id", "event_id", "amount"}
    assert await conn.fetchval("SELECT count(*) FROM pg_indexes WHERE indexname = 'ledger_amount'")


async def test_sources_are_applied_in_the_order_given_and_a_failure_leaves_nothing(
    conn: asyncpg.Connection, ledger: Path
) -> None:
    """The ledger needs the shared inbox: given first, it fails, and the whole run rolls back."""
    with pytest.raises(asyncpg.UndefinedTableError, match="inbox"):
        await apply_migrations(conn, {"ledger": ledger, "messaging": SHARED_MIGRATIONS})

    assert not await table_exists(conn, "schema_migrations")
    assert not await table_exists(conn, "ledger")
    assert not await table_exists(conn, "inbox")


async def test_a_second_run_changes_nothing_and_a_later_file_is_applied_alone(
    conn: asyncpg.Connection, ledger: Path
) -> None:
    await apply_migrations(conn, sources(ledger))
    event_id = await conn.fetchval(
        "INSERT INTO inbox (event_id, event_type, topic) "
        "VALUES (gen_random_uuid(), 'test.kept', 'it.topic') RETURNING event_id"
    )
    await conn.execute("INSERT INTO ledger (event_id, amount) VALUES ($1, 12.34)", event_id)
    before = await recorded(conn)

    assert await apply_migrations(conn, sources(ledger)) == []

    assert await recorded(conn) == before  # same versions, checksums and applied_at
    assert await conn.fetchval("SELECT amount::text FROM ledger") == "12.34"

    (ledger / "0011_note.sql").write_text("ALTER TABLE ledger ADD COLUMN note text;\n")
    assert await apply_migrations(conn, sources(ledger)) == ["ledger:0011_note"]
    after = await recorded(conn)
    assert after.keys() - before.keys() == {"ledger:0011_note"}
    assert {version: after[version] for version in before} == before


async def test_a_file_changed_after_it_was_applied_is_refused(
    conn: asyncpg.Connection, ledger: Path
) -> None:
    await apply_migrations(conn, sources(ledger))
    before = await recorded(conn)
    changed = ledger / "0002_add_amount.sql"
    changed.write_text(changed.read_text() + "-- even a comment rewrites history\n")
    (ledger / "0011_note.sql").write_text("ALTER TABLE ledger ADD COLUMN note text;\n")

    with pytest.raises(MigrationChangedError, match=r"ledger:0002_add_amount changed"):
        await apply_migrations(conn, sources(ledger))

    assert await recorded(conn) == before  # the new file did not slip in either
    columns = await conn.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'ledger'"
    )
    assert "note" not in {row["column_name"] for row in columns}


async def test_a_failing_file_rolls_back_every_file_of_its_run(
    conn: asyncpg.Connection, ledger: Path
) -> None:
    await apply_migrations(conn, sources(ledger))
    before = await recorded(conn)
    (ledger / "0011_audit.sql").write_text("CREATE TABLE audit (id bigserial PRIMARY KEY);\n")
    (ledger / "0012_broken.sql").write_text("ALTER TABLE nowhere ADD COLUMN x int;\n")

    with pytest.raises(asyncpg.UndefinedTableError):
        await apply_migrations(conn, sources(ledger))

    assert await recorded(conn) == before
    assert not await table_exists(conn, "audit")

    (ledger / "0012_broken.sql").write_text("ALTER TABLE audit ADD COLUMN x int;\n")
    assert await apply_migrations(conn, sources(ledger)) == [
        "ledger:0011_audit",
        "ledger:0012_broken",
    ]


async def test_two_migrators_at_once_apply_each_file_exactly_once(
    stack: Stack, conn: asyncpg.Connection, ledger: Path
) -> None:
    """Two instances of a service starting together: one migrates, the other finds it done."""
    first = await asyncpg.connect(dsn(stack.database_url, DATABASE))
    second = await asyncpg.connect(dsn(stack.database_url, DATABASE))
    try:
        # Hold the migrators' lock so that both are provably waiting before either starts.
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        runs = [
            asyncio.create_task(apply_migrations(first, sources(ledger))),
            asyncio.create_task(apply_migrations(second, sources(ledger))),
        ]

        async def both_waiting() -> bool:
            waiting: int = await conn.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            return waiting == 2

        await wait_until(both_waiting, what="both migrators to wait on the migration lock")
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
        results = await asyncio.gather(*runs)
    finally:
        await first.close()
        await second.close()

    assert sorted(results, key=len) == [[], EXPECTED_ORDER]
    assert sorted((await recorded(conn)).keys()) == sorted(EXPECTED_ORDER)
