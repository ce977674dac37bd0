"""Sends OSC over UDP to any number of destinations, from asyncio, without ever blocking or failing.

Each destination has its own *connected* UDP socket: the route is looked up once instead of on
every send, and the kernel reports a receiver that is not running (ICMP port unreachable, or
WSAECONNRESET on Windows) as an error on that socket only, on a later operation. Such errors are
counted and logged at most once a minute per destination; they never stop the sends to the
others, nor the later sends to the same destination. A socket that is closed under us (or that
could not be opened, say with no network at start) is reopened on a later send, at most once a
second.

A datagram is encoded once and the same bytes go to every destination. When a socket's buffer is
full, the datagram is dropped and counted as an error rather than queued: receivers keep only the
latest values anyway, so a late datagram is worth less than none.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import math
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, cast

from ...core.peers import host_port
from ._codec import Arg, encode_message

__all__ = ["Destination", "Link", "OscSender"]

logger = logging.getLogger("voyage_progress.osc")

_LOG_EVERY = 60.0
_REOPEN_EVERY = 1.0
_CLOSE_TIMEOUT = 1.0

SocketAddress = tuple[Any, ...]


@dataclass(frozen=True)
class Destination:
    """Where to send: a host name or IP address and a UDP port."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Destination:
        """``HOST:PORT``, with IPv6 addresses in brackets: ``[::1]:7450``."""
        host, colon, port = text.strip().rpartition(":")
        if host.startswith("[") and host.endswith("]") and _is_ipv6(host[1:-1]):
            host = host[1:-1]
        elif any(c in host for c in ":[]") or any(c.isspace() for c in host):
            host = ""
        if not (colon and host and port.isascii() and port.isdigit() and len(port) <= 5):
            raise ValueError(f"malformed --osc {text!r}: expected HOST:PORT, e.g. 127.0.0.1:7450")
        if not 1 <= int(port) <= 65535:
            raise ValueError(f"malformed --osc {text!r}: the port must be 1-65535")
        return cls(host, int(port))

    def __str__(self) -> str:
        return host_port(self.host, self.port)


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


async def resolve(host: str, port: int, *, passive: bool = False) -> tuple[int, SocketAddress]:
    """The address family and socket address of ``host``, IPv4 first: ``localhost`` is often
    ``::1`` first, while most OSC tools listen on IPv4 only. Raises ``OSError`` (``gaierror``)."""
    flags = socket.AI_PASSIVE if passive else 0
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_DGRAM, flags=flags)
    if not infos:
        raise socket.gaierror(f"no address for {host!r}")
    family, _, _, _, address = min(infos, key=lambda info: info[0] != socket.AF_INET)
    return family, address


class Link(asyncio.DatagramProtocol):
    """One destination's socket and counters: ``sent`` datagrams, ``errors`` (datagrams not sent
    and errors reported by the system) and ``last_error``, one line or ``""``."""

    def __init__(
        self, destination: Destination, family: int, address: SocketAddress, multicast_ttl: int
    ) -> None:
        self.destination = destination
        self.sent = 0
        self.errors = 0
        self.last_error = ""
        self.transport: asyncio.DatagramTransport | None = None
        self._family = family
        self._address = address
        self._ttl = multicast_ttl
        self._loop = asyncio.get_running_loop()
        self._send: Callable[[bytes], int] | None = None
        self._closed = False
        self._opening: asyncio.Task[None] | None = None
        self._lost: asyncio.Future[None] | None = None
        self._reopen_at = 0.0
        self._logged_at = -math.inf

    def send(self, data: bytes) -> None:
        if self._send is None:
            self.errors += 1
            self._reopen_later()
            return
        try:
            self._send(data)
        except OSError as exc:  # refused, reset (Windows), unreachable, or a full buffer (BlockingIOError)
            self._record(exc)
        else:
            self.sent += 1

    async def open(self) -> None:
        """Open the socket; on failure, count and log the error and leave reopening to ``send``.

        The socket is made here, handed to an asyncio transport that owns its lifetime, and
        written to directly by ``send``: a transport's ``sendto`` costs a fifth more than the
        system call itself, which the sender's budget (twice python-osc's rate) cannot spare.
        """
        sock = None
        try:
            sock = self._connected_socket()
            await self._loop.create_datagram_endpoint(lambda: self, sock=sock)
        except OSError as exc:
            if sock is not None:
                sock.close()
            self._record(exc)
        else:
            if self.transport is not None:
                self._stop_reading(self.transport)
                self._send = sock.send
        finally:
            self._opening = None

    @staticmethod
    def _stop_reading(transport: asyncio.DatagramTransport) -> None:
        """Nothing is read from a destination, and a socket that the event loop watches for
        reading costs a wake-up check on every send. The errors the system reports come back
        from ``send`` instead. Where reading cannot be paused, it stays on and the errors come to
        ``error_received``: Windows' proactor loop, and the selector loop's datagram transport
        in early 3.11 releases (Debian 12's 3.11.2 among them), which inherits
        ``ReadTransport.pause_reading`` and its ``NotImplementedError``."""
        pause_reading = getattr(transport, "pause_reading", None)
        if pause_reading is not None:
            with contextlib.suppress(NotImplementedError):
                pause_reading()

    def _connected_socket(self) -> socket.socket:
        sock = socket.socket(self._family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            ip = ipaddress.ip_address(self._address[0].partition("%")[0])
            if ip.version == 4 and str(ip).endswith(".255"):  # 255.255.255.255 included
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            if ip.is_multicast:
                self._set_multicast_ttl(sock)
            sock.connect(self._address)  # UDP: no handshake, it only fixes the peer
        except OSError:
            sock.close()
            raise
        return sock

    def _set_multicast_ttl(self, sock: socket.socket) -> None:
        if self._family == socket.AF_INET6:
            level, option = socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS
        else:
            level, option = socket.IPPROTO_IP, socket.IP_MULTICAST_TTL
        try:
            sock.setsockopt(level, option, self._ttl)
        except OSError as exc:  # the system's default TTL (1) is the usual one anyway
            self._record(exc)

    async def aclose(self) -> None:
        self._closed = True
        if self._opening is not None:
            self._opening.cancel()
            await asyncio.wait([self._opening])
        self._send = None
        if self.transport is not None and self._lost is not None:
            self.transport.close()
            await asyncio.wait([self._lost], timeout=_CLOSE_TIMEOUT)

    def _reopen_later(self) -> None:
        now = time.monotonic()
        if self._closed or self.transport is not None or self._opening is not None or now < self._reopen_at:
            return
        self._reopen_at = now + _REOPEN_EVERY
        self._opening = self._loop.create_task(self.open())

    def _record(self, exc: Exception) -> None:
        self.errors += 1
        self.last_error = f"{type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}"
        now = time.monotonic()
        if now - self._logged_at >= _LOG_EVERY:
            self._logged_at = now
            logger.warning("OSC to %s: %s (logged at most once a minute)", self.destination, self.last_error)

    # asyncio.DatagramProtocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # not a subclass of it on 3.11
        self._lost = self._loop.create_future()
        if self._closed:
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport, self._send = None, None
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)
        if exc is not None:
            self._record(exc)

    def error_received(self, exc: Exception) -> None:
        self._record(exc)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        """Ignored on purpose: OSC receivers do not answer, so whatever arrives on a sending
        socket (a stray packet to its port) carries nothing for the sidecar."""


class OscSender:
    """Sends every datagram to every destination.

    >>> async with OscSender([Destination.parse("127.0.0.1:7450")]) as sender:  # doctest: +SKIP
    ...     sender.send_message("/voyage/all/percent", [42.5])

    ``start`` raises ``ValueError`` for a host name that does not resolve; after that, nothing
    about the network raises: see ``links`` for what happened to each destination. Sending
    before ``start`` raises ``RuntimeError``; sending after ``aclose`` does nothing.
    """

    def __init__(self, destinations: Sequence[Destination], *, multicast_ttl: int = 1) -> None:
        if not 0 <= multicast_ttl <= 255:
            raise ValueError(f"the multicast TTL must be 0-255, not {multicast_ttl}")
        self.destinations = tuple(destinations)
        self._multicast_ttl = multicast_ttl
        self._links: tuple[Link, ...] = ()
        self._started = False

    @property
    def links(self) -> tuple[Link, ...]:
        """One per destination, in order, with its counters (empty before ``start``)."""
        return self._links

    async def start(self) -> None:
        links = await asyncio.gather(*(self._link(destination) for destination in self.destinations))
        await asyncio.gather(*(link.open() for link in links))
        self._links, self._started = tuple(links), True

    async def _link(self, destination: Destination) -> Link:
        try:
            family, address = await resolve(destination.host, destination.port)
        except OSError as exc:
            raise ValueError(f"cannot resolve OSC destination {destination}: {exc.strerror or exc}") from None
        return Link(destination, family, address, self._multicast_ttl)

    def send_message(self, address: str, args: Sequence[Arg] = ()) -> None:
        if not self._started:
            raise RuntimeError("OscSender.start() has not been awaited")
        data = encode_message(address, args)  # the hot path: no call more than needed
        for link in self._links:
            link.send(data)

    def send_datagram(self, data: bytes) -> None:
        """Send ``data`` to every destination; network errors are counted, never raised."""
        if not self._started:
            raise RuntimeError("OscSender.start() has not been awaited")
        for link in self._links:
            link.send(data)

    async def aclose(self) -> None:
        links, self._links = self._links, ()
        await asyncio.gather(*(link.aclose() for link in links))

    async def __aenter__(self) -> OscSender:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
