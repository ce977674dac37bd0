"""Processes for the benchmarks and the reliability runs: children that are always ended, the
simulator as its own process steered over HTTP, and the memory and CPU time of a process."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import httpx

# -- children ----------------------------------------------------------------------------------------


@dataclass
class Child:
    """A process started here; its standard error is kept in a temporary file for when it dies."""

    what: str
    process: subprocess.Popen[str]
    log: IO[str]

    def check(self) -> None:
        if self.process.poll() is not None:
            self.log.seek(0)
            raise RuntimeError(
                f"the {self.what} exited ({self.process.returncode}): {self.log.read()[-2000:]}"
            )

    def end(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


@contextlib.contextmanager
def child(
    what: str, args: list[str], stdout: int | IO[str], env: dict[str, str] | None = None
) -> Iterator[Child]:
    with tempfile.TemporaryFile("w+") as log:
        started = Child(what, subprocess.Popen(args, stdout=stdout, stderr=log, env=env, text=True), log)
        try:
            yield started
        finally:
            started.end()


def _first_line(started: Child, timeout: float = 30.0) -> str:
    """The process's first line of output; the rest is read and dropped by a thread."""
    lines: queue.Queue[str] = queue.Queue()
    stdout = started.process.stdout
    assert stdout is not None

    def read() -> None:
        with contextlib.suppress(ValueError, OSError):  # closed when the process is ended
            for line in stdout:
                lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        started.check()
        raise RuntimeError(f"the {started.what} printed nothing in {timeout:g} s") from None


def interrupt(process: subprocess.Popen[str], timeout: float = 15.0) -> int | None:
    """Stop a child as Ctrl+C would (SIGINT; on Windows, terminate) and return its exit code;
    None when it had to be killed after ``timeout`` seconds."""
    if process.poll() is not None:
        return process.returncode
    if os.name == "nt":
        process.terminate()
    else:
        process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return None


@dataclass
class SimulatorControl:
    """The simulator process, steered over HTTP."""

    base_url: str
    http: httpx.Client
    child: Child

    def create_batches(
        self, count: int, requests: int, scenario: str = "normal", **metadata: str
    ) -> list[str]:
        body = {"requests": requests, "scenario": scenario, "metadata": metadata}
        return [
            self.http.post("/_sim/batches", json=body).raise_for_status().json()["id"] for _ in range(count)
        ]

    def stats(self) -> dict[str, Any]:
        return dict(self.http.get("/_sim/stats").raise_for_status().json())

    def requests_served(self) -> int:
        return int(self.stats()["requests"])


@contextlib.contextmanager
def simulator(*options: str, speed: float = 1.0) -> Iterator[SimulatorControl]:
    """``voyage-progress simulate`` as its own process, on a free port; ``options`` are more of
    its command-line options (``--faults ...``, ``--api-key ...``)."""
    args = [
        sys.executable,
        "-m",
        "voyage_progress",
        "simulate",
        "--port",
        "0",
        "--speed",
        f"{speed:g}",
        *options,
    ]
    with child("simulator", args, subprocess.PIPE) as started:
        match = re.search(r" at (http://\S+)", _first_line(started))
        if match is None:
            raise RuntimeError("no URL in the simulator's first line")
        base_url = match.group(1)  # with /v1, or without for Anthropic's dialect
        with httpx.Client(
            base_url=base_url.removesuffix("/v1"), headers=_steering_headers(options), timeout=30
        ) as http:
            yield SimulatorControl(base_url, http, started)


def _steering_headers(options: tuple[str, ...]) -> dict[str, str]:
    """With ``--api-key``, ``/_sim`` needs the key too."""
    if "--api-key" not in options[:-1]:
        return {}
    return {"Authorization": f"Bearer {options[options.index('--api-key') + 1]}"}


# -- measuring a process ------------------------------------------------------------------------------


class Meter(Protocol):
    def rss(self) -> int: ...

    def cpu(self) -> float: ...


class ProcMeter:
    """Linux: ``/proc/<pid>/status`` and ``/proc/<pid>/stat``."""

    def __init__(self, pid: int) -> None:
        self.status = Path(f"/proc/{pid}/status")
        self.stat = Path(f"/proc/{pid}/stat")
        self.tick = os.sysconf("SC_CLK_TCK")

    def rss(self) -> int:
        for line in self.status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def cpu(self) -> float:
        text = self.stat.read_text()
        fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "; comm may hold spaces
        return (int(fields[11]) + int(fields[12])) / self.tick  # utime, stime: fields 14 and 15


class PsutilMeter:
    def __init__(self, pid: int) -> None:
        import psutil  # type: ignore[import-untyped]

        self.process = psutil.Process(pid)

    def rss(self) -> int:
        return int(self.process.memory_info().rss)

    def cpu(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)


def meter(pid: int) -> Meter | None:
    if Path(f"/proc/{pid}/stat").exists():
        return ProcMeter(pid)
    try:
        return PsutilMeter(pid)
    except ImportError:
        return None
