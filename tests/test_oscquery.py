"""OSCQuery on the sidecar's HTTP server: the tree, attributes, HOST_INFO, LISTEN over a
WebSocket with binary OSC frames, PATH_ADDED/PATH_REMOVED, control through OSCQuery, bad input,
and mDNS. Real HTTP and WebSocket clients; OSC frames parsed by python-osc."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pythonosc.osc_message_builder import OscMessageBuilder
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.hub import PREFIX, listening, running_hub, until
from voyage_progress.core.frame import BatchSnapshot, Event, EventKind, Frame, Health
from voyage_progress.outputs.osc import NAMESPACE
from voyage_progress.outputs.oscquery import OscQueryOutput
from voyage_progress.sidecar import SidecarConfig
from voyage_progress.simulator import Simulator, run_simulator


def osc(address: str, *args: Any) -> bytes:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


async def get(url: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.get(url)


async def test_the_tree_holds_every_batch_address_with_its_type_value_and_range(sim: Simulator) -> None:
    batch_id = sim.add_batch(10, label="corpus")
    async with running_hub(sim, batch_ids=[batch_id], labels={batch_id: "corpus"}) as hub:
        await until(lambda: f"{PREFIX}/batch/0/id" in hub.oscquery.values)
        tree = (await get(hub.url + "/")).json()
    assert tree["FULL_PATH"] == "/" and tree["ACCESS"] == 0
    slot = tree["CONTENTS"]["voyage"]["CONTENTS"]["batch"]["CONTENTS"]["0"]
    assert batch_id in slot["DESCRIPTION"] and "corpus" in slot["DESCRIPTION"]
    progress = slot["CONTENTS"]["progress"]
    assert progress["FULL_PATH"] == f"{PREFIX}/batch/0/progress"
    assert progress["TYPE"] == "f" and progress["ACCESS"] == 1
    assert progress["RANGE"] == [{"MIN": 0.0, "MAX": 1.0}]
    assert progress["VALUE"] == [0.0]
    assert slot["CONTENTS"]["id"]["VALUE"] == [batch_id]
    assert slot["CONTENTS"]["eta"]["UNIT"] == ["time.second"]
    assert slot["CONTENTS"]["eta"]["RANGE"] == [{"MIN": -1.0}]  # -1: unknown
    assert slot["CONTENTS"]["is_complete"]["RANGE"] == [{"MIN": 0, "MAX": 1}]
    for address in NAMESPACE["batch"]:  # the namespace is the one source: every address is here
        node = slot["CONTENTS"][address.name]
        assert node["TYPE"] == address.types and node["DESCRIPTION"] == address.meaning
    sidecar = tree["CONTENTS"]["voyage"]["CONTENTS"]["sidecar"]["CONTENTS"]
    assert set(sidecar) == {address.name for address in NAMESPACE["sidecar"]}
    assert "control" not in tree["CONTENTS"]["voyage"]["CONTENTS"]  # no control input, no control nodes


async def test_one_node_one_attribute_and_host_info(sim: Simulator) -> None:
    batch_id = sim.add_batch(10)
    async with running_hub(sim, batch_ids=[batch_id], control_port=7491, allow_cancel=False) as hub:
        await until(lambda: f"{PREFIX}/batch/0/id" in hub.oscquery.values)
        node = (await get(hub.url + f"{PREFIX}/batch/0/total")).json()
        value = (await get(hub.url + f"{PREFIX}/batch/0/id?VALUE")).json()
        container_type = await get(hub.url + f"{PREFIX}/batch?TYPE")
        host_info = (await get(hub.url + f"{PREFIX}/batch/0?HOST_INFO")).json()
        control = (await get(hub.url + f"{PREFIX}/control")).json()
        watch_value = await get(hub.url + f"{PREFIX}/control/watch?VALUE")
    assert node["FULL_PATH"] == f"{PREFIX}/batch/0/total" and node["TYPE"] == "i" and "CONTENTS" not in node
    assert value == {"VALUE": [batch_id]}
    assert container_type.status_code == 200 and container_type.json() == {}  # a container has no type
    assert host_info["EXTENSIONS"]["LISTEN"] is True and host_info["EXTENSIONS"]["PATH_ADDED"] is True
    assert host_info["WS_PORT"] == hub.http.port and host_info["WS_IP"] == "127.0.0.1"
    assert (host_info["OSC_IP"], host_info["OSC_PORT"], host_info["OSC_TRANSPORT"]) == (
        "127.0.0.1",
        7491,
        "UDP",
    )
    assert "FULL_PATH" not in host_info  # HOST_INFO alone, whatever the path
    assert set(control["CONTENTS"]) == {"watch", "unwatch", "refresh", "shutdown"}  # cancel: --allow-cancel
    assert control["CONTENTS"]["watch"]["ACCESS"] == 2 and control["CONTENTS"]["watch"]["TYPE"] == "s"
    assert control["CONTENTS"]["watch"]["OVERLOADS"] == [{"TYPE": "ss"}]
    assert "VALUE" not in control["CONTENTS"]["watch"]
    assert watch_value.status_code == 204  # write-only: no value to give


async def test_each_slot_says_whose_batch_it_is_as_a_value_and_over_listen() -> None:
    async with run_simulator(speed=0) as voyage, run_simulator(speed=0, dialect="anthropic") as anthropic:
        ids = [voyage.add_batch(10), anthropic.add_batch(10)]
        async with running_hub(voyage, beside={"anthropic": anthropic}, batch_ids=ids) as hub:
            whose = [f"{PREFIX}/batch/{slot}/provider" for slot in (0, 1)]
            await until(lambda: all(address in hub.oscquery.values for address in whose))
            node = (await get(hub.url + whose[1])).json()
            async with listening(hub, *whose) as listener:
                await listener.read(lambda r: all(address in r.values for address in whose))
    assert node["TYPE"] == "s" and node["ACCESS"] == 1 and node["VALUE"] == ["anthropic"]
    assert [listener.values[address] for address in whose] == [["voyage"], ["anthropic"]]


async def test_unknown_paths_and_attributes_get_json_errors(sim: Simulator) -> None:
    async with running_hub(sim) as hub:
        missing = await get(hub.url + f"{PREFIX}/batch/7/progress")
        unknown = await get(hub.url + f"{PREFIX}/sidecar/heartbeat?FOO")
        unsupported = await get(hub.url + f"{PREFIX}/sidecar/heartbeat?CLIPMODE")
    assert (
        missing.status_code == 404 and missing.json()["error"] == f"no OSC node at {PREFIX}/batch/7/progress"
    )
    for response in (unknown, unsupported):
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/json" and "error" in response.json()


async def test_listen_streams_binary_osc_frames_and_ignore_stops_them() -> None:
    async with run_simulator(speed=0) as sim:
        batch_id = sim.add_batch(100, "normal")
        async with running_hub(sim, batch_ids=[batch_id]) as hub:
            progress = f"{PREFIX}/batch/0/progress"
            async with listening(hub, progress, f"{PREFIX}/sidecar/heartbeat") as listener:
                await listener.read(lambda r: progress in r.values)
                sim.advance(60)  # the batch moves on: its progress is streamed
                await listener.read(lambda r: 0 < r.values[progress][0] < 1)
                assert {address for address, _ in listener.frames} == {
                    progress,
                    f"{PREFIX}/sidecar/heartbeat",
                }
                assert isinstance(listener.values[progress][0], float)  # sent as f, as the TYPE says
                await listener.send("IGNORE", f"{PREFIX}/sidecar/heartbeat")
                await asyncio.sleep(0.3)  # the IGNORE is read before the next beats
                listener.frames.clear()
                await listener.read(lambda r: len(r.frames) >= 3)  # the full state keeps coming
                assert {address for address, _ in listener.frames} == {progress}


async def test_slots_are_announced_as_they_appear_and_retire(sim: Simulator) -> None:
    first, second = sim.add_batch(10), sim.add_batch(10)
    async with running_hub(sim, batch_ids=[first]) as hub:
        async with listening(hub) as listener:
            await asyncio.sleep(0.2)
            hub.sidecar.watcher.watch(second, "later")
            await listener.read(lambda r: any(c["COMMAND"] == "PATH_ADDED" for c in r.commands))
            added = next(c for c in listener.commands if c["COMMAND"] == "PATH_ADDED")
            assert added["DATA"] == f"{PREFIX}/batch/1"
            assert added["CONTENTS"]["progress"]["TYPE"] == "f"  # the node itself, for ossia
            hub.sidecar.watcher.unwatch(first)
            await listener.read(lambda r: any(c["COMMAND"] == "PATH_REMOVED" for c in r.commands))
            removed = next(c for c in listener.commands if c["COMMAND"] == "PATH_REMOVED")
            assert removed == {"COMMAND": "PATH_REMOVED", "DATA": f"{PREFIX}/batch/0"}
        assert (await get(hub.url + f"{PREFIX}/batch/0")).status_code == 404


async def test_control_addresses_are_writable_over_the_websocket_under_the_control_rules(
    sim: Simulator,
) -> None:
    batch_id = sim.add_batch(10)
    async with running_hub(sim, control_port=0) as hub:
        async with listening(hub) as listener:
            await listener.connection.send(osc(f"{PREFIX}/control/watch", batch_id, "from ossia"))
            await until(lambda: batch_id in hub.sidecar.watcher.batches)
            assert hub.sidecar.watcher.batches[batch_id].label == "from ossia"
            await listener.connection.send(osc(f"{PREFIX}/control/cancel", batch_id))  # not allowed
            await listener.connection.send(osc(f"{PREFIX}/batch/0/progress", 0.5))  # read-only
            await until(lambda: sum(hub.oscquery.rejected.values()) == 2)
    assert hub.oscquery.rejected == {"cancel_disabled": 1, "unknown_address": 1}
    assert sim.batch(batch_id)["status"] == "validating"


async def test_without_the_control_input_nothing_is_written(sim: Simulator) -> None:
    batch_id = sim.add_batch(10)
    async with running_hub(sim, control_port=None) as hub:
        async with listening(hub) as listener:
            await listener.connection.send(osc(f"{PREFIX}/control/watch", batch_id))
            await until(lambda: hub.oscquery.rejected["control_off"] == 1)
    assert not hub.sidecar.watcher.batches


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("not json", "not_json"),
        ("[1, 2]", "not_a_command"),
        (json.dumps({"COMMAND": "LISTEN", "DATA": 3}), "bad_path"),
        (json.dumps({"COMMAND": "LISTEN", "DATA": "/" + "x" * 600}), "bad_path"),
        (b"\x00\x01garbage", "malformed_osc"),
        ("x" * 70_000, None),  # beyond the size limit: closed by the server before it is read
    ],
)
async def test_a_malformed_message_closes_that_connection_only(
    sim: Simulator, message: str | bytes, reason: str | None
) -> None:
    async with running_hub(sim) as hub:
        async with listening(hub, f"{PREFIX}/sidecar/heartbeat") as good, listening(hub) as bad:
            await bad.connection.send(message)
            with pytest.raises(ConnectionClosed):
                await bad.read(lambda r: False)
            good.frames.clear()
            await good.read(lambda r: len(r.frames) >= 2)  # the other client goes on
        if reason is not None:
            assert hub.oscquery.rejected[reason] == 1


async def test_an_unknown_command_is_ignored(sim: Simulator) -> None:
    async with running_hub(sim) as hub:
        async with listening(hub) as listener:
            await listener.connection.send(json.dumps({"COMMAND": "START_OSC_STREAMING", "DATA": {}}))
            await listener.send("LISTEN", f"{PREFIX}/sidecar/heartbeat")
            await listener.read(lambda r: len(r.frames) >= 1)
        assert hub.oscquery.rejected == {"unknown_command": 1}


async def test_a_web_page_of_another_site_cannot_open_the_websocket(sim: Simulator) -> None:
    async with running_hub(sim) as hub:
        with pytest.raises(Exception, match="403"):
            async with connect(hub.ws_url + "/", origin="http://evil.example"):  # type: ignore[arg-type]
                pass
        async with connect(hub.ws_url + "/", origin=hub.url):  # type: ignore[arg-type]
            pass  # the sidecar's own pages may
        rebound = await get_with_host(hub.url + "/", "evil.example")
        assert rebound.status_code == 403


async def get_with_host(url: str, host: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.get(url, headers={"Host": host})


async def test_mdns_announces_oscjson_on_the_network(sim: Simulator) -> None:
    from zeroconf import IPVersion, ServiceStateChange
    from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

    found: dict[str, str] = {}

    def seen(zeroconf: Any, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change is ServiceStateChange.Added:
            found[name] = service_type

    browser_zc = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    try:
        async with running_hub(sim, mdns_on_loopback=True) as hub:
            browser = AsyncServiceBrowser(browser_zc.zeroconf, "_oscjson._tcp.local.", handlers=[seen])
            await until(lambda: any("voyage-progress" in name for name in found), timeout=10)
            name = next(name for name in found if "voyage-progress" in name)
            info = AsyncServiceInfo("_oscjson._tcp.local.", name)
            assert await info.async_request(browser_zc.zeroconf, 3000)
            assert info.port == hub.http.port and info.parsed_addresses() == ["127.0.0.1"]
            assert any("mDNS" in where for where in hub.oscquery.endpoints)
            await browser.async_cancel()
    finally:
        await browser_zc.async_close()


async def test_no_mdns_on_loopback_by_default(sim: Simulator) -> None:
    async with running_hub(sim) as hub:
        assert not any("mDNS" in where for where in hub.oscquery.endpoints)


def test_with_nobody_listening_frames_cost_nothing_until_the_tree_is_asked_for() -> None:
    """A thousand batches watched at once: while no client listens, OSCQuery keeps the latest
    frame and reads every batch only when the tree or a value is asked for, not once a frame."""
    asked = 0

    def watched(count: int) -> Callable[[], tuple[BatchSnapshot, ...]]:
        def every_batch() -> tuple[BatchSnapshot, ...]:
            nonlocal asked
            asked += 1
            return tuple(
                BatchSnapshot(f"batch-{slot}", slot, total=10, completed=count) for slot in range(count)
            )

        return every_batch

    output = OscQueryOutput(SidecarConfig())
    for count in range(1, 1001):
        news = (Event(EventKind.WATCH, BatchSnapshot(f"batch-{count - 1}", count - 1)),)
        output.publish(
            Frame(at=float(count), health=Health(heartbeat=count), news=news, watched=watched(count))
        )
    assert asked == 0
    values = output.values
    assert asked == 1
    assert values[f"{PREFIX}/batch/999/id"] == ["batch-999"]
    assert values[f"{PREFIX}/batch/0/completed"] == [1000]
    assert values[f"{PREFIX}/sidecar/heartbeat"] == [1000]
    assert values[f"{PREFIX}/event"][0] == "watch"
    assert "999" in output._tree().find(f"{PREFIX}/batch").children  # type: ignore[union-attr]
