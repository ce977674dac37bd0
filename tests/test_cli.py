"""The ``voyage-progress`` command as a user runs it: a real process against the simulator."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import jsonl
from voyage_progress.simulator import Simulator


@dataclass
class Run:
    code: int
    out: str
    err: str


async def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Run:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("VOYAGE_")}
    full_env.update(env or {})
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "voyage_progress",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=full_env,
        cwd=cwd,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


def api(sim: Simulator) -> dict[str, str]:
    return {"VOYAGE_API_KEY": "cli-key", "VOYAGE_BASE_URL": sim.base_url}


def assert_one_line_error(run: Run, *words: str) -> None:
    assert run.code != 0
    assert "Traceback" not in run.err and "Errno" not in run.err
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("voyage-progress: error: "), run.err
    for word in words:
        assert word in lines[0]


async def test_submit_status_list_results(sim: Simulator, tmp_path: Path) -> None:
    texts = tmp_path / "gestures.txt"
    texts.write_text("\n".join(f"gesture {i}" for i in range(15)) + "\n")
    submitted = await cli("submit", str(texts), "--texts", "--metadata", "label=gestures", env=api(sim))
    assert submitted.code == 0, submitted.err
    batch_id = submitted.out.strip()
    assert batch_id in sim.store.batches

    status = await cli("status", batch_id, env=api(sim))
    assert status.code == 0 and status.out.startswith(f"{batch_id} validating 0/0 (0.0%)")

    sim.advance(3600)
    as_json = json.loads((await cli("status", batch_id, "--json", env=api(sim))).out)
    assert as_json["status"] == "completed" and as_json["request_counts"]["completed"] == 15

    listing = await cli("list", env=api(sim))
    assert listing.code == 0 and batch_id in listing.out and "gestures" in listing.out

    results = await cli("results", batch_id, cwd=tmp_path, env=api(sim))
    assert results.code == 0 and "output: 15 lines" in results.out
    lines = (tmp_path / f"{batch_id}_output.jsonl").read_text().splitlines()
    assert len(lines) == 15 and json.loads(lines[0])["batch_id"] == batch_id


async def test_submit_jsonl_and_wait(sim: Simulator, tmp_path: Path) -> None:
    sim.clock.set_speed(3000)
    path = tmp_path / "corpus.jsonl"
    path.write_bytes(jsonl(40))
    run = await cli(
        "submit",
        str(path),
        "--wait",
        "--poll-interval",
        "0.05",
        "--metadata",
        "sim_scenario=quick",
        env=api(sim),
    )
    assert run.code == 0, run.err
    assert "completed 40/40 (100.0%)" in run.err  # progress lines go to stderr, the id to stdout


async def test_cancel(sim: Simulator) -> None:
    batch_id = sim.add_batch(10)
    run = await cli("cancel", batch_id, env=api(sim))
    assert run.code == 0 and run.out.strip() == f"{batch_id} cancelling"
    again = await cli("cancel", batch_id, env=api(sim))
    assert_one_line_error(again, "400", "cannot be cancelled")


async def test_list_active_only(sim: Simulator) -> None:
    running = sim.add_batch(10)
    done = sim.add_batch(5, "quick")
    sim.advance(200)
    run = await cli("list", "--active", env=api(sim))
    assert running in run.out and done not in run.out


async def test_missing_key(sim: Simulator) -> None:
    run = await cli("status", "batch-x", env={"VOYAGE_BASE_URL": sim.base_url})
    assert_one_line_error(run, "no API key", "VOYAGE_API_KEY")


async def test_unknown_batch_among_others(sim: Simulator) -> None:
    known = sim.add_batch(10)
    run = await cli("status", "batch-unknown", known, env=api(sim))
    assert run.code == 1 and "no batch batch-unknown" in run.err and "Traceback" not in run.err
    assert run.out.startswith(known)  # the others are still shown


async def test_unreachable_server() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    run = await cli(
        "list",
        "--timeout",
        "2",
        env={"VOYAGE_API_KEY": "k", "VOYAGE_BASE_URL": f"http://127.0.0.1:{port}/v1"},
    )
    assert_one_line_error(run, "cannot reach", str(port))


async def test_invalid_key() -> None:
    from voyage_progress.simulator import run_simulator

    async with run_simulator(speed=0, api_key="good") as sim:
        run = await cli("list", env={"VOYAGE_API_KEY": "bad", "VOYAGE_BASE_URL": sim.base_url})
    assert_one_line_error(run, "401", "invalid")


async def test_results_of_a_running_batch(sim: Simulator) -> None:
    run = await cli("results", sim.add_batch(10), env=api(sim))
    assert_one_line_error(run, "validating", "once it has ended")


async def test_simulate_port_in_use() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        run = await cli("simulate", "--port", str(port))
    assert_one_line_error(run, f"port {port} on 127.0.0.1 is in use", "--port")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["simulate", "--faults", "teapot=1"], "bad fault 'teapot=1'"),
        (["simulate", "--scenario", "nope"], "unknown scenario 'nope'"),
        (["submit", "missing.jsonl"], "no such file: missing.jsonl"),
    ],
)
async def test_bad_input_is_one_line(args: list[str], words: str) -> None:
    run = await cli(*args, env={"VOYAGE_API_KEY": "k", "VOYAGE_BASE_URL": "http://127.0.0.1:9/v1"})
    assert_one_line_error(run, words)


async def test_usage_errors_exit_2() -> None:
    run = await cli("list", "--limit", "500")
    assert run.code == 2 and "between 1 and 100" in run.err
    assert (await cli()).code == 2


async def test_simulate_serves_until_interrupted() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "voyage_progress",
        "simulate",
        "--port",
        "0",
        "--speed",
        "100",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    first = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
    base_url = first.split()[3]
    assert first.startswith("Voyage simulator at http://127.0.0.1:") and base_url.endswith("/v1")
    run = await cli("list", env={"VOYAGE_API_KEY": "k", "VOYAGE_BASE_URL": base_url})
    assert run.code == 0 and run.out.strip() == "no batches"
    process.terminate()
    await asyncio.wait_for(process.wait(), 20)
