"""A new provider and a new output are a module and a registry line each: a fake of each,
registered here, runs through the real sidecar from the first read to the saved end."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.fake_output import FakeOutput
from tests.fake_provider import FakeProvider
from tests.test_sidecar import sidecar_saved
from voyage_progress.core.commands import Command, CommandKind
from voyage_progress.core.frame import BatchSnapshot, Event, EventKind
from voyage_progress.outputs import OUTPUTS
from voyage_progress.providers import PROVIDERS, open_provider
from voyage_progress.sidecar import Intervals, Sidecar, SidecarConfig


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PROVIDERS, "fake", "tests.fake_provider:FakeProvider")
    monkeypatch.setitem(OUTPUTS, "fake", "tests.fake_output:FakeOutput")


def config(tmp_path: Path, **fields: object) -> SidecarConfig:
    return SidecarConfig(
        outputs=("fake",),
        intervals=Intervals(poll=0.02, minimum=0.01, maximum=0.1),
        heartbeat_interval=0.05,
        full_state_interval=0.1,
        state_file=tmp_path / "state.json",
        **fields,  # type: ignore[arg-type]
    )


def events(output: FakeOutput) -> list[tuple[EventKind, str | None]]:
    news = [item for frame in output.frames for item in frame.news]
    return [(e.kind, e.batch.batch_id if e.batch else None) for e in news if isinstance(e, Event)]


def percents(output: FakeOutput, batch_id: str) -> list[float]:
    news = [item for frame in output.frames for item in frame.news]
    return [b.percent for b in news if isinstance(b, BatchSnapshot) and b.batch_id == batch_id]


async def test_a_fake_provider_and_a_fake_output_run_through_the_sidecar(tmp_path: Path) -> None:
    provider = open_provider("fake", api_key="unused")
    assert isinstance(provider, FakeProvider) and provider.options == {"api_key": "unused"}
    sidecar = Sidecar(config(tmp_path, batch_ids=["fake_a"], labels={"fake_a": "first"}), provider)
    output = sidecar.outputs[0]
    assert isinstance(output, FakeOutput) and len(sidecar.outputs) == 2  # the fake, and the view
    stop = asyncio.Event()
    run = asyncio.create_task(sidecar.run(stop))
    await asyncio.wait_for(sidecar.started.wait(), 5)
    assert output.commands is not None
    assert output.commands(Command(CommandKind.WATCH, "fake_b", "second", ("fake", 0))) is None  # done
    await asyncio.wait_for(sidecar.wait_all_ended(), 10)
    stop.set()
    await asyncio.wait_for(run, 5)
    await provider.aclose()

    seen = events(output)
    assert seen[0] == (EventKind.START, None) and seen[-1] == (EventKind.SHUTDOWN, None)
    for batch_id in ("fake_a", "fake_b"):
        assert seen.count((EventKind.WATCH, batch_id)) == 1
        assert seen.count((EventKind.COMPLETE, batch_id)) == 1
        assert percents(output, batch_id)[-3:] == [40.0, 80.0, 100.0]
    last = output.frames[-1]
    assert [(b.slot, b.label, b.status) for b in last.batches] == [
        (0, "first", "completed"),
        (1, "second", "completed"),
    ]
    assert last.summary.total == 20 and last.summary.percent == 100.0 and not last.health.running
    assert "fake → memory" in last.health.endpoints
    assert any(frame.beat for frame in output.frames) and any(frame.full for frame in output.frames)
    assert output.closed and provider.closed
    saved = json.loads((tmp_path / "state.json").read_text())["batches"]
    assert [(b["id"], b["reported_end"]) for b in saved] == [("fake_a", "complete"), ("fake_b", "complete")]


async def test_an_end_is_said_once_the_output_has_it_out(tmp_path: Path) -> None:
    """The fake output lets frames out later than it is given them: until then, the state file
    must not hold the end (a restart says it again)."""
    provider = FakeProvider()
    sidecar = Sidecar(config(tmp_path, batch_ids=["fake_a"]), provider)
    await sidecar.start()
    for _ in range(4):
        sidecar.watcher.refresh()
        await sidecar.watcher.poll_once()
    batch = sidecar.watcher.batches["fake_a"]
    await asyncio.sleep(0)  # the flush: the frame with the end is given to the output
    assert batch.status == "completed" and batch.end_said is None
    assert json.loads((tmp_path / "state.json").read_text())["batches"][0]["reported_end"] is None
    await asyncio.sleep(0.05)  # the output has it out
    assert batch.end_said == "complete"
    await sidecar_saved(sidecar, lambda batches: batches[0]["reported_end"] == "complete")
    await sidecar.shutdown()


def test_an_unknown_name_is_one_line() -> None:
    with pytest.raises(ValueError, match=r"unknown provider 'nope'; one of: voyage, openai, anthropic, fake"):
        open_provider("nope")
    with pytest.raises(ValueError, match=r"unknown output 'nope'; one of: osc, oscquery, web, fake"):
        Sidecar(SidecarConfig(outputs=("nope",)), FakeProvider())
