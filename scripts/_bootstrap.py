"""Shared helper for scripts/demo.py and scripts/test.py.

Why it exists: the README's Quick start must work on a fresh machine that has
nothing but Python >= 3.11 (Linux, macOS, Windows), including Debian/Ubuntu
system Pythons that refuse ``pip install`` outside a virtual environment
(PEP 668) and may lack ``ensurepip``. So this module, using only the standard
library, creates a private virtual environment, installs the project into it
in editable mode (again only when pyproject.toml or the extras change), and
runs commands with that environment's Python. It stays importable by old
Pythons (annotations are strings) so that they get a one-line explanation.
"""

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
import venv
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parent.parent
PIP_JSON = "https://pypi.org/pypi/pip/json"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _fail(message: str) -> NoReturn:
    _say(f"error: {message}")
    raise SystemExit(1)


def _venv_dir() -> Path:
    custom = os.environ.get("VOYAGE_PROGRESS_VENV")
    return Path(custom).expanduser().absolute() if custom else ROOT / ".venv"


def _venv_python(venv_dir: Path) -> Path:
    if os.name == "nt":
        return venv_dir / "Scripts" / "python.exe"
    return venv_dir / "bin" / "python"


def _call(args: "list[str | Path]") -> "subprocess.CompletedProcess[str]":
    """Run quietly in the repository root; the output is kept for error reports."""
    return subprocess.run(
        [str(a) for a in args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )


def _download_pip(python: Path) -> None:
    """Install pip into a venv created without it (Debian without python3-venv)."""
    with urllib.request.urlopen(PIP_JSON, timeout=60) as response:
        release, base_url = json.load(response), response.geturl()
    wheel_info = next(u for u in release["urls"] if u["packagetype"] == "bdist_wheel")
    url = urllib.parse.urljoin(base_url, wheel_info["url"])  # mirrors may give relative URLs
    with tempfile.TemporaryDirectory() as tmp:
        wheel = Path(tmp) / wheel_info["filename"]
        with urllib.request.urlopen(url, timeout=120) as response:
            data = response.read()
        if hashlib.sha256(data).hexdigest() != wheel_info["digests"]["sha256"]:
            raise ValueError(f"sha256 mismatch for {url}")
        wheel.write_bytes(data)
        # pip's __main__ supports running straight from its wheel: <wheel>/pip.
        done = _call([python, wheel / "pip", "install", "-q", "--disable-pip-version-check", wheel])
        if done.returncode:
            raise RuntimeError(done.stdout.strip() or f"pip bootstrap exited {done.returncode}")


def _no_pip(reason: BaseException, venv_dir: Path, created: bool) -> NoReturn:
    if created:
        shutil.rmtree(venv_dir, ignore_errors=True)
    detail = (str(reason).strip().splitlines() or [""])[0]
    _fail(
        f"could not set up pip in a virtual environment ({type(reason).__name__}: {detail}); "
        "on Debian/Ubuntu run `sudo apt install python3-venv`, then try again."
    )


def _create_venv(venv_dir: Path) -> None:
    _say(f"creating {venv_dir.name if venv_dir.parent == ROOT else venv_dir} ...")
    created = not venv_dir.exists()
    # A pyvenv.cfg without a working python means a stale venv (e.g. its base
    # Python was upgraded or removed): rebuild it from scratch.
    clear = (venv_dir / "pyvenv.cfg").is_file()
    symlinks = os.name != "nt"
    try:
        venv.EnvBuilder(with_pip=True, clear=clear, symlinks=symlinks).create(venv_dir)
        return
    except Exception:  # typically ensurepip missing (Debian/Ubuntu without python3-venv)
        pass
    try:
        # Never wipe a pre-existing directory that is not a venv.
        venv.EnvBuilder(with_pip=False, clear=clear or created, symlinks=symlinks).create(venv_dir)
        _say("ensurepip is unavailable; downloading pip from PyPI ...")
        _download_pip(_venv_python(venv_dir))
    except Exception as exc:
        _no_pip(exc, venv_dir, created)


def ensure_venv(extras: "str | None") -> Path:
    """Return the venv's python, creating the venv and installing the project if needed."""
    if sys.version_info < (3, 11):
        _fail(
            f"voyage-progress needs Python 3.11 or newer, but this is Python "
            f"{platform.python_version()} ({sys.executable}); run this script with a newer Python."
        )
    venv_dir = _venv_dir()
    python = _venv_python(venv_dir)
    if not python.exists():
        _create_venv(venv_dir)

    # One stamp per extras, e.g. .venv/voyage-progress-test.stamp, holding a hash
    # of pyproject.toml (and of where the repository is, as the install is
    # editable). A plain install is also satisfied by any up-to-date extras
    # install, so alternating demo.py and test.py never reinstalls.
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + f"\0{ROOT}".encode()).hexdigest()
    stamp = venv_dir / f"voyage-progress-{extras or 'base'}.stamp"
    for candidate in [stamp] if extras else venv_dir.glob("voyage-progress-*.stamp"):
        if candidate.is_file() and candidate.read_text(encoding="utf-8").strip() == digest:
            return python

    what = "voyage-progress and its test tools" if extras == "test" else "voyage-progress"
    if extras not in (None, "test"):
        what += f" [{extras}]"
    _say(f"installing {what} ({'pyproject.toml changed' if stamp.exists() else 'first run only'}) ...")
    if _call([python, "-m", "pip", "--version"]).returncode:  # e.g. an interrupted first run
        _say("pip is missing from the virtual environment; downloading it from PyPI ...")
        try:
            _download_pip(python)
        except Exception as exc:
            _no_pip(exc, venv_dir, created=False)
    target = f".[{extras}]" if extras else "."
    done = _call([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-e", target])
    if done.returncode:
        _say(done.stdout.rstrip())
        _fail(f"`pip install -e {target}` failed (exit code {done.returncode}); see pip's output above.")
    stamp.write_text(digest + "\n", encoding="utf-8")
    return python


def run(python: Path, args: "list[str]", cwd: "Path | None" = None) -> int:
    """Run ``python *args`` as if the venv were activated; return its exit code (130 on Ctrl+C)."""
    env = dict(os.environ)
    env["VIRTUAL_ENV"] = str(python.parent.parent)
    env["PATH"] = str(python.parent) + os.pathsep + env.get("PATH", "")
    env.pop("PYTHONHOME", None)
    child = subprocess.Popen([str(python), *args], cwd=cwd, env=env)
    interrupted = False
    while True:
        try:
            code = child.wait()
            break
        except KeyboardInterrupt:  # the child got the same Ctrl+C; let it finish
            interrupted = True
    if interrupted:
        return 130
    return 128 - code if code < 0 else code  # killed by a signal (POSIX): shell convention
