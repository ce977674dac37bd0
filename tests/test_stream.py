"""The JSON stream (/events), the snapshot (/state) and the dashboard's files (/ui), on the
sidecar's HTTP server; and the bounded queues that keep a slow client from slowing anyone."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.hub import PREFIX, read_json, running_hub
from voyage_progress.core.frame import BatchSnapshot, Event, EventKind, Frame, Health
from voyage_progress.outputs._http import Outgoing
from voyage_progress.outputs.osc import NAMESPACE
from voyage_progress.outputs.web import QUEUE_LIMIT, SCHEMA, WebOutput
from voyage_progress.sidecar import SidecarConfig
from voyage_progress.simulator import Simulator, run_simulator


async def test_a_late_joiner_gets_the_full_state_first_then_every_change() -> None:
    async with run_simulator(speed=0) as sim:
        ids = [sim.add_batch(100, "normal", label="corpus"), sim.add_batch(20, "fail_validation")]
        async with running_hub(sim, batch_ids=ids, labels={ids[0]: "corpus"}) as hub:
            await asyncio.sleep(0.3)  # join late
            async with connect(hub.ws_url + "/events") as stream:
                first = json.loads(await stream.recv())
                assert first["schema"] == SCHEMA and first["type"] == "state"
                assert [b["id"] for b in first["batches"]] == ids
                assert first["batches"][0]["label"] == "corpus" and first["batches"][0]["progress"] == 0.0
                sim.advance(60)
                seen = await read_json(
                    stream, lambda m: m["type"] == "batch" and 0 < m["batch"]["progress"] < 1
                )
                moved = seen[-1]
                assert moved["batch"]["slot"] == 0
                assert moved["summary"]["total"] == 100  # the batch that failed validation has none
                sim.advance(3600)
                seen += await read_json(stream, lambda m: m["type"] == "event" and m["kind"] == "complete")
                assert seen[-1]["id"] == ids[0] and seen[-1]["batch"]["is_complete"] is True
                seen += await read_json(stream, lambda m: m["type"] == "health")  # every beat
                failed = [m for m in seen if m["type"] == "event" and m["kind"] == "failed"]
                assert failed and failed[0]["slot"] == 1


async def test_the_fields_are_the_namespace_with_null_for_unknown_and_booleans_for_flags(
    sim: Simulator,
) -> None:
    batch_id = sim.add_batch(10)
    async with running_hub(sim, batch_ids=[batch_id]) as hub:
        async with httpx.AsyncClient() as http:
            await asyncio.sleep(0.2)
            state = (await http.get(hub.url + "/state")).json()
    batch = state["batches"][0]
    assert set(batch) == {"slot"} | {address.name for address in NAMESPACE["batch"]}
    assert set(state["sidecar"]) == {address.name for address in NAMESPACE["sidecar"]}
    assert set(state["summary"]) == {address.name for address in NAMESPACE["all"]}
    assert batch["id"] == batch_id and batch["status"] == "validating"
    assert batch["rate"] is None and batch["eta"] is None  # -1 on OSC
    assert batch["is_complete"] is False and state["sidecar"]["running"] is True


async def test_each_batch_says_whose_it_is_in_the_snapshot_and_the_stream() -> None:
    async with (
        run_simulator(speed=0) as voyage,
        run_simulator(speed=0, dialect="openai") as openai,
        run_simulator(speed=0, dialect="anthropic") as anthropic,
    ):
        sims = {"voyage": voyage, "openai": openai, "anthropic": anthropic}
        ids = {sim.add_batch(100, "normal"): name for name, sim in sims.items()}
        async with running_hub(
            voyage, beside={"openai": openai, "anthropic": anthropic}, batch_ids=list(ids)
        ) as hub:
            async with connect(hub.ws_url + "/events") as stream, httpx.AsyncClient() as http:
                await read_json(stream, lambda m: m["type"] == "state")
                for sim in sims.values():
                    sim.advance(60)
                streamed: dict[str, str] = {}

                def whose(message: dict[str, Any]) -> bool:
                    if message["type"] == "batch":
                        streamed[message["batch"]["id"]] = message["batch"]["provider"]
                    return len(streamed) == len(ids)

                await read_json(stream, whose)
                snapshot = (await http.get(hub.url + "/state")).json()
    assert streamed == ids
    assert {batch["id"]: batch["provider"] for batch in snapshot["batches"]} == ids


async def test_the_snapshot_and_the_stream_say_the_same(sim: Simulator) -> None:
    batch_id = sim.add_batch(10)
    async with running_hub(sim, batch_ids=[batch_id], heartbeat_interval=5.0, full_state_interval=5.0) as hub:
        await asyncio.sleep(0.2)  # the first poll is in; nothing moves with the clock stopped
        async with httpx.AsyncClient() as http, connect(hub.ws_url + "/events") as stream:
            snapshot = (await http.get(hub.url + "/state")).json()
            streamed = json.loads(await stream.recv())
    assert snapshot == streamed


async def test_the_dashboard_files_come_from_the_package(sim: Simulator) -> None:
    async with running_hub(sim) as hub, httpx.AsyncClient() as http:
        page = await http.get(hub.url + "/ui", follow_redirects=True)
        script = await http.get(hub.url + "/ui/app.js")
        style = await http.get(hub.url + "/ui/style.css")
        missing = await http.get(hub.url + "/ui/secrets.txt")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="app.js">' in page.text and 'name="viewport"' in page.text
    assert "/events" in script.text and f"SCHEMA = {SCHEMA}" in script.text
    assert style.headers["content-type"].startswith("text/css")
    assert missing.status_code == 404 and missing.json()["status"] == 404


async def test_binary_sent_to_the_stream_closes_that_connection_only(sim: Simulator) -> None:
    async with running_hub(sim) as hub:
        async with connect(hub.ws_url + "/events") as good, connect(hub.ws_url + "/events") as bad:
            await bad.send(b"\x00")
            with pytest.raises(ConnectionClosed):
                while True:
                    await bad.recv()
            await read_json(good, lambda m: m["type"] == "health")
            await good.send("ping")  # text is ignored
            await read_json(good, lambda m: m["type"] == "health")
        assert hub.web.malformed == 1


async def test_a_custom_prefix_is_followed() -> None:
    async with run_simulator(speed=0) as sim:
        async with running_hub(sim, prefix="/show/voyage") as hub, httpx.AsyncClient() as http:
            heartbeat = await http.get(hub.url + "/show/voyage/sidecar/heartbeat")
    assert heartbeat.json()["FULL_PATH"] == "/show/voyage/sidecar/heartbeat"
    assert not heartbeat.json()["FULL_PATH"].startswith(PREFIX + "/")


# -- a slow client ------------------------------------------------------------------------------


class _Socket:
    """Stands in for a Starlette WebSocket: records what is sent, or never finishes sending."""

    def __init__(self, stalled: bool = False) -> None:
        self.stalled = stalled
        self.released = asyncio.Event()
        self.sent: list[str] = []

    async def send_text(self, text: str) -> None:
        if self.stalled:
            await self.released.wait()
        self.sent.append(text)

    async def send_bytes(self, data: bytes) -> None:
        raise AssertionError("the stream sends text")


def _frame(number: int, *, full: bool = False) -> Frame:
    batches = tuple(
        BatchSnapshot(f"batch-{slot}", slot, status="in_progress", total=1000, completed=number)
        for slot in range(100)
    )
    return Frame(
        at=float(number),
        health=Health(heartbeat=number, running=True),
        watched=lambda: batches,
        news=(*batches, Event(EventKind.WATCH, batches[0])),
        beat=True,
        full=full,
    )


async def test_a_client_that_does_not_read_never_slows_the_sidecar_or_the_others() -> None:
    web = WebOutput(SidecarConfig())
    slow_socket, fast_socket = _Socket(stalled=True), _Socket()
    slow, fast = Outgoing(slow_socket, QUEUE_LIMIT), Outgoing(fast_socket, QUEUE_LIMIT)  # type: ignore[arg-type]
    web._clients |= {slow, fast}
    senders = [asyncio.create_task(client.run()) for client in (slow, fast)]
    try:
        publishing = 0.0
        for number in range(1, 31):  # 30 frames of 100 changed batches each: 3,060 messages
            started = time.perf_counter()
            web.publish(_frame(number))
            publishing += time.perf_counter() - started
            for _ in range(2000):  # the loop turns between the sidecar's frames (one a poll)
                if not len(fast):
                    break
                await asyncio.sleep(0)
        elapsed = publishing
        await asyncio.sleep(0.05)
        assert len(fast_socket.sent) == 30 * 102  # every batch, event and beat
        assert len(slow) == QUEUE_LIMIT and slow.dropped > 0 and web.dropped == slow.dropped
        assert elapsed < 1.0  # publishing never waited on the stalled client
        slow_socket.released.set()  # it reads again, and gets the state first, so it catches up
        await asyncio.sleep(0.05)
        web.publish(_frame(31))
        await asyncio.sleep(0.05)
        after_gap = [json.loads(text) for text in slow_socket.sent[QUEUE_LIMIT + 1 :]]
        assert after_gap[0]["type"] == "state" and after_gap[0]["sidecar"]["heartbeat"] == 31
    finally:
        for task in senders:
            task.cancel()
        await asyncio.gather(*senders, return_exceptions=True)


async def test_messages_are_not_compressed(sim: Simulator) -> None:
    """Per-message deflate compresses each message once per client: with twenty clients it was
    the sidecar's largest cost, for bytes that do not matter on a show's network."""
    async with running_hub(sim) as hub, connect(hub.ws_url + "/events") as stream:  # offers deflate
        assert stream.response is not None
        assert "Sec-WebSocket-Extensions" not in stream.response.headers
