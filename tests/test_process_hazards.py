"""What the world does to a running sidecar process: a standard output that is closed or that
nobody reads, a second sidecar on the same state file, a state file that is a link, the
terminal closing (SIGHUP). Real processes, pipes, files and the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.osc_receiver import OscReceiver, open_receiver
from tests.test_cli import Run, assert_one_line_error
from tests.test_operational_errors import FAST_POLLING, OWN_GROUP, STOP_SIGNAL, heartbeats, send_control
from tests.test_watch_command import env_for, free_udp_port
from voyage_progress.outputs.terminal import SidecarView
from voyage_progress.simulator import run_simulator

PREFIX = "/voyage"


@pytest.fixture
async def receiver() -> AsyncIterator[OscReceiver]:
    r = await open_receiver()
    yield r
    r.close()


@contextlib.contextmanager
def watching(*args: str, env: dict[str, str], stdout: int) -> Iterator[subprocess.Popen[bytes]]:
    """``voyage-progress watch ...`` as its own process, its standard output where given; killed
    at the end of the block if it is still running."""
    process = subprocess.Popen(
        [sys.executable, "-m", "voyage_progress", "watch", *args, "--no-http"],  # the subject is stdout
        stdout=stdout,
        stderr=subprocess.PIPE,
        env=env,
        creationflags=OWN_GROUP,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        assert process.stderr is not None
        process.stderr.close()


async def stopped(
    process: subprocess.Popen[bytes], how: int = STOP_SIGNAL, timeout: float = 10.0
) -> tuple[int, str]:
    """Stop it as Ctrl+C would (or with ``how``); its exit code and standard error."""
    process.send_signal(how)
    code = await asyncio.wait_for(asyncio.to_thread(process.wait), timeout)
    assert process.stderr is not None
    return code, process.stderr.read().decode()


async def heartbeats_go_on(receiver: OscReceiver, count: int = 3) -> None:
    """``count`` more heartbeats arrive (one a second; a blocked sidecar sends none at all, so
    the margin is wide enough for a machine busy with other tests)."""
    seen = len(heartbeats(receiver))
    await receiver.wait_for(lambda r: len(heartbeats(r)) >= seen + count, timeout=3 * count + 10)


# -- standard output ----------------------------------------------------------------------------------


async def test_a_standard_output_closed_after_a_line_stops_nothing(receiver: OscReceiver) -> None:
    """``voyage-progress watch ... | head -1``: the first write after ``head`` exits raised
    ``BrokenPipeError`` inside the supervisor's own ``except``, and polling stopped for good."""
    async with run_simulator(speed=200) as sim:  # the batch takes about 5 s
        batch_id = sim.add_batch(100, "normal")
        read, write = os.pipe()
        args = [
            batch_id,
            "--no-display",
            "--no-control",
            "--osc",
            f"127.0.0.1:{receiver.port}",
            *FAST_POLLING,
        ]
        with watching(*args, env=env_for(sim), stdout=write) as process:
            os.close(write)
            with os.fdopen(read, "rb") as output:
                first = await asyncio.to_thread(output.readline)
            assert first  # then the reading end is closed, as ``head -1`` does
            await receiver.wait_for(lambda r: bool(r.events("complete")), timeout=30)
            await heartbeats_go_on(receiver)
            code, err = await stopped(process)
    assert code == 0 and "Traceback" not in err, err
    await receiver.wait_for(lambda r: bool(r.events("shutdown")), timeout=5)  # may still be in the socket
    assert receiver.last(f"{PREFIX}/sidecar/running") == 0


async def test_a_standard_output_nobody_reads_blocks_nothing(receiver: OscReceiver) -> None:
    """A pipe nobody reads fills up; then a write blocks. Written from the event loop, that
    stopped the OSC and left Ctrl+C unanswered."""
    control = free_udp_port()
    async with run_simulator(speed=0) as sim:
        batch_id = sim.add_batch(10)
        read, write = os.pipe()  # never read: it fills after some 64 KB
        args = [
            batch_id,
            "--no-display",
            "--control-port",
            str(control),
            "--osc",
            f"127.0.0.1:{receiver.port}",
        ]
        try:
            with watching(*args, *FAST_POLLING, env=env_for(sim), stdout=write) as process:
                await receiver.wait_for(lambda r: len(r.events("watch")) == 1)
                for number in range(3000):  # a line each, 200 KB in all
                    send_control(control, "watch", f"batch-unread-{number:05d}")
                    if number % 100 == 0:
                        await asyncio.sleep(0.01)
                await receiver.wait_for(lambda r: len(r.events("watch")) == 3001, timeout=60)
                await heartbeats_go_on(receiver)
                code, err = await stopped(process)
        finally:
            os.close(read)
            os.close(write)
    # It stopped cleanly. Its goodbye is not asserted here: it comes after the last states of
    # 3,001 batches, more than this test's receiver keeps up with on a loaded machine (the
    # goodbye itself is checked by the other stops in this file).
    assert code == 0 and "Traceback" not in err, err


def test_log_lines_nobody_reads_are_dropped_counted_and_said() -> None:
    read, write = os.pipe()
    stream = os.fdopen(write, "w")
    view = SidecarView("text", stream)
    writing = threading.Thread(target=lambda: [view.message(f"line {n}") for n in range(5000)], daemon=True)
    writing.start()
    writing.join(5)
    blocked = writing.is_alive()
    received: list[bytes] = []
    reading = threading.Thread(
        target=lambda: received.extend(iter(lambda: os.read(read, 65536), b"")), daemon=True
    )
    reading.start()  # now the pipe is read: what waited comes out
    writing.join(5)
    assert not blocked, "the log blocked its caller"
    view.close()
    stream.close()
    reading.join(5)
    os.close(read)
    assert view.dropped > 0  # a pipe holds some 64 KB: most of the 150 KB could not wait
    lines = b"".join(received).decode().splitlines()
    said = [int(m.group(1)) for line in lines if (m := re.search(r"warning: (\d+) log lines dropped", line))]
    written = [line for line in lines if re.search(r" line \d+$", line)]
    assert sum(said) == view.dropped and len(written) + view.dropped == 5000


# -- the terminal closing -------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform")
async def test_sighup_stops_the_sidecar_and_says_so(receiver: OscReceiver) -> None:
    async with run_simulator(speed=0) as sim:
        args = [sim.add_batch(10), "--no-display", "--no-control", "--osc", f"127.0.0.1:{receiver.port}"]
        with watching(*args, env=env_for(sim), stdout=subprocess.DEVNULL) as process:
            await receiver.wait_for(lambda r: r.last(f"{PREFIX}/batch/0/status") == "validating")
            code, err = await stopped(process, signal.SIGHUP)
    assert code == 0, err
    await receiver.wait_for(lambda r: bool(r.events("shutdown")), timeout=5)  # may still be in the socket
    assert receiver.last(f"{PREFIX}/sidecar/running") == 0


# -- the state file -------------------------------------------------------------------------------------


async def test_a_second_sidecar_on_a_state_file_is_refused_until_the_first_is_gone(
    receiver: OscReceiver, tmp_path: Path
) -> None:
    """Two sidecars on one file each wrote their own list over the other's."""
    state = tmp_path / "state.json"
    async with run_simulator(speed=0) as sim:
        first_id, second_id = sim.add_batch(10), sim.add_batch(10)
        osc = ["--osc", f"127.0.0.1:{receiver.port}", "--no-control", "--state-file", str(state)]
        with watching(first_id, "--no-display", *osc, env=env_for(sim), stdout=subprocess.DEVNULL) as first:
            await receiver.wait_for(lambda r: len(r.events("watch")) == 1)
            with watching(second_id, *osc, env=env_for(sim), stdout=subprocess.DEVNULL) as second:
                code = await asyncio.wait_for(asyncio.to_thread(second.wait), 15)
                assert second.stderr is not None
                refused = Run(code, "", second.stderr.read().decode())
            in_use = f"state file {state} is in use by another sidecar (pid {first.pid})"
            assert_one_line_error(refused, in_use)
            assert first.poll() is None
            assert [b["id"] for b in json.loads(state.read_text())["batches"]] == [first_id]
            first.kill()  # SIGKILL: its lock is left behind, stale
            first.wait()
        with watching("--no-display", *osc, env=env_for(sim), stdout=subprocess.DEVNULL) as third:
            await receiver.wait_for(lambda r: len(r.events("watch")) == 2)  # the first's batch, resumed
            code, err = await stopped(third)
    assert code == 0, err
    assert receiver.events("watch")[-1][1] == first_id


async def test_a_state_file_that_is_a_link_stays_a_link(receiver: OscReceiver, tmp_path: Path) -> None:
    (tmp_path / "shows").mkdir()
    target = tmp_path / "shows" / "tonight.json"
    link = tmp_path / "state.json"
    try:
        link.symlink_to(target)
    except OSError:
        pytest.skip("symbolic links cannot be made here (Windows without developer mode)")
    async with run_simulator(speed=0) as sim:
        batch_id = sim.add_batch(10)
        args = [batch_id, "--no-display", "--no-control", "--osc", f"127.0.0.1:{receiver.port}"]
        with watching(
            *args, "--state-file", str(link), env=env_for(sim), stdout=subprocess.DEVNULL
        ) as process:
            await receiver.wait_for(lambda r: len(r.events("watch")) == 1)
            code, err = await stopped(process)
    assert code == 0, err
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert [b["id"] for b in json.loads(target.read_text())["batches"]] == [batch_id]
    assert sorted(p.name for p in target.parent.iterdir()) == ["tonight.json"], (
        "no temporary or lock file left"
    )
