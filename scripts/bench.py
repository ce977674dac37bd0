"""Run the benchmarks: ``python3 scripts/bench.py`` (Windows: ``py scripts\\bench.py``).

Why it exists: one command sets up what the benchmarks need (the same ``.venv`` as the tests)
and prints one table of every figure against its baseline; ``--quick`` for the short versions,
``--write-docs`` to record the figures in docs/PERFORMANCE.md.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # also under -P / PYTHONSAFEPATH

from _bootstrap import ROOT, ensure_venv, run


def main(argv: "list[str]") -> int:
    return run(ensure_venv("test"), ["-m", "benchmarks.run", *argv], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
