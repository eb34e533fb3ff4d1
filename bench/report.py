"""docs/benchmarks.md and its plot, from one run's results."""

from __future__ import annotations

import importlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.platform_run import PhaseResult
from bench.stats import (
    Summary,
    format_bytes,
    format_rate,
    format_ratio,
    format_seconds,
    ratio,
)
from careplan.registry import SERVICES

if TYPE_CHECKING:
    from bench.runner import Results

PLOT = "benchmarks-latency.png"
RAW = "benchmarks.json"


# The Kafka ceiling: the bare chain consuming as the services do, a poll's records at a time.
CEILING = "bare batch"


def _open(results: Results, prefix: str) -> PhaseResult | None:
    return next((p for p in results.phases if p.name.startswith(prefix) and p.mode == "open"), None)


def _rates(results: Results, prefix: str) -> list[PhaseResult]:
    return sorted(
        (p for p in results.phases if p.name.startswith(prefix) and p.mode == "rate"),
        key=lambda p: p.offered_rate or 0.0,
    )


def _setups(results: Results) -> list[str]:
    """Setup labels of the platform phases, in the order they ran (e.g. '10k x1')."""
    seen: list[str] = []
    for phase in results.phases:
        label = phase.name.rsplit(" ", 1)[0]
        if not label.startswith("bare") and label not in seen:
            seen.append(label)
    return seen


def _pct(summary: Summary | None, field: str) -> float | None:
    return getattr(summary, field) if summary is not None else None


def _same_rate(phases: list[PhaseResult], offered: float | None) -> PhaseResult | None:
    if offered is None:
        return None
    return min(
        phases,
        key=lambda p: abs((p.offered_rate or 0.0) - offered),
        default=None,
    )


def summary_table(results: Results) -> str:
    """The headline figures, each next to its ceilings and as a ratio to them."""
    setups = _setups(results)
    if not setups:
        return "(no platform phase ran)"
    baseline = setups[0]
    bare_open = _open(results, CEILING)
    bare_one_by_one = _open(results, "bare message")
    bare_rates = _rates(results, CEILING)
    pg_small = results.pgbench[0] if results.pgbench else None
    pg_large = results.pgbench[-1] if results.pgbench else None
    rows = [
        "| figure | measured | ceiling: bare Kafka chain | ratio | ceiling: PostgreSQL"
        " (pgbench) | ratio |",
        "|---|---|---|---|---|---|",
    ]
    bare_tp = bare_open.throughput if bare_open else None
    for label in setups:
        phase = _open(results, label)
        if phase is None:
            continue
        pg = (
            pg_large
            if label.startswith(("1M", f"{results.scale.large_plans // 1000}k"))
            else pg_small
        )
        pg_tp = pg.ceiling if pg else None
        rows.append(
            f"| throughput at open throttle, {phase.setup} (cases/s) |"
            f" {format_rate(phase.throughput)} | {format_rate(bare_tp)} |"
            f" {format_ratio(ratio(phase.throughput, bare_tp))} | {format_rate(pg_tp)} |"
            f" {format_ratio(ratio(phase.throughput, pg_tp))} |"
        )
    for label in setups:
        phase = _open(results, label)
        if phase is None:
            continue
        cost, bare_cost = (
            phase.platform_cpu_per_case(),
            (bare_open.platform_cpu_per_case() if bare_open else None),
        )
        rows.append(
            f"| CPU per case, services + broker + PostgreSQL, {phase.setup} |"
            f" {format_seconds(cost)} | {format_seconds(bare_cost)} |"
            f" {format_ratio(ratio(cost, bare_cost))} | | |"
        )
        capacity = phase.capacity()
        bare_capacity = bare_open.capacity() if bare_open else None
        rows.append(
            f"| capacity: cores / CPU per case, {phase.setup} (cases/s) |"
            f" {format_rate(capacity)} | {format_rate(bare_capacity)} |"
            f" {format_ratio(ratio(capacity, bare_capacity))} | | |"
        )
    if bare_one_by_one is not None:
        rows.append(
            "| (bare chain one record at a time, as the services were built first, for"
            f" reference) | {format_rate(bare_one_by_one.throughput)} | | | | |"
        )
    for phase in _rates(results, baseline):
        bare_phase = _same_rate(bare_rates, phase.offered_rate)
        for what, mine, theirs in (
            ("assessment -> decision", phase.decision, bare_phase.decision if bare_phase else None),
            ("assessment -> final event", phase.final, bare_phase.final if bare_phase else None),
        ):
            for field in ("p50", "p99"):
                value, ceiling = _pct(mine, field), _pct(theirs, field)
                rows.append(
                    f"| {what} {field} at {format_rate(phase.offered_rate)} cases/s"
                    f" ({phase.name.rsplit(' ', 1)[1]} of max) | {format_seconds(value)} |"
                    f" {format_seconds(ceiling)} | {format_ratio(ratio(value, ceiling))} | | |"
                )
    main = _open(results, baseline)
    if main is not None:
        mine_cpu = main.cpu_per_case()
        bare_cpu = bare_open.cpu_per_case() if bare_open else {}
        mine_rss = main.peak_rss()
        bare_rss = bare_open.peak_rss() if bare_open else {}
        for service in SERVICES:
            value, ceiling = mine_cpu.get(service), bare_cpu.get(service)
            rows.append(
                f"| CPU per case, {service} | {format_seconds(value)} |"
                f" {format_seconds(ceiling)} | {format_ratio(ratio(value, ceiling))} | | |"
            )
        for service in SERVICES:
            value_b, ceiling_b = mine_rss.get(service), bare_rss.get(service)
            rows.append(
                f"| peak RSS, {service} | {format_bytes(value_b)} | {format_bytes(ceiling_b)} |"
                f" {format_ratio(ratio(value_b, ceiling_b))} | | |"
            )
    return "\n".join(rows)


# The targets set for the platform on the 2-core machine, everything on it.
TARGET_THROUGHPUT = 2000.0  # cases/s sustained end to end
TARGET_P99_RATE = 1000.0  # cases/s offered ...
TARGET_P99 = 0.250  # ... with assessment -> decision p99 under this many seconds
TARGET_SHARE_OF_BARE = 0.5  # end-to-end throughput as a share of the bare chain's
TARGET_PLANS_LOSS = 0.10  # throughput lost from the small to the large plans table


def target_rows(
    *,
    throughput: float | None,
    bare_throughput: float | None,
    large_plans_throughput: float | None,
    decision_p99_by_rate: list[tuple[float, float]],
) -> list[str]:
    """One row per target: what was required, what was measured, met or by how much missed."""

    def verdict(met: bool, shortfall: str) -> str:
        return "met" if met else f"missed: {shortfall}"

    rows = ["| target | measured | verdict |", "|---|---|---|"]
    if throughput:
        rows.append(
            f"| at least {TARGET_THROUGHPUT:,.0f} cases/s sustained end to end |"
            f" {format_rate(throughput)} cases/s | "
            + verdict(
                throughput >= TARGET_THROUGHPUT,
                f"{TARGET_THROUGHPUT / throughput:.1f} times short",
            )
            + " |"
        )
    reached = [(rate, p99) for rate, p99 in decision_p99_by_rate if rate >= TARGET_P99_RATE]
    if reached:
        rate, p99 = reached[0]
        rows.append(
            f"| assessment -> decision p99 under {format_seconds(TARGET_P99)} at"
            f" {TARGET_P99_RATE:,.0f} cases/s | {format_seconds(p99)} at {format_rate(rate)}"
            f" cases/s | {verdict(p99 < TARGET_P99, f'{p99 / TARGET_P99:.1f} times over')} |"
        )
    elif decision_p99_by_rate:
        rate, p99 = decision_p99_by_rate[-1]
        rows.append(
            f"| assessment -> decision p99 under {format_seconds(TARGET_P99)} at"
            f" {TARGET_P99_RATE:,.0f} cases/s | {format_seconds(p99)} at {format_rate(rate)}"
            " cases/s, the highest rate offered | missed: that rate is beyond the maximum |"
        )
    share = ratio(throughput, bare_throughput)
    if share is not None:
        rows.append(
            f"| end to end at least {TARGET_SHARE_OF_BARE:.0%} of the bare chain's throughput |"
            f" {share:.0%} | {verdict(share >= TARGET_SHARE_OF_BARE, f'{share:.0%} of it')} |"
        )
    if throughput and large_plans_throughput:
        loss = 1 - large_plans_throughput / throughput
        rows.append(
            f"| at most {TARGET_PLANS_LOSS:.0%} of throughput lost with the large plans table |"
            f" {loss:.0%} lost |"
            f" {verdict(loss <= TARGET_PLANS_LOSS, f'{loss - TARGET_PLANS_LOSS:.0%} over')} |"
        )
    return rows


def _targets(results: Results) -> list[str]:
    setups = _setups(results)
    if not setups:
        return []
    baseline = _open(results, setups[0])
    large = next(
        (
            _open(results, label)
            for label in setups[1:]
            if label.endswith(" x1") and label != setups[0]
        ),
        None,
    )
    bare = _open(results, CEILING)
    return target_rows(
        throughput=baseline.throughput if baseline else None,
        bare_throughput=bare.throughput if bare else None,
        large_plans_throughput=large.throughput if large else None,
        decision_p99_by_rate=[
            (phase.offered_rate or 0.0, phase.decision.p99)
            for phase in _rates(results, setups[0])
            if phase.decision is not None
        ],
    )


def _latency_rows(phases: list[PhaseResult]) -> list[str]:
    rows = [
        "| setup | offered (cases/s) | achieved | decision p50 | p95 | p99 | max |"
        " final p50 | p95 | p99 | max | replacements' final p50 | other work |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in phases:
        d, f, r = p.decision, p.final, p.final_replacements
        rows.append(
            f"| {p.setup} | {format_rate(p.offered_rate)} | {format_rate(p.throughput)} |"
            f" {format_seconds(_pct(d, 'p50'))} | {format_seconds(_pct(d, 'p95'))} |"
            f" {format_seconds(_pct(d, 'p99'))} | {format_seconds(_pct(d, 'max'))} |"
            f" {format_seconds(_pct(f, 'p50'))} | {format_seconds(_pct(f, 'p95'))} |"
            f" {format_seconds(_pct(f, 'p99'))} | {format_seconds(_pct(f, 'max'))} |"
            f" {format_seconds(_pct(r, 'p50'))} | {_other_share(p)} |"
        )
    return rows


def _other_share(phase: PhaseResult) -> str:
    """Share of the machine's CPU that other work took during the phase."""
    if not phase.usage.machine_total:
        return "n/a"
    return f"{phase.usage.other / phase.usage.machine_total:.0%}"


def _cpu_rows(results: Results) -> list[str]:
    phases = [p for p in results.phases if p.mode == "open"]
    header = "| process | " + " | ".join(p.setup for p in phases) + " |"
    rows = [header, "|---" * (len(phases) + 1) + "|"]
    labels = [*SERVICES, "kafka", "postgres", "driver"]
    for label in labels:
        cells = []
        for phase in phases:
            per = phase.cpu_per_case()
            cells.append(format_seconds(per.get(label)))
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    totals = []
    for phase in phases:
        per = phase.cpu_per_case()
        totals.append(format_seconds(sum(per.values()) if per else None))
    rows.append("| all measured | " + " | ".join(totals) + " |")
    rows.append(
        "| capacity: cores / (services + broker + PostgreSQL) per case (cases/s) | "
        + " | ".join(format_rate(p.capacity()) for p in phases)
        + " |"
    )
    others = [
        f"{p.usage.other / p.usage.machine_total:.0%}" if p.usage.machine_total else "n/a"
        for p in phases
    ]
    rows.append("| other work on the machine (share of all CPU) | " + " | ".join(others) + " |")
    busy = [
        f"{p.usage.machine_busy / p.usage.machine_total:.0%}" if p.usage.machine_total else "n/a"
        for p in phases
    ]
    rows.append("| machine busy | " + " | ".join(busy) + " |")
    return rows


def _rss_rows(results: Results) -> list[str]:
    phases = [p for p in results.phases if p.mode == "open"]
    rows = [
        "| process | " + " | ".join(p.setup for p in phases) + " |",
        "|---" * (len(phases) + 1) + "|",
    ]
    for label in [*SERVICES, "kafka", "driver"]:
        rows.append(
            f"| {label} | "
            + " | ".join(format_bytes(p.peak_rss().get(label)) for p in phases)
            + " |"
        )
    return rows


def _setup_rows(results: Results) -> list[str]:
    rows = [
        "| setup | open throttle (cases/s) | capacity (cases/s) | final events/s, middle 80% |"
        " lag when sending stopped (messages) | decision p50 / p99 at the same offered rate |"
        " final p50 / p99 at the same offered rate | other work (open / rate) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label in _setups(results):
        opened = _open(results, label)
        if opened is None:
            continue
        half = next((p for p in _rates(results, label) if p.name.endswith(" 50%")), None)
        rows.append(
            f"| {opened.setup} | {format_rate(opened.throughput)} |"
            f" {format_rate(opened.capacity())} |"
            f" {format_rate(opened.final_rate_middle)} | {opened.lag_after_sending} |"
            + (
                f" {format_seconds(_pct(half.decision, 'p50'))} /"
                f" {format_seconds(_pct(half.decision, 'p99'))} |"
                f" {format_seconds(_pct(half.final, 'p50'))} /"
                f" {format_seconds(_pct(half.final, 'p99'))} |"
                if half
                else " n/a | n/a |"
            )
            + f" {_other_share(opened)} / {_other_share(half) if half else 'n/a'} |"
        )
    return rows


def _pgbench_rows(results: Results) -> list[str]:
    if not results.pgbench:
        return ["(pgbench did not run)"]
    rows = [
        "| service | "
        + " | ".join(f"{r.plans:,} plans (cases/s)" for r in results.pgbench)
        + " | "
        + " | ".join(f"{r.plans:,} plans: ms per case" for r in results.pgbench)
        + " |",
        "|---" * (1 + 2 * len(results.pgbench)) + "|",
    ]
    for service in SERVICES:
        rows.append(
            f"| {service} | "
            + " | ".join(format_rate(r.tps.get(service)) for r in results.pgbench)
            + " | "
            + " | ".join(f"{r.latency_ms.get(service, float('nan')):.1f}" for r in results.pgbench)
            + " |"
        )
    rows.append(
        "| other work on the machine meanwhile | "
        + " | ".join(f"{r.other_share:.0%}" for r in results.pgbench)
        + " |"
        + " |" * len(results.pgbench)
    )
    rows.append(
        "| **platform ceiling (slowest)** | "
        + " | ".join(f"**{format_rate(r.ceiling)}** ({r.slowest})" for r in results.pgbench)
        + " |"
        + " |" * len(results.pgbench)
    )
    return rows


def plot(results: Results, path: Path) -> bool:
    """Latency against offered rate; False when matplotlib is missing."""
    try:
        # Imported by name: the bench group is optional, and the type checker runs without it.
        matplotlib: Any = importlib.import_module("matplotlib")
        matplotlib.use("Agg")
        plt: Any = importlib.import_module("matplotlib.pyplot")
    except ImportError:
        return False
    setups = _setups(results)
    ticker: Any = importlib.import_module("matplotlib.ticker")
    fig, ax = plt.subplots(figsize=(11, 5.5))
    series = []
    if setups:
        series.append((setups[0], "platform", "-"))
    series.append((CEILING, "bare Kafka chain", ":"))
    colours = {"decision": "tab:blue", "final": "tab:red"}
    for prefix, name, style in series:
        phases = _rates(results, prefix)
        if not phases:
            continue
        x = [p.offered_rate or 0.0 for p in phases]
        for what in ("decision", "final"):
            for field, marker in (("p50", "o"), ("p99", "^")):
                y = [
                    (getattr(getattr(p, what), field) * 1000.0) if getattr(p, what) else None
                    for p in phases
                ]
                points = [(a, b) for a, b in zip(x, y, strict=True) if b is not None]
                if not points:
                    continue
                ax.plot(
                    [a for a, _ in points],
                    [b for _, b in points],
                    linestyle=style,
                    marker=marker,
                    color=colours[what],
                    label=f"{name}: assessment -> {what} {field}",
                )
    for label, marker in zip(setups[1:], ("s", "D", "P"), strict=False):
        for phase in _rates(results, label):
            if phase.final is not None and phase.offered_rate:
                ax.scatter(
                    [phase.offered_rate],
                    [phase.final.p99 * 1000.0],
                    marker=marker,
                    color="black",
                    label=f"{phase.setup}: final p99",
                    zorder=3,
                )
    baseline = _open(results, setups[0]) if setups else None
    if baseline is not None:
        ax.axvline(baseline.throughput, color="grey", linestyle="--", linewidth=1)
        ax.annotate(
            f"max {baseline.throughput:.1f}/s",
            (baseline.throughput, 0.98),
            xycoords=("data", "axes fraction"),
            ha="right",
            va="top",
            fontsize=8,
            color="grey",
        )
    ax.set_yscale("log")
    plain = ticker.FuncFormatter(lambda value, _: f"{value:g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_locator(ticker.LogLocator(base=10.0, subs=(2.0, 5.0)))
    ax.yaxis.set_minor_formatter(plain)
    ax.tick_params(axis="y", which="minor", labelsize=7)
    ax.set_xlabel("offered rate (cases per second)")
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_title(f"Latency against offered rate ({results.scale.name} run, {results.started_at})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def key_figures(raw: dict[str, Any]) -> dict[str, tuple[float, str, float | None]]:
    """The figures worth comparing between runs, from a run's raw results: name -> (value, kind,
    offered rate) where kind is 'rate' (higher is better) or 'time' (lower is), and the offered
    rate is given for a latency measured at a fixed rate."""
    figures: dict[str, tuple[float, str, float | None]] = {}
    for phase in raw.get("phases", []):
        name = phase["name"]
        if phase["mode"] == "open":
            figures[f"{name}: throughput (cases/s)"] = (phase["throughput"], "rate", None)
            if phase.get("capacity"):
                figures[f"{name}: capacity (cases/s)"] = (phase["capacity"], "rate", None)
            if phase.get("platform_cpu_per_case"):
                figures[f"{name}: CPU per case, services + broker + PostgreSQL"] = (
                    phase["platform_cpu_per_case"],
                    "time",
                    None,
                )
            if not name.startswith("bare"):
                for service in SERVICES:
                    value = phase.get("cpu_per_case", {}).get(service)
                    if value:
                        figures[f"{name}: CPU per case, {service}"] = (value, "time", None)
        else:
            for what in ("decision", "final"):
                summary = phase.get(what) or {}
                for field in ("p50", "p99"):
                    if field in summary:
                        figures[f"{name}: {what} {field}"] = (
                            summary[field],
                            "time",
                            phase.get("offered_rate"),
                        )
    for run in raw.get("pgbench", []):
        figures[f"pgbench {run['plans']:,} plans: ceiling (cases/s)"] = (
            run["ceiling"],
            "rate",
            None,
        )
    return figures


def topology(raw: dict[str, Any]) -> str:
    """The Kafka a run measured: runs before the cluster existed had the single broker."""
    return str(raw.get("machine", {}).get("kafka_topology", "1 broker, SASL_PLAINTEXT"))


def comparison_title(previous: dict[str, Any], current: dict[str, Any]) -> str:
    """A previous run on another Kafka is the same platform on another topology: the change is
    what replication and TLS cost (or save), not what the code changed."""
    if topology(previous) == topology(current):
        return "Change since the previous run"
    return f"What the topology costs: {topology(current)} against {topology(previous)}"


def comparison_rows(previous: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Each key figure of this run next to the previous run's, and the change."""
    before, after = key_figures(previous), key_figures(current)
    rows = [
        f"Against the previous full run ({previous.get('started_at', '?')}, commit"
        f" {previous.get('machine', {}).get('commit', '?')}, Kafka {topology(previous)}; this"
        f" run: {topology(current)}). 'better' is higher for a rate and"
        " lower for a time. A latency is measured at a share of each run's own maximum: when"
        " the maximum moved, the offered rates differ (shown), and the latency rows compare"
        " different loads.",
        "",
        "| figure | before | now | now / before | |",
        "|---|---|---|---|---|",
    ]

    def shown(value: float, kind: str, offered: float | None) -> str:
        text = format_rate(value) if kind == "rate" else format_seconds(value)
        return text + (f" at {format_rate(offered)}/s" if offered else "")

    for name, (value, kind, offered) in after.items():
        if name not in before:
            continue
        old, _, old_offered = before[name]
        change = value / old if old else None
        verdict = ""
        if change is not None and abs(change - 1.0) >= 0.1:
            better = change > 1.0 if kind == "rate" else change < 1.0
            verdict = "better" if better else "worse"
        rows.append(
            f"| {name} | {shown(old, kind, old_offered)} | {shown(value, kind, offered)} |"
            f" {f'{change:.2f}' if change is not None else 'n/a'} | {verdict} |"
        )
    return rows


def _machine_lines(results: Results) -> list[str]:
    m = results.machine
    packages = ", ".join(f"{name} {version}" for name, version in m.get("packages", {}).items())
    load = m.get("load_at_start", (0.0, 0.0, 0.0))
    return [
        f"- CPUs: {m.get('cpus')} ({m.get('cpus_usable')} usable), {m.get('cpu_model')}",
        f"- memory: {format_bytes(m.get('memory_bytes'))}",
        f"- kernel {m.get('kernel')}; load average at the start {load[0]:.2f} / {load[1]:.2f}"
        f" / {load[2]:.2f}",
        f"- Python {m.get('python')}; PostgreSQL {m.get('postgresql')}; Kafka {m.get('kafka')}"
        f" ({m.get('java')})",
        f"- {packages}",
        f"- commit {m.get('commit')}; Kafka {m.get('kafka_bootstrap')}"
        f" ({topology(results.as_dict())}), PostgreSQL port {m.get('postgres_port')}",
    ]


def _other_work(results: Results) -> str:
    phases = [p for p in results.phases if p.usage.machine_total > 0]
    if not phases:
        return "n/a"
    other = sum(p.usage.other for p in phases)
    total = sum(p.usage.machine_total for p in phases)
    return f"{other / total:.0%}"


def _other_work_sentence(results: Results) -> str:
    share = _other_work(results)
    measured = (
        f"other work on the machine took **{share}** of its CPU during the measured phases"
        " (its busy time from /proc/stat less everything measured; per phase in the tables)"
    )
    if share == "n/a":
        return "Other work on the machine was not measured."
    if int(share.rstrip("%")) < 5:
        return f"The machine was close to quiet: {measured}."
    return (
        f"The figures were taken on a shared machine: {measured}. They move with its load;"
        " capacity (cores / CPU per case) moves less."
    )


def render(results: Results, plot_name: str | None, previous: dict[str, Any] | None = None) -> str:
    setups = _setups(results)
    baseline = setups[0] if setups else ""
    seeding = "; ".join(
        f"{int(plans):,} plans: "
        + (f"{spent:.0f} s in this run" if spent is not None else "templates kept from before")
        + (
            f" ({work:.0f} s of seeding work, the five databases added up, two at a time)"
            if (work := results.seeding_work.get(plans)) is not None
            else ""
        )
        for plans, spent in results.seeding.items()
    )
    sizes = ", ".join(f"{kind} {size} B" for kind, size in sorted(results.sizes.items()))
    mix = results.mix
    base_open = _open(results, baseline)
    outcomes = (
        ", ".join(f"{name} {count}" for name, count in sorted(base_open.outcomes.items()))
        if base_open
        else "n/a"
    )
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`python -m bench`) on"
        f" {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}: do not edit, run it again."
        f" This run: `{results.command}`, {results.scale.name} scale, {results.seconds / 60:.0f}"
        f" minutes, on Kafka {topology(results.as_dict())}.",
        "",
        "```sh",
        "make bench                      # the local stack, then python -m bench: rewrites this",
        "make bench BENCH_ARGS=--quick   # a few minutes at a small scale: checks the harness",
        "CAREPLAN_KAFKA_BROKERS=3 make bench  # the three-broker cluster with TLS, then the"
        " single node:",
        "make bench                      # ...its report says what replication and TLS cost",
        "# on a stack of its own, beside another checkout's (ports moved):",
        "export CAREPLAN_KAFKA_PORT=39092 CAREPLAN_PG_PORT=57432",
        "infra/stack.sh up && .venv/bin/python -m bench && infra/stack.sh down",
        "```",
        "",
        "The benchmark loads the machine for a quarter of an hour: run it on a stack nobody else"
        " is testing on. `docs/benchmarks.json` keeps this run's raw figures, and the next full"
        " run compares itself with them (section 'Change since the previous run'; after a run"
        " on the other Kafka topology, 'What the topology costs').",
        "",
        "What is measured, against the real Kafka and PostgreSQL with the five services as"
        " separate processes (`simulation.processes.Platform`), fed by the load driver"
        " (`simulation.load.Driver`, which also plays payments and the warehouse):",
        "",
        "- **throughput**: cases finished per second at open throttle, from the first"
        " assessment sent until every case has its final event *and* every consumer group of"
        " every service has consumed everything (so a service that falls behind counts);",
        "- **latency** at fixed offered rates (shares of that maximum): assessment sent ->"
        " `ClaimDecided` seen, and assessment sent -> the case's final event (`PlanInherited`"
        " for a replacement, after the fee is paid and the unit dispatched;"
        " `QuotaDeductionApplied` for an AG repair; the decision itself for a refusal);",
        "- **CPU seconds per case** of each service process (utime + stime from"
        " /proc/<pid>/stat, instances added up) and its **peak resident memory** (VmRSS"
        " from /proc/<pid>/status, sampled every 0.5 s); the broker, PostgreSQL (postmaster and"
        " backends) and the load driver alongside;",
        "- the same with the plans tables seeded with a large number of plans, and with two"
        " instances of the busiest service (by CPU per case);",
        "- two **ceilings** measured in the same run: a bare aiokafka consume-and-produce chain"
        " with the same hops, subscriptions and message sizes but no database and no"
        " validation, and PostgreSQL's own rate for the services' statements (pgbench, one"
        " script per service). Every figure is also given as a ratio to its ceiling.",
        "",
        _other_work_sentence(results),
        "",
        "## Summary",
        "",
        summary_table(results),
        "",
        "Ratios: a throughput is a share of its ceiling; a latency, CPU or memory figure is a"
        " multiple of the bare chain's. PostgreSQL's ceiling is the slowest service's pgbench"
        " rate in cases per second. 'Capacity' divides the machine's cores by the CPU seconds"
        " one case costs the services, the broker and PostgreSQL together: what the platform"
        " would sustain with the whole machine to itself. On a shared machine it moves much"
        " less than throughput does, so it is the figure to compare between runs.",
        "",
        "## Against the targets",
        "",
        *_targets(results),
        "",
        "What the time goes to, what each change to the platform bought, and what would close"
        " the gaps: [performance.md](performance.md).",
        "",
    ]
    if plot_name:
        lines += [f"![Latency against offered rate]({plot_name})", ""]
    lines += [
        *(
            [
                f"## {comparison_title(previous, results.as_dict())}",
                "",
                *comparison_rows(previous, results.as_dict()),
                "",
            ]
            if previous
            else []
        ),
        "## Latency at fixed offered rates",
        "",
        *_latency_rows(
            [p for p in results.phases if p.mode == "rate" and not p.name.startswith("bare")]
            + _rates(results, CEILING)
        ),
        "",
        "Offered rates are shares (25%, 50%, 75%) of the baseline's measured maximum; the"
        " other setups and the bare chain are offered the same absolute rates. Sends follow a"
        " fixed schedule whatever the platform does (an open loop), so queueing shows up as"
        " latency.",
        "",
        "## Setups: plans in the tables, instances of the busiest service",
        "",
        *_setup_rows(results),
        "",
        f"The busiest service in the baseline (most CPU per case) was **{results.busiest}**.",
        "",
        "## CPU seconds per case (open throttle)",
        "",
        *_cpu_rows(results),
        "",
        "## Peak resident memory (open throttle)",
        "",
        *_rss_rows(results),
        "",
        "## PostgreSQL's ceiling: pgbench with the services' statements",
        "",
        *_pgbench_rows(results),
        "",
        "Each script is one consumer replacement case for that service (see `bench/pgbench.py`),"
        " run by several clients at once on a fresh copy of the service's seeded database, all"
        " five services at the same time, prepared statements. It is the dearest path: a"
        " refusal or an AG repair costs fewer statements.",
        "",
        "## The run",
        "",
        f"- mix (baseline open throttle): {outcomes}; one case in ten an AG repair on a seeded"
        " AG plan, a few on an SN with no plan (refused, C1, after the waiting grace; left out of"
        " the latencies, counted in the throughput), about 15% of consumer cases an"
        f" exclusion (refused); one invalid message per {results.scale.invalid_every} cases on"
        " `repair.assessments.v1` (dead-lettered by claims and the lookup)."
        f" The bare chain replays the shares: AG {mix.get('agricultural', 0):.0%}, refused"
        f" {mix.get('refused', 0):.0%}, the rest replacements.",
        f"- message sizes (mean, read back from the platform's topics): {sizes or 'n/a'}",
        f"- seeding: {seeding}",
        f"- open throttle: up to {results.scale.open_window} cases in flight for"
        f" {results.scale.open_seconds:.0f} s; fixed rates for {results.scale.rate_seconds:.0f}"
        f" s each; bare chain at open throttle for {results.scale.bare_seconds:.0f} s; pgbench"
        f" {results.scale.pgbench_seconds} s; {results.scale.warmup_cases} warm-up cases before"
        " each phase.",
        "",
        "## Machine and versions",
        "",
        *_machine_lines(results),
        "",
        "## How it is measured",
        "",
        "- **Seeding.** The plans tables are not filled through the platform: each service's"
        " database is seeded with set-based SQL (`generate_series`, `bench/seed.py`),"
        " consistently across services: coverage's ledger, claims' read model, activation's"
        " codes, owners, devices, requests and terms, the lookup's read model, one plan in ten"
        " agricultural with its quotas and confirmed policy, and in every database the inbox"
        " rows (and published outbox rows, with 64-byte payloads) of the events that opened"
        " those plans. Seeded databases are kept as templates (`benchtpl_<plans>_<service>`)"
        " and every setup starts from fresh copies, so the large seeding is paid once.",
        "- **Cases.** Each case is an assessment of a distinct seeded plan (a plan is never"
        " claimed twice in a run). The driver pays each `DeductionApplied` and dispatches each"
        " `ShipmentRequested` at once, as the demo's payments and warehouse do.",
        "- **Open throttle** keeps a window of cases in flight; the run then waits for every"
        " final event and for every consumer group to catch up, and divides cases by that"
        " whole time. The 'middle 80%' rate counts final events between the 10th and 90th"
        " percentile of their times.",
        "- **CPU and memory** come from /proc for each process (`bench/proc.py`). PostgreSQL's"
        " figure is the postmaster with its live and reaped backends. 'Other work' is the"
        " machine's busy time not accounted to any measured process.",
        "- **The bare chain** (`bench/bare.py`) runs five stage processes with the services'"
        " subscriptions, answering like the services"
        " with messages of the measured sizes. 'Batch' mode is the ceiling: like the"
        " services, one consumer per stage takes a poll's records, sends and commits once per"
        " poll. 'Message' mode, given for reference, takes records one at a time with a group"
        " per stage and topic and commits each one's offset before the next, as the services"
        " did before they consumed in batches.",
        "- **pgbench** runs the services' statements (`bench/pgbench.py`); see above.",
        "- **Profiling** is not part of the run. To see where a service's time goes under load,"
        " install py-spy into the virtualenv by hand and, while the open-throttle phase runs,"
        " `py-spy record -p $(pgrep -f 'm services.claims' | head -1) -d 30 -r 50 -f raw"
        " -o claims.txt`.",
        "- Speed is measured here, never asserted in tests. `python -m bench --quick` runs"
        " everything at a small scale in a few minutes to check the harness; it writes its"
        " report under `.local/bench/quick/`, not here.",
        "",
    ]
    return "\n".join(lines)


def write(results: Results, folder: Path) -> Path:
    """benchmarks.md, its plot and benchmarks.json (the raw figures, which the next run of the
    same scale compares itself with)."""
    folder.mkdir(parents=True, exist_ok=True)
    raw = folder / RAW
    previous: dict[str, Any] | None = None
    if raw.exists():
        loaded = json.loads(raw.read_text())
        same_run = loaded.get("started_at") == results.started_at
        if loaded.get("scale") == results.scale.name and not same_run:
            previous = loaded
        elif same_run:
            previous = loaded.get("previous")
    has_plot = plot(results, folder / PLOT)
    path = folder / "benchmarks.md"
    path.write_text(render(results, PLOT if has_plot else None, previous))
    figures = results.as_dict()
    if previous is not None:  # kept, so that the report can be rendered again as it was
        figures["previous"] = {k: v for k, v in previous.items() if k != "previous"}
    raw.write_text(json.dumps(figures, indent=1, default=str) + "\n")
    return path
