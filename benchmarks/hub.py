"""The live hub: how late OSCQuery's LISTEN frames and the JSON stream are against the OSC
datagram, and what the HTTP server costs the sidecar with twenty WebSocket clients.

What is measured, and how.

- Latency, in one run: a simulator (speed 60, its own process) with 100 batches of 5,000
  requests, and the sidecar in this process polling every 0.2 s, sending OSC to a UDP socket,
  its HTTP server on a free loopback port, and 20 WebSocket clients: 10 LISTEN (OSCQuery) to
  every batch's ``progress``, 10 read ``/events``. A probe output, first among the sidecar's
  outputs, notes when each batch change is published (``time.monotonic()``: the moment every
  output is handed the frame). The UDP socket is read by a thread, the 20 clients run on an
  event loop of their own in another thread, and each notes when a given (slot, progress)
  first reaches it. Latency = arrival − publication, per channel: median and 99th percentile
  over every change seen (the probe and the readers share one monotonic clock). The readers
  share the process, and its GIL, with the sidecar (parsing 5,000 JSON messages a second),
  which a receiving program would not: the WebSocket figures are the pessimistic side. The
  same run with no WebSocket client first gives the OSC datagram's baseline.
- Footprint: two sidecars as their own processes, exactly as a user starts them (``watch <100
  ids> --poll-interval 1 ... --no-control``), each against its own simulator, sampled over the
  same window as in ``benchmarks/footprint.py``: one with ``--no-http`` (the baseline), one with
  ``--http 127.0.0.1:<port>`` and the 20 WebSocket clients connected (10 LISTEN to every batch's
  progress, 10 on ``/events``). Reported: peak RSS and CPU (% of one core) of each.

``python -m benchmarks.hub [--quick]`` prints the table.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage
from websockets.asyncio.client import connect

from benchmarks._processes import child, simulator
from benchmarks._report import Result, table
from benchmarks.emit import Drain
from benchmarks.footprint import FULL, QUICK, Subject, observe
from voyage_progress.core.commands import CommandHandler
from voyage_progress.core.frame import BatchSnapshot, Frame
from voyage_progress.outputs import open_outputs
from voyage_progress.outputs.osc import Destination
from voyage_progress.providers.voyage import VoyageBatchClient
from voyage_progress.sidecar import Sidecar, SidecarConfig
from voyage_progress.watcher import Intervals

NAME = "hub"
BATCHES = 100
CLIENTS = 20
API_KEY = "benchmark"
LATENCY_TARGET_MS = 50.0  # p99 of the WebSocket channels over the OSC datagram's
#: The OSC datagram's p99 with the clients against the run without any: no worse, give or take
#: the noise of a shared machine (a tenth).
OSC_TOLERANCE = 1.1
RSS_TARGET_MB = 20.0  # more than without HTTP
CPU_TARGET_POINTS = 5.0  # % of a core more than without HTTP

Key = tuple[int, float]


def _key(slot: int, progress: float) -> Key:
    return slot, round(progress, 4)  # OSC sends float32: keep what both sides agree on


class Arrivals:
    """When each (slot, progress) first reached one channel."""

    def __init__(self) -> None:
        self.at: dict[Key, float] = {}
        self.lock = threading.Lock()

    def note(self, key: Key, when: float) -> None:
        with self.lock:
            self.at.setdefault(key, when)


class Probe:
    """An output that notes when each batch change is published."""

    def __init__(self) -> None:
        self.published = Arrivals()
        self.endpoints: tuple[str, ...] = ()

    async def start(self, commands: CommandHandler) -> None:
        pass

    def publish(self, frame: Frame) -> None:
        now = time.monotonic()
        for item in frame.news:
            if isinstance(item, BatchSnapshot):
                self.published.note(_key(item.slot, item.progress), now)

    async def aclose(self) -> None:
        pass


def _read_udp(sock: socket.socket, received: list[tuple[float, bytes]], stop: threading.Event) -> None:
    """Only store datagrams as they come (parsed after the run): a reader that parsed on arrival
    would fall behind and lose datagrams, which says nothing about the sender."""
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        received.append((time.monotonic(), data))


def _datagram_arrivals(received: list[tuple[float, bytes]]) -> Arrivals:
    arrivals = Arrivals()
    for when, data in received:
        messages = list(OscBundle(data)) if data.startswith(b"#bundle") else [OscMessage(data)]
        for message in messages:
            if isinstance(message, OscMessage) and message.address.endswith("/progress"):
                parts = message.address.split("/")
                if parts[2] == "batch":
                    arrivals.note(_key(int(parts[3]), message.params[0]), when)
    return arrivals


async def _listen(url: str, arrivals: Arrivals, ready: asyncio.Event) -> None:
    async with connect(url + "/", max_queue=None) as connection:
        for slot in range(BATCHES):
            path = f"/voyage/batch/{slot}/progress"
            await connection.send(json.dumps({"COMMAND": "LISTEN", "DATA": path}))
        ready.set()
        async for data in connection:
            now = time.monotonic()
            if isinstance(data, bytes):
                packet = list(OscBundle(data)) if OscBundle.dgram_is_bundle(data) else [OscMessage(data)]
                for message in packet:
                    arrivals.note(_key(int(message.address.split("/")[3]), message.params[0]), now)


async def _events(url: str, arrivals: Arrivals, ready: asyncio.Event) -> None:
    async with connect(url + "/events", max_queue=None, max_size=None) as connection:
        ready.set()
        async for text in connection:
            now = time.monotonic()
            message = json.loads(text)
            if message["type"] == "batch":
                arrivals.note(_key(message["batch"]["slot"], message["batch"]["progress"]), now)


class Clients:
    """Twenty WebSocket clients on an event loop of their own, in a thread."""

    def __init__(self, url: str, count: int = CLIENTS) -> None:
        self.url = url.replace("http://", "ws://")
        self.count = count
        self.listen, self.events = Arrivals(), Arrivals()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.tasks: list[asyncio.Future[Any]] = []

    def __enter__(self) -> Clients:
        """Start connecting; wait with ``ready()`` (from another loop: ``asyncio.wrap_future``)."""
        self.thread.start()
        self.tasks = [asyncio.run_coroutine_threadsafe(self._all(), self.loop)]
        return self

    def __exit__(self, *exc: object) -> None:
        """Close from a thread whose loop does not serve them (the footprint's: the sidecars are
        processes of their own)."""
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._close(), self.loop).result(10)
        self._stop()

    async def __aenter__(self) -> Clients:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        """Close from the loop that serves them, without blocking it: their closing handshakes
        need the server to answer (blocked, it would hold every queued datagram until a timeout,
        and the figures would measure that)."""
        with contextlib.suppress(Exception):
            closing = asyncio.run_coroutine_threadsafe(self._close(), self.loop)
            await asyncio.wait_for(asyncio.wrap_future(closing), 10)
        self._stop()

    def _stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    async def _close(self) -> None:
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def ready(self) -> Any:
        """A future done once every client is connected (and has sent its LISTENs)."""
        return asyncio.run_coroutine_threadsafe(self._wait_ready(), self.loop)

    async def _wait_ready(self) -> None:
        while not hasattr(self, "_ready") or not all(event.is_set() for event in self._ready):
            await asyncio.sleep(0.05)

    async def _all(self) -> None:
        self._ready = [asyncio.Event() for _ in range(self.count)]
        half = self.count // 2
        runs = [_listen(self.url, self.listen, ready) for ready in self._ready[:half]]
        runs += [_events(self.url, self.events, ready) for ready in self._ready[half:]]
        await asyncio.gather(*runs, return_exceptions=True)


def _latencies(published: Arrivals, arrived: Arrivals) -> list[float]:
    return [(arrived.at[key] - when) * 1000 for key, when in published.at.items() if key in arrived.at]


async def _latency_run(seconds: float, clients: int = CLIENTS) -> dict[str, list[float]]:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
    udp.bind(("127.0.0.1", 0))
    received: list[tuple[float, bytes]] = []
    stop = threading.Event()
    reader = threading.Thread(target=_read_udp, args=(udp, received, stop), daemon=True)
    reader.start()
    try:
        with simulator(speed=60) as sim:  # its own process: its 500,000 requests held in this one
            # made every full garbage collection here a pause of a third of a second
            ids = sim.create_batches(BATCHES, 5000)
            config = SidecarConfig(
                batch_ids=ids,
                destinations=[Destination("127.0.0.1", udp.getsockname()[1])],
                control_port=None,
                outputs=("osc", "oscquery", "web"),
                http_port=0,
                intervals=Intervals(poll=0.2, minimum=0.2, maximum=0.2),
            )
            probe = Probe()
            outputs = [probe, *open_outputs(config.outputs, config)]
            async with VoyageBatchClient(api_key=API_KEY, base_url=sim.base_url) as client:
                sidecar = Sidecar(config, client, outputs=outputs)  # type: ignore[list-item]
                stopping = asyncio.Event()
                running = asyncio.create_task(sidecar.run(stopping))
                await sidecar.started.wait()
                server = next(o for o in sidecar.outputs if hasattr(o, "url"))
                async with Clients(server.url, clients) as readers:  # type: ignore[attr-defined]
                    await asyncio.wait_for(asyncio.wrap_future(readers.ready()), 30)
                    await asyncio.sleep(seconds)
                stopping.set()
                await running
    finally:
        stop.set()
        reader.join(2)
        udp.close()
    return {
        "OSC datagram": _latencies(probe.published, _datagram_arrivals(received)),
        "LISTEN frame": _latencies(probe.published, readers.listen),
        "/events message": _latencies(probe.published, readers.events),
    }


def _percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# -- footprint -----------------------------------------------------------------------------------


def _sidecar(stack: contextlib.ExitStack, sim: Any, ids: list[str], http_port: int | None) -> Subject:
    drain = Drain()
    stack.callback(drain.close)
    args = [sys.executable, "-m", "voyage_progress", "watch", *ids, "--no-display", "--no-control"]
    args += ["--poll-interval", "1", "--min-interval", "1", "--max-interval", "1"]
    args += ["--osc", f"127.0.0.1:{drain.port}"]
    args += ["--no-http"] if http_port is None else ["--http", f"127.0.0.1:{http_port}"]
    env = {**os.environ, "VOYAGE_API_KEY": API_KEY, "VOYAGE_BASE_URL": sim.base_url}
    return Subject(stack.enter_context(child("sidecar", args, subprocess.DEVNULL, env)), sim, drain)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_http(url: str, timeout: float = 30.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url + "/voyage/batch/0/progress").status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the sidecar's HTTP server at {url} did not answer")


def _footprint(quick: bool) -> tuple[Any, Any]:
    timing = QUICK if quick else FULL
    port = _free_port()
    with contextlib.ExitStack() as stack:
        sims = [stack.enter_context(simulator()) for _ in range(2)]
        ids = [sim.create_batches(BATCHES, 2000) for sim in sims]
        plain = _sidecar(stack, sims[0], ids[0], None)
        served = _sidecar(stack, sims[1], ids[1], port)
        _wait_for_http(f"http://127.0.0.1:{port}")
        with Clients(f"http://127.0.0.1:{port}") as clients:
            clients.ready().result(30)
            without, with_http = observe([plain, served], timing)
    return with_http, without


def run(quick: bool = False) -> list[Result]:
    seconds = 4.0 if quick else 20.0
    alone = asyncio.run(_latency_run(seconds, clients=0))["OSC datagram"]
    latencies = asyncio.run(_latency_run(seconds))
    osc_p99 = _percentile(latencies["OSC datagram"], 0.99)
    alone_p99 = _percentile(alone, 0.99)
    results = [
        Result(
            NAME,
            f"change → OSC datagram with no WebSocket client, ms (median / p99, {len(alone)} changes)",
            f"{statistics.median(alone):.1f} / {alone_p99:.1f}",
            "-",
            "-",
            "-",
            None,
        )
    ]
    for channel, values in latencies.items():
        median, p99 = statistics.median(values), _percentile(values, 0.99)
        if channel == "OSC datagram":  # the first-class output: no slower for the clients
            results.append(
                Result(
                    NAME,
                    f"change → OSC datagram with {CLIENTS} WebSocket clients, ms (median / p99, "
                    f"{len(values)} changes)",
                    f"{median:.1f} / {p99:.1f}",
                    f"p99 {alone_p99:.1f} with none",
                    f"{p99 / alone_p99:.2f}x" if alone_p99 else "-",
                    f"p99 ≤ {OSC_TOLERANCE:g}x the run with none",
                    p99 <= OSC_TOLERANCE * alone_p99,
                )
            )
            continue
        results.append(
            Result(
                NAME,
                f"change → {channel}, ms (median / p99, {len(values)} changes)",
                f"{median:.1f} / {p99:.1f}",
                f"OSC p99 {osc_p99:.1f}",
                f"{p99 / osc_p99:.1f}x" if osc_p99 else "-",
                f"p99 ≤ {LATENCY_TARGET_MS:g} ms",
                p99 <= LATENCY_TARGET_MS,
            )
        )
    with_http, without = _footprint(quick)
    if with_http.rss_peak is not None and without.rss_peak is not None:
        extra_mb = (with_http.rss_peak - without.rss_peak) / 1e6
        results.append(
            Result(
                NAME,
                f"sidecar RSS, MB (HTTP on, {CLIENTS} clients)",
                f"{with_http.rss_peak / 1e6:.1f}",
                f"{without.rss_peak / 1e6:.1f} (--no-http)",
                f"+{extra_mb:.1f} MB",
                f"≤ +{RSS_TARGET_MB:g} MB",
                extra_mb <= RSS_TARGET_MB,
            )
        )
    if with_http.cpu_percent is not None and without.cpu_percent is not None:
        extra = with_http.cpu_percent - without.cpu_percent
        results.append(
            Result(
                NAME,
                f"sidecar CPU, % of a core (HTTP on, {CLIENTS} clients)",
                f"{with_http.cpu_percent:.1f}",
                f"{without.cpu_percent:.1f} (--no-http)",
                f"+{extra:.1f} points",
                f"≤ +{CPU_TARGET_POINTS:g} points",
                extra <= CPU_TARGET_POINTS,
            )
        )
    return results


if __name__ == "__main__":
    print(table(run(quick="--quick" in sys.argv)))
