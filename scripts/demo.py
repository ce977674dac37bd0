"""Run the voyage-progress demo: ``python3 scripts/demo.py`` (Windows: ``py scripts\\demo.py``).

Why it exists: it is the README's first Quick start command. It needs nothing
but Python >= 3.11: on first run it creates ``.venv`` and installs the project
there (see _bootstrap.py), then runs ``python -m voyage_progress demo`` with any
extra arguments passed through, and exits with the demo's exit code.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # also under -P / PYTHONSAFEPATH

from _bootstrap import ensure_venv, run


def main(argv: "list[str]") -> int:
    return run(ensure_venv(None), ["-m", "voyage_progress", "demo", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
