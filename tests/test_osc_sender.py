"""The OSC sender, over real UDP sockets on loopback: several destinations, a dead one among
them, broadcast and multicast options, and the parsing of ``--osc HOST:PORT``."""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import socket
import sys
import time
from collections.abc import AsyncIterator

import pytest

from voyage_progress.outputs.osc import Destination, OscSender, encode_bundle, encode_message
from voyage_progress.outputs.osc._outbox import Outbox
from voyage_progress.outputs.osc._sender import Link


class Receiver(asyncio.DatagramProtocol):
    """A UDP socket that keeps what it receives."""

    def __init__(self) -> None:
        self.datagrams: list[bytes] = []
        self.transport: asyncio.DatagramTransport | None = None
        self._arrived = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.datagrams.append(data)
        self._arrived.set()

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    async def wait_for(self, count: int, timeout: float = 2.0) -> list[bytes]:
        async with asyncio.timeout(timeout):
            while len(self.datagrams) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.datagrams


async def open_receiver(host: str = "127.0.0.1", port: int = 0) -> Receiver:
    _, receiver = await asyncio.get_running_loop().create_datagram_endpoint(Receiver, local_addr=(host, port))
    return receiver


@pytest.fixture
async def receivers() -> AsyncIterator[list[Receiver]]:
    opened = [await open_receiver(), await open_receiver()]
    yield opened
    for receiver in opened:
        assert receiver.transport is not None
        receiver.transport.close()


def dead_port() -> int:
    """A port that was just free: nothing listens on it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def socket_option(link: Link, level: int, option: int) -> int:
    assert link.transport is not None
    return int(link.transport.get_extra_info("socket").getsockopt(level, option))


async def test_every_destination_receives_the_same_bundles(receivers: list[Receiver]) -> None:
    bundles = [
        [("/voyage/batch/0/percent", [12.5]), ("/voyage/batch/0/status", ["in_progress"])],
        [("/voyage/all/active", [1]), ("/voyage/event", ["complete", "batch_1", 0])],
        [],
    ]
    async with OscSender([Destination("127.0.0.1", r.port) for r in receivers]) as sender:
        expected = [encode_bundle(messages) for messages in bundles]
        for datagram in expected:
            sender.send_datagram(datagram)
        for receiver in receivers:
            assert await receiver.wait_for(3) == expected
        assert [(link.sent, link.errors) for link in sender.links] == [(3, 0), (3, 0)]


async def test_send_message_and_send_datagram(receivers: list[Receiver]) -> None:
    async with OscSender([Destination("127.0.0.1", receivers[0].port)]) as sender:
        sender.send_message("/voyage/sidecar/heartbeat", [1])
        sender.send_datagram(b"/raw\0\0\0\0,\0\0\0")
        assert await receivers[0].wait_for(2) == [
            encode_message("/voyage/sidecar/heartbeat", [1]),
            b"/raw\0\0\0\0,\0\0\0",
        ]


async def test_a_dead_destination_never_stops_the_others(
    receivers: list[Receiver], caplog: pytest.LogCaptureFixture
) -> None:
    live = receivers[0]
    port = dead_port()
    sends = 200
    caplog.set_level(logging.WARNING, logger="voyage_progress.osc")
    async with OscSender([Destination("127.0.0.1", port), Destination("127.0.0.1", live.port)]) as sender:
        for i in range(sends):
            sender.send_message("/voyage/sidecar/heartbeat", [i])
            if i % 10 == 0:
                await asyncio.sleep(0)  # let the system's "port unreachable" reports in
        assert len(await live.wait_for(sends)) == sends
        dead, alive = sender.links
        assert (alive.sent, alive.errors) == (sends, 0)
        assert dead.sent + dead.errors >= sends
        if sys.platform == "linux":  # loopback reports the unreachable port at once
            assert dead.errors > 0
            assert "ConnectionRefusedError" in dead.last_error
            warnings = [r for r in caplog.records if r.name == "voyage_progress.osc"]
            assert len(warnings) == 1, "logged at most once a minute per destination"


async def test_a_destination_that_comes_back_receives_again() -> None:
    port = dead_port()
    async with OscSender([Destination("127.0.0.1", port)]) as sender:
        for i in range(20):
            sender.send_message("/n", [i])
            await asyncio.sleep(0)
        late = await open_receiver(port=port)
        try:
            sender.send_message("/n", [99])
            assert await late.wait_for(1) == [encode_message("/n", [99])]
        finally:
            assert late.transport is not None
            late.transport.close()


async def test_a_socket_closed_under_the_sender_is_reopened(receivers: list[Receiver]) -> None:
    receiver = receivers[0]
    async with OscSender([Destination("127.0.0.1", receiver.port)]) as sender:
        link = sender.links[0]
        assert link.transport is not None
        link.transport.abort()
        await asyncio.sleep(0)  # connection_lost
        sender.send_message("/lost", [])  # counted as an error, and reopens the socket
        async with asyncio.timeout(2):
            while link.transport is None:
                await asyncio.sleep(0.01)
        sender.send_message("/back", [])
        assert await receiver.wait_for(1) == [encode_message("/back")]
        assert link.errors >= 1 and link.sent == 1


async def test_a_reset_reported_as_on_windows_is_counted_and_sending_goes_on(
    receivers: list[Receiver],
) -> None:
    async with OscSender([Destination("127.0.0.1", receivers[0].port)]) as sender:
        link = sender.links[0]
        link.error_received(ConnectionResetError(10054, "An existing connection was forcibly closed"))
        sender.send_message("/still", [])
        assert await receivers[0].wait_for(1) == [encode_message("/still")]
        assert (link.sent, link.errors) == (1, 1)
        assert link.last_error == "ConnectionResetError: An existing connection was forcibly closed"


async def test_ipv6_loopback() -> None:
    try:
        receiver = await open_receiver("::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    try:
        async with OscSender([Destination.parse(f"[::1]:{receiver.port}")]) as sender:
            sender.send_message("/v6", ["ok"])
            assert await receiver.wait_for(1) == [encode_message("/v6", ["ok"])]
    finally:
        assert receiver.transport is not None
        receiver.transport.close()


async def test_localhost_is_resolved(receivers: list[Receiver]) -> None:
    async with OscSender([Destination("localhost", receivers[0].port)]) as sender:
        sender.send_message("/named", [1.5])
        assert await receivers[0].wait_for(1) == [encode_message("/named", [1.5])]


async def test_a_broadcast_address_enables_broadcast(receivers: list[Receiver]) -> None:
    destinations = [Destination("127.255.255.255", 9), Destination("127.0.0.1", receivers[0].port)]
    async with OscSender(destinations) as sender:
        broadcast, plain = sender.links
        if broadcast.transport is None:
            pytest.skip(f"broadcast refused here: {broadcast.last_error}")
        assert socket_option(broadcast, socket.SOL_SOCKET, socket.SO_BROADCAST) != 0
        assert socket_option(plain, socket.SOL_SOCKET, socket.SO_BROADCAST) == 0


async def test_a_multicast_address_sets_the_ttl() -> None:
    async with OscSender([Destination("239.0.0.1", 7000)], multicast_ttl=3) as sender:
        link = sender.links[0]
        if link.transport is None or link.errors:
            pytest.skip(f"multicast refused here: {link.last_error}")
        assert socket_option(link, socket.IPPROTO_IP, socket.IP_MULTICAST_TTL) == 3
        sender.send_message("/multicast", [1])


async def test_an_unknown_host_raises_one_line() -> None:
    sender = OscSender([Destination("no-such-host.invalid", 7000)])
    with pytest.raises(
        ValueError, match=r"^cannot resolve OSC destination no-such-host\.invalid:7000: "
    ) as raised:
        await sender.start()
    assert "\n" not in str(raised.value)


async def test_sending_before_start_raises_and_after_close_does_nothing(receivers: list[Receiver]) -> None:
    sender = OscSender([Destination("127.0.0.1", receivers[0].port)])
    with pytest.raises(RuntimeError):
        sender.send_datagram(b"x")
    await sender.start()
    await sender.aclose()
    sender.send_message("/after", [])
    assert sender.links == ()


def test_multicast_ttl_is_checked() -> None:
    with pytest.raises(ValueError, match="0-255"):
        OscSender([], multicast_ttl=256)


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("127.0.0.1:7000", "127.0.0.1", 7000),
        ("localhost:7000", "localhost", 7000),
        ("[::1]:7000", "::1", 7000),
        ("239.0.0.1:7000", "239.0.0.1", 7000),
        ("my-mac.local:1", "my-mac.local", 1),
        (" 10.0.0.5:65535 ", "10.0.0.5", 65535),
    ],
)
def test_destination_parse(text: str, host: str, port: int) -> None:
    assert Destination.parse(text) == Destination(host, port)


@pytest.mark.parametrize(
    "text",
    [
        "foo",
        "",
        ":7000",
        "foo:",
        "foo:abc",
        "foo:-1",
        "foo:7000x",
        "::1:7000",
        "[::1]7000",
        "[foo]:7000",
        "a b:7000",
        "foo:٣",
        "foo:" + "9" * 5000,
    ],
)
def test_destination_parse_rejects_malformed_input(text: str) -> None:
    with pytest.raises(ValueError) as raised:
        Destination.parse(text)
    assert str(raised.value) == f"malformed --osc {text!r}: expected HOST:PORT, e.g. 127.0.0.1:7450"


@pytest.mark.parametrize("text", ["foo:0", "foo:65536", "127.0.0.1:99999"])
def test_destination_parse_rejects_ports_out_of_range(text: str) -> None:
    with pytest.raises(ValueError) as raised:
        Destination.parse(text)
    assert str(raised.value) == f"malformed --osc {text!r}: the port must be 1-65535"


def test_destination_str_round_trips() -> None:
    for text in ["127.0.0.1:7000", "[::1]:7000", "localhost:9"]:
        assert str(Destination.parse(text)) == text


# -- the outbox's pace ---------------------------------------------------------------------------


class _Counting:
    """Stands in for the sender: notes when each datagram leaves."""

    def __init__(self) -> None:
        self.sent: list[float] = []

    def send_datagram(self, data: bytes) -> None:
        self.sent.append(time.monotonic())


def _states(outbox: Outbox, count: int) -> None:
    for slot in range(count):
        outbox.put_state(f"batch-{slot}", lambda slot=slot: [(f"/voyage/batch/{slot}/progress", [0.5])])


async def test_a_frame_s_first_datagrams_leave_at_once_and_the_rest_at_the_pace() -> None:
    sender = _Counting()
    outbox = Outbox(sender, burst=8, pause=0.002, catch_up=32)  # type: ignore[arg-type]
    _states(outbox, 100)
    outbox.send_now()
    assert len(sender.sent) == 32  # before the caller goes on to the other outputs
    await outbox.drain()
    assert len(sender.sent) == 100
    assert sender.sent[-1] - sender.sent[0] >= 68 / 8 * 0.002 * 0.9  # the rest paced: 8 per 2 ms


async def test_a_late_wake_up_sends_what_the_pace_allowed_meanwhile() -> None:
    """The pace is kept by the clock, not by turns of the loop: a loop busy elsewhere for 20 ms
    (twenty WebSocket clients) does not make each burst of 8 wait for its own turn."""
    sender = _Counting()
    outbox = Outbox(sender, burst=8, pause=0.002, catch_up=32)  # type: ignore[arg-type]
    _states(outbox, 200)
    outbox.send_now()
    while outbox:
        time.sleep(0.02)  # the rest of the loop's turn, busy
        await asyncio.sleep(0)
    wake_ups = 1 + sum(1 for before, after in itertools.pairwise(sender.sent) if after - before > 0.01)
    assert wake_ups == math.ceil(200 / 32)  # 32 each time, where a burst a wake-up needed 25
