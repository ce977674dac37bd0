"""OSCQuery: the OSC namespace, browsable and streamable over the sidecar's HTTP server.

Vidvox's OSCQuery proposal (github.com/Vidvox/OSCQueryProposal), as ossia score, Chataigne, VDMX,
the RNBO runner and MadMapper read it:

- ``GET /`` the whole tree as JSON, ``GET /voyage/batch/0`` one node, ``?VALUE`` (any attribute)
  one attribute, ``?HOST_INFO`` the server: every node follows the namespace module (type, range,
  unit, meaning), with the values the sidecar sent last; batch slots appear as batches are watched.
- A WebSocket at ``/``: ``{"COMMAND": "LISTEN", "DATA": path}`` streams that address's values as
  binary OSC frames (the same values the UDP output sends, each address at most once per frame;
  several in one frame make one bundle),
  ``IGNORE`` stops; ``PATH_ADDED``/``PATH_REMOVED`` when a batch slot appears or is retired.
  Binary OSC frames sent to it are control messages, under the control port's rules.
- mDNS: ``_oscjson._tcp`` announced whenever the server listens beyond loopback (``--no-mdns``).

Choices where the proposal leaves room, each also in docs/SIDECAR.md:

- An attribute the proposal names but this server does not serve, or one it does not name, gets
  400 with a JSON body: the proposal says 204 in one place and 400 ("a recognized attribute that
  isn't supported by the server") in its list of errors; 400 keeps 204 for what it means in the
  examples, a value asked of a node that has none to give (``?VALUE`` of a control address).
  An attribute a node simply lacks (``?TYPE`` of a container) is ``{}``, as in the examples.
- ``PATH_ADDED``'s DATA is the new slot's path, as the proposal says; the message also carries
  the node's own attributes beside it (FULL_PATH, CONTENTS), which current ossia reads to add the
  whole slot at once, and which other clients ignore.
- A malformed WebSocket message (not JSON, not a command object, not OSC) closes that connection
  only; an unknown COMMAND is ignored (clients send their own extensions).
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import math
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from .._version import __version__
from ..core.commands import Command, CommandHandler
from ..core.frame import BatchSnapshot, Event, EventKind, Frame, Health, Summary
from ..core.peers import is_loopback
from ._http import FULL_STATE_GAP, HttpServer, Outgoing, close_websocket, json_error, serve_websocket
from .osc._codec import Arg, Message, OscDecodeError, decode, encode_bundle, encode_message
from .osc._control import ControlRules, dispatch
from .osc._messages import event_message, frame_bundles, health_messages, summary_messages
from .osc._namespace import (
    BATCH,
    CONTROL,
    EVENT,
    EVENT_KINDS,
    GROUP_TITLES,
    NAMESPACE,
    Access,
    OscAddress,
)

__all__ = ["OscQueryOutput", "OscQuerySettings"]

logger = logging.getLogger("voyage_progress.oscquery")

SERVICE_TYPE = "_oscjson._tcp.local."
#: The events that add or retire a batch slot (a full-state frame checks the slots too).
_SLOT_EVENTS = frozenset({EventKind.WATCH, EventKind.UNWATCH})
#: Attributes this server gives; any other asked with ``?ATTR`` is a 400.
ATTRIBUTES = frozenset(
    {"FULL_PATH", "CONTENTS", "TYPE", "VALUE", "RANGE", "ACCESS", "DESCRIPTION", "UNIT", "OVERLOADS"}
)
EXTENSIONS = {
    "ACCESS": True,
    "VALUE": True,
    "RANGE": True,
    "DESCRIPTION": True,
    "UNIT": True,
    "TAGS": False,
    "EXTENDED_TYPE": False,
    "CRITICAL": False,
    "CLIPMODE": False,
    "OVERLOADS": True,
    "HTML": False,
    "LISTEN": True,
    "PATH_CHANGED": False,
    "PATH_RENAMED": False,
    "PATH_ADDED": True,
    "PATH_REMOVED": True,
}
#: Messages waiting for one client before newer ones are dropped: a full state of a hundred
#: batches is about 2,000 values, all of which a client listening to everything should get.
QUEUE_LIMIT = 4096
#: Addresses one client may listen to: every address of 200 batches.
MAX_LISTENED = 4096
_MAX_PATH = 512
_CLOSE_MALFORMED = 1003
_CLOSE_POLICY = 1008


class OscQuerySettings(Protocol):
    """What the OSCQuery output reads of the sidecar's configuration."""

    @property
    def prefix(self) -> str: ...
    @property
    def control_host(self) -> str: ...
    @property
    def control_port(self) -> int | None: ...
    @property
    def allow_cancel(self) -> bool: ...
    @property
    def mdns(self) -> bool: ...
    @property
    def mdns_on_loopback(self) -> bool: ...


@dataclass(eq=False)  # each client is itself, whatever it listens to
class _Listener:
    """One WebSocket client: what it listens to and what waits to be sent to it."""

    websocket: WebSocket
    outgoing: Outgoing
    paths: set[str] = field(default_factory=set)

    @property
    def peer(self) -> tuple[str, int]:
        client = self.websocket.client
        return (client.host, client.port) if client is not None else ("", 0)


class OscQueryOutput:
    def __init__(self, settings: OscQuerySettings) -> None:
        self.settings = settings
        self.prefix = settings.prefix
        controlled = settings.control_port is not None
        self.rules = ControlRules(settings.prefix, settings.allow_cancel) if controlled else None
        self.server: HttpServer | None = None
        self._values: dict[str, list[Arg]] = {}
        self._slots: dict[int, BatchSnapshot] = {}
        #: The latest frame while nobody listens, and the latest event then: taken in when asked.
        self._unread: Frame | None = None
        self._unread_event: list[Arg] | None = None
        self._listeners: set[_Listener] = set()
        self._commands: CommandHandler | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self._announcer: _Announcer | None = None
        #: Messages not sent to a client whose queue was full; malformed or refused input.
        self.dropped = 0
        self.rejected: collections.Counter[str] = collections.Counter()
        self._full_state_at = -math.inf
        before_any_frame = health_messages(self.prefix, Health()) + summary_messages(self.prefix, Summary())
        self._values.update((address, list(args)) for address, args in before_any_frame)

    # -- the output ------------------------------------------------------------------------------

    @property
    def endpoints(self) -> tuple[str, ...]:
        if self.server is None or not self.server.listening:
            return ()
        announced = ", mDNS _oscjson._tcp" if self._announcer is not None else ""
        return (f"OSCQuery {self.server.url}/{announced}",)

    @property
    def routes(self) -> Sequence[BaseRoute]:
        return [WebSocketRoute("/", self._websocket), Route("/{path:path}", self._get, methods=["GET"])]

    async def start(self, commands: CommandHandler) -> None:
        self._commands = commands

    async def serving(self, server: HttpServer) -> None:
        self.server = server
        settings = self.settings
        if settings.mdns and (server.beyond_loopback or settings.mdns_on_loopback):
            self._announcer = _Announcer(server.host, server.port)
            self._announcer.start()

    def publish(self, frame: Frame) -> None:
        if not self._listeners:
            self._keep_unread(frame)
            return
        self._catch_up()
        every_batch = frame.full and frame.at - self._full_state_at >= FULL_STATE_GAP
        if every_batch:
            self._full_state_at = frame.at
        changed, events = self._changes(frame, every_batch)
        self._values.update(changed)
        if events:
            self._values[EVENT.EVENT.full(self.prefix)] = events[-1]
        if frame.full or any(isinstance(item, Event) and item.kind in _SLOT_EVENTS for item in frame.news):
            self._follow_slots(frame.batches)
        self._stream(changed, events)

    async def aclose(self) -> None:
        if self._announcer is not None:
            await self._announcer.aclose()
            self._announcer = None
        await asyncio.gather(*(close_websocket(listener.websocket) for listener in list(self._listeners)))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- values and slots ------------------------------------------------------------------------

    @property
    def values(self) -> dict[str, list[Arg]]:
        """Every address the sidecar sends, with the arguments it sent last."""
        self._catch_up()
        return self._values

    def _keep_unread(self, frame: Frame) -> None:
        """With nobody listening, keep the frame for when someone asks: a thousand batches
        appearing at once cost the OSC output's work a second time for no reader otherwise."""
        self._unread = frame
        for item in reversed(frame.news):
            if isinstance(item, Event):
                self._unread_event = list(event_message(self.prefix, item)[1])
                break

    def _catch_up(self) -> None:
        """Every value and slot as of the latest frame kept while nobody listened."""
        frame, self._unread = self._unread, None
        if frame is None:
            return
        event_address = EVENT.EVENT.full(self.prefix)
        last_event = self._unread_event or self._values.get(event_address)
        self._unread_event = None
        bundles = [health_messages(self.prefix, frame.health), *frame_bundles(self.prefix, frame, True)]
        self._values = {address: list(args) for bundle in bundles for address, args in bundle}
        if last_event is not None:
            self._values[event_address] = last_event
        self._slots = {batch.slot: batch for batch in frame.batches}

    def _changes(self, frame: Frame, every_batch: bool) -> tuple[dict[str, list[Arg]], list[list[Arg]]]:
        """The frame's values (with every batch's if ``every_batch``), each address once with its
        latest arguments, and its events in order (every event counts: they are one-shot)."""
        event_address = EVENT.EVENT.full(self.prefix)
        changed: dict[str, list[Arg]] = {}
        events: list[list[Arg]] = []
        for bundle in frame_bundles(self.prefix, frame, every_batch):
            for address, args in bundle:
                if address == event_address:
                    events.append(list(args))
                else:
                    changed[address] = list(args)
        return changed, events

    def _follow_slots(self, batches: Sequence[BatchSnapshot]) -> None:
        now = {batch.slot: batch for batch in batches}
        added = [slot for slot in now if slot not in self._slots]
        removed = [slot for slot in self._slots if slot not in now]
        self._slots = now
        for slot in removed:
            path = self._slot_path(slot)
            for address in [a for a in self._values if a.startswith(path + "/")]:
                del self._values[address]
            for listener in self._listeners:
                listener.paths = {p for p in listener.paths if not p.startswith(path + "/")}
            self._tell_all({"COMMAND": "PATH_REMOVED", "DATA": path})
        if not self._listeners:
            return
        for slot in added:
            node = self._slot_node(slot, now[slot])
            self._tell_all({"COMMAND": "PATH_ADDED", "DATA": node.path, **self._json(node)})

    def _slot_path(self, slot: int) -> str:
        return BATCH.ID.full(self.prefix, slot).rsplit("/", 1)[0]

    def _tell_all(self, message: dict[str, Any]) -> None:
        text = json.dumps(message, ensure_ascii=False)
        for listener in self._listeners:
            self._put(listener, text)

    def _stream(self, changed: dict[str, list[Arg]], events: list[list[Arg]]) -> None:
        """Each client's share of the frame as one OSC packet: a message, or a bundle of them
        (one WebSocket message per client per frame, however many addresses it listens to)."""
        event_address = EVENT.EVENT.full(self.prefix)
        for listener in self._listeners:
            paths = listener.paths
            if not paths:
                continue
            messages: list[Message] = [(address, changed[address]) for address in paths.intersection(changed)]
            if event_address in paths:
                messages += [(event_address, args) for args in events]
            if len(messages) == 1:
                self._put(listener, encode_message(*messages[0]))
            elif messages:
                self._put(listener, encode_bundle(messages))

    def _put(self, listener: _Listener, message: str | bytes) -> None:
        if not listener.outgoing.put(message):
            self.dropped += 1

    # -- HTTP ------------------------------------------------------------------------------------

    async def _get(self, request: Request) -> Response:
        path = "/" + str(request.path_params.get("path", "")).strip("/")
        attribute = request.url.query
        if attribute == "HOST_INFO":
            return JSONResponse(self._host_info(request))
        node = self._tree().find(path)
        if node is None:
            return json_error(404, f"no OSC node at {path}")
        if not attribute:
            return JSONResponse(self._json(node))
        if attribute not in ATTRIBUTES:
            return json_error(400, f"attribute {attribute!r} is not served here; see ?HOST_INFO")
        if attribute == "VALUE" and node.address is not None and node.address.access is not Access.READ:
            return Response(status_code=204)
        described = self._json(node)
        return JSONResponse({attribute: described[attribute]} if attribute in described else {})

    def _host_info(self, request: Request) -> dict[str, Any]:
        here = request.scope.get("server") or (self.server.host if self.server else "", 0)
        http_host, http_port = str(here[0]), int(here[1] or 0)
        info: dict[str, Any] = {
            "NAME": f"voyage-progress {__version__} on {socket.gethostname()}",
            "EXTENSIONS": EXTENSIONS,
            "WS_IP": http_host,
            "WS_PORT": http_port,
            "OSC_TRANSPORT": "UDP",
        }
        settings = self.settings
        if self.rules is not None and settings.control_port:  # 0: picked by the system, unknown here
            control_host = settings.control_host
            wildcard = control_host in ("", "0.0.0.0", "::")
            info["OSC_IP"] = http_host if wildcard else control_host
            info["OSC_PORT"] = settings.control_port
        return info

    # -- the tree --------------------------------------------------------------------------------

    def _tree(self) -> _Node:
        self._catch_up()
        root = _Node("/", "voyage-progress: live progress of batch jobs")
        prefix = root.child(self.prefix, "the sidecar's namespace (--prefix)")
        for group, addresses in NAMESPACE.items():
            if group == "control" and self.rules is None:
                continue
            if addresses and addresses[0].path.count("/") > 1:
                prefix.child(f"{self.prefix}/{group}", GROUP_TITLES[group])
            if group == "batch":
                batches = prefix.child(self.prefix + "/batch")
                for slot, batch in sorted(self._slots.items()):
                    batches.children[str(slot)] = self._slot_node(slot, batch)
            else:
                for address in addresses:
                    if address is CONTROL.CANCEL and self.rules is not None and not self.rules.allow_cancel:
                        continue
                    prefix.method(address.full(self.prefix), address)
        return root

    def _slot_node(self, slot: int, batch: BatchSnapshot) -> _Node:
        """One batch slot's container and its methods (made alone: a thousand slots appearing
        at once must not build the whole tree once each)."""
        label = f" ({batch.label})" if batch.label else ""
        node = _Node(self._slot_path(slot), f"slot {slot}: {batch.batch_id}{label}")
        for address in NAMESPACE["batch"]:
            node.method(address.full(self.prefix, slot), address)
        return node

    def _json(self, node: _Node) -> dict[str, Any]:
        described: dict[str, Any] = {"FULL_PATH": node.path}
        if node.description:
            described["DESCRIPTION"] = node.description
        if node.address is None:
            described["ACCESS"] = Access.NONE.value
        else:
            described.update(self._method_json(node.path, node.address))
        if node.children:
            described["CONTENTS"] = {name: self._json(child) for name, child in node.children.items()}
        return described

    def _method_json(self, path: str, address: OscAddress) -> dict[str, Any]:
        first, *others = address.types.split("|")
        described: dict[str, Any] = {"ACCESS": address.access.value, "TYPE": first or "N"}
        if others:
            described["OVERLOADS"] = [{"TYPE": types or "N"} for types in others]
        value = self.values.get(path)
        if value is not None and address.access is Access.READ:
            described["VALUE"] = value
        ranges = _ranges(address)
        if ranges is not None:
            described["RANGE"] = ranges
        if address.standard_unit is not None:
            described["UNIT"] = [address.standard_unit]
        return described

    # -- the WebSocket ---------------------------------------------------------------------------

    async def _websocket(self, websocket: WebSocket) -> None:
        await websocket.accept()
        listener = _Listener(websocket, Outgoing(websocket, QUEUE_LIMIT))
        self._catch_up()
        self._listeners.add(listener)
        try:
            await serve_websocket(websocket, listener.outgoing, lambda: self._receive(listener))
        finally:
            self._listeners.discard(listener)

    async def _receive(self, listener: _Listener) -> None:
        websocket = listener.websocket
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text, data = message.get("text"), message.get("bytes")
            problem = self._on_text(listener, text) if text is not None else self._on_osc(listener, data)
            if problem is not None:
                self.rejected[problem[1]] += 1
                await close_websocket(websocket, problem[0])
                return

    def _on_text(self, listener: _Listener, text: str) -> tuple[int, str] | None:
        """A JSON command; a broken one is the connection's end (code, reason)."""
        try:
            command = json.loads(text)
        except ValueError:
            return _CLOSE_MALFORMED, "not_json"
        if not isinstance(command, dict) or not isinstance(command.get("COMMAND"), str):
            return _CLOSE_MALFORMED, "not_a_command"
        kind, path = command["COMMAND"], command.get("DATA")
        if kind not in ("LISTEN", "IGNORE"):
            self.rejected["unknown_command"] += 1
            return None
        if not isinstance(path, str) or not path.startswith("/") or len(path) > _MAX_PATH:
            return _CLOSE_MALFORMED, "bad_path"
        if kind == "IGNORE":
            listener.paths.discard(path)
        elif len(listener.paths) >= MAX_LISTENED:
            return _CLOSE_POLICY, "too_many_listens"
        else:
            listener.paths.add(path)
        return None

    def _on_osc(self, listener: _Listener, data: bytes | None) -> tuple[int, str] | None:
        """Binary frames are OSC messages to the control addresses."""
        try:
            messages = decode(data or b"")
        except OscDecodeError:
            return _CLOSE_MALFORMED, "malformed_osc"
        for address, args in messages:
            command = self.rules.command(address, args, listener.peer) if self.rules else "control_off"
            if isinstance(command, str):
                self.rejected[command] += 1
            else:
                self._dispatch(command)
        return None

    def _dispatch(self, command: Command) -> None:
        if self._commands is not None:
            dispatch(self._commands, command, self._tasks)


def _ranges(address: OscAddress) -> list[Any] | None:
    """RANGE: one entry per argument; numbers from the namespace's bounds, event kinds listed."""
    if address is EVENT.EVENT:
        return [{"VALS": list(EVENT_KINDS)}, None, {"MIN": -1}]
    bounds = address.bounds
    if len(address.types) != 1 or (bounds.low is None and bounds.high is None):
        return None
    cast = int if address.types == "i" else float
    entry = {"MIN": cast(bounds.low)} if bounds.low is not None else {}
    if bounds.high is not None:
        entry["MAX"] = cast(bounds.high)
    return [entry]


@dataclass
class _Node:
    """A node of the OSCQuery tree: a container, or a method with its namespace ``address``."""

    path: str
    description: str
    address: OscAddress | None = None
    children: dict[str, _Node] = field(default_factory=dict)

    def child(self, path: str, description: str = "") -> _Node:
        """The container at ``path`` under this node, made (with any between) if missing."""
        node = self
        for name in _names(path, self.path):
            node = node.children.setdefault(name, _Node(_join(node.path, name), ""))
        if description:
            node.description = description
        return node

    def method(self, path: str, address: OscAddress) -> None:
        parent_path, _, name = path.rpartition("/")
        parent = self.child(parent_path) if parent_path != self.path else self
        parent.children[name] = _Node(path, address.meaning, address)

    def find(self, path: str) -> _Node | None:
        node: _Node | None = self
        for name in _names(path, "/"):
            node = node.children.get(name) if node is not None else None
        return node


def _names(path: str, under: str) -> Iterator[str]:
    relative = path[len(under) :] if path.startswith(under) else path
    return (name for name in relative.split("/") if name)


def _join(parent: str, name: str) -> str:
    return f"{parent.rstrip('/')}/{name}"


class _Announcer:
    """``_oscjson._tcp`` on mDNS, in the background: a network without multicast only costs a
    warning, never the sidecar."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._task: asyncio.Task[None] | None = None
        self._zeroconf: Any = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._register(), name="oscquery-mdns")

    async def _register(self) -> None:
        try:
            from zeroconf import IPVersion
            from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

            addresses = _announced_addresses(self.host)
            interfaces: Any = [self.host] if self.host not in ("", "0.0.0.0", "::") else None
            kwargs = {"interfaces": interfaces} if interfaces else {}
            self._zeroconf = AsyncZeroconf(ip_version=IPVersion.V4Only, **kwargs)
            name = f"voyage-progress on {socket.gethostname().split('.')[0]}"[:48] + f" {self.port}"
            info = AsyncServiceInfo(
                SERVICE_TYPE,
                f"{name}.{SERVICE_TYPE}",
                addresses=[socket.inet_aton(address) for address in addresses],
                port=self.port,
                properties={"txtvers": "1"},
                server=f"{_dns_label(socket.gethostname())}.local.",
            )
            await self._zeroconf.async_register_service(info, allow_name_change=True)
            self.info = info
        except Exception as exc:  # multicast off, no interface: the sidecar goes on
            logger.warning("mDNS announcement failed (%s); OSCQuery is still at its address", exc)

    async def aclose(self) -> None:
        if self._task is not None:
            await asyncio.wait([self._task], timeout=2.0)
            self._task.cancel()
        if self._zeroconf is not None:
            try:
                await asyncio.wait_for(self._zeroconf.async_unregister_all_services(), 2.0)
            except Exception:
                logger.debug("mDNS goodbye not sent", exc_info=True)
            await self._zeroconf.async_close()
            self._zeroconf = None


def _announced_addresses(host: str) -> list[str]:
    """The IPv4 addresses to announce: the one listened on, or every one of this machine's."""
    if host not in ("", "0.0.0.0", "::"):
        return [host]
    import ifaddr

    found = [
        str(ip.ip)
        for adapter in ifaddr.get_adapters()
        for ip in adapter.ips
        if isinstance(ip.ip, str) and not is_loopback(ip.ip)
    ]
    return found or ["127.0.0.1"]


def _dns_label(name: str) -> str:
    label = "".join(c if c.isalnum() or c == "-" else "-" for c in name.split(".")[0])
    return label.strip("-")[:63] or "voyage-progress"
