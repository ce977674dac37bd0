"""The TouchDesigner component, built by its builder in the strict fake of TouchDesigner's API,
fed by the real sidecar over real UDP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

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
    "out_selected": "outCHOP",
    "out_slots": "outCHOP",
    "out_strings": "outDAT",
    "display": "containerCOMP",
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
    assert [page.name for page in comp.customPages] == ["Voyage Progress"]
    assert comp.par.Version.eval() == "0.1.0" and comp.par.Running.readOnly
    assert comp.op("oscin").par.port.eval() == 7000  # follows Port by expression
    comp.par.Port = 7123
    assert comp.op("oscin").par.port.eval() == 7123
    assert comp.par.opviewer.eval() == "./display" and comp.viewer
    saved = json.loads((tmp_path / "VoyageProgress.tox").read_text())
    assert saved["name"] == "voyage_progress" and len(saved["children"]) == len(EXPECTED_CHILDREN)
    # the code is embedded, from the files beside the builder
    model_file = BUILDER.with_name("voyage_progress_model.py")
    assert comp.op("model").text == model_file.read_text() and not comp.op("model").par.file.eval()
    assert comp.Progress() == 0.0  # the extension is promoted


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
    was sent) and delivered, as TouchDesigner would, to the component's OSC In DAT."""

    def __init__(self, td: TouchDesigner, comp: COMP) -> None:
        super().__init__()
        self.td, self.comp = td, comp

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        super().datagram_received(data, addr)
        self.td.deliver_osc_packet(self.comp.op("oscin"), data)


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
            process = comp.op("VoyageProgressExt").module._processes[comp.path]
            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)
            heartbeats = len(bridge.values("/voyage/sidecar/heartbeat"))
            await asyncio.sleep(1.3)
            assert len(bridge.values("/voyage/sidecar/heartbeat")) == heartbeats
            td.frame()
            assert comp.op("out_selected").fake_values()["stale"] == 1 and not comp.Online
            assert comp.op("display/label").par.text.eval().startswith("sidecar offline")
            assert not comp.SidecarRunning
            td.frame()
            assert not comp.par.Running.eval()
        finally:
            td.press(comp.par.Stop)
    assert ("offline", "") in comp.fetch("calls", [], search=False)


async def test_stop_is_clean(td: TouchDesigner, monkeypatch: pytest.MonkeyPatch) -> None:
    comp = build(td)
    async with bridge_for(td, comp) as bridge, run_simulator(speed=0) as sim:
        monkeypatch.setenv("VOYAGE_API_KEY", "k")
        monkeypatch.setenv("VOYAGE_BASE_URL", sim.base_url)
        comp.par.Port = bridge.port
        comp.par.Python = sys.executable
        comp.par.Arguments = "-m voyage_progress watch --no-display --no-control"
        td.press(comp.par.Start)
        await bridge.wait_for(lambda b: bool(b.values("/voyage/sidecar/heartbeat")), timeout=30)
        await asyncio.to_thread(td.press, comp.par.Stop)
        await bridge.wait_for(lambda b: bool(b.events("shutdown")), timeout=10)
    assert not comp.SidecarRunning


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
