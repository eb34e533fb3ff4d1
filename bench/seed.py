"""Seeding: the plans tables filled with set-based SQL (generate_series), kept as templates.

Ten thousand or a million plans are not bought through the platform one by one: each service's
database is seeded directly, consistently across services, with the rows those plans would have
left behind: coverage's ledger (plans, terms, serials), claims' read model, activation's codes,
owners, devices, requests and terms, the lookup's devices, plans and terms, and in every
database the inbox rows (and, where the service publishes, published outbox rows) of the events
that opened them. Outbox payloads of the seeded history are 64 bytes, not a real event's size:
only the live events carry real payloads.

Of `plans` plans, one in ten is agricultural (AG) and the rest consumer (CR). CR plan `i` is on
SN `SEED` + i (10 digits), model `CR_MODELS[i % 7]`, a 2-year plan when i % 4 == 0 and a 1-year
plan otherwise, in region PL. AG plan `i` is on SN `AGSD` + i, model `AG_MODELS[i % 11]`, a
first-year term with the catalogue's quotas, deductible and insurer, its policy confirmed, in
region CN. Every term began 30 days before the seeding. `seeded_device(i)` and
`seeded_ag_device(i)` are the same plans seen from Python, for the load driver.

A seeded database is a template (`benchtpl_<plans>_<service>`, connections disallowed, frozen
and analysed) kept between runs; every phase of the benchmark starts from a fresh copy of it.
A template whose migrations or seeding changed, or that is older than 60 days, is made again.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from careplan.registry import SERVICES
from shared.catalogue.agricultural import agricultural_catalogue
from shared.db import SHARED_MIGRATIONS, apply_migrations
from simulation.load import CR_MODELS, Device
from simulation.processes import connect_own_server

SERVICES_DIR = Path(__file__).resolve().parent.parent / "services"
MAX_TEMPLATE_AGE_DAYS = 60


AG_MODELS = tuple(sorted(agricultural_catalogue().models))
AG_SHARE = 10  # one plan in this many is agricultural


def counts(plans: int) -> tuple[int, int]:
    """(consumer, agricultural) plans among `plans`."""
    agricultural = plans // AG_SHARE
    return plans - agricultural, agricultural


def seeded_ag_device(i: int) -> Device:
    """The seeded AG plan number `i` as the load driver's device."""
    return Device(
        sn=f"AGSD{i:010d}",
        model=AG_MODELS[i % len(AG_MODELS)],
        sku="ag-care-year-1",
        plan_code=f"AG-S{i:09d}",
    )


def seeded_device(i: int) -> Device:
    """The seeded plan number `i` as the load driver's device (same formulas as the SQL)."""
    return Device(
        sn=f"SEED{i:010d}",
        model=CR_MODELS[i % len(CR_MODELS)],
        sku="care-refresh-2y" if i % 4 == 0 else "care-refresh-1y",
        plan_code=f"CR-S{i:09d}",
    )


def _plans(count: int) -> str:
    """The seeded plans as a subquery: one row per plan with everything the tables need."""
    models = ", ".join(f"'{model}'" for model in CR_MODELS)
    return f"""(
    SELECT i,
           md5('bench-plan-' || i)::uuid AS plan_id,
           md5('bench-owner-' || i)::uuid AS owner_id,
           'SEED' || lpad(i::text, 10, '0') AS sn,
           'CR-S' || lpad(i::text, 9, '0') AS plan_code,
           (ARRAY[{models}])[1 + i % {len(CR_MODELS)}] AS model,
           CASE WHEN i % 4 = 0 THEN 'care-refresh-2y' ELSE 'care-refresh-1y' END AS sku,
           CASE WHEN i % 4 = 0 THEN 4 ELSE 2 END AS replacements,
           CASE WHEN i % 4 = 0 THEN 2 ELSE 1 END AS flyaways,
           date_trunc('day', now()) - interval '30 days' AS term_start,
           date_trunc('day', now()) - interval '30 days'
               + CASE WHEN i % 4 = 0 THEN interval '24 months' ELSE interval '12 months' END
               AS term_end
    FROM generate_series(1, {int(count)}) AS i
) AS s"""


def _ag_plans(count: int) -> str:
    """The seeded AG plans as a subquery, with the catalogue's first-year figures per model."""
    catalogue = agricultural_catalogue()
    rows = []
    for index, model in enumerate(AG_MODELS):
        base = catalogue.base_quota(model, 1)
        consumables = catalogue.consumables_quota(model, 1)
        rows.append(
            f"({index}, '{model}', {base.amount}, {consumables.amount},"
            f" {catalogue.deductible_rate(model, 1)}, '{catalogue.model(model).insurer}',"
            f" '{base.currency}')"
        )
    return f"""(
    SELECT i,
           md5('bench-ag-plan-' || i)::uuid AS plan_id,
           md5('bench-ag-owner-' || i)::uuid AS owner_id,
           'AGSD' || lpad(i::text, 10, '0') AS sn,
           'AG-S' || lpad(i::text, 9, '0') AS plan_code,
           m.model, 'ag-care-year-1' AS sku, 0 AS replacements, 0 AS flyaways,
           m.base, m.consumables, m.rate, m.insurer, m.currency,
           'POL-SEED-' || i AS policy_no,
           date_trunc('day', now()) - interval '30 days' AS term_start,
           date_trunc('day', now()) - interval '30 days' + interval '1 year' AS term_end
    FROM generate_series(1, {int(count)}) AS i
    JOIN (VALUES {", ".join(rows)}) AS m(idx, model, base, consumables, rate, insurer, currency)
      ON m.idx = i % {len(AG_MODELS)}
) AS s"""


def _inbox(count: int, events: list[tuple[str, str]]) -> str:
    values = ", ".join(f"('{event}', '{topic}')" for event, topic in events)
    return (
        "INSERT INTO inbox (event_id, event_type, topic, processed_at)"
        " SELECT gen_random_uuid(), k.event_type, k.topic,"
        " date_trunc('day', now()) - interval '30 days'"
        f" FROM generate_series(1, {int(count)}) AS i"
        f" CROSS JOIN (VALUES {values}) AS k(event_type, topic)"
    )


def _outbox(plans: str, event_type: str, topic: str, key: str) -> str:
    return (
        "INSERT INTO outbox (event_id, event_type, topic, key, payload, created_at, published_at)"
        f" SELECT gen_random_uuid(), '{event_type}', '{topic}', {key},"
        " decode(repeat('ab', 64), 'hex'), term_start, term_start"
        f" FROM {plans}"
    )


def seed_statements(service: str, plans: int) -> list[str]:
    """The set-based statements that seed `plans` plans into `service`'s database."""
    consumer, agricultural = counts(plans)
    return _statements(service, plans, _plans(consumer)) + _ag_statements(
        service, _ag_plans(agricultural)
    )


def _ag_statements(service: str, s: str) -> list[str]:
    """AG plans: the same rows as consumer ones, plus the family and the term's quotas."""
    if service == "activation":
        return [
            "INSERT INTO owners (owner_id, email, name)"
            f" SELECT owner_id, 'owner.' || lower(sn) || '@example.com', 'Seed Owner ' || i"
            f" FROM {s}",
            "INSERT INTO plan_codes (plan_code, order_id, sku, model, region, price_amount,"
            " price_currency, purchased_at, state, family, plan_year)"
            " SELECT plan_code, 'ORD-ag-seed-' || i, sku, model, 'CN', 9999.00, 'CNY',"
            f" term_start - interval '1 day', 'activated', 'agricultural', 1 FROM {s}",
            "INSERT INTO devices (sn, model, activated_at)"
            f" SELECT sn, model, term_start - interval '1 hour' FROM {s}",
            "INSERT INTO activation_requests (request_id, plan_code, sn, owner_id, requested_at,"
            " state, decided_at)"
            f" SELECT 'REQ-ag-seed-' || i, plan_code, sn, owner_id, term_start, 'activated',"
            f" term_start FROM {s}",
            "INSERT INTO plan_terms (plan_id, term_no, plan_code, sn, owner_id, sku, term_start,"
            " term_end, plan_year)"
            f" SELECT plan_id, 1, plan_code, sn, owner_id, sku, term_start, term_end, 1 FROM {s}",
            _outbox(s, "activation.plan-activated", "activation.events.v1", "sn"),
        ]
    if service == "coverage":
        return [
            "INSERT INTO plans (plan_id, sn, model, sku, region, family)"
            f" SELECT plan_id, sn, model, sku, 'CN', 'agricultural' FROM {s}",
            "INSERT INTO plan_terms (plan_id, term_no, sku, term_start, term_end,"
            " replacements_total, flyaways_total, replacements_left, flyaways_left, state,"
            " plan_year, quota_currency, base_quota_total, base_quota_left,"
            " consumables_quota_total, consumables_quota_left, deductible_rate, insurer,"
            " liability_cover, policy_no, policy_confirmed_at)"
            " SELECT plan_id, 1, sku, term_start, term_end, 0, 0, 0, 0, 'active', 1, currency,"
            " base, base, consumables, consumables, rate, insurer, false, policy_no, term_start"
            f" FROM {s}",
            "INSERT INTO plan_serials (plan_id, sn, since)"
            f" SELECT plan_id, sn, term_start FROM {s}",
            _outbox(s, "coverage.coverage-opened", "coverage.events.v1", "plan_id::text"),
        ]
    if service == "claims":
        return [
            "INSERT INTO plan_view (plan_id, sn, model, sku, region, family)"
            f" SELECT plan_id, sn, model, sku, 'CN', 'agricultural' FROM {s}",
            "INSERT INTO plan_view_terms (plan_id, term_no, term_start, term_end,"
            " replacements_left, flyaways_left, plan_year, quota_currency, base_quota_left,"
            " consumables_quota_left, deductible_rate, insurer, liability_cover, policy_no)"
            " SELECT plan_id, 1, term_start, term_end, 0, 0, 1, currency, base, consumables,"
            f" rate, insurer, false, policy_no FROM {s}",
        ]
    if service == "lookup":
        return [
            "INSERT INTO devices (sn, model, first_activated_at)"
            f" SELECT sn, model, term_start - interval '1 hour' FROM {s}",
            "INSERT INTO plans (plan_id, original_sn, model, sku, region, plan_code,"
            " activated_at, purchased_at)"
            " SELECT plan_id, sn, model, sku, 'CN', plan_code, term_start,"
            f" term_start - interval '1 day' FROM {s}",
            "INSERT INTO plan_terms (plan_id, term_no, sku, plan_code, term_start, term_end,"
            " replacements_total, flyaways_total, replacements_left, flyaways_left)"
            f" SELECT plan_id, 1, sku, plan_code, term_start, term_end, 0, 0, 0, 0 FROM {s}",
        ]
    return []


def _statements(service: str, count: int, s: str) -> list[str]:
    """Consumer plans, and the inbox history of every plan (`count`: all of them)."""
    plan_orders = ("commerce.plan-order-placed", "commerce.plan-orders.v1")
    device_activations = ("devices.device-activated", "devices.activations.v1")
    requests = ("storefront.activation-requested", "activation.requests.v1")
    activated = ("activation.plan-activated", "activation.events.v1")
    opened = ("coverage.coverage-opened", "coverage.events.v1")
    if service == "activation":
        return [
            "INSERT INTO owners (owner_id, email, name)"
            f" SELECT owner_id, 'owner.' || lower(sn) || '@example.com', 'Seed Owner ' || i"
            f" FROM {s}",
            "INSERT INTO plan_codes (plan_code, order_id, sku, model, region, price_amount,"
            " price_currency, purchased_at, state)"
            " SELECT plan_code, 'ORD-seed-' || i, sku, model, 'PL', 299.00, 'PLN',"
            f" term_start - interval '1 day', 'activated' FROM {s}",
            "INSERT INTO devices (sn, model, activated_at)"
            f" SELECT sn, model, term_start - interval '1 hour' FROM {s}",
            "INSERT INTO activation_requests (request_id, plan_code, sn, owner_id, requested_at,"
            " state, decided_at)"
            f" SELECT 'REQ-seed-' || i, plan_code, sn, owner_id, term_start, 'activated',"
            f" term_start FROM {s}",
            "INSERT INTO plan_terms (plan_id, term_no, plan_code, sn, owner_id, sku, term_start,"
            " term_end)"
            f" SELECT plan_id, 1, plan_code, sn, owner_id, sku, term_start, term_end FROM {s}",
            _inbox(count, [plan_orders, device_activations, requests]),
            _outbox(s, *activated, "sn"),
        ]
    if service == "coverage":
        return [
            f"INSERT INTO plans (plan_id, sn, model, sku, region)"
            f" SELECT plan_id, sn, model, sku, 'PL' FROM {s}",
            "INSERT INTO plan_terms (plan_id, term_no, sku, term_start, term_end,"
            " replacements_total, flyaways_total, replacements_left, flyaways_left, state)"
            " SELECT plan_id, 1, sku, term_start, term_end, replacements, flyaways,"
            f" replacements, flyaways, 'active' FROM {s}",
            "INSERT INTO plan_serials (plan_id, sn, since)"
            f" SELECT plan_id, sn, term_start FROM {s}",
            _inbox(count, [activated]),
            _outbox(s, *opened, "plan_id::text"),
        ]
    if service == "claims":
        return [
            "INSERT INTO plan_view (plan_id, sn, model, sku, region)"
            f" SELECT plan_id, sn, model, sku, 'PL' FROM {s}",
            "INSERT INTO plan_view_terms (plan_id, term_no, term_start, term_end,"
            " replacements_left, flyaways_left)"
            f" SELECT plan_id, 1, term_start, term_end, replacements, flyaways FROM {s}",
            _inbox(count, [opened]),
        ]
    if service == "lookup":
        return [
            "INSERT INTO devices (sn, model, first_activated_at)"
            f" SELECT sn, model, term_start - interval '1 hour' FROM {s}",
            "INSERT INTO plans (plan_id, original_sn, model, sku, region, plan_code,"
            " activated_at, purchased_at)"
            " SELECT plan_id, sn, model, sku, 'PL', plan_code, term_start,"
            f" term_start - interval '1 day' FROM {s}",
            "INSERT INTO plan_terms (plan_id, term_no, sku, plan_code, term_start, term_end,"
            " replacements_total, flyaways_total, replacements_left, flyaways_left)"
            " SELECT plan_id, 1, sku, plan_code, term_start, term_end, replacements, flyaways,"
            f" replacements, flyaways FROM {s}",
            _inbox(count, [device_activations, activated, opened]),
        ]
    if service == "fulfilment":
        return [_inbox(count, [plan_orders, activated, opened])]
    if service == "operations":
        # The dashboard follows the cases of the run; the seeded plans' past has none.
        return []
    raise ValueError(f"unknown service {service!r}")


def template_name(service: str, plans: int) -> str:
    return f"benchtpl_{plans}_{service}"


def fingerprint(service: str, plans: int) -> str:
    """What the template is made of: its migrations and its seeding statements."""
    digest = hashlib.sha256()
    for folder in (SHARED_MIGRATIONS, SERVICES_DIR / service / "migrations"):
        for path in sorted(folder.glob("*.sql")):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    for statement in seed_statements(service, plans):
        digest.update(statement.encode())
    return digest.hexdigest()[:16]


def _comment(fp: str, seconds: float) -> str:
    return f"bench-seed {fp} {datetime.now(UTC).date().isoformat()} {seconds:.1f}"


def recorded_seconds(comment: str | None) -> float | None:
    """How long the template took to seed, as its comment recorded it."""
    parts = (comment or "").split()
    try:
        return float(parts[3]) if len(parts) == 4 and parts[0] == "bench-seed" else None
    except ValueError:
        return None


def _still_good(comment: str | None, fp: str) -> bool:
    if not comment:
        return False
    parts = comment.split()
    if len(parts) not in (3, 4) or parts[0] != "bench-seed" or parts[1] != fp:
        return False
    age = datetime.now(UTC).date() - datetime.fromisoformat(parts[2]).date()
    return age.days <= MAX_TEMPLATE_AGE_DAYS


async def _admin(server_url: str) -> asyncpg.Connection:
    return await connect_own_server(server_url)


async def _seed_one(server_url: str, service: str, plans: int, fp: str) -> float:
    name = template_name(service, plans)
    started = time.monotonic()
    admin = await _admin(server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(f"{server_url.rstrip('/')}/{name}")
    try:
        await apply_migrations(
            conn, {"messaging": SHARED_MIGRATIONS, service: SERVICES_DIR / service / "migrations"}
        )
        await conn.execute("SET synchronous_commit = off")
        await conn.execute("SET maintenance_work_mem = '256MB'")
        async with conn.transaction():
            for statement in seed_statements(service, plans):
                await conn.execute(statement)
        # Frozen and analysed: autovacuum has nothing left to do on a template it cannot enter.
        await conn.execute("VACUUM (FREEZE, ANALYZE)")
    finally:
        await conn.close()
    seconds = time.monotonic() - started
    admin = await _admin(server_url)
    try:
        await admin.execute(f"COMMENT ON DATABASE \"{name}\" IS '{_comment(fp, seconds)}'")
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
    finally:
        await admin.close()
    return time.monotonic() - started


async def recorded(server_url: str, plans: int) -> float | None:
    """Seconds of seeding work the templates for `plans` recorded (summed over services)."""
    admin = await _admin(server_url)
    try:
        rows = await admin.fetch(
            "SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database"
            " WHERE datname = ANY($1::text[])",
            [template_name(service, plans) for service in SERVICES],
        )
    finally:
        await admin.close()
    seconds = [recorded_seconds(row["comment"]) for row in rows]
    known = [value for value in seconds if value is not None]
    return sum(known) if len(known) == len(SERVICES) else None


async def ensure_templates(
    server_url: str, plans: int, *, reseed: bool = False, log: bool = True
) -> float | None:
    """Make the templates for `plans` plans where missing or stale; seconds spent, or None when
    every template was already there."""
    admin = await _admin(server_url)
    try:
        rows = await admin.fetch(
            "SELECT datname, shobj_description(oid, 'pg_database') AS comment FROM pg_database"
        )
    finally:
        await admin.close()
    comments = {row["datname"]: row["comment"] for row in rows}
    todo = [
        service
        for service in SERVICES
        if reseed
        or not _still_good(comments.get(template_name(service, plans)), fingerprint(service, plans))
    ]
    if not todo:
        return None
    if log:
        print(f"[bench] seeding {plans:,} plans into {', '.join(todo)} (kept as templates)")
    started = time.monotonic()
    # Two at a time: the machine has few cores and PostgreSQL does the work.
    gate = asyncio.Semaphore(2)

    async def seed(service: str) -> float:
        async with gate:
            return await _seed_one(server_url, service, plans, fingerprint(service, plans))

    await asyncio.gather(*(seed(service) for service in todo))
    return time.monotonic() - started


async def copy_templates(server_url: str, plans: int, prefix: str) -> None:
    """Fresh working databases `<prefix>_<service>` copied from the templates."""
    admin = await _admin(server_url)
    try:
        for service in SERVICES:
            target = f"{prefix}_{service}"
            await admin.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
            for attempt in range(50):
                try:
                    await admin.execute(
                        f'CREATE DATABASE "{target}" TEMPLATE "{template_name(service, plans)}"'
                        " STRATEGY FILE_COPY"
                    )
                    break
                except asyncpg.ObjectInUseError:
                    if attempt == 49:
                        raise
                    await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def drop_databases(server_url: str, names: list[str]) -> None:
    admin = await _admin(server_url)
    try:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
