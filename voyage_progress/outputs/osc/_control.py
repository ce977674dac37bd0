"""The control input: OSC messages that tell the sidecar which batches to watch, and to stop.

Whoever can reach this port can make the sidecar spend its API key on polling, stop it, or, with
``allow_cancel``, cancel batches. So it listens on loopback unless told otherwise, listening
anywhere else needs an explicit list of peers, and every datagram is checked before it is read:
the sender's address, then the size, then the OSC, then the address and arguments of each
message. A rejected message is counted under its reason in ``rejected`` and logged at most once a
minute per reason; it never reaches the handler, and nothing a peer sends can raise out of
``datagram_received``.

Which peers are accepted is the rule of ``voyage_progress._peers``, shared with the simulator.

Async handlers run as tasks, started in the order the commands arrive. The socket asks for a
receive buffer of a few megabytes, so that a burst of datagrams waits there, not lost, while
the event loop is busy.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
import math
import socket
import time
from collections.abc import Awaitable, Callable, Collection
from types import TracebackType
from typing import Any, cast

from ..._defaults import DEFAULT_CONTROL_HOST, DEFAULT_CONTROL_PORT, DEFAULT_OSC_PREFIX, MAX_DATAGRAM
from ...core.commands import Command, CommandKind
from ...core.peers import (
    ADDRESS_IN_USE,
    PeerPolicyError,
    host_port,
    is_loopback,
    parse_allowed_peers,
    peer_allowed,
)
from ...core.text import is_batch_ref, is_clean_label
from ._codec import Arg, OscDecodeError, decode
from ._namespace import CONTROL, OscAddress
from ._sender import resolve

__all__ = ["ControlPortInUse", "ControlRules", "ControlServer", "dispatch"]

logger = logging.getLogger("voyage_progress.osc")

_LOG_EVERY = 60.0
_CLOSE_TIMEOUT = 1.0
#: Receive buffers to ask for, largest first: a system's default (about 200 KB on Linux) holds
#: a burst of some 250 small datagrams, and a burst beyond it is lost before it is read. The
#: system may grant less (Linux: up to net.core.rmem_max) or refuse; the default then stays.
_RECEIVE_BUFFERS = (4 * 1024 * 1024, 1024 * 1024)
_COMMANDS: dict[CommandKind, OscAddress] = {
    CommandKind.WATCH: CONTROL.WATCH,
    CommandKind.UNWATCH: CONTROL.UNWATCH,
    CommandKind.REFRESH: CONTROL.REFRESH,
    CommandKind.CANCEL: CONTROL.CANCEL,
    CommandKind.SHUTDOWN: CONTROL.SHUTDOWN,
}

Handler = Callable[[Command], Awaitable[None] | None]


class ControlPortInUse(OSError):
    """Another program (another sidecar, most often) holds the control port."""


class ControlServer(asyncio.DatagramProtocol):
    """Listens for ``{prefix}/control/...`` on UDP and calls ``handler`` with each command.

    >>> async with ControlServer(print, port=0) as server:  # doctest: +SKIP
    ...     print(server.port)
    """

    def __init__(
        self,
        handler: Handler,
        *,
        prefix: str = DEFAULT_OSC_PREFIX,
        host: str = DEFAULT_CONTROL_HOST,
        port: int = DEFAULT_CONTROL_PORT,
        allowed_peers: Collection[str] = (),
        allow_cancel: bool = False,
    ) -> None:
        self._handler = handler
        self.rules = ControlRules(prefix, allow_cancel)
        self._address: tuple[str, int] = (host, port)
        self._allowed = parse_allowed_peers(allowed_peers)
        self.accepted = 0
        self.rejected: collections.Counter[str] = collections.Counter()
        self._transport: asyncio.DatagramTransport | None = None
        self._lost: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self._logged_at: dict[str, float] = {}

    @property
    def host(self) -> str:
        """The address listened on (as given until ``start``)."""
        return self._address[0]

    @property
    def port(self) -> int:
        """The port listened on: the one picked by the system after ``start`` with port 0."""
        return self._address[1]

    async def start(self) -> None:
        host, port = self._address
        try:
            family, address = await resolve(host, port, passive=True)
        except OSError:
            raise ValueError(f"cannot listen for control on {host!r}: unknown address") from None
        if not self._allowed and not is_loopback(address[0]):
            raise PeerPolicyError(f"listening for control on {host} needs at least one --allow-peer address")
        sock = _bind(family, address, host_port(host, port))
        try:
            await asyncio.get_running_loop().create_datagram_endpoint(lambda: self, sock=sock)
        except BaseException:
            sock.close()
            raise
        self._address = sock.getsockname()[:2]

    async def aclose(self) -> None:
        if self._transport is not None and self._lost is not None:
            self._transport.close()
            await asyncio.wait([self._lost], timeout=_CLOSE_TIMEOUT)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> ControlServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # asyncio.DatagramProtocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)  # not a subclass of it on 3.11
        self._lost = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        try:
            self._receive(data, (str(addr[0]), int(addr[1])))
        except Exception:  # a bug here must not stop the control input
            logger.exception("control input: unexpected error on a datagram from %s", addr)

    def error_received(self, exc: Exception) -> None:
        logger.debug("control input: %s", exc)  # nothing is sent from this socket: nothing to do

    # checks, in order

    def _receive(self, data: bytes, peer: tuple[str, int]) -> None:
        if not self._peer_allowed(peer[0]):
            return self._reject("peer", peer)
        if len(data) > MAX_DATAGRAM:
            return self._reject("oversized", peer, f"{len(data)} bytes")
        try:
            messages = decode(data)
        except OscDecodeError as exc:
            return self._reject("malformed", peer, str(exc))
        for address, args in messages:
            command = self.rules.command(address, args, peer)
            if isinstance(command, str):
                self._reject(command, peer, address)
            else:
                self.accepted += 1
                self._dispatch(command)
        return None

    def _peer_allowed(self, host: str) -> bool:
        return peer_allowed(host, self._allowed)

    def _dispatch(self, command: Command) -> None:
        dispatch(self._handler, command, self._tasks)

    def _reject(self, reason: str, peer: tuple[str, int], detail: str = "") -> None:
        self.rejected[reason] += 1
        now = time.monotonic()
        if now - self._logged_at.get(reason, -math.inf) >= _LOG_EVERY:
            self._logged_at[reason] = now
            shown = f" ({detail[:80]!r})" if detail else ""
            logger.warning(
                "control input: rejected from %s: %s%s (logged once a minute)", peer[0], reason, shown
            )


def dispatch(handler: Handler, command: Command, tasks: set[asyncio.Future[Any]]) -> None:
    """Hand ``command`` to ``handler``; the rest of its work, if it returns some, runs as a task
    kept in ``tasks`` (for the input to cancel at close). A failure is logged, never raised: one
    bad command must not stop the input."""
    try:
        result = handler(command)
    except Exception:
        logger.exception("control handler failed on %s", command)
        return
    if inspect.isawaitable(result):
        task = asyncio.ensure_future(result)
        tasks.add(task)
        task.add_done_callback(lambda done: _handled(done, command, tasks))


def _handled(task: asyncio.Future[Any], command: Command, tasks: set[asyncio.Future[Any]]) -> None:
    tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.error("control handler failed on %s", command, exc_info=task.exception())


class ControlRules:
    """What a control message must be to become a command: one of the control addresses under
    ``prefix``, with the arguments the namespace gives it; cancel only when allowed. Shared by
    every input that takes control messages (the UDP port, OSCQuery's WebSocket)."""

    def __init__(self, prefix: str = "/voyage", allow_cancel: bool = False) -> None:
        self._kinds = {prefix + address.path: (kind, address) for kind, address in _COMMANDS.items()}
        self.allow_cancel = allow_cancel

    def accepts(self, kind: CommandKind) -> bool:
        return kind is not CommandKind.CANCEL or self.allow_cancel

    def command(self, address: str, args: list[Arg], peer: tuple[str, int]) -> Command | str:
        """The command, or why it is rejected."""
        known = self._kinds.get(address)
        if known is None:
            return "unknown_address"
        kind, osc = known
        if not self.accepts(kind):
            return "cancel_disabled"
        if not _valid_arguments(args, osc.types):
            return "bad_arguments"
        batch_id = args[0] if args and isinstance(args[0], str) else None
        label = str(args[1]) if len(args) > 1 else None
        return Command(kind, batch_id, label, peer)


def _valid_arguments(args: list[Arg], types: str) -> bool:
    """The types as the namespace gives them (``s|ss``: one string or two), then the strings:
    a control message's first string is a batch id and its second a label; a number (the ``i``
    or ``f`` of a refresh) is not read."""
    signature = "".join(
        "s" if isinstance(arg, str) else "f" if isinstance(arg, float) else "i" for arg in args
    )
    if signature not in types.split("|"):
        return False
    if signature.startswith("s") and not is_batch_ref(args[0]):
        return False
    return len(args) < 2 or is_clean_label(str(args[1]))


def _bind(family: int, address: tuple[Any, ...], where: str) -> socket.socket:
    """A UDP socket bound to ``address`` that no other socket may share: no SO_REUSEADDR or
    SO_REUSEPORT, and SO_EXCLUSIVEADDRUSE where it exists (Windows)."""
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        exclusive = getattr(socket, "SO_EXCLUSIVEADDRUSE", None)
        if exclusive is not None:
            sock.setsockopt(socket.SOL_SOCKET, exclusive, 1)
        sock.setblocking(False)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise _bind_error(exc, where) from exc
    _enlarge_receive_buffer(sock)
    return sock


def _enlarge_receive_buffer(sock: socket.socket) -> None:
    for size in _RECEIVE_BUFFERS:
        try:
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= size:
                return
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
            return
        except OSError:  # refused (macOS beyond kern.ipc.maxsockbuf): try a smaller one
            continue


def _bind_error(exc: OSError, where: str) -> OSError:
    if exc.errno in ADDRESS_IN_USE:
        error: OSError = ControlPortInUse(
            f"control port {where} is in use (is another sidecar running? use --control-port)"
        )
    else:
        error = OSError(f"cannot listen for control on {where}: {exc.strerror or exc}")
    error.errno = exc.errno
    return error
