"""`careplan`: the operator's and the integrator's command line.

Exit codes: 0 done, 1 failed (the message says why), 2 wrong usage. A failure prints one line;
`--debug` prints the traceback as well.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, urlsplit

import typer

from careplan.registry import BY_PRINCIPAL, SERVICES
from contracts.schemas import SCHEMA_DIR, export_schemas
from contracts.topics import BY_NAME, DEAD_LETTER_SUFFIX
from shared.kafka_security import MECHANISM, KafkaAccessError, check_access, kafka_credentials
from shared.settings import ServiceSettings

app = typer.Typer(
    no_args_is_help=True,
    help="Operate the care-plan platform.",
    pretty_exceptions_enable=False,
)

ASYNCAPI_DIR = Path("docs/asyncapi")
# How long a command waits for Kafka or the lookup service to answer before it gives up.
CONNECT_TIMEOUT_SECONDS = 10.0
T = TypeVar("T")


class Failure(Exception):
    """What went wrong, in words for whoever typed the command."""


class _Options:
    debug = False


@app.callback()
def main_options(
    debug: Annotated[bool, typer.Option(help="Print the traceback of a failure")] = False,
) -> None:
    _Options.debug = debug


def main() -> None:
    """The `careplan` script."""
    try:
        app()
    except Failure as failure:
        if _Options.debug:
            raise
        typer.echo(f"careplan: {failure}", err=True)
        sys.exit(1)
    except Exception as error:
        if _Options.debug:
            raise
        typer.echo(f"careplan: {type(error).__name__}: {error} (--debug shows where)", err=True)
        sys.exit(1)


def _with_kafka(work: Coroutine[Any, Any, T]) -> T:
    """Run `work` once Kafka has let this process in; a refusal or silence fails at once."""

    async def checked() -> T:
        try:
            await check_access(ServiceSettings(), timeout=CONNECT_TIMEOUT_SECONDS)
        except KafkaAccessError as error:
            work.close()
            raise Failure(str(error)) from error
        return await work

    return asyncio.run(checked())


@app.command()
def topics(
    recreate: Annotated[bool, typer.Option(help="Delete and recreate them")] = False,
) -> None:
    """Create every topic and dead-letter topic with its partition count."""
    from shared.kafka_admin import ensure_topics

    bootstrap = ServiceSettings().kafka_bootstrap_servers
    plan = _with_kafka(ensure_topics(bootstrap, recreate=recreate))
    for name, partitions in sorted(plan.items()):
        typer.echo(f"{name:40} {partitions} partitions")


@app.command()
def asyncapi(
    check: Annotated[bool, typer.Option(help="Fail if a checked-in document is stale")] = False,
) -> None:
    """Write docs/asyncapi/<service>.json for every service (or check them)."""
    from careplan.asyncapi import render

    stale = []
    for service in SERVICES:
        path = ASYNCAPI_DIR / f"{service}.json"
        rendered = render(service)
        if check:
            if not path.exists() or path.read_text() != rendered:
                stale.append(str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(rendered)
    if stale:
        raise Failure(f"stale AsyncAPI documents (run `careplan asyncapi`): {', '.join(stale)}")


@app.command()
def acls(
    check: Annotated[bool, typer.Option(help="Fail if infra/kafka/acls.txt is stale")] = False,
) -> None:
    """Write the Kafka ACLs of every principal, derived from the code and the contracts."""
    from careplan.acls import ACL_FILE, render

    rendered = render()
    path = Path(ACL_FILE)
    if check:
        if not path.exists() or path.read_text() != rendered:
            raise Failure(f"{ACL_FILE} is stale: run `careplan acls`")
        return
    path.write_text(rendered)


@app.command()
def schemas() -> None:
    """Write the JSON Schema of every event into contracts/json_schemas/."""
    for path in export_schemas(SCHEMA_DIR):
        typer.echo(str(path))


def _contract_topic(topic: str) -> str:
    if topic.endswith(DEAD_LETTER_SUFFIX) or topic not in BY_NAME:
        raise typer.BadParameter(f"{topic!r} is not a contract topic; name the original, not .dlq")
    return topic


@app.command("replay-dead-letters")
def replay_dead_letters(
    topic: Annotated[
        str,
        typer.Argument(
            help="The original topic, e.g. repair.assessments.v1", callback=_contract_topic
        ),
    ],
    limit: Annotated[int, typer.Option(min=1, help="Replay at most this many")] = 1000,
) -> None:
    """Republish dead letters of TOPIC onto TOPIC, with their original key and bytes.

    Run it after the fix that makes them valid is deployed. Progress is a consumer group
    (`careplan-replay.<topic>`), so a dead letter is replayed once even if this is run twice.
    """
    from shared.replay import replay

    bootstrap = ServiceSettings().kafka_bootstrap_servers
    count = _with_kafka(replay(bootstrap, topic, limit=limit))
    typer.echo(f"replayed {count} dead letters onto {topic}")


@app.command()
def status() -> None:
    """Consumer lag per group and partition, outbox backlog per service, dead letters per topic."""
    from services.operations.watch import status_text

    typer.echo(_with_kafka(status_text(ServiceSettings())))


@app.command("replay-dead-letter")
def replay_dead_letter(
    reference: Annotated[
        str, typer.Argument(help="<dead-letter topic>/<partition>/<offset>, as the dashboard shows")
    ],
    operator: Annotated[str, typer.Option(help="Who replays it, for the record")],
) -> None:
    """Replay ONE dead letter onto its original topic, once, recorded as the dashboard does."""
    from services.operations.replay import replay_from_terminal

    typer.echo(_with_kafka(replay_from_terminal(ServiceSettings(), reference, operator)))


def _http_url(url: str | None) -> str | None:
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise typer.BadParameter(f"{url!r} is not an http:// or https:// address")
    return url


@app.command()
def lookup(
    sn: Annotated[str, typer.Argument(help="The device's serial number (D1)")],
    url: Annotated[
        str | None,
        typer.Option(
            help="The lookup service [default: http://127.0.0.1:<lookup_http_port>]",
            callback=_http_url,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON answer")] = False,
) -> None:
    """X5: the plan SN holds, its terms, what is left, the warranty and the history (F3, C9).

    Exits 1 when the SN is malformed (D1), unknown to the platform, or the service does not
    answer as the lookup service.
    """
    import httpx
    from pydantic import ValidationError

    from careplan.lookup_text import render_text
    from contracts.serials import InvalidSerialNumberError, normalise_serial
    from services.lookup.answer import LookupAnswer

    try:
        normalised = normalise_serial(sn)
    except InvalidSerialNumberError as error:
        raise Failure(f"{error} (D1)") from None
    base = url or f"http://127.0.0.1:{ServiceSettings().lookup_http_port}"
    try:
        response = httpx.get(
            f"{base.rstrip('/')}/plans/by-sn/{quote(normalised)}", timeout=CONNECT_TIMEOUT_SECONDS
        )
    except httpx.HTTPError as error:
        raise Failure(f"the lookup service at {base} did not answer: {error}") from None
    if response.status_code in (404, 422):
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise Failure(str(detail))
    if response.status_code != 200:
        raise Failure(f"the lookup service at {base} answered {response.status_code}")
    try:
        answer = LookupAnswer.model_validate_json(response.content)
    except ValidationError:
        raise Failure(f"{base} did not answer as the lookup service does (X5)") from None
    typer.echo(answer.model_dump_json(indent=2) if as_json else render_text(answer))


@app.command()
def bordereau(
    insurer: Annotated[str, typer.Option(help="The catalogue's insurer id, e.g. zhongan")],
    month: Annotated[str, typer.Option(help="A month of Asia/Shanghai dates (M2): YYYY-MM")],
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV instead of JSON")] = False,
    url: Annotated[
        str | None,
        typer.Option(
            help="The lookup service [default: http://127.0.0.1:<lookup_http_port>]",
            callback=_http_url,
        ),
    ] = None,
) -> None:
    """C7, C8, L1-L4: the insurer's bordereau of a month, as its claims team receives it: the
    repairs its base quotas paid with their deductibles, the claims reported, withdrawn and
    answered, the liability claims routed with their limits, and totals that tie out to the
    ledger. Exits 1 when the insurer or the month is unknown or the service does not answer."""
    import httpx

    from services.lookup.domain_bordereau import InvalidMonthError, month_bounds

    try:
        month_bounds(month)
    except InvalidMonthError as error:
        raise Failure(f"{error} (M2)") from None
    base = url or f"http://127.0.0.1:{ServiceSettings().lookup_http_port}"
    try:
        response = httpx.get(
            f"{base.rstrip('/')}/insurers/{quote(insurer)}/bordereaux/{quote(month)}",
            params={"format": "csv" if as_csv else "json"},
            timeout=CONNECT_TIMEOUT_SECONDS,
        )
    except httpx.HTTPError as error:
        raise Failure(f"the lookup service at {base} did not answer: {error}") from None
    if response.status_code in (404, 422):
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise Failure(str(detail))
    if response.status_code != 200:
        raise Failure(f"the lookup service at {base} answered {response.status_code}")
    typer.echo(response.text.rstrip("\n"))


def _integrator(principal: str) -> str:
    if principal not in BY_PRINCIPAL:
        raise typer.BadParameter(
            f"{principal!r} is not an integrator; one of {', '.join(BY_PRINCIPAL)}"
        )
    return principal


@app.command("client-properties")
def client_properties(
    principal: Annotated[
        str, typer.Argument(help="The outside system, e.g. warehouse", callback=_integrator)
    ],
) -> None:
    """Kafka client properties of an outside system's principal, with what it may do.

    The password is the local stack's (`.local/kafka*/credentials.env`); on another cluster it
    reads <password>, to be filled in from wherever that cluster keeps it.
    """
    integrator = BY_PRINCIPAL[principal]
    settings = ServiceSettings()
    password = kafka_credentials().get(principal, "<password>")
    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{principal}" password="{password}";'
    )
    lines = [
        f"# {principal}: writes {', '.join(t.name for t in integrator.writes) or 'nothing'}",
        f"# reads {', '.join(integrator.reads)}",
        f"# consumer groups: {integrator.group_prefix}<name>",
        f"bootstrap.servers={settings.kafka_bootstrap_servers}",
        f"security.protocol={'SASL_SSL' if settings.kafka_tls else 'SASL_PLAINTEXT'}",
        f"sasl.mechanism={MECHANISM}",
        f"sasl.jaas.config={jaas}",
    ]
    if settings.kafka_tls:  # the brokers' certificates, verified against the stack's CA
        lines += ["ssl.truststore.type=PEM", f"ssl.truststore.location={settings.kafka_ca_file}"]
    typer.echo("\n".join(lines))
