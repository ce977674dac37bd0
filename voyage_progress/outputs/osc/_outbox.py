"""Paced sending: the sidecar's datagrams go out in small bursts, in order.

A full state of a hundred batches is a hundred bundles. Sent in one go they overflow a
receiver's socket buffer: TouchDesigner reads its OSC In DAT once a frame, and a Linux socket
holds a few dozen such datagrams, so the last batches would never arrive. A few datagrams
every couple of milliseconds reach a receiver that reads at 60 fps without loss, and still
send a hundred batches in a few tens of milliseconds.

The pace is a rate (``burst`` datagrams per ``pause`` seconds), kept by the clock, not by turns
of the event loop: ``asyncio.sleep(pause)`` returns when the loop next gets to it, which on a
loop busy with twenty WebSocket clients is tens of milliseconds later, and a fixed burst per
wake-up then made the OSC datagrams the slowest of the sidecar's outputs (a hundred batches took
half a second). A late wake-up sends what the rate allowed meanwhile, up to ``catch_up``
datagrams at once: a receiver reading once a frame sees at most that many more in a frame than
the rate gives it. The OSC output sends what the pace allows the moment it has a frame
(``send_now``), before the sidecar's other outputs and their WebSocket clients take the loop:
OSC is the show.

What waits is bounded by what is watched, however fast changes come: a batch's state is only
worth its latest value, so it waits at most once (``put_state``: a newer state takes the place
of the one waiting, and is built only when it leaves). One-shot bundles (events) are never
merged or dropped. The heartbeat goes ahead of everything (``put_urgent``): a full state of ten
thousand batches takes seconds to send, and a receiver must not take that for a dead sidecar.

No datagram is bigger than ``MAX_DATAGRAM`` when it can be helped: the strings of a batch are
cut short before they get here, and a bundle that is still too big (a very long address
prefix) is sent as several bundles, each within the limit, rather than as one that fails to
send ("Message too long") or that a receiver cannot take whole.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..._defaults import MAX_DATAGRAM
from ._codec import Message, encode_bundle, encode_message
from ._sender import OscSender

__all__ = ["Outbox", "datagrams"]

logger = logging.getLogger("voyage_progress.sidecar")

#: A bundle's ``#bundle`` tag and timetag, and the size before each of its elements.
_BUNDLE_HEAD = 16
_ELEMENT_SIZE = 4

Build = Callable[[], list[Message]]
Callback = Callable[[], None]


@dataclass
class _Once:
    """A bundle sent as it is (or, with no datagram, a callback run when its turn comes)."""

    datagram: bytes | None
    sent: Callback | None


@dataclass
class _State:
    key: str
    build: Build


class Outbox:
    def __init__(self, sender: OscSender, burst: int = 8, pause: float = 0.002, catch_up: int = 32) -> None:
        self.sender = sender
        self.burst = burst
        self.pause = pause
        self.catch_up = catch_up
        self._allowed = float(max(catch_up, burst))
        self._since = time.monotonic()
        self._queue: collections.deque[_Once | _State] = collections.deque()
        self._states: dict[str, _State] = {}
        self._urgent: bytes | None = None
        self._flusher: asyncio.Task[None] | None = None
        self.sent = 0
        self.split = 0

    def put(self, messages: list[Message], sent: Callback | None = None) -> None:
        """Queue one bundle; it leaves after everything queued before it, and then ``sent`` is
        called (to record what can only be recorded once it is on the wire)."""
        parts = self._datagrams(messages)
        self._queue.extend(_Once(part, None) for part in parts[:-1])
        self._queue.append(_Once(parts[-1], sent))
        self._start()

    def put_state(self, key: str, build: Build) -> None:
        """Queue the state of ``key`` (a batch), built by ``build`` when it leaves. While one is
        waiting, a newer one takes its place in the line instead of queueing behind it."""
        waiting = self._states.get(key)
        if waiting is not None:
            waiting.build = build
            return
        state = self._states[key] = _State(key, build)
        self._queue.append(state)
        self._start()

    def seal(self, key: str) -> None:
        """Leave the state of ``key`` that is waiting as it is: a later one queues behind what
        is queued now (a batch unwatched, then watched again, is another batch to a receiver)."""
        self._states.pop(key, None)

    def put_urgent(self, messages: list[Message]) -> None:
        """Send this bundle ahead of the line, in the next burst; a newer one replaces it."""
        self._urgent = encode_bundle(messages)
        self._start()

    def when_sent(self, callback: Callback) -> None:
        """Call ``callback`` once everything queued so far has left."""
        self._queue.append(_Once(None, callback))
        self._start()

    @property
    def states_waiting(self) -> int:
        return len(self._states)

    def send_now(self) -> None:
        """Send at once what the pace allows, and leave the rest to follow paced: called at the
        end of a frame, so that its datagrams leave before the sidecar's other outputs (and
        their WebSocket clients) take the loop."""
        self._send_allowed()
        if self:
            self._start()

    def _start(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush(), name="osc-outbox")

    async def _flush(self) -> None:
        while True:
            self._send_allowed()
            if not self:
                return
            await asyncio.sleep(self.pause)

    def _send_allowed(self) -> None:
        """Send, heartbeat first, as many datagrams as the pace has allowed since the last time
        (at most ``catch_up`` after a long wait)."""
        now = time.monotonic()
        most = max(self.catch_up, self.burst)
        self._allowed = min(most, self._allowed + (now - self._since) * self.burst / self.pause)
        self._since = now
        if self._urgent is not None and self._allowed >= 1:
            urgent, self._urgent = self._urgent, None
            self._send(urgent)
            self._allowed -= 1
        queue = self._queue
        while queue and self._allowed >= 1:
            self._send_next(queue.popleft())
            self._allowed -= 1

    def _send_next(self, entry: _Once | _State) -> None:
        if isinstance(entry, _State):
            if self._states.get(entry.key) is entry:
                del self._states[entry.key]
            try:
                parts = self._datagrams(entry.build())
            except Exception:  # one batch's bad state must not stop the others' bundles
                logger.exception("cannot build the bundle of %s", entry.key)
                return
            for datagram in parts:
                self._send(datagram)
            return
        if entry.datagram is not None:
            self._send(entry.datagram)
        if entry.sent is not None:
            entry.sent()

    def _datagrams(self, messages: Sequence[Message]) -> list[bytes]:
        parts = datagrams(messages)
        if len(parts) > 1:
            self.split += 1
            if self.split == 1:
                logger.warning(
                    "an OSC bundle over %d bytes went out as %d bundles (further ones are not logged)",
                    MAX_DATAGRAM,
                    len(parts),
                )
        return parts

    def _send(self, datagram: bytes) -> None:
        self.sender.send_datagram(datagram)
        self.sent += 1

    async def drain(self) -> None:
        """Wait until everything queued has been sent."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)

    def __len__(self) -> int:
        return len(self._queue) + (self._urgent is not None)


def datagrams(messages: Sequence[Message], limit: int = MAX_DATAGRAM) -> list[bytes]:
    """The bundle of ``messages``; or, when it would be bigger than ``limit`` bytes, as few
    bundles as hold them in order within it (a message too big for any bundle goes alone)."""
    whole = encode_bundle(messages)
    if len(whole) <= limit:
        return [whole]
    parts: list[bytes] = []
    group: list[Message] = []
    size = _BUNDLE_HEAD
    for message in messages:
        cost = _ELEMENT_SIZE + len(encode_message(*message))
        if group and size + cost > limit:
            parts.append(encode_bundle(group))
            group, size = [], _BUNDLE_HEAD
        group.append(message)
        size += cost
    parts.append(encode_bundle(group))
    return parts
