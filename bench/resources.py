"""CPU seconds and resident memory of the processes under test, over one phase."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench import proc


@dataclass
class Usage:
    """What each process used during a phase: CPU seconds, peak and last resident set."""

    cpu: dict[str, float] = field(default_factory=dict)
    peak_rss: dict[str, int] = field(default_factory=dict)
    last_rss: dict[str, int] = field(default_factory=dict)
    machine_busy: float = 0.0  # CPU seconds the whole machine was busy (all cores)
    machine_total: float = 0.0  # CPU seconds available (all cores)
    seconds: float = 0.0

    @property
    def other(self) -> float:
        """CPU seconds used by processes not measured here: other work on the machine."""
        return max(0.0, self.machine_busy - sum(self.cpu.values()))


class Meter:
    """Measures labelled processes between `start()` and `stop()`.

    `processes` maps a label (e.g. `claims-1`) to a pid; `trees` maps a label to a root pid
    whose children are counted with it (PostgreSQL's postmaster and its backends).
    """

    def __init__(
        self, processes: dict[str, int], trees: dict[str, int], *, interval: float = 0.5
    ) -> None:
        self._processes = processes
        self._trees = trees
        self._interval = interval
        self._start_cpu: dict[str, float] = {}
        self._start_machine = proc.machine_times()
        self._started_at = 0.0
        self._usage = Usage()
        self._sampler: asyncio.Task[None] | None = None

    def _cpu_now(self) -> dict[str, float]:
        now: dict[str, float] = {}
        for label, pid in self._processes.items():
            times = proc.cpu_times(pid)
            if times is not None:
                now[label] = times.own
        for label, root in self._trees.items():
            total = proc.tree_cpu_seconds(root)
            if total is not None:
                now[label] = total
        return now

    def _sample_memory(self) -> None:
        for label, pid in self._processes.items():
            memory = proc.memory(pid)
            if memory is None:
                continue
            self._usage.last_rss[label] = memory.rss
            self._usage.peak_rss[label] = max(self._usage.peak_rss.get(label, 0), memory.rss)

    async def _sample(self) -> None:
        while True:
            self._sample_memory()
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._started_at = loop.time()
        self._start_cpu = self._cpu_now()
        self._start_machine = proc.machine_times()
        self._sampler = asyncio.create_task(self._sample())

    async def stop(self) -> Usage:
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
        self._sample_memory()
        end = self._cpu_now()
        machine = proc.machine_times()
        self._usage.cpu = {
            label: end[label] - self._start_cpu[label] for label in end if label in self._start_cpu
        }
        self._usage.machine_busy = machine.busy - self._start_machine.busy
        self._usage.machine_total = machine.total - self._start_machine.total
        self._usage.seconds = asyncio.get_running_loop().time() - self._started_at
        return self._usage


def infrastructure(
    kafka_ports: Sequence[int], pg_port: int
) -> tuple[dict[str, int], dict[str, int]]:
    """The brokers and the PostgreSQL server found by their listening ports, and this process
    (the load driver): (processes, trees) for a Meter. Missing ones are left out. A cluster's
    brokers are `kafka-1`, `kafka-2`...: instances of `kafka`, added up as a service's are."""
    processes = {"driver": os.getpid()}
    trees: dict[str, int] = {}
    for number, port in enumerate(kafka_ports, start=1):
        kafka = proc.listening_pid(port)
        if kafka is not None:
            processes["kafka" if len(kafka_ports) == 1 else f"kafka-{number}"] = kafka
    postgres = proc.listening_pid(pg_port)
    if postgres is not None:
        trees["postgres"] = postgres
    return processes, trees
