"""Pure helpers: percentiles, summaries of timings, rates and ratios, formatted for the report."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

PERCENTILES = (50.0, 95.0, 99.0)


def percentile(values: Sequence[float], pct: float) -> float:
    """The `pct`-th percentile by linear interpolation between closest ranks (numpy's default).

    Raises ValueError on an empty sequence or a percentile outside [0, 100].
    """
    if not values:
        raise ValueError("no values")
    if not 0.0 <= pct <= 100.0:
        raise ValueError(f"percentile {pct} is outside [0, 100]")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Summary:
    """Latencies in seconds: how many, p50, p95, p99, max and mean."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float
    mean: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def summarise(values: Iterable[float]) -> Summary | None:
    """The summary of `values`, or None when there are none."""
    data = list(values)
    if not data:
        return None
    return Summary(
        count=len(data),
        p50=percentile(data, 50.0),
        p95=percentile(data, 95.0),
        p99=percentile(data, 99.0),
        max=max(data),
        mean=sum(data) / len(data),
    )


def rate(count: int, seconds: float) -> float:
    """Events per second; 0 for an empty or instantaneous interval."""
    if count <= 0 or seconds <= 0:
        return 0.0
    return count / seconds


def middle_rate(times: Sequence[float], low: float = 10.0, high: float = 90.0) -> float:
    """Completions per second between the `low` and `high` percentiles of their times.

    Leaves out the ramp-up and the drain of a run: what the platform sustained in between.
    """
    if len(times) < 3:
        return 0.0
    start, end = percentile(times, low), percentile(times, high)
    inside = sum(1 for t in times if start <= t <= end)
    return rate(inside - 1, end - start)


def ratio(value: float | None, ceiling: float | None) -> float | None:
    """value / ceiling, or None when either is unknown or the ceiling is not positive."""
    if value is None or ceiling is None or ceiling <= 0 or math.isnan(ceiling):
        return None
    return value / ceiling


def format_ratio(value: float | None) -> str:
    """A ratio for a table: 0.42 -> '42%', 3.1 -> '3.1x', None -> 'n/a'.

    Below 1 (a share of a ceiling) it reads as a percentage, from 1 up as a multiple.
    """
    if value is None or math.isnan(value):
        return "n/a"
    if value < 1.0:
        share = value * 100.0
        return f"{share:.1f}%" if share < 10.0 else f"{share:.0f}%"
    return f"{value:.1f}x" if value < 100.0 else f"{value:.0f}x"


def format_seconds(value: float | None) -> str:
    """Milliseconds below a second, seconds above: 0.0123 -> '12.3 ms', 2.5 -> '2.50 s'."""
    if value is None or math.isnan(value):
        return "n/a"
    if value < 1.0:
        ms = value * 1000.0
        return f"{ms:.1f} ms" if ms < 100.0 else f"{ms:.0f} ms"
    return f"{value:.2f} s"


def format_rate(value: float | None) -> str:
    """Cases per second with sensible precision."""
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:.1f}" if value < 100.0 else f"{value:.0f}"


def format_bytes(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    mib = value / (1024 * 1024)
    return f"{mib:.0f} MiB"
