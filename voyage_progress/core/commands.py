"""What receivers may ask of the sidecar: commands, from any output that listens."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = ["Command", "CommandHandler", "CommandKind"]


class CommandKind(enum.StrEnum):
    WATCH = "watch"
    UNWATCH = "unwatch"
    REFRESH = "refresh"
    CANCEL = "cancel"
    SHUTDOWN = "shutdown"


@dataclass(frozen=True)
class Command:
    """One accepted command. ``batch_id`` for watch, unwatch and cancel; ``label`` only with watch;
    ``peer`` is who sent it (host, port)."""

    kind: CommandKind
    batch_id: str | None
    label: str | None
    peer: tuple[str, int]

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", CommandKind(self.kind))


#: How an output hands a command to the sidecar: obeyed at once, or with the rest of its work
#: returned to await (a cancel waits for the API).
CommandHandler = Callable[[Command], Awaitable[None] | None]
