"""The PostgreSQL ceiling: the services' own statements, as fast as pgbench can run them.

One pgbench script per service holds what that service does in the database for one consumer
replacement case (the most expensive path), transaction by transaction, with the statements of
its handlers and of the runtime: the inbox insert, the handler's reads and writes, the outbox
insert and NOTIFY, and the relay's drain (advisory lock, read, mark published) after each
transaction that published something; events a service only records in its inbox are an
inbox-only transaction. So one script run is one case for that service, and pgbench's rate is
that service's ceiling in cases per second.

The five scripts run at once, each against a fresh copy of its service's seeded database (the
same templates as the platform runs), with prepared statements as asyncpg uses them. The
platform's database ceiling is the slowest of the five.

Where a script cannot know a value the handler would have (a generated shipment id, a new SN
that later statements look up again), it uses the case id or keeps the row findable; those
choices are noted at the statements.
"""

from __future__ import annotations

import asyncio
import glob
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench import seed
from bench.config import Target
from bench.resources import Meter, infrastructure

CLIENTS = 4  # per service: about as many transactions as a busy service has open at once

CASE = "'PGB-' || :client_id || '-' || :r"
PLAN = "md5('bench-plan-' || :n)::uuid"
SN = "'SEED' || lpad(:n::text, 10, '0')"
NEW_SN = "'PGBN' || lpad((:r % 10000000000)::text, 10, '0')"


def _inbox(event_type: str, topic: str) -> str:
    return (
        "INSERT INTO inbox (event_id, event_type, topic) VALUES"
        f" (gen_random_uuid(), '{event_type}', '{topic}')"
        " ON CONFLICT (event_id) DO NOTHING RETURNING true;"
    )


def _outbox(event_type: str, topic: str, key: str, size: int) -> list[str]:
    return [
        "INSERT INTO outbox (event_id, event_type, topic, key, payload) VALUES"
        f" (gen_random_uuid(), '{event_type}', '{topic}', {key},"
        f" convert_to(repeat('x', {size}), 'UTF8'));",
        "NOTIFY outbox;",
    ]


RELAY = [
    "BEGIN;",
    "SELECT pg_advisory_xact_lock(7201002);",
    "SELECT id, event_id, event_type, topic, key, payload FROM outbox"
    " WHERE published_at IS NULL ORDER BY id LIMIT 500;",
    "UPDATE outbox SET published_at = now() WHERE id IN (SELECT id FROM outbox"
    " WHERE published_at IS NULL ORDER BY id LIMIT 500);",
    "COMMIT;",
]


def _inbox_only(event_type: str, topic: str) -> list[str]:
    return ["BEGIN;", _inbox(event_type, topic), "COMMIT;"]


def _ship_check() -> list[str]:
    """Fulfilment's `_request_shipment_if_paid` reads, under the case's advisory lock."""
    return [
        f"SELECT pg_advisory_xact_lock(hashtext({CASE}));",
        f"SELECT * FROM replacements WHERE case_id = {CASE} FOR UPDATE;",
        f"SELECT currency, sum(amount) AS total FROM payments WHERE case_id = {CASE}"
        " GROUP BY currency;",
        f"SELECT state FROM pre_authorisations WHERE case_id = {CASE};",
    ]


_LOOKUP_FILLED = (
    "new_sn",
    "term_no",
    "flyaway",
    "fee_amount",
    "fee_currency",
    "deducted_at",
    "shipment_id",
    "ship_to_region",
    "customer_pays_shipping",
    "shipment_requested_at",
    "dispatched_at",
    "inherited_at",
)


def _lookup_replacement(values: dict[str, str]) -> str:
    columns = ", ".join(_LOOKUP_FILLED)
    given = ", ".join(values.get(column, "NULL") for column in _LOOKUP_FILLED)
    updates = ", ".join(
        f"{column} = COALESCE(replacements.{column}, EXCLUDED.{column})"
        for column in _LOOKUP_FILLED
    )
    return (
        f"INSERT INTO replacements (case_id, plan_id, old_sn, {columns})"
        f" VALUES ({CASE}, {PLAN}, {SN}, {given})"
        f" ON CONFLICT (case_id) DO UPDATE SET {updates};"
    )


def scripts(sizes: dict[str, int]) -> dict[str, list[str]]:
    """Service -> the statements of one replacement case, one per line."""

    def size(kind: str) -> int:
        return sizes.get(kind, 800)

    head = ["\\set n random(1, :plans)", "\\set r random(1, 1000000000000000)"]
    claims = [
        *head,
        "BEGIN;",
        _inbox("repair.assessment-reported", "repair.assessments.v1"),
        f"SELECT unit_state FROM cases WHERE case_id = {CASE} FOR UPDATE;",
        "SELECT p.plan_id, p.model, p.family, p.state AS plan_state, t.*"
        " FROM plan_view p JOIN plan_view_terms t USING (plan_id)"
        f" WHERE p.sn = {SN} ORDER BY (t.term_start <= now() AND t.term_end > now()) DESC,"
        " t.term_no DESC LIMIT 1;",
        "INSERT INTO cases (case_id, reported_sn, model, plan_id, cause, incident_at,"
        " assessed_at, outcome, reason_codes, rules_applied, uses_replacement, flyaway,"
        " fee_amount, fee_currency, fee_schedule, ledger_state, assessment, service_mode,"
        f" unit_state) VALUES ({CASE}, {SN}, 'air-3', {PLAN}, 'collision', now(), now(),"
        " 'replacement', '{}', '{C1,C2,C3,C4,C5,C6}', true, false, 99.00, 'USD', 'standard',"
        f" 'pending', jsonb_build_object('pad', repeat('x', {size('AssessmentReported')})),"
        " 'standard', 'not_applicable');",
        *_outbox("claims.claim-decided", "claims.events.v1", SN, size("ClaimDecided")),
        "COMMIT;",
        *RELAY,
        "BEGIN;",
        _inbox("coverage.deduction-applied", "coverage.events.v1"),
        "UPDATE plan_view_terms SET replacements_left = 1, flyaways_left = 1,"
        f" replacements_used = replacements_used + 1 WHERE plan_id = {PLAN} AND term_no = 1;",
        f"UPDATE cases SET ledger_state = 'applied' WHERE case_id = {CASE};",
        "COMMIT;",
        "BEGIN;",
        _inbox("coverage.plan-inherited", "coverage.events.v1"),
        # The plan stays on its seeded SN so that later cases still find it.
        f"UPDATE plan_view SET sn = {SN} WHERE plan_id = {PLAN};",
        "COMMIT;",
    ]
    coverage = [
        *head,
        "BEGIN;",
        _inbox("claims.claim-decided", "claims.events.v1"),
        f"SELECT 1 FROM deductions WHERE case_id = {CASE}"
        f" UNION ALL SELECT 1 FROM refused_deductions WHERE case_id = {CASE};",
        f"SELECT * FROM plans WHERE plan_id = {PLAN} FOR UPDATE;",
        f"SELECT * FROM plan_terms WHERE plan_id = {PLAN} AND term_start <= now()"
        " AND term_end > now();",
        "UPDATE plan_terms SET replacements_left = 1, flyaways_left = 1, state = 'active'"
        f" WHERE plan_id = {PLAN} AND term_no = 1;",
        "INSERT INTO deductions (case_id, plan_id, term_no, flyaway, fee_amount, fee_currency)"
        f" VALUES ({CASE}, {PLAN}, 1, false, 99.00, 'USD');",
        *_outbox(
            "coverage.deduction-applied",
            "coverage.events.v1",
            f"{PLAN}::text",
            size("DeductionApplied"),
        ),
        "COMMIT;",
        *RELAY,
        *_inbox_only("fulfilment.shipment-requested", "fulfilment.events.v1"),
        "BEGIN;",
        _inbox("fulfilment.device-replaced", "fulfilment.events.v1"),
        f"SELECT * FROM plans WHERE plan_id = {PLAN} FOR UPDATE;",
        f"SELECT * FROM plan_terms WHERE plan_id = {PLAN} ORDER BY term_no DESC LIMIT 1;",
        f"UPDATE plans SET sn = {NEW_SN} WHERE plan_id = {PLAN};",
        f"UPDATE plan_serials SET until = now() WHERE plan_id = {PLAN} AND sn = {SN};",
        "INSERT INTO plan_serials (plan_id, sn, since, case_id)"
        f" VALUES ({PLAN}, {NEW_SN}, now(), {CASE}) ON CONFLICT DO NOTHING;",
        *_outbox(
            "coverage.plan-inherited", "coverage.events.v1", f"{PLAN}::text", size("PlanInherited")
        ),
        "COMMIT;",
        *RELAY,
    ]
    fulfilment = [
        *head,
        "BEGIN;",
        _inbox("coverage.deduction-applied", "coverage.events.v1"),
        "INSERT INTO replacements (case_id, plan_id, old_sn, model, plan_region,"
        " customer_region, fee_amount, fee_currency, flyaway, state, service_mode)"
        f" VALUES ({CASE}, {PLAN}, {SN}, 'air-3', 'PL', 'PL', 99.00, 'USD', false,"
        " 'awaiting_payment', 'standard') ON CONFLICT (case_id) DO NOTHING RETURNING true;",
        *_ship_check(),
        "COMMIT;",
        "BEGIN;",
        _inbox("payments.payment-settled", "payments.settlements.v1"),
        "INSERT INTO payments (payment_id, case_id, amount, currency, settled_at)"
        f" VALUES ('PAY-' || {CASE}, {CASE}, 99.00, 'USD', now())"
        " ON CONFLICT (payment_id) DO NOTHING;",
        *_ship_check(),
        "UPDATE replacements SET state = 'shipment_requested', shipment_id = gen_random_uuid(),"
        f" customer_pays_shipping = false WHERE case_id = {CASE};",
        *_outbox(
            "fulfilment.shipment-requested",
            "fulfilment.events.v1",
            f"{PLAN}::text",
            size("ShipmentRequested"),
        ),
        "COMMIT;",
        *RELAY,
        "BEGIN;",
        _inbox("warehouse.dispatch-confirmed", "warehouse.dispatches.v1"),
        # The dispatch names the shipment id, generated above: the case id finds the same row.
        f"SELECT * FROM replacements WHERE case_id = {CASE} FOR UPDATE;",
        f"UPDATE replacements SET state = 'dispatched', new_sn = {NEW_SN},"
        f" dispatched_at = now() WHERE case_id = {CASE};",
        *_outbox(
            "fulfilment.device-replaced",
            "fulfilment.events.v1",
            f"{PLAN}::text",
            size("DeviceReplaced"),
        ),
        "COMMIT;",
        *RELAY,
        *_inbox_only("coverage.plan-inherited", "coverage.events.v1"),
    ]
    activation = [
        *head,
        *_inbox_only("claims.claim-decided", "claims.events.v1"),
        *_inbox_only("coverage.deduction-applied", "coverage.events.v1"),
        "BEGIN;",
        _inbox("coverage.plan-inherited", "coverage.events.v1"),
        f"UPDATE plan_terms SET sn = {SN} WHERE plan_id = md5('bench-plan-' || :n)::uuid;",
        f"SELECT pg_advisory_xact_lock(hashtext('drone:' || {SN}));",
        f"SELECT pg_advisory_xact_lock(hashtext('drone:' || {NEW_SN}));",
        f"UPDATE accessories a SET drone_sn = {NEW_SN} WHERE a.drone_sn = {SN}"
        " AND a.state <> 'released' AND NOT EXISTS (SELECT 1 FROM accessories b"
        f" WHERE b.drone_sn = {NEW_SN} AND b.accessory_type = a.accessory_type"
        " AND b.state = 'associated') RETURNING a.accessory_sn, a.accessory_type, a.state;",
        "COMMIT;",
    ]
    lookup = [
        *head,
        "BEGIN;",
        _inbox("repair.assessment-reported", "repair.assessments.v1"),
        "INSERT INTO cases (case_id, sn, model, cause, incident_at, assessed_at)"
        f" VALUES ({CASE}, {SN}, 'air-3', 'collision', now(), now())"
        " ON CONFLICT (case_id) DO UPDATE SET sn = COALESCE(cases.sn, EXCLUDED.sn),"
        " model = COALESCE(cases.model, EXCLUDED.model),"
        " cause = COALESCE(cases.cause, EXCLUDED.cause),"
        " incident_at = COALESCE(cases.incident_at, EXCLUDED.incident_at),"
        " assessed_at = COALESCE(cases.assessed_at, EXCLUDED.assessed_at);",
        "COMMIT;",
        "BEGIN;",
        _inbox("claims.claim-decided", "claims.events.v1"),
        "INSERT INTO cases (case_id, sn, plan_id, model, incident_at, outcome, decided_at,"
        " reason_codes, rules_applied, flyaway, fee_amount, fee_currency, fee_schedule,"
        f" service_mode) VALUES ({CASE}, {SN}, {PLAN}, 'air-3', now(), 'replacement', now(),"
        " '{}', '{C1,C2,C3,C4,C5,C6}', false, 99.00, 'USD', 'standard', 'standard')"
        " ON CONFLICT (case_id) DO UPDATE SET sn = EXCLUDED.sn,"
        " plan_id = COALESCE(EXCLUDED.plan_id, cases.plan_id), model = EXCLUDED.model,"
        " incident_at = EXCLUDED.incident_at, outcome = EXCLUDED.outcome,"
        " decided_at = EXCLUDED.decided_at, reason_codes = EXCLUDED.reason_codes,"
        " rules_applied = EXCLUDED.rules_applied, flyaway = EXCLUDED.flyaway,"
        " fee_amount = EXCLUDED.fee_amount, fee_currency = EXCLUDED.fee_currency,"
        " fee_schedule = EXCLUDED.fee_schedule, service_mode = EXCLUDED.service_mode;",
        "COMMIT;",
        "BEGIN;",
        _inbox("coverage.deduction-applied", "coverage.events.v1"),
        "UPDATE plan_terms SET replacements_left = LEAST(replacements_left, 1),"
        f" flyaways_left = LEAST(flyaways_left, 1) WHERE plan_id = {PLAN} AND term_no = 1;",
        "INSERT INTO cases (case_id, plan_id, sn, ledger_state, ledger_reason_codes)"
        f" VALUES ({CASE}, {PLAN}, {SN}, 'applied', '{{}}') ON CONFLICT (case_id) DO UPDATE SET"
        " plan_id = COALESCE(cases.plan_id, EXCLUDED.plan_id),"
        " sn = COALESCE(cases.sn, EXCLUDED.sn), ledger_state = EXCLUDED.ledger_state,"
        " ledger_reason_codes = EXCLUDED.ledger_reason_codes;",
        _lookup_replacement(
            {
                "term_no": "1",
                "flyaway": "false",
                "fee_amount": "99.00",
                "fee_currency": "'USD'",
                "deducted_at": "now()",
            }
        ),
        "COMMIT;",
        "BEGIN;",
        _inbox("fulfilment.shipment-requested", "fulfilment.events.v1"),
        _lookup_replacement(
            {
                "shipment_id": "gen_random_uuid()",
                "ship_to_region": "'PL'",
                "customer_pays_shipping": "false",
                "shipment_requested_at": "now()",
            }
        ),
        "COMMIT;",
        "BEGIN;",
        _inbox("fulfilment.device-replaced", "fulfilment.events.v1"),
        _lookup_replacement({"new_sn": NEW_SN, "dispatched_at": "now()"}),
        "COMMIT;",
        "BEGIN;",
        _inbox("coverage.plan-inherited", "coverage.events.v1"),
        _lookup_replacement({"new_sn": NEW_SN, "inherited_at": "now()"}),
        "COMMIT;",
    ]
    return {
        "activation": activation,
        "coverage": coverage,
        "claims": claims,
        "fulfilment": fulfilment,
        "lookup": lookup,
    }


def pgbench_binary() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench"))
    if not found:
        raise FileNotFoundError("pgbench not found under /usr/lib/postgresql/*/bin")
    return found[-1]


@dataclass(frozen=True)
class PgbenchResult:
    plans: int
    clients: int
    seconds: int
    tps: dict[str, float]  # service -> script runs (cases) per second
    latency_ms: dict[str, float]  # service -> average script latency
    other_share: float  # share of the machine's CPU used by other work meanwhile

    @property
    def ceiling(self) -> float:
        """The platform's database ceiling in cases per second: its slowest service."""
        return min(self.tps.values()) if self.tps else 0.0

    @property
    def slowest(self) -> str:
        return min(self.tps, key=lambda service: self.tps[service]) if self.tps else "n/a"


async def run(target: Target, plans: int, seconds: int, sizes: dict[str, int]) -> PgbenchResult:
    """The five scripts at once, each on a fresh copy of its service's seeded database."""
    prefix = "benchpg"
    await seed.copy_templates(target.database_url, plans, prefix)
    consumer_plans, _ = seed.counts(plans)
    binary = pgbench_binary()
    processes, trees = infrastructure(target.kafka_ports, target.pg_port)
    meter = Meter(processes, trees)
    clients_before = os.times()
    meter.start()
    url = urlsplit(target.database_url)
    user, password = url.username or "careplan", url.password or ""
    with tempfile.TemporaryDirectory(prefix="bench-pgbench-") as folder:
        runs = []
        for service, lines in scripts(sizes).items():
            path = Path(folder) / f"{service}.sql"
            path.write_text("\n".join(lines) + "\n")
            runs.append(
                (
                    service,
                    await asyncio.create_subprocess_exec(
                        binary,
                        "-n",
                        "-M",
                        "prepared",
                        "-c",
                        str(CLIENTS),
                        "-j",
                        "1",
                        "-T",
                        str(seconds),
                        "-D",
                        f"plans={consumer_plans}",
                        "-f",
                        str(path),
                        "-h",
                        target.pg_host,
                        "-p",
                        str(target.pg_port),
                        "-U",
                        user,
                        f"{prefix}_{service}",
                        stdout=asyncio.subprocess.PIPE,
                        stderr=asyncio.subprocess.PIPE,
                        env=os.environ | {"PGPASSWORD": password},
                    ),
                )
            )
        tps: dict[str, float] = {}
        latency: dict[str, float] = {}
        for service, process in runs:
            out, err = await process.communicate()
            text = out.decode()
            found = re.search(r"tps = ([\d.]+) \(without initial connection time\)", text)
            if process.returncode != 0 or found is None:
                raise RuntimeError(f"pgbench for {service} failed:\n{text}\n{err.decode()}")
            tps[service] = float(found.group(1))
            average = re.search(r"latency average = ([\d.]+) ms", text)
            latency[service] = float(average.group(1)) if average else float("nan")
    usage = await meter.stop()
    clients_after = os.times()
    clients = (clients_after.children_user + clients_after.children_system) - (
        clients_before.children_user + clients_before.children_system
    )
    other = max(0.0, usage.other - clients)
    other_share = other / usage.machine_total if usage.machine_total else 0.0
    await seed.drop_databases(target.database_url, [f"{prefix}_{s}" for s in tps])
    return PgbenchResult(plans, CLIENTS, seconds, tps, latency, other_share)
