"""The WebSocket side of the running sidecar under fire: OSCQuery's ``/`` and the JSON stream's
``/events`` fed seeded hostile input, connections churned, readers that never read, while two
well-behaved clients watch.

What runs. The simulator runs as its own process (speed 60) holding 50 batches of 20,000
requests, so every poll changes them all. The sidecar runs as its own process, exactly as a user
starts it: ``python -m voyage_progress watch <the 50 ids> --http 127.0.0.1:P --control-port C
--poll-interval 0.5 --min-interval 0.5 --max-interval 4 --no-display --log-format json --osc
127.0.0.1:<port>``. A thread of this process reads its OSC heartbeats. Two good clients stay
connected from start to end: one reads ``/events``, one LISTENs to the heartbeat on ``/``; each
notes when every message arrives.

What is sent, one connection per case, each case's outcome known in advance from the rules in
docs/SIDECAR.md ("Protections") and oscquery.py's docstring:

- closed: text that is not JSON (cut JSON, random printable text); JSON that is not a command
  (a list, a number, a string, ``{}``, a ``COMMAND`` that is not a string); LISTEN or IGNORE
  whose ``DATA`` is not a path (a number, a list, null, no leading ``/``, over 512 characters);
  random bytes that are not OSC on ``/``; any binary message on ``/events``; messages over 64
  KiB (text and binary, on both); 4,097 LISTENs on one connection; and bytes that are not
  WebSocket frames at all after a valid handshake;
- left open (and still answering: a LISTEN to the heartbeat then brings a frame): unknown
  COMMANDs (random names, clients' extensions), LISTEN and IGNORE of paths that exist nowhere,
  in any script and with emoji, of up to 512 characters.

Then churn: connections opened and dropped at once (a WebSocket closed right after its
handshake, a TCP connection closed before any handshake, a handshake then an abortive close),
and slow readers: connections on ``/events`` and on ``/`` (LISTENing to every batch's progress)
with a small receive buffer that never read while the batches move.

Judged: every case ended as expected (closed, or open and answering), and the good clients were
never closed; the sidecar still runs, its longest time without a heartbeat on OSC stays within
1.5 s, and each good client's longest time without a message within 2 s; its peak resident
memory stays within 50 MB of what it held idle; it stops on Ctrl+C with exit code 0.

``python -m benchmarks.wsfuzz [--quick] [--seed S]`` prints the table.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import os
import random
import socket
import string
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from benchmarks._capture import Vitals
from benchmarks._processes import Meter, child, interrupt, meter, simulator
from benchmarks._report import Result, table
from benchmarks.flood import free_udp_port

NAME = "wsfuzz"
API_KEY = "wsfuzz-key"
PREFIX = "/voyage"
BATCHES = 50
HEARTBEAT = f"{PREFIX}/sidecar/heartbeat"
#: The server's rules (voyage_progress/outputs/_http.py and oscquery.py).
MAX_MESSAGE = 64 * 1024
MAX_PATH = 512
MAX_LISTENED = 4096
#: The targets: a heartbeat a second on OSC, a message a second to each good client (the
#: heartbeat it listens to; /events has one a second too), memory within a bound of the idle.
HEARTBEAT_GAP = 1.5
CLIENT_GAP = 2.0
EXTRA_RSS_MB = 50.0
STOP_SECONDS = 10.0
#: How long a case may take to be closed, or to answer.
CASE_TIMEOUT = 5.0
SIDECAR_OPTIONS = [
    "--poll-interval", "0.5", "--min-interval", "0.5", "--max-interval", "4",
    "--no-display", "--log-format", "json",
]  # fmt: skip


@dataclass(frozen=True)
class Plan:
    per_kind: int = 40
    churn: int = 300
    slow_readers: int = 10
    slow_seconds: float = 10.0
    seed: int = 1


FULL = Plan()
QUICK = Plan(per_kind=6, churn=40, slow_readers=4, slow_seconds=3.0)


@dataclass(frozen=True)
class Case:
    kind: str
    path: str  # "/" (OSCQuery) or "/events"
    messages: tuple[str | bytes, ...]
    closed: bool  # what the server must do: close this connection, or keep it and answer


@dataclass
class Outcome:
    plan: Plan
    vitals: Vitals | None = None
    cases: dict[str, list[bool]] = field(default_factory=dict)  # kind: as expected, per case
    surprises: list[str] = field(default_factory=list)
    churned: int = 0
    good_closed: list[str] = field(default_factory=list)
    good_gaps: dict[str, float] = field(default_factory=dict)
    start: float = 0.0
    end: float = 0.0
    idle_rss: float | None = None
    peak_rss: float | None = None
    exited_early: int | None = None
    exit_code: int | None = None
    stop_seconds: float = 0.0


# -- the cases -----------------------------------------------------------------------------------


def cases(plan: Plan) -> list[Case]:
    rng = random.Random(plan.seed)
    n = plan.per_kind
    listen = json.dumps({"COMMAND": "LISTEN", "DATA": HEARTBEAT})

    def command(kind: str, data: Any) -> str:
        return json.dumps({"COMMAND": kind, "DATA": data}, ensure_ascii=rng.random() < 0.5)

    def not_json() -> str:
        whole = listen
        return rng.choice([whole[: rng.randrange(1, len(whole))], _text(rng, rng.randrange(1, 300))])

    not_commands = ["[1, 2]", "3", '"LISTEN"', "{}", '{"COMMAND": 5}', "null", '{"DATA": "/voyage"}']
    bad_paths: list[Any] = [3, [HEARTBEAT], None, "voyage/sidecar", "", "/" + "x" * MAX_PATH]
    made = [
        *(Case("malformed JSON", "/", (not_json(),), True) for _ in range(n)),
        *(Case("JSON that is not a command", "/", (rng.choice(not_commands),), True) for _ in range(n)),
        *(
            Case("LISTEN/IGNORE of no path", "/", (command(rng.choice(["LISTEN", "IGNORE"]), p),), True)
            for p in itertools.islice(itertools.cycle(bad_paths), n)
        ),
        *(Case("binary garbage on /", "/", (_garbage(rng),), True) for _ in range(n)),
        *(Case("binary on /events", "/events", (_garbage(rng),), True) for _ in range(n)),
        *(
            Case("over 64 KiB", path, (_oversized(rng, binary),), True)
            for path, binary in itertools.islice(
                itertools.cycle(itertools.product(["/", "/events"], [False, True])), n
            )
        ),
        Case(
            "4,097 LISTENs", "/", tuple(command("LISTEN", f"/x/{i}") for i in range(MAX_LISTENED + 1)), True
        ),
        *(
            Case("unknown COMMAND", "/", (command(_name(rng), rng.choice([HEARTBEAT, 1, None])),), False)
            for _ in range(n)
        ),
        *(
            Case(
                "LISTEN/IGNORE of odd paths",
                "/",
                tuple(command(k, _odd_path(rng)) for k in ("LISTEN", "IGNORE")),
                False,
            )
            for _ in range(n)
        ),
    ]
    rng.shuffle(made)
    return made


def _text(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(string.printable) for _ in range(length))


def _garbage(rng: random.Random) -> bytes:
    """Random bytes that are not OSC (an OSC packet starts with ``/`` or ``#``)."""
    first = rng.choice([byte for byte in range(256) if byte not in b"/#"])
    return bytes([first]) + rng.randbytes(rng.randrange(0, 400))


def _oversized(rng: random.Random, binary: bool) -> str | bytes:
    size = MAX_MESSAGE + 1 + rng.randrange(0, 1000)
    return rng.randbytes(size) if binary else "x" * size


def _name(rng: random.Random) -> str:
    return rng.choice(
        ["START_OSC_STREAMING", "listen", "PATH_CHANGED", "", "LISTEN ", "ИГНОР", "🎛"]
    ) + "".join(rng.choice(string.ascii_uppercase) for _ in range(rng.randrange(0, 8)))


def _odd_path(rng: random.Random) -> str:
    pieces = ["voyage", "batch", "999999", "ß", "中文", "🎛️", "..", "", "%2F", "?VALUE", "\u202e", " "]
    path = "/" + "/".join(rng.choice(pieces) for _ in range(rng.randrange(1, 12)))
    return path[:MAX_PATH]


# -- connections ---------------------------------------------------------------------------------


async def _run_case(url: str, case: Case) -> bool:
    """Whether the server did what it must with this case."""
    try:
        async with connect(url + case.path, max_size=None, open_timeout=CASE_TIMEOUT) as connection:
            for message in case.messages:
                await connection.send(message)
            if case.closed:
                return await _closed(connection)
            return await _answers(connection)
    except ConnectionClosed:
        return case.closed
    except (OSError, TimeoutError):
        return False


async def _closed(connection: ClientConnection) -> bool:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(CASE_TIMEOUT):
            try:
                while True:
                    await connection.recv()
            except ConnectionClosed:
                return True
    return False


async def _answers(connection: ClientConnection) -> bool:
    """Still open, and a LISTEN to the heartbeat brings a binary frame."""
    await connection.send(json.dumps({"COMMAND": "LISTEN", "DATA": HEARTBEAT}))
    with contextlib.suppress(TimeoutError, ConnectionClosed):
        async with asyncio.timeout(CASE_TIMEOUT):
            while not isinstance(await connection.recv(), bytes):
                pass
            return True
    return False


async def _handshake(port: int, path: str, receive_buffer: int | None = None) -> socket.socket:
    """A raw TCP connection through a valid WebSocket handshake: what is sent and read after it
    is up to the caller (garbage frames, or never reading)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    answer = b""
    async with asyncio.timeout(CASE_TIMEOUT):
        while b"\r\n\r\n" not in answer:
            chunk = await loop.sock_recv(sock, 4096)
            if not chunk:
                break
            answer += chunk
    if not answer.startswith(b"HTTP/1.1 101"):
        sock.close()
        raise OSError(f"handshake refused: {answer[:40]!r}")
    return sock


def _frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A masked client frame (text by default), as RFC 6455 says a client sends them."""
    mask = os.urandom(4)
    size = len(payload)
    head = bytes([0x80 | opcode]) + (
        bytes([0x80 | size]) if size < 126 else bytes([0x80 | 126]) + size.to_bytes(2, "big")
    )
    return head + mask + bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))


async def _not_frames(port: int, rng: random.Random) -> bool:
    """Bytes that are not WebSocket frames after a valid handshake: the server must close."""
    loop = asyncio.get_running_loop()
    try:
        sock = await _handshake(port, rng.choice(["/", "/events"]))
    except (OSError, TimeoutError):
        return False
    with sock:
        # unmasked frames, reserved opcodes and bits, or plain noise
        garbage = rng.choice([b"\x81\x05hello", b"\x83\x80" + os.urandom(4), b"\xf1\x80" + os.urandom(4)])
        await loop.sock_sendall(sock, garbage if rng.random() < 0.7 else rng.randbytes(200))
        with contextlib.suppress(TimeoutError, OSError):
            async with asyncio.timeout(CASE_TIMEOUT):
                while await loop.sock_recv(sock, 4096):
                    pass
                return True
    return False


async def _churn(url: str, port: int, count: int) -> int:
    """Connections opened and dropped at once, three ways; returns how many were made."""
    loop = asyncio.get_running_loop()
    made = 0
    for number in range(count):
        way = number % 3
        with contextlib.suppress(OSError, TimeoutError, ConnectionClosed):
            if way == 0:
                async with connect(url + "/events", open_timeout=CASE_TIMEOUT):
                    pass
            elif way == 1:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setblocking(False)
                with sock:
                    await loop.sock_connect(sock, ("127.0.0.1", port))
            else:
                sock = await _handshake(port, "/")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                sock.close()  # abortive: a reset, no closing handshake
            made += 1
    return made


async def _slow_readers(port: int, count: int, seconds: float) -> None:
    """Connections that never read, while the batches move: half on /events, half LISTENing to
    every batch's progress on /."""
    loop = asyncio.get_running_loop()
    readers: list[socket.socket] = []
    try:
        for number in range(count):
            path = "/events" if number % 2 == 0 else "/"
            sock = await _handshake(port, path, receive_buffer=4096)
            readers.append(sock)
            if path == "/":
                for slot in range(BATCHES):
                    listen = {"COMMAND": "LISTEN", "DATA": f"{PREFIX}/batch/{slot}/progress"}
                    await loop.sock_sendall(sock, _frame(json.dumps(listen).encode()))
        await asyncio.sleep(seconds)
    finally:
        for sock in readers:
            sock.close()


class GoodClient:
    """A client that behaves, connected all along: when each message arrived, and whether it was
    ever closed."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.arrivals: list[float] = []
        self.closed: str | None = None

    async def run(self, url: str, first: str | None, ready: asyncio.Event) -> None:
        try:
            async with connect(url, max_size=None) as connection:
                if first is not None:
                    await connection.send(first)
                ready.set()
                async for _ in connection:
                    self.arrivals.append(time.monotonic())
        except ConnectionClosed as exc:
            self.closed = f"closed ({exc})"
        except OSError as exc:
            self.closed = f"failed ({exc})"

    def longest_gap(self, start: float, end: float) -> float:
        inside = [start, *(t for t in self.arrivals if start < t < end), end]
        return max(b - a for a, b in itertools.pairwise(inside))


# -- the run -------------------------------------------------------------------------------------


async def _attack(outcome: Outcome, port: int, gauge: Meter | None, sample: Callable[[], None]) -> None:
    plan = outcome.plan
    url = f"ws://127.0.0.1:{port}"
    rng = random.Random(plan.seed + 1)
    good = [GoodClient("/events"), GoodClient("LISTEN heartbeat")]
    ready = [asyncio.Event(), asyncio.Event()]
    listen = json.dumps({"COMMAND": "LISTEN", "DATA": HEARTBEAT})
    tasks = [
        asyncio.create_task(good[0].run(url + "/events", None, ready[0])),
        asyncio.create_task(good[1].run(url + "/", listen, ready[1])),
    ]
    sampler = asyncio.create_task(_sample_every(sample, 0.2))
    try:
        await asyncio.wait_for(asyncio.gather(*(event.wait() for event in ready)), 30)
        await asyncio.sleep(1.5)
        outcome.start = time.monotonic()
        for case in cases(plan):
            outcome.cases.setdefault(case.kind, []).append(await _run_case(url, case))
            if not outcome.cases[case.kind][-1] and len(outcome.surprises) < 3:
                outcome.surprises.append(f"{case.kind}: {str(case.messages[0])[:60]!r}")
        for _ in range(plan.per_kind):
            outcome.cases.setdefault("not WebSocket frames", []).append(await _not_frames(port, rng))
        outcome.churned = await _churn(url, port, plan.churn)
        await _slow_readers(port, plan.slow_readers, plan.slow_seconds)
        await asyncio.sleep(1.5)
        outcome.end = time.monotonic()
    finally:
        sampler.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, sampler, return_exceptions=True)
    outcome.good_closed = [f"{client.name}: {client.closed}" for client in good if client.closed]
    outcome.good_gaps = {client.name: client.longest_gap(outcome.start, outcome.end) for client in good}


async def _sample_every(sample: Callable[[], None], seconds: float) -> None:
    while True:
        sample()
        await asyncio.sleep(seconds)


def wsfuzz(plan: Plan) -> Outcome:
    outcome = Outcome(plan)
    vitals = outcome.vitals = Vitals(PREFIX)
    http_port, control_port = _free_tcp_port(), free_udp_port()
    with (
        tempfile.TemporaryFile("w+") as output,
        simulator("--api-key", API_KEY, speed=60.0) as sim,
    ):
        ids = sim.create_batches(BATCHES, 20_000)
        args = [sys.executable, "-m", "voyage_progress", "watch", *ids, *SIDECAR_OPTIONS]
        args += ["--osc", f"127.0.0.1:{vitals.port}", "--control-port", str(control_port)]
        args += ["--http", f"127.0.0.1:{http_port}"]
        env = {**os.environ, "VOYAGE_API_KEY": API_KEY, "VOYAGE_BASE_URL": sim.base_url}
        with child("sidecar", args, output, env) as sidecar:
            _wait_for(lambda: vitals.beats_between(0, 1e12) >= 3, 30)
            gauge = meter(sidecar.process.pid)
            time.sleep(1.0)
            outcome.idle_rss = gauge.rss() / 1e6 if gauge is not None else None
            samples: list[float] = []

            def sample() -> None:
                sidecar.check()
                if gauge is not None:
                    samples.append(gauge.rss() / 1e6)

            asyncio.run(_attack(outcome, http_port, gauge, sample))
            outcome.peak_rss = max(samples) if samples else None
            if sidecar.process.poll() is not None:
                outcome.exited_early = sidecar.process.returncode
            stopping = time.monotonic()
            outcome.exit_code = interrupt(sidecar.process, timeout=STOP_SECONDS)
            outcome.stop_seconds = time.monotonic() - stopping
    vitals.close()
    return outcome


def _free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("the sidecar did not start sending heartbeats")
        time.sleep(0.1)


def rows(outcome: Outcome) -> list[Result]:
    vitals, plan = outcome.vitals, outcome.plan
    assert vitals is not None

    def row(metric: str, ours: str, target: str = "-", met: bool | None = None) -> Result:
        return Result(NAME, metric, ours, "-", "-", target, met)

    results = []
    for kind, judged in sorted(outcome.cases.items()):
        expected = (
            "closed" if kind not in ("unknown COMMAND", "LISTEN/IGNORE of odd paths") else "open, answering"
        )
        results.append(
            row(f"{kind}: connections {expected}", f"{sum(judged)}/{len(judged)}", "all", all(judged))
        )
    if outcome.surprises:
        results.append(row("first cases not as expected", "; ".join(outcome.surprises)))
    gap = vitals.longest_gap(outcome.start, outcome.end)
    good = "; ".join(outcome.good_closed) or "never"
    rss = outcome.peak_rss
    idle = outcome.idle_rss or 0.0
    running = outcome.exited_early is None
    stopped = outcome.exit_code == 0 and outcome.stop_seconds <= STOP_SECONDS
    results += [
        row("churn: connections opened and dropped at once", f"{outcome.churned}/{plan.churn}",
            "all made", outcome.churned == plan.churn),
        row(f"slow readers that never read ({plan.slow_readers}, {plan.slow_seconds:g} s)", "held", "-"),
        row("the two good clients closed", good, "never", not outcome.good_closed),
        *(row(f"good client {name}: longest time without a message", f"{value:.1f} s",
              f"≤ {CLIENT_GAP:g} s", value <= CLIENT_GAP) for name, value in outcome.good_gaps.items()),
        row(f"longest time without an OSC heartbeat ({outcome.end - outcome.start:.0f} s)",
            f"{gap:.1f} s", f"≤ {HEARTBEAT_GAP:g} s", gap <= HEARTBEAT_GAP),
        row(f"sidecar peak RSS (idle: {idle:.0f} MB)",
            "not measured here" if rss is None else f"{rss:.0f} MB",
            f"≤ idle + {EXTRA_RSS_MB:g} MB", None if rss is None else rss <= idle + EXTRA_RSS_MB),
        row("sidecar still running", "yes" if running else f"no (exit {outcome.exited_early})",
            "yes", running),
        row("exit code after Ctrl+C (and seconds to stop)",
            f"{outcome.exit_code} ({outcome.stop_seconds:.1f} s)", f"0 in ≤ {STOP_SECONDS:g} s", stopped),
    ]  # fmt: skip
    return results


def run(quick: bool) -> list[Result]:
    return rows(wsfuzz(QUICK if quick else FULL))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="wsfuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the short version")
    parser.add_argument("--seed", type=int, default=Plan.seed)
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    results = rows(wsfuzz(Plan(plan.per_kind, plan.churn, plan.slow_readers, plan.slow_seconds, args.seed)))
    print(table(results))
    return 0 if all(r.met is not False for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
