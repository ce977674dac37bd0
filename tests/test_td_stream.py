"""The WebSocket DAT example consumer (td_components/websocket_callbacks.py) in the strict fake of
TouchDesigner, fed the sidecar's real JSON stream: every operator, parameter, method and callback
it uses must be documented, and the table it writes must show the batches."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from websockets.asyncio.client import connect

from tests.hub import running_hub
from tests.tdfake import TouchDesigner
from voyage_progress.simulator import run_simulator

CALLBACKS = Path(__file__).parent.parent / "td_components" / "websocket_callbacks.py"


def setup(td: TouchDesigner, port: int) -> tuple[object, object]:
    """As td_components/websocket_callbacks.py's docstring says to set it up."""
    comp = td.root.create("baseCOMP", "stream")
    callbacks = comp.create("textDAT", "websocket_callbacks")
    callbacks.text = CALLBACKS.read_text(encoding="utf-8")
    websocket = comp.create("websocketDAT", "websocket")
    websocket.par.netaddress = "ws://127.0.0.1/events"
    websocket.par.port = port
    websocket.par.callbacks = callbacks
    websocket.par.active = True
    comp.create("tableDAT", "stream_batches")
    return comp, websocket


async def test_the_websocket_dat_consumer_tables_the_stream(tmp_path: Path) -> None:
    td = TouchDesigner(tmp_path)
    async with run_simulator(speed=0) as sim, run_simulator(speed=0, dialect="openai") as openai:
        ids = [sim.add_batch(100, "normal", label="corpus"), sim.add_batch(20, "fail_validation")]
        ids.append(openai.add_batch(10))
        labels = {ids[0]: "corpus"}
        async with running_hub(sim, beside={"openai": openai}, batch_ids=ids, labels=labels) as hub:
            comp, websocket = setup(td, hub.http.port)
            async with connect(hub.ws_url + "/events") as stream:
                received = [await stream.recv()]
                sim.advance(60)
                async with asyncio.timeout(5):
                    while not any(
                        '"type": "batch"' in str(m) and '"slot": 0' in str(m) for m in received[1:]
                    ):
                        received.append(await stream.recv())
            for text in received:  # as the WebSocket DAT would deliver them, one row each
                td.deliver_websocket_text(websocket, str(text))
    table = comp.op("stream_batches")  # type: ignore[attr-defined]
    header = [cell.val for cell in table.row(0)]
    assert header[:4] == ["slot", "id", "label", "status"]
    first = {name: table[1, name].val for name in header}
    assert first["id"] == ids[0] and first["label"] == "corpus"
    assert 0 < float(first["percent"]) < 100 and first["total"] == "100"
    second = {name: table[2, name].val for name in header}
    assert second["status"] == "failed" and second["eta"] == "" and second["is_terminal"] == "1"
    assert [table[row, "provider"].val for row in (1, 2, 3)] == ["voyage", "voyage", "openai"]
    stored = websocket.fetch("voyage_stream_batches")  # type: ignore[attr-defined]
    assert sorted(stored) == [0, 1, 2]  # kept in storage: a reloaded callbacks DAT keeps them
    assert json.loads(str(received[0]))["type"] == "state"
