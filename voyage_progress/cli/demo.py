"""``voyage-progress demo``: the simulator, a few batches and the sidecar, all in one process.

Everything is real but the API: batches are uploaded and created over HTTP, the sidecar polls
them over HTTP and sends real OSC. It ends by itself once every batch has ended (about a
minute at the default speed), or runs forever with ``--forever`` for installations.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random

from ..core.models import BatchJob
from ..outputs.terminal import SidecarView
from ..providers.voyage import VoyageBatchClient
from ..sidecar._sidecar import Sidecar, SidecarConfig
from ..simulator import run_simulator
from ..watcher import Intervals

__all__ = ["DEMO_BATCHES", "run_demo", "say_where"]

#: (label, scenario, requests): one runs normally, one loses requests, one fails, one runs long.
DEMO_BATCHES = [
    ("corpus", "normal", 800),
    ("archive", "partial_failures", 400),
    ("broken input", "fail_validation", 50),
    ("long tail", "long_finalizing", 300),
]
FOREVER_SCENARIOS = [
    "normal",
    "normal",
    "quick",
    "partial_failures",
    "stall",
    "fail_validation",
    "late_counts",
]


async def run_demo(
    config: SidecarConfig, view: SidecarView, speed: float, forever: bool, stop: asyncio.Event
) -> int:
    """Run the demo until every batch has ended (or until ``stop``, with ``forever``)."""
    async with (
        run_simulator(port=0, speed=speed) as sim,
        VoyageBatchClient(api_key="demo", base_url=sim.base_url) as client,
    ):
        poll = min(1.0, max(0.1, 30.0 / speed))  # a poll every simulated half minute, at most one a second
        jobs = {label: await _submit(client, label, scenario, n) for label, scenario, n in DEMO_BATCHES}
        config = dataclasses.replace(
            config,
            batch_ids=[job.id for job in jobs.values()],
            labels={job.id: label for label, job in jobs.items()},
            intervals=Intervals(poll=poll, minimum=poll / 4, maximum=5.0),
            retire_after=30.0 if forever else config.retire_after,
        )
        sidecar = Sidecar(config, client, view)
        destinations = ", ".join(map(str, config.destinations))
        view.message(f"demo: simulator at {sim.base_url} ({speed:g}x), OSC to {destinations}")
        helper = _keep_busy(client, sidecar, stop) if forever else _stop_when_all_ended(sidecar, stop)
        helpers = [asyncio.create_task(helper), asyncio.create_task(say_where(sidecar, view))]
        try:
            await sidecar.run(stop)
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
    return 0


async def say_where(sidecar: Sidecar, view: SidecarView) -> None:
    """Once the sidecar runs, where its HTTP server is (the live table shows it anyway)."""
    await sidecar.started.wait()
    for output in sidecar.outputs:
        for where in output.endpoints:
            if where.startswith("HTTP ") and view.mode != "live":
                url = where.removeprefix("HTTP ").removesuffix("/ui")
                view.message(f"dashboard {url}/ui · OSCQuery {url}/ · JSON stream {url}/events")


async def _submit(client: VoyageBatchClient, label: str, scenario: str, requests: int) -> BatchJob:
    texts = [f"{label} text {i}" for i in range(requests)]
    return await client.submit_texts(texts, metadata={"label": label, "sim_scenario": scenario})


async def _stop_when_all_ended(sidecar: Sidecar, stop: asyncio.Event) -> None:
    await sidecar.wait_all_ended()
    await asyncio.sleep(sidecar.config.full_state_interval)  # one more full state for late receivers
    stop.set()


async def _keep_busy(
    client: VoyageBatchClient, sidecar: Sidecar, stop: asyncio.Event, active: int = 3
) -> None:
    number = 0
    while not stop.is_set():
        if sum(1 for b in sidecar.watcher.batches.values() if b.is_active) < active:
            number += 1
            scenario = random.choice(FOREVER_SCENARIOS)
            job = await _submit(client, f"batch {number}", scenario, random.randint(100, 1500))
            sidecar.watcher.watch(job.id, f"batch {number}")
        await asyncio.sleep(1.0)
