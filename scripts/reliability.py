"""Run the reliability runs: ``python3 scripts/reliability.py`` (Windows: ``py scripts\\reliability.py``).

Why it exists: one command sets up what the runs need (the same ``.venv`` as the tests), puts
the sidecar through the fault soak, twenty kills, the control-port fuzz, a hostile API, the
control floods and the WebSocket fuzz, and prints one table of every figure against its target;
``--quick`` for the short versions (a few minutes), ``--write-docs`` to record the figures in
docs/RELIABILITY.md.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # also under -P / PYTHONSAFEPATH

from _bootstrap import ROOT, ensure_venv, run


def main(argv: "list[str]") -> int:
    return run(ensure_venv("test"), ["-m", "benchmarks.reliability", *argv], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
