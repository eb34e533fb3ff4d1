"""The benchmark report's verdicts and comparisons (pure: no run needed)."""

from __future__ import annotations

import pytest

from bench.report import comparison_rows, target_rows

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
