"""The benchmark's pure helpers: percentiles, summaries, rates and how ratios read."""

import math

import pytest

from bench.stats import (
    format_bytes,
    format_rate,
    format_ratio,
    format_seconds,
    middle_rate,
    percentile,
    rate,
    ratio,
    summarise,
)

pytestmark = pytest.mark.unit


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 0) == 10.0
    assert percentile(values, 100) == 40.0
    assert percentile(values, 50) == pytest.approx(25.0)
    assert percentile(values, 95) == pytest.approx(38.5)


def test_percentile_ignores_input_order_and_handles_one_value() -> None:
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([7.0], 99) == 7.0


def test_percentile_matches_the_nearest_rank_on_a_hundred_values() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile(values, 50) == pytest.approx(50.5)


@pytest.mark.parametrize(("values", "pct"), [([], 50), ([1.0], -1), ([1.0], 100.5)])
def test_percentile_refuses_no_values_and_out_of_range(values: list[float], pct: float) -> None:
    with pytest.raises(ValueError):
        percentile(values, pct)


def test_summarise_gives_percentiles_max_and_mean() -> None:
    summary = summarise([0.1, 0.2, 0.3, 0.4, 1.0])
    assert summary is not None
    assert summary.count == 5
    assert summary.p50 == pytest.approx(0.3)
    assert summary.max == 1.0
    assert summary.mean == pytest.approx(0.4)
    assert summary.p95 <= summary.p99 <= summary.max


def test_summarise_of_nothing_is_none() -> None:
    assert summarise([]) is None
    assert summarise(iter(())) is None


def test_rate_is_zero_for_an_empty_or_instantaneous_interval() -> None:
    assert rate(100, 4.0) == 25.0
    assert rate(0, 4.0) == 0.0
    assert rate(10, 0.0) == 0.0


def test_middle_rate_leaves_out_ramp_up_and_drain() -> None:
    # A slow start and a long tail around a steady 10 per second.
    steady = [10.0 + n / 10.0 for n in range(100)]
    times = [0.0, 5.0, *steady, 60.0, 90.0]
    assert middle_rate(times) == pytest.approx(10.0, rel=0.05)
    assert middle_rate([1.0, 2.0]) == 0.0


def test_ratio_needs_a_positive_known_ceiling() -> None:
    assert ratio(5.0, 20.0) == 0.25
    assert ratio(None, 20.0) is None
    assert ratio(5.0, None) is None
    assert ratio(5.0, 0.0) is None
    assert ratio(5.0, math.nan) is None


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0.25, "25%"),
        (0.042, "4.2%"),
        (0.999, "100%"),
        (1.0, "1.0x"),
        (3.14, "3.1x"),
        (250.0, "250x"),
        (None, "n/a"),
        (math.nan, "n/a"),
    ],
)
def test_format_ratio_reads_as_a_share_below_one_and_a_multiple_above(
    value: float | None, shown: str
) -> None:
    assert format_ratio(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0.0123, "12.3 ms"), (0.25, "250 ms"), (2.5, "2.50 s"), (None, "n/a")],
)
def test_format_seconds(value: float | None, shown: str) -> None:
    assert format_seconds(value) == shown


def test_format_rate_and_bytes() -> None:
    assert format_rate(31.46) == "31.5"
    assert format_rate(1253.2) == "1253"
    assert format_rate(None) == "n/a"
    assert format_bytes(64 * 1024 * 1024) == "64 MiB"
    assert format_bytes(None) == "n/a"
