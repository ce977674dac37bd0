"""The TouchDesigner component's pure model, under plain pytest, held to the sidecar's namespace."""

from __future__ import annotations

import ast
import importlib.util
import math
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from voyage_progress._version import __version__
from voyage_progress.core.format import format_duration
from voyage_progress.core.models import PHASES
from voyage_progress.outputs.osc import NAMESPACE, STATUSES

TD = Path(__file__).parent.parent / "td_components"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, TD / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


model = load("voyage_progress_model")


def feed(state: dict, messages: list[tuple[str, list[object]]], now: float = 100.0) -> list[tuple[str, dict]]:
    fired = []
    for address, args in messages:
        fired += model.apply(state, address, args, now)
    return fired


def batch_bundle(slot: int, batch_id: str, **fields: object) -> list[tuple[str, list[object]]]:
    values = {"id": batch_id, **fields}
    return [(f"/voyage/batch/{slot}/{name}", [value]) for name, value in values.items()]


def test_the_model_knows_every_address_of_the_namespace() -> None:
    received = {a.path.split("/")[-1] for a in NAMESPACE["batch"]}
    assert received == set(model.SLOT_DEFAULTS)
    assert {a.path.split("/")[-1] for a in NAMESPACE["all"]} == set(model.SUMMARY_DEFAULTS)
    assert {a.path.split("/")[-1] for a in NAMESPACE["sidecar"]} == set(model.SIDECAR_DEFAULTS)
    for address in NAMESPACE["batch"] + NAMESPACE["all"] + NAMESPACE["sidecar"]:
        default = {**model.SLOT_DEFAULTS, **model.SUMMARY_DEFAULTS, **model.SIDECAR_DEFAULTS}[
            address.path.split("/")[-1]
        ]
        expected = {"s": str, "i": int, "f": float}[address.types]
        assert type(default) is expected, address.path
    assert tuple(s.value for s in PHASES) == model.PHASES
    assert __version__ == model.VERSION


def test_durations_read_as_in_the_sidecar() -> None:
    for seconds in [None, -1, 0, 0.4, 59.4, 59.6, 60, 750, 3599, 3600, 7380, 1e6, math.inf, math.nan]:
        assert model.format_duration(seconds) == format_duration(seconds), seconds


def test_td_components_import_only_the_standard_library() -> None:
    allowed = {"os", "sys", "time", "math", "shlex", "signal", "subprocess", "json", "re"}
    allowed |= {"collections", "threading"}  # the launcher's output reader
    for path in TD.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [(node.module or "").split(".")[0]]
            else:
                continue
            for name in names:
                assert name in allowed, f"{path.name} imports {name}"
                assert name != "voyage_progress"
    assert "voyage_progress" not in re.findall(
        r"import (\w+)", "\n".join(p.read_text() for p in TD.glob("*.py"))
    )


def test_a_batch_from_validating_to_complete() -> None:
    state = model.new_state()
    feed(
        state,
        [
            ("/voyage/sidecar/epoch", [42]),
            ("/voyage/sidecar/heartbeat", [1]),
            ("/voyage/event", ["watch", "batch-a", 0]),
        ],
    )
    feed(state, batch_bundle(0, "batch-a", status="validating", phase=0, label="corpus"))
    channels = model.selected_channels(state, model.selected_slot(state, "latest"), 100.0, 5.0)
    assert list(channels) == list(model.SELECTED_CHANNELS)
    assert channels["phase"] == 0 and channels["active"] == 1 and channels["stale"] == 0

    feed(
        state,
        batch_bundle(
            0,
            "batch-a",
            status="in_progress",
            phase=1,
            progress=0.25,
            percent=25.0,
            total=400,
            completed=100,
            rate=3.5,
            eta=85.7,
        ),
    )
    shown = model.display(state, 0, 100.0, 5.0)
    assert (
        shown["text"] == "corpus  25.0%  ETA 1m 26s"
        and shown["progress"] == 0.25
        and shown["color"] == "running"
    )

    fired = feed(
        state,
        [
            *batch_bundle(
                0,
                "batch-a",
                status="completed",
                phase=3,
                progress=1.0,
                percent=100.0,
                completed=400,
                is_complete=1,
                is_terminal=1,
                eta=0.0,
            ),
            ("/voyage/event", ["complete", "batch-a", 0]),
        ],
    )
    assert [name for name, _ in fired] == ["onBatchComplete"]
    assert fired[0][1]["label"] == "corpus" and fired[0][1]["completed"] == 400
    first = model.selected_channels(state, 0, 100.0, 5.0)
    again = model.selected_channels(state, 0, 100.0, 5.0)
    assert first["completed_pulse"] == 1 and again["completed_pulse"] == 0  # one frame
    assert first["is_complete"] == 1 and first["active"] == 0


def test_failed_batches_and_strings() -> None:
    state = model.new_state()
    fired = feed(
        state,
        [
            *batch_bundle(
                3,
                "batch_b",
                status="failed",
                error="invalid_request (line 1): bad",
                is_failed=1,
                is_terminal=1,
                phase=4,
                provider="openai",
            ),
            ("/voyage/event", ["failed", "batch_b", 3]),
        ],
    )
    assert [name for name, _ in fired] == ["onBatchFailed"]
    assert model.table_rows(state) == [
        ["slot", "id", "label", "status", "error", "provider"],
        ["3", "batch_b", "", "failed", "invalid_request (line 1): bad", "openai"],
    ]
    assert model.slot_channels(state)["b3_is_failed"] == 1


def test_every_slot_and_the_summary() -> None:
    state = model.new_state()
    feed(state, batch_bundle(0, "a", progress=0.5) + batch_bundle(2, "b", progress=0.1))
    feed(state, [("/voyage/all/progress", [0.3]), ("/voyage/all/eta", [120.0]), ("/voyage/all/active", [2])])
    channels = model.slot_channels(state)
    assert channels["b0_progress"] == 0.5 and channels["b2_progress"] == 0.1 and "b1_progress" not in channels
    assert (channels["all_progress"], channels["all_eta"], channels["all_active"]) == (0.3, 120.0, 2.0)
    assert [name for name in channels if name.startswith("b0_")] == [f"b0_{n}" for n in model.SLOT_CHANNELS]


def test_stale_offline_and_back() -> None:
    state = model.new_state()
    assert model.is_stale(state, 0.0, 5.0)  # nothing heard yet
    assert model.display(state, None, 0.0, 5.0, port=7000)["text"] == "waiting for the sidecar on port 7000"
    feed(state, [("/voyage/sidecar/heartbeat", [1])], now=10.0)
    assert model.check_online(state, 11.0, 5.0) == [("onSidecarOnline", {"heartbeat_age": 1.0, "running": 1})]
    assert model.check_online(state, 14.0, 5.0) == []
    fired = model.check_online(state, 16.0, 5.0)
    assert [name for name, _ in fired] == ["onSidecarOffline"]
    channels = model.selected_channels(state, None, 16.0, 5.0)
    assert channels["stale"] == 1 and channels["heartbeat_age"] == 6.0
    assert model.display(state, None, 16.0, 5.0) == {
        "text": "sidecar offline",
        "detail": "no heartbeat for 6s",
        "progress": 0.0,
        "color": "offline",
    }


def test_a_clean_shutdown_is_not_a_crash() -> None:
    state = model.new_state()
    feed(state, [("/voyage/sidecar/heartbeat", [1]), ("/voyage/event", ["shutdown", "", -1])])
    assert model.is_stale(state, 100.0, 5.0)
    assert model.display(state, None, 100.0, 5.0)["text"] == "sidecar stopped"


def test_a_new_epoch_resets_and_repeated_ends_are_not_news() -> None:
    state = model.new_state()
    feed(
        state,
        [
            ("/voyage/sidecar/epoch", [1]),
            *batch_bundle(0, "batch-a", is_complete=1),
            ("/voyage/event", ["complete", "batch-a", 0]),
        ],
    )
    fired = feed(state, [("/voyage/sidecar/epoch", [2])])
    assert fired == [("onSidecarRestart", {"epoch": 2, "restarts": 1})]
    assert state["slots"] == {}  # the new sidecar's slots are its own
    again = feed(
        state, [*batch_bundle(4, "batch-a", is_complete=1), ("/voyage/event", ["complete", "batch-a", 4])]
    )
    assert again == []  # announced in the previous life
    assert state["slots"][4]["id"] == "batch-a"


def test_a_slot_taken_by_another_batch_starts_clean() -> None:
    state = model.new_state()
    feed(state, batch_bundle(0, "batch-a", percent=80.0, label="old"))
    feed(state, [("/voyage/event", ["unwatch", "batch-a", 0]), ("/voyage/event", ["watch", "batch-b", 0])])
    assert state["slots"][0]["id"] == "batch-b" and state["slots"][0]["percent"] == 0.0
    feed(state, batch_bundle(0, "batch-c"))
    assert state["slots"][0]["label"] == ""


@pytest.mark.parametrize(
    ("address", "args"),
    [
        ("/other/batch/0/percent", [1.0]),
        ("/voyage/batch/x/percent", [1.0]),
        ("/voyage/batch/0/unknown", [1]),
        ("/voyage/batch/0/percent", []),
        ("/voyage/batch/0/percent", ["NaN"]),
        ("/voyage/event", ["complete"]),
        ("/voyage/sidecar/heartbeat", ["lots"]),
        ("/voyage", [1]),
        ("/voyage/batch/-1/id", ["x"]),
    ],
)
def test_garbage_is_ignored(address: str, args: list[object]) -> None:
    state = model.new_state()
    assert model.apply(state, address, args, 1.0) == []
    channels = model.selected_channels(state, 0, 1.0, 5.0)
    assert all(math.isfinite(v) for v in channels.values())


def test_state_is_plain_data() -> None:
    import json
    import pickle

    state = model.new_state()
    feed(state, [*batch_bundle(0, "batch-a", percent=10.0), ("/voyage/event", ["complete", "batch-a", 0])])
    assert pickle.loads(pickle.dumps(state)) == state
    json.dumps({**state, "slots": {str(k): v for k, v in state["slots"].items()}})


def test_the_model_colours_every_status_the_sidecar_sends() -> None:
    assert set(model.STATUS_COLORS) == set(STATUSES)
    assert set(model.STATUS_COLORS.values()) <= {"running", "complete", "failed", "idle"}
    state = model.new_state()
    feed(state, [("/voyage/sidecar/heartbeat", [1]), ("/voyage/sidecar/api_ok", [1])])
    feed(state, batch_bundle(0, "batch-gone", status="error", error="batch not found", is_terminal=1))
    assert model.display(state, 0, 100.0, 5.0)["color"] == "failed"  # not "running": it cannot be read
    feed(state, batch_bundle(0, "batch-gone", status="cancelled", phase=6, is_terminal=1))
    assert model.display(state, 0, 100.0, 5.0)["color"] == "idle"


# -- hostile and broken input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling", [" 3", "3 ", "3.9", "3.0", "03", "+3", "1e300", "3e0", "0x3", "３", "-0", "256", "99999"]
)
def test_only_the_plain_digits_of_a_slot_below_the_cap_are_a_slot(spelling: str) -> None:
    state = model.new_state()
    feed(state, batch_bundle(3, "batch-real", percent=30.0))
    feed(
        state,
        [(f"/voyage/batch/{spelling}/id", ["batch-alias"]), (f"/voyage/batch/{spelling}/percent", [99.0])],
    )
    assert set(state["slots"]) == {3}
    assert state["slots"][3]["id"] == "batch-real" and state["slots"][3]["percent"] == 30.0
    assert model.selected_slot(state, spelling) in (None, 3)  # the parameter reads it the same way


@pytest.mark.parametrize("slot", [3.9, 3.0, "3.9", " 3", 1e300, True, -1, 256, 2**40, None])
def test_events_name_a_slot_by_a_plain_number_only(slot: object) -> None:
    state = model.new_state()
    fired = feed(
        state,
        [
            ("/voyage/event", ["watch", "batch-a", slot]),
            ("/voyage/event", ["complete", "batch-a", slot]),
            ("/voyage/event", ["unwatch", "batch-a", slot]),
        ],
    )
    assert state["slots"] == {} and state["pulses"] == []
    assert [(name, info["slot"]) for name, info in fired] == [("onBatchComplete", -1)]  # still news


def test_slots_and_pulses_are_capped_whatever_arrives() -> None:
    assert model.MAX_SLOTS == 256
    state = model.new_state()
    for slot in range(10_000):
        feed(
            state,
            [
                (f"/voyage/batch/{slot}/progress", [0.5]),
                ("/voyage/event", ["complete", f"batch-{slot}", slot]),
            ],
        )
    assert sorted(state["slots"]) == list(range(model.MAX_SLOTS))
    assert len(state["pulses"]) == model.MAX_SLOTS
    assert len(model.slot_channels(state)) == model.MAX_SLOTS * len(model.SLOT_CHANNELS) + 3
    assert len(model.table_rows(state)) == model.MAX_SLOTS + 1
    feed(state, [("/voyage/event", ["unwatch", "batch-7", 7])])
    assert 7 not in state["pulses"]  # a pulse goes with its slot


def health(epoch: int, beat: int) -> list[tuple[str, list[object]]]:
    """One health bundle, in the order the sidecar sends it."""
    return [
        ("/voyage/sidecar/heartbeat", [beat]),
        ("/voyage/sidecar/epoch", [epoch]),
        ("/voyage/sidecar/running", [1]),
        ("/voyage/sidecar/api_ok", [1]),
        ("/voyage/sidecar/message", ["ok"]),
    ]


def talk(
    state: dict[str, Any], epoch: int, source: str | None, beat: int, now: float, batch_id: str, slot: int
) -> list[tuple[str, dict[str, Any]]]:
    """One second of a sidecar: its health bundle, then its batch's."""
    fired = []
    for address, args in [*health(epoch, beat), *batch_bundle(slot, batch_id, percent=float(beat))]:
        fired += model.apply(state, address, args, now, source)
    return fired


@pytest.mark.parametrize("sources", [("127.0.0.1:50001", "127.0.0.1:50002"), (None, None)])
def test_two_sidecars_on_one_port_are_named_and_reset_the_model_once(sources: tuple[str | None, ...]) -> None:
    first, second = sources
    state = model.new_state()
    fired = talk(state, 111, first, 1, 0.0, "batch-first", 0)
    fired += talk(state, 111, first, 2, 1.0, "batch-first", 0)
    for beat in range(2, 22):  # ten seconds of both, each sending every second
        now = beat * 1.0
        fired += talk(state, 222, second, beat, now, "batch-second", 1)
        fired += talk(state, 111, first, beat + 1, now + 0.5, "batch-first", 0)
        shown = model.display(state, 1, now + 0.5, 5.0, port=7000)
        assert shown["detail"] == "two sidecars send to port 7000: stop one (showing epoch 222, ignoring 111)"
    assert [name for name, _ in fired] == ["onSidecarRestart"]  # when the second one started, only
    assert state["sidecar"]["epoch"] == 222 and state["restarts"] == 1
    assert model.sidecar_rows(state, 21.5) == [
        ["name", "value"],
        ["epoch", "222"],
        ["version", ""],
        ["message", "ok"],
        ["warning", "two sidecars send to this port: stop one (showing epoch 222, ignoring 111)"],
    ]
    if first is not None:  # told apart by their address: nothing of the other one's is shown
        assert {s: b["id"] for s, b in state["slots"].items()} == {1: "batch-second"}
        assert state["slots"][1]["percent"] == 21.0

    # the first one stops: the warning goes once the window has passed
    for beat in range(22, 30):
        talk(state, 222, second, beat, beat * 1.0, "batch-second", 1)
    assert model.warning(state, 29.0) == "" and model.display(state, 1, 29.0, 5.0)["detail"] == ""
    assert state["restarts"] == 1


def test_the_other_sidecar_is_followed_when_the_followed_one_falls_silent() -> None:
    state = model.new_state()
    talk(state, 111, "a:1", 1, 0.0, "batch-first", 0)
    for beat in range(1, 5):
        talk(state, 222, "b:2", beat, beat * 1.0, "batch-second", 1)
        talk(state, 111, "a:1", beat, beat + 0.5, "batch-first", 0)
    assert state["sidecar"]["epoch"] == 222 and model.warning(state, 4.5)
    fired = []
    for beat in range(5, 12):  # the second one died without a word: the first one goes on
        fired += talk(state, 111, "a:1", beat, beat + 0.5, "batch-first", 0)
    assert [name for name, _ in fired] == ["onSidecarRestart"]
    assert state["sidecar"]["epoch"] == 111 and state["restarts"] == 2
    assert {s: b["id"] for s, b in state["slots"].items()} == {0: "batch-first"}
    assert model.warning(state, 11.5) == ""


def test_a_sidecar_killed_and_started_again_at_once_is_a_restart_not_two_sidecars() -> None:
    state = model.new_state()
    for beat in range(1, 4):
        talk(state, 111, "a:1", beat, beat * 1.0, "batch-a", 0)
    fired = talk(state, 222, "a:2", 1, 3.3, "batch-a", 0)  # killed at 3.1, back at 3.3
    fired += talk(state, 222, "a:2", 2, 4.3, "batch-a", 0)
    assert [name for name, _ in fired] == ["onSidecarRestart"] and model.warning(state, 4.3) == ""
    assert state["slots"][0]["percent"] == 2.0


@pytest.mark.parametrize("epoch", ["lots", 0, -5, 2**31, 1.5, "1e3", True])
def test_an_epoch_that_is_not_one_never_resets(epoch: object) -> None:
    state = model.new_state()
    feed(state, [*health(111, 1), *batch_bundle(0, "batch-a")])
    assert feed(state, [("/voyage/sidecar/epoch", [epoch])]) == []
    assert state["sidecar"]["epoch"] == 111 and 0 in state["slots"]


def test_stalled_and_at_risk_reach_the_channels_and_the_panel() -> None:
    state = model.new_state()
    feed(
        state,
        [
            ("/voyage/sidecar/heartbeat", [1]),
            ("/voyage/batch/0/id", ["batch_a"]),
            ("/voyage/batch/0/status", ["in_progress"]),
            ("/voyage/batch/0/stalled", [1]),
            ("/voyage/batch/0/at_risk", [1]),
            ("/voyage/batch/0/deadline", [3600.0]),
        ],
    )
    channels = model.selected_channels(state, 0, 101.0, 5.0)
    assert (channels["stalled"], channels["at_risk"], channels["deadline"]) == (1.0, 1.0, 3600.0)
    assert model.slot_channels(state)["b0_at_risk"] == 1.0
    detail = model.display(state, 0, 101.0, 5.0)["detail"]
    assert "stalled" in detail and "at risk" in detail
