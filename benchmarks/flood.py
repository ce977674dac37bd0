"""Control floods: the sidecar's control port fed far more than any show sends, while it
watches real batches, and what that does to its heartbeat, its memory and its polling.

What runs. The simulator runs as its own process (speed 1) holding ten batches whose work takes
an hour, so they are in flight throughout. The sidecar runs as its own process, exactly as a
user starts it: ``python -m voyage_progress watch <the ten ids> --control-port P --allow-cancel
--state-file F --poll-interval 1 --min-interval 0.5 --max-interval 8 --no-display --log-format
json --osc 127.0.0.1:<port>``, with the default request budget (``--max-rps 5``). A thread of
this process reads its OSC (heartbeats, events, ``/sidecar/message``, and the ten batches'
bundles). Then, one after the other, each phase followed by a few quiet seconds:

- datagram burst: 300 ``/control/watch`` datagrams of ids the API does not know, sent in one
  go, with no pause between them;
- refresh storm: ``/control/refresh`` 1,000 times a second for 20 s (3 s with ``--quick``);
- watch-id flood: 5,000 ids the API does not know (1,000 with ``--quick``) at 2,000 a second;
- cancel flood: 300 ``/control/cancel`` of unknown ids (100 with ``--quick``) in one go.

Judged, for each phase (from its start to the end of its quiet seconds): the longest time
without a heartbeat (one a second is the rule); how old at worst the figures a receiver held
for one of the ten real batches were (the ``/batch/{slot}/poll_age`` of its latest bundle plus
the time since that bundle arrived: polls that stop and bundles held up both show); the
sidecar's peak resident memory; for the burst and the flood, that every watch was either taken
(its ``watch`` event arrived) or refused and said so on ``/sidecar/message``; for the cancels,
that the refusals were said; and at the end, that the sidecar stops on Ctrl+C with exit code 0
within ten seconds.

``python -m benchmarks.flood [--quick]`` prints the table.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from benchmarks._capture import Vitals
from benchmarks._processes import Child, Meter, child, interrupt, meter, simulator
from benchmarks._report import Result, table
from voyage_progress.outputs.osc._codec import encode_message

NAME = "flood"
API_KEY = "flood-key"
PREFIX = "/voyage"
REAL_BATCHES = 10
SIDECAR_OPTIONS = [
    "--allow-cancel", "--poll-interval", "1", "--min-interval", "0.5", "--max-interval", "8",
    "--no-display", "--log-format", "json",
]  # fmt: skip
#: The targets: a heartbeat a second (a gap of 2.5 s is two missed), the real batches polled at
#: least every 15 s whatever comes in, memory within a few times what an idle sidecar holds.
LONGEST_GAP = 2.5
OLDEST_POLL = 15.0
PEAK_RSS_MB = 150.0
STOP_SECONDS = 10.0


@dataclass(frozen=True)
class Plan:
    burst: int = 300
    refresh_rate: int = 1000
    refresh_seconds: float = 20.0
    watch_ids: int = 5000
    watch_rate: int = 2000
    cancels: int = 300
    quiet: float = 5.0


FULL = Plan()
QUICK = Plan(refresh_seconds=3.0, watch_ids=1000, cancels=100, quiet=3.0)


@dataclass
class Phase:
    name: str
    start: float = 0.0
    end: float = 0.0
    peak_rss: float | None = None
    sent: int = 0


@dataclass
class Outcome:
    plan: Plan
    phases: list[Phase] = field(default_factory=list)
    vitals: Vitals | None = None
    taken: dict[str, int] = field(default_factory=dict)
    exit_code: int | None = None
    stop_seconds: float = 0.0
    exited_early: int | None = None
    idle_rss: float | None = None


class Control:
    """A UDP socket that sends control messages to the sidecar, paced when asked to."""

    def __init__(self, port: int) -> None:
        self.address = ("127.0.0.1", port)
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def send(self, command: str, *args: str) -> None:
        self.socket.sendto(encode_message(f"{PREFIX}/control/{command}", list(args)), self.address)

    def paced(self, datagrams: Iterator[tuple[str, tuple[str, ...]]], rate: float) -> int:
        """Send at ``rate`` a second (in slices of 10 ms); returns how many were sent."""
        started = time.monotonic()
        sent = 0
        for command, args in datagrams:
            self.send(command, *args)
            sent += 1
            ahead = started + sent / rate - time.monotonic()
            if ahead > 0.01:
                time.sleep(ahead)
        return sent

    def close(self) -> None:
        self.socket.close()


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unknown_ids(tag: str, count: int) -> list[str]:
    """Ids of the right shape that the API does not know."""
    return [f"batch-flood-{tag}-{number:06d}" for number in range(count)]


def _measured(
    phase: Phase, gauge: Meter | None, sidecar: Child, work: Callable[[], int], quiet: float
) -> None:
    """Run one phase's sending, then its quiet seconds, sampling the memory all along."""
    phase.start = time.monotonic()
    samples: list[float] = []

    def sample() -> None:
        sidecar.check()
        if gauge is not None:
            samples.append(gauge.rss() / 1e6)

    sample()
    phase.sent = work()
    until = time.monotonic() + quiet
    while time.monotonic() < until:
        sample()
        time.sleep(0.2)
    sample()
    phase.end = time.monotonic()
    phase.peak_rss = max(samples) if samples else None


def flood(plan: Plan) -> Outcome:
    outcome = Outcome(plan)
    vitals = Vitals(PREFIX)
    outcome.vitals = vitals
    port = free_udp_port()
    with (
        tempfile.TemporaryDirectory() as folder,
        tempfile.TemporaryFile("w+") as output,
        simulator("--api-key", API_KEY, speed=1.0) as sim,
    ):
        ids = [sim.create_batches(1, 1000, "normal", sim_processing="3600")[0] for _ in range(REAL_BATCHES)]
        with _sidecar(sim.base_url, ids, vitals.port, port, Path(folder) / "state.json", output) as sidecar:
            _wait_for(
                lambda: len(vitals.ids("watch")) >= REAL_BATCHES and vitals.beats_between(0, 1e12) >= 3, 30
            )
            vitals.track(dict(enumerate(ids)))
            gauge = meter(sidecar.process.pid)
            time.sleep(2.0)
            outcome.idle_rss = gauge.rss() / 1e6 if gauge is not None else None
            control = Control(port)
            try:
                _phases(outcome, control, gauge, sidecar)
            finally:
                control.close()
            if sidecar.process.poll() is not None:
                outcome.exited_early = sidecar.process.returncode
            stopping = time.monotonic()
            outcome.exit_code = interrupt(sidecar.process, timeout=STOP_SECONDS)
            outcome.stop_seconds = time.monotonic() - stopping
    vitals.close()
    return outcome


def _phases(outcome: Outcome, control: Control, gauge: Meter | None, sidecar: Child) -> None:
    plan, vitals = outcome.plan, outcome.vitals
    assert vitals is not None

    def phase(name: str, work: Callable[[], int]) -> None:
        measured = Phase(name)
        _measured(measured, gauge, sidecar, work, plan.quiet)
        outcome.phases.append(measured)

    burst = unknown_ids("burst", plan.burst)

    def send_burst() -> int:
        for batch_id in burst:
            control.send("watch", batch_id)
        return len(burst)

    phase("datagram burst", send_burst)
    outcome.taken["datagram burst"] = len(set(burst) & set(vitals.ids("watch")))

    refreshes = int(plan.refresh_rate * plan.refresh_seconds)
    phase(
        "refresh storm", lambda: control.paced((("refresh", ()) for _ in range(refreshes)), plan.refresh_rate)
    )

    flood_ids = unknown_ids("watch", plan.watch_ids)
    phase("watch-id flood", lambda: control.paced((("watch", (i,)) for i in flood_ids), plan.watch_rate))
    _wait_for(lambda: set(flood_ids) <= set(vitals.ids("watch")), 10)
    outcome.taken["watch-id flood"] = len(set(flood_ids) & set(vitals.ids("watch")))

    cancels = unknown_ids("cancel", plan.cancels)

    def send_cancels() -> int:
        for batch_id in cancels:
            control.send("cancel", batch_id)
        return len(cancels)

    phase("cancel flood", send_cancels)


def _wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def _sidecar(
    base_url: str, ids: list[str], osc_port: int, control_port: int, state: Path, output: IO[str]
) -> contextlib.AbstractContextManager[Child]:
    args = [sys.executable, "-m", "voyage_progress", "watch", *ids, *SIDECAR_OPTIONS]
    args += [
        "--osc",
        f"127.0.0.1:{osc_port}",
        "--control-port",
        str(control_port),
        "--state-file",
        str(state),
    ]
    env = {**os.environ, "VOYAGE_API_KEY": API_KEY, "VOYAGE_BASE_URL": base_url}
    return child("sidecar", args, output, env)


def _refusals(messages: list[str], command: str) -> bool:
    return any("refused" in message and command in message for message in messages)


def rows(outcome: Outcome) -> list[Result]:
    plan, vitals = outcome.plan, outcome.vitals
    assert vitals is not None

    def row(metric: str, ours: str, target: str = "-", met: bool | None = None) -> Result:
        return Result(NAME, metric, ours, "-", "-", target, met)

    results = []
    for phase in outcome.phases:
        what = {
            "datagram burst": f"{phase.sent} watch datagrams in one go",
            "refresh storm": f"{phase.sent:,} refreshes at {plan.refresh_rate:,}/s",
            "watch-id flood": f"{phase.sent:,} unknown ids at {plan.watch_rate:,}/s",
            "cancel flood": f"{phase.sent} cancels in one go",
        }[phase.name]
        gap = vitals.longest_gap(phase.start, phase.end)
        oldest = vitals.oldest_poll(phase.start, phase.end)
        rss = phase.peak_rss
        results += [
            row(f"{phase.name} ({what}): longest time without a heartbeat", f"{gap:.1f} s",
                f"≤ {LONGEST_GAP:g} s", gap <= LONGEST_GAP),
            row(f"{phase.name}: real batches, oldest figures on OSC (poll_age + time since)",
                "none sent" if oldest is None else f"{oldest:.1f} s", f"≤ {OLDEST_POLL:g} s",
                oldest is not None and oldest <= OLDEST_POLL),
            row(f"{phase.name}: sidecar peak RSS (idle: {outcome.idle_rss or 0:.0f} MB)",
                "not measured here" if rss is None else f"{rss:.0f} MB", f"≤ {PEAK_RSS_MB:g} MB",
                None if rss is None else rss <= PEAK_RSS_MB),
        ]  # fmt: skip
        if phase.name in outcome.taken:
            taken = outcome.taken[phase.name]
            said = taken == phase.sent or _refusals(vitals.messages, "watch")
            results.append(
                row(f"{phase.name}: watches taken (the rest refused and said on OSC)",
                    f"{taken:,}/{phase.sent:,}", "all, or refused aloud", said)
            )  # fmt: skip
    cancel_said = _refusals(vitals.messages, "cancel")
    running = outcome.exited_early is None
    stopped = outcome.exit_code == 0 and outcome.stop_seconds <= STOP_SECONDS
    results += [
        row("cancel flood: refusals said on /sidecar/message", "yes" if cancel_said else "no", "yes",
            cancel_said),
        row("sidecar still running after every phase",
            "yes" if running else f"no (exit {outcome.exited_early})", "yes", running),
        row("exit code after Ctrl+C (and seconds to stop)",
            f"{outcome.exit_code} ({outcome.stop_seconds:.1f} s)", f"0 in ≤ {STOP_SECONDS:g} s", stopped),
    ]  # fmt: skip
    return results


def run(quick: bool) -> list[Result]:
    return rows(flood(QUICK if quick else FULL))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="flood", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the short version")
    args = parser.parse_args(argv)
    results = run(args.quick)
    print(table(results))
    return 0 if all(r.met is not False for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
