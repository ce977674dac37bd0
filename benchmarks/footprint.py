"""Footprint: the memory and CPU the sidecar costs while it watches a hundred batches, and the
time ``import voyage_progress`` takes.

What is measured, and how.

- Two simulators run, each as its own process (``python -m voyage_progress simulate --port 0
  --speed 1``; its base URL is read from its first line of output), and a hundred batches of
  2,000 requests are created on each (``POST /_sim/batches``, scenario ``normal``: about 17
  minutes, so they are all in flight for the whole measurement).
- The sidecar runs as its own process against the first, exactly as a user starts it:
  ``python -m voyage_progress watch <the 100 ids> --poll-interval 1 --min-interval 1
  --max-interval 1 --no-display --no-control --osc 127.0.0.1:<port>``, with ``VOYAGE_API_KEY``
  and ``VOYAGE_BASE_URL`` in its environment. Its OSC goes to a real UDP socket that a thread of
  this process empties (and counts).
- The baseline runs at the same time against the second: a naive poller, nine lines run with
  ``python -c`` (``NAIVE_POLLER``) that GETs each of its hundred batches once a second with one
  ``httpx.Client`` and prints nothing. Measuring both in the same window puts them under the
  same load of the machine; each has its own simulator, so the requests each is served are its
  own, and the figures are per process.
- After a warm-up (10 s; 3 s quick) both processes' resident memory and CPU time are sampled for
  60 s (5 s quick), every half second (a quarter in quick): on Linux from ``/proc/<pid>/status``
  (``VmRSS``) and ``/proc/<pid>/stat`` (``utime + stime``), elsewhere through ``psutil`` when
  it is installed; without either, the table says "not measured on this platform". Reported:
  the highest RSS sample (MB = 10⁶ bytes), the CPU time used in the window divided by its
  length (% of one core), the requests per second its simulator served in the window (from
  ``GET /_sim/stats``), and the OSC datagrams per second received.
- Import time: ``time.perf_counter()`` around the import in a fresh ``python -c``, the median
  of 15 interpreters (3 quick) after one untimed run that fills the bytecode caches (kept in a
  temporary ``PYTHONPYCACHEPREFIX``, as an installed package has them); runs of
  ``import voyage_progress``, ``import httpx`` (the baseline) and ``from voyage_progress import
  VoyageBatchClient`` (what using the client costs: it loads httpx) alternate.

Every process started here is ended (terminate, then kill) whatever happens.

``python -m benchmarks.footprint [--quick]`` prints the table.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from benchmarks._processes import Child, SimulatorControl, child, meter, simulator
from benchmarks._report import Result, table
from benchmarks.emit import Drain

NAME = "footprint"
BATCHES = 100
REQUESTS_PER_BATCH = 2000
API_KEY = "benchmark"
RSS_TARGET_MB = 60.0
CPU_TARGET_PERCENT = 2.0
IMPORT_TARGET_MS = 150.0

NAIVE_POLLER = """
import sys, time, httpx
base_url, key, ids = sys.argv[1], sys.argv[2], sys.argv[3:]
with httpx.Client(base_url=base_url, headers={"Authorization": "Bearer " + key}, timeout=30) as client:
    tick = time.monotonic()
    while True:
        for batch_id in ids:
            client.get("/batches/" + batch_id).json()
        tick += 1.0
        time.sleep(max(0.0, tick - time.monotonic()))
"""

IMPORTS = {
    "voyage_progress": "import voyage_progress",
    "httpx": "import httpx",
    "client": "from voyage_progress import VoyageBatchClient",
}


@dataclass(frozen=True)
class Timing:
    warmup: float
    window: float
    sample_every: float
    import_runs: int


QUICK = Timing(warmup=3.0, window=5.0, sample_every=0.25, import_runs=3)
FULL = Timing(warmup=10.0, window=60.0, sample_every=0.5, import_runs=15)


@dataclass
class Usage:
    rss_peak: float | None  # bytes
    cpu_percent: float | None
    requests_per_second: float
    datagrams_per_second: float


@dataclass
class Subject:
    """A process under measurement, the simulator it polls and the socket its OSC goes to."""

    child: Child
    sim: SimulatorControl
    drain: Drain


class Sampler:
    """One subject's readings over the window: CPU time and counters at both ends, peak RSS."""

    def __init__(self, subject: Subject) -> None:
        subject.child.check()
        self.subject = subject
        self.gauge = meter(subject.child.process.pid)
        self.peak = 0
        self.requests = subject.sim.requests_served()
        self.datagrams = subject.drain.received
        self.cpu = self.gauge.cpu() if self.gauge else 0.0
        self.start = time.monotonic()

    def sample(self) -> None:
        self.subject.child.check()
        if self.gauge is not None:
            self.peak = max(self.peak, self.gauge.rss())

    def usage(self) -> Usage:
        elapsed = time.monotonic() - self.start
        cpu = self.gauge.cpu() - self.cpu if self.gauge else None
        return Usage(
            rss_peak=self.peak if self.gauge else None,
            cpu_percent=None if cpu is None else 100 * cpu / elapsed,
            requests_per_second=(self.subject.sim.requests_served() - self.requests) / elapsed,
            datagrams_per_second=(self.subject.drain.received - self.datagrams) / elapsed,
        )


def observe(subjects: list[Subject], timing: Timing) -> list[Usage]:
    """Warm up, then sample every subject over the same window."""
    time.sleep(timing.warmup)
    samplers = [Sampler(subject) for subject in subjects]
    start = time.monotonic()
    while time.monotonic() - start < timing.window:
        for sampler in samplers:
            sampler.sample()
        time.sleep(timing.sample_every)
    return [sampler.usage() for sampler in samplers]


def _sidecar(stack: contextlib.ExitStack, sim: SimulatorControl, ids: list[str]) -> Subject:
    drain = Drain()
    stack.callback(drain.close)
    args = [sys.executable, "-m", "voyage_progress", "watch", *ids, "--no-display", "--no-control"]
    args += ["--poll-interval", "1", "--min-interval", "1", "--max-interval", "1"]
    args += ["--osc", f"127.0.0.1:{drain.port}"]
    env = {**os.environ, "VOYAGE_API_KEY": API_KEY, "VOYAGE_BASE_URL": sim.base_url}
    return Subject(stack.enter_context(child("sidecar", args, subprocess.DEVNULL, env)), sim, drain)


def _naive(stack: contextlib.ExitStack, sim: SimulatorControl, ids: list[str]) -> Subject:
    drain = Drain()  # receives nothing: the naive poller sends no OSC
    stack.callback(drain.close)
    args = [sys.executable, "-c", NAIVE_POLLER, sim.base_url, API_KEY, *ids]
    return Subject(stack.enter_context(child("naive poller", args, subprocess.DEVNULL)), sim, drain)


def usage(timing: Timing) -> tuple[Usage, Usage]:
    """The sidecar's and the naive poller's, each against its own simulator, in the same window."""
    with contextlib.ExitStack() as stack:
        sims = [stack.enter_context(simulator()) for _ in range(2)]
        with ThreadPoolExecutor(len(sims)) as pool:
            ids = list(pool.map(lambda sim: sim.create_batches(BATCHES, REQUESTS_PER_BATCH), sims))
        ours, naive = observe([_sidecar(stack, sims[0], ids[0]), _naive(stack, sims[1], ids[1])], timing)
    return ours, naive


# -- import time ----------------------------------------------------------------------------------------


def _import_seconds(statement: str, env: dict[str, str]) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    return float(done.stdout)


def import_times(runs: int) -> dict[str, float]:
    """Median seconds per statement of ``IMPORTS``, fresh interpreters, runs interleaved.

    Bytecode is cached (as an installed package has it) in a temporary directory
    (``PYTHONPYCACHEPREFIX``), so nothing is written next to the sources, and a
    ``PYTHONDONTWRITEBYTECODE`` in the environment does not make every run compile."""
    with tempfile.TemporaryDirectory() as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        for statement in IMPORTS.values():
            _import_seconds(statement, env)  # untimed: writes the bytecode caches
        samples: dict[str, list[float]] = {name: [] for name in IMPORTS}
        for _ in range(runs):
            for name, statement in IMPORTS.items():
                samples[name].append(_import_seconds(statement, env))
    return {name: statistics.median(values) for name, values in samples.items()}


# -- the table ----------------------------------------------------------------------------------------


def _ratio(ours: float, baseline: float) -> str:
    return f"{ours / baseline:.2f}×" if baseline else "-"


def _usage_rows(ours: Usage, naive: Usage, timing: Timing) -> list[Result]:
    window = f"{timing.window:g} s after {timing.warmup:g} s"
    rows = []
    if ours.rss_peak is None or naive.rss_peak is None:
        rows.append(Result(NAME, "RSS and CPU", "not measured on this platform", "-", "-", "-"))
    else:
        assert ours.cpu_percent is not None and naive.cpu_percent is not None
        rows += [
            Result(
                NAME,
                f"sidecar RSS peak, 100 batches polled every 1 s ({window})",
                f"{ours.rss_peak / 1e6:.1f} MB",
                f"{naive.rss_peak / 1e6:.1f} MB",
                _ratio(ours.rss_peak, naive.rss_peak),
                f"≤ {RSS_TARGET_MB:g} MB",
                ours.rss_peak / 1e6 <= RSS_TARGET_MB,
            ),
            Result(
                NAME,
                f"sidecar CPU, % of one core ({window})",
                f"{ours.cpu_percent:.2f} %",
                f"{naive.cpu_percent:.2f} %",
                _ratio(ours.cpu_percent, naive.cpu_percent),
                f"≤ {CPU_TARGET_PERCENT:g} %",
                ours.cpu_percent <= CPU_TARGET_PERCENT,
            ),
        ]
    rows += [
        Result(
            NAME,
            "API requests served per second",
            f"{ours.requests_per_second:.2f}/s",
            f"{naive.requests_per_second:.2f}/s",
            _ratio(ours.requests_per_second, naive.requests_per_second),
            "-",
        ),
        Result(
            NAME, "OSC datagrams received per second", f"{ours.datagrams_per_second:.0f}/s", "-", "-", "-"
        ),
    ]
    return rows


def _import_rows(seconds: dict[str, float], runs: int) -> list[Result]:
    ours, httpx_, client = (1000 * seconds[name] for name in ("voyage_progress", "httpx", "client"))
    how = f"perf_counter, median of {runs} fresh interpreters"
    return [
        Result(
            NAME,
            f"import voyage_progress ({how}); baseline import httpx",
            f"{ours:.1f} ms",
            f"{httpx_:.1f} ms",
            _ratio(ours, httpx_),
            f"≤ {IMPORT_TARGET_MS:g} ms",
            ours <= IMPORT_TARGET_MS,
        ),
        Result(
            NAME,
            "from voyage_progress import VoyageBatchClient (loads httpx)",
            f"{client:.1f} ms",
            f"{httpx_:.1f} ms",
            _ratio(client, httpx_),
            "-",
        ),
    ]


def run(quick: bool) -> list[Result]:
    timing = QUICK if quick else FULL
    ours, naive = usage(timing)
    seconds = import_times(timing.import_runs)
    return _usage_rows(ours, naive, timing) + _import_rows(seconds, timing.import_runs)


if __name__ == "__main__":
    print(table(run(quick="--quick" in sys.argv)))
