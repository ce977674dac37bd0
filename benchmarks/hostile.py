"""The hostile API: the sidecar watches good batches through an API that turns hostile phase
after phase, and must come out of every phase still polling, with flat memory and a steady
heartbeat.

What runs, and how it is judged.

- A hostile API (``benchmarks/_hostile_api.py``) runs in a thread of this process on loopback.
  It holds six good batches that move with the real clock: four end during the run, two are
  still running at its end. It answers every request by the phase of the moment: ``ok`` (the
  truth) between hostile phases, and in turn ``drip`` (the true answer, a byte every 0.5 s:
  slower than any per-read timeout never trips), ``huge`` (a 1 GB answer), ``endless`` (a
  chunked answer that never ends), ``bomb`` (a gzip of 1 MB that decompresses to 1 GB),
  ``poison`` (batches whose ``total`` is ``"inf"`` or has 400 digits), ``retry-after`` and
  ``retry-after-date`` (429 with ``Retry-After: 99999999999`` or a date in the year 9999) and
  ``pages`` (a list whose cursor never moves on).
- The sidecar runs as its own process, as a user starts it: ``python -m voyage_progress watch
  <the ids> --poll-interval 0.5 --min-interval 0.25 --max-interval 2 --timeout 1 --max-rps 5
  --no-control --no-display --log-format json --osc 127.0.0.1:<port>``. Its OSC is read by a
  thread of this process, its log lines kept, its memory read every 0.2 s (``VmHWM``, the true
  peak, where ``/proc`` has it).
- At the end the sidecar is stopped as Ctrl+C would, and each batch's last state on OSC is
  compared with the truth.

Reported: the sidecar's peak memory; the longest gap between heartbeats; for each hostile
phase, how long after it ended the next true answer for a good batch was served (polling went
on), and the longest of these; how soon ``api_ok`` went to 0 once answers dripped; ends received
and final counts against the truth; crashes (an early exit, a loop restarted by its supervisor,
a traceback), during the poison phase and outside it; and for context the requests and bytes
served in each mode.

``python -m benchmarks.hostile [--quick]`` prints the table; ``--quick`` runs shorter phases
and leaves out ``retry-after-date``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from benchmarks._capture import Capture
from benchmarks._hostile_api import GoodBatch, HostileAPI, in_thread
from benchmarks._processes import child, interrupt, meter
from benchmarks._report import Result, table

NAME = "hostile"
API_KEY = "hostile-key"
POLL = 0.5
TIMEOUT = 1.0
MAX_INTERVAL = 2.0
OPTIONS = [
    "--poll-interval", f"{POLL:g}", "--min-interval", "0.25", "--max-interval", f"{MAX_INTERVAL:g}",
    "--timeout", f"{TIMEOUT:g}", "--max-rps", "5", "--no-control", "--no-display", "--log-format", "json",
]  # fmt: skip
#: How soon ``api_ok`` must go to 0 once every answer drips: the next poll (an interval), the
#: watcher's silence limit (the deadline and its margin, here over three intervals), the
#: heartbeat that carries it, and a second for a machine busy with other work.
API_OK_WITHIN = POLL + max(3 * POLL, TIMEOUT + 2.0) + 1.0 + 1.0
#: How soon after a hostile phase a true answer must be served again: a request in flight
#: (three attempts of the deadline), the longest pause after failures, and two poll intervals.
RECOVERY_WITHIN = 3 * TIMEOUT + MAX_INTERVAL + 2 * POLL
PEAK_RSS_MB = 150.0
HEARTBEAT_GAP = 2.0


@dataclass(frozen=True)
class Plan:
    hostile_seconds: float
    calm_seconds: float
    modes: tuple[str, ...]

    def phase_seconds(self, mode: str) -> float:
        """Answers drip for as long as ``api_ok`` may take to say so: a shorter phase can end
        before the sidecar need tell (the next attempt gets a prompt answer)."""
        return max(self.hostile_seconds, API_OK_WITHIN) if mode == "drip" else self.hostile_seconds

    @property
    def seconds(self) -> float:
        return self.calm_seconds + sum(self.phase_seconds(mode) + self.calm_seconds for mode in self.modes)


ALL_MODES = ("drip", "huge", "endless", "bomb", "poison", "retry-after", "retry-after-date", "pages")
FULL = Plan(hostile_seconds=15.0, calm_seconds=10.0, modes=ALL_MODES)
QUICK = Plan(
    hostile_seconds=3.0, calm_seconds=6.0, modes=tuple(m for m in ALL_MODES if m != "retry-after-date")
)


@dataclass
class Phase:
    mode: str
    started: float
    ended: float
    wall_started: datetime
    wall_ended: datetime


@dataclass
class Outcome:
    plan: Plan
    batches: list[GoodBatch]
    phases: list[Phase]
    truth: dict[str, dict[str, Any]]
    last_on_osc: dict[str, dict[str, Any]]
    ended_on_osc: dict[str, str]
    heartbeats: list[float]
    api_ok: list[tuple[float, Any]]
    good_answers: list[float]
    served: Counter[str]
    written: Counter[str]
    peak_rss_mb: float | None
    exited_early: int | None
    exit_code: int | None
    restarts: list[datetime] = field(default_factory=list)
    tracebacks: int = 0
    seconds: float = 0.0

    def recovery(self, phase: Phase) -> float | None:
        """Seconds from the end of ``phase`` to the next true answer served for a good batch."""
        after = [at for at in self.good_answers if at >= phase.ended]
        return after[0] - phase.ended if after else None

    def api_ok_off_after(self, phase: Phase) -> float | None:
        """Seconds from the start of ``phase`` to the first ``api_ok`` 0 received."""
        off = [at for at, value in self.api_ok if at >= phase.started and not value]
        return off[0] - phase.started if off and off[0] <= phase.ended + RECOVERY_WITHIN else None

    def restarts_in(self, modes: set[str], inside: bool) -> int:
        """Loops restarted during a phase of ``modes`` (or a second after it), or outside them."""
        late = timedelta(seconds=1)
        windows = [(p.wall_started, p.wall_ended + late) for p in self.phases if p.mode in modes]
        return sum(1 for at in self.restarts if any(a <= at <= b for a, b in windows) == inside)


def _good_batches(api: HostileAPI, seconds: float) -> list[GoodBatch]:
    """Four that end at 30, 50, 70 and 90 % of the run; two that outlast it."""
    shares = (0.3, 0.5, 0.7, 0.9, 5.0, 8.0)
    return [
        api.add_batch(f"batch-good-{n}", 200 + 100 * n, share * seconds) for n, share in enumerate(shares)
    ]


def _sidecar(api: HostileAPI, ids: list[str], capture: Capture, output: IO[str]) -> Any:
    args = [sys.executable, "-m", "voyage_progress", "watch", *ids, *OPTIONS]
    args += ["--osc", f"127.0.0.1:{capture.port}"]
    env = {**os.environ, "VOYAGE_API_KEY": API_KEY, "VOYAGE_BASE_URL": api.base_url("live")}
    return child("sidecar", args, output, env)


def _peak_rss(pid: int, samples: list[float]) -> float | None:
    status = Path(f"/proc/{pid}/status")
    if status.exists():
        with contextlib.suppress(OSError):
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e6
    return max(samples) if samples else None


def run_plan(plan: Plan) -> Outcome:
    capture = Capture()
    api = HostileAPI(drip_every=0.5)
    api.prepare_bomb()
    with (
        tempfile.TemporaryFile("w+") as output,
        in_thread(api),
    ):
        batches = _good_batches(api, plan.seconds)
        started = time.monotonic()
        with _sidecar(api, [b.id for b in batches], capture, output) as sidecar:
            gauge = meter(sidecar.process.pid)
            rss: list[float] = []
            peak: float | None = None
            phases: list[Phase] = []
            exited_early = None
            schedule = [("ok", plan.calm_seconds)]
            for mode in plan.modes:
                schedule += [(mode, plan.phase_seconds(mode)), ("ok", plan.calm_seconds)]
            for mode, seconds in schedule:
                api.live_mode = mode
                phase = Phase(mode, time.monotonic(), 0.0, datetime.now().astimezone(), datetime.min)
                until = phase.started + seconds
                while time.monotonic() < until and exited_early is None:
                    time.sleep(0.2)
                    if sidecar.process.poll() is not None:
                        exited_early = sidecar.process.returncode
                    elif gauge is not None:
                        with contextlib.suppress(OSError):
                            rss.append(gauge.rss() / 1e6)
                            peak = _peak_rss(sidecar.process.pid, rss)
                phase.ended, phase.wall_ended = time.monotonic(), datetime.now().astimezone()
                phases.append(phase)
            seconds = time.monotonic() - started
            now = time.monotonic()
            truth = {b.id: b.to_dict(now) for b in batches}
            exit_code = interrupt(sidecar.process)
            output.seek(0)
            restarts = _restarts(output)
            sidecar.log.seek(0)
            tracebacks = sidecar.log.read().count("Traceback (most recent call last)")
    capture.close()
    ends: dict[str, str] = {}
    for kind, batch_id in capture.events():
        ends.setdefault(batch_id, kind)
    return Outcome(
        plan=plan,
        batches=batches,
        phases=phases,
        truth=truth,
        last_on_osc=capture.batches(),
        ended_on_osc=ends,
        heartbeats=[at for at, _ in capture.timeline("heartbeat")],
        api_ok=capture.timeline("api_ok"),
        good_answers=list(api.good_answers),
        served=api.served,
        written=api.written,
        peak_rss_mb=peak,
        exited_early=exited_early,
        exit_code=exit_code,
        restarts=restarts,
        tracebacks=tracebacks,
        seconds=seconds,
    )


def _restarts(output: IO[str]) -> list[datetime]:
    """When a loop of the sidecar was restarted by its supervisor (from the JSON log lines)."""
    restarts = []
    for line in output:
        with contextlib.suppress(ValueError, AttributeError, KeyError):
            record = json.loads(line)
            if "loop failed" in str(record.get("text", "")):
                restarts.append(datetime.fromisoformat(record["time"]))
    return restarts


def rows(outcome: Outcome) -> list[Result]:
    hostile = [p for p in outcome.phases if p.mode != "ok"]
    recoveries = {p.mode: outcome.recovery(p) for p in hostile}
    slowest = max(recoveries.items(), key=lambda item: float("inf") if item[1] is None else item[1])
    gaps = [b - a for a, b in zip(outcome.heartbeats, outcome.heartbeats[1:], strict=False)]
    gap = max(gaps, default=float("inf"))
    drip = next(p for p in hostile if p.mode == "drip")
    api_off = outcome.api_ok_off_after(drip)
    ended = [b for b in outcome.batches if outcome.truth[b.id]["status"] == "completed"]
    received = [b for b in ended if outcome.ended_on_osc.get(b.id) == "complete"]
    exact = [b for b in outcome.batches if _shown_equals_truth(outcome, b.id)]
    poison = outcome.restarts_in({"poison"}, inside=True)
    elsewhere = outcome.restarts_in({"poison"}, inside=False) + int(outcome.exited_early is not None)
    peak = outcome.peak_rss_mb
    where = (
        f"{len(hostile)} hostile phases of {outcome.plan.hostile_seconds:g} s (drip "
        f"{outcome.plan.phase_seconds('drip'):g} s) between calm ones of "
        f"{outcome.plan.calm_seconds:g} s, {outcome.seconds:.0f} s"
    )

    def row(metric: str, ours: str, target: str = "-", met: bool | None = None) -> Result:
        return Result(NAME, metric, ours, "-", "-", target, met)

    def seconds(value: float | None) -> str:
        return "never" if value is None else f"{value:.1f} s"

    return [
        row(f"sidecar peak RSS ({where})", f"{peak:.1f} MB" if peak else "not measured here",
            f"≤ {PEAK_RSS_MB:g} MB", None if peak is None else peak <= PEAK_RSS_MB),
        row("longest gap between heartbeats (every 1 s)", seconds(gap), f"≤ {HEARTBEAT_GAP:g} s",
            gap <= HEARTBEAT_GAP),
        row("a good batch read again after each hostile phase: the slowest",
            f"{slowest[0]}: {seconds(slowest[1])}", f"≤ {RECOVERY_WITHIN:g} s",
            all(v is not None and v <= RECOVERY_WITHIN for v in recoveries.values())),
        row("… after each phase", ", ".join(f"{mode} {seconds(v)}" for mode, v in recoveries.items())),
        row("api_ok 0 after answers began to drip", seconds(api_off), f"≤ {API_OK_WITHIN:g} s",
            api_off is not None and api_off <= API_OK_WITHIN),
        row("ends received of the batches that ended", f"{len(received)}/{len(ended)}", "all",
            len(received) == len(ended)),
        row("final status and counts on OSC equal to the API's", f"{len(exact)}/{len(outcome.batches)}",
            "all", len(exact) == len(outcome.batches)),
        row("crashes outside the poison phase (early exits, restarted loops)", str(elsewhere), "0",
            elsewhere == 0),
        row("restarted loops during the poison phase (counts of inf or 400 digits)", str(poison), "0",
            poison == 0),
        row("tracebacks on standard error", str(outcome.tracebacks), "0", outcome.tracebacks == 0),
        row("exit code after Ctrl+C", str(outcome.exit_code), "0", outcome.exit_code == 0),
        row("requests served, by mode", ", ".join(f"{m} {n}" for m, n in sorted(outcome.served.items()))),
        row("MB the server wrote, by mode (into socket buffers, mostly never read)",
            ", ".join(f"{m} {n / 1e6:.1f}" for m, n in sorted(outcome.written.items()))),
    ]  # fmt: skip


def _shown_equals_truth(outcome: Outcome, batch_id: str) -> bool:
    shown, true = outcome.last_on_osc.get(batch_id, {}), outcome.truth[batch_id]
    counts = true["request_counts"]
    if true["status"] != "completed":  # still running: shown a little behind, never ahead
        return bool(
            shown.get("total") == counts["total"] and 0 < shown.get("completed", 0) <= counts["completed"]
        )
    return (shown.get("status"), shown.get("total"), shown.get("completed")) == (
        "completed",
        counts["total"],
        counts["completed"],
    )


def run(quick: bool) -> list[Result]:
    return rows(run_plan(QUICK if quick else FULL))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="hostile", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter phases")
    args = parser.parse_args(argv)
    results = run(args.quick)
    print(table(results))
    return 0 if all(r.met is not False for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
