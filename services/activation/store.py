"""Activation's SQL: a batch's context in one round trip per table, its results in one statement
per table. Rows come back as the domain's values."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import asyncpg

from contracts import topics
from contracts.activation import (
    ActivationPending,
    ActivationPendingPayload,
    ActivationRefused,
    ActivationRefusedPayload,
    PlanActivated,
    PlanActivatedPayload,
    PlanRenewed,
    PlanRenewedPayload,
)
from contracts.agricultural import PlanFamily
from contracts.envelope import Envelope, Payload
from contracts.money import Money
from contracts.upstream import Owner
from services.activation.domain import ActivationRefusal, CodeState, Outgoing
from services.activation.domain_accessories import (
    Accessory,
    AccessoryActivationRecord,
    AccessoryState,
)
from services.activation.domain_binding import (
    Answer,
    Bar,
    BoundTerm,
    Device,
    Plan,
    PlanHolder,
    RequestRecord,
    RequestState,
    SoldCode,
)

if TYPE_CHECKING:
    from shared.db import Connection


def _columns(rows: Sequence[tuple[Any, ...]]) -> list[list[Any]]:
    """Rows as the column arrays `unnest` takes."""
    return [list(column) for column in zip(*rows, strict=True)]


async def lock(conn: Connection, keys: Iterable[str]) -> None:
    """Serialise decisions on the same drones or accessories, taken in one order: no deadlock."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext(k)) FROM unnest($1::text[]) AS k ORDER BY k",
        sorted(set(keys)),
    )


# Plan codes, devices, owners ----------------------------------------------------------------------


async def record_plan_codes(conn: Connection, codes: Sequence[SoldCode]) -> None:
    """A code sold again under a new order event (retried upstream) changes nothing."""
    if not codes:
        return
    await conn.execute(
        "INSERT INTO plan_codes (plan_code, order_id, sku, model, region, price_amount,"
        " price_currency, purchased_at, family, plan_year, new_drone_bundle, state)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
        " $6::numeric[], $7::text[], $8::timestamptz[], $9::text[], $10::int[], $11::bool[],"
        " $12::text[]) ON CONFLICT (plan_code) DO NOTHING",
        *_columns(
            [
                (
                    sold.code,
                    sold.order_id,
                    sold.sku,
                    sold.model,
                    sold.region,
                    sold.price.amount,
                    sold.price.currency,
                    sold.purchased_at,
                    sold.family.value,
                    sold.plan_year,
                    sold.new_drone_bundle,
                    sold.state.value,
                )
                for sold in codes
            ]
        ),
    )


async def lock_codes(conn: Connection, plan_codes: Iterable[str]) -> dict[str, SoldCode]:
    """The codes, locked in one order: one request at a time binds a code (A2)."""
    rows = await conn.fetch(
        "SELECT * FROM plan_codes WHERE plan_code = ANY($1::text[]) ORDER BY plan_code FOR UPDATE",
        sorted(set(plan_codes)),
    )
    return {row["plan_code"]: _sold_code(row) for row in rows}


def _sold_code(row: asyncpg.Record) -> SoldCode:
    return SoldCode(
        code=row["plan_code"],
        sku=row["sku"],
        model=row["model"],
        state=CodeState(row["state"]),
        order_id=row["order_id"],
        price=Money(amount=row["price_amount"], currency=row["price_currency"]),
        family=PlanFamily(row["family"]),
        region=row["region"],
        purchased_at=row["purchased_at"],
        plan_year=row["plan_year"],
        new_drone_bundle=row["new_drone_bundle"],
    )


async def save_code_states(conn: Connection, codes: Iterable[SoldCode]) -> None:
    rows = [(code.code, code.state.value) for code in codes]
    if not rows:
        return
    await conn.execute(
        "UPDATE plan_codes c SET state = s.state FROM unnest($1::text[], $2::text[])"
        " AS s (plan_code, state) WHERE c.plan_code = s.plan_code",
        *_columns(rows),
    )


async def record_devices(conn: Connection, devices: Sequence[Device]) -> None:
    """A device's first activation is kept (A1): a later one does not move it."""
    if not devices:
        return
    await conn.execute(
        "INSERT INTO devices (sn, model, activated_at)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])"
        " ON CONFLICT (sn) DO UPDATE SET activated_at = LEAST(devices.activated_at,"
        " EXCLUDED.activated_at)",
        *_columns([(device.sn, device.model, device.activated_at) for device in devices]),
    )


async def devices(conn: Connection, sns: Iterable[str]) -> dict[str, Device]:
    rows = await conn.fetch(
        "SELECT sn, model, activated_at FROM devices WHERE sn = ANY($1::text[])", list(set(sns))
    )
    return {row["sn"]: Device(row["sn"], row["model"], row["activated_at"]) for row in rows}


async def save_owners(conn: Connection, owners: Sequence[Owner]) -> dict[str, uuid.UUID]:
    """The owners by e-mail (lower case), the name the latest request gave: personal data lives
    here and nowhere else, other services know only the owner id."""
    names = {owner.email.lower(): owner.name for owner in owners}
    if not names:
        return {}
    rows = await conn.fetch(
        "INSERT INTO owners (owner_id, email, name)"
        " SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[]) AS o (owner_id, email, name)"
        " ORDER BY email ON CONFLICT (email) DO UPDATE SET name = EXCLUDED.name"
        " RETURNING owner_id, email",
        [uuid.uuid4() for _ in names],
        list(names),
        list(names.values()),
    )
    return {row["email"]: row["owner_id"] for row in rows}


async def barred(
    conn: Connection, *, sns: Iterable[str], owner_ids: Iterable[uuid.UUID], emails: Iterable[str]
) -> frozenset[tuple[str, str]]:
    """C10: which of these devices, accounts and persons are barred."""
    rows = await conn.fetch(
        "SELECT kind, value FROM barred WHERE (kind = 'device' AND value = ANY($1::text[]))"
        " OR (kind = 'account' AND value = ANY($2::text[]))"
        " OR (kind = 'person' AND value = ANY($3::text[]))",
        list(set(sns)),
        [str(owner_id) for owner_id in set(owner_ids)],
        list(set(emails)),
    )
    return frozenset((row["kind"], row["value"]) for row in rows)


async def bar(conn: Connection, bars: Sequence[Bar]) -> None:
    """C10: the first case to bar a device, an account or a person is the one kept."""
    if not bars:
        return
    await conn.execute(
        "INSERT INTO barred (kind, value, case_id)"
        " SELECT kind, value, case_id FROM unnest($1::text[], $2::text[], $3::text[])"
        " WITH ORDINALITY AS b (kind, value, case_id, position) ORDER BY position"
        " ON CONFLICT DO NOTHING",
        *_columns([(bar.kind.value, bar.value, bar.case_id) for bar in bars]),
    )


async def plan_holders(
    conn: Connection, plan_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, PlanHolder]:
    rows = await conn.fetch(
        "SELECT t.plan_id, t.sn, o.owner_id, o.email FROM plan_terms t JOIN owners o"
        " USING (owner_id) WHERE t.plan_id = ANY($1::uuid[]) AND t.term_no = 1",
        list(set(plan_ids)),
    )
    return {row["plan_id"]: PlanHolder(row["sn"], row["owner_id"], row["email"]) for row in rows}


# Activation requests ------------------------------------------------------------------------------


async def known_requests(conn: Connection, request_ids: Iterable[str]) -> set[str]:
    rows = await conn.fetch(
        "SELECT request_id FROM activation_requests WHERE request_id = ANY($1::text[])",
        list(set(request_ids)),
    )
    return {row["request_id"] for row in rows}


async def lock_requests(conn: Connection, request_ids: Iterable[str]) -> dict[str, RequestRecord]:
    rows = await conn.fetch(
        "SELECT * FROM activation_requests WHERE request_id = ANY($1::text[])"
        " ORDER BY request_id FOR UPDATE",
        sorted(set(request_ids)),
    )
    return {
        row["request_id"]: RequestRecord(
            request_id=row["request_id"],
            plan_code=row["plan_code"],
            sn=row["sn"],
            owner_id=row["owner_id"],
            requested_at=row["requested_at"],
            state=RequestState(row["state"]),
            reasons=tuple(ActivationRefusal(reason) for reason in row["reason_codes"]),
        )
        for row in rows
    }


async def record_requests(conn: Connection, requests: Sequence[RequestRecord]) -> None:
    if not requests:
        return
    await conn.execute(
        "INSERT INTO activation_requests (request_id, plan_code, sn, owner_id, requested_at,"
        " state, reason_codes) SELECT r.request_id, r.plan_code, r.sn, r.owner_id,"
        " r.requested_at, r.state, string_to_array(r.reasons, ',')::text[] FROM unnest($1::text[],"
        " $2::text[], $3::text[], $4::uuid[], $5::timestamptz[], $6::text[], $7::text[])"
        " AS r (request_id, plan_code, sn, owner_id, requested_at, state, reasons)",
        *_columns([_request_row(request) for request in requests]),
    )


async def save_request_decisions(conn: Connection, requests: Sequence[RequestRecord]) -> None:
    if not requests:
        return
    await conn.execute(
        "UPDATE activation_requests a SET state = r.state,"
        " reason_codes = string_to_array(r.reasons, ',')::text[], decided_at = now()"
        " FROM unnest($1::text[], $2::text[], $3::text[]) AS r (request_id, state, reasons)"
        " WHERE a.request_id = r.request_id",
        *_columns([(row[0], row[5], row[6]) for row in map(_request_row, requests)]),
    )


def _request_row(request: RequestRecord) -> tuple[Any, ...]:
    # Reason codes are upper-case words: a comma-joined text travels in one unnest column.
    return (
        request.request_id,
        request.plan_code,
        request.sn,
        request.owner_id,
        request.requested_at,
        request.state.value,
        ",".join(reason.value for reason in request.reasons),
    )


# Plan terms ---------------------------------------------------------------------------------------

_TERM_COLUMNS = (
    "t.plan_id, t.term_no, t.plan_code, t.sn, t.owner_id, t.sku, t.term_start, t.term_end,"
    " t.plan_year, t.scheduled_end"
)


def _term(row: asyncpg.Record) -> BoundTerm:
    return BoundTerm(
        plan_id=row["plan_id"],
        term_no=row["term_no"],
        plan_code=row["plan_code"],
        sn=row["sn"],
        owner_id=row["owner_id"],
        sku=row["sku"],
        start=row["term_start"],
        end=row["term_end"],
        plan_year=row["plan_year"],
        scheduled_end=row["scheduled_end"],
    )


async def plans_on(conn: Connection, sns: Iterable[str]) -> dict[str, Plan]:
    """The plan each device holds: its terms in order, the family and model of its first code."""
    rows = await conn.fetch(
        f"SELECT {_TERM_COLUMNS}, c.model, c.family FROM plan_terms t"
        " JOIN plan_codes c USING (plan_code) WHERE t.sn = ANY($1::text[])"
        " ORDER BY t.sn, t.term_no",
        list(set(sns)),
    )
    plans: dict[str, Plan] = {}
    for row in rows:
        held = plans.get(row["sn"])
        term = _term(row)
        plans[row["sn"]] = (
            held.with_term(term) if held else Plan(PlanFamily(row["family"]), row["model"], (term,))
        )
    return plans


async def lock_terms_of(conn: Connection, plan_ids: Iterable[uuid.UUID]) -> list[BoundTerm]:
    rows = await conn.fetch(
        f"SELECT {_TERM_COLUMNS} FROM plan_terms t WHERE t.plan_id = ANY($1::uuid[])"
        " ORDER BY t.plan_id, t.term_no FOR UPDATE",
        sorted(set(plan_ids)),
    )
    return [_term(row) for row in rows]


async def save_terms(conn: Connection, terms: Iterable[BoundTerm]) -> None:
    """The final state of each term bound, renewed, cut short, confirmed or moved."""
    rows = [
        (
            term.plan_id,
            term.term_no,
            term.plan_code,
            term.sn,
            term.owner_id,
            term.sku,
            term.start,
            term.end,
            term.plan_year,
            term.scheduled_end,
        )
        for term in terms
    ]
    if not rows:
        return
    await conn.execute(
        "INSERT INTO plan_terms (plan_id, term_no, plan_code, sn, owner_id, sku, term_start,"
        " term_end, plan_year, scheduled_end) SELECT * FROM unnest($1::uuid[], $2::int[],"
        " $3::text[], $4::text[], $5::uuid[], $6::text[], $7::timestamptz[], $8::timestamptz[],"
        " $9::int[], $10::timestamptz[]) ON CONFLICT (plan_id, term_no) DO UPDATE SET"
        " sn = EXCLUDED.sn, term_start = EXCLUDED.term_start, term_end = EXCLUDED.term_end,"
        " scheduled_end = EXCLUDED.scheduled_end",
        *_columns(rows),
    )


# Accessories (G1-G3) ------------------------------------------------------------------------------


async def drone_models(conn: Connection, sns: Iterable[str]) -> dict[str, str]:
    """The model of each drone: as it activated, else as its plan was sold."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (sn) sn, model FROM (SELECT sn, model, 0 AS source FROM devices"
        " WHERE sn = ANY($1::text[]) UNION ALL SELECT t.sn, c.model, 1 FROM plan_terms t"
        " JOIN plan_codes c USING (plan_code) WHERE t.sn = ANY($1::text[])) AS known"
        " ORDER BY sn, source",
        list(set(sns)),
    )
    return {row["sn"]: row["model"] for row in rows}


async def lock_accessories(
    conn: Connection, *, accessory_sns: Iterable[str], drone_sns: Iterable[str]
) -> dict[str, Accessory]:
    """These accessories and every accessory on these drones, locked in one order."""
    rows = await conn.fetch(
        "SELECT * FROM accessories WHERE accessory_sn = ANY($1::text[])"
        " OR drone_sn = ANY($2::text[]) ORDER BY accessory_sn FOR UPDATE",
        list(set(accessory_sns)),
        list(set(drone_sns)),
    )
    return {
        row["accessory_sn"]: Accessory(
            accessory_type=row["accessory_type"],
            drone_sn=row["drone_sn"],
            state=AccessoryState(row["state"]),
            accessory_sn=row["accessory_sn"],
            first_activated_at=row["first_activated_at"],
            associated_at=row["associated_at"],
            released_at=row["released_at"],
            replaced_by_sn=row["replaced_by_sn"],
        )
        for row in rows
    }


async def save_accessories(conn: Connection, accessories: Iterable[Accessory]) -> None:
    """The final state of each accessory touched. Those no longer associated go first: G2's
    index admits one associated accessory of a type per drone at every row written."""
    ordered = sorted(accessories, key=lambda a: a.state is AccessoryState.ASSOCIATED)
    if not ordered:
        return
    await conn.execute(
        "INSERT INTO accessories (accessory_sn, accessory_type, drone_sn, state,"
        " first_activated_at, associated_at, released_at, replaced_by_sn)"
        " SELECT accessory_sn, accessory_type, drone_sn, state, first_activated_at, associated_at,"
        " released_at, replaced_by_sn FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
        " $5::timestamptz[], $6::timestamptz[], $7::timestamptz[], $8::text[]) WITH ORDINALITY"
        " AS a (accessory_sn, accessory_type, drone_sn, state, first_activated_at, associated_at,"
        " released_at, replaced_by_sn, position) ORDER BY position"
        " ON CONFLICT (accessory_sn) DO UPDATE SET drone_sn = EXCLUDED.drone_sn,"
        " state = EXCLUDED.state, associated_at = EXCLUDED.associated_at,"
        " released_at = EXCLUDED.released_at, replaced_by_sn = EXCLUDED.replaced_by_sn",
        *_columns(
            [
                (
                    a.accessory_sn,
                    a.accessory_type,
                    a.drone_sn,
                    a.state.value,
                    a.first_activated_at,
                    a.associated_at,
                    a.released_at,
                    a.replaced_by_sn,
                )
                for a in ordered
            ]
        ),
    )


async def seen_accessory_activations(
    conn: Connection, activations: Sequence[tuple[str, str, datetime]]
) -> set[tuple[str, str, datetime]]:
    """The activations already decided: the business key catches upstream resends."""
    if not activations:
        return set()
    rows = await conn.fetch(
        "SELECT a.accessory_sn, a.drone_sn, a.activated_at FROM accessory_activations a"
        " JOIN unnest($1::text[], $2::text[], $3::timestamptz[]) AS k (accessory_sn, drone_sn,"
        " activated_at) USING (accessory_sn, drone_sn, activated_at)",
        *_columns(activations),
    )
    return {(row["accessory_sn"], row["drone_sn"], row["activated_at"]) for row in rows}


async def record_accessory_activations(
    conn: Connection, records: Sequence[AccessoryActivationRecord]
) -> None:
    if not records:
        return
    await conn.execute(
        "INSERT INTO accessory_activations (accessory_sn, drone_sn, activated_at,"
        " accessory_type, outcome, reason_codes) SELECT r.accessory_sn, r.drone_sn,"
        " r.activated_at, r.accessory_type, r.outcome, string_to_array(r.reasons, ',')::text[]"
        " FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[],"
        " $6::text[]) AS r (accessory_sn, drone_sn, activated_at, accessory_type, outcome,"
        " reasons)",
        *_columns(
            [
                (
                    r.accessory_sn,
                    r.drone_sn,
                    r.activated_at,
                    r.accessory_type.value,
                    r.outcome.value,
                    ",".join(reason.value for reason in r.reasons),
                )
                for r in records
            ]
        ),
    )


_ANSWERS: tuple[tuple[type[Envelope], type[Payload]], ...] = (
    (PlanActivated, PlanActivatedPayload),
    (PlanRenewed, PlanRenewedPayload),
    (ActivationPending, ActivationPendingPayload),
    (ActivationRefused, ActivationRefusedPayload),
)
_PAYLOAD_OF = {
    envelope.model_fields["event_type"].default: payload for envelope, payload in _ANSWERS
}
_EVENT_TYPE_OF = {payload: event_type for event_type, payload in _PAYLOAD_OF.items()}


async def answers(conn: Connection, request_ids: Iterable[str]) -> dict[str, Answer]:
    rows = await conn.fetch(
        "SELECT request_id, event_id, event_type, payload::text, key, correlation_id"
        " FROM request_answers WHERE request_id = ANY($1::text[])",
        list(set(request_ids)),
    )
    return {
        row["request_id"]: Answer(
            row["request_id"],
            row["event_id"],
            Outgoing(
                _PAYLOAD_OF[row["event_type"]].model_validate_json(row["payload"]),
                row["key"],
                row["correlation_id"],
            ),
        )
        for row in rows
    }


async def save_answers(conn: Connection, given: Iterable[Answer]) -> None:
    """The latest answer of each request: a video review's verdict replaces the pending one."""
    rows = [
        (
            answer.request_id,
            answer.event_id,
            _EVENT_TYPE_OF[type(answer.outgoing.payload)],
            answer.outgoing.payload.model_dump_json(),
            answer.outgoing.key,
            answer.outgoing.correlation_id,
        )
        for answer in given
    ]
    if not rows:
        return
    await conn.execute(
        "INSERT INTO request_answers (request_id, event_id, event_type, payload, key,"
        " correlation_id) SELECT r.request_id, r.event_id, r.event_type, r.payload::jsonb, r.key,"
        " r.correlation_id FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[],"
        " $5::text[], $6::text[]) AS r (request_id, event_id, event_type, payload, key,"
        " correlation_id) ON CONFLICT (request_id) DO UPDATE SET event_id = excluded.event_id,"
        " event_type = excluded.event_type, payload = excluded.payload, key = excluded.key,"
        " correlation_id = excluded.correlation_id, answered_at = now()",
        *_columns(rows),
    )


async def sns_with_waiting_requests(
    conn: Connection, sns: Iterable[str], dependencies: Iterable[str]
) -> set[str]:
    """The devices with a request kept waiting for one of `dependencies` (shared.waiting)."""
    rows = await conn.fetch(
        "SELECT DISTINCT sn FROM (SELECT convert_from(payload, 'UTF8')::jsonb #>> '{payload,sn}'"
        " AS sn FROM waiting_events WHERE topic = $1 AND dependency = ANY($2::text[])) AS kept"
        " WHERE sn = ANY($3::text[])",
        topics.ACTIVATION_REQUESTS.name,
        list(dependencies),
        list(set(sns)),
    )
    return {row["sn"] for row in rows}
