"""Every network listener (the control input, the simulator) binds to loopback by default, and
listening anywhere else needs an explicit ``--allow-peer``; peers that are not allowed are
refused. Real processes and real sockets: a loopback alias such as 127.0.0.5 plays the stranger.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.osc_receiver import OscReceiver, open_receiver
from tests.test_cli import assert_one_line_error, cli
from tests.test_watch_command import env_for, free_udp_port, process
from voyage_progress import PermissionDeniedError, VoyageBatchClient
from voyage_progress.cli import build_parser
from voyage_progress.simulator import run_simulator

STRANGER = "127.0.0.5"  # loopback, but not this machine's 127.0.0.1: allowed only on a loopback-only listener
ALLOWED = "192.0.2.10"  # TEST-NET-1: allowed, never actually seen


def can_bind(host: str) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, 0))
        except OSError:
            return False
    return True


needs_stranger = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not can_bind(STRANGER),
    reason=f"{STRANGER} cannot be bound here (all of 127.0.0.0/8 is loopback only on Linux)",
)


def port_is_wildcard(kind: int, port: int) -> bool:
    """Whether a socket on all addresses holds ``port``: then no other may take it on a second
    loopback address; one bound to 127.0.0.1 alone leaves 127.0.0.2 free. False where
    127.0.0.2 is not this machine's (not Linux): nothing to tell there."""
    if not can_bind("127.0.0.2"):
        return False
    with socket.socket(socket.AF_INET, kind) as probe:
        try:
            probe.bind(("127.0.0.2", port))
        except OSError:
            return True
    return False


async def get(url: str, local_address: str | None = None) -> httpx.Response:
    transport = httpx.AsyncHTTPTransport(local_address=local_address)
    async with httpx.AsyncClient(transport=transport, timeout=5) as client:
        return await client.get(url, headers={"Authorization": "Bearer k"})


@contextlib.asynccontextmanager
async def simulate(*args: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """``voyage-progress simulate`` as a process; yields it and the root URL it prints."""
    async with process("simulate", "--port", "0", "--speed", "0", *args, env=env_for()) as proc:
        assert proc.stdout is not None
        first = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert first.startswith("Voyage simulator at "), first
        yield proc, first.split()[3].removesuffix("/v1")


@pytest.fixture
async def receiver() -> AsyncIterator[OscReceiver]:
    r = await open_receiver()
    yield r
    r.close()


def test_the_defaults_are_loopback() -> None:
    parser = build_parser()
    assert parser.parse_args(["watch"]).control_host == "127.0.0.1"
    assert parser.parse_args(["demo"]).control_host == "127.0.0.1"
    assert parser.parse_args(["simulate"]).host == "127.0.0.1"


# -- the control input -------------------------------------------------------------------------


async def test_the_control_input_listens_on_loopback_by_default(receiver: OscReceiver) -> None:
    port = free_udp_port()
    async with run_simulator(speed=0) as sim:
        args = ["watch", sim.add_batch(3), "--control-port", str(port), "--osc", f"127.0.0.1:{receiver.port}"]
        async with process(*args, "--no-display", env=env_for(sim)) as proc:
            await receiver.wait_for(lambda r: bool(r.values("/voyage/sidecar/heartbeat")), timeout=20)
            assert not port_is_wildcard(socket.SOCK_DGRAM, port)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken, pytest.raises(OSError):
                taken.bind(("127.0.0.1", port))  # the sidecar does hold it, on 127.0.0.1
            proc.send_signal(signal.SIGINT)
            await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 0


async def test_the_control_input_beyond_loopback_needs_allow_peer() -> None:
    async with run_simulator(speed=0) as sim:
        run = await cli(
            "watch",
            sim.add_batch(3),
            "--control-host",
            "0.0.0.0",
            "--control-port",
            "0",
            "--osc",
            f"127.0.0.1:{free_udp_port()}",
            "--no-display",
            env=env_for(sim),
        )
    assert_one_line_error(run, "listening for control on 0.0.0.0 needs at least one --allow-peer address")
    assert run.code == 2


# -- the simulator -----------------------------------------------------------------------------


async def test_the_simulator_listens_on_loopback_by_default() -> None:
    async with simulate() as (_proc, root):
        assert root.startswith("http://127.0.0.1:")
        assert not port_is_wildcard(socket.SOCK_STREAM, int(root.rsplit(":", 1)[1]))
        assert (await get(root + "/_sim/stats")).status_code == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
async def test_the_simulator_beyond_loopback_needs_allow_peer(host: str) -> None:
    run = await cli("simulate", "--host", host, "--port", "0")
    assert_one_line_error(run, f"serving the simulator on {host} needs at least one --allow-peer address")
    assert run.code == 2


async def test_allowed_peers_must_be_addresses() -> None:
    run = await cli("simulate", "--port", "0", "--allow-peer", "my-laptop.local")
    assert_one_line_error(run, "--allow-peer 'my-laptop.local' is not an IP address")
    assert run.code == 2


async def test_localhost_counts_as_loopback() -> None:
    async with run_simulator(host="localhost", port=0) as sim:
        assert sim.host in ("127.0.0.1", "::1") and not sim.allowed_peers


@needs_stranger
async def test_the_simulator_serves_allowed_peers_and_this_machine_only() -> None:
    async with simulate("--host", "0.0.0.0", "--allow-peer", ALLOWED) as (_proc, root):
        port = root.rsplit(":", 1)[1]
        local = f"http://127.0.0.1:{port}"
        for path in ("/v1/batches", "/_sim/stats"):
            assert (await get(local + path)).status_code == 200
            refused = await get(local + path, local_address=STRANGER)
            assert refused.status_code == 403
            assert refused.json()["detail"].startswith(f"Requests from {STRANGER} are not allowed")
        stats = (await get(local + "/_sim/stats")).json()
    assert stats["refused_peers"] == 2 and stats["by_status"]["403"] == 2
    assert stats["requests"] == 1  # the one /v1 request served; refused ones are not requests


@needs_stranger
async def test_a_refused_peer_is_a_permission_error_for_the_client() -> None:
    transport = httpx.AsyncHTTPTransport(local_address=STRANGER)
    async with (
        run_simulator(host="0.0.0.0", port=0, speed=0, allowed_peers=[ALLOWED]) as sim,
        VoyageBatchClient(api_key="k", base_url=sim.base_url, transport=transport) as client,
    ):
        with pytest.raises(PermissionDeniedError, match=f"403 .*{STRANGER}"):
            await client.list_batches()
        assert sim.stats.refused_peers == 1 and sim.stats.requests == 0


@needs_stranger
async def test_without_allowed_peers_any_loopback_peer_is_served() -> None:
    async with run_simulator(port=0, speed=0) as sim:
        response = await get(sim.url + "/_sim/stats", local_address=STRANGER)
    assert response.status_code == 200 and sim.stats.refused_peers == 0
