"""The sidecar end to end: real HTTP to the simulator, real UDP to a receiving socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.conftest import FAST_RETRIES
from tests.osc_receiver import OscReceiver, open_receiver
from voyage_progress import VoyageBatchClient
from voyage_progress.outputs.osc import NAMESPACE, OscOutput
from voyage_progress.outputs.osc._sender import Destination
from voyage_progress.sidecar import Sidecar, SidecarConfig
from voyage_progress.simulator import Simulator, run_simulator
from voyage_progress.watcher import Intervals

PREFIX = "/voyage"


@pytest.fixture
async def receiver() -> AsyncIterator[OscReceiver]:
    r = await open_receiver()
    yield r
    r.close()


@contextlib.asynccontextmanager
async def running_sidecar(config: SidecarConfig, client: VoyageBatchClient) -> AsyncIterator[Sidecar]:
    sidecar = Sidecar(config, client)
    stop = asyncio.Event()
    task = asyncio.create_task(sidecar.run(stop))
    started = asyncio.ensure_future(sidecar.started.wait())
    await asyncio.wait([task, started], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()  # raises what stopped it
    try:
        yield sidecar
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def osc_output(sidecar: Sidecar) -> OscOutput:
    return next(output for output in sidecar.outputs if isinstance(output, OscOutput))


def fast_config(receiver: OscReceiver, **kwargs: object) -> SidecarConfig:
    settings: dict[str, object] = {"control_port": None, **kwargs}
    return SidecarConfig(
        destinations=[Destination("127.0.0.1", receiver.port)],
        intervals=Intervals(poll=0.05, minimum=0.02, maximum=0.5),
        heartbeat_interval=0.1,
        full_state_interval=0.5,
        **settings,  # type: ignore[arg-type]
    )


def ended(receiver: OscReceiver, ids: list[str]) -> bool:
    kinds = ("complete", "failed", "cancelled", "expired", "error")
    return {e[1] for e in receiver.events() if e[0] in kinds} >= set(ids)


def terminal_ids(receiver: OscReceiver) -> set[object]:
    """Batch ids whose latest state on the wire says they have ended."""
    latest: dict[str, object] = {}
    for m in receiver.messages:
        if m.address.startswith(f"{PREFIX}/batch/") and m.address.endswith(("/id", "/is_terminal")):
            latest[m.address] = m.args[0]
    slots = {a.rsplit("/", 2)[1] for a in latest}
    return {
        latest.get(f"{PREFIX}/batch/{s}/id")
        for s in slots
        if latest.get(f"{PREFIX}/batch/{s}/is_terminal") == 1
    }


async def test_every_batch_of_a_hundred_reaches_osc(receiver: OscReceiver) -> None:
    async with run_simulator(speed=3000) as sim:
        ids = [
            sim.add_batch(30, scenario)
            for scenario in ["quick", "partial_failures", "fail_validation", "cancel"] * 25
        ]
        async with VoyageBatchClient(api_key="k", base_url=sim.base_url, retry_policy=FAST_RETRIES) as client:
            async with running_sidecar(fast_config(receiver, batch_ids=ids), client) as sidecar:
                try:
                    await receiver.wait_for(lambda r: terminal_ids(r) >= set(ids), timeout=60)
                    await receiver.wait_for(lambda r: ended(r, ids))
                except AssertionError:
                    active = [b for b in sidecar.watcher.batches.values() if b.is_active]
                    print(
                        "DEBUG",
                        len(terminal_ids(receiver)),
                        len(active),
                        sidecar.watcher.health,
                        [(b.slot, b.status, b.next_due - sidecar.watcher.clock()) for b in active][:5],
                        sidecar.watcher.next_cycle_at() - sidecar.watcher.clock(),
                        len(osc_output(sidecar).outbox),
                    )
                    raise
                health = sidecar.watcher.health
                requests, cycles, per_cycle = health.requests, health.cycles, health.requests / health.cycles
                print(f"\n100 batches: {requests} requests, {cycles} cycles, {per_cycle:.2f} per cycle")
                assert health.requests / health.cycles <= 2
    slot_of = {e[1]: e[2] for e in receiver.events("watch")}
    assert sorted(slot_of.values()) == list(range(100))
    for batch_id in ids:
        slot = slot_of[batch_id]
        assert receiver.last(f"{PREFIX}/batch/{slot}/is_terminal") == 1
        assert receiver.last(f"{PREFIX}/batch/{slot}/id") == batch_id
    ends = {kind: len(receiver.events(kind)) for kind in ("complete", "failed", "cancelled")}
    assert ends == {"complete": 50, "failed": 25, "cancelled": 25}  # each once


async def test_the_stream_carries_the_whole_namespace_consistently(receiver: OscReceiver) -> None:
    async with run_simulator(speed=2000) as sim:
        ids = [sim.add_batch(200, "normal", label="corpus"), sim.add_batch(20, "fail_validation")]
        async with VoyageBatchClient(api_key="k", base_url=sim.base_url, retry_policy=FAST_RETRIES) as client:
            async with running_sidecar(fast_config(receiver, batch_ids=ids), client):
                await receiver.wait_for(lambda r: ended(r, ids))
                await receiver.wait_for(lambda r: len(r.values(f"{PREFIX}/sidecar/heartbeat")) >= 8)
    seen = {m.address: m.types for m in receiver.messages}
    for group, addresses in NAMESPACE.items():
        if group == "control":
            continue
        for address in addresses:
            full = address.full(PREFIX, 0)
            assert seen.get(full) == address.types, f"{full}: {seen.get(full)!r} != {address.types!r}"
    assert all(m.in_bundle for m in receiver.messages if "/batch/" in m.address)
    for slot in (0, 1):
        percents = [float(v) for v in receiver.values(f"{PREFIX}/batch/{slot}/percent")]  # type: ignore[arg-type]
        assert percents == sorted(percents)
    assert receiver.last(f"{PREFIX}/batch/0/label") == "corpus"
    assert receiver.last(f"{PREFIX}/batch/0/percent") == 100.0
    assert receiver.last(f"{PREFIX}/batch/1/is_failed") == 1 and "validation" in str(
        receiver.last(f"{PREFIX}/batch/1/error")
    )
    assert receiver.events("complete") == [("complete", ids[0], 0)]
    assert receiver.events("failed") == [("failed", ids[1], 1)]
    for name in ("eta", "eta_low", "eta_high"):  # done is 0; an end without results is unknown
        assert receiver.last(f"{PREFIX}/batch/0/{name}") == 0.0
        assert receiver.last(f"{PREFIX}/batch/1/{name}") == -1.0
    assert receiver.last(f"{PREFIX}/all/eta") == -1.0  # nothing active, and not all completed
    beats = receiver.values(f"{PREFIX}/sidecar/heartbeat")
    assert list(dict.fromkeys(beats)) == list(range(1, max(beats) + 1))  # the shutdown repeats the last
    assert len(set(receiver.values(f"{PREFIX}/sidecar/epoch"))) == 1
    assert receiver.events("start") and receiver.events("shutdown")  # announced on OSC
    assert receiver.last(f"{PREFIX}/sidecar/running") == 0


async def test_a_receiver_that_starts_late_catches_up(receiver: OscReceiver) -> None:
    async with run_simulator(speed=0) as sim:
        batch_id = sim.add_batch(10)
        async with VoyageBatchClient(api_key="k", base_url=sim.base_url, retry_policy=FAST_RETRIES) as client:
            async with running_sidecar(fast_config(receiver, batch_ids=[batch_id]), client):
                await receiver.wait_for(lambda r: r.last(f"{PREFIX}/batch/0/status") == "validating")
                receiver.clear()  # as if TouchDesigner opened only now
                await receiver.wait_for(lambda r: r.last(f"{PREFIX}/batch/0/id") == batch_id, timeout=2)


async def test_an_unreachable_api_is_reported_without_stopping(receiver: OscReceiver) -> None:
    async with run_simulator(speed=0) as sim:
        batch_id = sim.add_batch(10)
        async with VoyageBatchClient(api_key="k", base_url=sim.base_url, retry_policy=FAST_RETRIES) as client:
            async with running_sidecar(fast_config(receiver, batch_ids=[batch_id]), client):
                await receiver.wait_for(lambda r: r.last(f"{PREFIX}/sidecar/api_ok") == 1)
                sim.faults.unavailable = 1.0
                await receiver.wait_for(lambda r: r.last(f"{PREFIX}/sidecar/api_ok") == 0)
                message = receiver.last(f"{PREFIX}/sidecar/message")
                assert isinstance(message, str) and message.startswith("API unreachable")
                assert receiver.last(f"{PREFIX}/batch/0/status") == "validating"  # the last state stays
                sim.faults.unavailable = 0.0
                await receiver.wait_for(lambda r: r.last(f"{PREFIX}/sidecar/api_ok") == 1, timeout=10)


async def test_control_input_watch_unwatch_refresh_cancel(receiver: OscReceiver) -> None:
    from pythonosc.udp_client import SimpleUDPClient

    async with run_simulator(speed=0) as sim:
        batch_id = sim.add_batch(10)
        async with VoyageBatchClient(api_key="k", base_url=sim.base_url, retry_policy=FAST_RETRIES) as client:
            config = fast_config(receiver, allow_cancel=True, control_port=0)
            async with running_sidecar(config, client) as sidecar:
                server = osc_output(sidecar).control
                assert server is not None
                control = SimpleUDPClient("127.0.0.1", server.port)
                control.send_message(f"{PREFIX}/control/watch", [batch_id, "from TouchDesigner"])
                await receiver.wait_for(lambda r: r.last(f"{PREFIX}/batch/0/label") == "from TouchDesigner")
                control.send_message(f"{PREFIX}/control/cancel", [batch_id])
                await receiver.wait_for(lambda r: r.last(f"{PREFIX}/batch/0/status") == "cancelling")
                control.send_message(f"{PREFIX}/control/unwatch", [batch_id])
                await receiver.wait_for(lambda r: bool(r.events("unwatch")))
                assert not sidecar.watcher.batches
                control.send_message(f"{PREFIX}/control/refresh", [])
                await asyncio.sleep(0.1)
                assert server.accepted == 4
    assert receiver.events("unwatch") == [("unwatch", batch_id, 0)]


async def test_the_state_file_survives_restarts(receiver: OscReceiver, tmp_path: Path) -> None:
    state = tmp_path / "sidecar.json"
    async with run_simulator(speed=0) as sim:
        ids = [sim.add_batch(10) for _ in range(3)]
        async with VoyageBatchClient(api_key="k", base_url=sim.base_url, retry_policy=FAST_RETRIES) as client:
            async with running_sidecar(
                fast_config(receiver, batch_ids=ids, state_file=state), client
            ) as first:
                first.watcher.unwatch(ids[1])
            saved = json.loads(state.read_text())
            assert [(b["id"], b["slot"]) for b in saved["batches"]] == [(ids[0], 0), (ids[2], 2)]
            sim.advance(3600)
            async with running_sidecar(fast_config(receiver, state_file=state), client) as second:
                await receiver.wait_for(lambda r: len(r.events("complete")) == 2)
                assert {b.batch_id: b.slot for b in second.watcher.batches.values()} == {ids[0]: 0, ids[2]: 2}
    saved = json.loads(state.read_text())
    assert [b["reported_end"] for b in saved["batches"]] == ["complete", "complete"]


# -- the command, as a separate process ----------------------------------------------------------


async def start_cli(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "voyage_progress",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


def api_env(sim: Simulator) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("VOYAGE_")}
    return {**env, "VOYAGE_API_KEY": "k", "VOYAGE_BASE_URL": sim.base_url}


async def test_sigkill_and_restart_resume_every_batch(receiver: OscReceiver, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    async with run_simulator(speed=300) as sim:  # a normal batch takes about 3.5 s
        ids = [sim.add_batch(100, scenario) for scenario in ("normal", "normal", "long_finalizing", "quick")]
        args = [
            "watch",
            *ids,
            "--osc",
            f"127.0.0.1:{receiver.port}",
            "--state-file",
            str(state),
            "--poll-interval",
            "0.2",
            "--min-interval",
            "0.1",
            "--no-control",
            "--no-display",
        ]
        first = await start_cli(*args, env=api_env(sim))
        await receiver.wait_for(
            lambda r: len(r.events("watch")) == 4 and bool(r.values(f"{PREFIX}/batch/0/percent"))
        )
        first_slots = {e[1]: e[2] for e in receiver.events("watch")}
        first.send_signal(signal.SIGKILL)
        await first.wait()
        ended_before = {e[1] for e in receiver.events("complete")}
        assert len(ended_before) < 4, "the kill came too late to test anything"
        assert state.exists()

        second = await start_cli(*args[:1], *args[5:], env=api_env(sim))  # no ids: all from the state file
        epochs = set(receiver.values(f"{PREFIX}/sidecar/epoch"))
        await receiver.wait_for(lambda r: {e[1] for e in r.events("complete")} == set(ids), timeout=30)
        second.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(second.communicate(), 10)
    assert second.returncode == 0, err.decode()
    assert len(set(receiver.values(f"{PREFIX}/sidecar/epoch"))) == len(epochs) + 1  # a new life, a new epoch
    for batch_id in ids:
        slot = first_slots[batch_id]
        assert receiver.last(f"{PREFIX}/batch/{slot}/id") == batch_id  # the same slot in the second life
    completions = defaultdict(int)
    for _, batch_id, _slot in receiver.events("complete"):
        completions[batch_id] += 1
    assert all(completions[b] == 1 for b in ids if b not in ended_before)
    assert receiver.events("shutdown")  # SIGTERM: a clean stop, announced


def free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_control_shutdown_stops_the_command_cleanly(receiver: OscReceiver) -> None:
    """What a TouchDesigner on Windows relies on to stop the sidecar it started: no signal, one
    datagram to the control port; the sidecar says goodbye and exits 0."""
    from pythonosc.udp_client import SimpleUDPClient

    control_port = free_udp_port()
    async with run_simulator(speed=0) as sim:
        batch_id = sim.add_batch(10)
        process = await start_cli(
            "watch",
            batch_id,
            "--osc",
            f"127.0.0.1:{receiver.port}",
            "--control-port",
            str(control_port),
            "--no-display",
            env=api_env(sim),
        )
        try:
            await receiver.wait_for(lambda r: bool(r.values(f"{PREFIX}/batch/0/status")), timeout=20)
            SimpleUDPClient("127.0.0.1", control_port).send_message(f"{PREFIX}/control/shutdown", [])
            _, err = await asyncio.wait_for(process.communicate(), 10)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert process.returncode == 0, err.decode()
    assert receiver.events("shutdown") and receiver.last(f"{PREFIX}/sidecar/running") == 0


async def test_an_end_is_saved_as_said_only_once_it_is_on_the_wire(
    receiver: OscReceiver, tmp_path: Path
) -> None:
    """A sidecar killed between deciding that a batch ended and sending it must say it again
    after the restart: the state file holds an end only once its datagram has left."""
    state = tmp_path / "sidecar.json"
    async with run_simulator(speed=0) as sim:
        batch_id = sim.add_batch(10)
        async with VoyageBatchClient(api_key="k", base_url=sim.base_url, retry_policy=FAST_RETRIES) as client:
            sidecar = Sidecar(fast_config(receiver, batch_ids=[batch_id], state_file=state), client)
            await sidecar.start()
            sim.advance(3600)
            await sidecar.watcher.poll_once()  # the end is decided and queued, not yet sent
            decided = sidecar.watcher.batches[batch_id]
            assert decided.status == "completed" and decided.end_said is None
            assert json.loads(state.read_text())["batches"][0]["reported_end"] is None
            await receiver.wait_for(lambda r: bool(r.events("complete")))
            await osc_output(sidecar).outbox.drain()
            await sidecar_saved(sidecar, lambda batches: batches[0]["reported_end"] == "complete")
            await sidecar.shutdown()


async def test_an_end_on_the_wire_is_saved_at_once_other_changes_within_the_interval(
    receiver: OscReceiver, tmp_path: Path
) -> None:
    """An end that is out is saved at once, not with the next save up to an interval later: a
    kill meanwhile made the next sidecar send it again (the restart run's lives, killed a second
    or two after starting, sent 38 ends a second time). Other changes still wait the interval."""
    state = tmp_path / "sidecar.json"
    async with run_simulator(speed=0) as sim:
        batch_id = sim.add_batch(10)
        async with VoyageBatchClient(api_key="k", base_url=sim.base_url, retry_policy=FAST_RETRIES) as client:
            sidecar = Sidecar(fast_config(receiver, batch_ids=[batch_id], state_file=state), client)
            assert sidecar.saves is not None
            sidecar.saves.interval = 60.0  # the next save on the schedule is far away
            await sidecar.start()  # saved once: the next scheduled save is an interval later
            sim.advance(3600)
            await sidecar.watcher.poll_once()
            await receiver.wait_for(lambda r: bool(r.events("complete")))
            await sidecar_saved(sidecar, lambda batches: batches[0]["reported_end"] == "complete")
            sidecar.watcher.watch(sim.add_batch(10), "later")
            await asyncio.sleep(0.3)
            assert len(json.loads(state.read_text())["batches"]) == 1, "a new batch waits the interval"
            await sidecar.shutdown()
    assert [b["label"] for b in json.loads(state.read_text())["batches"]] == ["", "later"]


async def sidecar_saved(sidecar: Sidecar, condition: Callable[[list[dict[str, object]]], bool]) -> None:
    """Wait for the state file to hold what ``condition`` wants: saves are at most one a second."""
    assert sidecar.config.state_file is not None
    deadline = asyncio.get_running_loop().time() + 3.0
    while not condition(json.loads(sidecar.config.state_file.read_text())["batches"]):
        assert asyncio.get_running_loop().time() < deadline, "not saved in time"
        await asyncio.sleep(0.02)
