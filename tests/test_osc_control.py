"""The control input, over real UDP sockets on loopback: what it accepts, what it rejects and
why, and that nothing a peer sends can stop it."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pythonosc.udp_client import SimpleUDPClient

from voyage_progress.core.commands import Command
from voyage_progress.outputs.osc import CONTROL, ControlServer, encode_bundle, encode_message
from voyage_progress.outputs.osc._codec import Arg

WATCH, UNWATCH, REFRESH, CANCEL, SHUTDOWN = (
    a.full("/voyage")
    for a in (CONTROL.WATCH, CONTROL.UNWATCH, CONTROL.REFRESH, CONTROL.CANCEL, CONTROL.SHUTDOWN)
)


class Handled:
    """A handler that keeps the commands it is given."""

    def __init__(self) -> None:
        self.commands: list[Command] = []

    def __call__(self, command: Command) -> None:
        self.commands.append(command)


def seen(server: ControlServer) -> int:
    return server.accepted + sum(server.rejected.values())


async def settle(server: ControlServer, count: int) -> None:
    """Wait until the server has accepted or rejected ``count`` messages in all."""
    async with asyncio.timeout(2):
        while seen(server) < count:
            await asyncio.sleep(0.002)


@pytest.fixture
def handled() -> Handled:
    return Handled()


@pytest.fixture
async def server(handled: Handled) -> AsyncIterator[ControlServer]:
    async with ControlServer(handled, port=0) as control:
        yield control


@pytest.fixture
def client(server: ControlServer) -> Iterator[SimpleUDPClient]:
    with SimpleUDPClient("127.0.0.1", server.port) as osc:
        yield osc


def peer_socket(host: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((host, 0))
    except OSError:
        sock.close()
        pytest.skip(f"cannot send from {host} here")
    return sock


async def send(server: ControlServer, data: bytes, host: str = "127.0.0.1") -> tuple[str, int]:
    """Send one datagram from ``host``, wait until it is handled; the sender's address."""
    before = seen(server)
    with peer_socket(host) as sock:
        sock.sendto(data, ("127.0.0.1", server.port))
        peer = sock.getsockname()
    await settle(server, before + 1)
    return peer[0], peer[1]


async def test_it_listens_where_told(server: ControlServer) -> None:
    assert server.host == "127.0.0.1"
    assert 0 < server.port < 65536


@pytest.mark.parametrize(
    ("address", "args", "kind", "batch_id", "label"),
    [
        (WATCH, ["batch_abc"], "watch", "batch_abc", None),
        (WATCH, ["batch_abc", "Gestures — take 2"], "watch", "batch_abc", "Gestures — take 2"),
        (WATCH, ["b", ""], "watch", "b", ""),
        (UNWATCH, ["batch-XYZ_09"], "unwatch", "batch-XYZ_09", None),
        (REFRESH, [], "refresh", None, None),
        (REFRESH, [1], "refresh", None, None),  # a TouchDesigner pulse
        (SHUTDOWN, [], "shutdown", None, None),
        (SHUTDOWN, [1], "shutdown", None, None),
    ],
)
async def test_each_command_reaches_the_handler(
    server: ControlServer,
    handled: Handled,
    address: str,
    args: list[Arg],
    kind: str,
    batch_id: str,
    label: str,
) -> None:
    peer = await send(server, encode_message(address, args))
    assert handled.commands == [Command(kind, batch_id, label, peer)]
    assert (server.accepted, dict(server.rejected)) == (1, {})


async def test_python_osc_clients_are_understood(
    server: ControlServer, handled: Handled, client: SimpleUDPClient
) -> None:
    client.send_message(WATCH, ["batch_1", "from TouchDesigner"])
    client.send_message(REFRESH, [])
    await settle(server, 2)
    assert [(c.kind, c.batch_id, c.label) for c in handled.commands] == [
        ("watch", "batch_1", "from TouchDesigner"),
        ("refresh", None, None),
    ]


async def test_cancel_is_refused_unless_allowed(server: ControlServer, handled: Handled) -> None:
    await send(server, encode_message(CANCEL, ["batch_1"]))
    assert handled.commands == []
    assert server.rejected == {"cancel_disabled": 1}


async def test_cancel_when_allowed(handled: Handled) -> None:
    async with ControlServer(handled, port=0, allow_cancel=True) as server:
        peer = await send(server, encode_message(CANCEL, ["batch_1"]))
    assert handled.commands == [Command("cancel", "batch_1", None, peer)]


async def test_a_bundle_is_counted_message_by_message(server: ControlServer, handled: Handled) -> None:
    bundle = encode_bundle([(WATCH, ["a"]), (WATCH, ["b", "B"]), (UNWATCH, [3]), (REFRESH, []), ("/x", [])])
    await send(server, bundle)
    await settle(server, 5)
    assert [(c.kind, c.batch_id) for c in handled.commands] == [
        ("watch", "a"),
        ("watch", "b"),
        ("refresh", None),
    ]
    assert server.accepted == 3
    assert server.rejected == {"bad_arguments": 1, "unknown_address": 1}


async def test_another_prefix(handled: Handled) -> None:
    async with ControlServer(handled, prefix="/td", port=0) as server:
        await send(server, encode_message("/td/control/refresh"))
        await send(server, encode_message(REFRESH))
    assert [c.kind for c in handled.commands] == ["refresh"]
    assert server.rejected == {"unknown_address": 1}


@pytest.mark.parametrize(
    ("address", "args"),
    [
        (WATCH, []),
        (WATCH, [12]),
        (WATCH, [1.5]),
        (WATCH, ["a", "b", "c"]),
        (WATCH, ["a", 2]),
        (WATCH, [""]),
        (WATCH, ["batch 1"]),
        (WATCH, ["batch/1"]),
        (WATCH, ["bätch"]),
        (WATCH, ["b" * 129]),
        (WATCH, ["batch_1\n"]),
        (WATCH, ["batch_1", "x" * 201]),
        (WATCH, ["batch_1", "two\nlines"]),
        (WATCH, ["batch_1", "bell\x07"]),
        (WATCH, ["batch_1", "c1\x85"]),
        (WATCH, ["batch_1", "paragraph\u2029"]),
        (WATCH, ["batch_1", "\u202eturned around"]),
        (UNWATCH, []),
        (UNWATCH, ["a", "b"]),
        (REFRESH, ["now"]),
    ],
    ids=repr,
)
async def test_bad_arguments_are_rejected(
    server: ControlServer, handled: Handled, address: str, args: list[Arg]
) -> None:
    await send(server, encode_message(address, args))
    assert handled.commands == []
    assert server.rejected == {"bad_arguments": 1}


async def test_the_longest_id_and_label_are_accepted(server: ControlServer, handled: Handled) -> None:
    await send(server, encode_message(WATCH, ["b" * 128, "l" * 200]))
    assert [(c.batch_id, c.label) for c in handled.commands] == [("b" * 128, "l" * 200)]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"garbage!", "malformed"),
        (b"/voyage/control/refresh", "malformed"),
        (b"#bundle\0", "malformed"),
        (b"", "malformed"),
        (encode_message("/voyage/control/wach", ["b"]), "unknown_address"),
        (encode_message("/voyage/control", []), "unknown_address"),
        (encode_message(WATCH, ["b", "x" * 9000]), "oversized"),
    ],
)
async def test_unreadable_datagrams_are_counted_by_reason(
    server: ControlServer, handled: Handled, data: bytes, reason: str
) -> None:
    await send(server, data)
    assert handled.commands == []
    assert server.rejected == {reason: 1}


async def test_rejections_are_logged_once_a_minute_per_reason(
    server: ControlServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="voyage_progress.osc")
    for _ in range(5):
        await send(server, b"garbage!")
        await send(server, encode_message("/nope"))
    assert server.rejected == {"malformed": 5, "unknown_address": 5}
    assert len([r for r in caplog.records if "rejected" in r.getMessage()]) == 2


async def test_only_allowed_peers_and_the_machine_itself(handled: Handled) -> None:
    async with ControlServer(handled, port=0, allowed_peers={"127.0.0.2"}) as server:
        await send(server, encode_message(REFRESH), host="127.0.0.3")
        assert server.rejected == {"peer": 1}
        await send(server, encode_message(REFRESH), host="127.0.0.2")
        await send(server, encode_message(REFRESH), host="127.0.0.1")
        assert server.accepted == 2
    assert [c.peer[0] for c in handled.commands] == ["127.0.0.2", "127.0.0.1"]


async def test_shutdown_is_accepted_from_the_same_peers_as_every_command(handled: Handled) -> None:
    async with ControlServer(handled, port=0, allowed_peers={"127.0.0.2"}) as server:
        await send(server, encode_message(SHUTDOWN), host="127.0.0.3")
        await send(server, encode_message(SHUTDOWN, ["batch_1"]), host="127.0.0.1")
        assert handled.commands == [] and server.rejected == {"peer": 1, "bad_arguments": 1}
        await send(server, encode_message(SHUTDOWN), host="127.0.0.2")
    assert [(c.kind, c.peer[0]) for c in handled.commands] == [("shutdown", "127.0.0.2")]


async def test_without_allowed_peers_any_loopback_peer(server: ControlServer, handled: Handled) -> None:
    await send(server, encode_message(REFRESH), host="127.0.0.3")
    assert [c.peer[0] for c in handled.commands] == ["127.0.0.3"]


@pytest.mark.parametrize(
    ("allowed", "peer", "accepted"),
    [
        ((), "::ffff:127.0.0.1", True),
        ((), "::1", True),
        ((), "192.168.1.20", False),
        ((), "fe80::1%eth0", False),
        ((), "not an address", False),
        (("192.168.1.20",), "192.168.1.20", True),
        (("192.168.1.20",), "::ffff:192.168.1.20", True),
        (("192.168.1.20",), "192.168.1.21", False),
        (("192.168.1.20",), "127.0.0.1", True),
        (("192.168.1.20",), "::1", True),
        (("192.168.1.20",), "127.0.0.9", False),
        (("fd00::7",), "fd00::7", True),
    ],
)
def test_the_peer_rule(allowed: tuple[str, ...], peer: str, accepted: bool) -> None:
    commands: list[Command] = []
    server = ControlServer(commands.append, allowed_peers=allowed)
    server.datagram_received(encode_message(REFRESH), (peer, 5000))
    assert (server.accepted, server.rejected["peer"]) == ((1, 0) if accepted else (0, 1))
    assert len(commands) == server.accepted


async def test_a_failing_handler_does_not_stop_the_server(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str | None] = []

    def handler(command: Command) -> None:
        calls.append(command.batch_id)
        if command.batch_id == "boom":
            raise RuntimeError("handler bug")

    async with ControlServer(handler, port=0) as server:
        await send(server, encode_message(WATCH, ["boom"]))
        await send(server, encode_message(WATCH, ["after"]))
    assert calls == ["boom", "after"]
    assert "handler bug" in caplog.text


async def test_async_handlers_run_and_may_fail(caplog: pytest.LogCaptureFixture) -> None:
    done: list[str | None] = []

    async def handler(command: Command) -> None:
        await asyncio.sleep(0)
        if command.batch_id == "boom":
            raise RuntimeError("async handler bug")
        done.append(command.batch_id)

    async with ControlServer(handler, port=0) as server:
        await send(server, encode_message(WATCH, ["boom"]))
        await send(server, encode_message(WATCH, ["after"]))
        async with asyncio.timeout(1):
            while not done:
                await asyncio.sleep(0.002)
    assert done == ["after"]
    assert "async handler bug" in caplog.text


async def test_hostile_datagrams_never_raise(server: ControlServer, handled: Handled) -> None:
    rng = random.Random(7)
    valid = encode_bundle([(WATCH, ["batch_1", "label"]), (REFRESH, [])])
    for i in range(3000):
        if i % 2:
            data = bytearray(valid)
            data[rng.randrange(len(data))] = rng.randrange(256)
            datagram = bytes(data)
        else:
            datagram = os.urandom(rng.randrange(64))
        server.datagram_received(datagram, ("127.0.0.1", 9))
    server.datagram_received(b"x", ("not-an-ip", 1))
    server.datagram_received(b"x", ("", 0))
    weird: Any = (None, None)
    server.datagram_received(b"x", weird)
    assert seen(server) >= 3002
    assert all(c.kind in ("watch", "refresh") for c in handled.commands)


async def test_a_port_in_use_raises_one_line(handled: Handled) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        with pytest.raises(OSError) as raised:
            await ControlServer(handled, port=port).start()
    assert str(raised.value) == (
        f"control port 127.0.0.1:{port} is in use (is another sidecar running? use --control-port)"
    )


async def test_two_servers_cannot_share_a_port(server: ControlServer, handled: Handled) -> None:
    with pytest.raises(OSError, match="is in use"):
        await ControlServer(handled, port=server.port).start()


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
async def test_listening_beyond_loopback_needs_allowed_peers(handled: Handled, host: str) -> None:
    with pytest.raises(ValueError) as raised:
        await ControlServer(handled, host=host, port=0).start()
    assert str(raised.value) == f"listening for control on {host} needs at least one --allow-peer address"


async def test_listening_beyond_loopback_with_allowed_peers(handled: Handled) -> None:
    async with ControlServer(handled, host="0.0.0.0", port=0, allowed_peers=["192.0.2.10"]) as server:
        assert server.host == "0.0.0.0"
        await send(server, encode_message(REFRESH), host="127.0.0.1")
    assert [c.kind for c in handled.commands] == ["refresh"]


async def test_localhost_counts_as_loopback(handled: Handled) -> None:
    async with ControlServer(handled, host="localhost", port=0) as server:
        assert server.host in ("127.0.0.1", "::1")


def test_allowed_peers_must_be_addresses(handled: Handled) -> None:
    with pytest.raises(ValueError) as raised:
        ControlServer(handled, allowed_peers=["127.0.0.1", "my-laptop.local"])
    assert str(raised.value) == "--allow-peer 'my-laptop.local' is not an IP address"
