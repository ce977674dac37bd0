"""The OSC output: each frame as bundles to every destination, and commands from the control port.

Per frame: the health on a heartbeat, ahead of everything waiting (a full state of ten
thousand batches takes seconds to send, and a receiver must not take that for a dead sidecar);
then the news, in order: a batch's state (built with the summary when it leaves, and only its
latest: what waits is bounded by what is watched), an event as it is; and on a full-state frame
every batch, one pass at a time (asked for while one is on its way, the next starts once it has
left), so that a receiver that starts late catches up. A frame's receipt is signed once all it
queued has left.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Protocol

from ...core.commands import CommandHandler
from ...core.frame import BatchSnapshot, Event, EventKind, Frame
from ...core.peers import host_port
from ._codec import Message
from ._control import ControlServer
from ._messages import batch_messages, event_message, health_messages, summary_messages
from ._outbox import Outbox
from ._sender import Destination, OscSender

__all__ = ["OscOutput", "OscSettings"]


class OscSettings(Protocol):
    """What the OSC output reads of the sidecar's configuration."""

    @property
    def destinations(self) -> Sequence[Destination]: ...
    @property
    def prefix(self) -> str: ...
    @property
    def multicast_ttl(self) -> int: ...
    @property
    def control_host(self) -> str: ...
    @property
    def control_port(self) -> int | None: ...
    @property
    def allowed_peers(self) -> Sequence[str]: ...
    @property
    def allow_cancel(self) -> bool: ...


class OscOutput:
    def __init__(self, settings: OscSettings) -> None:
        self.settings = settings
        self.prefix = settings.prefix
        self.sender = OscSender(settings.destinations, multicast_ttl=settings.multicast_ttl)
        self.outbox = Outbox(self.sender)
        self.control: ControlServer | None = None
        self._frame: Frame | None = None
        self._summary: list[Message] = []
        self._full_state_sending = False
        self._full_state_wanted = False

    @property
    def endpoints(self) -> tuple[str, ...]:
        sending = "OSC → " + ", ".join(map(str, self.settings.destinations))
        if self.control is None:
            return (sending,)
        return sending, f"control {host_port(self.control.host, self.control.port)}"

    async def start(self, commands: CommandHandler) -> None:
        """Open the sockets: a bad host or a control port in use raises here."""
        await self.sender.start()
        settings = self.settings
        if settings.control_port is None:
            return
        self.control = ControlServer(
            commands,
            prefix=self.prefix,
            host=settings.control_host,
            port=settings.control_port,
            allowed_peers=settings.allowed_peers,
            allow_cancel=settings.allow_cancel,
        )
        try:
            await self.control.start()
        except BaseException:
            self.control = None
            await self.sender.aclose()
            raise

    def publish(self, frame: Frame) -> None:
        outbox = self.outbox
        self._frame = frame
        if frame.full or any(not isinstance(item, Event) for item in frame.news):
            self._summary = summary_messages(self.prefix, frame.summary)
        if frame.beat:
            health = health_messages(self.prefix, frame.health)
            if frame.health.running:
                outbox.put_urgent(health)
            else:  # the last word: after every batch's state
                outbox.put(health)
        for item in frame.news:
            if not isinstance(item, Event):
                outbox.put_state(item.batch_id, functools.partial(self._bundle, item))
                continue
            if item.kind is EventKind.UNWATCH and item.batch is not None:
                outbox.seal(item.batch.batch_id)  # its last state leaves ahead of the event, as it is
            outbox.put([event_message(self.prefix, item)])
        if frame.full:
            self._send_full_state()
        if frame.receipt is not None:
            outbox.when_sent(frame.receipt.hold())
        outbox.send_now()

    def _send_full_state(self) -> None:
        if self._full_state_sending:
            self._full_state_wanted = True
            return
        self._full_state_sending, self._full_state_wanted = True, False
        for batch in self._frame.batches if self._frame is not None else ():
            self.outbox.put_state(batch.batch_id, functools.partial(self._bundle, batch))
        self.outbox.when_sent(self._full_state_sent)

    def _full_state_sent(self) -> None:
        self._full_state_sending = False
        if self._full_state_wanted:
            self._send_full_state()

    def _bundle(self, batch: BatchSnapshot) -> list[Message]:
        """A batch's bundle as it leaves: its state, and the latest summary."""
        at = self._frame.at if self._frame is not None else 0.0
        age = None if batch.read_at is None else max(0.0, at - batch.read_at)
        return batch_messages(self.prefix, batch, age) + self._summary

    async def aclose(self) -> None:
        """Stop listening, let every queued bundle out, close the sockets."""
        if self.control is not None:
            await self.control.aclose()
        await self.outbox.drain()
        await self.sender.aclose()
