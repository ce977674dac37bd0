"""A Voyage-compatible Batch API server for demos and tests, with scenarios and faults; it also
speaks OpenAI's and Anthropic's batch APIs (``dialect="openai"``, ``"anthropic"``).

>>> async with run_simulator(speed=50) as sim:          # doctest: +SKIP
...     async with VoyageBatchClient(api_key="demo", base_url=sim.base_url) as client:
...         ...

Batches follow the scenario named in their metadata (``{"sim_scenario": "stall"}``), or the
simulator's default: see ``SCENARIOS``. Faults are injected at the rates of a ``Faults``.
"""

from ._clock import SimClock
from ._faults import FAULT_KINDS, Faults
from ._scenarios import DEFAULT_SCENARIO, SCENARIOS, Scenario
from ._server import DIALECTS, Simulator, run_simulator, serve_forever

__all__ = [
    "DEFAULT_SCENARIO",
    "DIALECTS",
    "FAULT_KINDS",
    "SCENARIOS",
    "Faults",
    "Scenario",
    "SimClock",
    "Simulator",
    "run_simulator",
    "serve_forever",
]
