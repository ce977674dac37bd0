"""ETA accuracy: every estimator on the same polls of the same traces, in simulated time.

At each poll after the first progress and before the last request is done, each estimator gets
``add_sample(timestamp, completed)`` and is asked ``calculate_eta(total, completed)`` (and
``calculate_eta_band`` where it has one). Per trace, then the median (or mean) over traces, so
that a trace with 30,000 polls weighs as much as one with five:

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
from benchmarks.estimators import ESTIMATORS, Oracle
from benchmarks.traces import VOLATILE, Trace, generate

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
TRACES = 400
QUICK_TRACES = 40


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
    has_band = hasattr(estimator, "calculate_eta_band")
    errors, changes = [], []
    asked = answered = inside = 0
    previous: tuple[float, float] | None = None
    for t, completed in trace.polls:
        estimator.add_sample(T0 + timedelta(seconds=t), completed)
        if isinstance(estimator, Oracle):
            estimator.set_truth(trace.true_rate(t))
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


def _lower(ours: float, baseline: float) -> str:
    return f"{(1 - ours / baseline) * 100:.0f} % lower" if baseline and math.isfinite(baseline) else "-"


def _scores(traces: list[Trace]) -> tuple[Score, dict[str, Score], Score]:
    scores = {name: evaluate(factory, traces) for name, factory in ESTIMATORS.items()}
    return scores.pop("voyage-progress"), scores, evaluate(Oracle, traces)


def run(quick: bool) -> list[Result]:
    traces = generate(QUICK_TRACES if quick else TRACES)
    ours, baselines, oracle = _scores(traces)
    best_error = min(baselines, key=lambda n: baselines[n].error)
    best_change = min(baselines, key=lambda n: baselines[n].change)
    most_eta = max(baselines, key=lambda n: baselines[n].with_eta)
    e, c = baselines[best_error], baselines[best_change]
    where = f"{len(traces)} traces, {sum(len(t.polls) for t in traces)} polls"
    rows = [
        Result(
            "eta",
            f"median |error| / true remaining ({where})",
            _pct(ours.error),
            f"{_pct(e.error)} ({best_error})",
            _lower(ours.error, e.error),
            ">= 30 % lower than the best baseline",
            ours.error <= 0.7 * e.error,
        ),
        Result(
            "eta",
            "  the same for an oracle told the true current rate",
            _pct(oracle.error),
            "",
            "",
            "(the floor for any estimator)",
        ),
        Result(
            "eta",
            "median ETA change per poll / true remaining",
            _pct(ours.change),
            f"{_pct(c.change)} ({best_change})",
            _lower(ours.change, c.change),
            "<= the best baseline's",
            ours.change <= c.change,
        ),
        Result(
            "eta",
            "polls with an ETA (after first progress)",
            _pct(ours.with_eta),
            f"{_pct(baselines[most_eta].with_eta)} ({most_eta})",
            "",
            ">= 95 %",
            ours.with_eta >= 0.95,
        ),
        Result(
            "eta",
            "true remaining inside the low/high band",
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
                f"  {name}",
                "",
                f"error {_pct(score.error)}, change {_pct(score.change)}, with ETA {_pct(score.with_eta)}",
                "",
                "",
            )
        )
    if not quick:
        rows += _stress()
    return rows


def _stress() -> list[Result]:
    """The same on volatile traces (the rate jumps by up to 60 % every few minutes)."""
    traces = generate(TRACES // 2, weather=VOLATILE)
    ours, baselines, oracle = _scores(traces)
    best = min(baselines, key=lambda n: baselines[n].error)
    return [
        Result(
            "eta",
            f"volatile traces ({len(traces)}): median |error|",
            _pct(ours.error),
            f"{_pct(baselines[best].error)} ({best})",
            _lower(ours.error, baselines[best].error),
            f"(oracle {_pct(oracle.error)})",
        ),
        Result(
            "eta",
            "volatile traces: polls with an ETA / band",
            f"{_pct(ours.with_eta)} / {_pct(ours.band or 0)}",
            "",
            "",
            "",
        ),
    ]


if __name__ == "__main__":
    print(table(run(quick="--quick" in sys.argv)))
