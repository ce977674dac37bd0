"""The TouchDesigner component's launcher (td_components/voyage_progress_launcher.py) under plain
pytest, with real processes: the command line, the child's environment, and a stop that never
blocks but for TouchDesigner's exit."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

TD = Path(__file__).parent.parent / "td_components"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "voyage_progress_launcher", TD / "voyage_progress_launcher.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


launcher = _load()
PYTHON = sys.executable


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'watch --state-file "C:\\Show Files\\state.json"',
            ["watch", "--state-file", "C:\\Show Files\\state.json"],
        ),
        ("watch --label 'b=two words'", ["watch", "--label", "b=two words"]),
        ("watch C:\\shows\\a.json", ["watch", "C:\\shows\\a.json"]),
        ("watch #1", ["watch", "#1"]),
        ("", []),
    ],
)
def test_arguments_split_the_same_on_every_platform(text: str, expected: list[str]) -> None:
    assert launcher.split_arguments(text) == expected


def test_an_unclosed_quote_is_one_line() -> None:
    with pytest.raises(launcher.LaunchError, match="a quote is not closed"):
        launcher.split_arguments('watch --state-file "C:/x')


def test_the_pyz_is_found_beside_the_project_first(tmp_path: Path) -> None:
    project, files = tmp_path / "show", tmp_path / "download"
    for folder in (project, files):
        folder.mkdir()
    (files / launcher.PYZ_NAME).write_bytes(b"")
    command = launcher.sidecar_command(PYTHON, "watch", [str(project), str(files)], 7000, 7001)
    pyz = str(files / launcher.PYZ_NAME)
    ports = ["--osc", "127.0.0.1:7000", "--control-port", "7001"]
    assert command == [PYTHON, "-u", "-X", "utf8", "-I", pyz, "watch", *ports]
    (project / launcher.PYZ_NAME).write_bytes(b"")
    assert launcher.sidecar_command(PYTHON, "watch", [str(project), str(files)], 7000, 7001)[5] == str(
        project / launcher.PYZ_NAME
    )


def test_arguments_that_name_the_program_are_run_as_they_are() -> None:
    module = launcher.sidecar_command(
        PYTHON, "-m voyage_progress demo --osc 10.0.0.2:9000 --no-control", [], 7000, 7001
    )
    assert module == [
        PYTHON,
        "-u",
        "-X",
        "utf8",
        "-m",
        "voyage_progress",
        "demo",
        "--osc",
        "10.0.0.2:9000",
        "--no-control",
    ]
    pyz = launcher.sidecar_command(PYTHON, "D:/tools/voyage-progress.pyz watch", [], 7000, 7001)
    assert pyz[4:7] == ["-I", "D:/tools/voyage-progress.pyz", "watch"]


def test_what_is_missing_is_said(tmp_path: Path) -> None:
    with pytest.raises(launcher.LaunchError, match=r"voyage-progress\.pyz not found in .*show"):
        launcher.sidecar_command(PYTHON, "watch", [str(tmp_path / "show"), None], 7000, 7001)
    with pytest.raises(
        launcher.LaunchError, match="full path"
    ):  # CreateProcess would search TouchDesigner's bin
        launcher.sidecar_command("python", "-m voyage_progress watch", [], 7000, 7001)
    with pytest.raises(launcher.LaunchError, match="set the Python parameter"):
        launcher.sidecar_command("", "-m voyage_progress watch", [], 7000, 7001)


def test_the_childs_environment(tmp_path: Path) -> None:
    inherited = {"PATH": "/bin", "PYTHONPATH": "/td/lib", "PYTHONHOME": "/td", "VOYAGE_API_KEY": "env-key"}
    assert launcher.child_environment(inherited) == {"PATH": "/bin", "VOYAGE_API_KEY": "env-key"}
    key = tmp_path / "voyage.key"
    key.write_text("\ufeff  sk-file  \nsecond line\n", encoding="utf-8")  # Notepad's BOM, spaces
    assert launcher.child_environment(inherited, str(key))["VOYAGE_API_KEY"] == "sk-file"
    key.write_text("\n")
    with pytest.raises(launcher.LaunchError, match="is empty"):
        launcher.child_environment(inherited, str(key))
    with pytest.raises(launcher.LaunchError, match="no such file"):
        launcher.child_environment(inherited, str(tmp_path / "nope.key"))


def wait_for_end(handle: dict[str, object], timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = launcher.poll(handle, time.monotonic())
        if code is not None:
            return int(code)
        time.sleep(0.02)
    raise AssertionError("the process did not end")


def test_output_is_read_without_waiting_and_an_end_nobody_asked_for_is_an_error() -> None:
    code = (
        "import sys; print('ready');"
        "print('voyage-progress: error: port in use', file=sys.stderr); sys.exit(1)"
    )
    handle = launcher.start([PYTHON, "-u", "-c", code], None, None, time.monotonic())
    assert wait_for_end(handle) == 1
    handle["reader"].join(5)
    assert launcher.take_output(handle) == ["ready", "voyage-progress: error: port in use"]
    assert launcher.exit_report(handle) == ("exited", "voyage-progress: error: port in use")


def test_an_overdue_stop_is_terminated_from_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launcher, "STOP_GRACE", 0.2)
    handle = launcher.start([PYTHON, "-c", "import time; time.sleep(30)"], None, None, time.monotonic())
    launcher.request_stop(handle, time.monotonic())
    assert launcher.poll(handle, time.monotonic()) is None  # not yet overdue: nothing happens
    assert wait_for_end(handle) != 0
    assert launcher.exit_report(handle) == ("stopped", "did not stop within 0.2 s: terminated")


def test_stop_now_waits_at_most_its_grace() -> None:
    handle = launcher.start([PYTHON, "-c", "import time; time.sleep(30)"], None, None, time.monotonic())
    started = time.monotonic()
    launcher.stop_now(handle, grace=0.3)
    assert time.monotonic() - started < 2 and not launcher.running(handle)
    assert launcher.exit_report(handle)[0] == "stopped"


def test_a_python_that_does_not_exist_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(launcher.LaunchError, match="cannot start"):
        launcher.start([str(tmp_path / "python.exe"), "-c", "pass"], None, None, 0.0)
