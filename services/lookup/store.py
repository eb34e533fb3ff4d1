"""The projection's SQL: the rows a batch touches loaded with one statement per table, and the
rows it changed saved with one statement per table. Each table's columns are its row type's
fields (services.lookup.domain_projection)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from contracts.claims import RepairSplit
from services.lookup.domain import (
    AccessoryRecord,
    CaseRecord,
    DeviceRecord,
    PackRecord,
    RefundRecord,
    ReplacementRecord,
    WaitEnded,
    WaitRecord,
)
from services.lookup.domain_bordereau import InsurerClaimRow
from services.lookup.domain_projection import PlanRow, ReadModel, Rows, TermRow, Touched

if TYPE_CHECKING:
    from shared.db import Connection

# One batch projects at a time: a batch reads its rows before it writes them, so a second
# lookup process projecting the same rows at the same moment would lose the first one's facts.
_PROJECTION_LOCK = 7_201_010


@dataclass(frozen=True)
class _Table:
    name: str
    row: type[Any]
    key: tuple[str, ...]
    loaded_by: str  # the column the batch's keys name
    documents: Mapping[str, type[BaseModel]] = field(default_factory=dict)  # jsonb columns

    @property
    def columns(self) -> list[str]:
        return [column.name for column in fields(self.row)]

    async def load(self, conn: Connection, keys: Collection[Any]) -> Rows[Any, Any]:
        if not keys:
            return Rows({})
        records = await conn.fetch(
            f"SELECT {', '.join(self.columns)} FROM {self.name} WHERE {self.loaded_by} = ANY($1)",
            list(keys),
        )
        columns = self.columns
        rows = [
            self.row(**{c: self._from_column(c, record[c]) for c in columns}) for record in records
        ]
        return Rows({self._key(row): row for row in rows})

    async def save(self, conn: Connection, rows: Rows[Any, Any]) -> None:
        changed = [rows.by_key[key] for key in sorted(rows.changed)]
        if not changed:
            return
        columns = self.columns
        await conn.executemany(
            f"INSERT INTO {self.name} ({', '.join(columns)})"
            f" VALUES ({', '.join(f'${n}' for n in range(1, len(columns) + 1))})"
            f" ON CONFLICT ({', '.join(self.key)}) DO UPDATE SET "
            + ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in self.key),
            [tuple(_to_column(getattr(row, c)) for c in columns) for row in changed],
        )

    def _from_column(self, column: str, value: Any) -> Any:
        if column in self.documents and value is not None:
            return self.documents[column].model_validate_json(value)  # jsonb comes as its text
        return tuple(value) if isinstance(value, list) else value

    def _key(self, row: Any) -> Any:
        key = tuple(getattr(row, column) for column in self.key)
        return key if len(key) > 1 else key[0]


def _to_column(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return list(value) if isinstance(value, tuple) else value


DEVICES = _Table("devices", DeviceRecord, ("sn",), "sn")
PLANS = _Table("plans", PlanRow, ("plan_id",), "plan_id")
TERMS = _Table("plan_terms", TermRow, ("plan_id", "term_no"), "plan_id")
CASES = _Table(
    "cases",
    CaseRecord,
    ("case_id",),
    "case_id",
    documents={"quoted_split": RepairSplit, "ledger_split": RepairSplit},
)
REPLACEMENTS = _Table("replacements", ReplacementRecord, ("case_id",), "case_id")
REFUNDS = _Table("refunds", RefundRecord, ("refund_id",), "refund_id")
ACCESSORIES = _Table("accessories", AccessoryRecord, ("accessory_sn", "drone_sn"), "accessory_sn")
INSURER_CLAIMS = _Table("insurer_claims", InsurerClaimRow, ("claim_id",), "claim_id")
PACKS = _Table("packs", PackRecord, ("plan_code",), "plan_code")


async def load_read_model(conn: Connection, touched: Touched) -> ReadModel:
    """The rows `touched` names, once the projection's lock is held."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _PROJECTION_LOCK)
    return ReadModel(
        devices=await DEVICES.load(conn, touched.sns),
        plans=await PLANS.load(conn, touched.plan_ids),
        terms=await TERMS.load(conn, touched.term_plan_ids),
        cases=await CASES.load(conn, touched.case_ids),
        replacements=await REPLACEMENTS.load(conn, touched.replacement_case_ids),
        accessories=await ACCESSORIES.load(conn, touched.accessory_sns),
        insurer_claims=await INSURER_CLAIMS.load(conn, touched.insurer_claim_ids),
        refunds=await REFUNDS.load(conn, touched.refund_ids),
        packs=await PACKS.load(conn, touched.pack_codes),
    )


async def save_read_model(conn: Connection, model: ReadModel) -> None:
    """The rows the batch changed, one statement per table."""
    await DEVICES.save(conn, model.devices)
    await PLANS.save(conn, model.plans)
    await TERMS.save(conn, model.terms)
    await CASES.save(conn, model.cases)
    await REPLACEMENTS.save(conn, model.replacements)
    await ACCESSORIES.save(conn, model.accessories)
    await INSURER_CLAIMS.save(conn, model.insurer_claims)
    await REFUNDS.save(conn, model.refunds)
    await PACKS.save(conn, model.packs)


async def follow_waits(
    conn: Connection, waits: Sequence[WaitRecord], ended: Sequence[WaitEnded]
) -> None:
    """Record the waits announced and the waits over, in two statements. The same key's
    announcements come in order (one partition); a wait over seen first still wins."""
    if waits:
        await conn.executemany(
            "INSERT INTO waits (event_id, service, dependency, key, event_type, since, deadline)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id) DO UPDATE SET"
            " event_type = EXCLUDED.event_type, since = EXCLUDED.since,"
            " deadline = EXCLUDED.deadline",
            [
                (w.event_id, w.service, w.dependency, w.key, w.event_type, w.since, w.deadline)
                for w in waits
            ],
        )
    if ended:
        await conn.executemany(
            "INSERT INTO waits (event_id, service, dependency, key, ended, ended_at)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO UPDATE SET"
            " ended = EXCLUDED.ended, ended_at = EXCLUDED.ended_at",
            [(e.event_id, e.service, e.dependency, e.key, e.ended, e.at) for e in ended],
        )
