"""Nothing else may consume while the benchmark measures.

A service process left over from an earlier run (a run that was killed, say) keeps consuming in
the services' consumer groups: it takes partitions and does work nobody measures. Before a
setup starts, the benchmark looks for such processes on this machine (the ones whose Kafka
settings point at the cluster under test) and refuses to go on while one runs.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

PROC = Path("/proc")


def consumers_of(bootstrap: str) -> dict[int, str]:
    """pid -> command line of the service and bare-chain processes using `bootstrap`."""
    found: dict[int, str] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            if "-m services." not in command and "-m bench.bare" not in command:
                continue
            environment = (entry / "environ").read_bytes().split(b"\0")
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
        settings = {
            line.partition(b"=")[0]: line.partition(b"=")[2].decode(errors="replace")
            for line in environment
        }
        if settings.get(b"KAFKA_BOOTSTRAP_SERVERS") == bootstrap or bootstrap in command:
            found[int(entry.name)] = command
    return found


async def assert_groups_idle(bootstrap: str, *, wait: float = 30.0) -> None:
    """Until no other service or stage process uses `bootstrap`; refuse after `wait` seconds."""
    deadline = time.monotonic() + wait
    while others := consumers_of(bootstrap):
        if time.monotonic() > deadline:
            listed = "; ".join(f"{pid}: {command}" for pid, command in sorted(others.items()))
            raise RuntimeError(
                f"other processes consume from {bootstrap} ({listed}): stop them first"
            )
        await asyncio.sleep(1.0)
