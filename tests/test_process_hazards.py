"""What the world does to a running sidecar process: the terminal closing (SIGHUP). Real
processes and the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.osc_receiver import OscReceiver, open_receiver
from tests.test_operational_errors import OWN_GROUP, STOP_SIGNAL
from tests.test_watch_command import env_for
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
        [sys.executable, "-m", "voyage_progress", "watch", *args],
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


# -- the terminal closing -------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform")
async def test_sighup_stops_the_sidecar_and_says_so(receiver: OscReceiver) -> None:
    async with run_simulator(speed=0) as sim:
        args = [sim.add_batch(10), "--no-display", "--no-control", "--osc", f"127.0.0.1:{receiver.port}"]
        with watching(*args, env=env_for(sim), stdout=subprocess.DEVNULL) as process:
            await receiver.wait_for(lambda r: r.last(f"{PREFIX}/batch/0/status") == "validating")
            code, err = await stopped(process, signal.SIGHUP)
    assert code == 0, err
    assert receiver.events("shutdown") and receiver.last(f"{PREFIX}/sidecar/running") == 0
