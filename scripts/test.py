"""Run the test suite: ``python3 scripts/test.py`` (Windows: ``py scripts\\test.py``).

Why it exists: it is the README's second Quick start command and the one CI
runs (.ci/run). It needs nothing but Python >= 3.11: it creates ``.venv`` and
installs the project with its ``test`` extras when needed (see _bootstrap.py),
then runs ``python -m pytest`` with any extra arguments passed through (pytest's
configuration lives in pyproject.toml) and exits with pytest's exit code.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # also under -P / PYTHONSAFEPATH

from _bootstrap import ROOT, ensure_venv, run


def main(argv: "list[str]") -> int:
    # Run pytest where the caller is when that is inside the repository (so
    # relative test paths work), otherwise from the repository root so pytest
    # still finds its config and testpaths in pyproject.toml.
    python = ensure_venv("test")
    inside = Path.cwd().resolve().is_relative_to(ROOT)
    return run(python, ["-m", "pytest", *argv], cwd=None if inside else ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
