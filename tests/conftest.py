"""Where the tests find real Kafka and PostgreSQL.

1. `KAFKA_BOOTSTRAP_SERVERS` and `DATABASE_URL` set: that cluster and server are used as they are.
2. Else, a Docker engine answers: testcontainers starts Kafka and PostgreSQL containers.
3. Else: the project's local stack (`infra/stack.sh up`: Kafka from the official jars, PostgreSQL
   from Debian's packages), started if it is not running.

The tests own what they point at: topics are recreated and test databases dropped, but only on a
server that carries this checkout's stack mark (`CAREPLAN_STACK_MARK`, written by the local stack
into `.local/stack.env`; an explicitly named server must carry it as its `postgres` database's
comment).
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from shared.kafka_admin import ensure_topics
from shared.kafka_security import kafka_credentials
from shared.settings import ServiceSettings
from simulation.processes import STACK_MARK_PREFIX, act_as_administrator

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Stack:
    kafka_bootstrap: str
    database_url: str
    kafka_credentials: dict[str, str] = field(default_factory=dict)


def _docker_engine_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and os.environ.get("DATABASE_URL"):
        yield Stack(os.environ["KAFKA_BOOTSTRAP_SERVERS"], os.environ["DATABASE_URL"])
    elif _docker_engine_answers():
        from testcontainers.kafka import KafkaContainer
        from testcontainers.postgres import PostgresContainer

        with (
            KafkaContainer("confluentinc/cp-kafka:7.6.0") as kafka,
            PostgresContainer("postgres:15", driver=None) as postgres,
        ):
            server = postgres.get_connection_url().rsplit("/", 1)[0]
            # The tests started this server: they mark it as theirs, so resets may drop in it.
            mark = secrets.token_urlsafe(18)
            comment = f"COMMENT ON DATABASE postgres IS '{STACK_MARK_PREFIX}{mark}'"
            postgres.exec(["psql", "-U", postgres.username, "-c", comment])
            os.environ["CAREPLAN_STACK_MARK"] = mark
            yield Stack(kafka.get_bootstrap_server(), server)
    else:
        subprocess.run(["bash", str(ROOT / "infra/stack.sh"), "up"], check=True)
        credentials = kafka_credentials()
        act_as_administrator(credentials)
        settings = ServiceSettings()
        yield Stack(settings.kafka_bootstrap_servers, settings.database_url, credentials)


@pytest.fixture(scope="session")
async def topics(stack: Stack) -> AsyncIterator[dict[str, int]]:
    yield await ensure_topics(stack.kafka_bootstrap, recreate=True)


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("careplan-run")
