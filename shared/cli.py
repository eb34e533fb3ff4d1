"""`careplan`: the operator's command line."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from contracts.schemas import SCHEMA_DIR, export_schemas
from contracts.topics import BY_NAME, DEAD_LETTER_SUFFIX
from shared.settings import ServiceSettings

app = typer.Typer(no_args_is_help=True, help="Operate the care-plan platform.")

ASYNCAPI_DIR = Path("docs/asyncapi")
SERVICES = ("activation", "coverage", "claims", "fulfilment", "lookup", "operations")


@app.command()
def topics(
    recreate: Annotated[bool, typer.Option(help="Delete and recreate them")] = False,
) -> None:
    """Create every topic and dead-letter topic with its partition count."""
    from shared.kafka_admin import ensure_topics

    plan = asyncio.run(ensure_topics(ServiceSettings().kafka_bootstrap_servers, recreate=recreate))
    for name, partitions in sorted(plan.items()):
        typer.echo(f"{name:40} {partitions} partitions")


def render_asyncapi(service: str) -> str:
    """The AsyncAPI document FastStream generates from the service's own code."""
    import importlib

    module = importlib.import_module(f"services.{service}.app")
    spec = module.service.asyncapi().to_specification().to_jsonable()
    return json.dumps(spec, indent=2, sort_keys=True) + "\n"


@app.command()
def asyncapi(
    check: Annotated[bool, typer.Option(help="Fail if a checked-in document is stale")] = False,
) -> None:
    """Write docs/asyncapi/<service>.json for every service (or check them)."""
    stale = []
    for service in SERVICES:
        path = ASYNCAPI_DIR / f"{service}.json"
        rendered = render_asyncapi(service)
        if check:
            if not path.exists() or path.read_text() != rendered:
                stale.append(str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(rendered)
    if stale:
        typer.echo(f"stale AsyncAPI documents (run `careplan asyncapi`): {', '.join(stale)}")
        raise typer.Exit(1)


@app.command()
def acls(
    check: Annotated[bool, typer.Option(help="Fail if infra/kafka/acls.txt is stale")] = False,
) -> None:
    """Write the Kafka ACLs of every service, derived from what it consumes and owns."""
    from shared.kafka_acls import ACL_FILE, render

    rendered = render(SERVICES)
    path = Path(ACL_FILE)
    if check:
        if not path.exists() or path.read_text() != rendered:
            typer.echo(f"{ACL_FILE} is stale: run `careplan acls`")
            raise typer.Exit(1)
        return
    path.write_text(rendered)


@app.command()
def schemas() -> None:
    """Write the JSON Schema of every event into contracts/json_schemas/."""
    for path in export_schemas(SCHEMA_DIR):
        typer.echo(str(path))


@app.command("replay-dead-letters")
def replay_dead_letters(
    topic: Annotated[str, typer.Argument(help="The original topic, e.g. repair.assessments.v1")],
    limit: Annotated[int, typer.Option(help="Replay at most this many")] = 1000,
) -> None:
    """Republish dead letters of TOPIC onto TOPIC, with their original key and bytes.

    Run it after the fix that makes them valid is deployed. Progress is a consumer group
    (`careplan-replay.<topic>`), so a dead letter is replayed once even if this is run twice.
    """
    if topic.endswith(DEAD_LETTER_SUFFIX) or topic not in BY_NAME:
        typer.echo(f"{topic!r} is not a contract topic; name the original, not the .dlq")
        raise typer.Exit(2)
    from shared.replay import replay

    count = asyncio.run(replay(ServiceSettings().kafka_bootstrap_servers, topic, limit=limit))
    typer.echo(f"replayed {count} dead letters onto {topic}")


@app.command()
def status() -> None:
    """Consumer lag per group and partition, outbox backlog per service, dead letters per topic."""
    from services.operations.watch import status_text

    typer.echo(asyncio.run(status_text(ServiceSettings())))


@app.command("replay-dead-letter")
def replay_dead_letter(
    reference: Annotated[
        str, typer.Argument(help="<dead-letter topic>/<partition>/<offset>, as the dashboard shows")
    ],
    operator: Annotated[str, typer.Option(help="Who replays it, for the record")],
) -> None:
    """Replay ONE dead letter onto its original topic, once, recorded as the dashboard does."""
    from services.operations.replay import replay_from_terminal

    typer.echo(asyncio.run(replay_from_terminal(ServiceSettings(), reference, operator)))


@app.command()
def lookup(
    sn: Annotated[str, typer.Argument(help="The device's serial number (D1)")],
    url: Annotated[
        str | None,
        typer.Option(help="The lookup service [default: http://127.0.0.1:<lookup_http_port>]"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON answer")] = False,
) -> None:
    """X5: the plan SN holds, its terms, what is left, the warranty and the history (F3, C9).

    Exits 1 when the SN is malformed (D1) or unknown to the platform.
    """
    from urllib.parse import quote

    import httpx

    from contracts.serials import InvalidSerialNumberError, normalise_serial
    from services.lookup.answer import LookupAnswer
    from services.lookup.domain import render_text

    try:
        normalised = normalise_serial(sn)
    except InvalidSerialNumberError as error:
        typer.echo(f"{error} (D1)", err=True)
        raise typer.Exit(1) from None
    base = url or f"http://127.0.0.1:{ServiceSettings().lookup_http_port}"
    try:
        response = httpx.get(f"{base.rstrip('/')}/plans/by-sn/{quote(normalised)}", timeout=10.0)
    except httpx.HTTPError as error:
        typer.echo(f"the lookup service at {base} did not answer: {error}", err=True)
        raise typer.Exit(2) from None
    if response.status_code in (404, 422):
        typer.echo(response.json().get("detail", response.text), err=True)
        raise typer.Exit(1)
    if response.status_code != 200:
        typer.echo(f"the lookup service answered {response.status_code}: {response.text}", err=True)
        raise typer.Exit(2)
    answer = LookupAnswer.model_validate_json(response.content)
    typer.echo(answer.model_dump_json(indent=2) if as_json else render_text(answer))
