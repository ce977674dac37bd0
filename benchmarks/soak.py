"""The fault soak: a hundred batches of three providers over their whole windows, through APIs
that fail a third of the time, watched by one sidecar exactly as a user runs it.

What runs, and how it is judged.

- Three simulators run as their own processes (``voyage-progress simulate --dialect voyage``,
  ``openai``, ``anthropic``) at the speed that fits each provider's window into the run's real
  minutes (4 by default: twelve simulated hours at speed 180 for Voyage, twenty-four at 360 for
  OpenAI and Anthropic), with these faults on every API request (``FAULTS``), in each
  provider's own error shapes: 20 % 5xx (500, 502, 503), 5 % dropped connections, 429s that
  come in runs of four with and without ``Retry-After``, 1 % answers slower than the client's
  timeout, and 1 % malformed or truncated bodies.
- A hundred batches are created on them at the start (``POST /_sim/batches``), each provider in
  turn, with a seeded mix of scenarios (normal, partial failures, stalls, cancels, failed
  validation, long finalizing, late counts, all failed, and expiry at the window's end), sizes
  from 15 to 3,000 requests and work times from ten minutes to ten hours
  (``metadata["sim_processing"]``), so their ends spread over the whole run.
- The sidecar runs as its own process: ``python -m voyage_progress watch <the ids>
  --poll-interval 1 --min-interval 0.5 --max-interval 8 --timeout 2 --max-rps 4 --state-file F
  --no-control --no-display --log-format json --osc 127.0.0.1:<port>`` (each id's shape says its
  provider; every key and base URL is in its environment), its OSC read by a thread of this
  process, its log lines kept.
- The run ends when every batch's end has arrived on OSC and every window has passed (or at a
  deadline of twice the planned time). Then the faults are switched off, the truth is read from
  each simulator through its provider's client, and the sidecar is stopped as Ctrl+C would.

Reported: the share of batches whose end event arrived, and whose end agrees with the truth; the
share whose last OSC counts (total, completed, failed) and status equal the truth; crashes (the
process exiting before it was told to, a loop restarted by its supervisor, a traceback in the
log); the peak requests each simulator served in one second (of the clock's seconds) against the
budget, which each provider has for itself; the sidecar's resident memory a few seconds after
the start and at the end; and, for context, the requests and faults served and the log lines by
level.

``python -m benchmarks.soak [--quick]`` prints the table; ``--quick`` is 30 batches in 40 s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from benchmarks._capture import END_STATUS, Capture
from benchmarks._processes import Child, SimulatorControl, child, interrupt, meter
from benchmarks._providers import dialect_of, ends_by_provider, sidecar_env, simulators, truth, window_hours
from benchmarks._report import Result, table

NAME = "soak"
API_KEY = "soak-key"
BUDGET = 4.0
FAULTS = (
    "500=0.07,502=0.06,503=0.07,drop=0.05,429=0.01,429-bare=0.01,burst=4,retry-after=2,"
    "slow=0.01,slow-seconds=3,malformed=0.005,truncated=0.005"
)
SIDECAR_OPTIONS = [
    "--poll-interval", "1", "--min-interval", "0.5", "--max-interval", "8",
    "--timeout", "2", "--max-rps", f"{BUDGET:g}",
    "--no-control", "--no-display", "--log-format", "json",
]  # fmt: skip
#: Scenarios of the batches, drawn in this proportion.
MIX = (
    ["normal"] * 10 + ["partial_failures"] * 3 + ["stall"] * 2 + ["cancel"] * 2
    + ["fail_validation", "long_finalizing", "late_counts", "all_failed", "expire", "expire_openai"]
)  # fmt: skip
#: Memory may grow while caches and estimator windows fill; after the first quarter of the run
#: it must stay flat.
RSS_GROWTH_LIMIT = 0.05


@dataclass(frozen=True)
class Plan:
    batches: int = 100
    hours: float = 12.0
    minutes: float = 4.0
    seed: int = 1

    @property
    def speed(self) -> float:
        return self.hours * 3600 / (self.minutes * 60)


FULL = Plan()
QUICK = Plan(batches=30, minutes=40 / 60)


@dataclass
class Outcome:
    plan: Plan
    ids: list[str]
    truth: dict[str, dict[str, Any]]
    ended_on_osc: dict[str, str]
    last_on_osc: dict[str, dict[str, Any]]
    #: Each simulator's statistics, by dialect.
    stats: dict[str, dict[str, Any]]
    exited_early: int | None
    exit_code: int | None
    log_levels: Counter[str]
    loop_restarts: int
    tracebacks: int
    rss: list[float] = field(default_factory=list)
    seconds: float = 0.0
    sim_hours: float = 0.0

    def ends_agreeing(self) -> int:
        return sum(
            1
            for batch_id, kind in self.ended_on_osc.items()
            if END_STATUS.get(kind) == self.truth.get(batch_id, {}).get("status")
        )

    def exact_counts(self) -> int:
        exact = 0
        for batch_id in self.ids:
            shown, true = self.last_on_osc.get(batch_id, {}), self.truth.get(batch_id, {})
            counts = true.get("request_counts", {})
            if (shown.get("status"), shown.get("total"), shown.get("completed"), shown.get("failed")) == (
                true.get("status"),
                counts.get("total"),
                counts.get("completed"),
                counts.get("failed"),
            ):
                exact += 1
        return exact

    @property
    def crashes(self) -> int:
        return int(self.exited_early is not None) + self.loop_restarts + self.tracebacks


def create_batches(sims: dict[str, SimulatorControl], plan: Plan) -> list[str]:
    rng = random.Random(plan.seed)
    ids = []
    for number in range(plan.batches):
        sim = sims[dialect_of(number)]
        scenario = rng.choice(MIX)
        requests = round(math.exp(rng.uniform(math.log(15), math.log(3000))))
        metadata = {"label": f"soak-{number}"}
        if not scenario.startswith("expire"):
            metadata["sim_processing"] = f"{math.exp(rng.uniform(math.log(600), math.log(36000))):.0f}"
        ids += sim.create_batches(1, requests, scenario, **metadata)
    return ids


def _sidecar(
    sims: dict[str, SimulatorControl], ids: list[str], capture: Capture, state: Path, output: IO[str]
) -> contextlib.AbstractContextManager[Child]:
    args = [sys.executable, "-m", "voyage_progress", "watch", *ids, *SIDECAR_OPTIONS]
    args += ["--osc", f"127.0.0.1:{capture.port}", "--state-file", str(state)]
    return child("sidecar", args, output, sidecar_env(os.environ, sims, API_KEY))


def _windows_passed(sims: dict[str, SimulatorControl]) -> bool:
    return all(sim.stats()["sim_elapsed"] >= window_hours(dialect) * 3600 for dialect, sim in sims.items())


def _logs(sidecar: Child, output: IO[str]) -> tuple[Counter[str], int, int]:
    """Log lines by level (``info`` for the lines about batches, events and health), loops
    restarted by their supervisor, and tracebacks on standard error."""
    output.seek(0)
    levels: Counter[str] = Counter()
    restarts = 0
    for line in output:
        with contextlib.suppress(ValueError, AttributeError):
            record = json.loads(line)
            text = str(record.get("text", ""))
            levels[text.partition(":")[0] if record.get("type") == "message" else "info"] += 1
            restarts += "loop failed" in text
    sidecar.log.seek(0)
    return levels, restarts, sidecar.log.read().count("Traceback (most recent call last)")


def soak(plan: Plan) -> Outcome:
    capture = Capture()
    with (
        tempfile.TemporaryDirectory() as folder,
        tempfile.TemporaryFile("w+") as output,
        simulators("--faults", f"{FAULTS},seed={plan.seed}", speed=plan.speed, api_key=API_KEY) as sims,
    ):
        ids = create_batches(sims, plan)
        started = time.monotonic()
        with _sidecar(sims, ids, capture, Path(folder) / "state.json", output) as sidecar:
            gauge = meter(sidecar.process.pid)
            rss: list[float] = []
            deadline = started + 2 * plan.minutes * 60 + 30
            exited_early = None
            while time.monotonic() < deadline:
                time.sleep(1.0)
                if sidecar.process.poll() is not None:
                    exited_early = sidecar.process.returncode
                    break
                if gauge is not None:
                    rss.append(gauge.rss() / 1e6)
                ended = {batch_id for _, batch_id in capture.events()}
                if ended >= set(ids) and _windows_passed(sims):
                    break
            stats = {dialect: sim.stats() for dialect, sim in sims.items()}
            seconds = time.monotonic() - started
            time.sleep(2.5)  # one more full state: the last values of every batch
            truths = truth(sims, API_KEY)
            exit_code = interrupt(sidecar.process)
            levels, restarts, tracebacks = _logs(sidecar, output)
    capture.close()
    ends: dict[str, str] = {}
    for kind, batch_id in capture.events():
        ends.setdefault(batch_id, kind)
    return Outcome(
        plan=plan,
        ids=ids,
        truth=truths,
        ended_on_osc=ends,
        last_on_osc=capture.batches(),
        stats=stats,
        exited_early=exited_early,
        exit_code=exit_code,
        log_levels=levels,
        loop_restarts=restarts,
        tracebacks=tracebacks,
        rss=rss,
        seconds=seconds,
        sim_hours=stats["voyage"]["sim_elapsed"] / 3600,
    )


def _share(count: int, of: int) -> str:
    return f"{count}/{of} ({100 * count / of:.0f} %)" if of else "-"


def rows(outcome: Outcome) -> list[Result]:
    n = len(outcome.ids)
    by_provider, each_ended = ends_by_provider(outcome.ids, outcome.ended_on_osc)
    stats = outcome.stats
    peaks = {dialect: served["peak_per_second"] for dialect, served in stats.items()}
    requests = sum(served["requests"] for served in stats.values())
    served_faults: Counter[str] = Counter()
    for served in stats.values():
        served_faults.update(served["faults"])
    rss = outcome.rss
    marks = [rss[min(2, len(rss) - 1)], rss[len(rss) // 4], rss[len(rss) // 2], rss[-1]] if rss else []
    flat = bool(marks) and marks[-1] <= marks[1] * (1 + RSS_GROWTH_LIMIT)
    faults = ", ".join(f"{kind} {count}" for kind, count in sorted(served_faults.items()))
    levels = ", ".join(f"{level} {count}" for level, count in sorted(outcome.log_levels.items()))
    where = f"{n} batches of 3 providers, {outcome.sim_hours:.1f} h of Voyage's in {outcome.seconds:.0f} s"

    def row(metric: str, ours: str, target: str = "-", met: bool | None = None) -> Result:
        return Result(NAME, metric, ours, "-", "-", target, met)

    return [
        row(f"batch ends received on OSC ({where})", _share(len(outcome.ended_on_osc), n), "100 %",
            len(outcome.ended_on_osc) == n),
        row("batch ends received on OSC, by provider", by_provider, "all of each", each_ended),
        row("ends that agree with the API's final status", _share(outcome.ends_agreeing(), n), "100 %",
            outcome.ends_agreeing() == n),
        row("final status and counts on OSC equal to the API's", _share(outcome.exact_counts(), n), "100 %",
            outcome.exact_counts() == n),
        row("crashes (early exits, restarted loops, tracebacks)", str(outcome.crashes), "0",
            outcome.crashes == 0),
        row("exit code after Ctrl+C", str(outcome.exit_code), "0", outcome.exit_code == 0),
        row(f"peak API requests in one second, per provider (budget --max-rps {BUDGET:g} each)",
            ", ".join(f"{dialect} {peak}" for dialect, peak in peaks.items()), f"≤ {BUDGET:g}",
            max(peaks.values()) <= BUDGET),
        row("sidecar RSS at 3 s, 25 %, 50 % and the end of the run",
            " → ".join(f"{mark:.1f}" for mark in marks) + " MB" if marks else "not measured here",
            f"25 % → end ≤ +{RSS_GROWTH_LIMIT:.0%}", flat if marks else None),
        row("API requests served (per second)", f"{requests} ({requests / outcome.seconds:.1f}/s)"),
        row("faults served", faults or "none"),
        row("log lines by level", levels or "none"),
    ]  # fmt: skip


def run(quick: bool) -> list[Result]:
    return rows(soak(QUICK if quick else FULL))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="30 batches in 40 s")
    parser.add_argument("--batches", type=int, help="how many batches (at most 100)")
    parser.add_argument("--minutes", type=float, help="real minutes for the twelve simulated hours")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    plan = Plan(args.batches or plan.batches, plan.hours, args.minutes or plan.minutes, args.seed)
    results = rows(soak(plan))
    print(table(results))
    return 0 if all(r.met is not False for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
