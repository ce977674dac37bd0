"""The TouchDesigner component, built by its builder in the strict fake of TouchDesigner's API,
fed by the real sidecar over real UDP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import time
import zipapp
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

import voyage_progress
from tests.conftest import FAST_RETRIES
from tests.osc_receiver import OscReceiver
from tests.tdfake import COMP, TouchDesigner
from voyage_progress import VoyageBatchClient
from voyage_progress.outputs.osc import Destination
from voyage_progress.sidecar import Sidecar, SidecarConfig
from voyage_progress.simulator import Simulator, run_simulator
from voyage_progress.watcher import Intervals

BUILDER = Path(__file__).parent.parent / "td_components" / "VoyageProgress.py"
RECORDING_CALLBACKS = """
def _record(comp, name, info):
    comp.store("calls", comp.fetch("calls", [], search=False) + [(name, info.get("id", ""))])

def onBatchComplete(comp, info): _record(comp, "complete", info)
def onBatchFailed(comp, info): _record(comp, "failed", info)
def onSidecarOffline(comp, info): _record(comp, "offline", info)
def onSidecarOnline(comp, info): _record(comp, "online", info)
def onSidecarRestart(comp, info): _record(comp, "restart", info)
"""

EXPECTED_CHILDREN = {
    "oscin": "oscinDAT",
    "control": "oscoutDAT",
    "model": "textDAT",
    "VoyageProgressExt": "textDAT",
    "oscin_callbacks": "textDAT",
    "chop_callbacks": "textDAT",
    "parexec": "parameterexecuteDAT",
    "frame": "executeDAT",
    "readme": "textDAT",
    "callbacks": "textDAT",
    "selected": "scriptCHOP",
    "slots": "scriptCHOP",
    "strings": "tableDAT",
    "sidecar": "tableDAT",
    "out_selected": "outCHOP",
    "out_slots": "outCHOP",
    "out_strings": "outDAT",
    "out_sidecar": "outDAT",
    "display": "containerCOMP",
    "launcher": "textDAT",
    "sidecar_process": "tableDAT",
    "sidecar_log": "textDAT",
}


def build(td: TouchDesigner, builder_text: str | None = None) -> COMP:
    builder = td.op("/project1/VoyageProgress") or td.load_text_dat(BUILDER)
    if builder_text is not None:
        builder.text = builder_text
    td.run_script(builder)
    comp = td.op("/project1/voyage_progress")
    assert isinstance(comp, COMP)
    return comp


@pytest.fixture
def td(tmp_path: Path) -> TouchDesigner:
    return TouchDesigner(tmp_path)


def test_the_builder_creates_the_whole_component(td: TouchDesigner, tmp_path: Path) -> None:
    comp = build(td)
    built = {child.name: child.OPType for child in comp.children}
    print("\nbuilt:", json.dumps(built, indent=1))
    assert built == EXPECTED_CHILDREN
    assert {c.name: c.OPType for c in comp.op("display").children} == {
        "bar": "rectangleTOP",
        "label": "textTOP",
    }
    assert [c.name for c in comp.op("out_selected").inputs] == ["selected"]
    assert [c.name for c in comp.op("out_slots").inputs] == ["slots"]
    assert [c.name for c in comp.op("out_strings").inputs] == ["strings"]
    assert [c.name for c in comp.op("out_sidecar").inputs] == ["sidecar"]
    assert [c.name for c in comp.op("display/label").inputs] == ["bar"]
    pars = [p.name for page in comp.customPages for p in page.pars]
    for name in (
        "Port",
        "Prefix",
        "Batchslot",
        "Staletimeout",
        "Reset",
        "Batchid",
        "Label",
        "Watch",
        "Refresh",
        "Sidecarhost",
        "Controlport",
        "Python",
        "Arguments",
        "Start",
        "Stop",
        "Running",
        "Version",
        "Help",
    ):
        assert name in pars, name
    assert [page.name for page in comp.customPages] == ["Voyage Progress", "Sidecar"]
    assert comp.par.Version.eval() == "0.1.0" and comp.par.Running.readOnly
    assert comp.op("oscin").par.port.eval() == 7450  # follows Port by expression
    comp.par.Port = 7123
    assert comp.op("oscin").par.port.eval() == 7123
    assert comp.par.opviewer.eval() is comp.op("display") and comp.viewer
    saved = json.loads((tmp_path / "VoyageProgress.tox").read_text())
    assert saved["name"] == "voyage_progress" and len(saved["children"]) == len(EXPECTED_CHILDREN)
    # the code is embedded, from the files beside the builder
    model_file = BUILDER.with_name("voyage_progress_model.py")
    assert comp.op("model").text == model_file.read_text() and not comp.op("model").par.file.eval()
    assert comp.Progress() == 0.0  # the extension is promoted
    assert comp.SidecarStatus["state"] == "not started" and not comp.par.Running.eval()
    sidecar_page = [p.name for p in comp.customPages[1].pars]
    assert sidecar_page == [
        "Python",
        "Arguments",
        "Keyfile",
        "Sidecarhost",
        "Controlport",
        "Start",
        "Stop",
        "Running",
    ]


def test_rebuilding_updates_in_place_and_keeps_the_users_values(td: TouchDesigner) -> None:
    comp = build(td)
    comp.par.Port = 7200
    comp.par.Batchslot = "3"
    comp.par.Arguments = "-m voyage_progress watch batch-mine"
    comp.op("callbacks").text = RECORDING_CALLBACKS
    comp.op("model").text = "# stale code"
    comp.op("strings").destroy()  # a user broke something

    again = build(td)
    assert again is comp
    assert {child.name: child.OPType for child in comp.children} == EXPECTED_CHILDREN
    assert comp.par.Port.eval() == 7200 and comp.par.Batchslot.eval() == "3"
    assert comp.par.Arguments.eval() == "-m voyage_progress watch batch-mine"
    assert comp.op("callbacks").text == RECORDING_CALLBACKS  # never overwritten
    assert comp.op("model").text.startswith('"""voyage_progress model')  # the code is refreshed
    assert len([p for page in comp.customPages for p in page.pars if p.name == "Port"]) == 1


def test_rebuilding_moves_an_earlier_versions_sidecar_parameters(td: TouchDesigner) -> None:
    comp = build(td)
    main = comp.customPages[0]
    for name, value in (("Python", "python"), ("Arguments", "-m voyage_progress watch batch-mine")):
        comp.par[name].destroy()
        main.appendStr(name)[0].val = value
    main.appendHeader("Sidecarheader")
    build(td)
    assert [p.name for p in comp.customPages[1].pars][:2] == ["Python", "Arguments"]
    assert comp.par.Python.eval() == ""  # the old default "python" was never a good one
    assert comp.par.Arguments.eval() == "-m voyage_progress watch batch-mine"  # the user's: kept
    assert not comp.pars("Sidecarheader")


def test_the_builder_supports_builds_before_the_extensions_sequence(tmp_path: Path) -> None:
    td = TouchDesigner(tmp_path, build="legacy")
    comp = build(td)
    assert comp.par.extension1.eval().startswith("op('./VoyageProgressExt')")
    assert comp.par.promoteextension1.eval()
    assert comp.Percent() == 0.0


def test_linked_files_for_development(td: TouchDesigner) -> None:
    comp = build(td, BUILDER.read_text().replace("LINK_FILES = False", "LINK_FILES = True"))
    model = comp.op("model")
    assert Path(model.par.file.eval()) == BUILDER.with_name("voyage_progress_model.py")
    assert model.par.syncfile.eval() and "def apply(" in model.text


def test_a_builder_without_its_files_says_what_is_missing(td: TouchDesigner, tmp_path: Path) -> None:
    lonely = tmp_path / "elsewhere" / "VoyageProgress.py"
    lonely.parent.mkdir()
    lonely.write_text(BUILDER.read_text())
    builder = td.load_text_dat(lonely)
    with pytest.raises(FileNotFoundError, match=r"cannot find voyage_progress_model\.py"):
        td.run_script(builder)


# -- end to end: the real sidecar, real UDP, the fake TouchDesigner -----------------------------------


class Bridge(OscReceiver):
    """Stands in for the OSC In DAT's socket: every datagram is parsed by python-osc (to know what
    was sent) and delivered, as TouchDesigner would, to the component's OSC In DAT, with its
    sender as the peer."""

    def __init__(self, td: TouchDesigner, comp: COMP) -> None:
        super().__init__()
        self.td, self.comp = td, comp

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        super().datagram_received(data, addr)
        self.td.deliver_osc_packet(self.comp.op("oscin"), data, peer=addr[:2])


@contextlib.asynccontextmanager
async def bridge_for(td: TouchDesigner, comp: COMP) -> AsyncIterator[Bridge]:
    bridge = Bridge(td, comp)
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: bridge, local_addr=("127.0.0.1", 0)
    )
    bridge.transport = transport
    try:
        yield bridge
    finally:
        transport.close()


@contextlib.asynccontextmanager
async def sidecar_to(bridge: Bridge, client: VoyageBatchClient, ids: list[str]) -> AsyncIterator[Sidecar]:
    config = SidecarConfig(
        batch_ids=ids,
        destinations=[Destination("127.0.0.1", bridge.port)],
        control_port=None,
        intervals=Intervals(poll=0.05, minimum=0.02, maximum=0.5),
        heartbeat_interval=0.1,
        full_state_interval=0.3,
    )
    sidecar = Sidecar(config, client)
    stop = asyncio.Event()
    task = asyncio.create_task(sidecar.run(stop))
    await sidecar.started.wait()
    try:
        yield sidecar
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def channels_match_the_wire(comp: COMP, bridge: Bridge, slot: int) -> dict[str, Any]:
    """The selected output (as cooked by the last frame) against what the sidecar last sent."""
    values = comp.op("out_selected").fake_values()
    wire = {
        name: bridge.last(f"/voyage/batch/{slot}/{name}")
        for name in (
            "progress",
            "percent",
            "completed",
            "total",
            "failed",
            "rate",
            "eta",
            "eta_low",
            "eta_high",
            "phase",
            "is_complete",
            "is_failed",
        )
    }
    for name, sent in wire.items():
        assert values[name] == pytest.approx(float(sent), rel=1e-6), name  # type: ignore[arg-type]
    assert values["active"] == 1 - int(bridge.last(f"/voyage/batch/{slot}/is_terminal"))  # type: ignore[arg-type]
    assert values["stale"] == 0 and 0 <= values["heartbeat_age"] < 2
    return values


async def step(
    sim: Simulator, sidecar: Sidecar, bridge: Bridge, batch_id: str, slot: int, seconds: float
) -> str:
    """Let ``seconds`` pass in the simulator; return the status once the sidecar has sent it."""
    sim.advance(seconds)
    status = sim.batch(batch_id)["status"]
    sidecar.watcher.refresh()
    await bridge.wait_for(lambda b: b.last(f"/voyage/batch/{slot}/status") == status, timeout=10)
    return status


async def test_a_batch_end_to_end(td: TouchDesigner) -> None:
    comp = build(td)
    comp.op("callbacks").text = RECORDING_CALLBACKS
    comp.par.Staletimeout = 0.5
    async with (
        bridge_for(td, comp) as bridge,
        run_simulator(speed=0) as sim,
        VoyageBatchClient(api_key="k", base_url=sim.base_url, retry_policy=FAST_RETRIES) as client,
    ):
        good, bad = sim.add_batch(400, "normal", label="corpus"), sim.add_batch(30, "fail_validation")
        async with sidecar_to(bridge, client, [good, bad]) as sidecar:
            seen, pulses = [], []
            comp.par.Batchslot = "0"
            for seconds in (0, 100, 300, 300, 300, 60, 30):
                status = await step(sim, sidecar, bridge, good, 0, seconds)
                td.frame()
                values = channels_match_the_wire(comp, bridge, 0)
                seen.append((status, values["percent"]))
                pulses.append(values["completed_pulse"])
                assert comp.Status(0) == status and comp.Percent(0) == values["percent"]
            assert [s for s, _ in seen][:2] == ["validating", "in_progress"] and seen[-1] == (
                "completed",
                100.0,
            )
            assert [p for _, p in seen] == sorted(p for _, p in seen)
            await bridge.wait_for(lambda b: len(b.events("complete")) == 1 and len(b.events("failed")) == 1)
            for _ in range(2):
                td.frame()
                pulses.append(comp.op("out_selected").fake_values()["completed_pulse"])
            assert pulses.count(1.0) == 1  # one frame, once

            comp.par.Batchslot = "1"
            td.frame()
            failed = channels_match_the_wire(comp, bridge, 1)
            assert failed["is_failed"] == 1 and failed["phase"] == 4
            comp.par.Batchslot = "0"
            td.frame()
            strings = comp.op("out_strings")
            assert [strings[r, c].val for r in range(3) for c in (0, 1, 2, 3)] == [
                "slot",
                "id",
                "label",
                "status",
                "0",
                good,
                "corpus",
                "completed",
                "1",
                bad,
                "",
                "failed",
            ]
            assert "invalid_request" in strings[2, 4].val
            slots = comp.op("out_slots").fake_values()
            assert slots["b0_is_complete"] == 1 and slots["b1_is_failed"] == 1 and slots["all_active"] == 0
            assert comp.op("display/label").par.text.eval().startswith("corpus  100.0%  ETA 0s")
        # a clean stop: the sidecar says goodbye, and the component says so at once
        await bridge.wait_for(lambda b: bool(b.events("shutdown")))
        td.frame()
        assert comp.op("out_selected").fake_values()["stale"] == 1
        assert comp.op("display/label").par.text.eval().startswith("sidecar stopped")
    calls = comp.fetch("calls", [], search=False)
    assert ("complete", good) in calls and ("failed", bad) in calls and ("offline", "") in calls
    assert calls.count(("complete", good)) == 1


async def test_a_restarted_sidecar_resets_the_model_and_is_not_news_twice(td: TouchDesigner) -> None:
    comp = build(td)
    comp.op("callbacks").text = RECORDING_CALLBACKS
    async with (
        bridge_for(td, comp) as bridge,
        run_simulator(speed=0) as sim,
        VoyageBatchClient(api_key="k", base_url=sim.base_url, retry_policy=FAST_RETRIES) as client,
    ):
        done, other = sim.add_batch(10, "quick"), sim.add_batch(10)
        sim.advance(600)
        async with sidecar_to(bridge, client, [done]):
            await bridge.wait_for(lambda b: bool(b.events("complete")))
        first_epoch = comp.fetch("voyage_state", search=False)["sidecar"]["epoch"]
        async with sidecar_to(bridge, client, [other, done]) as second:  # other slots this time
            await bridge.wait_for(lambda b: len(b.events("complete")) == 2)
            await bridge.wait_for(lambda b: b.last("/voyage/sidecar/epoch") == second.epoch)
            td.frame()
            state = comp.fetch("voyage_state", search=False)
            assert state["sidecar"]["epoch"] == second.epoch != first_epoch and state["restarts"] == 1
            assert {s: v["id"] for s, v in state["slots"].items()} == {0: other, 1: done}
    calls = comp.fetch("calls", [], search=False)
    assert calls.count(("complete", done)) == 1 and ("restart", "") in calls


async def test_two_sidecars_on_one_port_are_shown_as_such_and_reset_the_model_once(td: TouchDesigner) -> None:
    comp = build(td)
    comp.op("callbacks").text = RECORDING_CALLBACKS
    async with (
        bridge_for(td, comp) as bridge,
        run_simulator(speed=0) as sim,
        VoyageBatchClient(api_key="k", base_url=sim.base_url, retry_policy=FAST_RETRIES) as client,
    ):
        comp.par.Port = bridge.port
        mine, theirs = sim.add_batch(10, label="mine"), sim.add_batch(10, label="theirs")
        async with sidecar_to(bridge, client, [theirs]) as first:
            await bridge.wait_for(lambda b: b.last("/voyage/batch/0/id") == theirs)
            async with sidecar_to(bridge, client, [mine]) as second:
                beats = len(bridge.values("/voyage/sidecar/heartbeat"))
                await bridge.wait_for(lambda b: len(b.values("/voyage/sidecar/heartbeat")) >= beats + 20)
                td.frame()
                state = comp.fetch("voyage_state", search=False)
                assert state["restarts"] == 1 and state["sidecar"]["epoch"] == second.epoch
                assert comp.Batch(0)["id"] == mine and comp.Status(0) == comp.Batch(0)["status"]
                warning = (
                    f"two sidecars send to port {bridge.port}: stop one "
                    f"(showing epoch {second.epoch}, ignoring {first.epoch})"
                )
                assert comp.op("display/label").par.text.eval().endswith("\n" + warning)
                table = comp.op("out_sidecar")
                assert [table[r, 0].val for r in range(table.numRows)][-1] == "warning"
                assert table[table.numRows - 1, 1].val == warning == comp.Warning
            # the second one says goodbye: the first one is followed again at once
            await bridge.wait_for(lambda _: (comp.Batch(0) or {}).get("id") == theirs)
            td.frame()
            state = comp.fetch("voyage_state", search=False)
            assert state["restarts"] == 2 and state["sidecar"]["epoch"] == first.epoch
            assert comp.Batch(0)["id"] == theirs and comp.Warning == ""
            assert comp.op("out_sidecar")[4, 1].val == ""
    assert comp.fetch("calls", [], search=False).count(("restart", "")) == 2


async def test_watch_and_the_sidecar_launched_from_touchdesigner(
    td: TouchDesigner, monkeypatch: pytest.MonkeyPatch
) -> None:
    comp = build(td)
    comp.op("callbacks").text = RECORDING_CALLBACKS
    comp.par.Staletimeout = 1.0
    async with bridge_for(td, comp) as bridge, run_simulator(speed=0) as sim:
        batch_id = sim.add_batch(10)
        monkeypatch.setenv("VOYAGE_API_KEY", "k")
        monkeypatch.setenv("VOYAGE_BASE_URL", sim.base_url)
        with contextlib.closing(__import__("socket").socket(2, 2)) as probe:
            probe.bind(("127.0.0.1", 0))
            control_port = probe.getsockname()[1]
        comp.par.Port = bridge.port
        comp.par.Controlport = control_port
        comp.par.Python = sys.executable
        comp.par.Arguments = "-m voyage_progress watch --no-display --poll-interval 0.2 --min-interval 0.1"
        td.press(comp.par.Start)
        pid = int(comp.SidecarStatus["pid"])
        try:
            await bridge.wait_for(lambda b: len(b.values("/voyage/sidecar/heartbeat")) >= 1, timeout=30)
            td.frame()
            assert comp.SidecarRunning and comp.par.Running.eval() and comp.Online
            comp.par.Batchid = batch_id
            comp.par.Label = "from TouchDesigner"
            td.press(comp.par.Watch)  # real UDP to the sidecar's control port
            await bridge.wait_for(
                lambda b: b.last("/voyage/batch/0/label") == "from TouchDesigner", timeout=20
            )
            td.frame()
            assert (
                comp.Batch(0)["id"] == batch_id and comp.op("out_strings")[1, 2].val == "from TouchDesigner"
            )
            # the sidecar dies without a word: stale within the timeout
            os.kill(pid, signal.SIGKILL)
            await frames_until(td, lambda: ended(comp))
            heartbeats = len(bridge.values("/voyage/sidecar/heartbeat"))
            await asyncio.sleep(1.3)
            assert len(bridge.values("/voyage/sidecar/heartbeat")) == heartbeats
            td.frame()
            assert comp.op("out_selected").fake_values()["stale"] == 1 and not comp.Online
            assert comp.op("display/label").par.text.eval().startswith("sidecar offline")
            assert not comp.SidecarRunning and not comp.par.Running.eval()
            assert comp.SidecarStatus["state"] == "exited" and comp.SidecarStatus["exit_code"] == "-9"
        finally:
            kill(pid)
    assert ("offline", "") in comp.fetch("calls", [], search=False)


async def test_stop_is_clean(td: TouchDesigner, monkeypatch: pytest.MonkeyPatch) -> None:
    comp = build(td)
    async with bridge_for(td, comp) as bridge, run_simulator(speed=0) as sim:
        async with started_sidecar(td, comp, bridge, sim, monkeypatch):
            td.press(comp.par.Stop)
            assert comp.SidecarStatus["state"] == "stopping"
            await frames_until(td, lambda: ended(comp))
            await bridge.wait_for(lambda b: bool(b.events("shutdown")), timeout=10)
    assert comp.SidecarStatus["state"] == "stopped" and comp.SidecarStatus["exit_code"] == "0"
    assert comp.SidecarStatus["last_error"] == ""


def test_reset_and_a_reloaded_extension_keep_working(td: TouchDesigner) -> None:
    comp = build(td)
    oscin = comp.op("oscin")
    for address, args in [
        ("/voyage/sidecar/heartbeat", [1]),
        ("/voyage/event", ["watch", "batch-a", 2]),
        ("/voyage/batch/2/percent", [40.0]),
        ("/voyage/batch/2/progress", [0.4]),
    ]:
        td.deliver_osc(oscin, address, args)
    assert comp.Progress() == 0.4 and comp.Percent(2) == 40.0
    comp.initializeExtensions()  # as after editing the extension's DAT
    assert comp.Progress() == 0.4  # the state lives in storage, not in the extension
    td.press(comp.par.Reset)
    assert comp.Batch(2) is None and comp.Progress() == 0.0


# -- the sidecar started by TouchDesigner ---------------------------------------------------------------


def free_udp_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def kill(pid: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)


async def frames_until(td: TouchDesigner, condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Frames, with time for the sidecar between them, until ``condition`` holds."""
    async with asyncio.timeout(timeout):
        while True:
            td.frame()
            if condition():
                return
            await asyncio.sleep(0.02)


def ended(comp: COMP) -> bool:
    """The component has seen the end of the sidecar it started."""
    return comp.SidecarStatus["state"] in ("stopped", "exited")


def started_pid(comp: COMP) -> int | None:
    """The pid of the sidecar the component started (how earlier versions kept it, too)."""
    table = comp.op("sidecar_process")
    text = table["pid", 1].val if table is not None and table["pid", 1] is not None else ""
    return int(text) if text else comp.fetch("voyage_sidecar_pid", None, search=False)


@contextlib.asynccontextmanager
async def started_sidecar(
    td: TouchDesigner,
    comp: COMP,
    bridge: Bridge,
    sim: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    arguments: str = "-m voyage_progress watch --no-display",
) -> AsyncIterator[int]:
    """The sidecar started with the component's Start, heartbeats arriving; its pid. Killed at the
    end whatever happened."""
    monkeypatch.setenv("VOYAGE_API_KEY", "k")
    monkeypatch.setenv("VOYAGE_BASE_URL", sim.base_url)
    comp.par.Port = bridge.port
    comp.par.Controlport = free_udp_port()
    comp.par.Python = sys.executable
    comp.par.Arguments = arguments
    td.press(comp.par.Start)
    pid = started_pid(comp)
    assert pid is not None, "the sidecar did not start"
    try:
        await bridge.wait_for(lambda b: bool(b.values("/voyage/sidecar/heartbeat")), timeout=30)
        yield pid
    finally:
        kill(pid)


def mini_pyz(folder: Path) -> Path:
    """voyage-progress.pyz as scripts/build.py makes it, without the dependencies (the Python that
    runs it here has them), so that no package index is needed."""
    source = folder / "pyz-source"
    shutil.copytree(
        Path(voyage_progress.__file__).parent,
        source / "voyage_progress",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    (source / "__main__.py").write_text(
        "import sys\nfrom voyage_progress.cli import main\nsys.exit(main())\n"
    )
    target = folder / "voyage-progress.pyz"
    zipapp.create_archive(source, target)
    shutil.rmtree(source)
    return target


async def test_by_default_touchdesigners_python_runs_the_pyz_beside_the_project(
    td: TouchDesigner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pyz = mini_pyz(tmp_path)  # tmp_path is project.folder
    comp = build(td)
    assert comp.par.Python.eval() == "" and comp.par.Arguments.eval().startswith("watch ")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "elsewhere"))
    async with bridge_for(td, comp) as bridge, run_simulator(speed=0) as sim:
        comp.par.Arguments = "watch --no-display"
        async with started_sidecar(td, comp, bridge, sim, monkeypatch, arguments="watch --no-display"):
            command = comp.SidecarStatus["command"]
            assert command.startswith(f"{td.app.pythonExecutable} -u -X utf8 -I {pyz} watch --no-display")
            assert comp.SidecarRunning and comp.par.Running.eval() is False  # until the next frame
            td.frame()
            assert comp.par.Running.eval()
            td.press(comp.par.Stop)
            await frames_until(td, lambda: ended(comp))
    assert comp.SidecarStatus["state"] == "stopped" and bridge.events("shutdown")


async def test_stop_on_windows_goes_through_the_control_port_without_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defect: Ctrl+Break cannot reach a child without a console, and Stop waited 5 s in the
    callback for it."""
    td = TouchDesigner(tmp_path, windows_processes=True)
    comp = build(td)
    async with bridge_for(td, comp) as bridge, run_simulator(speed=0) as sim:
        async with started_sidecar(td, comp, bridge, sim, monkeypatch):
            started = time.monotonic()
            td.press(comp.par.Stop)
            assert time.monotonic() - started < 0.5, "Stop blocked TouchDesigner's main thread"
            await frames_until(td, lambda: ended(comp))
    assert bridge.events("shutdown"), "the sidecar did not stop cleanly"
    assert comp.SidecarStatus["exit_code"] == "0" and comp.SidecarStatus["last_error"] == ""


async def test_a_sidecar_that_ignores_stop_is_terminated_later_from_the_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    td = TouchDesigner(tmp_path, windows_processes=True)
    comp = build(td)
    launcher = comp.op("launcher").module
    monkeypatch.setattr(launcher, "STOP_GRACE", 0.3)
    async with bridge_for(td, comp) as bridge, run_simulator(speed=0) as sim:
        async with started_sidecar(
            td, comp, bridge, sim, monkeypatch, arguments="-m voyage_progress watch --no-display --no-control"
        ):
            td.press(comp.par.Stop)
            await frames_until(td, lambda: ended(comp))
    assert not bridge.events("shutdown")  # nobody heard the control message: TerminateProcess
    assert comp.SidecarStatus["state"] == "stopped" and "terminated" in comp.SidecarStatus["last_error"]


def test_a_status_saved_with_the_component_is_not_taken_for_this_sessions(td: TouchDesigner) -> None:
    comp = build(td)
    comp.op("sidecar_process")["state", 1] = "running"  # as saved in a .tox by its author
    comp.op("sidecar_process")["pid", 1] = "4242"
    td.frame()
    assert comp.SidecarStatus["state"] == "not started" and comp.SidecarStatus["pid"] == ""


def test_the_display_panel_shows_its_label(td: TouchDesigner) -> None:
    """Defect: the panel's Background TOP named a sibling "label", not its child."""
    comp = build(td)
    display = comp.op("display")
    assert display.par.top.eval() is display.op("label")


def test_a_reopened_project_starts_fresh(td: TouchDesigner, tmp_path: Path) -> None:
    """Defect: the model's state, with time.monotonic() times, was saved with the .toe and the
    shipped .tox: old batches shown "online", or a spurious onSidecarOffline."""
    comp = build(td)
    comp.op("callbacks").text = RECORDING_CALLBACKS
    for address, args in [
        ("/voyage/sidecar/heartbeat", [1]),
        ("/voyage/event", ["watch", "batch-author", 0]),
        ("/voyage/batch/0/progress", [0.4]),
    ]:
        td.deliver_osc(comp.op("oscin"), address, args)
    td.frame()
    assert comp.Online and comp.Batch(0)["id"] == "batch-author"
    comp.store("calls", [])
    tox = json.loads(Path(comp.save("Shipped.tox")).read_text())
    assert tox["storage"].get("voyage_state") is None
    td.reopen()
    td.frame()
    assert comp.Batch(0) is None and not comp.Online
    assert comp.op("display/label").par.text.eval().startswith("waiting for the sidecar")
    assert comp.fetch("calls", [], search=False) == []


async def test_the_sidecar_survives_reinitialising_the_extension(
    td: TouchDesigner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defect: the process handle lived in module globals, which re-initialising the extension (as
    the builder does) runs anew: Running went off and Start launched a second sidecar."""
    comp = build(td)
    async with bridge_for(td, comp) as bridge, run_simulator(speed=0) as sim:
        async with started_sidecar(td, comp, bridge, sim, monkeypatch) as pid:
            comp.initializeExtensions()
            td.frame()
            assert comp.SidecarRunning and comp.par.Running.eval()
            build(td)  # the builder again, as after updating the files
            td.press(comp.par.Start)
            td.frame()
            assert started_pid(comp) == pid and comp.SidecarRunning
            epochs = set(bridge.values("/voyage/sidecar/epoch"))
            await asyncio.sleep(0.5)
            assert set(bridge.values("/voyage/sidecar/epoch")) == epochs  # no second sidecar


async def test_quitting_touchdesigner_stops_the_sidecar_it_started(
    td: TouchDesigner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defect: the sidecar outlived TouchDesigner."""
    comp = build(td)
    async with bridge_for(td, comp) as bridge, run_simulator(speed=0) as sim:
        async with started_sidecar(td, comp, bridge, sim, monkeypatch):
            await asyncio.to_thread(td.exit)  # the bridge keeps receiving meanwhile
            await bridge.wait_for(lambda b: bool(b.events("shutdown")), timeout=5)
            assert not comp.SidecarRunning


def test_quoted_paths_in_arguments_on_windows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Defect: on Windows the quotes stayed in the arguments (shlex.split(posix=False))."""
    td = TouchDesigner(tmp_path, windows_processes=True)
    comp = build(td)
    comp.par.Python = sys.executable
    comp.par.Arguments = (
        "-m voyage_progress watch --state-file \"C:\\Show Files\\state.json\" --label 'b=two words'"
    )
    monkeypatch.delenv("VOYAGE_API_KEY", raising=False)  # it ends at once
    td.press(comp.par.Start)
    [process] = td.fake_processes
    process.kill()
    process.wait()
    assert process.args[-8:] == [
        "--state-file",
        "C:\\Show Files\\state.json",
        "--label",
        "b=two words",
        "--osc",
        "127.0.0.1:7450",
        "--control-port",
        "7451",
    ]
    assert process.fake_creationflags == 0x08000000  # CREATE_NO_WINDOW: no console window pops up


def test_the_builder_is_tolerant_of_2025_builds(tmp_path: Path) -> None:
    """Defect: a 2025 build's combineinput and a fresh COMP without an Extension block stopped
    the builder."""
    td = TouchDesigner(tmp_path, build="2025")
    comp = build(td)
    assert build(td) is comp
    label = comp.op("display/label")
    assert label.par.combineinput.eval() and label.par.fontsizexunit.eval() == "pixels"
    assert comp.seq.ext.numBlocks == 1 and comp.Progress() == 0.0


def test_completed_pulse_lasts_its_frame_however_often_the_chop_cooks(td: TouchDesigner) -> None:
    """Defect: a second cook in the same frame took the pulse away."""
    comp = build(td)
    oscin = comp.op("oscin")
    for address, args in [
        ("/voyage/sidecar/heartbeat", [1]),
        ("/voyage/event", ["watch", "batch-a", 0]),
        ("/voyage/event", ["complete", "batch-a", 0]),
    ]:
        td.deliver_osc(oscin, address, args)
    td.frame()
    selected = comp.op("selected")
    assert comp.op("out_selected").fake_values()["completed_pulse"] == 1
    selected.cook(force=True)  # a viewer, an export: TouchDesigner cooks when asked
    assert comp.op("out_selected").fake_values()["completed_pulse"] == 1
    td.frame()
    selected.cook(force=True)
    assert comp.op("out_selected").fake_values()["completed_pulse"] == 0


SHOW_ENVIRONMENT = """\
import os, sys
print("key", os.environ.get("VOYAGE_API_KEY"))
print("pythonpath", os.environ.get("PYTHONPATH"))
print("arguments", sys.argv[1:])
print("voyage-progress: error: something went wrong", file=sys.stderr)
sys.exit(3)
"""


async def test_the_key_file_a_clean_environment_and_the_output_shown(
    td: TouchDesigner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "show_environment.py").write_text(SHOW_ENVIRONMENT)
    (tmp_path / "voyage.key").write_text("sk-from-the-file\n")
    monkeypatch.setenv("VOYAGE_API_KEY", "from-the-environment")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "touchdesigner-python-lib"))
    comp = build(td)
    comp.par.Python = sys.executable
    comp.par.Arguments = "show_environment.py 'two words'"
    comp.par.Keyfile = "voyage.key"  # in the project folder
    td.press(comp.par.Start)
    await frames_until(td, lambda: comp.SidecarStatus["state"] == "exited")
    log = comp.op("sidecar_log").text.splitlines()
    assert "key sk-from-the-file" in log and "pythonpath None" in log
    assert "arguments ['two words', '--osc', '127.0.0.1:7450', '--control-port', '7451']" in log
    status = comp.SidecarStatus
    assert status["exit_code"] == "3"
    assert status["last_error"] == "voyage-progress: error: something went wrong"
    detail = comp.op("display/label").par.text.eval().splitlines()[1]
    assert detail == "sidecar: voyage-progress: error: something went wrong"
    comp.op("sidecar_log").text = ""  # where the test's script printed it
    assert "sk-from-the-file" not in json.dumps(td.describe(comp))  # the key is in no saved parameter


async def test_what_keeps_the_sidecar_from_starting_is_shown(
    td: TouchDesigner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    comp = build(td)
    comp.par.Keyfile = str(tmp_path / "missing.key")
    td.press(comp.par.Start)
    td.frame()
    assert comp.SidecarStatus["state"] == "failed to start" and not comp.SidecarRunning
    assert "voyage-progress.pyz not found" in comp.SidecarStatus["last_error"]
    mini_pyz(tmp_path)
    td.press(comp.par.Start)
    assert comp.SidecarStatus["last_error"] == f"Key File {tmp_path / 'missing.key'}: no such file"
    comp.par.Keyfile = ""
    monkeypatch.delenv("VOYAGE_API_KEY", raising=False)
    td.press(comp.par.Start)
    await frames_until(td, lambda: comp.SidecarStatus["state"] == "exited")
    assert "no API key" in comp.SidecarStatus["last_error"]
    assert "no API key" in comp.op("display/label").par.text.eval()


async def test_a_port_in_use_is_shown(td: TouchDesigner, monkeypatch: pytest.MonkeyPatch) -> None:
    comp = build(td)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        async with run_simulator(speed=0) as sim:
            monkeypatch.setenv("VOYAGE_API_KEY", "k")
            monkeypatch.setenv("VOYAGE_BASE_URL", sim.base_url)
            comp.par.Python = sys.executable
            comp.par.Arguments = "-m voyage_progress watch --no-display"
            comp.par.Controlport = taken.getsockname()[1]
            td.press(comp.par.Start)
            await frames_until(td, lambda: comp.SidecarStatus["state"] == "exited", timeout=20)
    assert "is in use" in comp.SidecarStatus["last_error"]
