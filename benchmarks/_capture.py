"""Everything a sidecar sends, kept: a UDP socket on loopback read by a thread, every datagram
decoded into its messages, and the sidecar's state as a receiver would last have seen it."""

from __future__ import annotations

import itertools
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
    #: When each batch's end first arrived (monotonic time), by batch id.
    first_end_at: dict[str, float] = field(default_factory=dict)
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
                        self.first_end_at.setdefault(str(args[1]), received)

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


class Vitals:
    """What a run needs to know of a sidecar under load, kept small and cheap to read: when each
    heartbeat arrived, the events by kind (and the ids they name), every distinct
    ``/sidecar/message``, and the ``poll_age`` of the batches it tracks, as sent.

    A sidecar watching thousands of batches sends tens of thousands of messages a second; a
    receiver that decoded them all would compete with it for the processor. Only heartbeats,
    events and the bundles of tracked slots are decoded (the slot is read from the raw bytes).
    """

    def __init__(self, prefix: str = "/voyage") -> None:
        self.prefix = prefix
        self.beats: list[float] = []
        self.events: dict[str, list[str]] = {}
        self.messages: list[str] = []
        self.ages: list[tuple[float, str, float]] = []
        self.datagrams = 0
        self._tracked: dict[int, str] = {}
        self._heartbeat = (prefix + "/sidecar/heartbeat").encode()
        self._message = prefix + "/sidecar/message"
        self._event = (prefix + "/event").encode()
        self._batch = (prefix + "/batch/").encode()
        self._lock = threading.Lock()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.1)
        self.port: int = self._socket.getsockname()[1]
        self._open = True
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def track(self, slots: dict[int, str]) -> None:
        """Keep the ``poll_age`` of these batches (by slot: the bundle's first address names it)."""
        with self._lock:
            self._tracked = dict(slots)

    def _read(self) -> None:
        while self._open:
            try:
                data = self._socket.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            now = time.monotonic()
            self.datagrams += 1
            if self._heartbeat in data:
                self._health(now, data)
            elif data.find(self._batch, 0, 40) >= 0:
                self._batch_bundle(now, data)
            elif self._event in data:
                for _, args in self._decoded(data):
                    if len(args) > 1:
                        with self._lock:
                            self.events.setdefault(str(args[0]), []).append(str(args[1]))

    def _health(self, now: float, data: bytes) -> None:
        with self._lock:
            self.beats.append(now)
            for address, args in self._decoded(data):
                if address == self._message and args and (not self.messages or self.messages[-1] != args[0]):
                    self.messages.append(str(args[0]))

    def _batch_bundle(self, now: float, data: bytes) -> None:
        start = data.find(self._batch) + len(self._batch)
        slot_text = data[start : data.find(b"/", start)]
        if not slot_text.isdigit() or int(slot_text) not in self._tracked:
            return
        batch_id = self._tracked[int(slot_text)]
        for address, args in self._decoded(data):
            if address.endswith("/poll_age") and args:
                with self._lock:
                    self.ages.append((now, batch_id, float(args[0])))

    @staticmethod
    def _decoded(data: bytes) -> list[tuple[str, list[Any]]]:
        try:
            return decode(data)
        except ValueError:
            return []

    def close(self) -> None:
        self._open = False
        self._thread.join(2)
        self._socket.close()

    def ids(self, kind: str) -> list[str]:
        with self._lock:
            return list(self.events.get(kind, []))

    def longest_gap(self, start: float, end: float) -> float:
        """The longest time without a heartbeat between ``start`` and ``end`` (monotonic)."""
        with self._lock:
            inside = [start, *(t for t in self.beats if start < t < end), end]
        return max(b - a for a, b in itertools.pairwise(inside))

    def beats_between(self, start: float, end: float) -> int:
        with self._lock:
            return sum(1 for t in self.beats if start <= t <= end)

    def oldest_poll(self, start: float, end: float) -> float | None:
        """How old, at worst, the figures a receiver held for a tracked batch were between
        ``start`` and ``end``: at each moment, the ``poll_age`` of the batch's latest bundle
        plus the time since it arrived (so a batch not polled, and one whose bundles are held
        up on the way, both count). None when no bundle of a tracked batch arrived before ``end``."""
        with self._lock:
            ages = [(t, batch_id, age) for t, batch_id, age in self.ages if t <= end and age >= 0]
        latest: dict[str, tuple[float, float]] = {}
        oldest: float | None = None
        for t, batch_id, age in ages:
            if t > start and batch_id in latest:
                seen, held = latest[batch_id]
                oldest = max(oldest or 0.0, held + t - seen)
            latest[batch_id] = (t, age)
        for seen, held in latest.values():
            oldest = max(oldest or 0.0, held + end - seen)
        return oldest
