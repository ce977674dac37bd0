from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from voyage_progress import BatchProgressMetrics, Milestones

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_no_estimate_before_two_samples() -> None:
    metrics = BatchProgressMetrics(start_time=T0, samples=[])
    assert metrics.calculate_rate() == 0.0
    assert math.isinf(metrics.calculate_eta(100, 0))
    metrics.add_sample(at(0), 0)
    assert math.isinf(metrics.calculate_eta(100, 0))
    assert f"{metrics.calculate_eta(100, 0):.0f}" == "inf"  # the spec's format string never crashes


def test_rate_and_eta_over_the_window() -> None:
    metrics = BatchProgressMetrics(start_time=T0, samples=[], window_size=3)
    for t, done in [(0, 0), (10, 100), (20, 200), (30, 400), (40, 600)]:
        metrics.add_sample(at(t), done)

    assert metrics.calculate_rate() == pytest.approx(20.0)  # last three: 200 -> 600 in 20 s
    assert metrics.calculate_eta(1000, 600) == pytest.approx(20.0)
    assert metrics.calculate_eta(1000, 1000) == 0.0
    assert metrics.elapsed_seconds() == 40.0


def test_computed_from_samples_alone_so_a_trace_replays_identically() -> None:
    trace = [(0, 0), (5, 0), (10, 30), (15, 30), (20, 90), (25, 150), (60, 400)]
    live = BatchProgressMetrics(start_time=T0)
    results = []
    for t, done in trace:
        live.add_sample(at(t), done)
        results.append(
            (live.calculate_rate(), live.calculate_eta(500, done), live.calculate_eta_band(500, done))
        )

    replayed = BatchProgressMetrics(start_time=T0)
    for (t, done), expected in zip(trace, results, strict=True):
        replayed.add_sample(at(t), done)
        assert (
            replayed.calculate_rate(),
            replayed.calculate_eta(500, done),
            replayed.calculate_eta_band(500, done),
        ) == expected


def test_band_brackets_the_estimate() -> None:
    metrics = BatchProgressMetrics(start_time=T0)
    for t, done in [(0, 0), (10, 10), (20, 60), (30, 70), (40, 150)]:
        metrics.add_sample(at(t), done)
    low, high = metrics.calculate_eta_band(300, 150)
    assert low <= metrics.calculate_eta(300, 150) <= high


def test_out_of_order_and_repeated_samples() -> None:
    metrics = BatchProgressMetrics(start_time=T0)
    metrics.add_sample(at(10), 100)
    metrics.add_sample(at(5), 50)  # late answer: ignored
    metrics.add_sample(at(10), 120)  # same moment: replaces
    assert metrics.samples == [(at(10), 120)]


def test_milestones_report_each_crossing_once_even_across_jumps() -> None:
    milestones = Milestones(step=10)
    assert milestones.crossed(9.99) == []
    assert milestones.crossed(10.0) == [10]
    assert milestones.crossed(10.5) == []
    assert milestones.crossed(47.0) == [20, 30, 40]
    assert milestones.crossed(30.0) == []  # never backwards
    assert milestones.crossed(100.0) == [50, 60, 70, 80, 90, 100]
    assert milestones.crossed(math.inf) == []


def test_milestones_validate_the_step() -> None:
    with pytest.raises(ValueError):
        Milestones(step=0)
    assert Milestones(step=25).crossed(60) == [25, 50]
    assert Milestones(step=12.5).crossed(30) == [12.5, 25]
