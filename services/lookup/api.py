"""The lookup's HTTP API: `GET /plans/by-sn/{sn}` (X5), `GET /insurers/{insurer}/bordereaux/{month}`
(C7, C8, L1-L4) and `GET /health`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import asyncpg
import structlog
from fastapi import FastAPI, HTTPException, Path, Query
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel

from contracts.serials import SERIAL_PATTERN, InvalidSerialNumberError, normalise_serial
from services.lookup import queries
from services.lookup.answer import LookupAnswer, Problem
from services.lookup.domain import assemble
from services.lookup.domain_bordereau import (
    MONTH_PATTERN,
    Bordereau,
    bordereau,
    month_bounds,
    to_csv,
)
from shared.catalogue import consumer_catalogue
from shared.catalogue.agricultural import agricultural_catalogue

log = structlog.get_logger(__name__)


class Health(BaseModel):
    status: str


# Documented, not enforced by FastAPI: an unknown insurer gets the service's own 404.
INSURERS = sorted(agricultural_catalogue().insurers)


class ExportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"


def create_api(
    pool: Callable[[], asyncpg.Pool], clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> FastAPI:
    """The API over the read model; `pool` gives the service's pool once it is open."""
    # Its /docs page serves Swagger UI from the package, not a CDN: whole on an offline machine.
    api = FastAPIOffline(
        title="careplan lookup",
        version="1.0.0",
        description="X5: a device's plan, terms, warranty and claim and replacement history, "
        "by serial number, from the platform's own events.",
    )
    catalogue = consumer_catalogue()
    plan_names = {sku: plan.name for sku, plan in catalogue.plans.items()} | {
        sku: plan.name for sku, plan in agricultural_catalogue().plans.items()
    }

    @api.get(
        "/plans/by-sn/{sn}",
        response_model=LookupAnswer,
        responses={
            404: {"model": Problem, "description": "The platform knows nothing of this SN"},
            422: {"model": Problem, "description": "Not a serial number (D1)"},
        },
    )
    async def plan_by_sn(
        # Documented, not enforced by FastAPI: a malformed SN gets the service's own D1 answer.
        sn: Annotated[str, Path(json_schema_extra={"pattern": SERIAL_PATTERN})],
    ) -> LookupAnswer:
        """The plan the SN holds, its terms, what is left, the warranty and the history."""
        try:
            normalised = normalise_serial(sn)
        except InvalidSerialNumberError as error:
            raise HTTPException(422, detail=f"{error} (D1)") from None
        async with pool().acquire() as conn:
            found = await queries.findings(conn, normalised)
        answer = assemble(
            found,
            now=clock(),
            warranty_months=catalogue.warranty.warranty_months,
            plan_names=plan_names,
        )
        if answer is None:
            raise HTTPException(
                404,
                detail=f"serial number {normalised} is unknown: no device activation, plan,"
                " claim or replacement names it",
            )
        return answer

    @api.get(
        "/insurers/{insurer}/bordereaux/{month}",
        response_model=Bordereau,
        responses={
            200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
            404: {"model": Problem, "description": "No such insurer in the catalogue"},
            422: {"model": Problem, "description": "Not a month (YYYY-MM) or a format"},
        },
    )
    async def insurer_bordereau(
        insurer: Annotated[str, Path(json_schema_extra={"enum": INSURERS})],
        month: Annotated[str, Path(pattern=MONTH_PATTERN, examples=["2026-11"])],
        export: Annotated[ExportFormat, Query(alias="format")] = ExportFormat.JSON,
    ) -> Bordereau | PlainTextResponse:
        """The insurer's bordereau of a month of Asia/Shanghai dates (M2): the repairs its base
        quotas paid with their deductibles, the claims reported, withdrawn and answered, the
        liability claims routed with their limits, and totals that tie out to the ledger."""
        if insurer not in INSURERS:
            raise HTTPException(
                404, detail=f"{insurer!r} is not an insurer of the catalogue: {', '.join(INSURERS)}"
            )
        start, end = month_bounds(month)
        async with pool().acquire() as conn:
            repairs, claims = await queries.bordereau_facts(conn, insurer, start, end)
        document = bordereau(insurer, month, repairs, claims)
        if export is ExportFormat.CSV:
            return PlainTextResponse(
                to_csv(document),
                media_type="text/csv",
                headers={
                    "Content-Disposition": f'attachment; filename="bordereau-{insurer}-{month}.csv"'
                },
            )
        return document

    @api.get("/health", response_model=Health, responses={503: {"model": Problem}})
    async def health() -> Health | JSONResponse:
        """Up when the read model's database answers."""
        try:
            async with pool().acquire() as conn:
                await queries.database_answers(conn)
        except (OSError, RuntimeError, asyncpg.PostgresError) as error:
            log.warning("health_check_failed", error=str(error))
            return JSONResponse({"detail": f"database unavailable: {error}"}, status_code=503)
        return Health(status="ok")

    return api
