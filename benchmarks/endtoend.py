"""The ETA as a user gets it: simulator scenarios through the real sidecar, scored on OSC.

A simulator at ``speed`` (a ``normal`` batch takes about ``1000 / speed`` seconds of real time)
holds a mix of scenarios and sizes (two requests to a few thousand: steady, drifting,
throttled, volatile, stalling, counts hidden or refreshed rarely, long finalizing); the real
sidecar (``Sidecar``, polling every 30 simulated seconds as the demo does) watches them and
sends OSC to a receiver on loopback, which notes when each datagram arrived. Every batch bundle
that reaches the receiver after the batch's first progress and before it completes is a poll
of what a user sees: ``/batch/{slot}/eta``, ``eta_low``, ``eta_high``, ``status``, the counts.
The truth is when the ``completed`` status arrived.

Per batch, then the median (or mean) over batches, as in ``benchmarks/eta.py``: the error
|ETA - true| / true, the share of polls with an ETA, the band's coverage, and the share of
finalizing polls whose ETA is above 0 (a batch in ``finalizing`` is not done). The baselines
(tqdm's EMA, rich's window) get the same polls (arrival time, requests done) and are judged on
the same truth: they know nothing of finalizing, which is what a user of them would see.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import statistics
import sys
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from benchmarks._report import Result, table
from benchmarks.estimators import ESTIMATORS
from voyage_progress import VoyageBatchClient
from voyage_progress.outputs.osc._codec import decode
from voyage_progress.outputs.osc._sender import Destination
from voyage_progress.sidecar import Sidecar, SidecarConfig
from voyage_progress.simulator import run_simulator
from voyage_progress.watcher import Intervals

SEED = 20261130
#: (scenario, requests): every simulator scenario that completes, at sizes from 2 to 3000.
BATCHES = (
    ("normal", 2),
    ("normal", 15),
    ("normal", 400),
    ("normal", 3000),
    ("partial_failures", 800),
    ("long_finalizing", 300),
    ("stall", 1200),
    ("late_counts", 900),
    ("quick", 40),
    ("slowing", 1500),
    ("throttled", 1000),
    ("volatile", 2000),
    ("sparse_counts", 700),
)
QUICK_BATCHES = (
    ("normal", 2),
    ("normal", 400),
    ("long_finalizing", 300),
    ("stall", 1200),
    ("throttled", 1000),
    ("sparse_counts", 700),
)
SPEED, QUICK_SPEED = 40.0, 120.0
#: Simulated seconds between polls, as in the demo.
POLL_SIMULATED = 30.0
BASELINES = ("tqdm EMA 0.3, from first progress", "rich window 30 s", "rich window 600 s")
ERROR_RATIO = 0.8
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


@dataclass
class Poll:
    at: float
    status: str
    processed: int
    total: int
    eta: float
    low: float
    high: float


@dataclass
class Receiver:
    """Every batch bundle the sidecar sends, by batch id, with the time it arrived."""

    prefix: str = "/voyage"
    polls: dict[str, list[Poll]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.1)
        self.port: int = self._socket.getsockname()[1]
        self._lock = threading.Lock()
        self._open = True
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        head = self.prefix + "/batch/"
        while self._open:
            try:
                data = self._socket.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            arrived = time.monotonic()
            fields: dict[str, Any] = {}
            for address, args in decode(data):
                if address.startswith(head) and args:
                    fields[address.rsplit("/", 1)[1]] = args[0]
            if "id" in fields and "eta" in fields:
                poll = Poll(
                    arrived,
                    str(fields["status"]),
                    int(fields["completed"]) + int(fields["failed"]),
                    int(fields["total"]),
                    float(fields["eta"]),
                    float(fields["eta_low"]),
                    float(fields["eta_high"]),
                )
                with self._lock:
                    self.polls.setdefault(str(fields["id"]), []).append(poll)

    def close(self) -> None:
        self._open = False
        self._thread.join(2)
        self._socket.close()


@dataclass
class BatchScore:
    errors: list[float] = field(default_factory=list)
    asked: int = 0
    inside: int = 0
    finalizing: int = 0
    finalizing_positive: int = 0
    baseline_errors: dict[str, list[float]] = field(default_factory=dict)


def score_batch(polls: list[Poll]) -> BatchScore | None:
    """Our ETA and the baselines' on the polls of one batch that completed."""
    done = next((poll.at for poll in polls if poll.status == "completed"), None)
    if done is None:
        return None
    score = BatchScore(baseline_errors={name: [] for name in BASELINES})
    baselines = {name: ESTIMATORS[name](T0) for name in BASELINES}
    seen_progress = False
    for poll in polls:
        if poll.at >= done:
            break
        for estimator in baselines.values():
            estimator.add_sample(T0 + timedelta(seconds=poll.at), poll.processed)
        seen_progress = seen_progress or poll.processed > 0
        if not seen_progress:
            continue
        true = done - poll.at
        score.asked += 1
        if poll.status == "finalizing":
            score.finalizing += 1
            score.finalizing_positive += poll.eta > 0
        if poll.eta >= 0:
            score.errors.append(abs(poll.eta - true) / true)
            score.inside += poll.low <= true <= poll.high
        for name, estimator in baselines.items():
            eta = estimator.calculate_eta(poll.total, poll.processed)
            if math.isfinite(eta):
                score.baseline_errors[name].append(abs(eta - true) / true)
    return score


async def _run(batches: tuple[tuple[str, int], ...], speed: float) -> dict[str, tuple[str, int, list[Poll]]]:
    receiver = Receiver()
    poll = POLL_SIMULATED / speed
    try:
        async with (
            run_simulator(speed=speed, seed=SEED) as sim,
            VoyageBatchClient(api_key="benchmark", base_url=sim.base_url) as client,
            _sidecar(client, receiver.port, poll) as sidecar,
        ):
            ids = {}
            for scenario, requests in batches:
                batch_id = sim.add_batch(requests, scenario)
                ids[batch_id] = (scenario, requests)
                sidecar.watcher.watch(batch_id, f"{scenario} {requests}")
            longest = 2000.0 + 600.0 + 300.0  # throttled work, long finalizing, a stall
            deadline = time.monotonic() + longest / speed + 30.0
            while time.monotonic() < deadline:
                if all(b.end_said for b in sidecar.watcher.batches.values()):
                    break
                await asyncio.sleep(0.2)
            await asyncio.sleep(3 * poll)
    finally:
        receiver.close()
    return {batch_id: (*ids[batch_id], receiver.polls.get(batch_id, [])) for batch_id in ids}


@contextlib.asynccontextmanager
async def _sidecar(client: VoyageBatchClient, port: int, poll: float) -> AsyncIterator[Sidecar]:
    intervals = Intervals(poll=poll, minimum=poll / 4, maximum=5.0)
    config = SidecarConfig(
        destinations=[Destination("127.0.0.1", port)], intervals=intervals, control_port=None
    )
    sidecar = Sidecar(config, client)
    stop = asyncio.Event()
    task = asyncio.create_task(sidecar.run(stop))
    await asyncio.wait(
        [task, asyncio.ensure_future(sidecar.started.wait())], return_when=asyncio.FIRST_COMPLETED
    )
    if task.done():
        task.result()
    try:
        yield sidecar
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def _pct(value: float) -> str:
    return f"{value * 100:.1f} %" if math.isfinite(value) else "n/a"


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else math.inf


def run(quick: bool) -> list[Result]:
    batches, speed = (QUICK_BATCHES, QUICK_SPEED) if quick else (BATCHES, SPEED)
    outcome = asyncio.run(_run(batches, speed))
    scores = {batch_id: score_batch(polls) for batch_id, (_, _, polls) in outcome.items()}
    scored = {batch_id: score for batch_id, score in scores.items() if score is not None and score.asked}
    ours = _median([_median(s.errors) for s in scored.values() if s.errors])
    baseline = {
        name: _median([_median(s.baseline_errors[name]) for s in scored.values() if s.baseline_errors[name]])
        for name in BASELINES
    }
    best = min(baseline, key=lambda name: baseline[name])
    with_eta = statistics.mean(len(s.errors) / s.asked for s in scored.values())
    band = statistics.mean(s.inside / s.asked for s in scored.values())
    finalizing = sum(s.finalizing for s in scored.values())
    positive = sum(s.finalizing_positive for s in scored.values())
    small = [s for batch_id, s in scored.items() if outcome[batch_id][1] <= 15]
    small_share = statistics.mean(len(s.errors) / s.asked for s in small) if small else math.nan
    polls = sum(s.asked for s in scored.values())
    where = f"{len(scored)} of {len(batches)} batches at {speed:g}x, {polls} polls"
    rows = [
        Result(
            "e2e",
            f"median |error| of the OSC ETA / true time to completion ({where})",
            _pct(ours),
            f"{_pct(baseline[best])} ({best})",
            f"{ours / baseline[best]:.2f}x" if math.isfinite(baseline[best]) else "-",
            f"<= {ERROR_RATIO}x the best baseline",
            ours <= ERROR_RATIO * baseline[best],
        ),
        Result(
            "e2e",
            "  polls with an ETA on OSC (after first progress)",
            _pct(with_eta),
            "",
            "-",
            ">= 95 %",
            with_eta >= 0.95,
        ),
        Result(
            "e2e",
            "  true time to completion inside eta_low..eta_high",
            _pct(band),
            "no baseline has one",
            "-",
            "80 % (+-10)",
            0.7 <= band <= 0.9,
        ),
        Result(
            "e2e",
            "  finalizing polls whose ETA is above 0",
            f"{positive}/{finalizing}",
            "0 (the baselines' ETA is 0 once the requests are done)",
            "-",
            "all",
            positive == finalizing,
        ),
        Result(
            "e2e",
            "  batches of 2 and 15 requests: polls with an ETA after first progress",
            _pct(small_share),
            "",
            "-",
            ">= 95 %",
            small_share >= 0.95,
        ),
    ]
    rows.append(
        Result(
            "e2e",
            "  the baselines on the same polls",
            ", ".join(f"{name}: {_pct(baseline[name])}" for name in BASELINES),
            "",
            "-",
            "(their median |error|)",
        )
    )
    for batch_id, score in scored.items():
        scenario, requests, _ = outcome[batch_id]
        tqdm = _median(score.baseline_errors[BASELINES[0]])
        rows.append(
            Result(
                "e2e",
                f"    {scenario}, {requests} requests",
                f"error {_pct(_median(score.errors))}, band {_pct(score.inside / score.asked)}",
                f"tqdm {_pct(tqdm)}",
                "-",
                "(one batch)",
            )
        )
    return rows


if __name__ == "__main__":
    print(table(run(quick="--quick" in sys.argv)))
