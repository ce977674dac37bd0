"""Where the examples send their batches: Voyage when VOYAGE_API_KEY is set, otherwise a
simulator started right here, so every example runs with no key and no network."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

from voyage_progress import VoyageBatchClient
from voyage_progress.simulator import run_simulator


@dataclass
class Connection:
    client: VoyageBatchClient
    poll_interval: float
    simulated: bool
    #: The key ``client`` uses, for another client of the same API (the OpenAI SDK example).
    api_key: str


@contextlib.asynccontextmanager
async def connect() -> AsyncIterator[Connection]:
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
    async with run_simulator(speed=speed) as sim:
        print(f"No VOYAGE_API_KEY: using a simulator at {sim.base_url} ({speed:g}x speed)")
        async with VoyageBatchClient(api_key="demo", base_url=sim.base_url) as client:
            yield Connection(client, poll_interval=min(1.0, 50 / speed), simulated=True, api_key="demo")
