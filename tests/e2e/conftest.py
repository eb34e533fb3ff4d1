"""The services as separate processes on the real Kafka and PostgreSQL, for the session."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from contracts import topics as t
from simulation.kafka_io import EventLog, Upstream
from simulation.processes import Platform
from tests.conftest import Stack

OWNED = [
    t.ACTIVATION_EVENTS,
    t.COVERAGE_EVENTS,
    t.CLAIMS_EVENTS,
    t.FULFILMENT_EVENTS,
    t.INSURER_CLAIMS,
]
INBOUND = [topic for topic in t.ALL_TOPICS if topic not in OWNED]


def free_port() -> int:
    """A port nothing listens on now, so a running demo on 8080 does not stop the tests."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# Every dependency's grace period on the e2e platform (shared.waiting): an event whose
# dependency never comes gets its refusal after this long.
E2E_WAITING_GRACE_SECONDS = 6.0
# A liability incident on a drone with no plan waits for the whole session: the dashboard's and
# the lookup's tests watch one wait that does not end under them.
KEPT_FOR_THE_SESSION = "plan-of-liability-incident"
# A fee paid while coverage is stopped waits for its deduction across coverage's restart, which
# may take longer than the grace above.
KEPT_ACROSS_A_RESTART = "case-of-payment"


@pytest.fixture(scope="session")
async def platform(stack: Stack, topics: dict[str, int], run_dir: Path) -> AsyncIterator[Platform]:
    platform = Platform(
        stack.kafka_bootstrap,
        stack.database_url,
        run_dir / "logs",
        database_prefix="e2e",
        lookup_http_port=free_port(),
        operations_http_port=free_port(),
        kafka_credentials=stack.kafka_credentials,
        trace_files=True,
        # Long enough for any dependency read a moment late, short enough for a refusal test.
        waiting_grace_seconds=E2E_WAITING_GRACE_SECONDS,
        waiting_grace={KEPT_FOR_THE_SESSION: 3600.0, KEPT_ACROSS_A_RESTART: 120.0},
    )
    await platform.reset_databases()
    await platform.start()
    yield platform
    platform.stop()


@pytest.fixture(scope="session")
async def upstream(stack: Stack, topics: dict[str, int]) -> AsyncIterator[Upstream]:
    async with Upstream(stack.kafka_bootstrap) as producer:
        yield producer


@pytest.fixture
async def events(stack: Stack, platform: Platform) -> AsyncIterator[EventLog]:
    async with EventLog(stack.kafka_bootstrap, OWNED + INBOUND, INBOUND + OWNED) as log:
        yield log
