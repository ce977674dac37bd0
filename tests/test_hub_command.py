"""``voyage-progress demo`` and ``watch`` with their HTTP server, as processes: the issue's
acceptance run, the options, and every mistake in one line. Read by independent clients:
httpx, ``websockets`` with python-osc, and python-oscquery's own OSCQuery client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from pythonosc.osc_message import OscMessage
from websockets.asyncio.client import connect

from tests.hub import free_udp_port, running_hub
from tests.test_cli import assert_one_line_error, cli
from tests.test_watch_command import env_for, process
from voyage_progress.simulator import Simulator


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def demo(*options: str) -> AsyncIterator[str]:
    """A demo on a free HTTP port; its base URL once it answers."""
    port = free_tcp_port()
    args = ["demo", "--speed", "20", "--no-display", "--osc", f"127.0.0.1:{free_udp_port()}"]
    async with process(*args, "--no-control", "--http", f"127.0.0.1:{port}", *options, env=env_for()) as proc:
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(url + "/voyage/batch/0/progress")).status_code == 200:
                        break
                assert proc.returncode is None, await proc.stderr.read()  # type: ignore[union-attr]
                await asyncio.sleep(0.05)
        yield url


async def test_the_demo_is_browsable_listenable_and_streamed() -> None:
    """The issue's acceptance: HOST_INFO announces LISTEN; the tree holds /voyage/batch/0/progress
    as TYPE f; a LISTEN brings binary OSC frames; /events gives JSON with the batches' progress."""
    async with demo() as url:
        async with httpx.AsyncClient() as http:
            host_info = (await http.get(url + "/?HOST_INFO")).json()
            tree = (await http.get(url + "/")).json()
        assert host_info["EXTENSIONS"]["LISTEN"] is True
        progress = tree["CONTENTS"]["voyage"]["CONTENTS"]["batch"]["CONTENTS"]["0"]["CONTENTS"]["progress"]
        assert progress["TYPE"] == "f"

        ws = url.replace("http://", "ws://")
        async with connect(ws + "/") as oscquery:
            await oscquery.send(json.dumps({"COMMAND": "LISTEN", "DATA": "/voyage/batch/0/progress"}))
            frame = await asyncio.wait_for(oscquery.recv(), 5)
            assert isinstance(frame, bytes)
            message = OscMessage(frame)
            assert message.address == "/voyage/batch/0/progress" and 0.0 <= message.params[0] <= 1.0

        async with connect(ws + "/events") as stream:
            state = json.loads(await asyncio.wait_for(stream.recv(), 5))
        assert state["type"] == "state" and len(state["batches"]) == 4
        assert all(0.0 <= batch["progress"] <= 1.0 for batch in state["batches"])


async def test_python_oscquerys_client_reads_the_tree_and_host_info(sim: Simulator) -> None:
    """python-oscquery: an OSCQuery client written by others. Its 0.4 client refuses write-only
    methods (ACCESS 2 without a VALUE, as the proposal describes them), so the tree it reads is
    one without the control input; its HOST_INFO and node reads are checked with it too."""
    from pythonoscquery.osc_query_client import OSCQueryClient
    from zeroconf import ServiceInfo

    batch_id = sim.add_batch(10, label="corpus")
    async with running_hub(sim, batch_ids=[batch_id], control_port=None) as hub:
        await asyncio.sleep(0.2)
        service = ServiceInfo(
            "_oscjson._tcp.local.",
            "voyage._oscjson._tcp.local.",
            addresses=[socket.inet_aton("127.0.0.1")],
            port=hub.http.port,
        )
        client = OSCQueryClient(service)  # a blocking client (requests): off the event loop
        root, host_info, node = await asyncio.gather(
            asyncio.to_thread(client.query_node, "/"),
            asyncio.to_thread(client.get_host_info),
            asyncio.to_thread(client.query_node, "/voyage/batch/0/id"),
        )
    assert root is not None and node is not None and host_info is not None
    found = root.find_subnode("/voyage/batch/0/progress")
    assert found is not None and found.value == [0.0] and found.type == [float]
    assert node.value == [batch_id]
    assert host_info.extensions["LISTEN"] is True and host_info.osc_transport == "UDP"


async def test_an_explicit_http_port_in_use_is_one_line(sim: Simulator) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = await cli(
            "watch", sim.add_batch(3), "--no-control", "--http", f"127.0.0.1:{port}", env=env_for(sim)
        )
    assert_one_line_error(run, f"HTTP port 127.0.0.1:{port} is in use", "--no-http")


async def test_the_default_port_in_use_is_said_and_the_sidecar_goes_on(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    """What the command line does without --http (``http_optional``), another program on the port."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        async with running_hub(sim, http_port=port, http_optional=True) as hub:
            assert not hub.http.listening and hub.sidecar.running
            await asyncio.sleep(0.2)
            assert not any("HTTP" in where for where in hub.web.frame.health.endpoints)  # type: ignore[union-attr]
    said = [r.getMessage() for r in caplog.records if r.name == "voyage_progress.http"]
    assert said == [
        f"HTTP port 127.0.0.1:{port} is in use; running without it (pick another port with --http HOST:PORT)"
    ]


async def test_listening_beyond_loopback_needs_allowed_peers(sim: Simulator) -> None:
    run = await cli("watch", sim.add_batch(3), "--no-control", "--http", "0.0.0.0:0", env=env_for(sim))
    assert_one_line_error(run, "serving HTTP on 0.0.0.0 needs at least one --allow-peer address")
    assert run.code == 2


@pytest.mark.parametrize("value", ["7452", "localhost", "127.0.0.1:http", "[::1:7452", "127.0.0.1:70000"])
async def test_a_malformed_http_address_is_one_line(value: str) -> None:
    run = await cli("demo", "--http", value)
    assert run.code == 2 and "Traceback" not in run.err
    assert len(run.err.strip().splitlines()) == 1 and "--http" in run.err and "HOST:PORT" in run.err


async def test_no_http_means_no_server() -> None:
    port = free_tcp_port()
    args = ["demo", "--speed", "20", "--no-display", "--no-control", "--osc", f"127.0.0.1:{free_udp_port()}"]
    async with process(*args, "--http", f"127.0.0.1:{port}", "--no-http", env=env_for()) as proc:
        await asyncio.sleep(1.5)
        assert proc.returncode is None
        with pytest.raises(httpx.ConnectError):
            async with httpx.AsyncClient() as http:
                await http.get(f"http://127.0.0.1:{port}/")
