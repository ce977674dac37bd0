"""Shared fixtures: a real simulator on loopback and a client talking to it over HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from voyage_progress import RetryPolicy, VoyageBatchClient
from voyage_progress.simulator import Simulator, run_simulator

FIXTURES = Path(__file__).parent / "fixtures"
FAST_RETRIES = RetryPolicy(max_retries=4, backoff_base=0.001, backoff_max=0.01)


@pytest.fixture
def voyage_responses() -> dict[str, Any]:
    return json.loads((FIXTURES / "voyage_responses.json").read_text())


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """A simulator whose clock stands still: tests move it with ``sim.advance``."""
    async with run_simulator(speed=0, seed=1) as simulator:
        yield simulator


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[VoyageBatchClient]:
    async with VoyageBatchClient(api_key="test-key", base_url=sim.base_url, retry_policy=FAST_RETRIES) as c:
        yield c


@pytest.fixture
def sim_driven_polls(
    sim: Simulator, client: VoyageBatchClient, monkeypatch: pytest.MonkeyPatch
) -> list[float]:
    """Make the client's waits (between the progress stream's polls) move the simulator's clock
    instead of sleeping: each wait of ``s`` real seconds advances simulated time by ``60 * s``."""
    waits: list[float] = []

    async def advance_instead(seconds: float) -> None:
        waits.append(seconds)
        sim.advance(60 * max(seconds, 0.0))

    monkeypatch.setattr(client, "sleep", advance_instead)
    return waits


def jsonl(count: int, texts_per_request: int = 1) -> bytes:
    lines = [
        json.dumps(
            {"custom_id": f"req-{i}", "body": {"input": [f"text {i}.{j}" for j in range(texts_per_request)]}}
        )
        for i in range(count)
    ]
    return ("\n".join(lines) + "\n").encode()
