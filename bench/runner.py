"""One benchmark run, start to end: seeding, the platform's phases, the ceilings, the report."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import bare, bare_run, pgbench, report, seed, sizes
from bench.config import FULL, QUICK, WORK_DIR, Scale, Target
from bench.machine import describe
from bench.pgbench import PgbenchResult
from bench.platform_run import BenchPlatform, Phase, PhaseResult
from careplan.registry import SERVICES
from shared.kafka_admin import ensure_topics
from shared.kafka_security import kafka_credentials
from simulation.processes import act_as_administrator


def say(message: str) -> None:
    print(f"[bench] {datetime.now(UTC).strftime('%H:%M:%S')} {message}", flush=True)


@dataclass
class Results:
    """Everything one run measured, for the report and for a later run to compare with."""

    scale: Scale
    command: str
    started_at: str
    machine: dict[str, Any] = field(default_factory=dict)
    seeding: dict[str, float | None] = field(default_factory=dict)  # seconds spent this run
    seeding_work: dict[str, float | None] = field(default_factory=dict)  # per service, summed
    phases: list[PhaseResult] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)
    mix: dict[str, float] = field(default_factory=dict)
    busiest: str = ""
    pgbench: list[PgbenchResult] = field(default_factory=list)
    seconds: float = 0.0

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Results:
        """A run back from its raw figures (`as_dict`), to render its report again."""
        results = cls(
            FULL if raw["scale"] == FULL.name else QUICK, raw["command"], raw["started_at"]
        )
        results.machine = raw["machine"]
        results.seeding = raw["seeding"]
        results.seeding_work = raw.get("seeding_work", {})
        results.sizes = raw["sizes"]
        results.mix = raw["mix"]
        results.busiest = raw["busiest"]
        results.phases = [PhaseResult.from_dict(phase) for phase in raw["phases"]]
        results.pgbench = [
            PgbenchResult(
                run["plans"],
                run["clients"],
                run["seconds"],
                run["tps"],
                run["latency_ms"],
                run.get("other_share", 0.0),
            )
            for run in raw["pgbench"]
        ]
        results.seconds = raw["seconds"]
        return results

    def phase(self, name: str) -> PhaseResult | None:
        return next((p for p in self.phases if p.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scale": self.scale.name,
            "command": self.command,
            "started_at": self.started_at,
            "machine": self.machine,
            "seeding": self.seeding,
            "seeding_work": self.seeding_work,
            "sizes": self.sizes,
            "mix": self.mix,
            "busiest": self.busiest,
            "phases": [p.as_dict() for p in self.phases],
            "pgbench": [
                {
                    "plans": r.plans,
                    "clients": r.clients,
                    "seconds": r.seconds,
                    "tps": r.tps,
                    "latency_ms": r.latency_ms,
                    "ceiling": r.ceiling,
                    "other_share": r.other_share,
                }
                for r in self.pgbench
            ],
            "seconds": self.seconds,
        }


def mix_of(result: PhaseResult) -> dict[str, float]:
    """The case mix the platform actually saw, as shares, for the bare chain to replay."""
    total = max(1, result.cases)
    outcomes = result.outcomes
    agricultural = outcomes.get("AG repair paid from the quotas", 0)
    replaced = outcomes.get("replaced", 0)
    return {
        "agricultural": agricultural / total,
        "refused": max(0, total - agricultural - replaced) / total,
    }


def line(result: PhaseResult) -> str:
    final = result.final
    decision = result.decision
    return (
        f"{result.name}: {result.finished}/{result.cases} cases, {result.throughput:.1f} cases/s"
        + (f" at {result.offered_rate:.1f} offered" if result.offered_rate else "")
        + (f", decision p50 {decision.p50 * 1000:.0f} ms" if decision else "")
        + (f", final p50 {final.p50 * 1000:.0f} ms p99 {final.p99 * 1000:.0f} ms" if final else "")
        + f", other work {result.usage.other:.1f} CPU s"
    )


async def platform_phases(
    target: Target,
    scale: Scale,
    results: Results,
    *,
    plans: int,
    instances: dict[str, int],
    label: str,
    shares: tuple[float, ...],
    reference: float | None,
    credentials: dict[str, str],
    seed_: int,
) -> PhaseResult:
    """Open throttle, then fixed rates (shares of `reference`, or of this open throttle's
    throughput when None) on one platform; fresh books when the seeded plans run out."""
    log_dir = WORK_DIR / "logs" / label.replace(" ", "-")
    bench = BenchPlatform(target, log_dir, plans, instances, seed_, credentials)
    say(f"{label}: starting the services ({bench.setup})")
    try:
        await bench.start()
        opened = await Phase(bench, scale, f"{label} open").run(mode="open")
        results.phases.append(opened)
        say(line(opened))
        maximum = reference if reference is not None else opened.throughput
        for share in shares:
            offered = share * maximum
            if bench.left < offered * scale.rate_seconds * 1.1:
                say(f"{label}: fresh copies of the seeded databases (plans used up)")
                bench.stop()
                seed_ += 100
                bench = BenchPlatform(target, log_dir, plans, instances, seed_, credentials)
                await bench.start()
            result = await Phase(bench, scale, f"{label} {share:.0%}").run(
                mode="rate", offered=offered
            )
            results.phases.append(result)
            say(line(result))
    finally:
        bench.stop()
    return opened


async def bare_phases(
    target: Target,
    scale: Scale,
    results: Results,
    mode: str,
    rates: list[tuple[str, float]],
) -> None:
    await bare.recreate_topics(target.kafka_bootstrap)
    stages = bare.Stages(
        target.kafka_bootstrap, mode, results.sizes, WORK_DIR / "logs" / f"bare-{mode}"
    )
    say(f"bare chain ({mode}): starting the five stages")
    try:
        await stages.start()
        result = await bare_run.phase(
            stages, target, scale, f"bare {mode} open", results.mix, offered=None, seed=11
        )
        results.phases.append(result)
        say(line(result))
        for number, (rate_name, offered) in enumerate(rates):
            result = await bare_run.phase(
                stages,
                target,
                scale,
                f"bare {mode} {rate_name}",
                results.mix,
                offered=offered,
                seed=12 + number,
            )
            results.phases.append(result)
            say(line(result))
    finally:
        stages.stop()
        await bare.delete_topics(target.kafka_bootstrap)


async def run(scale: Scale, command: str, docs: Path) -> Results:
    started = time.monotonic()
    target = Target.from_environment()
    results = Results(scale, command, datetime.now(UTC).isoformat(timespec="seconds"))
    results.machine = await describe(target)
    say(f"{scale.name} run against Kafka {target.kafka_bootstrap}, PostgreSQL :{target.pg_port}")
    # SIGTERM cancels the run like ^C does, so that every service process it started stops.
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    credentials = kafka_credentials()
    act_as_administrator(credentials)
    await ensure_topics(target.kafka_bootstrap)

    for plans in (scale.small_plans, scale.large_plans):
        spent = await seed.ensure_templates(target.database_url, plans)
        results.seeding[str(plans)] = spent
        results.seeding_work[str(plans)] = await seed.recorded(target.database_url, plans)
        say(
            f"{plans:,} plans: "
            + (f"seeded in {spent:.0f} s" if spent is not None else "templates already seeded")
        )

    small = f"{scale.small_plans // 1000}k"
    large = f"{scale.large_plans // 1000}k" if scale.large_plans < 1_000_000 else "1M"
    baseline = await platform_phases(
        target,
        scale,
        results,
        plans=scale.small_plans,
        instances={},
        label=f"{small} x1",
        shares=scale.rate_shares,
        reference=None,
        credentials=credentials,
        seed_=1,
    )
    maximum = baseline.throughput
    rates = [(f"{share:.0%}", share * maximum) for share in scale.rate_shares]
    results.sizes = await sizes.measure(target.kafka_bootstrap)
    results.mix = mix_of(baseline)
    per_case = baseline.cpu_per_case()
    results.busiest = max(SERVICES, key=lambda service: per_case.get(service, 0.0))
    say(f"maximum {maximum:.1f} cases/s; busiest service: {results.busiest}")

    # The same absolute offered rate (half the baseline's maximum) in the other setups.
    for label, plans, instances in (
        (f"{large} x1", scale.large_plans, {}),
        (f"{small} x2 {results.busiest}", scale.small_plans, {results.busiest: 2}),
    ):
        await platform_phases(
            target,
            scale,
            results,
            plans=plans,
            instances=instances,
            label=label,
            shares=(0.5,),
            reference=maximum,
            credentials=credentials,
            seed_=len(results.phases),
        )

    await bare_phases(target, scale, results, "batch", rates)
    await bare_phases(target, scale, results, "message", [])

    for plans in (scale.small_plans, scale.large_plans):
        say(f"pgbench: the services' statements on {plans:,} plans, {scale.pgbench_seconds} s")
        result = await pgbench.run(target, plans, scale.pgbench_seconds, results.sizes)
        results.pgbench.append(result)
        say(
            f"pgbench {plans:,} plans: "
            + ", ".join(f"{s} {v:.0f}/s" for s, v in result.tps.items())
        )

    results.seconds = time.monotonic() - started
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    raw = WORK_DIR / f"results-{scale.name}.json"
    raw.write_text(json.dumps(results.as_dict(), indent=1, default=str))
    written = report.write(results, docs)
    say(f"done in {results.seconds / 60:.1f} min; raw figures {raw}; report {written}")
    print(report.summary_table(results))
    return results
