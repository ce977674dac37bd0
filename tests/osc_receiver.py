"""A real UDP socket that stands in for TouchDesigner: it receives the sidecar's datagrams and
parses them with python-osc, an OSC implementation independent of ours."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage


@dataclass
class Received:
    at: float
    address: str
    args: list[object]
    types: str
    in_bundle: bool


@dataclass
class OscReceiver(asyncio.DatagramProtocol):
    """Datagrams are only stored as they arrive and parsed when looked at: a receiver that
    parsed on arrival would fall behind a full state of a hundred batches and lose datagrams
    in the kernel, which says nothing about the sender."""

    datagrams: list[tuple[float, bytes]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    transport: asyncio.DatagramTransport | None = None
    _messages: list[Received] = field(default_factory=list)
    _parsed: int = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.datagrams.append((time.monotonic(), data))
        self.arrived.set()

    @property
    def messages(self) -> list[Received]:
        for at, data in self.datagrams[self._parsed :]:
            if OscBundle.dgram_is_bundle(data):
                for content in OscBundle(data):
                    self._add(at, content, True)
            else:
                self._add(at, OscMessage(data), False)
        self._parsed = len(self.datagrams)
        return self._messages

    def clear(self) -> None:
        """Forget everything received so far."""
        self.messages.clear()

    def _add(self, at: float, message: object, in_bundle: bool) -> None:
        assert isinstance(message, OscMessage), "nested bundles are not expected"
        types = message.dgram[message.dgram.index(b",") :].split(b"\0", 1)[0][1:].decode()
        self._messages.append(Received(at, message.address, list(message.params), types, in_bundle))

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def values(self, address: str) -> list[object]:
        return [m.args[0] for m in self.messages if m.address == address and m.args]

    def last(self, address: str, default: object = None) -> object:
        values = self.values(address)
        return values[-1] if values else default

    def events(self, kind: str | None = None) -> list[tuple[object, ...]]:
        found = [tuple(m.args) for m in self.messages if m.address == "/voyage/event"]
        return [e for e in found if kind is None or e[0] == kind]

    async def wait_for(self, condition: Callable[[OscReceiver], bool], timeout: float = 30.0) -> None:
        """Wait until ``condition(self)`` holds; fails the test after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not condition(self):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out; last messages: {[m.address for m in self.messages[-5:]]}")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), min(remaining, 0.5))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_receiver(host: str = "127.0.0.1", port: int = 0) -> OscReceiver:
    loop = asyncio.get_running_loop()
    receiver = OscReceiver()
    transport, _ = await loop.create_datagram_endpoint(lambda: receiver, local_addr=(host, port))
    receiver.transport = transport
    return receiver


#: The Debian package of each interoperability tool (.ci/run installs them).
DEBIAN_PACKAGES = {"oscdump": "liblo-tools", "pd": "puredata-core", "chromium": "chromium"}


def require_tool(name: str) -> str:
    """The path of an interoperability tool; skipped locally without it, a failure in CI."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("VOYAGE_PROGRESS_REQUIRE_INTEROP") == "1":
            pytest.fail(f"{name} is required here (VOYAGE_PROGRESS_REQUIRE_INTEROP=1) but is not installed")
        pytest.skip(f"{name} is not installed (Debian: apt install {DEBIAN_PACKAGES.get(name, name)})")
    return path
