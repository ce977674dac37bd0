"""Every benchmark, one table: ``python3 scripts/bench.py`` (or ``python -m benchmarks.run``).

``--quick`` runs the short versions (what CI runs to keep them working); ``--write-docs``
also writes the table, the command, the machine and the date to docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path

from benchmarks import api, emit, endtoend, eta, footprint, hub, scale
from benchmarks._report import Result, table

BENCHMARKS = {
    "eta": eta.run,
    "e2e": endtoend.run,
    "emit": emit.run,
    "footprint": footprint.run,
    "api": api.run,
    "scale": scale.run,
    "hub": hub.run,
}
DOCS = Path(__file__).parent.parent / "docs" / "PERFORMANCE.md"
MARKER = "<!-- figures -->"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with_model = Path("/proc/cpuinfo")
    if with_model.exists():
        for line in with_model.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    system = f"{platform.system()} {platform.release()}"
    return f"{system}, {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main(argv: list[str]) -> int:
    return run_main(argv, "bench", __doc__ or "", BENCHMARKS, DOCS, "python3 scripts/bench.py")


def run_main(
    argv: list[str],
    prog: str,
    description: str,
    runs: Mapping[str, Callable[[bool], list[Result]]],
    docs: Path,
    command: str,
    *,
    fail_on_missed: bool = False,
) -> int:
    """The command line of a set of runs: ``--quick``, ``--only NAME``, ``--write-docs``."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--quick", action="store_true", help="the short versions")
    parser.add_argument("--only", choices=list(runs), action="append", help="run only these")
    parser.add_argument("--write-docs", action="store_true", help=f"also write docs/{docs.name}")
    args = parser.parse_args(argv)
    results: list[Result] = []
    for name in args.only or runs:
        started = time.monotonic()
        print(f"running {name}...", file=sys.stderr, flush=True)
        results += runs[name](args.quick)
        print(f"  {name}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    report = table(results)
    print(report)
    if args.write_docs:
        write_docs(docs, report, command + (" --quick" if args.quick else ""))
    missed = any(result.met is False for result in results)
    return 1 if fail_on_missed and missed else 0


def write_docs(docs: Path, report: str, command: str) -> None:
    """Replace what follows the marker in ``docs`` with the table, the command, the machine and
    the date."""
    head = docs.read_text().split(MARKER)[0] if docs.exists() else ""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    docs.write_text(f"{head}{MARKER}\n\nMeasured {stamp} with `{command}` on {machine()}.\n\n{report}\n")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
