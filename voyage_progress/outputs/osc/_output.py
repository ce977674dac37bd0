"""The OSC output: each frame as bundles to every destination, and commands from the control port.

Per frame, in this order: the health on a heartbeat, then the news (a bundle per changed batch,
with the summary in it; a message per event), then on a full-state frame every batch, so that
a receiver that starts late catches up. Bundles leave through the outbox, paced; a frame's
receipt is signed once its last bundle is on the wire.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ...core.commands import CommandHandler
from ...core.frame import Event, Frame
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
        bundles = self._bundles(frame)
        sent = frame.receipt.hold() if frame.receipt is not None and bundles else None
        for number, bundle in enumerate(bundles, start=1):
            self.outbox.put(bundle, sent if number == len(bundles) else None)

    def _bundles(self, frame: Frame) -> list[list[Message]]:
        prefix = self.prefix
        bundles = [health_messages(prefix, frame.health)] if frame.beat else []
        summary = summary_messages(prefix, frame.summary)
        for item in frame.news:
            if isinstance(item, Event):
                bundles.append([event_message(prefix, item)])
            else:
                bundles.append(batch_messages(prefix, item, _age(frame, item.read_at)) + summary)
        if frame.full:
            bundles += [batch_messages(prefix, b, _age(frame, b.read_at)) + summary for b in frame.batches]
        return bundles

    async def aclose(self) -> None:
        """Stop listening, let every queued bundle out, close the sockets."""
        if self.control is not None:
            await self.control.aclose()
        await self.outbox.drain()
        await self.sender.aclose()


def _age(frame: Frame, read_at: float | None) -> float | None:
    return None if read_at is None else max(0.0, frame.at - read_at)
