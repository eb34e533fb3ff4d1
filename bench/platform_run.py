"""The platform under load: the services as processes, fed seeded plans' cases by the driver.

A phase is either open throttle (as many cases in flight as the window allows, for a while) or
a fixed offered rate (cases sent on a schedule, whatever the platform does). Either way it ends
when every case has its final event and every consumer group of every service has caught up,
so what a phase measures is work finished, not work queued.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import seed
from bench.config import Scale, Target
from bench.driver import BenchDriver
from bench.groups import assert_groups_idle
from bench.resources import Meter, Usage, infrastructure
from bench.stats import Summary, middle_rate, rate, summarise
from careplan.registry import SERVICES
from contracts import topics as t
from simulation import factories as f
from simulation.load import CR_MODELS, Device
from simulation.offsets import Offsets
from simulation.processes import Platform

DATABASE_PREFIX = "bench"
INVALID = (
    b"not json at all",
    b'{"event_type": "repair.assessment-reported"}',
    b'{"event_type": "repair.assessment-reported", "payload": {"case_id": 7}}',
)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def service_of(label: str) -> str:
    """The service a measured process stands for: 'claims-2' and 'claims-bare' -> 'claims'."""
    if label.endswith("-bare"):
        return label.removesuffix("-bare")
    head, _, tail = label.rpartition("-")
    return head if head and tail.isdigit() else label


def services_measured(usage: Usage) -> dict[str, str]:
    """Each measured process's label -> the service (or broker) it is an instance of."""
    return {label: service_of(label) for label in {*usage.cpu, *usage.peak_rss}}


@dataclass
class PhaseResult:
    """What one phase measured."""

    name: str
    setup: str  # e.g. "10,000 plans, 1 instance each"
    plans: int
    instances: dict[str, int]
    mode: str  # "open" or "rate"
    offered_rate: float | None
    sending_seconds: float
    cases: int
    finished: int
    unfinished: int
    invalid_sent: int
    outcomes: dict[str, int]
    elapsed: float  # first case sent -> last final event and every consumer caught up
    throughput: float  # cases / elapsed
    final_rate_middle: float  # final events per second between the 10th and 90th percentile
    decision: Summary | None
    final: Summary | None
    final_replacements: Summary | None
    schedule_slip: float  # worst delay of a scheduled send behind its schedule
    lag_after_sending: int  # messages the services had still to consume when sending ended
    usage: Usage
    # label -> service, for the per-service figures ("claims-1" -> "claims")
    services: dict[str, str] = field(default_factory=dict)

    def cpu_per_case(self) -> dict[str, float]:
        """CPU seconds per finished case of each service (instances added up) and the rest."""
        if not self.finished:
            return {}
        per: defaultdict[str, float] = defaultdict(float)
        for label, seconds in self.usage.cpu.items():
            per[self.services.get(label, label)] += seconds
        return {label: seconds / self.finished for label, seconds in per.items()}

    def platform_cpu_per_case(self) -> float | None:
        """CPU seconds per case of the system under test: services, broker and PostgreSQL
        (not the load driver)."""
        per = self.cpu_per_case()
        return sum(v for k, v in per.items() if k != "driver") if per else None

    def capacity(self) -> float | None:
        """Cases per second the machine's cores would carry at this CPU cost per case if
        nothing else ran on them: a figure that other work on a shared machine moves less
        than throughput."""
        cost = self.platform_cpu_per_case()
        cores = self.usage.machine_total / self.usage.seconds if self.usage.seconds else 0.0
        return cores / cost if cost else None

    def peak_rss(self) -> dict[str, int]:
        """Peak resident set of each service: of its largest instance."""
        peaks: dict[str, int] = {}
        for label, value in self.usage.peak_rss.items():
            name = self.services.get(label, label)
            peaks[name] = max(peaks.get(name, 0), value)
        return peaks

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> PhaseResult:
        """A phase back from `as_dict` (per-process memory comes back per service)."""
        usage = Usage(
            cpu=dict(raw["cpu_seconds"]),
            peak_rss=dict(raw["peak_rss"]),
            machine_busy=raw["machine_busy"],
            machine_total=raw["machine_total"],
            seconds=raw["phase_seconds"],
        )
        services = services_measured(usage)
        return cls(
            name=raw["name"],
            setup=raw["setup"],
            plans=raw["plans"],
            instances=raw["instances"],
            mode=raw["mode"],
            offered_rate=raw["offered_rate"],
            sending_seconds=raw["sending_seconds"],
            cases=raw["cases"],
            finished=raw["finished"],
            unfinished=raw["unfinished"],
            invalid_sent=raw["invalid_sent"],
            outcomes=raw["outcomes"],
            elapsed=raw["elapsed"],
            throughput=raw["throughput"],
            final_rate_middle=raw["final_rate_middle"],
            decision=Summary(**raw["decision"]) if raw["decision"] else None,
            final=Summary(**raw["final"]) if raw["final"] else None,
            final_replacements=(
                Summary(**raw["final_replacements"]) if raw["final_replacements"] else None
            ),
            schedule_slip=raw["schedule_slip"],
            lag_after_sending=raw["lag_after_sending"],
            usage=usage,
            services=services,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "setup": self.setup,
            "plans": self.plans,
            "instances": self.instances,
            "mode": self.mode,
            "offered_rate": self.offered_rate,
            "sending_seconds": self.sending_seconds,
            "cases": self.cases,
            "finished": self.finished,
            "unfinished": self.unfinished,
            "invalid_sent": self.invalid_sent,
            "outcomes": self.outcomes,
            "elapsed": self.elapsed,
            "throughput": self.throughput,
            "final_rate_middle": self.final_rate_middle,
            "decision": self.decision.as_dict() if self.decision else None,
            "final": self.final.as_dict() if self.final else None,
            "final_replacements": (
                self.final_replacements.as_dict() if self.final_replacements else None
            ),
            "schedule_slip": self.schedule_slip,
            "lag_after_sending": self.lag_after_sending,
            "cpu_seconds": self.usage.cpu,
            "cpu_per_case": self.cpu_per_case(),
            "platform_cpu_per_case": self.platform_cpu_per_case(),
            "capacity": self.capacity(),
            "peak_rss": self.peak_rss(),
            "machine_busy": self.usage.machine_busy,
            "machine_total": self.usage.machine_total,
            "other_cpu": self.usage.other,
            "phase_seconds": self.usage.seconds,
        }


class PlanPool:
    """Seeded plans handed out once each, in random order."""

    def __init__(self, plans: int, rng: random.Random) -> None:
        self._order = list(range(1, plans + 1))
        rng.shuffle(self._order)
        self._next = 0

    @property
    def left(self) -> int:
        return len(self._order) - self._next

    def take(self) -> int:
        if self._next >= len(self._order):
            raise LookupError("every seeded plan has had its case")
        self._next += 1
        return self._order[self._next - 1]


WAITING_GRACE_SECONDS = 3.0


class BenchPlatform:
    """The five services on fresh copies of the seeded templates, with extra instances."""

    def __init__(
        self,
        target: Target,
        log_dir: Path,
        plans: int,
        instances: dict[str, int],
        seed_: int,
        credentials: dict[str, str],
    ) -> None:
        self.target = target
        self.plans = plans
        self.instances = {service: instances.get(service, 1) for service in SERVICES}
        self.platform = Platform(
            target.kafka_bootstrap,
            target.database_url,
            log_dir,
            database_prefix=DATABASE_PREFIX,
            lookup_http_port=free_port(),
            operations_http_port=free_port(),
            kafka_credentials=credentials,
            # The run's unknown SNs wait this long for a plan before their refusal.
            waiting_grace_seconds=WAITING_GRACE_SECONDS,
        )
        consumer, agricultural = seed.counts(plans)
        self.pool = PlanPool(consumer, random.Random(seed_))
        self.ag_pool = PlanPool(agricultural, random.Random(seed_ + 2))
        self.rng = random.Random(seed_ + 1)
        # Their cases wait the grace for a plan that never comes: left out of the latencies.
        self.unknown_sns: set[str] = set()

    @property
    def setup(self) -> str:
        extra = [f"{n} x {s}" for s, n in self.instances.items() if n > 1]
        return f"{self.plans:,} plans, " + (
            ", ".join(extra) + ", 1 of the others" if extra else "1 instance each"
        )

    async def start(self) -> None:
        """Fresh databases, then the services; whatever started is stopped if any fails."""
        await assert_groups_idle(self.target.kafka_bootstrap)
        await seed.copy_templates(self.target.database_url, self.plans, DATABASE_PREFIX)
        try:
            await self._start_processes()
        except BaseException:
            self.stop()
            raise

    async def _start_processes(self) -> None:
        await self.platform.start()
        extra = [
            self.platform.process(service, instance=str(n))
            for service, count in self.instances.items()
            for n in range(2, count + 1)
        ]
        for process in extra:
            if process.service == "lookup":  # its own HTTP port beside the first instance's
                process.env["CAREPLAN_LOOKUP_HTTP_PORT"] = str(free_port())
            process.start()
        for process in extra:
            await process.wait_started()

    def stop(self) -> None:
        self.platform.stop()

    def pids(self) -> dict[str, int]:
        found = {}
        for label, process in self.platform.processes.items():
            if process.process is not None and process.process.poll() is None:
                found[label] = process.process.pid
        return found

    @property
    def left(self) -> int:
        """Cases that can still be sent: each seeded plan has one."""
        return min(self.pool.left, self.ag_pool.left * seed.AG_SHARE)

    def unknown_device(self) -> Device:
        sn = f.new_serial(self.rng)
        self.unknown_sns.add(sn)
        return Device(
            sn=sn,
            model=self.rng.choice(CR_MODELS),
            sku="care-refresh-1y",
            plan_code=f.new_plan_code(self.rng),
        )


class Phase:
    """One phase's sending, waiting and measuring."""

    def __init__(self, bench: BenchPlatform, scale: Scale, name: str) -> None:
        self.bench = bench
        self.scale = scale
        self.name = name
        self.run_id = f"BN{uuid.uuid4().hex[:6].upper()}"
        self.invalid_sent = 0
        self._sends: set[asyncio.Task[None]] = set()
        self._slip = 0.0

    def _case(self, driver: BenchDriver, number: int) -> str:
        """Send one case (and now and then an invalid message); returns its case id.

        The mix: one case in ten an AG repair on a seeded AG plan, a few on an SN with no
        plan (refused, C1), the rest consumer cases on seeded CR plans, of which the driver
        makes about 15% exclusions (refused) and the rest replacements.
        """
        bench = self.bench
        if number % seed.AG_SHARE == seed.AG_SHARE - 1:
            device = seed.seeded_ag_device(bench.ag_pool.take())
            report = driver.ag_assessment(device)
        else:
            unknown = bench.rng.random() < self.scale.unknown_sn_share
            device = bench.unknown_device() if unknown else seed.seeded_device(bench.pool.take())
            report = driver.assessment(device)
        work: list[Any] = [driver.report(device, report)]
        if number % self.scale.invalid_every == self.scale.invalid_every - 1:
            work.append(driver.inject_invalid(t.REPAIR_ASSESSMENTS, INVALID[number % 3]))
            self.invalid_sent += 1

        async def send() -> None:
            await asyncio.gather(*work)

        task = asyncio.create_task(send())
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)
        return report.payload.case_id

    async def _open(self, driver: BenchDriver, seconds: float, window: int) -> int:
        """As many cases in flight as `window` allows, for `seconds`."""
        outstanding: list[str] = []
        sent = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end and self.bench.left > 0:
            outstanding = [
                case for case in outstanding if (c := driver.cases.get(case)) is None or not c.final
            ]
            room = window - len(outstanding)
            for _ in range(min(room, self.bench.left)):
                outstanding.append(self._case(driver, sent))
                sent += 1
            await asyncio.sleep(0.01)
        return sent

    async def _at_rate(self, driver: BenchDriver, seconds: float, offered: float) -> int:
        """Cases sent on a fixed schedule of `offered` per second, for `seconds`."""
        total = min(int(seconds * offered), self.bench.left)
        start = time.monotonic()
        for number in range(total):
            due = start + number / offered
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                self._slip = max(self._slip, -delay)
            self._case(driver, number)
        return total

    async def run(self, *, mode: str, offered: float | None = None) -> PhaseResult:
        bench = self.bench
        target = bench.target
        scale = self.scale
        async with (
            BenchDriver(
                target.kafka_bootstrap, self.run_id, seed=bench.rng.randrange(1 << 30)
            ) as driver,
            Offsets(target.kafka_bootstrap) as offsets,
        ):
            await self._warm_up(driver, offsets)
            driver.cases.clear()
            processes, trees = infrastructure(target.kafka_ports, target.pg_port)
            pids = bench.pids()
            meter = Meter({**pids, **processes}, trees)
            meter.start()
            started = time.monotonic()
            if mode == "open":
                await self._open(driver, scale.open_seconds, scale.open_window)
            else:
                assert offered is not None
                await self._at_rate(driver, scale.rate_seconds, offered)
            if self._sends:
                await asyncio.gather(*self._sends)
            sending = time.monotonic() - started
            lag = await _total_lag(offsets)
            await _finish(driver, offsets, scale.drain_timeout)
            elapsed = time.monotonic() - started
            usage = await meter.stop()
        return self._result(driver, mode, offered, sending, elapsed, lag, usage)

    async def _warm_up(self, driver: BenchDriver, offsets: Offsets) -> None:
        """A few cases through every service first: consumers assigned, caches and pools warm."""
        for number in range(self.scale.warmup_cases):
            self._case(driver, number)
        await asyncio.gather(*self._sends)
        await _finish(driver, offsets, self.scale.drain_timeout)
        self.invalid_sent = 0

    def _result(
        self,
        driver: BenchDriver,
        mode: str,
        offered: float | None,
        sending: float,
        elapsed: float,
        lag: int,
        usage: Usage,
    ) -> PhaseResult:
        tracks = list(driver.cases.values())
        finished = [track for track in tracks if track.final_at is not None]
        outcomes: Counter[str] = Counter()
        for track in tracks:
            if track.inherited:
                outcomes["replaced"] += 1
            elif getattr(track, "quota_deductions", None):
                outcomes["AG repair paid from the quotas"] += 1
            elif track.ledger_refusals:
                outcomes["refused by the ledger"] += 1
            elif track.decided:
                outcome = next(iter(track.decided.values())).payload.outcome.value
                outcomes[outcome] += 1
            else:
                outcomes["no decision"] += 1
        replaced = [tr for tr in finished if tr.inherited]
        timed = [tr for tr in tracks if tr.sn not in self.bench.unknown_sns]
        return PhaseResult(
            name=self.name,
            setup=self.bench.setup,
            plans=self.bench.plans,
            instances=dict(self.bench.instances),
            mode=mode,
            offered_rate=offered,
            sending_seconds=sending,
            cases=len(tracks),
            finished=len(finished),
            unfinished=len(tracks) - len(finished),
            invalid_sent=self.invalid_sent,
            outcomes=dict(outcomes),
            elapsed=elapsed,
            throughput=rate(len(finished), elapsed),
            final_rate_middle=middle_rate([tr.final_at for tr in finished if tr.final_at]),
            decision=summarise(
                tr.decided_at - tr.sent_at for tr in timed if tr.decided_at is not None
            ),
            final=summarise(tr.final_at - tr.sent_at for tr in timed if tr.final_at),
            final_replacements=summarise(
                tr.final_at - tr.sent_at for tr in replaced if tr.final_at
            ),
            schedule_slip=self._slip,
            lag_after_sending=lag,
            usage=usage,
            services=services_measured(usage),
        )


async def _total_lag(offsets: Offsets) -> int:
    total = 0
    for (_service, topic_name), group in offsets.groups.items():
        total += await offsets.lag(group, t.BY_NAME[topic_name])
    return total


async def _finish(driver: BenchDriver, offsets: Offsets, timeout: float) -> None:
    """Until every case has its final event and every service consumed everything."""
    await driver.wait_until(lambda: not driver.pending(), "every case to end", timeout=timeout)
    await asyncio.gather(
        *(
            offsets.wait_caught_up(service, t.BY_NAME[topic_name], timeout=timeout)
            for service, topic_name in offsets.groups
        )
    )
