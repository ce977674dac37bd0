"""Each example runs as a user runs it: no API key, so against its own simulator, and as the
README says, from the clone with any Python; and when its sidecar or its simulator fails, it
ends with one line, never a traceback or a wait without end."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.doc_blocks import README, ROOT, shell_blocks
from tests.osc_receiver import open_receiver
from tests.test_watch_command import free_udp_port

EXAMPLES = ROOT / "examples"
ALL_EXAMPLES = sorted(p.name for p in EXAMPLES.glob("[!_]*.py"))
#: What each example prints last when it succeeds.
SUCCESS = {
    "gesture_library.py": "Loaded 15 gestures, 1024 dimensions each.",
    "archetype_training.py": "done: completed",
    "session_recording.py": "Session recording embedded:",
    "openai_sdk.py": "Embedded 12 moods",
}

#: Faults planted in an example's process before it runs, by what the user would see fail.
BREAKAGES = {
    "the sidecar cannot start": """
from voyage_progress.outputs.osc import _sender
def cannot_pause(transport):
    raise NotImplementedError  # what Debian 12's Python 3.11.2 did to every OSC socket
_sender.Link._stop_reading = staticmethod(cannot_pause)
""",
    "the simulator cannot start": """
from voyage_progress.simulator import _server
def no_socket(host, port):
    raise PermissionError(13, "Permission denied")
_server._bind = no_socket
""",
    "the simulator fails once the batch exists": """
import httpx
from voyage_progress import VoyageBatchClient
get_batch = VoyageBatchClient.get_batch
async def fail_from_the_first_poll(self, *args, **kwargs):
    async with httpx.AsyncClient(trust_env=False) as http:
        await http.post(self.base_url.removesuffix("/v1") + "/_sim/faults", content="503=1")
    return await get_batch(self, *args, **kwargs)
VoyageBatchClient.get_batch = fail_from_the_first_poll
""",
}
RUN_AS_MAIN = """
import runpy, sys
sys.argv = sys.argv[1:]
sys.path.insert(0, {examples!r})
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def example_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOYAGE_")}
    env["VOYAGE_SIM_SPEED"] = "3000"
    return env


def run_example(name: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        env=example_env(),
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def run_broken_example(name: str, breakage: str, *args: str) -> subprocess.CompletedProcess[str]:
    code = BREAKAGES[breakage] + RUN_AS_MAIN.format(examples=str(EXAMPLES))
    return subprocess.run(
        [sys.executable, "-c", code, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        env=example_env(),
        timeout=30,  # a hang fails here
        check=False,
    )


def assert_one_line_failure(result: subprocess.CompletedProcess[str], name: str, *words: str) -> None:
    """Exit code 1 and the failure in the last line of stderr, the only one that says so (what
    came before is the example's own output: archetype_training.py logs to stderr)."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(f"{name}: error: "), result.stderr
    assert sum(": error: " in line for line in lines) == 1, result.stderr
    for word in words:
        assert word in lines[-1]


def test_gesture_library() -> None:
    out = run_example("gesture_library.py")
    lines = re.findall(r"Loading gestures: (\d+)/15 \((\d+)%\)", out)
    assert lines[-1] == ("15", "100")
    assert [int(done) for done, _ in lines] == sorted(int(done) for done, _ in lines)
    assert "Loaded 15 gestures, 1024 dimensions each." in out


def test_archetype_training_logs_every_ten_percent() -> None:
    out = run_example("archetype_training.py")
    assert re.findall(r"training corpus +(\d+)% embedded, ETA", out) == [str(p) for p in range(10, 101, 10)]
    assert "done: completed" in out


async def test_session_recording_sends_progress_and_the_completion_over_osc() -> None:
    receiver = await open_receiver()
    try:
        out = await asyncio.to_thread(run_example, "session_recording.py", f"127.0.0.1:{receiver.port}")
        await receiver.wait_for(lambda r: bool(r.events("complete")), timeout=5)
    finally:
        receiver.close()
    assert "2000 requests" in out and "session completed 2000/2000 (100.0%)" in out
    assert re.search(r"Session recording embedded: \d+ requests done, \d+ failed\.", out)
    assert receiver.last("/voyage/batch/0/label") == "session"
    assert receiver.last("/voyage/batch/0/is_complete") == 1
    percents = receiver.values("/voyage/batch/0/percent")
    assert len(percents) > 3 and percents == sorted(percents)


def test_openai_sdk_creates_with_request_params_and_reads_the_result() -> None:
    out = run_example("openai_sdk.py")
    batch_id = re.search(r"Created (batch-\w+): validating", out)
    assert batch_id, out
    assert re.search(r"Uploaded moods\.jsonl as file-\w+", out)
    percents = [int(p) for p in re.findall(r"moods \d+/\d+ \((\d+)%\)", out)]
    assert percents[-1] == 100 and percents == sorted(percents)
    assert f"Retrieved {batch_id[1]}: completed, among the 10 newest batches" in out
    assert "Embedded 12 moods, 512 dimensions each." in out  # the request_params reached the batch


def test_the_sidecar_failing_ends_the_session_recording_with_one_line() -> None:
    result = run_broken_example("session_recording.py", "the sidecar cannot start", "127.0.0.1:9")
    assert_one_line_failure(result, "session_recording.py", "the sidecar stopped", "NotImplementedError")
    assert "Session recording embedded" not in result.stdout


@pytest.mark.parametrize("name", ALL_EXAMPLES)
def test_a_simulator_that_cannot_start_ends_the_example_with_one_line(name: str) -> None:
    result = run_broken_example(name, "the simulator cannot start", *example_args(name))
    assert_one_line_failure(result, name, "the simulator did not start: Permission denied")


@pytest.mark.parametrize("name", ALL_EXAMPLES)
def test_a_simulator_failing_midway_ends_the_example_with_one_line(name: str) -> None:
    result = run_broken_example(name, "the simulator fails once the batch exists", *example_args(name))
    assert_one_line_failure(result, name, "503")


def test_a_bad_destination_is_one_line() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "session_recording.py"), "7450"],
        capture_output=True,
        text=True,
        env=example_env(),
        timeout=30,
        check=False,
    )
    assert_one_line_failure(result, "session_recording.py", "'7450' is not HOST:PORT")


def example_args(name: str) -> list[str]:
    """Where the session recording sends OSC: a port nothing listens on (UDP needs no one)."""
    return ["127.0.0.1:9"] if name == "session_recording.py" else []


# -- as the README runs them -------------------------------------------------------------------


def readme_commands() -> list[list[str]]:
    return [argv for block in shell_blocks(README, "Examples") for argv in block.commands()]


def test_the_readme_runs_every_example_the_same_way() -> None:
    commands = readme_commands()
    assert sorted(Path(argv[1]).name for argv in commands) == ALL_EXAMPLES == sorted(SUCCESS)
    assert all(argv[:1] == ["python3"] and argv[1].startswith("examples/") for argv in commands)


class _WouldInstall(Exception):
    pass


def base_python_without_the_package(tmp_path: Path) -> str:
    """The Python this venv was made from, as the `python3` of a clone where nothing is
    activated; skips where it cannot stand for one."""
    python = getattr(sys, "_base_executable", "")
    if sys.prefix == sys.base_prefix or not python:
        pytest.skip("the tests do not run in a virtual environment")
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('voyage_progress') is not None)"
    if subprocess.run([python, "-c", probe], cwd=tmp_path, check=False).returncode:
        pytest.skip(f"{python} has voyage-progress installed: nothing to hand over")
    return python


def bootstrap_uses_this_venv_as_it_is(monkeypatch: pytest.MonkeyPatch) -> bool:
    """Whether scripts/_bootstrap.py, pointed at this venv, would use it without installing
    anything (true when scripts/test.py made it, as in CI): the test must not reach PyPI."""
    spec = importlib.util.spec_from_file_location("_bootstrap_probe", ROOT / "scripts" / "_bootstrap.py")
    assert spec and spec.loader
    bootstrap = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bootstrap)

    def would_install(*args: object) -> None:
        raise _WouldInstall

    monkeypatch.setattr(bootstrap, "_call", would_install)
    monkeypatch.setattr(bootstrap, "_say", lambda message: None)
    monkeypatch.setenv("VOYAGE_PROGRESS_VENV", sys.prefix)
    try:
        bootstrap.ensure_venv(None)
    except _WouldInstall:
        return False
    return True


@pytest.mark.parametrize("argv", readme_commands(), ids=lambda argv: Path(argv[1]).name)
def test_the_readme_command_works_with_a_python_that_lacks_voyage_progress(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python3 examples/NAME.py` in the clone, nothing activated: the example hands itself
    to the clone's venv (here the one the tests run in) and runs there."""
    python = base_python_without_the_package(tmp_path)
    if not bootstrap_uses_this_venv_as_it_is(monkeypatch):
        pytest.skip("this venv was not made by scripts/test.py: the hand-over would install into it")
    name = Path(argv[1]).name
    osc = [f"127.0.0.1:{free_udp_port()}"] if name == "session_recording.py" else []  # not 7450 here
    env = example_env() | {"VOYAGE_PROGRESS_VENV": sys.prefix}
    env["PATH"] = os.pathsep.join(
        p for p in env["PATH"].split(os.pathsep) if Path(p) != Path(sys.executable).parent
    )
    result = subprocess.run(
        [python, *argv[1:], *osc], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert SUCCESS[name] in result.stdout + result.stderr
