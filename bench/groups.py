"""Who is in a consumer group: nothing else may consume while the benchmark measures."""

from __future__ import annotations

import asyncio
import time

from aiokafka.admin import AIOKafkaAdminClient

from shared.kafka_security import client_options


async def members(bootstrap: str, groups: list[str]) -> set[str]:
    """Client ids of the members of `groups` now."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options())
    await admin.start()
    try:
        found: set[str] = set()
        for response in await admin.describe_consumer_groups(groups):
            for group in response.groups:
                found.update(str(member[1]) for member in group[5])
        return found
    finally:
        await admin.close()


async def assert_groups_idle(bootstrap: str, groups: list[str], *, wait: float = 60.0) -> None:
    """Refuse to measure while something else consumes in the services' groups.

    A service process left over from an earlier run (or another checkout's on the same
    cluster) would take partitions and do unmeasured work. A member that just died leaves
    when its session times out, so this waits a while before refusing.
    """
    deadline = time.monotonic() + wait
    while busy := await members(bootstrap, groups):
        if time.monotonic() > deadline:
            raise RuntimeError(
                "other consumers are in the benchmark's consumer groups (clients "
                + ", ".join(sorted(busy))
                + "): stop them before benchmarking"
            )
        await asyncio.sleep(1.0)
