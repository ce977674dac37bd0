"""What the providers' reference servers share: scripted batches that move one step at each read,
and serving a Starlette app on loopback for the length of a block.

The servers themselves (``openai_reference``, ``anthropic_reference``) are written from each
provider's public API reference for these tests alone: they share no code with the project's
simulator, so that the providers' clients are checked against an independent reading of the
APIs, not against the project's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.types import ASGIApp


@dataclass
class Scripted:
    """A batch whose state is the next of ``steps`` at each read (the last one for good), and
    the Unix second each step was first shown at."""

    id: str
    steps: list[dict[str, Any]]
    created_at: int = field(default_factory=lambda: int(time.time()) - 60)
    reads: int = 0
    reached: dict[int, int] = field(default_factory=dict)

    def read(self) -> dict[str, Any]:
        """The state this read shows, moving the script on."""
        step = min(self.reads, len(self.steps) - 1)
        self.reads += 1
        self.reached.setdefault(step, int(time.time()))
        return self.steps[step]

    def current(self) -> dict[str, Any]:
        return self.steps[min(max(self.reads - 1, 0), len(self.steps) - 1)]

    def first_at(self, **state: Any) -> int | None:
        """When the first step with ``state`` was shown (None: not yet)."""
        for index, step in enumerate(self.steps):
            if all(step.get(k) == v for k, v in state.items()) and index in self.reached:
                return self.reached[index]
        return None


class _Quiet(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the test runner keeps Ctrl+C
        yield


@contextlib.asynccontextmanager
async def serve(app: ASGIApp) -> AsyncIterator[str]:
    """``app`` on a free loopback port; yields its address (``http://127.0.0.1:PORT``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = _Quiet(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.005)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()
