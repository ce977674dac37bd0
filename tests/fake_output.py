"""An output as small as one can be: it keeps every frame, and lets each frame out a little
after it was given, as a network would.

With its line in ``OUTPUTS`` (a test adds it), ``SidecarConfig(outputs=("fake",))`` makes the
sidecar publish to it: the proof that a new output is a module and a line.
"""

from __future__ import annotations

import asyncio
from typing import Any

from voyage_progress.core.commands import CommandHandler
from voyage_progress.core.frame import Frame

#: Seconds a frame takes to be out.
LATENCY = 0.01


class FakeOutput:
    def __init__(self, config: Any) -> None:
        self.config = config
        self.frames: list[Frame] = []
        self.commands: CommandHandler | None = None
        self.closed = False

    @property
    def endpoints(self) -> tuple[str, ...]:
        return ("fake → memory",)

    async def start(self, commands: CommandHandler) -> None:
        self.commands = commands

    def publish(self, frame: Frame) -> None:
        self.frames.append(frame)
        if frame.receipt is not None:
            asyncio.get_running_loop().call_later(LATENCY, frame.receipt.hold())

    async def aclose(self) -> None:
        self.closed = True
