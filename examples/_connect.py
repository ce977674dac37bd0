"""What every example shares: where its batches go, and how it ends.

Batches go to Voyage when VOYAGE_API_KEY is set (at VOYAGE_BASE_URL, if that is set too),
otherwise to a simulator started right here, so every example runs with no key and no network.
An example ends with one line on stderr and a non-zero exit code when anything fails, never
with a traceback or a wait that does not end.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import sys
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from voyage_progress import VoyageBatchClient

#: Retries of a request to the simulator started here: it answers at once or it has failed, and
#: an example whose simulator failed should say so, not wait out Voyage's retry schedule.
SIMULATOR_RETRIES = 1


class ExampleFailure(Exception):
    """A failure to report in one line."""


@dataclass
class Connection:
    client: VoyageBatchClient
    poll_interval: float
    simulated: bool
    #: The key ``client`` uses, for another client of the same API (the OpenAI SDK example).
    api_key: str


@contextlib.asynccontextmanager
async def connect() -> AsyncIterator[Connection]:
    from voyage_progress import VoyageBatchClient
    from voyage_progress.simulator import run_simulator

    if os.environ.get("VOYAGE_API_KEY"):
        async with VoyageBatchClient() as client:
            print(f"Using {client.base_url}")
            yield Connection(
                client,
                poll_interval=float(os.environ.get("POLL_INTERVAL", "15")),
                simulated=False,
                api_key=os.environ["VOYAGE_API_KEY"].strip(),
            )
        return
    speed = float(os.environ.get("VOYAGE_SIM_SPEED", "30"))
    async with contextlib.AsyncExitStack() as stack:
        try:
            sim = await stack.enter_async_context(run_simulator(speed=speed))
        except Exception as exc:
            raise ExampleFailure(f"the simulator did not start: {describe(exc)}") from exc
        print(f"No VOYAGE_API_KEY: using a simulator at {sim.base_url} ({speed:g}x speed)")
        client = VoyageBatchClient(api_key="demo", base_url=sim.base_url, max_retries=SIMULATOR_RETRIES)
        await stack.enter_async_context(client)
        yield Connection(client, poll_interval=min(1.0, 50 / speed), simulated=True, api_key="demo")


def run(main: Coroutine[Any, Any, None]) -> None:
    """``asyncio.run(main)``; a failure ends the example with one line and exit code 1."""
    try:
        asyncio.run(main)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except Exception as exc:
        raise SystemExit(f"{Path(sys.argv[0]).name}: error: {describe(exc)}") from None


def describe(exc: BaseException) -> str:
    """One line for a user: the library's messages as they are, others with their type."""
    from voyage_progress import VoyageProgressError

    if isinstance(exc, OSError) and exc.strerror:  # no "[Errno N]"
        text = exc.strerror + (f": {exc.filename}" if exc.filename else "")
    elif isinstance(exc, ExampleFailure | VoyageProgressError | ValueError) and str(exc):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}".removesuffix(": ")
    return " ".join(text.split())


def _run_with_the_clone_venv() -> NoReturn:
    """Run this example again with the clone's .venv (made by the Quick start's scripts, or made
    now), so that ``python3 examples/NAME.py`` works from a clone with any Python >= 3.11."""
    name = Path(sys.argv[0]).name
    scripts = Path(__file__).resolve().parent.parent / "scripts"
    if not (scripts / "_bootstrap.py").is_file():
        raise SystemExit(
            f"{name}: error: voyage-progress is not installed for {sys.executable}; "
            "install it as README.md says, or run the example with the Python that has it"
        )
    sys.path.insert(0, str(scripts))
    from _bootstrap import ensure_venv
    from _bootstrap import run as run_in_venv

    python = ensure_venv(None)
    if Path(sys.prefix).resolve() == python.parent.parent.resolve():  # the venv itself lacks it
        raise SystemExit(
            f"{name}: error: voyage-progress cannot be imported from {sys.prefix}; "
            "delete that directory and run python3 scripts/demo.py to make it again"
        )
    raise SystemExit(run_in_venv(python, [sys.argv[0], *sys.argv[1:]]))


if importlib.util.find_spec("voyage_progress") is None:
    _run_with_the_clone_venv()
