from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voyage_progress import BatchProgressMetrics, Milestones
from voyage_progress.core import metrics as _metrics

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


def feed(metrics: BatchProgressMetrics, polls: list[tuple[float, int]]) -> None:
    for t, done in polls:
        metrics.add_sample(at(t), done)


def test_the_rate_clock_starts_at_the_first_progress_not_at_submission() -> None:
    metrics = BatchProgressMetrics(start_time=T0)
    queue = [(t, 0) for t in range(0, 1200, 10)]  # twenty minutes of validating
    running = [(1200 + t, 2 * t) for t in range(10, 400, 10)]  # then 2 requests/s
    feed(metrics, queue + running)
    assert metrics.calculate_rate() == pytest.approx(2.0)
    assert metrics.calculate_eta(10_000, 780) == pytest.approx((10_000 - 780) / 2.0)


def test_the_rate_is_measured_between_count_changes() -> None:
    metrics = BatchProgressMetrics(start_time=T0)
    # the API refreshes counts every 60 s (600 requests each time), the poller asks every 5 s
    polls = [(t, 600 * (t // 60)) for t in range(0, 1200, 5)]
    feed(metrics, polls)
    assert metrics.calculate_rate() == pytest.approx(10.0, rel=0.02)  # not sagging between updates
    etas = []
    for t in range(1200, 1255, 5):  # no new count yet: the ETA counts down
        metrics.add_sample(at(t), 11_400)
        etas.append(metrics.calculate_eta(30_000, 11_400))
    assert all(b == pytest.approx(a - 5, abs=0.01) for a, b in itertools.pairwise(etas))


def test_a_stall_stops_the_countdown_and_makes_the_eta_grow() -> None:
    metrics = BatchProgressMetrics(start_time=T0)
    feed(metrics, [(t, 3 * t) for t in range(10, 610, 10)])
    before = metrics.calculate_eta(10_000, 1800)
    assert not metrics.is_stalled()
    feed(metrics, [(600 + t, 1800) for t in range(10, 300, 10)])  # five minutes without progress
    assert metrics.is_stalled()
    after = metrics.calculate_eta(10_000, 1800)
    feed(metrics, [(900 + t, 1800) for t in range(10, 300, 10)])  # and five more
    later = metrics.calculate_eta(10_000, 1800)
    assert before < after < later  # the wait adds to the ETA instead of counting it down
    low, high = metrics.calculate_eta_band(10_000, 1800)
    assert low < later < high and high / later > later / low  # a stall widens the band's high side
    feed(metrics, [(1200 + t, 1800 + 3 * t) for t in range(10, 310, 10)])
    assert not metrics.is_stalled()
    steady = BatchProgressMetrics(start_time=T0)
    feed(steady, [(t, 3 * t) for t in range(10, 910, 10)])  # the same counts, without the stall
    stretched = metrics.calculate_eta_band(10_000, 2700)[1] / metrics.calculate_eta(10_000, 2700)
    plain = steady.calculate_eta_band(10_000, 2700)[1] / steady.calculate_eta(10_000, 2700)
    assert stretched > plain  # a batch that stalled may stall again: its band reaches further


def test_a_step_in_the_rate_is_detected_within_a_few_count_changes() -> None:
    metrics = BatchProgressMetrics(start_time=T0)
    feed(metrics, [(t, 10 * t) for t in range(10, 1810, 10)])  # half an hour at 10/s
    assert metrics.calculate_rate() == pytest.approx(10.0, rel=0.02)
    feed(metrics, [(1800 + t, 18_000 + 4 * t) for t in range(10, 110, 10)])  # then 4/s
    assert metrics.calculate_rate() == pytest.approx(4.0, rel=0.1)  # not a blend of the two
    assert metrics._tracker.detected >= 1


def test_a_long_horizon_leans_on_the_long_run_rate_a_short_one_on_the_current() -> None:
    """After an hour at 10/s and ten minutes at 5/s, a few minutes of work are timed at about
    5/s, and hours of it between the two rates."""
    metrics = BatchProgressMetrics(start_time=T0)
    polls = [(t, 10 * t) for t in range(10, 3610, 10)]
    polls += [(3600 + t, 36_000 + 5 * t) for t in range(10, 610, 10)]
    feed(metrics, polls)
    done = polls[-1][1]
    near = metrics.calculate_eta(done + 1500, done)
    assert near == pytest.approx(300, rel=0.1)
    far = BatchProgressMetrics(start_time=T0)
    feed(far, polls)
    rate_far = 200_000 / far.calculate_eta(done + 200_000, done)
    assert 5.5 < rate_far < 9.5


def test_a_first_count_gives_an_eta_when_the_start_of_the_work_is_known() -> None:
    """A two-request batch: one request done is enough for an ETA, dated from in_progress_at."""
    dated = BatchProgressMetrics(start_time=T0, processing_start=at(30))
    undated = BatchProgressMetrics(start_time=T0)
    for metrics in (dated, undated):
        feed(metrics, [(0, 0), (30, 0), (60, 0), (90, 1)])
    eta = dated.calculate_eta(2, 1)
    assert 30 <= eta <= 120, eta
    assert math.isinf(undated.calculate_eta(2, 1))  # nothing dates the work: wait for a second count
    low, high = dated.calculate_eta_band(2, 1)
    assert low < eta < high


def test_samples_given_to_the_constructor_count() -> None:
    given = BatchProgressMetrics(start_time=T0, samples=[(at(t), 4 * t) for t in range(0, 400, 10)])
    fed = BatchProgressMetrics(start_time=T0)
    feed(fed, [(t, 4 * t) for t in range(0, 400, 10)])
    expected = (5000 - 1560) / 4
    assert given.calculate_eta(5000, 1560) == fed.calculate_eta(5000, 1560) == pytest.approx(expected)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    rate=st.floats(0.05, 500),
    interval=st.floats(1, 60),
    queue=st.floats(0, 900),
    total=st.integers(200, 100_000),
    jitter=st.lists(st.floats(0.9, 1.1), min_size=50, max_size=50),
)
def test_the_eta_never_rises_while_throughput_is_steady(
    rate: float, interval: float, queue: float, total: int, jitter: list[float]
) -> None:
    """Constant throughput, polled at any interval with jitter, counts rounded down as the API
    does: once a rate is established (a window of progress and 100 requests), the ETA only goes
    down or holds."""
    metrics = BatchProgressMetrics(start_time=T0)
    t, previous, first = 0.0, math.inf, None
    for step in range(20_000):
        t += interval * jitter[step % len(jitter)]
        done = min(total, max(0, math.floor(rate * (t - queue))))
        metrics.add_sample(at(t), done)
        if done >= total:
            break
        if first is None and done > 0:
            first = (t, done)
        eta = metrics.calculate_eta(total, done)
        established = first is not None and t - first[0] >= 300 and done - first[1] >= 100
        if established:
            assert eta <= previous + 1e-6, f"the ETA rose from {previous} to {eta} at t={t:.0f}"
            previous = eta


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


def test_band_brackets_the_estimate_and_widens_with_uneven_progress() -> None:
    steady, uneven = BatchProgressMetrics(start_time=T0), BatchProgressMetrics(start_time=T0)
    feed(steady, [(t, 5 * t) for t in range(10, 1000, 10)])
    feed(uneven, [(t, 5 * t + (300 if (t // 50) % 2 else 0)) for t in range(10, 1000, 10)])
    for metrics in (steady, uneven):
        low, high = metrics.calculate_eta_band(20_000, 4950)
        assert low <= metrics.calculate_eta(20_000, 4950) <= high
    assert steady.calculate_eta_band(20_000, 4950)[1] / steady.calculate_eta(20_000, 4950) < (
        uneven.calculate_eta_band(20_000, 4950)[1] / uneven.calculate_eta(20_000, 4950)
    )


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


def test_memory_stays_bounded_over_a_day_of_polls() -> None:
    """A sidecar polls a hundred batches for days: what one batch keeps must not grow with the
    polls, and the answer stays right."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    bounded = BatchProgressMetrics(start_time=t0)
    polls = [(second, second * 3 // 10) for second in range(0, 86_400, 1)]
    for second, completed in polls:
        bounded.add_sample(t0 + timedelta(seconds=second), completed)
    tracker = bounded._tracker
    eta = bounded.calculate_eta(10**6, polls[-1][1])
    assert len(bounded.samples) <= _metrics.MAX_SAMPLES
    assert len(tracker.history) <= _metrics.MAX_HISTORY and len(tracker.forecasts) <= _metrics.MAX_HISTORY
    assert len(tracker.regimes) <= _metrics.MAX_REGIMES
    assert eta == pytest.approx((10**6 - polls[-1][1]) / 0.3, rel=0.01)


def test_samples_let_go_unread_still_reach_the_estimator() -> None:
    """Polled every second and never asked until more than ``MAX_SAMPLES`` samples came: the
    ones dropped from ``samples`` must still have reached the estimator, exactly as if it had
    been asked at every sample."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    unread, read = BatchProgressMetrics(start_time=t0), BatchProgressMetrics(start_time=t0)
    last = _metrics.MAX_SAMPLES + 100
    for second in range(1, last + 1):  # fast for 100 s, then one request a second
        completed = 10 * second if second <= 100 else 1000 + second - 100
        for metrics in (unread, read):
            metrics.add_sample(t0 + timedelta(seconds=second), completed)
        read.calculate_rate()
    assert len(unread.samples) == _metrics.MAX_SAMPLES
    assert unread.calculate_rate() == read.calculate_rate() == pytest.approx(1.0, rel=0.1)
    assert unread._tracker.first == (1.0, 10)  # the first progress, long gone from ``samples``
