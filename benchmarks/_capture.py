"""Everything a sidecar sends, kept: a UDP socket on loopback read by a thread, every datagram
decoded into its messages, and the sidecar's state as a receiver would last have seen it."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from voyage_progress.outputs.osc._codec import decode

#: The status the API ends in, by the kind of the end event that announces it.
END_STATUS = {"complete": "completed", "failed": "failed", "cancelled": "cancelled", "expired": "expired"}
END_KINDS = frozenset(END_STATUS)


@dataclass
class Capture:
    prefix: str = "/voyage"
    datagrams: list[bytes] = field(default_factory=list)
    messages: list[tuple[str, list[Any]]] = field(default_factory=list)
    undecodable: int = 0
    ends: list[tuple[str, str]] = field(default_factory=list)
    #: ``(monotonic time received, name, first argument)`` of every ``/sidecar/NAME`` message.
    sidecar: list[tuple[float, str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.1)
        self.port: int = self._socket.getsockname()[1]
        self._lock = threading.Lock()
        self._open = True
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while self._open:
            try:
                data = self._socket.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                decoded = decode(data)
            except ValueError:
                decoded = []
                self.undecodable += 1
            event, health = self.prefix + "/event", self.prefix + "/sidecar/"
            received = time.monotonic()
            with self._lock:
                self.datagrams.append(data)
                for address, args in decoded:
                    self.messages.append((address, list(args)))
                    if address.startswith(health) and args:
                        self.sidecar.append((received, address[len(health) :], args[0]))
                    if address == event and len(args) > 1 and args[0] in END_KINDS:
                        self.ends.append((str(args[0]), str(args[1])))

    def timeline(self, name: str) -> list[tuple[float, Any]]:
        """When each ``/sidecar/NAME`` arrived, and its value."""
        with self._lock:
            return [(at, value) for at, what, value in self.sidecar if what == name]

    def close(self) -> None:
        self._open = False
        self._thread.join(2)
        self._socket.close()

    def snapshot(self) -> list[tuple[str, list[Any]]]:
        with self._lock:
            return list(self.messages)

    def events(self) -> list[tuple[str, str]]:
        """``(kind, batch id)`` of every batch end announced, in the order received."""
        with self._lock:
            return list(self.ends)

    def batches(self) -> dict[str, dict[str, Any]]:
        """The latest value of every ``/batch/{slot}/...`` field, by batch id."""
        slots: dict[str, dict[str, Any]] = {}
        head = self.prefix + "/batch/"
        for address, args in self.snapshot():
            if address.startswith(head) and args:
                slot, _, name = address[len(head) :].partition("/")
                fields = slots.setdefault(slot, {})
                if name == "id" and fields.get("id") != args[0]:
                    fields.clear()
                fields[name] = args[0]
        return {str(f["id"]): f for f in slots.values() if "id" in f}

    def latest(self, name: str) -> Any:
        address = f"{self.prefix}/sidecar/{name}"
        for message, args in reversed(self.snapshot()):
            if message == address and args:
                return args[0]
        return None

    def wait_for_ends(self, ids: set[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if {batch_id for _, batch_id in self.events()} >= ids:
                return True
            time.sleep(0.2)
        return False
