"""The documentation's commands, as a user pastes them.

The README's command-line section is read from README.md and run in order, each command a
process of the venv's ``voyage-progress``, against the real simulator it starts. The test only
fills in what a user fills in (BATCH_ID: the id the last ``submit`` printed) and what a shared
machine needs (free ports instead of the defaults), and drives the simulator's clock itself so
that nothing waits for real minutes: the simulator runs at speed 0 and moves only while a
command waits for a batch to progress. Every other command block of the user documentation is
checked to be one that a shell runs as it is written; the README's watch of batches of every
provider is run too, against a simulator per provider.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.doc_blocks import PAGES, README, ROOT, Block, shell_blocks
from tests.osc_receiver import OscReceiver, open_receiver
from tests.test_operational_errors import OWN_GROUP, STOP_SIGNAL, Finished, free_tcp_port
from tests.test_watch_command import free_udp_port
from voyage_progress import _defaults as defaults
from voyage_progress.cli import build_parser
from voyage_progress.providers import provider_of_id
from voyage_progress.simulator import Simulator, run_simulator

COMMAND_LINE = "The command line"
PROGRAM = "voyage-progress"
#: A placeholder a user replaces, and what stands for it where the id does not matter.
PLACEHOLDER = re.compile(r"\b(?:OTHER_)?BATCH_ID\b")
SOME_BATCH_ID = "batch-7vT5tYexample"
#: Simulated seconds the clock moves per step while a command waits for progress.
CLOCK_STEP = 60
FAST_POLLING = ["--poll-interval", "0.05", "--min-interval", "0.05", "--max-interval", "0.5"]
IN_FLIGHT = {"validating", "in_progress", "finalizing", "cancelling"}


def venv_bin() -> Path:
    return Path(sys.executable).parent


def user_env() -> dict[str, str]:
    """A fresh terminal with the venv activated: nothing of ours set, its bin first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOYAGE_")}
    env["PATH"] = str(venv_bin()) + os.pathsep + env.get("PATH", "")
    return env


# -- every command block ---------------------------------------------------------------------


def every_shell_block() -> list[Block]:
    return [block for page in PAGES for block in shell_blocks(page)]


@pytest.mark.parametrize("block", every_shell_block(), ids=lambda b: b.where)
def test_command_blocks_hold_commands_a_shell_runs_as_written(block: Block) -> None:
    """No comments (zsh, macOS's shell, passes a pasted ``# ...`` on as arguments), no usage
    brackets, and each ``voyage-progress`` line one that the command accepts."""
    for line in block.lines:
        assert shlex.split(line, comments=True) == shlex.split(line), f"{block.where}: a comment: {line}"
        argv = shlex.split(line)
        if not argv:
            continue
        if argv[0] == PROGRAM:
            parsed = [PLACEHOLDER.sub(SOME_BATCH_ID, arg) for arg in argv[1:]]
            try:
                build_parser().parse_args(parsed)
            except SystemExit as exc:
                assert exc.code == 0, f"{block.where}: {PROGRAM} refuses: {line}"
        elif argv[0] == "python3" or argv[0].endswith("/bin/python"):
            if argv[1] == "-m":
                assert argv[2] in ("venv", "pip"), f"{block.where}: unchecked: {line}"
            else:
                assert (ROOT / argv[1]).is_file(), f"{block.where}: no such script: {argv[1]}"
        elif argv[0] == "export":
            assert all(re.fullmatch(r"[A-Z_]+=\S+", arg) for arg in argv[1:]), f"{block.where}: {line}"
        else:
            assert argv[0] == "." and argv[1].endswith("/bin/activate"), f"{block.where}: unchecked: {line}"


@pytest.mark.skipif(sys.platform == "win32" or not shutil.which("bash"), reason="a POSIX shell")
@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="tests run in a virtual environment")
def test_the_venv_block_activates_the_quick_starts_venv(tmp_path: Path) -> None:
    """Pasted into a terminal in the clone, the `.venv` block puts `voyage-progress` on PATH."""
    (block,) = [b for b in shell_blocks(README) if any(".venv/bin/activate" in line for line in b.lines)]
    (tmp_path / ".venv").symlink_to(sys.prefix, target_is_directory=True)  # the venv made by scripts/test.py
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if Path(p) != venv_bin())
    script = "set -e\n" + "\n".join(block.lines) + "\n"
    result = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"voyage-progress \d+\.\d+\.\d+\S*\n", result.stdout), result.stdout


# -- the command line, run -------------------------------------------------------------------


def walkthrough() -> list[list[str]]:
    return [argv for block in shell_blocks(README, COMMAND_LINE) for argv in block.commands()]


def test_the_walkthrough_runs_every_command() -> None:
    (commands,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    assert {argv[1] for argv in walkthrough() if argv[0] == PROGRAM} == set(commands.choices)


@dataclass
class Session:
    """The user's terminals: the environment, the simulator, and what the commands printed."""

    cwd: Path
    receiver: OscReceiver
    env: dict[str, str] = field(default_factory=user_env)
    base_url: str = ""
    sim_export: str = ""
    submitted: list[str] = field(default_factory=list)
    inputs: dict[str, int] = field(default_factory=dict)  # batch id -> requests
    processes: list[asyncio.subprocess.Process] = field(default_factory=list)

    @property
    def batch_id(self) -> str:
        assert self.submitted, "BATCH_ID before any submit"
        return self.submitted[-1]

    def fill_in(self, argv: list[str]) -> list[str]:
        """BATCH_ID as a user fills it in, and this simulator's port for the default one."""
        default = f"127.0.0.1:{defaults.DEFAULT_SIMULATOR_PORT}/"
        here = self.base_url.split("/")[2] + "/"
        return [PLACEHOLDER.sub(lambda _: self.batch_id, arg).replace(default, here) for arg in argv]

    async def start(self, argv: list[str]) -> asyncio.subprocess.Process:
        program = shutil.which(argv[0], path=self.env["PATH"])
        assert program and Path(program).parent == venv_bin(), f"{argv[0]} is not the venv's: {program}"
        process = await asyncio.create_subprocess_exec(
            program,
            *argv[1:],
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env,
            cwd=self.cwd,
            creationflags=OWN_GROUP,
        )
        self.processes.append(process)
        return process

    async def run(self, argv: list[str], *, ticking: bool = False) -> Finished:
        process = await self.start(argv)
        async with self.clock_moving(ticking):
            out, err = await asyncio.wait_for(process.communicate(), 20)
        assert process.returncode is not None
        return Finished(process.returncode, out.decode(), err.decode())

    @contextlib.asynccontextmanager
    async def clock_moving(self, moving: bool = True) -> AsyncIterator[None]:
        """Simulated time passes while the block runs, and stands still otherwise."""
        if not moving:
            yield
            return

        async def tick() -> None:
            async with httpx.AsyncClient(trust_env=False) as http:
                while True:
                    await http.post(self.base_url.removesuffix("/v1") + f"/_sim/advance?seconds={CLOCK_STEP}")
                    await asyncio.sleep(0.05)

        ticking = asyncio.create_task(tick())
        try:
            yield
        finally:
            ticking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticking

    def osc_options(self) -> list[str]:
        """The sidecar's defaults (OSC to 7450, control on 7451) taken elsewhere on a shared machine."""
        return ["--osc", f"127.0.0.1:{self.receiver.port}", "--control-port", str(free_udp_port())]


Step = Callable[[Session, list[str]], Awaitable[None]]


async def simulate(session: Session, argv: list[str]) -> None:
    speed = argv.index("--speed") + 1
    argv = [*argv[:speed], "0", *argv[speed + 1 :], "--port", str(free_tcp_port())]
    process = await session.start(argv)
    assert process.stdout is not None
    banner = [(await asyncio.wait_for(process.stdout.readline(), 20)).decode() for _ in range(2)]
    assert banner[0].startswith("Voyage simulator at http://127.0.0.1:"), banner
    session.base_url = banner[0].split()[3]
    session.sim_export = banner[1].strip()


async def export(session: Session, argv: list[str]) -> None:
    assert session.base_url, "export before the simulator"
    filled = session.fill_in(argv)
    assert shlex.join(filled) == session.sim_export, "the README's export is the simulator's own"
    session.env.update(arg.split("=", 1) for arg in filled[1:])  # type: ignore[misc]


async def submit(session: Session, argv: list[str]) -> None:
    wait = "--wait" in argv
    run = await session.run(argv + (["--poll-interval", "0.05"] if wait else []), ticking=wait)
    assert run.code == 0, run.err
    assert re.fullmatch(r"batch-\w+\n", run.out), run.out
    batch_id = run.out.strip()
    source = (session.cwd / argv[2]).read_text(encoding="utf-8")
    requests = len([line for line in source.splitlines() if line.strip()])
    if wait:
        assert f"completed {requests}/{requests} (100.0%)" in run.err.replace("\r", "\n"), run.err
    session.submitted.append(batch_id)
    session.inputs[batch_id] = requests


async def status(session: Session, argv: list[str]) -> None:
    run = await session.run(session.fill_in(argv))
    assert run.code == 0, run.err
    requests = session.inputs[session.batch_id]
    assert run.out.startswith(f"{session.batch_id} completed {requests}/{requests} (100.0%)"), run.out


async def results(session: Session, argv: list[str]) -> None:
    run = await session.run(session.fill_in(argv))
    assert run.code == 0, run.err
    output = session.cwd / f"{session.batch_id}_output.jsonl"
    assert f"-> {output.name}" in run.out, run.out
    requests = session.inputs[session.batch_id]
    embedded = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert len(embedded) + _lines(session.cwd / f"{session.batch_id}_errors.jsonl") == requests
    assert all(len(r["response"]["body"]["data"][0]["embedding"]) == 1024 for r in embedded)


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines()) if path.exists() else 0


async def cancel(session: Session, argv: list[str]) -> None:
    run = await session.run(session.fill_in(argv))
    assert run.code == 0, run.err
    assert run.out == f"{session.batch_id} cancelling\n"


async def listing(session: Session, argv: list[str]) -> None:
    run = await session.run(argv)
    assert run.code == 0, run.err
    shown = {line.split()[0]: line.split()[1] for line in run.out.splitlines()}
    if "--active" in argv:
        assert shown and set(shown.values()) <= IN_FLIGHT and session.batch_id in shown, run.out
    else:
        assert set(shown) == set(session.submitted), run.out


async def namespace(session: Session, argv: list[str]) -> None:
    run = await session.run(argv)
    assert run.code == 0, run.err
    assert json.loads(run.out)["prefix"] == defaults.DEFAULT_OSC_PREFIX


async def watch(session: Session, argv: list[str]) -> None:
    """Until Ctrl+C: started, it must send the progress of the batches in flight to the end."""
    in_flight = session.submitted[-1]
    process = await session.start(argv + session.osc_options() + FAST_POLLING)
    async with session.clock_moving():
        await session.receiver.wait_for(lambda r: in_flight in _ended(r), timeout=15)
    process.send_signal(STOP_SIGNAL)
    _, err = await asyncio.wait_for(process.communicate(), 15)
    assert process.returncode == 0, err.decode()
    await session.receiver.wait_for(lambda r: bool(r.events("shutdown")), timeout=5)


async def demo(session: Session, argv: list[str]) -> None:
    """Ends by itself once its batches have ended; faster here than the README's pace."""
    speed = argv.index("--speed") + 1
    session.receiver.clear()
    run = await session.run([*argv[:speed], "3000", *argv[speed + 1 :], *session.osc_options()])
    assert run.code == 0, run.err
    await session.receiver.wait_for(lambda r: bool(r.events("shutdown")), timeout=5)
    assert len(_ended(session.receiver)) == 4


async def td_export(session: Session, argv: list[str]) -> None:
    run = await session.run(argv)
    assert run.code == 0, run.err
    exported = {path.name for path in (session.cwd / argv[-1]).iterdir()}
    assert {"VoyageProgress.py", "voyage_progress_ext.py", "voyage_progress_model.py"} <= exported


def _ended(receiver: OscReceiver) -> list[str]:
    ends = ("complete", "failed", "cancelled", "expired")
    return [str(e[1]) for e in receiver.events() if e[0] in ends]


STEPS: dict[str, Step] = {
    "simulate": simulate,
    "submit": submit,
    "status": status,
    "results": results,
    "cancel": cancel,
    "list": listing,
    "namespace": namespace,
    "watch": watch,
    "demo": demo,
    "td-export": td_export,
}


async def test_the_command_line_section_runs_as_written(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples" / "data", tmp_path / "examples" / "data")
    receiver = await open_receiver()
    session = Session(tmp_path, receiver)
    try:
        for argv in walkthrough():
            if argv[0] == "export":
                await export(session, argv)
                continue
            assert argv[0] == PROGRAM and argv[1] in STEPS, f"no check for {shlex.join(argv)}"
            await STEPS[argv[1]](session, argv)
        assert len(session.submitted) == 3
    finally:
        receiver.close()
        for process in session.processes:
            if process.returncode is None:
                process.kill()
                await process.wait()


# -- the mixed watch, run --------------------------------------------------------------------


async def test_the_mixed_watch_runs_as_written(tmp_path: Path) -> None:
    """The README's watch of a Voyage, an OpenAI and an Anthropic batch: its ``export`` and its
    ``watch`` as written, with each id replaced by a batch of that id's provider (the ids a user
    fills in) on the simulator in that provider's dialect, where the base URLs point."""
    (block,) = [b for b in shell_blocks(README) if any("msgbatch_" in line for line in b.lines)]
    receiver = await open_receiver()
    try:
        async with (
            run_simulator(speed=300) as voyage,
            run_simulator(speed=300, dialect="openai") as openai,
            run_simulator(speed=300, dialect="anthropic") as anthropic,
        ):
            sims = {"voyage": voyage, "openai": openai, "anthropic": anthropic}
            session = Session(tmp_path, receiver)
            session.env["VOYAGE_API_KEY"] = "pa-demo"  # the Quick start's export
            for name, sim in sims.items():
                session.env[f"{name.upper()}_BASE_URL"] = sim.base_url
            whose: dict[str, str] = {}
            for argv in block.commands():
                if argv[0] == "export":
                    await export_keys(session, argv)
                    continue
                assert argv[:2] == [PROGRAM, "watch"], f"{block.where}: unchecked: {shlex.join(argv)}"
                filled = [fill_in_id(arg, sims, whose) for arg in argv]
                assert len(whose) == 3, "one batch of each provider"
                await watch_to_the_end(session, filled, list(whose))
    finally:
        receiver.close()
    slots = {str(e[1]): int(e[2]) for e in receiver.events("watch")}  # type: ignore[call-overload]
    shown = {batch_id: receiver.last(f"/voyage/batch/{slots[batch_id]}/provider") for batch_id in whose}
    assert shown == whose


async def export_keys(session: Session, argv: list[str]) -> None:
    assert all(arg.split("=", 1)[0].endswith("_API_KEY") for arg in argv[1:]), shlex.join(argv)
    session.env.update(arg.split("=", 1) for arg in argv[1:])  # type: ignore[misc]


def fill_in_id(arg: str, sims: dict[str, Simulator], whose: dict[str, str]) -> str:
    """An id of the README as a batch of the same provider on that provider's simulator."""
    provider = provider_of_id(arg)
    if provider is None:
        return arg
    batch_id = sims[provider].add_batch(4, "quick")
    assert provider_of_id(batch_id) == provider
    whose[batch_id] = provider
    return batch_id


async def watch_to_the_end(session: Session, argv: list[str], batch_ids: list[str]) -> None:
    process = await session.start(argv + session.osc_options() + FAST_POLLING)
    await session.receiver.wait_for(lambda r: set(batch_ids) <= set(_ended(r)), timeout=30)
    process.send_signal(STOP_SIGNAL)
    _, err = await asyncio.wait_for(process.communicate(), 15)
    assert process.returncode == 0, err.decode()
