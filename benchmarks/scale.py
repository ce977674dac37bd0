"""Scale: the sidecar watching 1,000, 3,000 and 10,000 batches, and what that costs it.

What runs. The simulator runs as its own process (speed 1). It is given 10,000 batches: like
the API, it holds at most 100 in flight, so they are made a hundred at a time and ended by
moving its clock a day ahead, except the last hundred, whose work takes an hour (in flight all
through the run). For each size N, the sidecar runs as its own process, exactly as a user
starts it after a restart: ``python -m voyage_progress watch --state-file F --no-control
--no-display --log-format json --osc 127.0.0.1:<port>``, with the defaults otherwise (a poll
every 5 s, ``--max-rps 5``, the full state every 2 s, a heartbeat every second), F holding the
100 batches in flight and N - 100 ended ones. A thread of this process reads its OSC.

Measured, from the start of the process for ``SECONDS`` (40; 10 with ``--quick``): when the
first heartbeat arrived; the heartbeats that arrived and the longest time without one after the
first (one a second is the rule); the processor time the sidecar used, as a share of one core;
its resident memory at the end of the run and at its peak; and, stopped as Ctrl+C would, its
exit code and how long it took to stop (it sends what is queued first).

``python -m benchmarks.scale [--quick]`` prints the table (``--quick``: 1,000 batches only).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks._capture import Vitals
from benchmarks._processes import SimulatorControl, child, interrupt, meter, simulator
from benchmarks._report import Result, table

NAME = "scale"
API_KEY = "scale-key"
IN_FLIGHT = 100
FULL_SIZES = (1_000, 3_000, 10_000)
QUICK_SIZES = (1_000,)
FULL_SECONDS = 40.0
QUICK_SECONDS = 10.0
#: The targets: the first heartbeat within a few seconds of starting, then one a second (a gap
#: of 2.5 s is two missed), a stop within a few seconds.
FIRST_HEARTBEAT = 5.0
LONGEST_GAP = 2.5
STOP_SECONDS = 5.0


@dataclass
class Run:
    batches: int
    seconds: float
    first_heartbeat: float | None
    heartbeats: int
    longest_gap: float | None
    cpu: float | None
    rss_end: float | None
    rss_peak: float | None
    exit_code: int | None
    stop_seconds: float


def make_batches(sim: SimulatorControl, total: int) -> list[str]:
    """``total`` batches, the last ``IN_FLIGHT`` of them in flight for an hour, the others ended."""
    ended: list[str] = []
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        while len(ended) < total - IN_FLIGHT:
            count = min(IN_FLIGHT, total - IN_FLIGHT - len(ended))
            ended += pool.map(lambda _: sim.create_batches(1, 10, "normal")[0], range(count))
            sim.http.post("/_sim/advance", params={"seconds": 86400}).raise_for_status()
        running = pool.map(
            lambda _: sim.create_batches(1, 1000, "normal", sim_processing="3600")[0], range(IN_FLIGHT)
        )
        return [*running, *ended]


def write_state(path: Path, ids: list[str]) -> None:
    batches = [
        {"id": batch_id, "slot": slot, "label": "", "auto": False} for slot, batch_id in enumerate(ids)
    ]
    path.write_text(json.dumps({"version": 1, "batches": batches}))


def watch(sim: SimulatorControl, ids: list[str], seconds: float, folder: Path) -> Run:
    state = folder / f"state-{len(ids)}.json"
    write_state(state, ids)
    vitals = Vitals()
    args = [sys.executable, "-m", "voyage_progress", "watch", "--state-file", str(state), "--no-control"]
    args += ["--no-display", "--log-format", "json", "--osc", f"127.0.0.1:{vitals.port}"]
    env = {**os.environ, "VOYAGE_API_KEY": API_KEY, "VOYAGE_BASE_URL": sim.base_url}
    try:
        with tempfile.TemporaryFile("w+") as output, child("sidecar", args, output, env) as sidecar:
            started = time.monotonic()
            gauge = meter(sidecar.process.pid)
            cpu_before = gauge.cpu() if gauge else 0.0
            peak = 0.0
            while time.monotonic() < started + seconds:
                time.sleep(0.5)
                sidecar.check()
                if gauge is not None:
                    peak = max(peak, gauge.rss() / 1e6)
            ended = time.monotonic()
            cpu = (gauge.cpu() - cpu_before) / (ended - started) if gauge else None
            rss_end = gauge.rss() / 1e6 if gauge else None
            stopping = time.monotonic()
            exit_code = interrupt(sidecar.process, timeout=30)
            stop_seconds = time.monotonic() - stopping
        first = vitals.beats[0] - started if vitals.beats else None
        gap = vitals.longest_gap(vitals.beats[0], ended) if vitals.beats else None
        return Run(
            batches=len(ids),
            seconds=ended - started,
            first_heartbeat=first,
            heartbeats=vitals.beats_between(started, ended),
            longest_gap=gap,
            cpu=cpu,
            rss_end=rss_end,
            rss_peak=peak or None,
            exit_code=exit_code,
            stop_seconds=stop_seconds,
        )
    finally:
        vitals.close()


def rows(runs: list[Run]) -> list[Result]:
    return [row for run in runs for row in _rows(run)]


def _rows(run: Run) -> list[Result]:
    size = f"{run.batches:,} batches"

    def row(metric: str, ours: str, target: str = "-", met: bool | None = None) -> Result:
        return Result(NAME, f"{size}: {metric}", ours, "-", "-", target, met)

    first, gap = run.first_heartbeat, run.longest_gap
    memory = "not measured here" if run.rss_end is None else f"{run.rss_end:.0f} MB ({run.rss_peak:.0f} MB)"
    stopped = run.exit_code == 0 and run.stop_seconds <= STOP_SECONDS
    return [
        row("first heartbeat after the start", "none" if first is None else f"{first:.1f} s",
            f"≤ {FIRST_HEARTBEAT:g} s", first is not None and first <= FIRST_HEARTBEAT),
        row(f"heartbeats in {run.seconds:.0f} s; longest gap after the first",
            f"{run.heartbeats}; {'-' if gap is None else f'{gap:.1f} s'}", f"gap ≤ {LONGEST_GAP:g} s",
            gap is not None and gap <= LONGEST_GAP),
        row("processor time (share of one core)",
            "not measured here" if run.cpu is None else f"{100 * run.cpu:.0f} %"),
        row("resident memory at the end (peak)", memory),
        row("exit code after Ctrl+C (seconds to stop)", f"{run.exit_code} ({run.stop_seconds:.1f} s)",
            f"0 in ≤ {STOP_SECONDS:g} s", stopped),
    ]  # fmt: skip


def scale(sizes: tuple[int, ...], seconds: float) -> list[Run]:
    with tempfile.TemporaryDirectory() as folder, simulator("--api-key", API_KEY) as sim:
        ids = make_batches(sim, max(sizes))
        return [watch(sim, ids[:size], seconds, Path(folder)) for size in sizes]


def run(quick: bool) -> list[Result]:
    return rows(scale(QUICK_SIZES, QUICK_SECONDS) if quick else scale(FULL_SIZES, FULL_SECONDS))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 batches, 10 s")
    args = parser.parse_args(argv)
    results = run(args.quick)
    print(table(results))
    return 0 if all(r.met is not False for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
