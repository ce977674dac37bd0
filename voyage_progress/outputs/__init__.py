"""Where the sidecar's state goes: OSC, the terminal, OSCQuery, and a WebSocket JSON stream with
a web dashboard (the last two on one HTTP server).

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

__all__ = ["OUTPUTS", "Output", "open_output", "open_outputs"]


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
    "oscquery": "voyage_progress.outputs.oscquery:OscQueryOutput",
    "web": "voyage_progress.outputs.web:WebOutput",
}


def open_output(name: str, config: Any) -> Output:
    """The output registered as ``name``, made from the sidecar's ``config``."""
    output: Output = load(OUTPUTS, name, "output")(config)
    return output


def open_outputs(names: Sequence[str], config: Any) -> list[Output]:
    """The outputs registered as ``names``; if any of them answers over HTTP (``routes``), the
    one HTTP server they share comes last, so that it starts once they have started and closes
    once they have closed."""
    outputs = [open_output(name, config) for name in names]
    served = [output for output in outputs if hasattr(output, "routes")]
    if served and getattr(config, "http_port", None) is not None:
        from ._http import HttpServer

        outputs.append(HttpServer(config, served))  # type: ignore[arg-type]
    return outputs
