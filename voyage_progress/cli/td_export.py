"""``voyage-progress td-export DIR``: the TouchDesigner component's files, from an installed package.

Why: someone who installed voyage-progress with pip has no td_components folder to drag files
from. The wheel carries it as ``voyage_progress/td_components`` (pyproject.toml maps the
repository's ``td_components/`` there); this writes it out. The builder then starts the sidecar
with the Python that exported it (``voyage_progress_sidecar.json`` beside the files), where
voyage-progress is installed. Run from ``voyage-progress.pyz``, the .pyz itself is written beside
the files instead, and TouchDesigner's own Python runs it.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import zipimport
from collections.abc import Iterator
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

__all__ = ["SIDECAR_CONFIG", "component_folder", "export"]

#: Read by td_components/VoyageProgress.py (its SIDECAR_CONFIG): the defaults of its Python parameter
#: and of the program that starts its Arguments.
SIDECAR_CONFIG = "voyage_progress_sidecar.json"
PYZ_NAME = "voyage-progress.pyz"
COMPONENT_SUFFIXES = (".py", ".md")


def component_folder() -> Traversable:
    """The component's files: in the package (a wheel, the .pyz), or, for an editable install, the
    repository's td_components/ beside the package."""
    package = resources.files("voyage_progress")
    installed = package / "td_components"
    if installed.is_dir():
        return installed
    checkout = Path(str(package)).parent / "td_components"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError("this installation of voyage-progress has no TouchDesigner component")


def _running_pyz() -> Path | None:
    loader = getattr(sys.modules["voyage_progress"], "__loader__", None)
    return Path(loader.archive) if isinstance(loader, zipimport.zipimporter) else None


def export(target: Path) -> list[Path]:
    """Write the component's files into ``target`` (created if missing, files overwritten), with
    the sidecar's Python beside them; the paths written. An OSError names the file at fault."""
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(f"{target} is a file: td-export needs a folder")
    with _writing(target):
        target.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sorted(component_folder().iterdir(), key=lambda item: item.name):
        if source.is_file() and source.name.endswith(COMPONENT_SUFFIXES):
            path = target / source.name
            with _writing(path):
                path.write_bytes(source.read_bytes())
            written.append(path)
    pyz = _running_pyz()
    if pyz is not None:
        path = target / PYZ_NAME
        if not (path.exists() and path.samefile(pyz)):
            with _writing(path):
                shutil.copyfile(pyz, path)
    else:
        path = target / SIDECAR_CONFIG
        config = {"python": sys.executable, "program": "-m voyage_progress"}
        with _writing(path):
            path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    written.append(path)
    return written


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise OSError(f"cannot write {path}: {exc.strerror or exc}") from None
