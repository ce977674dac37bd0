"""Running the simulator: in-process for tests and the demo, or as its own command.

It listens on loopback unless told otherwise; listening anywhere else needs allowed peers, as
the control input does, since whoever reaches it can steer it through ``/_sim``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Collection, Iterator
from typing import Any

import uvicorn
from starlette.types import Scope

from .._defaults import DEFAULT_SIMULATOR_HOST, DEFAULT_SIMULATOR_PORT
from ..core.limits import MAX_FILE_BYTES
from ..core.peers import IPAddress, PeerPolicyError, host_port, is_loopback, parse_allowed_peers
from ._anthropic import ANTHROPIC
from ._app import Stats, build_app
from ._clock import SimClock
from ._dialect import Dialect
from ._faults import Faults
from ._openai import OPENAI
from ._scenarios import DEFAULT_SCENARIO
from ._store import Store
from ._voyage import VOYAGE

__all__ = ["DIALECTS", "Simulator", "run_simulator", "serve_forever"]

#: The APIs the simulator speaks, by name: ``voyage`` by default.
DIALECTS: dict[str, Dialect] = {d.name: d for d in (VOYAGE, OPENAI, ANTHROPIC)}


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: inside another program (the demo, a test), Ctrl+C
    belongs to that program."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Simulator:
    """A running simulator: its URL, its clock, its data and what it has served."""

    def __init__(
        self,
        store: Store,
        faults: Faults,
        stats: Stats,
        host: str,
        port: int,
        allowed_peers: frozenset[IPAddress] = frozenset(),
        dialect: Dialect = VOYAGE,
    ) -> None:
        self.store = store
        self.dialect = dialect
        self.faults = faults
        self.stats = stats
        self.host = host
        self.port = port
        self.allowed_peers = allowed_peers

    @property
    def clock(self) -> SimClock:
        return self.store.clock

    @property
    def url(self) -> str:
        return f"http://{host_port(self.host, self.port)}"

    @property
    def base_url(self) -> str:
        """What to give a client as its base URL (``VOYAGE_BASE_URL``, ``OPENAI_BASE_URL`` with
        ``/v1``, ``ANTHROPIC_BASE_URL`` without, as each official SDK takes it)."""
        return self.url + self.dialect.base_path

    def advance(self, seconds: float) -> None:
        """Move simulated time forward: every batch moves on as if that much time had passed."""
        self.clock.advance(seconds)

    def add_batch(self, requests: int = 100, scenario: str | None = None, **metadata: str) -> str:
        """Create a batch directly (no upload), as if a client had; returns its id."""
        if scenario is not None:
            metadata["sim_scenario"] = scenario
        return self.store.add_quick_batch(requests, metadata).id

    def batch(self, batch_id: str) -> dict[str, Any]:
        """The batch object as the API would answer it now."""
        return self.store.batch_json(self.store.get_batch(batch_id))


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(
        family, socket.SOCK_STREAM, socket.IPPROTO_TCP
    )  # asyncio sets TCP_NODELAY only for IPPROTO_TCP
    try:
        if hasattr(socket, "SO_EXCLUSIVEADDRUSE"):  # Windows: refuse a port another program holds
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host_port(host, port)}: {exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock


def _require_peers_beyond_loopback(sock: socket.socket, host: str, allowed: frozenset[IPAddress]) -> None:
    """Judged on the address actually bound, so ``localhost`` counts as loopback."""
    if not allowed and not is_loopback(sock.getsockname()[0]):
        sock.close()
        raise PeerPolicyError(f"serving the simulator on {host} needs at least one --allow-peer address")


def _connection_dropper(server: uvicorn.Server) -> Any:
    def drop(scope: Scope) -> bool:
        """Abort the TCP connection the request came on, so the client gets no answer at all."""
        client = tuple(scope.get("client") or ())
        for connection in list(server.server_state.connections):
            if getattr(connection, "client", None) == client:
                transport = getattr(connection, "transport", None)
                if transport is not None:
                    transport.abort()
                    return True
        return False

    return drop


@contextlib.asynccontextmanager
async def run_simulator(
    host: str = DEFAULT_SIMULATOR_HOST,
    port: int = 0,
    *,
    speed: float = 1.0,
    faults: Faults | str | None = None,
    api_key: str | None = None,
    seed: int = 0,
    scenario: str = DEFAULT_SCENARIO,
    allowed_peers: Collection[str] = (),
    dialect: str = "voyage",
    max_file_bytes: int = MAX_FILE_BYTES,
) -> AsyncIterator[Simulator]:
    """Run a simulator on this event loop for the duration of the ``async with``.

    ``port=0`` picks a free port (read it from ``sim.base_url``). ``speed`` simulated seconds
    pass per real second; ``speed=0`` stops the clock for tests that move it with
    ``sim.advance()``. ``api_key`` set means only that key is accepted, on ``/_sim`` too;
    otherwise any. ``allowed_peers`` (IP addresses) may talk to it besides this machine; a
    ``host`` beyond loopback needs at least one. ``max_file_bytes`` is the largest upload
    (Voyage's 1 GB unless told otherwise). ``dialect`` is the API it speaks: ``voyage``,
    ``openai`` or ``anthropic`` (``DIALECTS``).
    """
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}; one of: {', '.join(DIALECTS)}")
    if isinstance(faults, str):
        faults = Faults.parse(faults)
    speaks = DIALECTS[dialect]
    store = Store(SimClock(speed), seed=seed, default_scenario=scenario, dialect=speaks)
    faults = faults or Faults()
    stats = Stats()
    allowed = parse_allowed_peers(allowed_peers)
    sock = _bind(host, port)
    _require_peers_beyond_loopback(sock, host, allowed)
    config = uvicorn.Config(
        lambda: None, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=1
    )
    server = _EmbeddedServer(config)
    config.app = build_app(
        store, speaks, faults, stats, api_key, _connection_dropper(server), allowed_peers, max_file_bytes
    )
    bound_host, bound_port = sock.getsockname()[:2]
    store.url = f"http://{host_port(bound_host, bound_port)}"
    task = asyncio.create_task(server.serve(sockets=[sock]), name="voyage-simulator")
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the simulator stopped while starting")
            await asyncio.sleep(0.005)
        yield Simulator(store, faults, stats, bound_host, bound_port, allowed, speaks)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()


async def serve_forever(
    host: str = DEFAULT_SIMULATOR_HOST,
    port: int = DEFAULT_SIMULATOR_PORT,
    *,
    speed: float = 1.0,
    faults: Faults | None = None,
    api_key: str | None = None,
    seed: int = 0,
    scenario: str = DEFAULT_SCENARIO,
    ready: Any = None,
    allowed_peers: Collection[str] = (),
    dialect: str = "voyage",
) -> None:
    """Serve until cancelled; ``ready(sim)`` is called once it listens."""
    async with run_simulator(
        host,
        port,
        speed=speed,
        faults=faults,
        api_key=api_key,
        seed=seed,
        scenario=scenario,
        allowed_peers=allowed_peers,
        dialect=dialect,
    ) as sim:
        if ready is not None:
            ready(sim)
        await asyncio.Event().wait()
