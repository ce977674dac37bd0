"""Where the sidecar's state goes: OSC and the terminal today.

An output is one module with a class that has the calls of :class:`Output`; one line in
``OUTPUTS`` makes it known by name (``SidecarConfig.outputs``). Outputs know the frame and the
commands of ``voyage_progress.core`` and nothing of the watcher or of providers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from ..core.commands import CommandHandler
from ..core.frame import Frame
from ..core.registry import load

__all__ = ["OUTPUTS", "Output", "open_output"]


class Output(Protocol):
    """One destination of the sidecar's frames.

    ``start`` opens what the output needs (a problem there is the user's to fix, and stops the
    sidecar before anything is sent); ``commands`` is where it hands what its receivers ask for.
    ``publish`` is called once per frame and never blocks: an output that sends later takes a
    hold on ``frame.receipt`` (when there is one) and releases it once the frame has left, so
    that a batch's end counts as said only once it is out. ``aclose`` lets out what is queued,
    then closes. ``endpoints`` says where it sends or listens, for a person (after ``start``).
    """

    @property
    def endpoints(self) -> Sequence[str]: ...

    async def start(self, commands: CommandHandler) -> None: ...

    def publish(self, frame: Frame) -> None: ...

    async def aclose(self) -> None: ...


#: Output name: ``module:class``, called with the sidecar's configuration (each output reads
#: the fields it needs).
OUTPUTS: dict[str, str] = {
    "osc": "voyage_progress.outputs.osc:OscOutput",
}


def open_output(name: str, config: Any) -> Output:
    """The output registered as ``name``, made from the sidecar's ``config``."""
    output: Output = load(OUTPUTS, name, "output")(config)
    return output
