"""A second checkout's stack on moved ports, beside this one: with only the port variables set,
its settings name its own stack (addresses, random password); its resets (the demo's and the
tests') drop and recreate only its own databases and topics, and refuse this stack's even when
pointed at it. Nothing of this stack is touched."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contracts import topics as t
from shared.kafka_security import client_options
from shared.settings import ServiceSettings
from tests.conftest import ROOT, Stack

pytestmark = pytest.mark.integration

# Away from this stack's ports (each stack takes Kafka's port and the one above it).
SHIFT = 100
PORT_VARIABLES = ("CAREPLAN_KAFKA_PORT", "CAREPLAN_PG_PORT", "CAREPLAN_LOOKUP_HTTP_PORT")

# What the second checkout runs: the settings it derives, then the demo's database reset and the
# tests' topic recreation, each reported as JSON.
SECOND_CHECKOUT_RUNS = """
import asyncio, json, sys
from shared.kafka_admin import ensure_topics
from shared.kafka_security import kafka_credentials
from shared.settings import ServiceSettings
from simulation.processes import Platform, act_as_administrator

async def main() -> None:
    act_as_administrator(kafka_credentials())
    s = ServiceSettings()
    print(json.dumps({"kafka": s.kafka_bootstrap_servers, "database": s.database_url,
                      "lookup": s.lookup_http_port}), flush=True)
    if sys.argv[1:] == ["reset"]:
        await Platform(s.kafka_bootstrap_servers, s.database_url, "logs").reset_databases()
        await ensure_topics(s.kafka_bootstrap_servers, recreate=True)

asyncio.run(main())
"""


def copy_checkout(target: Path) -> None:
    """The files of this checkout, without its .local state: a checkout of its own."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    # The Kafka jars are read-only inputs: shared rather than downloaded again.
    (target / ".local/kafka").mkdir(parents=True)
    (target / ".local/kafka/libs").symlink_to(ROOT / ".local/kafka/libs")


def moved_ports(first: ServiceSettings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAREPLAN_", "KAFKA_"))}
    env.pop("DATABASE_URL", None)
    return env | {
        "CAREPLAN_KAFKA_PORT": str(first.kafka_port + SHIFT),
        "CAREPLAN_PG_PORT": str(first.pg_port + SHIFT),
        "CAREPLAN_LOOKUP_HTTP_PORT": str(first.lookup_http_port + SHIFT),
    }


@pytest.fixture(scope="module")
def second(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    first = ServiceSettings()
    if not stack.kafka_credentials or not (ROOT / ".local/kafka/libs").is_dir():
        pytest.skip("needs the local stack")
    checkout = tmp_path_factory.mktemp("second-checkout")
    copy_checkout(checkout)
    env = moved_ports(first)
    try:
        subprocess.run(["bash", "infra/stack.sh", "up"], cwd=checkout, env=env, check=True)
        yield checkout
    finally:
        subprocess.run(["bash", "infra/stack.sh", "reset"], cwd=checkout, env=env, check=False)


def in_second(checkout: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = moved_ports(ServiceSettings()) | {"PYTHONPATH": str(checkout)} | extra
    return subprocess.run(
        [sys.executable, "-c", SECOND_CHECKOUT_RUNS, *args],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


async def database_oids(database_url: str) -> dict[str, int]:
    """A dropped and recreated database comes back with a new oid."""
    conn = await asyncpg.connect(f"{database_url}/postgres")
    try:
        rows = await conn.fetch(
            "SELECT datname, oid FROM pg_database WHERE datname LIKE 'careplan_%'"
        )
    finally:
        await conn.close()
    return {row["datname"]: row["oid"] for row in rows}


async def canary(stack: Stack) -> tuple[TopicPartition, int, bytes]:
    """A record on this stack's Kafka, to be found again afterwards."""
    value = f"canary {uuid.uuid4()}".encode()
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, **client_options())
    await producer.start()
    try:
        sent = await producer.send_and_wait(t.CLAIMS_EVENTS.dead_letter, value, key=b"canary")
    finally:
        await producer.stop()
    return TopicPartition(sent.topic, sent.partition), sent.offset, value


async def still_there(stack: Stack, where: TopicPartition, offset: int) -> bytes:
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap, **client_options())
    await consumer.start()
    try:
        consumer.assign([where])
        consumer.seek(where, offset)
        async with asyncio.timeout(30):
            record = await consumer.getone(where)
    finally:
        await consumer.stop()
    value: bytes = record.value
    return value


async def test_a_second_stack_on_moved_ports_touches_nothing_of_the_first(
    stack: Stack, topics: dict[str, int], second: Path
) -> None:
    first = ServiceSettings()
    first_databases = await database_oids(first.database_url)
    assert "careplan_claims" in first_databases
    where, offset, value = await canary(stack)

    derived = in_second(second)
    assert derived.returncode == 0, derived.stderr
    settings = json.loads(derived.stdout.splitlines()[0])
    assert settings["kafka"] == f"127.0.0.1:{first.kafka_port + SHIFT}"
    assert settings["database"].endswith(f"@127.0.0.1:{first.pg_port + SHIFT}")
    assert settings["lookup"] == first.lookup_http_port + SHIFT
    # Its own random password, not this stack's.
    assert settings["database"] != first.database_url.replace(
        f":{first.pg_port}", f":{first.pg_port + SHIFT}"
    )

    reset = in_second(second, "reset")
    assert reset.returncode == 0, reset.stderr
    second_url = settings["database"]
    recreated = await database_oids(second_url)
    assert set(recreated) >= {f"careplan_{s}" for s in ("activation", "claims", "lookup")}

    # Pointed at this stack, by its port (without its password) or by its full address (a stale
    # DATABASE_URL): the second checkout cannot log in, or sees a mark not its own and stops.
    by_port = in_second(second, "reset", CAREPLAN_PG_PORT=str(first.pg_port))
    assert by_port.returncode != 0
    assert "password authentication failed" in by_port.stderr
    by_url = in_second(second, "reset", DATABASE_URL=first.database_url)
    assert by_url.returncode != 0
    assert "ForeignStackError" in by_url.stderr and "refusing to drop" in by_url.stderr

    assert await database_oids(first.database_url) == first_databases
    assert await still_there(stack, where, offset) == value
    assert await database_oids(second_url) == recreated, "the refusals dropped nothing there"
