"""The benchmark report's verdicts and comparisons (pure: no run needed)."""

from __future__ import annotations

import pytest

from bench.config import Target
from bench.platform_run import PhaseResult, services_measured
from bench.report import comparison_rows, comparison_title, target_rows
from bench.resources import Usage

pytestmark = pytest.mark.unit


def verdicts(rows: list[str]) -> list[str]:
    return [row.rsplit("|", 2)[1].strip() for row in rows[2:]]


def test_every_target_met() -> None:
    rows = target_rows(
        throughput=2500.0,
        bare_throughput=4000.0,
        large_plans_throughput=2400.0,
        decision_p99_by_rate=[(600.0, 0.1), (1200.0, 0.2)],
    )

    assert verdicts(rows) == ["met", "met", "met", "met"]
    assert "200 ms at 1200 cases/s" in rows[3]


def test_each_miss_says_by_how_much() -> None:
    rows = target_rows(
        throughput=200.0,
        bare_throughput=1000.0,
        large_plans_throughput=170.0,
        decision_p99_by_rate=[(50.0, 0.08), (150.0, 0.3)],
    )

    assert verdicts(rows) == [
        "missed: 10.0 times short",
        "missed: that rate is beyond the maximum",
        "missed: 20% of it",
        "missed: 5% over",
    ]
    assert "300 ms at 150 cases/s, the highest rate offered" in rows[3]


def test_a_p99_over_the_limit_at_the_target_rate_is_missed() -> None:
    rows = target_rows(
        throughput=None,
        bare_throughput=None,
        large_plans_throughput=None,
        decision_p99_by_rate=[(1000.0, 0.5)],
    )

    assert verdicts(rows) == ["missed: 2.0 times over"]


def test_a_latency_compared_with_the_previous_run_shows_each_runs_offered_rate() -> None:
    def run(offered: float, p99: float, throughput: float) -> dict[str, object]:
        return {
            "phases": [
                {"name": "10k x1 open", "mode": "open", "throughput": throughput},
                {
                    "name": "10k x1 25%",
                    "mode": "rate",
                    "offered_rate": offered,
                    "decision": {"p50": p99 / 2, "p99": p99},
                },
            ]
        }

    rows = comparison_rows(run(8.7, 0.048, 34.9), run(62.9, 0.105, 252.0))

    assert "| 10k x1 open: throughput (cases/s) | 34.9 | 252 | 7.22 | better |" in rows
    assert (
        "| 10k x1 25%: decision p99 | 48.0 ms at 8.7/s | 105 ms at 62.9/s | 2.19 | worse |" in rows
    )


def test_a_previous_run_on_another_kafka_topology_is_reported_as_what_the_topology_costs() -> None:
    single = {"machine": {"kafka_topology": "1 broker, SASL_PLAINTEXT"}, "phases": []}
    cluster = {"machine": {"kafka_topology": "3 brokers, SASL_SSL"}, "phases": []}
    older: dict[str, object] = {
        "machine": {},
        "phases": [],
    }  # measured before the topology was recorded

    assert comparison_title(cluster, single) == (
        "What the topology costs: 1 broker, SASL_PLAINTEXT against 3 brokers, SASL_SSL"
    )
    assert comparison_title(older, single) == "Change since the previous run"
    assert (
        "Kafka 3 brokers, SASL_SSL; this run: 1 broker, SASL_PLAINTEXT"
        in (comparison_rows(cluster, single)[0])
    )


def test_a_clusters_brokers_are_added_up_as_one_brokers_cost_per_case() -> None:
    usage = Usage(
        cpu={"claims-1": 2.0, "kafka-1": 3.0, "kafka-2": 1.0, "kafka-3": 2.0, "driver": 1.0},
        peak_rss={"kafka-1": 600, "kafka-2": 700, "kafka-3": 500},
    )
    services = services_measured(usage)

    assert {services[f"kafka-{n}"] for n in (1, 2, 3)} == {"kafka"}
    assert Target("127.0.0.1:19092,127.0.0.1:19102,127.0.0.1:19112", "").kafka_ports == [
        19092,
        19102,
        19112,
    ]
    per_case = _phase(usage, services).cpu_per_case()
    assert per_case["kafka"] == pytest.approx(6.0 / 4)
    assert _phase(usage, services).peak_rss()["kafka"] == 700


def _phase(usage: Usage, services: dict[str, str]) -> PhaseResult:
    return PhaseResult(
        name="1k x1 open",
        setup="1,000 plans, 1 instance each",
        plans=1000,
        instances={"claims": 1},
        mode="open",
        offered_rate=None,
        sending_seconds=8.0,
        cases=4,
        finished=4,
        unfinished=0,
        invalid_sent=0,
        outcomes={},
        elapsed=10.0,
        throughput=0.4,
        final_rate_middle=0.4,
        decision=None,
        final=None,
        final_replacements=None,
        schedule_slip=0.0,
        lag_after_sending=0,
        usage=usage,
        services=services,
    )
