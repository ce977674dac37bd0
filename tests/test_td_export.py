"""``voyage-progress td-export DIR``: the TouchDesigner component's files from the installed package
(this editable install here; the wheel and the .pyz in test_release.py), and the builder they make
starting the sidecar with the Python that exported them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tdfake import TouchDesigner
from voyage_progress.cli import main

TD_COMPONENTS = Path(__file__).resolve().parent.parent / "td_components"


def component_files() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in TD_COMPONENTS.iterdir() if p.suffix in (".py", ".md")}


def test_td_export_writes_the_component_and_the_exporting_python(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "show" / "voyage"
    assert main(["td-export", str(target)]) == 0
    exported = {p.name: p.read_bytes() for p in target.iterdir() if p.name != "voyage_progress_sidecar.json"}
    assert exported == component_files()
    config = json.loads((target / "voyage_progress_sidecar.json").read_text())
    assert config == {"python": sys.executable, "program": "-m voyage_progress"}
    assert str(target / "VoyageProgress.py") in capsys.readouterr().out
    assert main(["td-export", str(target)]) == 0  # again: the files are updated in place


def test_the_exported_builder_starts_the_sidecar_with_that_python(tmp_path: Path) -> None:
    assert main(["td-export", str(tmp_path / "exported")]) == 0
    td = TouchDesigner(tmp_path)
    td.run_script(td.load_text_dat(tmp_path / "exported" / "VoyageProgress.py"))
    comp = td.op("/project1/voyage_progress")
    assert comp is not None and comp.par.Python.eval() == sys.executable
    assert (
        comp.par.Arguments.eval()
        == "-m voyage_progress watch --all-active --state-file voyage_progress_state.json"
    )


def test_td_export_into_a_file_is_one_line(tmp_path: Path) -> None:
    taken = tmp_path / "a-file"
    taken.write_text("")
    done = subprocess.run(
        [sys.executable, "-m", "voyage_progress", "td-export", str(taken)], capture_output=True, text=True
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == f"voyage-progress: error: {taken} is a file: td-export needs a folder\n"
