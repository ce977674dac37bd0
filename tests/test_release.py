"""The release that scripts/build.py makes: the wheel and sdist, a .pyz that runs with nothing
installed, and the TouchDesigner zip. Built once per run (it downloads the pure-Python
dependencies from the package index, as a user's build does)."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from tests.osc_receiver import open_receiver
from voyage_progress import __version__
from voyage_progress.simulator import run_simulator

ROOT = Path(__file__).resolve().parent.parent
DEBIAN_PYTHON = Path("/usr/bin/python3")


def _build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_release", ROOT / "scripts" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    build = _build_script()
    out = tmp_path_factory.mktemp("dist")
    python = Path(sys.executable)
    wheel = build.build_distributions(python, out)
    pyz = build.build_pyz(python, wheel, out)
    td_zip = build.build_touchdesigner_zip(pyz, __version__, out)
    (sdist,) = out.glob("voyage_progress-*.tar.gz")
    return {"wheel": wheel, "sdist": sdist, "pyz": pyz, "td_zip": td_zip}


def _interpreters() -> list[Path]:
    """This test's Python, and Debian's own (3.11.2 on Debian 12) where it exists."""
    found = [Path(sys.executable)]
    if DEBIAN_PYTHON.exists() and DEBIAN_PYTHON.resolve() != Path(sys.executable).resolve():
        found.append(DEBIAN_PYTHON)
    return found


def test_the_build_makes_four_artifacts(release: dict[str, Path]) -> None:
    assert release["wheel"].name == f"voyage_progress-{__version__}-py3-none-any.whl"
    assert release["sdist"].name == f"voyage_progress-{__version__}.tar.gz"
    assert release["td_zip"].name == f"voyage-progress-touchdesigner-{__version__}.zip"
    with zipfile.ZipFile(release["pyz"]) as pyz:
        names = set(pyz.namelist())
    assert "__main__.py" in names and "voyage_progress/cli/__init__.py" in names
    for dependency in ("httpx/__init__.py", "uvicorn/__init__.py", "rich/__init__.py", "certifi/cacert.pem"):
        assert dependency in names
    assert not [n for n in names if n.endswith((".so", ".pyd", ".dylib"))], "only pure Python runs from a zip"


def test_the_touchdesigner_zip_holds_the_builder_the_component_and_the_pyz(release: dict[str, Path]) -> None:
    with zipfile.ZipFile(release["td_zip"]) as archive:
        names = {Path(n).name for n in archive.namelist()}
        readme = next(n for n in archive.namelist() if n.endswith("README.txt"))
        steps = archive.read(readme).decode()
    assert {"VoyageProgress.py", "voyage_progress_ext.py", "voyage_progress_model.py"} <= names
    assert {"voyage-progress.pyz", "README.md", "QUIRKS.md", "SPEC.md", "README.txt"} <= names
    assert "Run Script" in steps and "VOYAGE_API_KEY" in steps


@pytest.mark.parametrize("python", _interpreters(), ids=lambda p: str(p))
async def test_the_pyz_runs_the_demo_isolated_from_an_empty_folder(
    release: dict[str, Path], python: Path, tmp_path: Path
) -> None:
    """``python -I``: no PYTHONPATH, no user site, nothing installed beside the interpreter."""
    pyz = tmp_path / "elsewhere" / "voyage-progress.pyz"
    pyz.parent.mkdir()
    shutil.copy(release["pyz"], pyz)
    empty = tmp_path / "empty"
    empty.mkdir()
    receiver = await open_receiver()
    try:
        args = [str(python), "-I", str(pyz), "demo", "--speed", "300", "--no-control", "--no-display"]
        args += ["--osc", f"127.0.0.1:{receiver.port}"]
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        done = await asyncio.to_thread(
            subprocess.run, args, cwd=empty, env=env, capture_output=True, text=True, timeout=120
        )
        await receiver.wait_for(lambda r: bool(r.values("/voyage/sidecar/running")), timeout=5)
    finally:
        receiver.close()
    assert done.returncode == 0, done.stderr
    assert list(empty.iterdir()) == [], "the .pyz left files in the folder it ran from"
    ends = {event[0] for event in receiver.events()}
    assert {"complete", "failed"} <= ends
    assert receiver.last("/voyage/sidecar/running") == 0  # it said goodbye
    assert 100.0 in receiver.values("/voyage/batch/0/percent")


@pytest.mark.parametrize("python", _interpreters(), ids=lambda p: str(p))
async def test_the_pyz_watches_batches_of_every_provider_isolated(
    release: dict[str, Path], python: Path, tmp_path: Path
) -> None:
    """One watch of a Voyage, an OpenAI and an Anthropic batch, from the .pyz with nothing
    installed: each provider's client comes from the zip, and each batch is followed to its end."""
    receiver = await open_receiver()
    try:
        async with (
            run_simulator(speed=300) as voyage,
            run_simulator(speed=300, dialect="openai") as openai,
            run_simulator(speed=300, dialect="anthropic") as anthropic,
        ):
            ids = [sim.add_batch(4, "quick") for sim in (voyage, openai, anthropic)]
            env = {
                k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
            }
            for variable, sim in (("VOYAGE", voyage), ("OPENAI", openai), ("ANTHROPIC", anthropic)):
                env.update({f"{variable}_API_KEY": "k", f"{variable}_BASE_URL": sim.base_url})
            args = [str(python), "-I", str(release["pyz"]), "watch", *ids, "--no-control", "--no-display"]
            args += ["--osc", f"127.0.0.1:{receiver.port}", "--poll-interval", "0.2", "--min-interval", "0.1"]
            process = await asyncio.create_subprocess_exec(
                *args, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            try:
                await receiver.wait_for(
                    lambda r: {e[1] for e in r.events("complete")} >= set(ids), timeout=60
                )
            finally:
                process.terminate()
                _, stderr = await process.communicate()
    finally:
        receiver.close()
    assert "Traceback" not in stderr.decode()
    slots = {str(e[1]): int(e[2]) for e in receiver.events("watch")}  # type: ignore[call-overload]
    providers = {receiver.last(f"/voyage/batch/{slots[batch_id]}/provider") for batch_id in ids}
    assert providers == {"voyage", "openai", "anthropic"}


def _component_files() -> dict[str, bytes]:
    folder = ROOT / "td_components"
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix in (".py", ".md")}


def test_the_wheel_carries_the_touchdesigner_component(release: dict[str, Path], tmp_path: Path) -> None:
    with zipfile.ZipFile(release["wheel"]) as wheel:
        carried = {
            Path(n).name: wheel.read(n)
            for n in wheel.namelist()
            if n.startswith("voyage_progress/td_components/")
        }
    assert carried == _component_files()
    site = tmp_path / "site"
    with zipfile.ZipFile(release["wheel"]) as wheel:
        wheel.extractall(site)  # what pip install puts in site-packages
    export = f"import sys; sys.path.insert(0, {str(site)!r}); from voyage_progress.cli import main; main()"
    target = tmp_path / "exported"
    done = subprocess.run(
        [sys.executable, "-I", "-c", export, "td-export", str(target)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert {p.name: p.read_bytes() for p in target.iterdir() if p.suffix != ".json"} == _component_files()


@pytest.mark.parametrize("python", _interpreters(), ids=lambda p: str(p))
def test_the_pyz_exports_the_component_with_itself(
    release: dict[str, Path], python: Path, tmp_path: Path
) -> None:
    """What an artist with only the .pyz and TouchDesigner's Python does: the files, and the .pyz
    beside them, which the component then runs with TouchDesigner's own Python."""
    target = tmp_path / "td"
    done = subprocess.run(
        [str(python), "-I", str(release["pyz"]), "td-export", str(target)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    files = {p.name: p.read_bytes() for p in target.iterdir()}
    assert files.pop("voyage-progress.pyz") == release["pyz"].read_bytes()
    assert files == _component_files()
