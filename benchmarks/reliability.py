"""Every reliability run, one table: ``python3 scripts/reliability.py`` (or ``python -m
benchmarks.reliability``): the fault soak, the crash-and-restart run and the control-port fuzz.

``--quick`` runs the short versions (what CI runs on every change); ``--write-docs`` also
writes the table, the command, the machine and the date to docs/RELIABILITY.md. The exit code
is 1 when a target was missed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import fuzz, restarts, soak
from benchmarks._report import Result, table
from benchmarks.run import write_docs

RUNS: dict[str, Callable[[bool], list[Result]]] = {
    "soak": soak.run,
    "restarts": restarts.run,
    "fuzz": fuzz.run,
}
DOCS = Path(__file__).parent.parent / "docs" / "RELIABILITY.md"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="reliability", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the short versions")
    parser.add_argument("--only", choices=list(RUNS), action="append", help="run only these")
    parser.add_argument("--write-docs", action="store_true", help="also write docs/RELIABILITY.md")
    args = parser.parse_args(argv)
    results: list[Result] = []
    for name in args.only or RUNS:
        started = time.monotonic()
        print(f"running {name}...", file=sys.stderr, flush=True)
        results += RUNS[name](args.quick)
        print(f"  {name}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    report = table(results)
    print(report)
    if args.write_docs:
        write_docs(DOCS, report, "python3 scripts/reliability.py" + (" --quick" if args.quick else ""))
    return 0 if all(result.met is not False for result in results) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
