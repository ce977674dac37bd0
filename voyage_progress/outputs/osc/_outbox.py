"""Paced sending: the sidecar's datagrams go out in small bursts, in order.

A full state of a hundred batches is a hundred bundles. Sent in one go they overflow a
receiver's socket buffer: TouchDesigner reads its OSC In DAT once a frame, and a Linux socket
holds a few dozen such datagrams, so the last batches would never arrive. A few datagrams
every couple of milliseconds reach a receiver that reads at 60 fps without loss, and still
send a hundred batches in a few tens of milliseconds.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable

from ._codec import Message, encode_bundle
from ._sender import OscSender

__all__ = ["Outbox"]


class Outbox:
    def __init__(self, sender: OscSender, burst: int = 8, pause: float = 0.002) -> None:
        self.sender = sender
        self.burst = burst
        self.pause = pause
        self._queue: collections.deque[tuple[bytes, Callable[[], None] | None]] = collections.deque()
        self._flusher: asyncio.Task[None] | None = None
        self.sent = 0

    def put(self, messages: list[Message], sent: Callable[[], None] | None = None) -> None:
        """Queue one bundle; it leaves after everything queued before it, and then ``sent`` is
        called (to record what can only be recorded once it is on the wire)."""
        self._queue.append((encode_bundle(messages), sent))
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
