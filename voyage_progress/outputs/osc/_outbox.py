"""Paced sending: the sidecar's datagrams go out in small bursts, in order.

A full state of a hundred batches is a hundred bundles. Sent in one go they overflow a
receiver's socket buffer: TouchDesigner reads its OSC In DAT once a frame, and a Linux socket
holds a few dozen such datagrams, so the last batches would never arrive. A few datagrams
every couple of milliseconds reach a receiver that reads at 60 fps without loss, and still
send a hundred batches in a few tens of milliseconds.

No datagram is bigger than ``MAX_DATAGRAM`` when it can be helped: the strings of a batch are
cut short before they get here, and a bundle that is still too big (a very long address
prefix) is sent as several bundles, each within the limit, rather than as one that fails to
send ("Message too long") or that a receiver cannot take whole.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable, Sequence

from ..._defaults import MAX_DATAGRAM
from ._codec import Message, encode_bundle, encode_message
from ._sender import OscSender

__all__ = ["Outbox", "datagrams"]

logger = logging.getLogger("voyage_progress.osc")

#: A bundle's ``#bundle`` tag and timetag, and the size before each of its elements.
_BUNDLE_HEAD = 16
_ELEMENT_SIZE = 4


class Outbox:
    def __init__(self, sender: OscSender, burst: int = 8, pause: float = 0.002) -> None:
        self.sender = sender
        self.burst = burst
        self.pause = pause
        self._queue: collections.deque[tuple[bytes, Callable[[], None] | None]] = collections.deque()
        self._flusher: asyncio.Task[None] | None = None
        self.sent = 0
        self.split = 0

    def put(self, messages: list[Message], sent: Callable[[], None] | None = None) -> None:
        """Queue one bundle; it leaves after everything queued before it, and then ``sent`` is
        called (to record what can only be recorded once it is on the wire)."""
        parts = datagrams(messages)
        if len(parts) > 1:
            self.split += 1
            if self.split == 1:
                logger.warning(
                    "an OSC bundle over %d bytes went out as %d bundles (further ones are not logged)",
                    MAX_DATAGRAM,
                    len(parts),
                )
        self._queue.extend((part, None) for part in parts[:-1])
        self._queue.append((parts[-1], sent))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush(), name="osc-outbox")

    async def _flush(self) -> None:
        queue = self._queue
        while queue:
            for _ in range(min(self.burst, len(queue))):
                datagram, sent = queue.popleft()
                self.sender.send_datagram(datagram)
                self.sent += 1
                if sent is not None:
                    sent()
            if queue:
                await asyncio.sleep(self.pause)

    async def drain(self) -> None:
        """Wait until everything queued has been sent."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)

    def __len__(self) -> int:
        return len(self._queue)


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
