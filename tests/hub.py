"""A sidecar with its HTTP server on a free loopback port, against a real simulator; and clients
that read it the way other tools do (httpx for HTTP, ``websockets`` for WebSocket, python-osc
to parse the binary OSC frames): none of them share code with the server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import FAST_RETRIES
from voyage_progress import AnthropicBatchClient, OpenAIBatchClient, VoyageBatchClient
from voyage_progress.outputs._http import HttpServer
from voyage_progress.outputs.osc._sender import Destination
from voyage_progress.outputs.oscquery import OscQueryOutput
from voyage_progress.outputs.web import WebOutput
from voyage_progress.sidecar import Sidecar, SidecarConfig
from voyage_progress.simulator import Simulator
from voyage_progress.watcher import Intervals

PREFIX = "/voyage"
HUB_OUTPUTS = ("osc", "oscquery", "web")
_CLIENTS = {"voyage": VoyageBatchClient, "openai": OpenAIBatchClient, "anthropic": AnthropicBatchClient}


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def hub_config(**kwargs: Any) -> SidecarConfig:
    settings: dict[str, Any] = {
        "destinations": [Destination("127.0.0.1", free_udp_port())],
        "control_port": None,
        "outputs": HUB_OUTPUTS,
        "http_port": 0,
        "intervals": Intervals(poll=0.05, minimum=0.02, maximum=0.5),
        "heartbeat_interval": 0.1,
        "full_state_interval": 0.5,
        **kwargs,
    }
    return SidecarConfig(**settings)


@dataclass
class Hub:
    sidecar: Sidecar

    def output(self, kind: type[Any]) -> Any:
        return next(output for output in self.sidecar.outputs if isinstance(output, kind))

    @property
    def http(self) -> HttpServer:
        server: HttpServer = self.output(HttpServer)
        return server

    @property
    def oscquery(self) -> OscQueryOutput:
        output: OscQueryOutput = self.output(OscQueryOutput)
        return output

    @property
    def web(self) -> WebOutput:
        output: WebOutput = self.output(WebOutput)
        return output

    @property
    def url(self) -> str:
        return self.http.url

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://")


@contextlib.asynccontextmanager
async def running_hub(
    sim: Simulator, *, beside: Mapping[str, Simulator] | None = None, **kwargs: Any
) -> AsyncIterator[Hub]:
    """A hub following ``sim`` (Voyage's dialect) and, with ``beside``, the simulators of other
    providers' dialects by provider name: one sidecar for all of them."""
    async with contextlib.AsyncExitStack() as clients:
        sims = {"voyage": sim, **(beside or {})}
        providers = {
            name: await clients.enter_async_context(
                _CLIENTS[name](api_key="k", base_url=each.base_url, retry_policy=FAST_RETRIES)
            )
            for name, each in sims.items()
        }
        sidecar = Sidecar(hub_config(**kwargs), providers)
        stop = asyncio.Event()
        task = asyncio.create_task(sidecar.run(stop))
        started = asyncio.ensure_future(sidecar.started.wait())
        await asyncio.wait([task, started], return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()
        try:
            yield Hub(sidecar)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@dataclass
class Listener:
    """An OSCQuery WebSocket client: JSON commands out; binary frames parsed with python-osc."""

    connection: ClientConnection
    values: dict[str, list[Any]] = field(default_factory=dict)
    frames: list[tuple[str, list[Any]]] = field(default_factory=list)
    commands: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, command: str, data: str) -> None:
        await self.connection.send(json.dumps({"COMMAND": command, "DATA": data}))

    async def read(self, until_true: Callable[[Listener], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not until_true(self):
                self.take(await self.connection.recv())

    def take(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            packet = list(OscBundle(message)) if OscBundle.dgram_is_bundle(message) else [OscMessage(message)]
            for parsed in packet:
                self.frames.append((parsed.address, list(parsed.params)))
                self.values[parsed.address] = list(parsed.params)
        else:
            self.commands.append(json.loads(message))


@contextlib.asynccontextmanager
async def listening(hub: Hub, *paths: str) -> AsyncIterator[Listener]:
    async with connect(hub.ws_url + "/") as connection:
        listener = Listener(connection)
        for path in paths:
            await listener.send("LISTEN", path)
        yield listener


async def read_json(connection: ClientConnection, until_true: Callable[[dict[str, Any]], bool]) -> list[Any]:
    """JSON messages from the stream up to and including the first for which ``until_true``."""
    seen: list[Any] = []
    async with asyncio.timeout(5):
        while True:
            message = json.loads(await connection.recv())
            seen.append(message)
            if until_true(message):
                return seen
