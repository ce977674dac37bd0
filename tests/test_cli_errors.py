"""Every mistake ends in one line on stderr that names the option, file, batch or URL at fault,
and a non-zero exit: the real command, as a process, against the simulator."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from tests.conftest import jsonl
from tests.osc_receiver import OscReceiver, open_receiver
from tests.test_cli import api, assert_one_line_error, cli
from tests.test_watch_command import env_for, process
from voyage_progress.simulator import Simulator

QUIET_WATCH = ["--no-control", "--osc", "127.0.0.1:9", "--no-display"]


async def test_a_bad_label_names_label_not_metadata() -> None:
    run = await cli("watch", "batch-x", "--label", "gestures", *QUIET_WATCH, env=env_for())
    assert_one_line_error(run, "--label 'gestures': expected BATCH_ID=LABEL")
    assert "--metadata" not in run.err


async def test_bad_metadata_names_metadata(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_bytes(jsonl(2))
    run = await cli("submit", str(path), "--metadata", "label", env=env_for())
    assert_one_line_error(run, "--metadata 'label': expected KEY=VALUE")


@pytest.mark.parametrize(
    "args",
    [["status", "batch-x"], ["list"], ["cancel", "batch-x"], ["results", "batch-x"], ["watch", "batch-x"]],
)
async def test_a_missing_key_says_how_the_command_line_takes_one(args: list[str]) -> None:
    run = await cli(*args, *(QUIET_WATCH if args[0] == "watch" else []), env=env_for())
    assert_one_line_error(run, "no API key for Voyage: set VOYAGE_API_KEY")
    assert "api_key" not in run.err


async def test_a_missing_key_for_submit_after_the_file_checks_out(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_bytes(jsonl(2))
    run = await cli("submit", str(path), env=env_for())
    assert_one_line_error(run, "no API key for Voyage: set VOYAGE_API_KEY")
    assert "api_key" not in run.err


@pytest.mark.parametrize("command", ["status", "cancel", "results"])
async def test_an_unknown_batch_is_said_the_same_way_everywhere(sim: Simulator, command: str) -> None:
    run = await cli(command, "batch-xyz", env=api(sim))
    assert run.code == 1 and run.err == "voyage-progress: error: no batch batch-xyz\n"


@pytest.mark.parametrize(
    "args",
    [
        ["status", "batch-xyz"],
        ["cancel", "batch-xyz"],
        ["results", "batch-xyz"],
        ["list"],
        ["submit", "CORPUS"],
        ["watch", "batch-xyz", *QUIET_WATCH],
    ],
)
async def test_a_base_url_without_v1_gets_a_hint_not_no_batch(
    sim: Simulator, tmp_path: Path, args: list[str]
) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_bytes(jsonl(2))
    without_v1 = sim.base_url.removesuffix("/v1")
    env = {"VOYAGE_API_KEY": "k", "VOYAGE_BASE_URL": without_v1}
    run = await cli(*[str(corpus) if a == "CORPUS" else a for a in args], env=env)
    assert_one_line_error(run, f"{without_v1} answers 404 Not Found", f"did you mean {without_v1}/v1?")
    assert "no batch" not in run.err


async def test_polling_intervals_that_contradict_each_other_name_the_options() -> None:
    run = await cli("watch", "batch-x", "--max-interval", "0.5", *QUIET_WATCH, env=env_for())
    assert_one_line_error(run, "--min-interval (1) <= --poll-interval (5) <= --max-interval (0.5)")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["list", "--base-url", "http://no-such-host.invalid/v1", "--timeout", "2"], "cannot reach"),
        (["list", "--base-url", "localhost:8765"], "(from --base-url or VOYAGE_BASE_URL)"),
        (["watch", "--multicast-ttl", "300"], "--multicast-ttl: '300' is not between 0 and 255"),
    ],
)
async def test_system_errors_and_option_values_are_said_without_error_numbers(
    args: list[str], words: str
) -> None:
    run = await cli(*args, env={"VOYAGE_API_KEY": "k"})
    assert run.code != 0 and len(run.err.strip().splitlines()) == 1 and words in run.err
    assert "Errno" not in run.err and "Traceback" not in run.err


# -- watch: what the README promises ------------------------------------------------------------
# (a control port in use: test_watch_command and test_operational_errors; a server that cannot be
# reached at start, which watch keeps retrying: test_an_unreachable_api_is_retried_and_reported)


async def test_watch_with_none_of_its_batches_existing_is_one_line(sim: Simulator) -> None:
    run = await cli("watch", "batch-xyz", "batch-abc", *QUIET_WATCH, env=env_for(sim))
    assert_one_line_error(run, "no batch batch-xyz, batch-abc: nothing to watch")
    assert run.code == 1


async def test_watch_with_an_invalid_key_is_one_line() -> None:
    from voyage_progress.simulator import run_simulator

    async with run_simulator(speed=0, api_key="right") as sim:
        run = await cli("watch", sim.add_batch(3), *QUIET_WATCH, env=env_for(sim, key="wrong"))
    assert_one_line_error(run, "the API refused the key", "401")


async def test_watch_with_all_active_keeps_watching_past_an_unknown_batch(sim: Simulator) -> None:
    receiver: OscReceiver = await open_receiver()
    try:
        args = ["watch", "batch-xyz", "--all-active", "--no-control", "--osc", f"127.0.0.1:{receiver.port}"]
        async with process(*args, "--no-display", env=env_for(sim)) as proc:
            await receiver.wait_for(
                lambda r: len(set(r.values("/voyage/sidecar/heartbeat"))) >= 2, timeout=20
            )
            assert proc.returncode is None
            proc.send_signal(signal.SIGINT)
            await asyncio.wait_for(proc.wait(), 10)
    finally:
        receiver.close()
    assert proc.returncode == 0
