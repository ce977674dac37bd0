"""``voyage-progress watch`` and ``demo`` as processes, received by a real socket, by liblo's
oscdump and by headless Pure Data."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sys
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.osc_receiver import OscReceiver, open_receiver, require_tool
from tests.test_cli import assert_one_line_error, cli
from voyage_progress.outputs.osc import NAMESPACE
from voyage_progress.simulator import Simulator, run_simulator

PD_PATCH = Path(__file__).parent.parent / "examples" / "puredata" / "voyage_progress.pd"


@pytest.fixture
async def receiver() -> AsyncIterator[OscReceiver]:
    r = await open_receiver()
    yield r
    r.close()


def env_for(sim: Simulator | None = None, key: str = "k") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOYAGE_", "OPENAI_", "ANTHROPIC_"))}
    if sim is not None:
        env.update(VOYAGE_API_KEY=key, VOYAGE_BASE_URL=sim.base_url)
    return env


@contextlib.asynccontextmanager
async def process(*args: str, env: dict[str, str]) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "voyage_progress",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_the_demo_stream(receiver: OscReceiver) -> None:
    run = await asyncio.wait_for(
        cli("demo", "--osc", f"127.0.0.1:{receiver.port}", "--speed", "400", "--no-control", env=env_for()),
        120,
    )
    assert run.code == 0, run.err
    await asyncio.sleep(0.2)  # the last datagrams

    seen: dict[str, str] = {}
    for m in receiver.messages:
        seen[re.sub(r"/batch/\d+/", "/batch/{slot}/", m.address)] = m.types
    for group, addresses in NAMESPACE.items():
        for address in addresses if group != "control" else []:
            assert seen.get("/voyage" + address.path) == address.types, address.path
    slots = {e[2]: e[1] for e in receiver.events("watch")}
    assert sorted(slots) == [0, 1, 2, 3]
    for slot in slots:
        percents = [float(p) for p in receiver.values(f"/voyage/batch/{slot}/percent")]  # type: ignore[arg-type]
        assert percents == sorted(percents), f"slot {slot} went backwards"
    ends = defaultdict(list)
    for kind, batch_id, _slot in receiver.events():  # type: ignore[misc]
        ends[kind].append(batch_id)
    assert len(ends["complete"]) == 3 and len(set(ends["complete"])) == 3
    assert len(ends["failed"]) == 1
    beats = receiver.values("/voyage/sidecar/heartbeat")
    assert len(set(beats)) >= 2 and beats == sorted(beats)
    assert ends["shutdown"] == [""]


async def test_a_control_port_in_use_is_one_line(receiver: OscReceiver) -> None:
    async with run_simulator(speed=0) as sim:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
            busy.bind(("127.0.0.1", 0))
            port = busy.getsockname()[1]
            run = await cli(
                "watch",
                sim.add_batch(3),
                "--control-port",
                str(port),
                "--osc",
                f"127.0.0.1:{receiver.port}",
                env=env_for(sim),
            )
    assert_one_line_error(run, f"127.0.0.1:{port}", "in use")


@pytest.mark.parametrize("value", ["foo", "127.0.0.1", "127.0.0.1:99999", "host name:7000"])
async def test_a_malformed_osc_destination_is_one_line(value: str) -> None:
    run = await cli("watch", "batch-x", "--osc", value, env=env_for())
    assert run.code == 2 and len(run.err.strip().splitlines()) == 1 and "malformed --osc" in run.err


async def test_an_invalid_key_is_one_line() -> None:
    async with run_simulator(speed=0, api_key="right") as sim:
        run = await cli(
            "watch",
            "batch-x",
            "--no-control",
            "--osc",
            f"127.0.0.1:{free_udp_port()}",
            env=env_for(sim, key="wrong"),
        )
    assert_one_line_error(run, "refused the key", "401")


async def test_an_unknown_batch_does_not_stop_the_others(receiver: OscReceiver) -> None:
    async with run_simulator(speed=500) as sim:
        good = sim.add_batch(20, "quick")
        args = [
            "watch",
            "batch-unknown",
            good,
            "--osc",
            f"127.0.0.1:{receiver.port}",
            "--no-control",
            "--poll-interval",
            "0.1",
            "--min-interval",
            "0.05",
        ]
        async with process(*args, env=env_for(sim)) as proc:
            await receiver.wait_for(
                lambda r: bool(r.events("complete")) and bool(r.events("error")), timeout=30
            )
            assert proc.returncode is None  # still watching
            proc.send_signal(signal.SIGINT)
            out, _ = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 0
    assert ("error", "batch-unknown", 0) in receiver.events("error")
    assert receiver.events("complete") == [("complete", good, 1)]
    assert receiver.last("/voyage/batch/0/error") == "batch not found"
    assert "batch not found" in out.decode()


async def test_an_unreachable_api_is_retried_and_reported(receiver: OscReceiver) -> None:
    env = env_for()
    env.update(VOYAGE_API_KEY="k", VOYAGE_BASE_URL=f"http://127.0.0.1:{free_udp_port()}/v1")
    args = [
        "watch",
        "batch-x",
        "--osc",
        f"127.0.0.1:{receiver.port}",
        "--no-control",
        "--poll-interval",
        "0.2",
        "--min-interval",
        "0.1",
        "--max-interval",
        "0.5",
        "--timeout",
        "1",
    ]
    async with process(*args, env=env) as proc:
        await receiver.wait_for(lambda r: len(set(r.values("/voyage/sidecar/heartbeat"))) >= 3, timeout=20)
        assert proc.returncode is None
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 0, err.decode()
    assert receiver.last("/voyage/sidecar/api_ok") == 0
    assert str(receiver.last("/voyage/sidecar/message")).startswith("API unreachable")
    assert "API unreachable" in out.decode() and "Traceback" not in err.decode()


async def test_oscdump_reads_the_sidecar() -> None:
    oscdump = require_tool("oscdump")
    port = free_udp_port()
    dump = await asyncio.create_subprocess_exec(
        oscdump, str(port), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        await asyncio.sleep(0.3)
        run = await asyncio.wait_for(
            cli("demo", "--osc", f"127.0.0.1:{port}", "--speed", "600", "--no-control", env=env_for()), 120
        )
        assert run.code == 0, run.err
        await asyncio.sleep(0.3)
    finally:
        dump.terminate()
        output = (await dump.communicate())[0].decode()
    lines = output.splitlines()
    assert any(re.search(r"/voyage/batch/0/percent f 100\.0+", line) for line in lines), output[-2000:]
    assert any(re.search(r'/voyage/batch/\d+/status s "completed"', line) for line in lines)
    assert any(re.search(r'/voyage/event ssi "complete" "batch-\w+" \d', line) for line in lines)
    assert any(re.search(r"/voyage/sidecar/heartbeat i \d+", line) for line in lines)
    assert any(re.search(r"/voyage/sidecar/epoch i \d+", line) for line in lines)


async def test_pure_data_shows_progress_eta_and_status() -> None:
    pd = require_tool("pd")
    port = free_udp_port()
    patch = await asyncio.create_subprocess_exec(
        pd,
        "-nogui",
        "-stderr",
        "-noaudio",
        "-nomidi",
        "-send",
        f"vp-port {port}",
        "-open",
        str(PD_PATCH),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        await asyncio.sleep(1.0)  # Pd opens the patch and listens
        run = await asyncio.wait_for(
            cli("demo", "--osc", f"127.0.0.1:{port}", "--speed", "600", "--no-control", env=env_for()), 120
        )
        assert run.code == 0, run.err
        await asyncio.sleep(0.5)
    finally:
        patch.terminate()
        printed = (await patch.communicate())[0].decode()
    percents = [float(v) for v in re.findall(r"vp-percent: ([\d.]+)", printed)]
    assert percents and percents == sorted(percents) and percents[-1] == 100, printed[-2000:]
    assert re.findall(r"vp-eta: (-?[\d.]+)", printed)
    assert "vp-status: completed" in printed and "vp-label: corpus" in printed
    assert re.search(r"vp-heartbeat: \d+", printed)
    assert re.search(r"vp-event: complete batch-\w+ 0", printed)


async def test_the_demo_forever_keeps_creating_batches(receiver: OscReceiver) -> None:
    args = ["demo", "--forever", "--osc", f"127.0.0.1:{receiver.port}", "--speed", "600", "--no-control"]
    async with process(*args, env=env_for()) as proc:
        await receiver.wait_for(lambda r: len(r.events("watch")) >= 7, timeout=60)
        assert proc.returncode is None
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 0
    await receiver.wait_for(lambda r: bool(r.events("shutdown")), timeout=5)


async def test_the_namespace_command() -> None:
    from voyage_progress.outputs.osc._namespace import render_json

    markdown = await cli("namespace")
    assert (
        markdown.code == 0 and markdown.out == (Path(__file__).parent.parent / "docs" / "OSC.md").read_text()
    )
    as_json = await cli("namespace", "--format", "json", "--prefix", "/td")
    assert as_json.out == render_json("/td")
