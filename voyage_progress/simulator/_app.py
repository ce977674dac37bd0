"""The simulator's HTTP surface: one provider's Batch API under ``/v1`` as its dialect serves it
(Voyage's Files and Batch endpoints by default), and a few ``/_sim`` endpoints to steer it from
another process (clock, stats, quick batches).

Every request, ``/_sim`` included, first passes the peer rule the control input uses (see
``voyage_progress.core.peers``): a peer that is not allowed gets a 403 and nothing else. With an API
key set, ``/_sim`` needs it too. Bodies are capped as they arrive (``_limits``): a request whose
body is or says it is too large gets a 413 without the rest being read.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
import re
import time
from collections import Counter, deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..core.limits import MAX_FILE_BYTES
from ..core.peers import parse_allowed_peers, peer_allowed
from ._dialect import Dialect
from ._faults import Faults
from ._glitches import glitch_body
from ._limits import (
    MAX_ADVANCE_SECONDS,
    MAX_JSON_BODY_BYTES,
    MAX_REQUESTS_PER_BATCH,
    MULTIPART_OVERHEAD_BYTES,
)
from ._requests import file_too_large, json_body
from ._scenarios import SCENARIOS
from ._store import ApiProblem, Store

API_PREFIX = "/v1"
CONTROL_PREFIX = "/_sim"
_ID_SEGMENT = re.compile(r"/(msgbatch|batch|file)[-_][A-Za-z0-9]+")


@dataclass
class Stats:
    """What the simulator served: for tests, benchmarks and the fault soak."""

    requests: int = 0
    by_route: Counter[str] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    glitches: Counter[str] = field(default_factory=Counter)
    per_second: deque[tuple[int, int]] = field(default_factory=lambda: deque(maxlen=7200))
    #: Requests refused (403) because their peer is not allowed; not counted in ``requests``.
    refused_peers: int = 0

    def record(self, route: str) -> None:
        self.requests += 1
        self.by_route[route] += 1
        second = int(time.monotonic())
        if self.per_second and self.per_second[-1][0] == second:
            self.per_second[-1] = (second, self.per_second[-1][1] + 1)
        else:
            self.per_second.append((second, 1))

    @property
    def peak_per_second(self) -> int:
        return max((count for _, count in self.per_second), default=0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "by_route": dict(self.by_route),
            "by_status": {str(k): v for k, v in self.by_status.items()},
            "faults": dict(self.faults),
            "glitches": dict(self.glitches),
            "peak_per_second": self.peak_per_second,
            "refused_peers": self.refused_peers,
        }


def route_of(method: str, path: str) -> str:
    """``GET /v1/batches/{id}`` for ``GET /v1/batches/batch-7vT5...``."""
    return f"{method} {_ID_SEGMENT.sub('/{id}', path)}"


def build_app(
    store: Store,
    dialect: Dialect,
    faults: Faults,
    stats: Stats,
    api_key: str | None,
    drop_connection: Callable[[Scope], bool],
    allowed_peers: Collection[str] = (),
    max_file_bytes: int = MAX_FILE_BYTES,
) -> ASGIApp:
    """The ASGI app: the peer rule, authentication, body limits, faults and statistics around
    the routes of ``dialect`` (the store's). With no ``allowed_peers`` only loopback peers are
    served."""
    api = Starlette(
        routes=dialect.routes(store, max_file_bytes) + _control_routes(store, faults, stats),
        exception_handlers={
            HTTPException: functools.partial(_http_error, dialect),
            ApiProblem: functools.partial(_api_problem, dialect),
        },
    )
    return _Gate(api, dialect, faults, stats, api_key, drop_connection, allowed_peers, max_file_bytes)


def _control_routes(store: Store, faults: Faults, stats: Stats) -> list[Route]:
    """``/_sim``: steer a simulator that runs in another process. Not part of Voyage's API."""

    async def get_stats(request: Request) -> Response:
        body = stats.to_dict()
        body.update(sim_elapsed=store.clock.elapsed(), speed=store.clock.speed, in_flight=store.in_flight())
        return JSONResponse(body)

    async def advance(request: Request) -> Response:
        store.clock.advance(_seconds_param(request))
        return JSONResponse({"sim_elapsed": store.clock.elapsed()})

    async def quick_batch(request: Request) -> Response:
        """Create a batch without an upload: ``{"requests": 500, "scenario": "stall"}``."""
        body = await json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("metadata", {}), dict):
            raise ApiProblem(400, 'The body must be {"requests": N, "scenario": ..., "metadata": {...}}.')
        count = body.get("requests", 100)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_REQUESTS_PER_BATCH:
            raise ApiProblem(400, f"requests must be an integer from 1 to {MAX_REQUESTS_PER_BATCH}.")
        scenario = str(body.get("scenario", store.default_scenario))
        batch = store.add_quick_batch(count, {"sim_scenario": scenario, **body.get("metadata", {})})
        return JSONResponse(store.batch_json(batch))

    async def scenarios(request: Request) -> Response:
        return JSONResponse({name: s.description for name, s in SCENARIOS.items()})

    async def set_faults(request: Request) -> Response:
        try:
            new = Faults.parse((await request.body()).decode())
        except ValueError as exc:  # UnicodeDecodeError included
            raise ApiProblem(400, str(exc)) from None
        faults.__dict__.update(new.__dict__)
        return JSONResponse({"faults": faults.describe()})

    return [
        Route("/_sim/stats", get_stats, methods=["GET"]),
        Route("/_sim/advance", advance, methods=["POST"]),
        Route("/_sim/batches", quick_batch, methods=["POST"]),
        Route("/_sim/scenarios", scenarios, methods=["GET"]),
        Route("/_sim/faults", set_faults, methods=["POST"]),
    ]


def _seconds_param(request: Request) -> float:
    """``seconds`` of ``/_sim/advance``: a number from 0 to ``MAX_ADVANCE_SECONDS``."""
    problem = ApiProblem(400, f"seconds must be a number from 0 to {MAX_ADVANCE_SECONDS}.")
    try:
        seconds = float(request.query_params.get("seconds", "0"))
    except ValueError:
        raise problem from None
    if not (math.isfinite(seconds) and 0 <= seconds <= MAX_ADVANCE_SECONDS):
        raise problem
    return seconds


def _body_limit(scope: Scope, max_file_bytes: int) -> tuple[int, ApiProblem]:
    """The most bytes the request's body may have, and the answer when it has more."""
    if scope["method"] == "POST" and scope["path"] == f"{API_PREFIX}/files":
        return max_file_bytes + MULTIPART_OVERHEAD_BYTES, file_too_large(max_file_bytes)
    limit = MAX_JSON_BODY_BYTES
    return limit, ApiProblem(413, f"The request body is too large: at most {limit} bytes.")


def _declared_length(scope: Scope) -> int | None:
    raw = dict(scope["headers"]).get(b"content-length")
    return int(raw) if raw is not None and raw.isdigit() else None


def _capped(receive: Receive, limit: int, problem: ApiProblem) -> Receive:
    """``receive`` that raises ``problem`` (answered as a 413) as soon as the body passes
    ``limit`` bytes, so a large body is refused while it arrives, never held whole."""
    received = 0

    async def capped() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise problem
        return message

    return capped


async def _http_error(dialect: Dialect, request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    body = dialect.error_body(exc.status_code, str(exc.detail))
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _api_problem(dialect: Dialect, request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiProblem)
    body = dialect.error_body(exc.status, exc.detail)
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


_FAULT_ANSWERS = {
    "429": (429, "Rate limit exceeded. Please slow down."),
    "429-bare": (429, "Rate limit exceeded. Please slow down."),
    "500": (500, "Internal Server Error"),
    "502": (502, "Bad Gateway"),
    "503": (503, "Service Unavailable"),
}


class _Gate:
    """Around the API: refuses peers that are not allowed, counts every request, checks the
    key, and injects the faults."""

    def __init__(
        self,
        app: ASGIApp,
        dialect: Dialect,
        faults: Faults,
        stats: Stats,
        api_key: str | None,
        drop_connection: Callable[[Scope], bool],
        allowed_peers: Collection[str] = (),
        max_file_bytes: int = MAX_FILE_BYTES,
    ) -> None:
        self.app = app
        self.dialect = dialect
        self.faults = faults
        self.stats = stats
        self.api_key = api_key
        self.drop_connection = drop_connection
        self.allowed_peers = parse_allowed_peers(allowed_peers)
        self.max_file_bytes = max_file_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._peer_allowed(scope):
            await self._refuse_peer(scope, send)
            return
        if scope["type"] == "http" and scope["path"].startswith(CONTROL_PREFIX + "/"):
            await self._steer(scope, receive, send)
            return
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        self.stats.record(route_of(scope["method"], scope["path"]))
        send = self._counting(send)
        problem = self.dialect.auth_problem(dict(scope["headers"]), self.api_key)
        if problem:
            status, message = problem
            await _send_json(send, status, self.dialect.error_body(status, message))
            return
        capped = await self._within_limits(scope, receive, send)
        if capped is None:
            return
        await self._answer_or_fault(scope, capped, send)

    async def _answer_or_fault(self, scope: Scope, receive: Receive, send: Send) -> None:
        fault = self.faults.draw()
        if fault:
            self.stats.faults[fault] += 1
        if fault in _FAULT_ANSWERS:
            status, detail = _FAULT_ANSWERS[fault]
            headers = self.dialect.rate_limit_headers(self.faults.retry_after) if fault == "429" else []
            await _send_json(send, status, self.dialect.error_body(status, detail), headers)
        elif fault == "slow":
            await asyncio.sleep(self.faults.slow_seconds)
            await self.app(scope, receive, send)
        elif fault == "drop":
            await self._hang_up(scope, receive, send)
        elif fault == "malformed":
            body = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
            await _send_bytes(send, 200, body, b"application/json")
        elif fault == "truncated":
            await self._truncated(scope, receive, send)
        elif fault == "glitch":
            await self._glitched(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _steer(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``/_sim``: whoever may use the API with the key set (anyone on an allowed peer
        without one), with a small body."""
        problem = self._steering_key_problem(scope) if self.api_key is not None else None
        if problem:
            await _send_json(send, 401, self.dialect.error_body(401, problem))
            return
        capped = await self._within_limits(scope, receive, send)
        if capped is not None:
            await self.app(scope, capped, send)

    async def _within_limits(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        """``receive`` capped to the request's body limit; None once a body that says it is
        larger has been answered with a 413, unread."""
        limit, problem = _body_limit(scope, self.max_file_bytes)
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _send_json(send, problem.status, self.dialect.error_body(problem.status, problem.detail))
            return None
        return _capped(receive, limit, problem)

    def _peer_allowed(self, scope: Scope) -> bool:
        peer = _peer_of(scope)
        return peer is not None and peer_allowed(peer, self.allowed_peers)

    async def _refuse_peer(self, scope: Scope, send: Send) -> None:
        self.stats.refused_peers += 1
        peer = _peer_of(scope) or "an unknown address"
        detail = f"Requests from {peer} are not allowed here (see the simulator's --allow-peer)."
        await _send_json(self._counting(send), 403, self.dialect.error_body(403, detail))

    def _steering_key_problem(self, scope: Scope) -> str | None:
        """``/_sim`` takes the key in whichever header the dialects carry it: a Bearer token, or
        Anthropic's ``x-api-key``."""
        headers = dict(scope["headers"])
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        key = (
            token.strip() if scheme.lower() == "bearer" else headers.get(b"x-api-key", b"").decode("latin-1")
        )
        if not key.strip():
            return "No API key provided. Set the Authorization header to 'Bearer <your key>'."
        if key.strip() != self.api_key:
            return "Provided API key is invalid."
        return None

    def _counting(self, send: Send) -> Send:
        """Count each answer's status, and give it the headers the dialect's answers carry."""
        number = self.stats.requests

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.stats.by_status[message["status"]] += 1
                extra = self.dialect.headers(number)
                if extra:
                    message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        return counted

    async def _answer(self, scope: Scope, receive: Receive) -> tuple[Message, bytes]:
        """The app's real answer, held back: its start message and its whole body."""
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        return start, b"".join(chunks)

    async def _glitched(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer for real, with every batch object in the answer made wrong in one way."""
        start, body = await self._answer(scope, receive)
        status = start.get("status", 200)
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        applied = glitch_body(document, self.faults.rng, self.dialect) if document is not None else []
        for name in applied:
            self.stats.glitches[name] += 1
        if applied:
            body = json.dumps(document).encode()
        await _send_bytes(send, status, body, b"application/json")

    async def _truncated(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer for real, but stop the body half-way and close the connection."""
        start, body = await self._answer(scope, receive)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        await send(
            {
                "type": "http.response.start",
                "status": start.get("status", 200),
                "headers": [*headers, (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
        await self._hang_up(scope, receive, send)

    async def _hang_up(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Close the connection mid-exchange and wait until the server has noticed."""
        if not self.drop_connection(scope):
            await _send_incomplete(send, b"", claimed_length=64)  # the server closes it for us
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                while (await receive())["type"] != "http.disconnect":
                    pass


def _peer_of(scope: Scope) -> str | None:
    """The address the request came from; None when the server does not know it."""
    client = scope.get("client")
    return str(client[0]) if client else None


async def _send_json(
    send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await _send_bytes(send, status, json.dumps(body).encode(), b"application/json", headers)


async def _send_bytes(
    send: Send, status: int, body: bytes, media_type: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    all_headers = [
        (b"content-type", media_type),
        (b"content-length", str(len(body)).encode()),
        *(headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body})


async def _send_incomplete(send: Send, body: bytes, claimed_length: int) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(claimed_length).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": True})
