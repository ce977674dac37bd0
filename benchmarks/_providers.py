"""Batches of every provider for the reliability runs: a simulator per dialect (Voyage, OpenAI,
Anthropic), each as its own process; the batches spread over them; the environment that gives
one sidecar every key and base URL; and the truth, read through each provider's client.

Each simulator runs at a speed that fits its provider's window into the same real time: twice
Voyage's speed for the 24-hour windows of OpenAI and Anthropic.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

from benchmarks._processes import SimulatorControl, simulator
from voyage_progress.providers import open_provider
from voyage_progress.providers._client import iter_batches

#: Each dialect: its completion window in hours, and the variables of its key and base URL.
DIALECTS = {
    "voyage": (12.0, "VOYAGE_API_KEY", "VOYAGE_BASE_URL"),
    "openai": (24.0, "OPENAI_API_KEY", "OPENAI_BASE_URL"),
    "anthropic": (24.0, "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
}


def window_hours(dialect: str) -> float:
    return DIALECTS[dialect][0]


@contextlib.contextmanager
def simulators(*options: str, speed: float, api_key: str) -> Iterator[dict[str, SimulatorControl]]:
    """A simulator of each dialect; ``speed`` is Voyage's (the others run as much faster as their
    window is longer); ``options`` go to every one."""
    with contextlib.ExitStack() as stack:
        yield {
            dialect: stack.enter_context(
                simulator(
                    *options,
                    "--dialect",
                    dialect,
                    "--api-key",
                    api_key,
                    speed=speed * window_hours(dialect) / window_hours("voyage"),
                )
            )
            for dialect in DIALECTS
        }


def dialect_of(number: int) -> str:
    """Batch ``number``'s provider: each in turn."""
    return list(DIALECTS)[number % len(DIALECTS)]


def ends_by_provider(ids: Sequence[str], ended: Collection[str]) -> tuple[str, bool]:
    """How many of each provider's batches ended (``ids`` in the order they were made, each
    provider's in turn), and whether every provider had batches and all of them ended."""
    tallies = {dialect: [0, 0] for dialect in DIALECTS}
    for number, batch_id in enumerate(ids):
        tally = tallies[dialect_of(number)]
        tally[0] += batch_id in ended
        tally[1] += 1
    figure = ", ".join(f"{dialect} {done}/{made}" for dialect, (done, made) in tallies.items())
    return figure, all(made and done == made for done, made in tallies.values())


def sidecar_env(
    base: Mapping[str, str], sims: Mapping[str, SimulatorControl], api_key: str
) -> dict[str, str]:
    """``base`` with every provider's key and base URL, pointing at its simulator."""
    env = {k: v for k, v in base.items() if not k.startswith(("VOYAGE_", "OPENAI_", "ANTHROPIC_"))}
    for dialect, sim in sims.items():
        _, key_env, url_env = DIALECTS[dialect]
        env.update({key_env: api_key, url_env: sim.base_url})
    return env


def truth(sims: Mapping[str, SimulatorControl], api_key: str) -> dict[str, dict[str, Any]]:
    """Every batch as its provider's API has it now, in the common model: ``status`` and
    ``request_counts``, by id (faults are switched off first)."""
    for sim in sims.values():
        sim.http.post("/_sim/faults", content=b"").raise_for_status()
    return asyncio.run(_read_all(sims, api_key))


async def _read_all(sims: Mapping[str, SimulatorControl], api_key: str) -> dict[str, dict[str, Any]]:
    batches: dict[str, dict[str, Any]] = {}
    for dialect, sim in sims.items():
        provider = open_provider(dialect, api_key=api_key, base_url=sim.base_url)
        try:
            async for job in iter_batches(provider, limit=100):
                batches[job.id] = {"status": job.status.value, "request_counts": job.request_counts.to_dict()}
        finally:
            await provider.aclose()
    return batches
