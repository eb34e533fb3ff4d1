"""The fault suite's own platform: two instances of claims and coverage in their groups."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from simulation.processes import Platform
from tests.conftest import Stack
from tests.e2e.conftest import free_port

# Long enough for the out-of-order phase: the services stay stopped while its journeys are
# published, and what arrives before its dependency must wait, not be refused, until they are
# back and have read it; short enough that what waits in vain is answered before the end.
WAITING_GRACE_SECONDS = float(os.environ.get("CAREPLAN_FAULT_WAITING_GRACE", "60"))


@pytest.fixture(scope="session")
def owns_infrastructure() -> bool:
    """Restarting the broker and the database is only ours to do on the local stack."""
    return not os.environ.get("KAFKA_BOOTSTRAP_SERVERS")


@pytest.fixture(scope="session")
async def fault_platform(
    stack: Stack, topics: dict[str, int], run_dir: Path
) -> AsyncIterator[Platform]:
    platform = Platform(
        stack.kafka_bootstrap,
        stack.database_url,
        run_dir / "fault-logs",
        database_prefix="faults",
        lookup_http_port=free_port(),
        operations_http_port=free_port(),
        kafka_credentials=stack.kafka_credentials,
        waiting_grace_seconds=WAITING_GRACE_SECONDS,
    )
    await platform.reset_databases()
    await platform.start()
    twins = [platform.process(service, instance="2") for service in ("claims", "coverage")]
    for twin in twins:
        twin.start()
    for twin in twins:
        await twin.wait_started()
    yield platform
    platform.stop()
