"""Every reliability run, one table: ``python3 scripts/reliability.py`` (or ``python -m
benchmarks.reliability``): the fault soak, the crash-and-restart run, the control-port fuzz, the
hostile API, the control floods and the WebSocket fuzz.

``--quick`` runs the short versions (what CI runs on every change); ``--write-docs`` also
writes the table, the command, the machine and the date to docs/RELIABILITY.md. The exit code
is 1 when a target was missed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from benchmarks import flood, fuzz, hostile, restarts, soak, wsfuzz
from benchmarks._report import Result
from benchmarks.run import run_main

RUNS: dict[str, Callable[[bool], list[Result]]] = {
    "soak": soak.run,
    "restarts": restarts.run,
    "fuzz": fuzz.run,
    "hostile": hostile.run,
    "flood": flood.run,
    "wsfuzz": wsfuzz.run,
}
DOCS = Path(__file__).parent.parent / "docs" / "RELIABILITY.md"


def main(argv: list[str]) -> int:
    command = "python3 scripts/reliability.py"
    return run_main(argv, "reliability", __doc__ or "", RUNS, DOCS, command, fail_on_missed=True)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
