"""ETA accuracy: every estimator on the same polls of the same traces, in simulated time.

Three families of traces (``benchmarks/traces.py``), each from its own fixed seed: realistic
(a managed service whose rate drifts), volatile (the rate jumps by up to 60 % every few
minutes), and stalls (long stalls, deep throttling, counts refreshed in bursts). Each family is
judged on its own, against the best baseline on that family.

At each poll after the first progress and before the last request is done, each estimator gets
``add_sample(timestamp, completed)`` and is asked ``calculate_eta(total, completed)`` (and
``calculate_eta_band`` where it has one). Ours is also told when processing began, as the
sidecar is by the batch's ``in_progress_at`` (the baselines have no place for it). Per trace,
then the median (or mean) over traces, so that a trace with 30,000 polls weighs as much as one
with five:

- error: median of |ETA - true remaining| / true remaining, over the polls with an ETA;
- change: median of |ETA - (previous ETA - seconds since)| / true remaining, i.e. how far the
  ETA moves per poll beyond counting down; 0 for an ETA that counts down steadily;
- with ETA: the share of polls that have an ETA at all (not ``inf``);
- band: the share of polls where the true remaining time lies between the low and high ETA.
"""

from __future__ import annotations

import math
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from benchmarks._report import Result, table
from benchmarks.estimators import ESTIMATORS, FutureOracle, Oracle
from benchmarks.traces import FAMILIES, Trace, generate
from voyage_progress import BatchProgressMetrics

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
#: Traces per family (the realistic family was 400 alone before the others came).
TRACES = 300
QUICK_TRACES = 30
#: The targets, as ratios to the best baseline on the same traces.
ERROR_RATIO = 0.8


@dataclass
class Score:
    error: float
    change: float
    with_eta: float
    band: float | None


def score_trace(
    factory: Callable[[datetime], Any], trace: Trace
) -> tuple[list[float], list[float], int, int, int]:
    """Errors and changes of one trace, polls with an ETA, polls asked, polls inside the band."""
    estimator = factory(T0)
    if isinstance(estimator, BatchProgressMetrics):  # as the sidecar does, from the batch object
        estimator.set_processing_start(T0 + timedelta(seconds=trace.in_progress_at))
    has_band = hasattr(estimator, "calculate_eta_band")
    errors, changes = [], []
    asked = answered = inside = 0
    previous: tuple[float, float] | None = None
    for t, completed in trace.polls:
        estimator.add_sample(T0 + timedelta(seconds=t), completed)
        if isinstance(estimator, Oracle):
            estimator.set_truth(
                trace.future_mean_rate(t) if estimator.told == "future" else trace.true_rate(t)
            )
        if not 0 < completed < trace.total:
            continue
        true = trace.true_remaining(t)
        if true <= 0:
            continue
        asked += 1
        eta = estimator.calculate_eta(trace.total, completed)
        if has_band:
            low, high = estimator.calculate_eta_band(trace.total, completed)
            inside += low <= true <= high
        if not math.isfinite(eta):
            previous = None
            continue
        answered += 1
        errors.append(abs(eta - true) / true)
        if previous is not None:
            changes.append(abs(eta - (previous[1] - (t - previous[0]))) / true)
        previous = (t, eta)
    return errors, changes, asked, answered, inside if has_band else -1


def evaluate(factory: Callable[[datetime], Any], traces: list[Trace]) -> Score:
    error, change, with_eta, band = [], [], [], []
    for trace in traces:
        errors, changes, asked, answered, inside = score_trace(factory, trace)
        if not asked:
            continue
        with_eta.append(answered / asked)
        if errors:
            error.append(statistics.median(errors))
        if changes:
            change.append(statistics.median(changes))
        if inside >= 0:
            band.append(inside / asked)
    return Score(
        error=statistics.median(error) if error else math.inf,
        change=statistics.median(change) if change else math.inf,
        with_eta=statistics.mean(with_eta),
        band=statistics.mean(band) if band else None,
    )


def _pct(value: float) -> str:
    return f"{value * 100:.1f} %" if math.isfinite(value) else "n/a"


def _ratio(ours: float, baseline: float) -> str:
    return f"{ours / baseline:.2f}x" if baseline and math.isfinite(baseline) and math.isfinite(ours) else "-"


def _scores(traces: list[Trace]) -> tuple[Score, dict[str, Score], Score, Score]:
    scores = {name: evaluate(factory, traces) for name, factory in ESTIMATORS.items()}
    return scores.pop("voyage-progress"), scores, evaluate(Oracle, traces), evaluate(FutureOracle, traces)


def family_rows(family: str, traces: list[Trace]) -> list[Result]:
    """The rows of one family of traces: error, change, ETA share and band, each against its target."""
    ours, baselines, oracle, future = _scores(traces)
    best_error = min(baselines, key=lambda n: baselines[n].error)
    best_change = min(baselines, key=lambda n: baselines[n].change)
    most_eta = max(baselines, key=lambda n: baselines[n].with_eta)
    e, c = baselines[best_error], baselines[best_change]
    where = f"{family}: {len(traces)} traces, {sum(len(t.polls) for t in traces)} polls"
    rows = [
        Result(
            "eta",
            f"{where}: median |error| / true remaining",
            _pct(ours.error),
            f"{_pct(e.error)} ({best_error})",
            _ratio(ours.error, e.error),
            f"<= {ERROR_RATIO}x the best baseline",
            ours.error <= ERROR_RATIO * e.error,
        ),
        Result(
            "eta",
            f"  {family}: oracles told the true future mean rate / the true current rate",
            f"{_pct(future.error)} / {_pct(oracle.error)}",
            "",
            f"{_ratio(future.error, e.error)} / {_ratio(oracle.error, e.error)}",
            "(the floor for any estimator)",
        ),
        Result(
            "eta",
            f"  {family}: median ETA change per poll / true remaining",
            _pct(ours.change),
            f"{_pct(c.change)} ({best_change})",
            _ratio(ours.change, c.change),
            "<= the best baseline's",
            ours.change <= c.change,
        ),
        Result(
            "eta",
            f"  {family}: polls with an ETA (after first progress)",
            _pct(ours.with_eta),
            f"{_pct(baselines[most_eta].with_eta)} ({most_eta})",
            "",
            ">= 95 %",
            ours.with_eta >= 0.95,
        ),
        Result(
            "eta",
            f"  {family}: true remaining inside the low/high band",
            _pct(ours.band or 0.0),
            "no baseline has one",
            "",
            "80 % (+-10)",
            ours.band is not None and 0.7 <= ours.band <= 0.9,
        ),
    ]
    for name, score in baselines.items():
        rows.append(
            Result(
                "eta",
                f"    {family}: {name}",
                "",
                f"error {_pct(score.error)}, change {_pct(score.change)}, with ETA {_pct(score.with_eta)}",
                "",
                "",
            )
        )
    return rows


def run(quick: bool) -> list[Result]:
    count = QUICK_TRACES if quick else TRACES
    rows: list[Result] = []
    for family, (weather, seed) in FAMILIES.items():
        rows += family_rows(family, generate(count, seed=seed, weather=weather))
    return rows


if __name__ == "__main__":
    print(table(run(quick="--quick" in sys.argv)))
