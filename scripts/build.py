"""Build the release: ``python3 scripts/build.py`` (Windows: ``py scripts\\build.py``).

Why it exists: an artist should not have to install Python packages to see a batch move in
TouchDesigner. This makes, in ``dist/``:

- the wheel and the sdist (``python -m build``);
- ``voyage-progress.pyz``: the package and every runtime dependency in one zip that any
  CPython >= 3.11.0 runs with nothing installed (``python voyage-progress.pyz demo``),
  TouchDesigner's own Python included;
- ``voyage-progress-touchdesigner-VERSION.zip``: the builder, the component's files, the
  ``.pyz`` and a short README, the one download a TouchDesigner user needs.

Why the standard library's ``zipapp`` and not shiv: every runtime dependency is pure Python,
so the archive can be imported from directly. shiv unpacks its contents into a cache folder
(``~/.shiv``) on first run, which is one more thing to go wrong on a locked-down show machine;
its advantage, C extensions, is one we do not need, and the build refuses any dependency that
is not pure Python (``--platform any --abi none``). certifi's ``cacert.pem`` works from inside
the zip: ``certifi.where()`` copies it to a temporary file on first use and removes it at exit.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import zipapp
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # also under -P / PYTHONSAFEPATH

from _bootstrap import ROOT, ensure_venv

PYZ_NAME = "voyage-progress.pyz"
#: Dependencies only some platforms' markers ask for, which the archive must carry for all of
#: them: click (uvicorn's) uses colorama on Windows.
ALL_PLATFORM_EXTRAS = ["colorama"]
PYZ_MAIN = """\
import sys

from voyage_progress._cli import main

sys.exit(main())
"""
TD_README = """\
voyage-progress for TouchDesigner {version}

1. Unzip this folder next to your .toe (or anywhere: the component looks for
   voyage-progress.pyz beside your project first, then beside VoyageProgress.py).
2. In TouchDesigner, drag VoyageProgress.py into your network, right-click it,
   Run Script: a voyage_progress component appears.
3. Set VOYAGE_API_KEY for TouchDesigner (or name a key file on the component's
   Sidecar page), press Start on the Sidecar page.

The sidecar runs with TouchDesigner's own Python: nothing else to install.
Everything else: README.md in this folder, or
td_components/README.md in the project's repository.
"""


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _run(args: "list[str | Path]", what: str) -> None:
    done = subprocess.run([str(a) for a in args], cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        _say((done.stdout + done.stderr).rstrip())
        raise SystemExit(f"error: {what} failed (exit code {done.returncode}); see the output above.")


def build_distributions(python: Path, out: Path) -> Path:
    """The sdist and the wheel; returns the wheel's path."""
    _say("building the wheel and the sdist ...")
    for old in out.glob("voyage_progress-*"):
        old.unlink()
    _run([python, "-m", "build", "--sdist", "--wheel", "--outdir", out, ROOT], "python -m build")
    (wheel,) = out.glob("voyage_progress-*.whl")
    return wheel


def build_pyz(python: Path, wheel: Path, out: Path) -> Path:
    """The wheel and its pure-Python dependencies, as one runnable zip."""
    _say(f"building {PYZ_NAME} ...")
    target = out / PYZ_NAME
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        pip_install = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-compile"]
        pure_python_only = ["--platform", "any", "--abi", "none", "--implementation", "py"]
        wheels_for_3_11 = ["--only-binary", ":all:", "--python-version", "3.11", *pure_python_only]
        _run(
            [*pip_install, "--target", site, *wheels_for_3_11, wheel, *ALL_PLATFORM_EXTRAS],
            "installing the dependencies for the .pyz",
        )
        shutil.rmtree(site / "bin", ignore_errors=True)  # console scripts: of no use in a zip
        for cache in list(site.rglob("__pycache__")):
            shutil.rmtree(cache)
        (site / "__main__.py").write_text(PYZ_MAIN, encoding="utf-8")
        zipapp.create_archive(site, target, interpreter="/usr/bin/env python3", compressed=True)
    return target


def build_touchdesigner_zip(pyz: Path, version: str, out: Path) -> Path:
    """The builder, the component's files, the .pyz and a short README."""
    target = out / f"voyage-progress-touchdesigner-{version}.zip"
    _say(f"building {target.name} ...")
    folder = f"voyage-progress-touchdesigner-{version}"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((ROOT / "td_components").iterdir()):
            if path.is_file() and path.suffix in (".py", ".md"):
                archive.write(path, f"{folder}/{path.name}")
        archive.write(pyz, f"{folder}/{PYZ_NAME}")
        archive.writestr(f"{folder}/README.txt", TD_README.format(version=version))
    return target


def _version() -> str:
    namespace: dict[str, str] = {}
    exec((ROOT / "voyage_progress" / "_version.py").read_text(encoding="utf-8"), namespace)
    return namespace["__version__"]


def main(argv: "list[str]") -> int:
    parser = argparse.ArgumentParser(prog="scripts/build.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="where to write (default: dist/)")
    args = parser.parse_args(argv)
    out = args.out.absolute()
    out.mkdir(parents=True, exist_ok=True)
    python = ensure_venv("release")
    wheel = build_distributions(python, out)
    pyz = build_pyz(python, wheel, out)
    build_touchdesigner_zip(pyz, _version(), out)
    for path in sorted(out.iterdir()):
        if path.is_file():
            print(f"{os.path.relpath(path)}  ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
