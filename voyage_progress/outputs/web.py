"""The JSON stream and the dashboard, on the sidecar's HTTP server.

- WebSocket ``/events``: one JSON object per batch change, per event and per heartbeat, the
  full state first (for a late joiner) and again with every full-state frame (so that rates and
  ETAs, which move on every poll, stay fresh); the schema is docs/STREAM.md, versioned by
  ``"schema"``.
- ``GET /state``: the full state once, the same object.
- ``GET /ui``: the dashboard (plain HTML, CSS and JavaScript shipped in the package: no build
  step), which reads ``/events``.

Every object's fields are the OSC namespace's, named by the last part of each address
(``/batch/{slot}/eta_low`` → ``eta_low``): unknown numbers (the namespace's -1) are ``null``
and 0/1 flags are booleans.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Sequence
from importlib import resources
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from ..core.commands import CommandHandler
from ..core.frame import BatchSnapshot, Event, Frame, Health
from ._http import FULL_STATE_GAP, HttpServer, Outgoing, close_websocket, serve_websocket
from .osc._messages import Value, batch_values, event_args, health_values, poll_age, summary_values

__all__ = ["SCHEMA", "WebOutput", "batch_json", "state_json"]

#: The version of the stream's objects: raised when a field changes meaning or goes away (new
#: fields may appear without it).
SCHEMA = 1
#: Messages waiting for one client before newer ones are dropped (and the state sent again).
QUEUE_LIMIT = 256
_UI_FILES = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css"}


class WebSettings(Protocol):
    @property
    def prefix(self) -> str: ...


def _fields(values: list[Value]) -> dict[str, Any]:
    """Namespace values as JSON fields: -1 unknown as null, 0/1 flags as booleans."""
    fields: dict[str, Any] = {}
    for address, value in values:
        if address.bounds.sentinel is not None and value == address.bounds.sentinel:
            fields[address.name] = None
        elif address.is_flag:
            fields[address.name] = bool(value)
        else:
            fields[address.name] = value
    return fields


def batch_json(frame: Frame, batch: BatchSnapshot) -> dict[str, Any]:
    return {"slot": batch.slot, **_fields(batch_values(batch, poll_age(frame, batch)))}


def state_json(frame: Frame) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "type": "state",
        "sidecar": _fields(health_values(frame.health)),
        "summary": _fields(summary_values(frame.summary)),
        "batches": [batch_json(frame, batch) for batch in frame.batches],
    }


def _event_json(frame: Frame, event: Event) -> dict[str, Any]:
    kind, batch_id, slot = event_args(event)
    batch = batch_json(frame, event.batch) if event.batch is not None else None
    return {"schema": SCHEMA, "type": "event", "kind": kind, "id": batch_id, "slot": slot, "batch": batch}


class WebOutput:
    def __init__(self, settings: WebSettings) -> None:
        self.settings = settings
        self.server: HttpServer | None = None
        self.frame: Frame | None = None
        self._state: str | None = None
        self._clients: set[Outgoing] = set()
        self._state_sent_at = -math.inf
        #: Messages not sent to a client whose queue was full.
        self.dropped = 0
        self.malformed = 0

    @property
    def endpoints(self) -> tuple[str, ...]:
        return ()

    @property
    def routes(self) -> Sequence[BaseRoute]:
        return [
            WebSocketRoute("/events", self._events),
            Route("/state", self._state_once, methods=["GET"]),
            Route("/ui", self._to_dashboard, methods=["GET"]),
            Route("/ui/", self._dashboard_file, methods=["GET"]),
            Route("/ui/{name}", self._dashboard_file, methods=["GET"]),
        ]

    async def start(self, commands: CommandHandler) -> None:
        pass

    async def serving(self, server: HttpServer) -> None:
        self.server = server

    async def aclose(self) -> None:
        await asyncio.gather(*(close_websocket(client.websocket) for client in list(self._clients)))

    # -- frames ----------------------------------------------------------------------------------

    def publish(self, frame: Frame) -> None:
        self.frame = frame
        self._state = None
        if not self._clients:
            return
        messages = [self._news_json(frame, item) for item in frame.news]
        if frame.beat:
            health = _fields(health_values(frame.health))
            messages.append({"schema": SCHEMA, "type": "health", "sidecar": health})
        texts = [json.dumps(message, ensure_ascii=False) for message in messages]
        resync = frame.full and frame.at - self._state_sent_at >= FULL_STATE_GAP
        if resync:
            self._state_sent_at = frame.at
        for client in self._clients:
            if resync or client.overflowed:
                client.overflowed = False
                self._send(client, self._state_text())
            for text in texts:
                self._send(client, text)

    def _news_json(self, frame: Frame, item: BatchSnapshot | Event) -> dict[str, Any]:
        if isinstance(item, Event):
            return _event_json(frame, item)
        summary = _fields(summary_values(frame.summary))
        return {"schema": SCHEMA, "type": "batch", "batch": batch_json(frame, item), "summary": summary}

    def _state_text(self) -> str:
        """The full state of the latest frame as JSON text, made once per frame."""
        if self._state is None:
            frame = self.frame or Frame(at=0.0, health=Health())
            self._state = json.dumps(state_json(frame), ensure_ascii=False)
        return self._state

    def _send(self, client: Outgoing, text: str) -> None:
        if not client.put(text):
            self.dropped += 1

    # -- routes ----------------------------------------------------------------------------------

    async def _events(self, websocket: WebSocket) -> None:
        await websocket.accept()
        client = Outgoing(websocket, QUEUE_LIMIT)
        client.put(self._state_text())
        self._clients.add(client)
        try:
            await serve_websocket(websocket, client, lambda: self._ignore_input(websocket))
        finally:
            self._clients.discard(client)

    async def _ignore_input(self, websocket: WebSocket) -> None:
        """The stream is one way: text is ignored (a ping from a tool); binary ends the connection."""
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                self.malformed += 1
                await close_websocket(websocket, 1003)
                return

    async def _state_once(self, request: Request) -> Response:
        return Response(self._state_text(), media_type="application/json")

    async def _to_dashboard(self, request: Request) -> Response:
        return RedirectResponse("/ui/", status_code=307)

    async def _dashboard_file(self, request: Request) -> Response:
        name = str(request.path_params.get("name", "index.html"))
        media_type = _UI_FILES.get(name)
        if media_type is None:
            return JSONResponse({"error": f"no dashboard file {name!r}", "status": 404}, status_code=404)
        return Response(_ui_file(name), media_type=media_type, headers={"Cache-Control": "no-cache"})


def _ui_file(name: str) -> bytes:
    """A dashboard file, read from the package (which may be inside a zip: the .pyz)."""
    return resources.files("voyage_progress.outputs").joinpath("ui", name).read_bytes()
