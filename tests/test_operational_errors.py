"""Operational errors: a port in use, destinations and an API that cannot be reached, a state
file the disk refuses, clocks that jump. Real sockets, real processes, real files and the real
simulator over HTTP; each case checks what the user is told and that watching goes on where it
can."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import FAST_RETRIES
from tests.osc_receiver import OscReceiver, open_receiver
from tests.test_cli import assert_one_line_error, cli
from tests.test_sidecar import fast_config
from tests.test_watch_command import env_for, free_udp_port
from voyage_progress import VoyageBatchClient
from voyage_progress import watcher as _watcher
from voyage_progress.outputs.osc._codec import encode_message
from voyage_progress.sidecar import Sidecar
from voyage_progress.sidecar._state import SAVE_INTERVAL
from voyage_progress.simulator import run_simulator
from voyage_progress.watcher import Intervals, Watcher

if sys.platform == "win32":  # Ctrl+Break, to a process group of its own, is Windows' clean stop
    STOP_SIGNAL = signal.CTRL_BREAK_EVENT
    OWN_GROUP = subprocess.CREATE_NEW_PROCESS_GROUP
else:
    STOP_SIGNAL = signal.SIGINT
    OWN_GROUP = 0
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
FAST_POLLING = ["--poll-interval", "0.1", "--min-interval", "0.05", "--max-interval", "0.5"]
#: Addresses of the documentation networks (RFC 5737): nothing answers there.
UNROUTABLE = ["192.0.2.1", "198.51.100.1"]
#: The OSC addresses that carry a number of seconds or a rate: -1 when unknown, else >= 0.
MEASURES = ("/rate", "/eta", "/eta_low", "/eta_high", "/elapsed", "/poll_age")


@pytest.fixture
async def receiver() -> AsyncIterator[OscReceiver]:
    r = await open_receiver()
    yield r
    r.close()


# -- helpers -------------------------------------------------------------------------------------


@dataclass
class Finished:
    code: int
    out: str
    err: str

    def lines_with(self, *words: str) -> list[str]:
        return [line for line in self.out.splitlines() if all(word in line for word in words)]


@contextlib.asynccontextmanager
async def sidecar_process(
    *args: str, env: dict[str, str], preexec_fn: Callable[[], None] | None = None
) -> AsyncIterator[tuple[asyncio.subprocess.Process, list[Finished]]]:
    """``voyage-progress watch ...`` as its own process, stopped as with Ctrl+C at the end of
    the block; what it printed is then in the list it yields."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "voyage_progress",
        "watch",
        *args,
        "--no-display",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        preexec_fn=preexec_fn,
        creationflags=OWN_GROUP,
    )
    finished: list[Finished] = []
    try:
        yield proc, finished
        assert proc.returncode is None, "the sidecar stopped by itself"
        proc.send_signal(STOP_SIGNAL)
        out, err = await asyncio.wait_for(proc.communicate(), 15)
        finished.append(Finished(await proc.wait(), out.decode(), err.decode()))
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def send_control(port: int, command: str, *args: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(encode_message(f"/voyage/control/{command}", list(args)), ("127.0.0.1", port))


def ended_ids(receiver: OscReceiver) -> list[str]:
    return [str(e[1]) for e in receiver.events() if e[0] in ("complete", "failed", "cancelled", "expired")]


def heartbeats(receiver: OscReceiver) -> list[int]:
    return [int(v) for v in receiver.values("/voyage/sidecar/heartbeat")]  # type: ignore[call-overload]


def assert_measures_sane(receiver: OscReceiver) -> None:
    """Every rate, ETA, elapsed time and age on the wire is a finite number, -1 or >= 0."""
    for m in receiver.messages:
        if m.address.endswith(MEASURES):
            value = float(m.args[0])  # type: ignore[arg-type]
            assert math.isfinite(value) and (value == -1 or value >= 0), f"{m.address} = {value}"


def assert_clean_exit(finished: Finished) -> None:
    assert finished.code == 0, finished.err
    assert "Traceback" not in finished.err and "Traceback" not in finished.out


# -- 1. ports in use -----------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["watch", "demo"])
async def test_a_control_port_in_use_names_the_port_and_both_ways_out(
    command: str, receiver: OscReceiver
) -> None:
    async with run_simulator(speed=0) as sim:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
            busy.bind(("127.0.0.1", 0))
            port = busy.getsockname()[1]
            first = [command, sim.add_batch(3)] if command == "watch" else [command]
            run = await cli(
                *first,
                "--control-port",
                str(port),
                "--osc",
                f"127.0.0.1:{receiver.port}",
                env=env_for(sim),
            )
    assert_one_line_error(run, f"127.0.0.1:{port}", "in use", "--control-port", "--no-control")
    assert run.code == 1
    assert not receiver.events("start"), "nothing is announced by a sidecar that cannot start"


async def test_an_osc_destination_port_held_by_a_program_that_never_reads_is_no_error(
    receiver: OscReceiver,
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # soon full: it is never read
        holder.bind(("127.0.0.1", 0))
        held = holder.getsockname()[1]
        async with run_simulator(speed=500) as sim:
            ids = [sim.add_batch(20, "quick") for _ in range(3)]
            osc = ["--osc", f"127.0.0.1:{held}", "--osc", f"127.0.0.1:{receiver.port}"]
            async with sidecar_process(*ids, *osc, "--no-control", *FAST_POLLING, env=env_for(sim)) as (
                _,
                finished,
            ):
                await receiver.wait_for(lambda r: set(ended_ids(r)) == set(ids) and len(heartbeats(r)) >= 3)
        holder.setblocking(False)
        first_datagram = holder.recv(65536)
    assert_clean_exit(finished[0])
    assert first_datagram.startswith((b"#bundle\0", b"/voyage/"))
    assert not finished[0].lines_with("warning:"), finished[0].out
    assert sorted(ended_ids(receiver)) == sorted(ids)


# -- 2. destinations and an API that cannot be reached --------------------------------------------


async def test_a_closed_osc_destination_warns_once_and_the_others_get_everything(
    receiver: OscReceiver,
) -> None:
    closed = free_udp_port()
    async with run_simulator(speed=500) as sim:
        ids = [sim.add_batch(20, "quick") for _ in range(3)]
        osc = ["--osc", f"127.0.0.1:{closed}", "--osc", f"127.0.0.1:{receiver.port}"]
        async with sidecar_process(*ids, *osc, "--no-control", *FAST_POLLING, env=env_for(sim)) as (
            _,
            finished,
        ):
            await receiver.wait_for(lambda r: set(ended_ids(r)) == set(ids) and len(heartbeats(r)) >= 3)
    done = finished[0]
    assert_clean_exit(done)
    assert sorted(ended_ids(receiver)) == sorted(ids), "each end once, on the live destination"
    beats = heartbeats(receiver)
    assert list(dict.fromkeys(beats)) == list(range(1, max(beats) + 1))
    assert receiver.events("shutdown")
    warnings = done.lines_with("warning:", f"OSC to 127.0.0.1:{closed}")
    assert len(warnings) <= 1, "warned once, not once per datagram"
    if sys.platform == "linux":  # loopback reports the closed port at once
        assert len(warnings) == 1 and "Connection refused" in warnings[0], done.out
    assert len(done.lines_with("warning:")) == len(warnings)


async def test_an_osc_host_that_does_not_resolve_is_one_line() -> None:
    async with run_simulator(speed=0) as sim:
        started = time.monotonic()
        run = await cli(
            "watch",
            sim.add_batch(3),
            "--no-control",
            "--osc",
            f"127.0.0.1:{free_udp_port()}",
            "--osc",
            "no-such-host.invalid:7000",
            env=env_for(sim),
        )
    assert_one_line_error(run, "cannot resolve OSC destination no-such-host.invalid:7000")
    assert run.code == 1 and time.monotonic() - started < 20


@pytest.mark.parametrize("host", UNROUTABLE)
async def test_an_unroutable_osc_destination_neither_blocks_nor_stops_the_sidecar(
    host: str, receiver: OscReceiver
) -> None:
    async with run_simulator(speed=500) as sim:
        ids = [sim.add_batch(20, "quick") for _ in range(2)]
        osc = ["--osc", f"{host}:7000", "--osc", f"127.0.0.1:{receiver.port}"]
        async with sidecar_process(*ids, *osc, "--no-control", *FAST_POLLING, env=env_for(sim)) as (
            _,
            finished,
        ):
            await receiver.wait_for(
                lambda r: set(ended_ids(r)) == set(ids) and len(heartbeats(r)) >= 3, timeout=15
            )
            stopping = time.monotonic()
    assert time.monotonic() - stopping < 5, "closing the unroutable destination held up the stop"
    assert_clean_exit(finished[0])
    beat_times = [m.at for m in receiver.messages if m.address == "/voyage/sidecar/heartbeat"]
    gaps = [later - earlier for earlier, later in itertools.pairwise(beat_times)]
    assert max(gaps) < 1.6, f"the heartbeat stalled: gaps {gaps}"
    assert len(finished[0].lines_with("warning:", f"OSC to {host}:7000")) <= 1


async def test_an_api_that_is_down_at_start_is_reported_then_picked_up_when_it_appears(
    receiver: OscReceiver,
) -> None:
    port = free_tcp_port()
    env = env_for()
    env.update(VOYAGE_API_KEY="k", VOYAGE_BASE_URL=f"http://127.0.0.1:{port}/v1")
    args = ["--all-active", "--osc", f"127.0.0.1:{receiver.port}", "--no-control", "--timeout", "1"]
    async with sidecar_process(*args, *FAST_POLLING, env=env) as (proc, finished):
        await receiver.wait_for(
            lambda r: str(r.last("/voyage/sidecar/message")).startswith("API unreachable: "), timeout=10
        )
        assert receiver.last("/voyage/sidecar/api_ok") == 0
        assert "\n" not in str(receiver.last("/voyage/sidecar/message"))
        assert proc.returncode is None
        async with run_simulator(port=port, speed=50) as sim:  # in flight for a second: found
            appeared = time.monotonic()
            batch_id = sim.add_batch(20, "quick")
            await receiver.wait_for(lambda r: r.last("/voyage/sidecar/api_ok") == 1, timeout=5)
            recovered = time.monotonic() - appeared
            assert receiver.last("/voyage/sidecar/message") == "ok"
            await receiver.wait_for(lambda r: batch_id in ended_ids(r), timeout=20)
    assert recovered < 2, "picked up within the longest poll interval"
    done = finished[0]
    assert_clean_exit(done)
    assert done.lines_with("the API is not answering yet (", "); watching anyway, retrying")
    assert done.lines_with("api PROBLEM: API unreachable: ") and done.lines_with("api ok: ok")


# -- 3. a state file the disk refuses -------------------------------------------------------------


@dataclass
class Refusal:
    """A real way for the disk to refuse the state file, and to allow it again."""

    reason: str  # what the system says, in the warning (POSIX)
    state: Callable[[Path], Path]
    refuse: Callable[[Path, int], None]
    allow: Callable[[Path, int], None]
    preexec_fn: Callable[[], None] | None = None


FILE_SIZE_LIMIT = 16


def _small_file_size_limit() -> None:
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the first write past the limit kills it
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, hard))


def _lift_file_size_limit(pid: int) -> None:
    import resource

    _, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (hard, hard))


def _folder_becomes_a_file(folder: Path) -> None:
    shutil.rmtree(folder)
    folder.write_text("not a folder\n")


def _file_becomes_a_folder(folder: Path) -> None:
    folder.unlink()
    folder.mkdir()


REFUSALS = {
    "file too large": Refusal(
        "File too large",
        state=lambda tmp: tmp / "state.json",
        refuse=lambda folder, pid: None,  # refused from the start: the process has the limit
        allow=lambda folder, pid: _lift_file_size_limit(pid),
        preexec_fn=_small_file_size_limit,
    ),
    "folder replaced by a file": Refusal(
        "Not a directory",
        state=lambda tmp: tmp / "state" / "state.json",
        refuse=lambda folder, pid: _folder_becomes_a_file(folder),
        allow=lambda folder, pid: _file_becomes_a_folder(folder),
    ),
    "read-only folder": Refusal(
        "Permission denied",
        state=lambda tmp: tmp / "state" / "state.json",
        refuse=lambda folder, pid: folder.chmod(0o555),
        allow=lambda folder, pid: folder.chmod(0o755),
    ),
}


def _skip_unless_possible(how: str) -> None:
    if how == "file too large":
        if sys.platform == "win32":
            pytest.skip("RLIMIT_FSIZE is POSIX only")
        import resource

        if not hasattr(resource, "prlimit"):
            pytest.skip("lifting another process's RLIMIT_FSIZE needs prlimit (Linux)")
    if how == "read-only folder":
        if sys.platform == "win32":
            pytest.skip("a read-only folder on Windows does not refuse new files")
        if IS_ROOT:
            pytest.skip("root ignores folder permissions")


@pytest.mark.parametrize("how", list(REFUSALS))
async def test_a_state_file_the_disk_refuses_warns_once_and_watching_goes_on(
    how: str, receiver: OscReceiver, tmp_path: Path
) -> None:
    _skip_unless_possible(how)
    refusal = REFUSALS[how]
    state = refusal.state(tmp_path)
    state.parent.mkdir(exist_ok=True)
    control = free_udp_port()
    async with run_simulator(speed=0) as sim:
        ids = [sim.add_batch(10, "quick") for _ in range(3)]
        args = [*ids[:2], "--state-file", str(state), "--osc", f"127.0.0.1:{receiver.port}"]
        async with sidecar_process(
            *args,
            "--control-port",
            str(control),
            *FAST_POLLING,
            env=env_for(sim),
            preexec_fn=refusal.preexec_fn,
        ) as (proc, finished):
            await receiver.wait_for(lambda r: len(r.events("watch")) == 2)
            refusal.refuse(state.parent, proc.pid)
            try:
                send_control(control, "watch", ids[2])  # a save, refused
                sim.advance(3600)  # two ends: two more saves, refused
                await receiver.wait_for(lambda r: len(ended_ids(r)) == 3 and len(r.events("watch")) == 3)
                await asyncio.sleep(1.5 * SAVE_INTERVAL)  # saves are at most one a second: let one fail
                assert proc.returncode is None
            finally:
                refusal.allow(state.parent, proc.pid)
            late = sim.add_batch(10, "quick")  # still validating at the end
            send_control(control, "watch", late)  # this save goes through
            await receiver.wait_for(lambda r: len(r.events("watch")) == 4)
            await asyncio.sleep(0.2)
    done = finished[0]
    assert_clean_exit(done)
    warnings = done.lines_with("warning:")
    assert len(warnings) == 2, done.out
    refused, again = warnings
    assert f"cannot save the state file {state}: " in refused
    assert refused.endswith("(watching goes on; a restart will not remember changes)")
    if sys.platform != "win32":
        assert f": {refusal.reason} (" in refused
    assert f"state file {state} saved again" in again
    saved = json.loads(state.read_text())["batches"]
    assert [entry["id"] for entry in saved] == [*ids, late]
    assert [entry["reported_end"] for entry in saved] == ["complete"] * 3 + [None]
    assert not list(state.parent.glob("*.tmp")), "no half-written file is left behind"


@pytest.mark.skipif(
    sys.platform == "win32", reason="Windows finds no file there (not 'not a folder'): the sidecar starts"
)
async def test_a_state_file_folder_that_is_a_file_at_start_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("a file, not a folder\n")
    state = tmp_path / "state" / "state.json"
    async with run_simulator(speed=0) as sim:
        run = await cli(
            "watch", sim.add_batch(3), "--no-control", "--state-file", str(state), env=env_for(sim)
        )
    assert_one_line_error(run, f"cannot read the state file {state}: ")


@pytest.mark.parametrize("how", ["a folder", "no permission"])
async def test_a_state_file_that_cannot_be_read_at_start_is_one_line(
    how: str, receiver: OscReceiver, tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    if how == "a folder":
        state.mkdir()
    else:
        if sys.platform == "win32" or IS_ROOT:
            pytest.skip("file permissions are not enforced here (Windows, or root)")
        state.write_text('{"version": 1, "batches": []}')
        state.chmod(0o000)
    async with run_simulator(speed=0) as sim:
        run = await cli(
            "watch",
            sim.add_batch(3),
            "--no-control",
            "--osc",
            f"127.0.0.1:{receiver.port}",
            "--state-file",
            str(state),
            env=env_for(sim),
        )
    assert_one_line_error(run, f"cannot read the state file {state}: ")
    if how == "a folder" and sys.platform != "win32":
        assert run.err.strip().endswith(": Is a directory")
    elif how == "no permission":
        assert run.err.strip().endswith(": Permission denied")
    assert not receiver.events("start"), "nothing is announced by a sidecar that cannot start"


DAMAGED = {
    "not JSON": b'{"version": 1, "batches": [',
    "not UTF-8": b"\xff\xfe\x00garbage",
    "no batches": b'{"version": 1}',
    "batches not a list": b'{"version": 1, "batches": 5}',
    "not an object": b"[1, 2, 3]",
}


@pytest.mark.parametrize("content", list(DAMAGED.values()), ids=list(DAMAGED))
async def test_a_damaged_state_file_is_set_aside_and_watching_starts_empty(
    content: bytes, receiver: OscReceiver, tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    state.write_bytes(content)
    async with run_simulator(speed=0) as sim:
        batch_id = sim.add_batch(3)
        args = [batch_id, "--no-control", "--state-file", str(state), "--osc", f"127.0.0.1:{receiver.port}"]
        async with sidecar_process(*args, *FAST_POLLING, env=env_for(sim)) as (_, finished):
            await receiver.wait_for(lambda r: r.last("/voyage/batch/0/status") == "validating", timeout=10)
    done = finished[0]
    assert_clean_exit(done)
    damaged = state.with_name("state.json.damaged")
    assert done.lines_with(
        f"warning: state file {state} is damaged; moved it to {damaged} and started empty"
    ), done.out
    assert damaged.read_bytes() == content
    assert [entry["id"] for entry in json.loads(state.read_text())["batches"]] == [batch_id]


async def test_a_damaged_state_file_that_cannot_be_set_aside_is_one_line(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_bytes(b"{damaged")
    (tmp_path / "state.json.damaged").mkdir()
    (tmp_path / "state.json.damaged" / "keep").write_text("an earlier damaged file, kept\n")
    async with run_simulator(speed=0) as sim:
        run = await cli(
            "watch", sim.add_batch(3), "--no-control", "--state-file", str(state), env=env_for(sim)
        )
    assert_one_line_error(run, f"state file {state} is damaged and cannot be set aside")
    assert state.read_bytes() == b"{damaged", "the damaged file is left as it was"


# -- 4. clocks that jump --------------------------------------------------------------------------


class StepClock:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class JumpingWallClock(datetime):
    """``datetime`` whose ``now`` is the system's plus an offset a test moves (NTP, a user
    fixing the time)."""

    offset = timedelta()

    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return datetime.now(tz) + cls.offset


async def _watch_trace(wall_jumps: dict[int, timedelta]) -> list[tuple[float, float, float, float]]:
    """Watch one batch to its end, a poll every 10 s on both clocks, the system clock jumping
    by ``wall_jumps[poll]`` before that poll; its (percent, rate, ETA, elapsed) at each poll.
    The simulator's clock runs six hours ahead of ours, so its timestamps are in our future."""
    JumpingWallClock.offset = timedelta()
    async with run_simulator(speed=0, seed=7) as sim:
        sim.advance(6 * 3600)
        batch_id = sim.add_batch(400, "normal")
        async with VoyageBatchClient(api_key="k", base_url=sim.base_url, retry_policy=FAST_RETRIES) as client:
            clock = StepClock()
            watcher = Watcher(client, intervals=Intervals(10.0, 10.0, 10.0), clock=clock)
            batch = watcher.watch(batch_id)
            trace = []
            for poll in range(500):
                JumpingWallClock.offset += wall_jumps.get(poll, timedelta())
                await watcher.poll_once()
                event = batch.event
                assert event is not None
                trace.append((event.percent, event.rate, event.eta_seconds, event.elapsed_seconds))
                if not batch.is_active:
                    return trace
                clock.now += 10.0
                sim.advance(10.0)
    raise AssertionError("the batch did not end")


async def test_the_system_clock_and_the_servers_clock_do_not_enter_rates_or_etas(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_watcher, "datetime", JumpingWallClock)
    steady = await _watch_trace({})
    jumpy = await _watch_trace({10: timedelta(hours=5), 30: timedelta(hours=-7), 50: timedelta(days=1)})
    assert jumpy == steady, "a system clock that jumps changes no rate, ETA or elapsed time"
    elapsed = [row[3] for row in steady]
    assert elapsed[0] == 0.0, "a server clock ahead of ours: counted from when we first saw the batch"
    assert [b - a for a, b in itertools.pairwise(elapsed)] == [10.0] * (len(elapsed) - 1)
    running = [row for row in steady if 0 < row[0] < 100 and row[1] > 0]
    assert running and all(math.isfinite(eta) and eta >= 0 for _, _, eta, _ in running)


async def test_a_server_clock_that_jumps_hours_ahead_keeps_every_figure_sane(receiver: OscReceiver) -> None:
    async with run_simulator(speed=100) as sim:
        sim.advance(6 * 3600)  # its timestamps are in our future
        batch_id = sim.add_batch(400, "normal")
        args = [batch_id, "--no-control", "--osc", f"127.0.0.1:{receiver.port}", *FAST_POLLING]
        started = time.monotonic()
        async with sidecar_process(*args, env=env_for(sim)) as (_, finished):
            await receiver.wait_for(lambda r: 0 < float(r.last("/voyage/batch/0/percent", 0)) < 50)  # type: ignore[arg-type]
            async with httpx.AsyncClient(base_url=sim.url) as http:
                jumped = await http.post("/_sim/advance", params={"seconds": 3 * 3600})
            assert jumped.status_code == 200
            await receiver.wait_for(lambda r: batch_id in ended_ids(r))
        took = time.monotonic() - started
    assert_clean_exit(finished[0])
    assert_measures_sane(receiver)
    elapsed = [float(v) for v in receiver.values("/voyage/batch/0/elapsed")]  # type: ignore[arg-type]
    assert elapsed == sorted(elapsed) and elapsed[-1] <= took, "elapsed is counted on our clock"
    assert receiver.last("/voyage/batch/0/eta") == 0.0 and receiver.last("/voyage/batch/0/percent") == 100.0


class SleepingMachine:
    """The watcher's monotonic clock, which jumps ahead once while the watcher waits for its
    next poll, as a machine that slept there sees it on waking."""

    def __init__(self, watcher: Watcher, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offset = 0.0
        self.pending = 0.0
        self.woke_at: float | None = None  # when it did, on the test's clock
        poll_once = watcher.poll_once

        async def poll_then_sleep() -> int:
            requests = await poll_once()
            if self.pending:  # runs once the watcher has started waiting for the next poll
                asyncio.get_running_loop().call_soon(self._wake_up)
            return requests

        monkeypatch.setattr(watcher, "poll_once", poll_then_sleep)
        monkeypatch.setattr(watcher, "clock", self)

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def sleep_after_next_poll(self, seconds: float) -> None:
        self.pending = seconds

    def _wake_up(self) -> None:
        self.offset, self.pending = self.offset + self.pending, 0.0
        self.woke_at = time.monotonic()


def received_after(receiver: OscReceiver, address: str, moment: float) -> list[float]:
    return [float(m.args[0]) for m in receiver.messages if m.address == address and m.at > moment]  # type: ignore[arg-type]


async def test_a_monotonic_clock_jump_leaves_every_figure_sane_and_polling_resumes(
    receiver: OscReceiver, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with run_simulator(speed=400) as sim:
        ended, running = sim.add_batch(20, "quick"), sim.add_batch(2000, "normal")
        async with VoyageBatchClient(api_key="k", base_url=sim.base_url, retry_policy=FAST_RETRIES) as client:
            sidecar = Sidecar(fast_config(receiver, batch_ids=[ended, running]), client)
            machine = SleepingMachine(sidecar.watcher, monkeypatch)
            stop = asyncio.Event()
            task = asyncio.create_task(sidecar.run(stop))
            try:
                await receiver.wait_for(
                    lambda r: ended in ended_ids(r) and 10 < float(r.last("/voyage/batch/1/percent", 0)) < 40  # type: ignore[arg-type]
                )
                machine.sleep_after_next_poll(3600.0)
                await receiver.wait_for(lambda r: machine.woke_at is not None)
                assert machine.woke_at is not None
                woke_at = machine.woke_at
                before = max(received_after(receiver, "/voyage/batch/1/percent", 0.0))
                await receiver.wait_for(
                    lambda r: max(received_after(r, "/voyage/batch/1/percent", woke_at), default=0) > before,
                    timeout=2,
                )
                resumed = time.monotonic() - woke_at
                await receiver.wait_for(lambda r: running in ended_ids(r), timeout=20)
                await asyncio.sleep(0.6)  # one more full state
                awake_for = time.monotonic() - woke_at
            finally:
                stop.set()
                await asyncio.wait_for(task, 10)
    assert resumed < 1.0, "polling resumed at once"
    assert_measures_sane(receiver)
    settled = woke_at + 0.1  # datagrams of the poll before the jump are in
    ages = received_after(receiver, "/voyage/batch/0/poll_age", settled)
    assert ages and min(ages) >= 3600, "the ended batch was last read an hour ago, as the clock says"
    etas = received_after(receiver, "/voyage/batch/1/eta", settled)
    assert all(eta == -1 or eta < 60 for eta in etas), f"an ETA that counts the jump as work: {max(etas)}"
    assert any(eta > 0 for eta in etas), "the rate is measured again after the jump"
    beats = [int(b) for b in received_after(receiver, "/voyage/sidecar/heartbeat", woke_at)]
    assert len(set(beats)) <= awake_for / 0.1 + 3, "no burst of the heartbeats the jump skipped"
    assert list(dict.fromkeys(beats)) == list(range(beats[0], beats[0] + len(set(beats))))
    jumps = [r.getMessage() for r in caplog.records if "clock jumped" in r.getMessage()]
    assert len(jumps) == 1 and jumps[0].startswith("the clock jumped 3600 s ahead"), jumps
