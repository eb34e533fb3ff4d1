"""Breaking things on purpose while cases flow: killed services, a restarted broker and database.

Restarting Kafka or PostgreSQL runs the project's own infra scripts, so it is only possible on
the local stack (`infra/stack.sh`); against an existing cluster only the services are killed.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from simulation.processes import Platform, ServiceProcess

INFRA = Path(__file__).resolve().parent.parent / "infra"


@dataclass
class ChaosReport:
    kills: Counter[str] = field(default_factory=Counter)
    broker_restarts: int = 0
    database_restarts: int = 0
    rebalances: int = 0  # members leaving or joining a group that has two instances

    @property
    def faults(self) -> int:
        return sum(self.kills.values()) + self.broker_restarts + self.database_restarts

    def lines(self) -> list[str]:
        kills = ", ".join(f"{name} {count}" for name, count in sorted(self.kills.items()))
        return [
            f"kills (SIGKILL) per process: {kills}",
            f"broker restarts: {self.broker_restarts}",
            f"database restarts: {self.database_restarts}",
            f"rebalances caused in two-instance groups: {self.rebalances}",
        ]


async def run_script(script: str) -> None:
    process = await asyncio.create_subprocess_exec(
        "bash", str(INFRA / script), stdout=asyncio.subprocess.DEVNULL
    )
    if await process.wait() != 0:
        raise RuntimeError(f"infra/{script} failed")


class Chaos:
    def __init__(
        self,
        platform: Platform,
        rng: random.Random,
        *,
        restart_infrastructure: bool,
        pause: tuple[float, float] = (1.5, 4.0),
    ) -> None:
        self.platform = platform
        self.rng = rng
        self.report = ChaosReport()
        self._restart_infrastructure = restart_infrastructure
        self._pause = pause

    async def run(self, kills_per_process: int) -> ChaosReport:
        """Kill every process `kills_per_process` times, in turn, at random moments; the broker
        and the database restart once each, a third and two thirds of the way through."""
        processes = list(self.platform.processes.values())
        rounds = kills_per_process * len(processes) + 2 * self._restart_infrastructure
        for round_no in range(rounds):
            await asyncio.sleep(self.rng.uniform(*self._pause))
            if self._restart_infrastructure and round_no == rounds // 3:
                await run_script("kafka/stop.sh")
                await run_script("kafka/start.sh")
                self.report.broker_restarts += 1
            elif self._restart_infrastructure and round_no == 2 * rounds // 3:
                await run_script("postgres/stop.sh")
                await run_script("postgres/start.sh")
                self.report.database_restarts += 1
            else:
                victim = processes[sum(self.report.kills.values()) % len(processes)]
                await self.kill_and_restart(victim)
        return self.report

    async def kill_and_restart(self, process: ServiceProcess) -> None:
        process.kill()
        self.report.kills[f"{process.service}-{process.instance}"] += 1
        await asyncio.sleep(self.rng.uniform(0.2, 1.5))
        process.start()
        await process.wait_started(timeout=120)
        if self._has_twin(process):
            self.report.rebalances += 2  # the killed member leaves, the restarted one joins

    def _has_twin(self, process: ServiceProcess) -> bool:
        return any(
            other.service == process.service and other is not process
            for other in self.platform.processes.values()
        )
