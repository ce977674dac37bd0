"""The sidecar's one HTTP server: Starlette on uvicorn, shared by the outputs that answer over
HTTP and WebSocket (OSCQuery, the JSON stream and the dashboard).

Each such output is :class:`Served`: it lends its routes, and is told once the server listens.
The server is an output of its own, started after them (``open_outputs``) and closed after them.

Whoever reaches it can read the watch list and, through OSCQuery, send control commands. So it
listens on loopback unless told otherwise, listening anywhere else needs allowed peers (the rule
of ``core.peers``, shared with the control input and the simulator), and in front of every route:

- a peer that is not allowed gets 403 (HTTP) or a refused handshake (WebSocket);
- a WebSocket handshake from a web page of another site (an ``Origin`` that is not this server)
  is refused: a page the show machine's browser happens to open must not drive the sidecar;
- on loopback, a ``Host`` that is not a loopback name or address is refused (DNS rebinding).

WebSocket clients each get a bounded queue (:class:`Outgoing`): a client that reads slowly loses
messages, counted, and never slows the sidecar or the other clients.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import logging
import socket
from collections.abc import Iterator, Sequence
from typing import Protocol
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from ..core.commands import CommandHandler
from ..core.frame import Frame
from ..core.peers import (
    IPAddress,
    PeerPolicyError,
    host_port,
    is_loopback,
    parse_allowed_peers,
    peer_allowed,
)

__all__ = [
    "FULL_STATE_GAP",
    "HttpPortInUse",
    "HttpServer",
    "HttpSettings",
    "Outgoing",
    "Served",
    "close_websocket",
    "json_error",
    "serve_websocket",
]

logger = logging.getLogger("voyage_progress.http")

#: The largest WebSocket message a client may send: commands are a few hundred bytes.
MAX_MESSAGE = 64 * 1024
#: The least seconds between two full states the WebSocket outputs take in: a full-state frame
#: comes every 2 s, but also with every refresh command, and a storm of those must not have the
#: whole state of thousands of batches built and sent a thousand times a second.
FULL_STATE_GAP = 1.0
#: Connections (HTTP and WebSocket) served at once; beyond, uvicorn answers 503.
MAX_CONNECTIONS = 256
_CLOSE_TIMEOUT = 1.0
_ADDRESS_IN_USE = {errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", errno.EADDRINUSE)}
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


class HttpPortInUse(OSError):
    """Another program holds the HTTP port."""


class HttpSettings(Protocol):
    """What the HTTP server reads of the sidecar's configuration."""

    @property
    def http_host(self) -> str: ...
    @property
    def http_port(self) -> int | None: ...
    @property
    def http_optional(self) -> bool: ...
    @property
    def allowed_peers(self) -> Sequence[str]: ...


class Served(Protocol):
    """An output that answers on the sidecar's HTTP server."""

    @property
    def routes(self) -> Sequence[BaseRoute]: ...

    async def serving(self, server: HttpServer) -> None:
        """The server listens (``server.host``, ``server.port``); called after ``start``."""


def json_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status)


class HttpServer:
    """One uvicorn server for every :class:`Served` output; an output itself (it publishes
    nothing)."""

    def __init__(self, settings: HttpSettings, served: Sequence[Served]) -> None:
        self.settings = settings
        self.served = list(served)
        self.host = settings.http_host
        self.port = settings.http_port or 0
        self._allowed = parse_allowed_peers(settings.allowed_peers)
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None

    @property
    def listening(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        return f"http://{host_port(self.host, self.port)}"

    @property
    def beyond_loopback(self) -> bool:
        """Listening on an address other machines can reach."""
        return not is_loopback(self.host)

    @property
    def endpoints(self) -> tuple[str, ...]:
        return (f"HTTP {self.url}/ui",) if self.listening else ()

    async def start(self, commands: CommandHandler) -> None:
        """Listen, then tell every served output; a port in use is the user's to fix unless it
        is the default one (``http_optional``): then say so and go on without HTTP."""
        try:
            sock = _bind(self.host, self.port)
        except HttpPortInUse as exc:
            if not self.settings.http_optional:
                raise
            logger.warning("%s; running without it (pick another port with --http HOST:PORT)", exc)
            return
        if not self._allowed and not is_loopback(sock.getsockname()[0]):
            sock.close()
            raise PeerPolicyError(f"serving HTTP on {self.host} needs at least one --allow-peer address")
        self._socket = sock
        self.host, self.port = sock.getsockname()[:2]
        await self._serve(sock)
        for output in self.served:
            await output.serving(self)

    async def _serve(self, sock: socket.socket) -> None:
        routes = [route for output in self.served for route in output.routes]
        # routes that take any path last: OSCQuery answers every path that is not another's
        routes.sort(key=lambda route: ":path}" in getattr(route, "path", ""))
        app = _Guard(Starlette(routes=routes), self._allowed, loopback=not self.beyond_loopback)
        config = uvicorn.Config(
            app,
            ws="wsproto",  # pure Python, as the .pyz needs
            ws_max_size=MAX_MESSAGE,
            # Compressing each message for each client was the sidecar's largest cost with twenty
            # clients (a zlib context per connection, the same small JSON compressed twenty
            # times); on loopback and a show's network the bytes do not matter.
            ws_per_message_deflate=False,
            ws_ping_interval=20.0,
            ws_ping_timeout=20.0,
            limit_concurrency=MAX_CONNECTIONS,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = server = _EmbeddedServer(config)
        self._task = task = asyncio.create_task(server.serve(sockets=[sock]), name="voyage-http")
        while not server.started:
            if task.done():
                task.result()
                raise OSError(f"the HTTP server on {host_port(self.host, self.port)} stopped while starting")
            await asyncio.sleep(0.005)

    def publish(self, frame: Frame) -> None:
        pass

    async def aclose(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._server = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: Ctrl+C belongs to the sidecar."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if hasattr(socket, "SO_EXCLUSIVEADDRUSE"):  # Windows: refuse a port another program holds
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
        else:  # a restarted sidecar may listen while the old connections linger in TIME_WAIT
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        where = host_port(host, port)
        error = (
            HttpPortInUse(f"HTTP port {where} is in use")
            if exc.errno in _ADDRESS_IN_USE
            else OSError(f"cannot listen for HTTP on {where}: {exc.strerror or exc}")
        )
        error.errno = exc.errno
        raise error from None
    sock.setblocking(False)
    return sock


class _Guard:
    """In front of every route: the peer, then (WebSocket) the origin, then (loopback) the host."""

    def __init__(self, app: ASGIApp, allowed: frozenset[IPAddress], *, loopback: bool) -> None:
        self.app = app
        self.allowed = allowed
        self.loopback = loopback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await WebSocket(scope, receive, send).close(code=1008, reason=refusal)
        else:
            await json_error(403, refusal)(scope, receive, send)

    def _refusal(self, scope: Scope) -> str | None:
        client = scope.get("client")
        if client is None or not peer_allowed(str(client[0]), self.allowed):
            return "this address may not connect (see --allow-peer)"
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
        host = headers.get("host", "")
        if self.loopback and _hostname(host) not in _LOOPBACK_NAMES and not is_loopback(_hostname(host)):
            return "unexpected Host header"
        origin = headers.get("origin")
        if scope["type"] == "websocket" and origin is not None and urlsplit(origin).netloc != host:
            return "WebSocket connections from other sites' pages are refused"
        return None


def _hostname(host: str) -> str:
    """``127.0.0.1:7452`` → ``127.0.0.1``; ``[::1]:7452`` → ``::1``."""
    return (urlsplit(f"//{host}").hostname or "").lower()


class Outgoing:
    """What waits to be sent to one WebSocket client: at most ``limit`` messages.

    A full queue drops the new message and counts it (``dropped``); ``overflowed`` tells the
    output to send the full state next, so that the client catches up instead of drifting.
    """

    def __init__(self, websocket: WebSocket, limit: int) -> None:
        self.websocket = websocket
        self.limit = limit
        self.dropped = 0
        self.overflowed = False
        self._queue: collections.deque[str | bytes] = collections.deque()
        self._ready = asyncio.Event()

    def put(self, message: str | bytes) -> bool:
        if len(self._queue) >= self.limit:
            self.dropped += 1
            self.overflowed = True
            return False
        self._queue.append(message)
        self._ready.set()
        return True

    def __len__(self) -> int:
        return len(self._queue)

    async def run(self) -> None:
        """Send until the connection fails or the task is cancelled.

        One message per turn of the event loop: a send to a client that keeps up never waits,
        so without a turn between messages one client's whole queue would go out in one step,
        and every client's one after the other, while the OSC outbox's next burst waits behind
        them all. A turn each lets the clients share the loop, with OSC between them.
        """
        websocket, queue = self.websocket, self._queue
        while True:
            await self._ready.wait()
            self._ready.clear()
            while queue:
                message = queue.popleft()
                if isinstance(message, bytes):
                    await websocket.send_bytes(message)
                else:
                    await websocket.send_text(message)
                await asyncio.sleep(0)


async def serve_websocket(websocket: WebSocket, outgoing: Outgoing, receive: ReceiveLoop) -> None:
    """Run one client: its sender and ``receive`` side by side, until either ends (the client
    leaves, breaks a rule, or cannot be written to)."""
    sender = asyncio.create_task(outgoing.run(), name="websocket-sender")
    reader = asyncio.create_task(receive(), name="websocket-reader")
    try:
        await asyncio.wait([sender, reader], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sender, reader):
            task.cancel()
        await asyncio.gather(sender, reader, return_exceptions=True)


async def close_websocket(websocket: WebSocket, code: int = 1001) -> None:
    """Close, without waiting long on a client that does not read."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(websocket.close(code=code), _CLOSE_TIMEOUT)


class ReceiveLoop(Protocol):
    async def __call__(self) -> None: ...
